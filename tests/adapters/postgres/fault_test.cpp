// fault_test.cpp: PostgreSQL faults on the server side (issue 13's fault
// catalogue): descriptors after refused connects, fork() with live pools,
// a server at max_connections, and a server (or a proxy) that goes silent.
#include <berth/db_error.hpp>
#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/transaction.hpp>

#include "support/eventually.hpp"
#include "support/fd_count.hpp"
#include "support/fork_child.hpp"
#include "support/pg_server.hpp"
#include "support/server_process.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::child_exit;
using berth::testing::eventually;
using berth::testing::open_fds;
using berth::testing::fork_and_check;
using berth::testing::shared_pg_server;
using pg_pool = berth::pool<adapter>;
using steady = std::chrono::steady_clock;

options options_for(std::string conninfo, std::chrono::milliseconds connect_timeout = 5s) {
  options o;
  o.conninfo = std::move(conninfo);
  o.connect_timeout = connect_timeout;
  return o;
}

std::string conninfo_at(std::uint16_t port) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " dbname=x user=x password=hunter2-secret";
}

/// A loopback socket listening on a free port. Left alone, it is a silent
/// server: the kernel completes TCP handshakes, nothing ever answers.
class loopback_listener {
 public:
  loopback_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("loopback_listener: cannot listen on loopback");
    port_ = ntohs(a.sin_port);
  }
  loopback_listener(const loopback_listener&) = delete;
  loopback_listener& operator=(const loopback_listener&) = delete;
  ~loopback_listener() { ::close(fd_); }
  int fd() const noexcept { return fd_; }
  std::uint16_t port() const noexcept { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// A loopback TCP proxy to the shared server, one thread, which forwards
/// until silence() and then neither accepts nor forwards anything: a server
/// that went silent without closing (a dead host, a black-holing network).
class silencing_proxy {
 public:
  explicit silencing_proxy(std::uint16_t upstream) : upstream_(upstream) {
    thread_ = std::thread([this] { run(); });
  }
  silencing_proxy(const silencing_proxy&) = delete;
  silencing_proxy& operator=(const silencing_proxy&) = delete;
  ~silencing_proxy() {
    stop_.store(true);
    thread_.join();
    for (const auto& [a, b] : pairs_) ::close(a), ::close(b);
  }
  std::uint16_t port() const noexcept { return listener_.port(); }
  /// From now on nothing is accepted or forwarded. Thread-safe.
  void silence() noexcept { silent_.store(true); }

 private:
  void run() {
    while (!stop_.load()) {
      std::vector<pollfd> fds{{listener_.fd(), POLLIN, 0}};
      for (const auto& [a, b] : pairs_) fds.push_back({a, POLLIN, 0}), fds.push_back({b, POLLIN, 0});
      if (silent_.load()) {  // hold everything: nothing read, nothing accepted
        std::this_thread::sleep_for(5ms);
        continue;
      }
      if (::poll(fds.data(), fds.size(), 5) <= 0) continue;
      if (fds[0].revents & POLLIN) accept_one();
      for (std::size_t k = 1; k < fds.size(); ++k)
        if (fds[k].revents & (POLLIN | POLLHUP)) forward(fds[k].fd, peer_of(fds[k].fd));
    }
  }
  void accept_one() {
    const int client = ::accept(listener_.fd(), nullptr, nullptr);
    if (client < 0) return;
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(upstream_);
    if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(client), ::close(server);
      return;
    }
    pairs_.emplace_back(client, server);
  }
  int peer_of(int fd) const {
    for (const auto& [a, b] : pairs_)
      if (fd == a || fd == b) return fd == a ? b : a;
    return -1;
  }
  static void forward(int from, int to) {
    char buf[16384];
    const ssize_t n = ::read(from, buf, sizeof buf);
    if (n > 0) (void)!::write(to, buf, static_cast<std::size_t>(n));  // loopback: small, never partial in practice
    if (n == 0) ::shutdown(to, SHUT_WR);
  }

  std::uint16_t upstream_;
  loopback_listener listener_;
  std::vector<std::pair<int, int>> pairs_;  // proxy thread only (and the destructor after the join)
  std::atomic<bool> silent_{false}, stop_{false};
  std::thread thread_;
};

