// cycle_bench.cpp: what does one acquire + release cycle cost, next to a
// mutex + condition-variable pool and next to the bare minimum?
//
//   BM_bare_cas_pair           one CAS 0 -> 1 and one CAS 1 -> 0 on a lone
//                              atomic: the reference floor (single
//                              thread). BM_bare_cas_store: CAS + plain store.
//   BM_berth_cycle             berth::pool<null_adapter>, 32 connections,
//                              acquire() + lease destruction, 1..128 threads.
//   BM_mutex_pool_cycle        mutex_pool, 32 connections, same loop.
//   BM_berth_cycle_pool8       as above with 8 connections: beyond 8 threads,
//   BM_mutex_pool_cycle_pool8  acquirers wait (berth queues them FIFO and
//                              hands connections over; the mutex pool lets
//                              running threads barge).
//   BM_berth_cycle_reaper_off  pool 32 with every lifecycle policy off, and
//   BM_berth_cycle_reaper_busy with a reaper pass every 1 ms validating idle
//                              connections: what the reaper costs the cycle.
//   BM_berth_try_acquire_cycle try_acquire() + lease destruction, single
//                              thread: acquire() minus its deadline (a steady
//                              clock read), to show what that read costs.
//   BM_berth_try_acquire_miss  try_acquire() on an exhausted pool: the price
//                              of being told errc::would_block.
//
// Every benchmark reports items_per_second = cycles per second of the whole
// pool (all threads together); its reported time is ns per cycle of the pool,
// 1e9 / items_per_second. bench/report.py prints the comparison table.
// Single-thread benchmarks use UseRealTime(). The thread sweeps use
// UseManualTime() fed with the wall-clock time of each run
// (run_wall_clock.hpp): Google Benchmark's UseRealTime() averages per-thread
// times, which overstates throughput when threads outnumber cores, as they
// do here from 4 threads on a 2-core machine.
//
// The shared pools are function-local statics: built once, by the first
// benchmark thread that reaches them, before its timed loop (Google Benchmark
// starts the clock after all threads reach the loop); destroyed after main()
// returns, when no lease is out.
//
// Live view (live_bench.hpp): the BM_berth_cycle* cases attach their pool to
// the status line and to --berth_report=FILE.html. With a report asked for,
// their loop times 1 acquire in 256 (two steady_clock reads) for the latency
// chart, which costs this ~10 ns cycle about 10-15% (1 and 8 threads,
// release, 2 cores); without one the loop is the plain one. Do not quote
// numbers from a run with --berth_report.
#include "live_bench.hpp"
#include "mutex_pool.hpp"
#include "null_adapter.hpp"
#include "run_wall_clock.hpp"

#include <berth/detail/cache_padded.hpp>
#include <berth/pool.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace {

using berth::bench::mutex_pool;
using berth::bench::null_adapter;
using berth::bench::run_wall_clock;
using berth_pool = berth::pool<null_adapter>;

berth::pool_options full_pool_options(std::size_t size) {
  berth::pool_options o;
  o.name = "cycle_bench";
  o.max_size = size;
  o.min_idle = size;  // every connection open before the first acquire
  o.startup = berth::startup_mode::fail_fast;
  return o;
}

template <std::size_t Size>
berth_pool& shared_berth_pool() {
  static berth_pool p{null_adapter{}, full_pool_options(Size)};
  return p;
}

// Reaper off (every lifecycle policy 0) vs reaper busy (a pass every
// millisecond validating idle connections): the reaper's cost on the cycle.
berth_pool& reaper_pool(bool busy) {
  auto make = [](bool on) {
    berth::pool_options o = full_pool_options(32);
    o.idle_timeout = o.max_lifetime = o.keepalive_interval = o.validation_interval = std::chrono::milliseconds{0};
    if (on) {
      o.reaper_period = std::chrono::milliseconds{1};
      o.keepalive_interval = std::chrono::milliseconds{2};
      o.validation_interval = std::chrono::milliseconds{5};
    }
    return o;
  };
  static berth_pool off{null_adapter{}, make(false)};
  static berth_pool on{null_adapter{}, make(true)};
  return busy ? on : off;
}

template <std::size_t Size>
mutex_pool& shared_mutex_pool() {
  static mutex_pool p{Size};
  return p;
}

// ---- the floor -------------------------------------------------------------

/// Alone on its line pair, like a berth slot word.
berth::detail::cache_padded<std::atomic<std::uint32_t>> bare_slot{};

