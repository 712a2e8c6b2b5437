// asio_server: a TCP server on Asio C++20 coroutines that answers
// "GET <k>" lines from a berth pool of SQLite connections, with a
// per-request acquire deadline (asio_server.hpp has the protocol and the
// logic).
//
//   asio_server [--port P]
//       serve on 127.0.0.1:P (default 0: an ephemeral port) until SIGINT or
//       SIGTERM; prints "listening on 127.0.0.1:<port>" once bound
//   asio_server --self-test [CLIENTS [REQUESTS]]
//       serve on an ephemeral loopback port, run CLIENTS (default 32)
//       concurrent clients sending REQUESTS (default 20) lines each, check
//       every answer, then shut the server down
//
// Both modes print the pool's statistics at the end. Exit status: 0 when the
// server stopped cleanly (and, for --self-test, every answer was right), 1
// when an answer was wrong or missing, 2 on a usage or start-up error.
#include "asio_server.hpp"

#include <asio/signal_set.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

namespace {

using namespace berth_examples::asio_server;

/// Runs ioc on this thread and one more (a blocking SQLite call holds only
/// one of them). Rethrows what a handler threw.
void run_on_two_threads(asio::io_context& ioc) {
  std::exception_ptr second_failed;
  std::thread second([&] {
    try {
      ioc.run();
    } catch (...) {
      second_failed = std::current_exception();
      ioc.stop();
    }
  });
  try {
    ioc.run();
  } catch (...) {
    ioc.stop();
    second.join();
    throw;
  }
  second.join();
  if (second_failed) std::rethrow_exception(second_failed);
}

void print_stats(server& srv) {
  const auto st = srv.pool().stats();
  std::cout << "pool stats: " << st.counts.to_string() << ", acquired=" << st.acquired
            << ", acquired_after_wait=" << st.acquired_after_wait << ", timeouts=" << st.timeouts << "\n";
}

int serve(const server_options& opts) {
  asio::io_context ioc;
  server srv(ioc, opts);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code ec, int) {
    if (!ec) srv.stop();
  });
  srv.start();
  std::cout << "listening on 127.0.0.1:" << srv.port() << std::endl;  // flushed: a parent may be waiting for it
  run_on_two_threads(ioc);
  std::cout << "stopped\n";
  print_stats(srv);
  return 0;
}

int self_test(server_options opts, int clients, int requests) {
  opts.port = 0;
  asio::io_context ioc;
  server srv(ioc, opts);
  srv.start();
  const tcp::endpoint at(asio::ip::address_v4::loopback(), srv.port());
  std::atomic<int> remaining{clients}, answered{0}, wrong{0}, busy{0}, failed{0};
  for (int i = 0; i < clients; ++i)
    asio::co_spawn(asio::make_strand(ioc), run_client(at, i, requests, opts.rows),
                   [&](std::exception_ptr e, client_result r) {
                     if (e) {
                       failed.fetch_add(1);
                     } else {
                       answered.fetch_add(r.answered);
                       wrong.fetch_add(r.wrong);
                       busy.fetch_add(r.busy);
                     }
                     if (remaining.fetch_sub(1) == 1) srv.stop();  // the last client is done: shut down
                   });
  run_on_two_threads(ioc);  // returns when every session and client has ended
  std::cout << "self-test: " << clients << " clients x " << requests << " requests: " << answered.load()
            << " answered right, " << busy.load() << " busy, " << wrong.load() << " wrong, " << failed.load()
            << " clients failed\n";
  print_stats(srv);
  return answered.load() == clients * requests ? 0 : 1;
}

int usage(const char* argv0) {
  std::cerr << "usage: " << argv0 << " [--port P] | --self-test [CLIENTS [REQUESTS]]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  server_options opts;
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "--self-test" && argc <= 4) {
      const int clients = argc > 2 ? std::stoi(argv[2]) : 32;
      const int requests = argc > 3 ? std::stoi(argv[3]) : 20;
      if (clients < 1 || requests < 1) return usage(argv[0]);
      return self_test(opts, clients, requests);
    }
    if (mode == "--port" && argc == 3) {
      opts.port = static_cast<std::uint16_t>(std::stoul(argv[2]));
      return serve(opts);
    }
    if (argc == 1) return serve(opts);
    return usage(argv[0]);
  } catch (const std::exception& e) {
    std::cerr << "asio_server: " << e.what() << "\n";
    return 2;
  }
}