/// The shared server's conninfo with its port replaced by the proxy's.
std::string conninfo_through(const silencing_proxy& proxy) {
  std::string ci = shared_pg_server().conninfo();
  const std::string port = "port=" + std::to_string(shared_pg_server().port());
  ci.replace(ci.find(port), port.size(), "port=" + std::to_string(proxy.port()));
  return ci;
}

std::int64_t backend_pid(connection& c) { return c.execute("SELECT pg_backend_pid()").value().get<std::int64_t>(0, 0); }

// ---- file descriptors ---------------------------------------------------------

// 10,000 connects refused by a closed loopback port, and 100 rejected by the
// server (a wrong password), through adapter::connect. Pass: /proc/self/fd
// holds exactly as many entries afterwards as before.
TEST(PostgresFault, RefusedAndRejectedConnectsLeaveNoDescriptorOpen) {
  adapter refused{options_for(conninfo_at(berth::testing::detail::free_loopback_port("fault_test")), 2s)};
  adapter rejected{options_for(shared_pg_server().conninfo_with_password("wr0ng"))};
  const std::size_t before = open_fds();
  ASSERT_GT(before, 0u) << "/proc/self/fd is not readable";
  for (int n = 0; n < 10'000; ++n) {
    auto c = refused.connect();
    ASSERT_FALSE(c);
    ASSERT_NE(c.error().message.find("refused"), std::string::npos) << c.error().message;
  }
  EXPECT_EQ(open_fds(), before) << "after 10,000 refused connects";
  for (int n = 0; n < 100; ++n) {
    auto c = rejected.connect();
    ASSERT_FALSE(c);
    ASSERT_NE(c.error().message.find("password authentication failed"), std::string::npos) << c.error().message;
  }
  EXPECT_EQ(open_fds(), before) << "after 100 rejected logins";
}

// A pool whose creator keeps failing against a closed port (breaker off,
// then on), then destroyed. Pass: at least 50 failed creations each, and
// the descriptors back to the count before the pool.
TEST(PostgresFault, PoolWhoseCreatorKeepsFailingLeavesNoDescriptorOpen) {
  const adapter refused{options_for(conninfo_at(berth::testing::detail::free_loopback_port("fault_test")), 2s)};
  for (const std::uint32_t breaker : {0u, 3u}) {
    const std::size_t before = open_fds();
    {
      pg_pool p(refused, berth::testing::retrying_at_once("refused", breaker));
      ASSERT_TRUE(eventually([&] { return p.stats().creation_failures >= 50; }))
          << "breaker_threshold " << breaker << ": " << p.stats().creation_failures << " failures";
    }
    EXPECT_EQ(open_fds(), before) << "breaker_threshold " << breaker;
  }
}

// ---- fork() ---------------------------------------------------------------------

/// A pool with a lease out across the fork and an idle connection, and a
/// connection opened directly.
struct live_sessions {
  std::optional<pg_pool> pool;
  std::optional<pg_pool::lease_type> held;
  std::optional<connection> direct;
  std::int64_t held_pid = 0, idle_pid = 0, direct_pid = 0;

  live_sessions() {
    pool.emplace(adapter{options_for(shared_pg_server().conninfo())},
                 berth::pool_options{.name = "forked", .max_size = 2, .min_idle = 2});
    held.emplace(pool->acquire().value());
    held_pid = backend_pid(**held);
    idle_pid = backend_pid(*pool->acquire().value());
    direct.emplace(connection::open(shared_pg_server().conninfo(), 5s).value());
    direct_pid = backend_pid(*direct);
    if (!berth::testing::settled_for_fork(*pool)) ADD_FAILURE() << "the pool did not settle before the fork";
  }

