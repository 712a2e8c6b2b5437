// failover_bench.cpp: how long a berth pool takes to serve again after a
// PostgreSQL restart and after a failover (issue 11), as medians over a few
// repetitions. Not a Google Benchmark: each sample is one event.
//
//   restart:   4 threads loop `SELECT 1` through a pool (max_size 4,
//              min_idle 4, otherwise default pool_options) on one server
//              (tests/support/pg_server.hpp); `pg_ctl restart -m fast`; the
//              sample is the time from restart's return until every thread
//              has been served again (and from the restart's start).
//   promotion: on a fresh primary + streaming standby per repetition
//              (tests/support/pg_pair.hpp), 2 threads loop an INSERT through
//              a pool with conninfo "host=primary,standby
//              target_session_attrs=read-write" (default pool_options,
//              max_size 4, min_idle 2); the primary is stopped
//              (`pg_ctl stop -m fast`), then the standby promoted (`pg_ctl
//              promote`); the sample is the time from the start of the
//              promotion until a write succeeds again (and from the stop).
// Creation backoff is the pool's default (50 ms initial, doubling, jittered):
// after an outage of about 100-200 ms the next attempt may wait that long.
//
// Usage: berth_failover_bench [--repetitions N] (default 5). Release preset.
#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>

#include "support/pg_pair.hpp"
#include "support/pg_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using berth::postgres::adapter;
using berth::postgres::options;
using berth::postgres::session_target;
using pg_pool = berth::pool<adapter>;
using steady = std::chrono::steady_clock;

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// min / median / max of samples (ms).
void print_row(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  std::printf("| %-62s | %8.1f | %8.1f | %8.1f |\n", what, median, v.front(), v.back());
}

/// Steady time (ns) of a thread's first success after a mark; 0 until then.
struct first_success {
  std::atomic<std::int64_t> after{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::int64_t> at{0};
  void note() {
    const std::int64_t now = steady::now().time_since_epoch().count();
    std::int64_t none = 0;
    if (now > after.load()) at.compare_exchange_strong(none, now);
  }
  void arm(steady::time_point t) { after.store(t.time_since_epoch().count()); }
  bool done() const { return at.load() != 0; }
  steady::time_point when() const { return steady::time_point(steady::duration(at.load())); }
};

struct restart_sample {
  double after_return, after_start;
};

restart_sample measure_restart(berth::testing::pg_server& server) {
  options o;
  o.conninfo = server.conninfo();
  pg_pool p{adapter{o}, {.name = "bench-restart", .max_size = 4, .min_idle = 4}};
  constexpr int threads = 4;
  std::vector<first_success> firsts(threads);
  std::atomic<bool> stop{false};
  std::atomic<int> warm{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      while (!stop.load()) {
        auto l = p.acquire_for(5s);
        if (l && (*l)->execute_for(5s, "SELECT 1")) {
          warm.fetch_add(1);
          firsts[static_cast<std::size_t>(t)].note();
        }
      }
    });
  while (warm.load() < 100) std::this_thread::sleep_for(1ms);
  const auto t0 = steady::now();
  server.restart();
  const auto t1 = steady::now();
  for (auto& f : firsts) f.arm(t1);
  const auto all = [&] { return std::all_of(firsts.begin(), firsts.end(), [](auto& f) { return f.done(); }); };
  while (!all() && steady::now() - t1 < 30s) std::this_thread::sleep_for(100us);
  stop.store(true);
  for (auto& t : ts) t.join();
  if (!all()) throw std::runtime_error("a thread was not served within 30 s of the restart");
  steady::time_point last{};
  for (auto& f : firsts) last = std::max(last, f.when());
  return {ms(last - t1), ms(last - t0)};
}

struct promotion_sample {
  double after_promote_start, after_stop_start, promote_took;
};

promotion_sample measure_promotion() {
  berth::testing::pg_pair pair = berth::testing::pg_pair::start();
  pair.primary().admin_execute("CREATE TABLE bench_rows (v int8); GRANT ALL ON bench_rows TO " +
                                   pair.primary().user(),
                               pair.primary().dbname());
  pair.wait_for_replay();
  options o;
  o.conninfo = pair.conninfo({&pair.primary(), &pair.standby()});
  o.target_session_attrs = session_target::read_write;
  pg_pool p{adapter{o}, {.name = "bench-promotion", .max_size = 4, .min_idle = 2}};
  first_success first;
  std::atomic<bool> stop{false};
  std::atomic<int> warm{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&] {
      while (!stop.load()) {
        auto l = p.acquire_for(1s);
        if (l && (*l)->execute_for(2s, "INSERT INTO bench_rows VALUES ($1)", std::int64_t{1})) {
          warm.fetch_add(1);
          first.note();
        }
      }
    });
  while (warm.load() < 50) std::this_thread::sleep_for(1ms);
  const auto t_stop = steady::now();
  pair.primary().stop_keeping_data("fast");
  const auto t_promote = steady::now();
  first.arm(t_promote);  // the primary is down: no write succeeds before the promotion
  pair.standby().promote();
  const auto t_promoted = steady::now();
  while (!first.done() && steady::now() - t_promote < 30s) std::this_thread::sleep_for(100us);
  stop.store(true);
  for (auto& t : ts) t.join();
  if (!first.done()) throw std::runtime_error("no write succeeded within 30 s of the promotion");
  return {ms(first.when() - t_promote), ms(first.when() - t_stop), ms(t_promoted - t_promote)};
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--repetitions N]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  try {
    std::vector<double> r_ret, r_start, p_prom, p_stop, p_took;
    {
      auto server = berth::testing::pg_server::start();
      for (int k = 0; k < reps; ++k) {
        const auto s = measure_restart(server);
        r_ret.push_back(s.after_return);
        r_start.push_back(s.after_start);
      }
    }
    for (int k = 0; k < reps; ++k) {
      const auto s = measure_promotion();
      p_prom.push_back(s.after_promote_start);
      p_stop.push_back(s.after_stop_start);
      p_took.push_back(s.promote_took);
    }
    std::printf("berth_failover_bench: %d repetitions; milliseconds\n\n", reps);
    std::printf("| %-62s | %8s | %8s | %8s |\n", "time until the pool serves again", "median", "min", "max");
    std::printf("|%s|%s|%s|%s|\n", std::string(64, '-').c_str(), std::string(10, '-').c_str(),
                std::string(10, '-').c_str(), std::string(10, '-').c_str());
    print_row("restart: all 4 threads served, after pg_ctl restart returned", r_ret);
    print_row("restart: the same, after pg_ctl restart began", r_start);
    print_row("promotion: a write succeeds, after pg_ctl promote began", p_prom);
    print_row("promotion: the same, after pg_ctl stop (primary) began", p_stop);
    print_row("promotion: pg_ctl promote -w itself (for reference)", p_took);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth_failover_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
