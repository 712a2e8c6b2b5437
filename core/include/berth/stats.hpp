// stats.hpp: typed statistics snapshot of a pool.
#pragma once

#include <berth/breaker_state.hpp>

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

/// A snapshot of a pool's counters. Counters only grow; at quiescence
/// created - destroyed == counts.total.
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct pool_stats {
  pool_counts counts;
  std::uint64_t created = 0;             ///< connections opened
  std::uint64_t destroyed = 0;           ///< connections closed
  std::uint64_t acquired = 0;            ///< successful acquires (fast + waited)
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
};

}  // namespace berth
