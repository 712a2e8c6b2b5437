// latency_recorder.hpp: a sharded histogram of latencies that harness
// threads record into and a run_monitor reads once per interval.
//
// Buckets are log-linear (HdrHistogram's layout with 3 significant bits):
// values below 16 ns exactly, above that 8 linear sub-buckets per power of
// two, so a percentile read as its bucket's upper bound over-estimates by
// at most 12.5%. The exact largest value since the last take_max() is kept
// beside the buckets.
//
// Synchronization:
//   [L1] record(): a relaxed fetch_add on its shard's bucket and a relaxed
//        CAS loop raising its shard's max. Relaxed: statistics only; they
//        publish no other data. A reader running beside a record() may see
//        the bucket without the max or the reverse: one interval can be off
//        by the records in flight at its edge, never more.
//   [L2] read_into() and take_max(): relaxed loads and a relaxed exchange,
//        for the same reason.
// Sharding: a thread records into shard (its ordinal mod shard_count), each
// shard on its own cache lines, so threads up to shard_count never share a
// line and more threads share one only in groups of a few: no single
// contended atomic is added to the recording loop.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace berth::live {

/// Per-interval (or per-phase) figures of a latency histogram.
/// Thread-safety: a value type.
struct latency_summary {
  std::uint64_t count = 0;          ///< latencies recorded; 0: the others are meaningless
  std::chrono::nanoseconds p50{0};  ///< bucket upper bound (at most 12.5% over), capped at max
  std::chrono::nanoseconds p99{0};  ///< as p50
  std::chrono::nanoseconds max{0};  ///< exact when the recorder's max was taken, else a bucket bound
};

/// Distinct objects: safe. Shared objects: record() from any number of
/// threads at once; read_into()/take_max() from one reader at a time (the
/// monitor), concurrently with record(). Not movable (threads hold its
/// address).
class latency_recorder {
 public:
  static constexpr std::size_t shard_count = 32;
  /// 16 exact buckets (0..15 ns), then 8 per power of two from 2^4 to 2^63.
  static constexpr std::size_t bucket_count = 16 + 60 * 8;
  using bucket_array = std::array<std::uint64_t, bucket_count>;

  latency_recorder();
  latency_recorder(const latency_recorder&) = delete;
  latency_recorder& operator=(const latency_recorder&) = delete;

  /// Counts one latency (negative values count as 0). Thread-safe. Never
  /// blocks. Never allocates.
  void record(std::chrono::nanoseconds d) noexcept;

  /// Adds every bucket's count, summed over shards, to `into`. Counts only
  /// grow: a reader diffs two reads for an interval. Thread-safe beside
  /// record(); one reader at a time. Never blocks.
  void read_into(bucket_array& into) const noexcept;

  /// The largest latency recorded since the previous call (0 if none), and
  /// starts a new interval. One reader at a time. Never blocks.
  std::chrono::nanoseconds take_max() noexcept;

  /// The bucket that holds `ns`. Pure.
  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  /// The largest value bucket `b` holds. Pure.
  static std::uint64_t upper_bound(std::size_t b) noexcept;

 private:
  struct alignas(128) shard {
    std::array<std::atomic<std::uint64_t>, bucket_count> buckets{};  // [L1]/[L2]
    std::atomic<std::int64_t> max{0};                                // [L1]/[L2]
  };
  // ---- immutable after construction (the pointer; the shards are atomics only) ----
  std::unique_ptr<shard[]> shards_;
};

/// Counts, p50, p99 and max of a bucket delta (e.g. this interval's counts
/// minus the previous interval's). `exact_max` (0: unknown) caps the
/// percentiles and is the max when given. Pure.
latency_summary summarize(const latency_recorder::bucket_array& delta, std::chrono::nanoseconds exact_max) noexcept;

}  // namespace berth::live
