// asio_server.hpp: the logic of examples/asio_server, shared with its test
// (tests/examples/asio_server_test.cpp): a line-protocol TCP server on Asio
// C++20 coroutines that answers each request from a berth pool of SQLite
// connections, and a client that checks the answers.
//
// Protocol (one request per line, one answer line each):
//   GET <k>   ->  "VALUE <k> <v>"      (the kv table holds v = k * k for k in [1, rows])
//                 "NOTFOUND <k>"       (k outside the table)
//                 "BUSY <message>"     (no connection within the per-request acquire
//                                       deadline; the message is berth's acquire_error,
//                                       with the pool's counts)
//   anything else -> "ERROR <why>"
//
// Each session is a coroutine on its own strand. Per request it awaits
// berth::asio::async_acquire_for(pool, acquire_timeout, use_awaitable): the
// coroutine is suspended, not its thread, while the pool is exhausted. The
// query itself is a blocking SQLite call on the io_context thread that runs
// the session (microseconds on an in-memory database; a slow query would
// call for a separate thread pool), and so is the validation berth may run
// at acquire; run the io_context on several threads so that one blocked
// session does not stall the others.
#pragma once

#include <berth/asio.hpp>
#include <berth/pool.hpp>
#include <berth/sqlite/adapter.hpp>

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>

namespace berth_examples::asio_server {

using tcp = asio::ip::tcp;
using sqlite_pool = berth::pool<berth::sqlite::adapter>;
/// A coroutine result as a tuple (error_code first) instead of an exception.
inline constexpr auto no_throw = asio::experimental::as_tuple(asio::use_awaitable);

struct server_options {
  /// Loopback port to listen on; 0: an ephemeral one (see server::port()).
  std::uint16_t port = 0;
  /// Pooled SQLite connections.
  std::size_t connections = 4;
  /// Per-request acquire deadline: past it the answer is BUSY.
  std::chrono::milliseconds acquire_timeout{200};
  /// Rows of the kv table.
  std::int64_t rows = 1000;
};

/// The answer to one request line (without the newline), from `pool`.
/// Runs on the session's strand; suspends only while waiting for a
/// connection.
inline asio::awaitable<std::string> answer(sqlite_pool& pool, std::chrono::milliseconds acquire_timeout,
                                           std::string_view line) {
  constexpr std::string_view get = "GET ";
  std::int64_t k = 0;
  if (!line.starts_with(get)) co_return "ERROR unknown request (try: GET <k>)";
  const std::string_view arg = line.substr(get.size());
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), k);
  if (ec != std::errc{} || end != arg.data() + arg.size()) co_return "ERROR not an integer: " + std::string(arg);

  auto lease = co_await berth::asio::async_acquire_for(pool, acquire_timeout, asio::use_awaitable);
  if (!lease) co_return "BUSY " + lease.error().message();
  auto& st = (**lease).prepare("SELECT v FROM kv WHERE k = ?1");  // prepared once per connection
  st.bind(1, k);
  std::string reply = st.step() ? "VALUE " + std::to_string(k) + " " + std::to_string(st.get<std::int64_t>(0))
                                : "NOTFOUND " + std::to_string(k);
  st.reset();
  co_return reply;  // the lease ends here: the connection goes back to the pool
}

