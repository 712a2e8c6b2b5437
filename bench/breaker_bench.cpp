// breaker_bench: how fast acquirers learn that the database is down, and how
// soon the pool serves again once it is back (issue 11's circuit breaker on
// connection creation). Not a Google Benchmark: one scenario, timed with the
// steady clock, printed as a table.
//
// For each database (a fake adapter whose connect fails at once while "down";
// a real PostgreSQL server on loopback, stopped with `pg_ctl stop -m fast`,
// when built with berth::postgres):
//   1. a pool (max_size 8, min_idle 2, acquire_timeout 5 s, breaker options
//      at their defaults) serves; then the database goes down and the idle
//      connections are dropped (evict_all: they died with the server);
//   2. 100 threads call acquire() at once: they wait for creations until the
//      breaker opens (5 failures), then all fail with database_unavailable;
//   3. 100 threads again, the breaker open: they fail at once;
//   4. the database comes back: the time until an acquire succeeds, beside
//      the recovery interval the breaker was in;
//   and, for comparison, step 2 with the breaker off (threshold 0): each
//   acquirer waits out acquire_timeout.
// Usage: berth_breaker_bench [--no-pg]
#include <berth/function_adapter.hpp>
#include <berth/pool.hpp>

#ifdef BERTH_BENCH_WITH_PG
#include <berth/postgres/adapter.hpp>

#include "support/pg_server.hpp"
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int acquirers = 100;
constexpr auto acquire_timeout = 5s;

double ms(nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// Durations of one round, sorted, and how many failed with each code.
struct round_result {
  std::vector<nanoseconds> took;
  int unavailable = 0, timeouts = 0, served = 0, other = 0;

  nanoseconds quantile(double q) const {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(took.size())));
    return took[std::clamp<std::size_t>(rank, 1, took.size()) - 1];
  }
  void print(const char* what) const {
    std::printf("  %-44s p50 %9.3f ms  p99 %9.3f ms  max %9.3f ms   (%d database_unavailable, %d timeout, "
                "%d served, %d other)\n",
                what, ms(quantile(0.5)), ms(quantile(0.99)), ms(took.back()), unavailable, timeouts, served,
                other);
  }
};

/// `acquirers` threads call p.acquire() at once.
template <class Pool>
round_result round_of(Pool& p) {
  round_result out;
  out.took.resize(acquirers);
  std::vector<berth::errc> codes(acquirers);
  std::vector<char> ok(acquirers, 0);
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < acquirers; ++t)
    ts.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      const auto start = steady::now();
      auto l = p.acquire();
      out.took[static_cast<std::size_t>(t)] = steady::now() - start;
      if (l)
        ok[static_cast<std::size_t>(t)] = 1;
      else
        codes[static_cast<std::size_t>(t)] = l.error().code;
    });
  go = true;
  for (auto& t : ts) t.join();
  for (int t = 0; t < acquirers; ++t) {
    const auto k = static_cast<std::size_t>(t);
    if (ok[k])
      ++out.served;
    else if (codes[k] == berth::errc::database_unavailable)
      ++out.unavailable;
    else if (codes[k] == berth::errc::timeout)
      ++out.timeouts;
    else
      ++out.other;
  }
  std::sort(out.took.begin(), out.took.end());
  return out;
}

/// The latest breaker_opened event's interval (how long until its probe).
struct interval_probe {
  std::atomic<std::int64_t> ns{0};
  std::function<void(const berth::pool_event&)> hook() {
    return [this](const berth::pool_event& e) {
      if (e.kind == berth::event_kind::breaker_opened) ns = e.age.count();
    };
  }
};

berth::pool_options bench_options(const char* name, interval_probe& probe) {
  berth::pool_options o;
  o.name = name;
  o.max_size = 8;
  o.min_idle = 2;
  o.acquire_timeout = acquire_timeout;
  o.on_event = probe.hook();
  return o;
}

