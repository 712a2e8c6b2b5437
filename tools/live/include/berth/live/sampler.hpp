// sampler.hpp: what to sample (a probe: callables, so any pool type, the
// SQLite database's two pools, or a harness's own counters) and the pure
// bookkeeping that turns successive reads into samples and phases.
//
// The sampler takes the time from its caller, so a test drives it with a
// fake clock; run_monitor drives it from its thread.
#pragma once

#include <berth/live/latency_recorder.hpp>
#include <berth/live/sample.hpp>
#include <berth/stats.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace berth::live {

/// One pool to read. `read` must be thread-safe and cheap enough for a few
/// calls per second (pool::stats() is: O(max_size) relaxed loads).
struct pool_probe {
  std::string name;
  std::function<pool_reading()> read;
};

/// A pool's probe, reading stats() once per sample. The pool must outlive
/// the phase the probe is attached for. Thread-safe (as pool::stats()).
/// Allocates.
template <class Pool>
pool_probe watch_pool(std::string name, const Pool& p) {
  return {std::move(name), [&p] {
            const pool_stats s = p.stats();
            return pool_reading{s.counts, s.acquired, s.timeouts};
          }};
}

/// What a phase samples. Every callable is called from the sampling
/// thread (and from attach()/detach() callers), never concurrently with
/// itself for one monitor.
struct probe {
  std::string phase;              ///< the phase's name (a scenario, a benchmark case)
  std::vector<pool_probe> pools;  ///< the pools to chart
  /// The harness's operations so far (monotonic; any origin). Empty: the
  /// pools' stats().acquired summed.
  std::function<std::uint64_t()> ops;
  /// Latencies the harness records; nullptr: none in this phase.
  latency_recorder* latency = nullptr;
};

/// Turns reads into samples. Distinct objects: safe. Shared objects:
/// unsafe (run_monitor guards its one with a mutex).
class sampler {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// `min_final_window`: detach() keeps its final sample only when it
  /// covers at least this long (or is the phase's first); a shorter tail is
  /// counted in the phase's totals but drawn as no point, since a rate over
  /// a millisecond or two is noise.
  explicit sampler(time_point start, std::chrono::nanoseconds min_final_window = {}) noexcept
      : start_(start), min_final_window_(min_final_window) {}

  /// Starts watching `p`: takes the baselines (ops, timeouts, latency) at
  /// `now`. A phase of the same name and pools as the last one continues
  /// it. Replaces any attached probe (without a final sample). Calls p's
  /// callables. Not thread-safe. Allocates.
  void attach(probe p, time_point now);
  /// Takes a final sample (when some time passed since the last; see
  /// min_final_window) and stops watching. No-op when nothing is attached.
  /// When the final sample throws (a probe's callable, std::bad_alloc), it
  /// still stops watching, then rethrows. Not thread-safe. Allocates.
  void detach(time_point now);
  /// Whether a probe is attached. Never blocks.
  bool attached() const noexcept { return attached_; }

  /// Samples the window since the previous sample (or attach): nullptr when
  /// nothing is attached or no time passed. The pointer is valid until the
  /// next call of a non-const member. Strong exception guarantee: when a
  /// probe's callable (or an allocation) throws, nothing changed and the
  /// next sample covers this window too. Not thread-safe. Allocates.
  const sample* take(time_point now);

  /// The phase the last sample belongs to (or the attached one); nullptr
  /// before the first attach. Never blocks.
  const phase_info* current_phase() const noexcept;

  /// Samples taken so far. Never blocks.
  std::size_t sample_count() const noexcept { return record_.samples.size(); }
  /// The record so far; `now` sets its duration. Copies. Allocates.
  run_record record(time_point now) const;

 private:
  struct totals {
    std::uint64_t ops = 0;
    std::uint64_t timeouts = 0;
  };
  totals read_totals(std::vector<pool_reading>* readings);
  /// take(), keeping the sample only when `keep` (the phase counts it anyway).
  const sample* take(time_point now, bool keep);

  time_point start_;
  std::chrono::nanoseconds min_final_window_;
  run_record record_;
  bool attached_ = false;
  probe probe_;
  time_point last_{};
  totals last_totals_;
  latency_recorder::bucket_array last_buckets_{};
};

}  // namespace berth::live