  /// The child's checks: acquires fail with errc::forked and the inherited
  /// sessions refuse to talk, naming the fork. 0 when all hold.
  int child_checks() {
    auto l = pool->acquire_for(5s);
    if (l || l.error().code != errc::forked) return 10;
    for (connection* c : {&**held, &*direct}) {
      auto r = c->execute("SELECT 1");
      if (r || r.error().message.find("fork()") == std::string::npos) return 11;
      if (!c->inherited()) return 12;
    }
    return 0;
  }

  /// The child, before _exit: destroys every inherited object.
  void destroy() {
    held.reset();
    direct.reset();
    pool.reset();
  }

  /// The parent, after the child: the same backends serve, and the server
  /// still lists them.
  void parent_checks() {
    EXPECT_EQ(backend_pid(**held), held_pid) << "the held lease's session survived the child";
    EXPECT_EQ(backend_pid(*direct), direct_pid) << "the direct connection's session survived the child";
    const std::string listed = shared_pg_server().admin_execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + std::to_string(held_pid) + ", " +
        std::to_string(idle_pid) + ", " + std::to_string(direct_pid) + ")");
    EXPECT_EQ(listed, "3");
    held.reset();
    auto a = pool->acquire_for(1s);
    auto b = pool->acquire_for(1s);
    ASSERT_TRUE(a && b);
    std::vector<std::int64_t> pids{backend_pid(**a), backend_pid(**b)};
    std::sort(pids.begin(), pids.end());
    std::vector<std::int64_t> expected{held_pid, idle_pid};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(pids, expected) << "the pool serves the sessions it had before the fork";
  }
};

// The child destroys the pool and the direct connection, then _exit: before
// the fork guard, the connection's PQfinish sent Terminate on the socket it
// shares with the parent and ended the parent's session. Pass: the child
// exits 0; the parent's three sessions keep their backend pids and are in
// pg_stat_activity.
TEST(PostgresFault, ForkChildLeavesTheParentsSessionsAloneBug) {
  live_sessions live;
  fork_and_check(live, child_exit::quick);
}

// The child leaves through exit() with everything alive (static destructors
// run: the shared server's must not stop the server). Pass: as above.
TEST(PostgresFault, ForkChildThatExitsNormallyLeavesTheSessionsAlone) {
  live_sessions live;
  fork_and_check(live, child_exit::normal);
}

// ---- max_connections ------------------------------------------------------------

// The server's connection slots are all taken from outside the pool. Pass:
// creation fails with the server's "too many clients" (SQLSTATE 53300 in
// the message), an acquire fails at its 300 ms deadline (within 2 s) with
// that as the last creation error, and once two slots free the pool serves
// within 10 s.
TEST(PostgresFault, ServerAtMaxConnectionsFailsClearlyAndRecovers) {
  const std::string ci = shared_pg_server().conninfo();
  std::vector<PGconn*> fillers;
  std::string refusal;
  for (int n = 0; n < 200 && refusal.empty(); ++n) {
    PGconn* c = PQconnectdb(ci.c_str());
    if (PQstatus(c) == CONNECTION_OK) {
      fillers.push_back(c);
    } else {
      refusal = PQerrorMessage(c);
      PQfinish(c);
    }
  }
  ASSERT_FALSE(refusal.empty()) << "the server took 200 connections";
  berth::pool_options o = berth::testing::retrying_at_once("full", 0);
  o.min_idle = 1;
  o.creation_backoff_max = 50ms;
  pg_pool p(adapter{options_for(ci)}, o);
  ASSERT_TRUE(eventually([&] { return p.stats().creation_failures >= 1; }));
  const auto t0 = steady::now();
  auto l = p.acquire_for(300ms);
  const auto took = steady::now() - t0;
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, errc::timeout);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + 2s);
  const std::string m = l.error().message();
  EXPECT_NE(m.find("53300"), std::string::npos) << m;
  // The server's SQLSTATE is the code, not 08001 (AConnectRefusalCarriesTheServersSqlstateBug).
  EXPECT_EQ(l.error().last_creation_error, db_errc::resource_exhausted) << m;
  EXPECT_TRUE(m.find("too many") != std::string::npos || m.find("reserved") != std::string::npos) << m;
  for (int k = 0; k < 2; ++k) {
    PQfinish(fillers.back());
    fillers.pop_back();
  }
  auto served = p.acquire_for(10s);
  EXPECT_TRUE(served) << served.error().message();
  served = pg_pool::acquire_result(failure{acquire_error{}});
  for (PGconn* c : fillers) PQfinish(c);
}