/// Steps 1 to 4 (see the file comment) on a pool `p` whose database
/// `go_down`/`come_back` control.
template <class Pool>
void scenario(Pool& p, interval_probe& probe, const std::function<void()>& go_down,
              const std::function<void()>& come_back) {
  if (!p.acquire_for(5s)) throw std::runtime_error("the pool does not serve before the outage");
  go_down();
  p.evict_all();
  round_of(p).print("outage begins (wait until the breaker opens)");
  round_of(p).print("breaker open");
  come_back();
  const auto back = steady::now();
  bool served = false;
  while (!served && steady::now() - back < 60s) {
    served = static_cast<bool>(p.acquire_for(100ms));
    if (!served) std::this_thread::sleep_for(1ms);  // refused at once while open: do not spin
  }
  const nanoseconds recovery = steady::now() - back;
  const auto s = p.stats();
  std::printf("  database back: %s after %.1f ms (recovery interval %.1f ms, breaker %s, opened %llu times, "
              "%llu acquires refused)\n",
              served ? "served" : "NOT served", ms(recovery), ms(nanoseconds{probe.ns.load()}),
              berth::to_string(s.breaker), static_cast<unsigned long long>(s.breaker_opened),
              static_cast<unsigned long long>(s.breaker_rejected));
}

/// A fake database: connect fails at once while down.
struct fake_db {
  std::atomic<bool> down{false};
  berth::function_adapter<int> adapter() {
    return berth::function_adapter<int>{{.connect = [this]() -> int {
      if (down.load()) throw std::runtime_error("fake: connection refused");
      return 1;
    }}};
  }
};

void run_fake() {
  std::printf("fake adapter (connect fails at once while down):\n");
  {
    fake_db db;
    interval_probe probe;
    berth::pool<berth::function_adapter<int>> p{db.adapter(), bench_options("bench-fake", probe)};
    scenario(p, probe, [&] { db.down = true; }, [&] { db.down = false; });
  }
  {
    fake_db db;
    interval_probe probe;
    auto o = bench_options("bench-fake-off", probe);
    o.breaker_threshold = 0;
    berth::pool<berth::function_adapter<int>> p{db.adapter(), o};
    if (!p.acquire_for(5s)) throw std::runtime_error("the pool does not serve");
    db.down = true;
    p.evict_all();
    round_of(p).print("breaker off (threshold 0), outage");
  }
}

#ifdef BERTH_BENCH_WITH_PG
void run_pg() {
  std::printf("PostgreSQL 15 on loopback (pg_ctl stop -m fast / pg_ctl start):\n");
  auto server = berth::testing::pg_server::start();
  berth::postgres::options ao;
  ao.conninfo = server.conninfo();
  ao.connect_timeout = 2s;
  interval_probe probe;
  berth::pool<berth::postgres::adapter> p{berth::postgres::adapter{ao}, bench_options("bench-pg", probe)};
  scenario(p, probe, [&] { server.stop_keeping_data("fast"); }, [&] { server.start_again(); });
}
#endif

}  // namespace

int main(int argc, char** argv) {
  bool pg = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-pg") == 0) {
      pg = false;
    } else {
      std::fprintf(stderr, "usage: %s [--no-pg]\n", argv[0]);
      return 2;
    }
  }
  const berth::pool_options d;
  std::printf("breaker_bench: %d acquirers calling acquire() at once, acquire_timeout %lld ms; breaker options at "
              "their defaults (threshold %u, window %lld ms, recovery %lld ms, recovery_max %lld ms); "
              "creation backoff %lld..%lld ms\n",
              acquirers, static_cast<long long>(std::chrono::milliseconds(acquire_timeout).count()),
              d.breaker_threshold, static_cast<long long>(d.breaker_window.count()),
              static_cast<long long>(d.breaker_recovery.count()),
              static_cast<long long>(d.breaker_recovery_max.count()),
              static_cast<long long>(d.creation_backoff_initial.count()),
              static_cast<long long>(d.creation_backoff_max.count()));
  try {
    run_fake();
#ifdef BERTH_BENCH_WITH_PG
    if (pg) run_pg();
#else
    if (pg) std::printf("(PostgreSQL part not built: berth::postgres is off)\n");
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "breaker_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
