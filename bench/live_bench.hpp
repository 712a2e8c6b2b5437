// live_bench.hpp: the live status line and --berth_report of berth's Google
// Benchmark binaries (issue 12), over berth_live (tools/live).
//
//   --berth_report=FILE.html  write an HTML report at the end: charts of the
//                 pools under test, one phase per benchmark case. Turns on
//                 latency sampling (live_latency()): the report's latency
//                 chart needs it, and it is the only change to a measured
//                 loop, so it happens only when a report is asked for.
//   BERTH_LIVE=0|1 (or --berth_live=0|1)  the status line on stderr: by
//                 default on only when stderr is a terminal; 1 gives plain
//                 lines every 5 s in a log; 0 none.
// Both are taken out of argv before benchmark::Initialize. Off a terminal
// and without a report nothing runs beside the benchmarks (scripts/run-bench
// in a log).
//
// A benchmark function makes a live_watch before its timed loop: thread 0
// attaches the pools to the monitor, and detaches them when the watch goes,
// after the loop (Google Benchmark starts timing at its start barrier, after
// the attach, and run_wall_clock times from the last arrival): the monitor's
// thread reads the pools 4 times a second (pool::stats(): O(max_size)
// relaxed loads) and sleeps in between; it never touches the loop.
//
// Synchronization: the monitor pointer is set by live_main() before
// RunSpecifiedBenchmarks() starts any benchmark thread and cleared after it
// returns (thread creation and join order it); the monitor's own pairs are
// in run_monitor.hpp.
#pragma once

#include <berth/live/latency_recorder.hpp>
#include <berth/live/sampler.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace berth::bench {

/// What a binary's report says about its latency figures.
struct live_options {
  /// E.g. "acquire latency (1 acquire in 256 timed)".
  std::string latency_label;
};

/// Replaces BENCHMARK_MAIN(): takes --berth_report and --berth_live out of
/// argv, initializes Google Benchmark, runs the benchmarks with the status
/// line erased around every table row, writes the report. Returns main's
/// exit code. Not thread-safe: call once, from main(). Blocks.
int live_main(int argc, char** argv, const live_options& o);

/// Where a benchmark records latencies, or nullptr (no report asked for:
/// the measured loop must stay as it is). Thread-safe. Never blocks.
live::latency_recorder* live_latency() noexcept;

/// Watches `pools` for the running case (named family/threads:N); a no-op
/// without a monitor or off thread 0. Distinct objects: safe. Shared
/// objects: unsafe (one per benchmark thread, on its stack).
class live_watch {
 public:
  /// Attaches (thread 0): blocks while the monitor samples. Allocates.
  live_watch(const benchmark::State& state, const char* family, std::vector<live::pool_probe> pools);
  live_watch(const live_watch&) = delete;
  live_watch& operator=(const live_watch&) = delete;
  /// Detaches (thread 0), with a final sample. Blocks while it is taken.
  ~live_watch();

 private:
  bool attached_ = false;
};

/// Calls acquire() and returns its result; when Timed, times one call in
/// `every` (a power of two) into `rec`, counting calls in `k`. The
/// untimed instantiation is exactly acquire(). Thread-safe as acquire()
/// (each thread its own `k`); the timed call never blocks beyond it.
template <bool Timed, class Acquire>
inline auto timed_every(live::latency_recorder* rec, std::uint32_t every, std::uint32_t& k, Acquire&& acquire) {
  if constexpr (Timed) {
    if ((++k & (every - 1)) == 0) {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = acquire();
      rec->record(std::chrono::steady_clock::now() - t0);
      return r;
    }
  } else {
    (void)rec;
    (void)every;
    (void)k;
  }
  return acquire();
}

}  // namespace berth::bench
