// metrics_bench.cpp: what do berth's metrics cost the acquire + release
// cycle (issue 12: "with metrics on, the acquire/release benchmark stays
// within 10% of metrics off")?
//
//   BM_metrics_off        pool 32, pool_options::hold_time_sampling = 0:
//                         no lease is timed; nothing reads stats().
//   BM_metrics_on         the defaults: one lease in 128 timed (two clock
//                         reads and two relaxed read-modify-writes on one of
//                         the pool's histogram shards), and a scraper thread
//                         calling stats()
//                         every 100 ms, ten times as often as a Prometheus
//                         scrape at its usual 1 s or more (each stats() takes
//                         the slow-path mutex, which the fast path never
//                         does, and reads every slot).
//   BM_metrics_every_lease  hold_time_sampling = 1 and the scraper: every
//                         lease timed, for scale (not a default).
//
// Thread counts 1, 2, 8, 32 (a connection each) and 128 (4 threads per
// connection). Run interleaved with repetitions, so drift hits all three
// alike:
//   build/release/bench/berth_metrics_bench --benchmark_repetitions=5
//     --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// (one command line).
// Timing as in cycle_bench.cpp (run_wall_clock.hpp: wall time of the run).
#include "null_adapter.hpp"
#include "run_wall_clock.hpp"

#include <berth/pool.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

namespace {

using berth::bench::null_adapter;
using berth::bench::run_wall_clock;
using berth_pool = berth::pool<null_adapter>;

berth::pool_options options(std::uint32_t sampling) {
  berth::pool_options o;
  o.name = "metrics_bench";
  o.max_size = 32;
  o.min_idle = 32;
  o.startup = berth::startup_mode::fail_fast;
  o.hold_time_sampling = sampling;
  return o;
}

/// A thread calling pool.stats() every 100 ms while it lives, as a
/// Prometheus collector would (at 10x the usual rate).
class scraper {
 public:
  explicit scraper(berth_pool& p)
      : thread_([this, &p] {
          std::unique_lock lk(mutex_);
          while (!cv_.wait_for(lk, std::chrono::milliseconds{100}, [this] { return stop_; }))
            benchmark::DoNotOptimize(p.stats());
        }) {}
  scraper(const scraper&) = delete;
  scraper& operator=(const scraper&) = delete;
  ~scraper() {
    {
      std::lock_guard lk(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;  // last: starts after the fields it uses
};

void cycle(benchmark::State& state, berth_pool& p, run_wall_clock& wall) {
  wall.arrive();
  for (auto _ : state) {
    auto l = p.acquire();
    if (!l) [[unlikely]] {
      state.SkipWithError("berth acquire() failed");
      break;
    }
    benchmark::DoNotOptimize(l);
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

// Function-local statics: built by the first thread that reaches them,
// before the timed loop; destroyed after main() returns (scrapers first:
// declared after their pools).
void BM_metrics_off(benchmark::State& state) {
  static berth_pool p{null_adapter{}, options(0)};
  static run_wall_clock wall;
  cycle(state, p, wall);
}
void BM_metrics_on(benchmark::State& state) {
  static berth_pool p{null_adapter{}, options(berth::pool_options{}.hold_time_sampling)};
  static scraper s{p};
  static run_wall_clock wall;
  cycle(state, p, wall);
}
void BM_metrics_every_lease(benchmark::State& state) {
  static berth_pool p{null_adapter{}, options(1)};
  static scraper s{p};
  static run_wall_clock wall;
  cycle(state, p, wall);
}

void thread_counts(benchmark::internal::Benchmark* b) {
  for (int t : {1, 2, 8, 32, 128}) b->Threads(t);
  b->UseManualTime();
}
BENCHMARK(BM_metrics_off)->Apply(thread_counts);
BENCHMARK(BM_metrics_on)->Apply(thread_counts);
BENCHMARK(BM_metrics_every_lease)->Apply(thread_counts);

}  // namespace

BENCHMARK_MAIN();