// ---- a silent server --------------------------------------------------------------

// A listener that accepts TCP and never answers. Pass: adapter::connect
// fails at connect_timeout (300 ms, within 1 s more) saying it timed out;
// an acquire with a 500 ms deadline fails within 500 ms + 2 s, carrying it.
TEST(PostgresFault, SilentServerHonoursConnectTimeoutAndTheAcquireDeadline) {
  loopback_listener silent;  // never accepts
  adapter a{options_for(conninfo_at(silent.port()), 300ms)};
  auto t0 = steady::now();
  auto c = a.connect();
  auto took = steady::now() - t0;
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("timed out after 300 ms"), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().message.find("hunter2"), std::string::npos) << c.error().message;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + 1s);
  berth::pool_options o;
  o.name = "silent";
  o.max_size = 1;
  o.min_idle = 0;
  pg_pool p(a, o);
  t0 = steady::now();
  auto l = p.acquire_for(500ms);
  took = steady::now() - t0;
  ASSERT_FALSE(l);
  EXPECT_LT(took, 500ms + 2s);
}

// A session whose server goes silent mid-life (a proxy that stops
// forwarding). Before the fix the validation's timed-out ping sent a cancel
// request through libpq's PQcancel, which waits for the server without a
// timeout: the acquire never returned. Pass: the acquire that validates it (validation_bypass 0,
// validation_timeout 300 ms) fails within its 1 s deadline + 2 s, the
// connection is discarded after exactly one failed validation, and the row
// committed before the silence is on the server.
//
// Load-proof: under the TSan stage's load (the stress harnesses beside this
// binary on 2 cores) a connect through the proxy overran a 300 ms connect
// timeout, so the pool's start-up threw, and a validation before the silence
// could overrun 300 ms as well. So the pool starts degraded (its first
// connect is retried in the background within the first acquire's 30 s),
// the connect timeout is 2 s (after the silence no connect succeeds,
// whatever its timeout), and only the validations after the silence are
// counted.
TEST(PostgresFault, ValidationOfASessionWhoseServerWentSilentHonoursItsTimeoutBug) {
  shared_pg_server().admin_execute("CREATE TABLE IF NOT EXISTS fault_silent (x int)", shared_pg_server().dbname());
  shared_pg_server().admin_execute("GRANT ALL ON fault_silent TO " + shared_pg_server().user(),
                                   shared_pg_server().dbname());
  shared_pg_server().admin_execute("TRUNCATE fault_silent", shared_pg_server().dbname());
  silencing_proxy proxy(shared_pg_server().port());
  const std::string ci = conninfo_through(proxy);
  berth::pool_options o;
  o.name = "goes-silent";
  o.max_size = 1;
  o.min_idle = 1;
  o.validation_bypass = 0ms;
  o.validation_timeout = 300ms;
  o.startup = berth::startup_mode::degraded;
  std::atomic<int> validation_failures{0};
  o.on_event = [&](const pool_event& e) {
    if (e.kind == event_kind::validation_failed) validation_failures.fetch_add(1);
  };
  pg_pool p(adapter{options_for(ci, 2s)}, o);
  {
    auto l = p.acquire_for(30s);
    ASSERT_TRUE(l) << l.error().message();
    (*l)->execute("INSERT INTO fault_silent VALUES (1)").value();  // committed (autocommit)
  }
  const int before_silence = validation_failures.load();
  proxy.silence();
  const auto t0 = steady::now();
  auto l = p.acquire_for(1s);
  const auto took = steady::now() - t0;
  EXPECT_FALSE(l);
  EXPECT_LT(took, 1s + 2s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_EQ(validation_failures.load() - before_silence, 1) << before_silence << " failed before the silence";
  EXPECT_EQ(shared_pg_server().admin_execute("SELECT count(*) FROM fault_silent", shared_pg_server().dbname()), "1");
}

// A statement timeout on a session whose server goes silent. Before the
// fix execute_for sent its cancel request through libpq's PQcancel on the
// calling thread, which waits for the server to close the cancel socket
// without a timeout: against the silent proxy (which completes TCP
// handshakes and never answers) the call never returned. Pass: the call
// fails with 57014 within its 300 ms + cancel_grace + 1 s, the connection
// is marked broken (the next call fails at once without I/O), and closing
// it returns at once.
TEST(PostgresFault, StatementTimeoutOnASessionWhoseServerWentSilentHonoursItsBoundBug) {
  silencing_proxy proxy(shared_pg_server().port());
  adapter a{options_for(conninfo_through(proxy), 2s)};
  auto c = a.connect();
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->execute("SELECT 1"));
  proxy.silence();
  auto t0 = steady::now();
  auto r = c->execute_for(300ms, "SELECT 1");
  auto took = steady::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_canceled(r.error().code)) << r.error().message;
  EXPECT_NE(r.error().message.find("marked broken"), std::string::npos) << r.error().message;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + connection::cancel_grace + 1s);
  t0 = steady::now();
  auto again = c->execute_for(300ms, "SELECT 1");
  EXPECT_FALSE(again);
  EXPECT_LT(steady::now() - t0, 100ms);
  t0 = steady::now();
  a.close(*c);
  EXPECT_LT(steady::now() - t0, 1s);
}

