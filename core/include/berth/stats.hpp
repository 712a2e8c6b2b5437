// stats.hpp: typed statistics snapshot of a pool.
#pragma once

#include <berth/breaker_state.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace berth {

/// Slots by state at one moment, plus queued acquirers. Each field is read
/// separately without stopping the pool, so under load the sum is
/// approximate; at quiescence it is exact.
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct pool_counts {
  std::size_t total = 0;       ///< open or being opened/closed (= slots - empty); may exceed
                               ///< max_size for a while after pool::resize() shrank it
  std::size_t idle = 0;        ///< ready to lease
  std::size_t leased = 0;      ///< held by a lease
  std::size_t reserved = 0;    ///< claimed by the reaper (or close/evict_all)
  std::size_t connecting = 0;  ///< creations in flight
  std::size_t closing = 0;     ///< being closed
  /// Of leased, reserved and connecting: flagged to be closed when their
  /// owner lets go (evict_all/evict, max_lifetime, or pool::resize() below
  /// the open connections); total - retiring is what the pool keeps.
  std::size_t retiring = 0;
  std::size_t waiting = 0;     ///< acquirers blocked for a connection
  std::size_t max_size = 0;    ///< the max_size in force (pool::resize() may change it)
  std::size_t min_idle = 0;    ///< the min_idle in force (resize() or the adaptive mode)
  /// pool::suspend() holds acquirers (they wait, up to their deadline) and
  /// creation until resume().
  bool suspended = false;
  /// True while the next released connection is handed to the longest
  /// waiter: the head waiter has waited pool_options::handoff_after, or
  /// handoff_after is 0 (strict FIFO: newcomers queue too).
  bool strict_handoff = false;

  /// "total=10, idle=0, leased=10, waiting=5, connecting=1, ...", for
  /// messages; ", suspended" at the end while suspended.
  std::string to_string() const;
};

/// Wait time of acquire calls, over the pool's lifetime. Acquires served by the
/// fast path count as zero wait. Values are bucket upper bounds (powers of
/// two of nanoseconds), so they over-estimate by at most 2x.
/// Thread-safety: a value type.
struct wait_percentiles {
  std::chrono::nanoseconds p50{0};
  std::chrono::nanoseconds p90{0};
  std::chrono::nanoseconds p99{0};
  std::chrono::nanoseconds p999{0};
  std::chrono::nanoseconds max{0};
};

/// A distribution of durations in power-of-two buckets of nanoseconds, as
/// pool_stats reports them (wait_time, hold_time, creation_time). Bucket 0
/// holds values of 0 ns; bucket b >= 1 holds values in [2^(b-1), 2^b) ns;
/// the last bucket also holds everything larger. So a quantile read from it
/// over-estimates by at most 2x, and a Prometheus histogram takes the
/// buckets as they are (le = upper_bound(b)).
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct duration_histogram {
  static constexpr std::size_t bucket_count = 64;
  std::array<std::uint64_t, bucket_count> buckets{};
  /// The values recorded: the sum of buckets.
  std::uint64_t count = 0;
  /// Their sum (saturating at nanoseconds::max()).
  std::chrono::nanoseconds sum{0};

  /// The bucket a value of ns nanoseconds falls in. Pure.
  static std::size_t bucket_of(std::chrono::nanoseconds ns) noexcept;
  /// Bucket b's values are below this (0 for bucket 0, 2^b ns, and
  /// nanoseconds::max() for the last bucket). Pure.
  static std::chrono::nanoseconds upper_bound(std::size_t b) noexcept;
  /// The upper bound of the bucket holding the value of rank q * count
  /// (q in [0, 1]; 0 when empty). Pure.
  std::chrono::nanoseconds quantile(double q) const noexcept;
  /// The upper bound of the highest non-empty bucket (0 when empty).
  std::chrono::nanoseconds max() const noexcept;
  /// sum / count (0 when empty).
  std::chrono::nanoseconds mean() const noexcept;
};

/// How many connections the pool's recent load needs, from Little's law: the
/// connections busy on average are the acquire rate times the mean hold
/// time. The suggestion adds headroom for bursts with the square-root
/// staffing rule of queueing theory (N = R + 3 sqrt(R), Halfin and Whitt),
/// which keeps the chance that an acquire must wait small when acquires
/// arrive at random. It is a starting point for pool_options::max_size, not
/// a limit: a database usually wants fewer connections than its clients
/// would ask for (HikariCP's "About Pool Sizing"), and waits that are short
/// compared with the hold time cost little.
/// Thread-safety: a value type.
struct pool_size_hint {
  /// Successful acquires per second over `rate_window`: from an earlier
  /// stats() call at least 1 s before this one (from the pool's start
  /// until there is one).
  double acquire_rate = 0;
  std::chrono::nanoseconds rate_window{0};
  /// The mean of hold_time over the same window (timed leases that ended
  /// in it), or over the pool's life when none did; 0 until a timed lease
  /// has ended.
  std::chrono::nanoseconds mean_hold{0};
  /// acquire_rate x mean_hold: connections leased on average.
  double busy = 0;
  /// ceil(busy + 3 sqrt(busy)), at least 1; 0 while there is no estimate
  /// (no sampled lease yet, or hold_time_sampling is off).
  std::size_t suggested_max_size = 0;
};

/// A snapshot of a pool's counters. Counters only grow; at quiescence
/// created - destroyed == counts.total.
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct pool_stats {
  pool_counts counts;
  std::uint64_t created = 0;             ///< connections opened
  std::uint64_t destroyed = 0;           ///< connections closed
  std::uint64_t acquired = 0;            ///< successful acquires (fast + waited) handed to a caller
  std::uint64_t acquired_after_wait = 0; ///< of which had to block
  std::uint64_t timeouts = 0;            ///< acquires that hit their deadline
  std::uint64_t creation_failures = 0;   ///< failed connection attempts
  std::uint64_t discarded = 0;           ///< leases ended by discard()
  /// Leases released during unwinding, where the pool looks for it: an
  /// adapter without needs_reset(), or on_unwind = discard (with
  /// needs_reset() and on_unwind = reset the adapter's check decides).
  std::uint64_t unwound = 0;
  std::uint64_t reaper_passes = 0;       ///< lifecycle passes run by the reaper
  std::uint64_t validation_failures = 0; ///< validations that failed (reaper or at acquire)
  std::uint64_t leaks_suspected = 0;     ///< leases reported as held past leak_threshold
  std::uint64_t acquire_validations = 0; ///< successful validations at acquire (stale connections)
  /// The circuit breaker on connection creation (pool_options::breaker_*)
  /// at the snapshot: its state, how many times it opened (reopenings after
  /// failed probes included), and the acquires it failed with
  /// errc::database_unavailable (at once, or queued when it opened).
  breaker_state breaker = breaker_state::closed;
  std::uint64_t breaker_opened = 0;
  std::uint64_t breaker_rejected = 0;
  wait_percentiles wait;
  /// How long successful acquires waited (fast-path acquires count as 0 ns,
  /// in bucket 0). `wait` is read from it.
  duration_histogram wait_time;
  /// How long leases were held, for one lease in
  /// pool_options::hold_time_sampling (empty when that is 0).
  duration_histogram hold_time;
  /// How long successful connection attempts took (adapter.connect()).
  duration_histogram creation_time;
  /// The pool size the recent load calls for; see pool_size_hint.
  pool_size_hint size_hint;
};

}  // namespace berth
