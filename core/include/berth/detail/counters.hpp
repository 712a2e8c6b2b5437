// counters.hpp: the counters that pool_stats reads.
//
// Owns: cold-path event counters and the wait-time histogram of blocked
// acquires. Never touches: slots, waiters. The fast path adds nothing here:
// successful acquires are counted per slot by the lessee (slot.hpp) and
// fast-path acquires count as zero wait when percentiles are computed.
#pragma once

#include <berth/detail/cache_padded.hpp>
#include <berth/stats.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace berth::detail {

/// Monotonic counters. Thread-safe: relaxed atomics (statistics only, no
/// ordering duty); a snapshot is approximate under load.
struct pool_counters {
  std::atomic<std::uint64_t> created{0}, destroyed{0}, creation_failures{0}, timeouts{0}, discarded{0}, unwound{0},
      reaper_passes{0}, validation_failures{0}, acquire_validations{0}, breaker_rejected{0};

  static void bump(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }

  /// Copies every counter into s (not counts, acquired, waits or leaks).
  void read_into(pool_stats& s) const noexcept;
};

/// Wait time of acquires that blocked, in duration_histogram's buckets.
/// Thread-safety: none; the pool guards it with its slow-path mutex.
class wait_histogram {
 public:
  void record(std::chrono::nanoseconds waited) noexcept;
  /// Acquires recorded (acquired after waiting).
  std::uint64_t count() const noexcept { return h_.count; }
  /// The recorded waits plus `zero_waits` acquires that did not wait (the
  /// fast path), in bucket 0.
  duration_histogram histogram(std::uint64_t zero_waits) const noexcept;
  /// Percentiles of histogram(zero_waits). Values are bucket upper bounds.
  wait_percentiles percentiles(std::uint64_t zero_waits) const noexcept;

 private:
  duration_histogram h_;
};

/// The same buckets, recorded by several threads at once without a lock:
/// lease hold times (sampled: one lease in pool_options::hold_time_sampling)
/// and connection times (the creator thread). Not on the fast path: a
/// sampled release is its cold branch.
/// Thread-safety: record() and snapshot() from any thread; relaxed
/// fetch_adds (statistics, nothing is published through them), so a
/// snapshot under load may miss a record in flight; snapshot() takes count
/// as the sum of the buckets it read, so count always matches them.
class atomic_histogram {
 public:
  void record(std::chrono::nanoseconds d) noexcept;
  duration_histogram snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, duration_histogram::bucket_count> buckets_{};
  std::atomic<std::int64_t> sum_{0};  // nanoseconds, saturating (see record())
};

/// atomic_histogram in shards on their own line pairs, picked by a key (the
/// slot index), so that threads recording at the same time on different
/// slots rarely write the same line: one shared histogram cost 2 threads
/// on 2 cores 23% of their cycle at one lease in 64 timed (issue 12).
/// Thread-safety: as atomic_histogram.
class sharded_histogram {
 public:
  void record(std::uint32_t key, std::chrono::nanoseconds d) noexcept { shards_[key % shards].value.record(d); }
  duration_histogram snapshot() const noexcept;

 private:
  static constexpr std::size_t shards = 8;
  std::array<cache_padded<atomic_histogram>, shards> shards_{};
};

}  // namespace berth::detail
