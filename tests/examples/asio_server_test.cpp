// asio_server_test.cpp: examples/asio_server's server in-process on a
// loopback ephemeral port: concurrent clients get the table's answers and
// the server shuts down cleanly; an exhausted pool answers BUSY once the
// per-request acquire deadline passes. (CI also runs the program itself:
// `asio_server --self-test`, examples/CMakeLists.txt.)
#include "asio_server.hpp"

#include <gtest/gtest.h>

#include <asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace berth_examples::asio_server {
namespace {

using namespace std::chrono_literals;

/// Sends each line and collects the answer lines.
asio::awaitable<std::vector<std::string>> ask(tcp::endpoint at, std::vector<std::string> lines) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect(at, asio::use_awaitable);
  std::vector<std::string> answers;
  std::string in;
  for (auto& line : lines) {
    line += '\n';
    co_await asio::async_write(s, asio::buffer(line), asio::use_awaitable);
    const std::size_t n = co_await asio::async_read_until(s, asio::dynamic_buffer(in), '\n', asio::use_awaitable);
    answers.push_back(in.substr(0, n - 1));
    in.erase(0, n);
  }
  co_return answers;
}

TEST(AsioServerExample, ConcurrentClientsGetTheTablesAnswersAndTheServerStopsCleanly) {
  constexpr int clients = 48, requests = 25;
  asio::io_context ioc;
  server srv(ioc, {.connections = 3});
  srv.start();
  const tcp::endpoint at(asio::ip::address_v4::loopback(), srv.port());
  std::atomic<int> remaining{clients}, answered{0}, busy{0}, wrong{0}, failed{0};
  for (int i = 0; i < clients; ++i)
    asio::co_spawn(asio::make_strand(ioc), run_client(at, i, requests, 1000), [&](std::exception_ptr e, client_result r) {
      if (e) failed.fetch_add(1);
      answered.fetch_add(r.answered);
      busy.fetch_add(r.busy);
      wrong.fetch_add(r.wrong);
      if (remaining.fetch_sub(1) == 1) srv.stop();
    });
  std::thread second([&] { ioc.run(); });
  ioc.run();  // returns only when every client, session and the acceptor are done
  second.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(busy.load(), 0) << "3 connections and a 200 ms deadline serve 48 clients";
  EXPECT_EQ(answered.load(), clients * requests);
  const auto st = srv.pool().stats();
  EXPECT_EQ(st.counts.leased, 0u);
  EXPECT_EQ(st.counts.waiting, 0u);
  EXPECT_GE(st.acquired, static_cast<std::uint64_t>(clients * requests));
}

TEST(AsioServerExample, ExhaustedPoolAnswersBusyAfterThePerRequestDeadline) {
  asio::io_context ioc;
  server srv(ioc, {.connections = 1, .acquire_timeout = 20ms});
  srv.start();
  const tcp::endpoint at(asio::ip::address_v4::loopback(), srv.port());
  auto held = srv.pool().try_acquire();  // the only connection
  ASSERT_TRUE(held);
  auto first = asio::co_spawn(ioc, ask(at, {"GET 7"}), asio::use_future);
  std::thread io([&] { ioc.run(); });
  const auto busy = first.get();
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_TRUE(busy[0].starts_with("BUSY ")) << busy[0];
  EXPECT_NE(busy[0].find("timed out"), std::string::npos) << "berth's acquire_error message: " << busy[0];
  EXPECT_NE(busy[0].find("leased=1"), std::string::npos) << "with the pool's counts: " << busy[0];
  (*held).release();
  auto second = asio::co_spawn(ioc, ask(at, {"GET 7", "GET 9"}), asio::use_future);
  EXPECT_EQ(second.get(), (std::vector<std::string>{"VALUE 7 49", "VALUE 9 81"}));
  srv.stop();
  io.join();
  EXPECT_EQ(srv.pool().stats().timeouts, 1u);
}

}  // namespace
}  // namespace berth_examples::asio_server
