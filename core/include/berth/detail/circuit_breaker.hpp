// circuit_breaker.hpp: a circuit breaker on connection attempts, a pure
// state machine (the fail-fast part of issue 11).
//
// Owns: the state (closed / open / half_open), the times of the recent
// failures, the recovery interval and its jitter generator, and how many
// times it opened.
// Never touches: a pool, a clock, a thread, waiters, the adapter. Callers
// pass the time in and act on what it answers (the pool's creator thread:
// pool_core.cpp; later a replica router, per replica). It knows nothing of
// connections or acquirers: "attempt" is whatever the caller guards.
//
// Transitions (now: the caller's time; T: threshold; W: window):
//
//   state      event                                  next       effect
//   ---------  -------------------------------------  ---------  -----------------------------------
//   closed     admit                                  closed     attempt
//   closed     success                                closed     recent failures forgotten
//   closed     failure, < T within W since success    closed     failure recorded
//   closed     failure, the T-th within W             open       until now + recovery (exactly)
//   open       admit before probe_at()                open       refuse
//   open       admit at/after probe_at()              half_open  probe (the one attempt let through)
//   open       success (an attempt admitted earlier)  closed     interval reset
//   open       failure (an attempt admitted earlier)  open       ignored: the window is not extended
//   half_open  admit                                  half_open  refuse: the probe is in flight
//   half_open  success                                closed     interval reset
//   half_open  failure                                open       until now + the next interval
//
// Intervals. The first open lasts exactly `recovery`. After k failed probes
// (k >= 1) it lasts d_k = min(recovery * 2^k, recovery_max) with equal
// jitter, uniformly in [d_k / 2, d_k] (backoff.hpp, the same arithmetic as
// the creation backoff), but never less than `recovery`: every interval is
// in [recovery, max(recovery, recovery_max)]. The jitter spreads the probes
// of many pools that saw the same outage; the first interval has none so
// that "serves again within breaker_recovery of the database's return" holds
// exactly for a short outage.
//
// Threshold 0 turns the breaker off: it stays closed and admits everything.
// Any configuration is defined (validation lives in pool_options): a window
// or recovery <= 0 counts as 0, recovery_max below recovery as recovery;
// time arithmetic saturates (duration.hpp), so no value overflows.
//
// Synchronization: none. Not thread-safe; the owner serializes every call
// (the pool: under its slow-path mutex, which its creator thread and its
// slow-path acquirers hold when they consult the breaker). No atomics.
#pragma once

#include <berth/breaker_state.hpp>
#include <berth/clock.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace berth::detail {

/// The breaker's parameters, in the caller's terms (the pool maps
/// pool_options::breaker_* onto it).
struct breaker_config {
  std::uint32_t threshold = 0;            ///< failures within window that open it; 0: off
  std::chrono::nanoseconds window{0};     ///< see threshold
  std::chrono::nanoseconds recovery{0};   ///< the first open interval
  std::chrono::nanoseconds recovery_max{0};  ///< cap of the doubled intervals
};

/// See the file comment. Distinct objects: safe. Shared objects: unsafe
/// (the owner serializes calls).
class circuit_breaker {
 public:
  using time_point = clock_source::time_point;

  /// What admit()/peek() answer for an attempt at `now`.
  enum class admission : std::uint8_t {
    attempt,  ///< closed: go ahead
    probe,    ///< the recovery interval passed: this attempt is the probe
    refuse,   ///< open before probe_at(), or a probe is in flight
  };

  /// seed: the jitter generator's seed (the caller's choice: a random one in
  /// production, a fixed one in tests). Allocates the failure window
  /// (threshold time points). Throws std::bad_alloc.
  circuit_breaker(const breaker_config& config, std::uint_fast32_t seed);

  breaker_state state() const noexcept { return state_; }
  /// False when threshold is 0 (always closed). Never blocks.
  bool enabled() const noexcept { return config_.threshold != 0; }
  /// Open or half_open: work that needs a new attempt is refused.
  bool rejecting() const noexcept { return state_ != breaker_state::closed; }

  /// What admit(now) would answer, changing nothing. Never blocks.
  admission peek(time_point now) const noexcept;
  /// As peek(now); a probe turns the breaker half_open, so that every later
  /// admit is refused until the probe's outcome is reported. Never blocks.
  admission admit(time_point now) noexcept;
  /// An attempt succeeded: closed, failures forgotten, interval reset.
  /// True if the state changed (it was open or half_open). Never blocks.
  bool succeeded() noexcept;
  /// An attempt failed at `now`. True if the breaker opened (from closed
  /// at the threshold, or from half_open after a failed probe). Never
  /// blocks; draws one jitter value only when a failed probe reopens it.
  bool failed(time_point now) noexcept;

  /// When an open breaker admits its probe (the open state's end); only
  /// meaningful while open. Never blocks.
  time_point probe_at() const noexcept { return probe_at_; }
  /// The length of the current (or last) open interval; 0 before the first
  /// open. Never blocks.
  std::chrono::nanoseconds open_interval() const noexcept { return interval_; }
  /// Entries into the open state, reopenings after failed probes included.
  std::uint64_t times_opened() const noexcept { return times_opened_; }
  /// Failed probes since the breaker last opened from closed.
  std::uint32_t failed_probes() const noexcept { return failed_probes_; }
  /// Failures recorded since the last success while closed (at most
  /// threshold are remembered).
  std::uint32_t recent_failures() const noexcept { return recorded_; }

 private:
  void open_for(time_point now, std::chrono::nanoseconds interval) noexcept;
  std::chrono::nanoseconds next_interval() noexcept;

  // ---- immutable after construction ----
  const breaker_config config_;
  // ---- the owner's (see Synchronization) ----
  breaker_state state_ = breaker_state::closed;
  /// The times of the last `recorded_` failures while closed, a ring of
  /// `threshold` entries; `next_` is where the next one goes (when full,
  /// also the oldest).
  std::vector<time_point> failures_;
  std::uint32_t next_ = 0;
  std::uint32_t recorded_ = 0;
  time_point probe_at_{};
  std::chrono::nanoseconds interval_{0};
  std::uint32_t failed_probes_ = 0;
  std::uint64_t times_opened_ = 0;
  std::minstd_rand jitter_rng_;
};

}  // namespace berth::detail
