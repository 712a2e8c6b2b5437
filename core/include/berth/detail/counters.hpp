// counters.hpp: the counters that pool_stats reads.
//
// Owns: cold-path event counters and the wait-time histogram of blocked
// acquires. Never touches: slots, waiters. The fast path adds nothing here:
// successful acquires are counted per slot by the lessee (slot.hpp) and
// fast-path acquires count as zero wait when percentiles are computed.
#pragma once

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

/// Wait time of acquires that blocked, in power-of-two buckets of
/// nanoseconds (bucket b: waited < 2^b ns).
/// Thread-safety: none; the pool guards it with its slow-path mutex.
class wait_histogram {
 public:
  void record(std::chrono::nanoseconds waited) noexcept;
  /// Acquires recorded (acquired after waiting).
  std::uint64_t count() const noexcept { return count_; }
  /// Percentiles over the recorded waits plus `zero_waits` acquires that did
  /// not wait (the fast path). Values are bucket upper bounds.
  wait_percentiles percentiles(std::uint64_t zero_waits) const noexcept;

 private:
  std::array<std::uint64_t, 64> buckets_{};
  std::uint64_t count_ = 0;
};

}  // namespace berth::detail