// A lease returned with its transaction open while the server has gone
// silent. Before the fix the adapter's reset ran its ROLLBACK without a
// bound in the releasing thread (the lease's destructor), which then never
// returned. Pass: the release returns within reset_timeout (300 ms) + 2 s
// and the connection is discarded (a reset_failed close), not leased.
TEST(PostgresFault, ReturnWithATransactionOpenOnASilentServerHonoursResetTimeoutBug) {
  silencing_proxy proxy(shared_pg_server().port());
  options ao = options_for(conninfo_through(proxy), 2s);
  ao.reset_timeout = 300ms;
  berth::pool_options o;
  o.name = "silent-reset";
  o.max_size = 1;
  o.min_idle = 1;
  std::atomic<int> reset_failures{0};
  o.on_event = [&](const pool_event& e) {
    if (e.kind == event_kind::closed && e.reason == close_reason::reset_failed) reset_failures.fetch_add(1);
  };
  pg_pool p(adapter{ao}, o);
  auto l = p.acquire_for(5s);
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_TRUE((*l)->execute("BEGIN"));
  proxy.silence();
  const auto t0 = steady::now();
  l = pg_pool::acquire_result(failure{acquire_error{}});  // returns the connection: its reset must roll back
  const auto took = steady::now() - t0;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + 2s);
  EXPECT_TRUE(eventually([&] { return reset_failures.load() == 1; }));
  EXPECT_EQ(p.counts().leased, 0u);
}

// A transaction guard destroyed while its server has gone silent (the
// scope left by an exception, say). Before the fix its destructor ran the
// ROLLBACK without a bound and never returned. Pass: the destructor returns
// within the adapter's reset_timeout (300 ms) + 2 s and the connection is
// marked broken (the pool would discard it).
TEST(PostgresFault, GuardDestroyedOnASilentServerHonoursResetTimeoutBug) {
  silencing_proxy proxy(shared_pg_server().port());
  options ao = options_for(conninfo_through(proxy), 2s);
  ao.reset_timeout = 300ms;
  adapter a{ao};
  auto c = a.connect();
  ASSERT_TRUE(c) << c.error().message;
  steady::time_point t0;
  {
    transaction tx(*c);
    proxy.silence();
    t0 = steady::now();
  }  // ROLLBACK on a silent server
  const auto took = steady::now() - t0;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + 2s);
  EXPECT_TRUE(c->broken());
}

}  // namespace
}  // namespace berth::postgres
