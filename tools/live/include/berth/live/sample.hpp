// sample.hpp: what a run_monitor records: one sample per interval, grouped
// in phases (a stress scenario, a benchmark case), and the whole run.
#pragma once

#include <berth/live/latency_recorder.hpp>
#include <berth/stats.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace berth::live {

/// One read of one pool: its counts and the two counters a sample diffs.
/// Thread-safety: a value type.
struct pool_reading {
  pool_counts counts;
  std::uint64_t acquired = 0;  ///< pool_stats::acquired (monotonic)
  std::uint64_t timeouts = 0;  ///< pool_stats::timeouts (monotonic)
};

/// One interval of a phase. Rates and latencies cover [elapsed - window,
/// elapsed]; counts are read at `elapsed`.
/// Thread-safety: a value type.
struct sample {
  std::chrono::nanoseconds elapsed{0};  ///< since the monitor started
  std::chrono::nanoseconds window{0};   ///< since the previous sample of the phase (or its start)
  std::size_t phase = 0;                ///< index into run_record::phases
  std::uint64_t ops = 0;                ///< operations in the window
  std::uint64_t timeouts = 0;           ///< acquire timeouts in the window, all pools
  latency_summary latency;              ///< latencies recorded in the window (count 0: none)
  std::vector<pool_counts> pools;       ///< one per phase_info::pools, in that order

  /// ops / window in seconds; 0 for an empty window. Pure.
  double ops_per_second() const noexcept;
};

/// A named stretch of the run with one set of pools (a stress scenario, a
/// benchmark case). Attaching the same name twice in a row continues it.
/// Thread-safety: a value type.
struct phase_info {
  std::string name;
  std::vector<std::string> pools;       ///< the pools' names, as probed
  std::chrono::nanoseconds start{0};    ///< first attached
  std::chrono::nanoseconds end{0};      ///< last detached (or last sample)
  std::chrono::nanoseconds watched{0};  ///< time attached (a resumed phase has gaps)
  std::uint64_t ops = 0;                ///< operations while attached
  std::uint64_t timeouts = 0;           ///< acquire timeouts while attached
  std::size_t samples = 0;
  std::size_t peak_waiting = 0;         ///< most waiters in one sample, all pools
  std::size_t peak_leased = 0;          ///< most leases out in one sample, all pools
  latency_summary latency;              ///< over every latency recorded while attached
  latency_recorder::bucket_array latency_buckets{};  ///< its histogram (for merging)

  /// ops / watched in seconds; 0 when never watched. Pure.
  double ops_per_second() const noexcept;
};

/// Everything a monitor saw. Thread-safety: a value type.
struct run_record {
  std::vector<phase_info> phases;
  std::vector<sample> samples;
  std::chrono::nanoseconds duration{0};  ///< monitor start to stop
  std::chrono::nanoseconds interval{0};  ///< the nominal sampling period
  /// Samples not taken because a probe (or an allocation) threw; the next
  /// sample of the phase covered their windows.
  std::size_t samples_skipped = 0;
  /// What the latency figures time, for titles ("acquire latency (every
  /// successful blocking acquire)").
  std::string latency_label;
};

}  // namespace berth::live
