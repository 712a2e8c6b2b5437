// run_wall_clock.hpp: the wall-clock time of one multi-threaded Google
// Benchmark run, for benchmarks with more threads than cores.
//
// Why: with UseRealTime(), Google Benchmark 1.7.1 times each thread from its
// own exit of the start barrier (State::StartKeepRunning -> ResumeTiming) to
// the end of its own loop (FinishKeepRunning -> PauseTiming), and reports the
// mean over threads. With more threads than cores, a thread still waiting for
// a CPU starts its clock late and one that ran early stops early, so the mean
// undercounts the run's wall time and items_per_second overstates throughput,
// by up to threads / cores when a thread's whole loop fits in a scheduler time
// slice. On a 2-core machine that is every row above 2 threads. Its run-length
// estimate is skewed the same way.
//
// How: each thread calls arrive() just before its timed loop and depart() just
// after it. The run's wall time is from the last arrival (the start barrier
// opens then) to the first thread out of the finish barrier (every loop has
// ended by then). depart() gives that span to every thread's
// State::SetIterationTime(), so under UseManualTime() Google Benchmark divides
// the sum by the thread count and reports time = wall / total iterations
// (ns per cycle of the whole pool) and items_per_second = total items / wall,
// and sizes its runs on wall time too.
//
// Synchronization: [W1] arrivals (before the start barrier, whose mutex
// orders them before every depart()) raise start_ns_ with a CAS loop;
// [W2] departures lower end_ns_, then count themselves in departed_
// (acq_rel), so a thread that sees departed_ == threads also sees every
// end_ns_ update; [W3] each thread reads the span, then counts itself in
// read_; the last reader resets the fields for the next run, whose threads
// Google Benchmark starts after joining this run's (happens-before).
#pragma once

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

namespace berth::bench {

/// One per benchmark function (a function-local static), shared by its threads.
/// Thread-safe for arrive/depart by the threads of one run at a time.
class run_wall_clock {
 public:
  /// Call just before `for (auto _ : state)`. Thread-safe. Never blocks.
  void arrive() noexcept {
    const std::int64_t t = now_ns();
    std::int64_t seen = start_ns_.load(std::memory_order_relaxed);  // [W1] CAS below
    while (seen < t && !start_ns_.compare_exchange_weak(seen, t, std::memory_order_relaxed)) {
    }
  }

  /// Call just after the loop. Waits (yielding) until every thread of the run
  /// has departed, then records the run's wall time as this thread's manual
  /// time. Thread-safe.
  void depart(benchmark::State& state) noexcept {
    const std::int64_t t = now_ns();
    std::int64_t seen = end_ns_.load(std::memory_order_relaxed);  // [W2] ordered by departed_
    while (seen > t && !end_ns_.compare_exchange_weak(seen, t, std::memory_order_relaxed)) {
    }
    const int threads = state.threads();
    departed_.fetch_add(1, std::memory_order_acq_rel);  // [W2]
    while (departed_.load(std::memory_order_acquire) < threads) std::this_thread::yield();
    const std::int64_t span = end_ns_.load(std::memory_order_relaxed) - start_ns_.load(std::memory_order_relaxed);
    state.SetIterationTime(static_cast<double>(span > 0 ? span : 1) * 1e-9);
    if (read_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads) {  // [W3] last reader
      start_ns_.store(std::numeric_limits<std::int64_t>::min(), std::memory_order_relaxed);
      end_ns_.store(std::numeric_limits<std::int64_t>::max(), std::memory_order_relaxed);
      departed_.store(0, std::memory_order_relaxed);
      read_.store(0, std::memory_order_relaxed);
    }
  }

 private:
  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // ---- atomics only; see Synchronization above ----
  std::atomic<std::int64_t> start_ns_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::int64_t> end_ns_{std::numeric_limits<std::int64_t>::max()};
  std::atomic<int> departed_{0};
  std::atomic<int> read_{0};
};

}  // namespace berth::bench