/// The server: a pool over an in-memory SQLite database holding the kv
/// table, an acceptor on 127.0.0.1, and one coroutine per connection.
/// Construct it, start(), run the io_context (on any number of threads);
/// stop() closes the acceptor and every session's socket, after which
/// io_context::run returns once the sessions have ended.
/// Distinct objects: safe. Shared objects: start/stop/port/pool are safe
/// from any thread; destruction is not, and must follow the io_context's
/// run() returning (no session left).
class server {
 public:
  /// Opens the pool (the database and its table) and binds the acceptor.
  /// Throws std::system_error when the port cannot be bound,
  /// berth::sqlite::sqlite_error or std::system_error(startup_failed) when
  /// the database cannot be opened.
  server(asio::io_context& ioc, const server_options& opts)
      : ioc_(ioc),
        opts_(opts),
        pool_(berth::sqlite::adapter{{.in_memory = true}},
              {.name = "asio_server", .max_size = opts.connections, .min_idle = opts.connections}),
        acceptor_(asio::make_strand(ioc), tcp::endpoint(asio::ip::address_v4::loopback(), opts.port)),
        port_(acceptor_.local_endpoint().port()) {
    pool_.with([&](berth::sqlite::connection& c) {
      c.execute("CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
      auto& ins = c.prepare(
          "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?1) "
          "INSERT INTO kv(k, v) SELECT k, k * k FROM n");
      ins.bind(1, opts_.rows);
      (void)ins.step();
      ins.reset();
    });
  }

  /// The bound port. Thread-safe.
  std::uint16_t port() const noexcept { return port_; }

  /// Starts accepting (a coroutine on the acceptor's strand). Thread-safe.
  void start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

  /// Stops accepting and closes every open session's socket; sessions end
  /// at their next read or write, or after their current request (an
  /// acquire in progress finishes within acquire_timeout). Idempotent.
  /// Thread-safe.
  void stop() {
    asio::dispatch(acceptor_.get_executor(), [this] {
      std::error_code ignored;
      acceptor_.close(ignored);
    });
    std::lock_guard lk(sessions_mutex_);
    stopping_ = true;  // a session accepted from now on is closed at once (accept_loop)
    for (auto& weak : sessions_)
      if (auto s = weak.lock())
        asio::dispatch(s->get_executor(), [s] {
          std::error_code ignored;
          s->shutdown(tcp::socket::shutdown_both, ignored);
          s->close(ignored);
        });
  }

  /// The pool, for statistics. Thread-safe.
  sqlite_pool& pool() noexcept { return pool_; }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), no_throw);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;  // stop()
      if (ec) continue;                                                          // a client that went away
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      std::list<std::weak_ptr<tcp::socket>>::iterator entry;
      {
        std::lock_guard lk(sessions_mutex_);
        if (stopping_) co_return;  // accepted as stop() ran: s closes with its last owner
        entry = sessions_.insert(sessions_.end(), s);
      }
      asio::co_spawn(s->get_executor(), session(s, entry), asio::detached);
    }
  }

  asio::awaitable<void> session(std::shared_ptr<tcp::socket> s, std::list<std::weak_ptr<tcp::socket>>::iterator entry) {
    std::string in;
    try {
      for (;;) {
        auto [ec, n] = co_await asio::async_read_until(*s, asio::dynamic_buffer(in, 4096), '\n', no_throw);
        if (ec) break;  // end of stream, closed by stop(), or a line over 4 KiB
        std::string line = in.substr(0, n - 1);
        in.erase(0, n);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::string reply = co_await answer(pool_, opts_.acquire_timeout, line);
        reply += '\n';
        auto [wec, written] = co_await asio::async_write(*s, asio::buffer(reply), no_throw);
        if (wec) break;
      }
    } catch (const std::exception& e) {  // an SQLite error: this session ends, the others go on
      std::cerr << "asio_server: session ended: " << e.what() << "\n";
    }
    std::lock_guard lk(sessions_mutex_);
    sessions_.erase(entry);
  }

  asio::io_context& ioc_;
  // Immutable after construction.
  const server_options opts_;
  // Thread-safe by themselves (the acceptor: used on its strand only).
  sqlite_pool pool_;
  tcp::acceptor acceptor_;
  const std::uint16_t port_;
  // Guarded by sessions_mutex_: the open sessions' sockets, for stop(), and
  // whether stop() ran.
  std::mutex sessions_mutex_;
  std::list<std::weak_ptr<tcp::socket>> sessions_;
  bool stopping_ = false;
};

/// What one client saw.
struct client_result {
  int answered = 0;  ///< VALUE answers that were right
  int wrong = 0;     ///< answers that were not what the table holds
  int busy = 0;      ///< BUSY answers (acquire deadline passed)
};

/// A client: connects to `at`, sends `requests` GET lines for keys derived
/// from `id` (some outside the table), reads each answer and checks it.
/// Throws std::system_error on a connection failure.
inline asio::awaitable<client_result> run_client(tcp::endpoint at, int id, int requests, std::int64_t rows) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect(at, asio::use_awaitable);
  client_result r;
  std::string in;
  for (int i = 0; i < requests; ++i) {
    const std::int64_t k = (static_cast<std::int64_t>(id) * 7919 + i * 104729) % (rows + 10) + 1;  // up to rows + 10
    const std::string request = "GET " + std::to_string(k) + "\n";
    co_await asio::async_write(s, asio::buffer(request), asio::use_awaitable);
    const std::size_t n = co_await asio::async_read_until(s, asio::dynamic_buffer(in, 4096), '\n', asio::use_awaitable);
    const std::string got = in.substr(0, n - 1);
    in.erase(0, n);
    const std::string expected = k <= rows ? "VALUE " + std::to_string(k) + " " + std::to_string(k * k)
                                           : "NOTFOUND " + std::to_string(k);
    if (got == expected)
      ++r.answered;
    else if (got.starts_with("BUSY "))
      ++r.busy;
    else
      ++r.wrong;
  }
  co_return r;
}

}  // namespace berth_examples::asio_server