void BM_bare_cas_pair(benchmark::State& state) {
  std::atomic<std::uint32_t>& slot = bare_slot.value;
  for (auto _ : state) {
    std::uint32_t expected = 0;
    // acquire: pairs with the release store below (of this or another
    // iteration), as a lessee's CAS pairs with the previous lessee's release.
    while (!slot.compare_exchange_weak(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
      expected = 0;
    // release: a CAS too, as the issue defines the floor ("a bare
    // CAS-acquire/CAS-release pair on one slot"); publishes the "connection".
    expected = 1;
    while (!slot.compare_exchange_weak(expected, 0, std::memory_order_release, std::memory_order_relaxed))
      expected = 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_bare_cas_pair)->Threads(1)->UseRealTime();

// The absolute floor: CAS to acquire, plain release store.
void BM_bare_cas_store(benchmark::State& state) {
  std::atomic<std::uint32_t>& slot = bare_slot.value;
  for (auto _ : state) {
    std::uint32_t expected = 0;
    while (!slot.compare_exchange_weak(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
      expected = 0;
    slot.store(0, std::memory_order_release);  // publishes to the next CAS
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_bare_cas_store)->Threads(1)->UseRealTime();

// ---- acquire + release cycles ------------------------------------------------

/// Timed: 1 acquire in latency_sample_every goes to the report's latency
/// chart (live_bench.hpp); the untimed loop is the plain acquire().
constexpr std::uint32_t latency_sample_every = 256;

template <bool Timed>
void berth_cycle_loop(benchmark::State& state, berth_pool& p) {
  berth::live::latency_recorder* const lat = berth::bench::live_latency();
  std::uint32_t k = 0;
  for (auto _ : state) {
    auto l = berth::bench::timed_every<Timed>(lat, latency_sample_every, k, [&p] { return p.acquire(); });
    if (!l) [[unlikely]] {
      state.SkipWithError("berth acquire() failed");
      break;
    }
    benchmark::DoNotOptimize(l);
  }  // lease released here, inside the timed loop
}

void berth_cycle(benchmark::State& state, berth_pool& p, run_wall_clock& wall, const char* family) {
  const berth::bench::live_watch watch(state, family, {berth::live::watch_pool("pool", p)});
  wall.arrive();
  if (berth::bench::live_latency() != nullptr)
    berth_cycle_loop<true>(state, p);
  else
    berth_cycle_loop<false>(state, p);
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

void mutex_pool_cycle(benchmark::State& state, mutex_pool& p, run_wall_clock& wall) {
  wall.arrive();
  for (auto _ : state) {
    auto l = p.acquire();
    benchmark::DoNotOptimize(l);
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

void BM_berth_cycle(benchmark::State& state) {
  static run_wall_clock wall;
  berth_cycle(state, shared_berth_pool<32>(), wall, "BM_berth_cycle");
}
void BM_mutex_pool_cycle(benchmark::State& state) {
  static run_wall_clock wall;
  mutex_pool_cycle(state, shared_mutex_pool<32>(), wall);
}
void BM_berth_cycle_reaper_off(benchmark::State& state) {
  static run_wall_clock wall;
  berth_cycle(state, reaper_pool(false), wall, "BM_berth_cycle_reaper_off");
}
void BM_berth_cycle_reaper_busy(benchmark::State& state) {
  static run_wall_clock wall;
  berth_cycle(state, reaper_pool(true), wall, "BM_berth_cycle_reaper_busy");
}
BENCHMARK(BM_berth_cycle_reaper_off)->Threads(1)->Threads(2)->Threads(8)->Threads(128)->UseManualTime();
BENCHMARK(BM_berth_cycle_reaper_busy)->Threads(1)->Threads(2)->Threads(8)->Threads(128)->UseManualTime();

void BM_berth_cycle_pool8(benchmark::State& state) {
  static run_wall_clock wall;
  berth_cycle(state, shared_berth_pool<8>(), wall, "BM_berth_cycle_pool8");
}
void BM_mutex_pool_cycle_pool8(benchmark::State& state) {
  static run_wall_clock wall;
  mutex_pool_cycle(state, shared_mutex_pool<8>(), wall);
}

BENCHMARK(BM_berth_cycle)->ThreadRange(1, 128)->UseManualTime();
BENCHMARK(BM_mutex_pool_cycle)->ThreadRange(1, 128)->UseManualTime();
BENCHMARK(BM_berth_cycle_pool8)->ThreadRange(1, 128)->UseManualTime();
BENCHMARK(BM_mutex_pool_cycle_pool8)->ThreadRange(1, 128)->UseManualTime();

// ---- single-thread details ---------------------------------------------------

void BM_berth_try_acquire_cycle(benchmark::State& state) {
  berth_pool& p = shared_berth_pool<32>();
  // The shared pool sat idle between benchmarks, so the reaper may have
  // flagged its connections stale, and try_acquire never validates: one
  // blocking acquire validates this thread's connection first.
  if (!p.acquire()) {
    state.SkipWithError("berth acquire() failed");
    return;
  }
  for (auto _ : state) {
    auto l = p.try_acquire();
    if (!l) [[unlikely]] {
      state.SkipWithError("berth try_acquire() failed on an idle pool");
      break;
    }
    benchmark::DoNotOptimize(l);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_berth_try_acquire_cycle)->Threads(1)->UseRealTime();

void BM_berth_try_acquire_miss(benchmark::State& state) {
  berth_pool p{null_adapter{}, full_pool_options(1)};
  auto held = p.try_acquire();  // destroyed before p (declared after it)
  if (!held) {
    state.SkipWithError("could not take the only connection");
    return;
  }
  for (auto _ : state) {
    auto miss = p.try_acquire();
    if (miss) [[unlikely]] {
      state.SkipWithError("try_acquire() succeeded on an exhausted pool");
      break;
    }
    benchmark::DoNotOptimize(miss);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_berth_try_acquire_miss)->Threads(1)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return berth::bench::live_main(argc, argv,
                                 {.latency_label = "acquire latency (acquire() of the BM_berth_cycle* cases, 1 call "
                                                   "in 256 timed)"});
}
