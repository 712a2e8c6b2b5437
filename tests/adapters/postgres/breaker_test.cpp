// breaker_test.cpp: the circuit breaker on connection creation against a
// real PostgreSQL server (issue 11). The server stops: 100 acquirers fail
// with errc::database_unavailable well under acquire_timeout, those that come
// once the breaker is open at once. It starts again: the pool serves within
// one recovery interval. The test starts a server of its own, so that the
// shared one never goes down under other tests.
#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>

#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::pg_server;
using pg_pool = berth::pool<adapter>;
using steady = std::chrono::steady_clock;
using std::chrono::nanoseconds;

/// What 100 concurrent acquire() calls returned, and how long each took.
struct round_result {
  std::vector<nanoseconds> took;
  int unavailable = 0;
  std::string other;  // the first outcome that was not database_unavailable
  std::string message;  // the first database_unavailable message
};

round_result hundred_acquirers(pg_pool& p) {
  constexpr int n = 100;
  round_result out;
  out.took.resize(n);
  std::mutex m;
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < n; ++t)
    ts.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      const auto start = steady::now();
      auto l = p.acquire();  // acquire_timeout
      out.took[static_cast<std::size_t>(t)] = steady::now() - start;
      std::lock_guard lk(m);
      if (!l && l.error().code == errc::database_unavailable) {
        ++out.unavailable;
        if (out.message.empty()) out.message = l.error().message();
      } else if (out.other.empty()) {
        out.other = l ? "served" : l.error().message();
      }
    });
  go = true;
  for (auto& t : ts) t.join();
  std::sort(out.took.begin(), out.took.end());
  return out;
}

/// The q-quantile of sorted durations (nearest rank).
nanoseconds quantile(const std::vector<nanoseconds>& sorted, double q) {
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

double ms(nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

TEST(PostgresBreaker, DatabaseDownFailsFastAndTheReturnIsServedWithinOneRecoveryInterval) {
  pg_server server = pg_server::start();
  options ao;
  ao.conninfo = server.conninfo();
  ao.connect_timeout = 2s;

  std::mutex events_mutex;
  std::vector<std::string> messages;  // of creation_failed and breaker_opened events
  std::atomic<std::int64_t> last_interval_ns{0};  // the latest breaker_opened's interval
  pool_options po;
  po.name = "pg-breaker";
  po.max_size = 8;
  po.min_idle = 2;
  po.acquire_timeout = 30s;
  po.breaker_recovery = 1s;
  po.breaker_recovery_max = 2s;
  po.on_event = [&](const pool_event& e) {
    if (e.kind == event_kind::breaker_opened) last_interval_ns = e.age.count();
    if (e.kind == event_kind::breaker_opened || e.kind == event_kind::creation_failed) {
      std::lock_guard lk(events_mutex);
      messages.emplace_back(e.message);
    }
  };
  pg_pool p{adapter{ao}, po};
  {
    auto l = p.acquire_for(5s).value();
    ASSERT_EQ((*l).execute("SELECT 1").value().get<std::int64_t>(0, 0), 1);
  }

  server.stop_keeping_data("fast");
  // The idle connections died with the server; a validation or the first
  // query would find out. Drop them, so every acquirer needs a creation.
  p.evict_all();
  const round_result down = hundred_acquirers(p);  // as the outage begins
  EXPECT_EQ(down.unavailable, 100) << down.other;
  EXPECT_LT(down.took.back(), 10s) << "well under acquire_timeout (30 s)";
  EXPECT_NE(p.stats().breaker, breaker_state::closed);

  const round_result at_open = hundred_acquirers(p);  // the breaker is open: at once
  EXPECT_EQ(at_open.unavailable, 100) << at_open.other;
  EXPECT_LT(quantile(at_open.took, 0.99), 1s);
  EXPECT_NE(at_open.message.find("last connection attempt failed"), std::string::npos) << at_open.message;
  EXPECT_EQ(at_open.message.find(server.password()), std::string::npos) << "password in " << at_open.message;
  {
    std::lock_guard lk(events_mutex);
    ASSERT_FALSE(messages.empty());
    for (const auto& m : messages) EXPECT_EQ(m.find(server.password()), std::string::npos) << m;
  }

  server.start_again();
  const auto back = steady::now();
  bool served = false;
  while (!served && steady::now() - back < 20s) {
    auto l = p.acquire_for(100ms);
    if (l) {
      served = (**l).execute("SELECT 1").value().get<std::int64_t>(0, 0) == 1;
      break;
    }
    std::this_thread::sleep_for(2ms);  // refused at once while open: do not spin
  }
  const nanoseconds recovery = steady::now() - back;
  ASSERT_TRUE(served);
  // The interval that the successful probe ended: it began before `back`,
  // or (a probe refused just before the server listened) just after.
  const nanoseconds interval{last_interval_ns.load()};
  EXPECT_LE(recovery, interval + 500ms) << "within one recovery interval (" << ms(interval)
                                        << " ms) plus a connection's set-up";
  const pool_stats s = p.stats();
  EXPECT_EQ(s.breaker, breaker_state::closed);
  EXPECT_GE(s.breaker_opened, 1u);
  EXPECT_GE(s.breaker_rejected, 200u);
  EXPECT_EQ(s.timeouts, 0u);
  std::printf("[ info ] database down: 100 acquirers, acquire_timeout 30000 ms\n"
              "[ info ]   as the outage began: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n"
              "[ info ]   breaker open:        p50 %.3f ms, p99 %.3f ms, max %.3f ms\n"
              "[ info ] database back: served after %.1f ms (recovery interval then %.1f ms); opened %llu times, "
              "%llu acquires refused\n",
              ms(quantile(down.took, 0.5)), ms(quantile(down.took, 0.99)), ms(down.took.back()),
              ms(quantile(at_open.took, 0.5)), ms(quantile(at_open.took, 0.99)), ms(at_open.took.back()), ms(recovery),
              ms(interval), static_cast<unsigned long long>(s.breaker_opened),
              static_cast<unsigned long long>(s.breaker_rejected));
}

}  // namespace
}  // namespace berth::postgres
