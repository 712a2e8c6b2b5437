// creator.hpp: when the pool opens a connection, and what it does after a
// failed attempt.
//
// Owns: the creations in flight, the consecutive failures, the time of the
// next attempt (capped exponential backoff with equal jitter, backoff.hpp)
// and the last creation error that timeout messages quote.
// Never touches: slots, the ring, waiters, the adapter. The pool's creator
// thread (pool_core.cpp, creator_loop) asks it what to do and reports back.
#pragma once

#include <berth/adapter.hpp>
#include <berth/clock.hpp>
#include <berth/options.hpp>

#include <cstddef>
#include <cstdint>
#include <random>

namespace berth::detail {

/// Thread-safety: none of its own; every member is called under the pool's
/// slow-path mutex (the _locked suffix says so).
class creator {
 public:
  creator(const pool_options& opts, std::uint_fast32_t seed) noexcept
      : opts_(opts), max_size_(opts.max_size), min_idle_(opts.min_idle), jitter_rng_(seed) {}

  /// A connection is wanted when the pool has room and either waiters
  /// outnumber the creations in flight (a waiter takes whichever connection
  /// frees up first, so returns do not multiply creations) or fewer than
  /// min_idle are open. open: slots not empty; queued: blocked acquirers.
  bool wanted_locked(std::size_t open, std::size_t queued) const noexcept {
    return open < max_size_ && (queued > in_flight_ || open < min_idle_);
  }
  /// The max_size and min_idle in force (pool::resize, adaptive min_idle;
  /// the constructor's options until then). min_idle <= max_size.
  void resize_locked(std::size_t max_size, std::size_t min_idle) noexcept {
    max_size_ = max_size;
    min_idle_ = min_idle;
  }
  std::size_t max_size_locked() const noexcept { return max_size_; }
  /// Earliest time of the next attempt; after a success, none (a past time).
  clock_source::time_point retry_at_locked() const noexcept { return retry_at_; }
  /// The last attempt's error, if it failed; empty after a success.
  const adapter_error& last_error_locked() const noexcept { return last_error_; }
  /// The most recent failed attempt's error, kept after a success: what
  /// opened the circuit breaker, for an acquire it refused whose error is
  /// filled after a probe succeeded (BreakerTest.AnAsyncRefusalDeliveredAfterTheProbeSucceededStillCarriesTheCauseBug).
  const adapter_error& last_failure_locked() const noexcept { return last_failure_; }

  /// An attempt starts.
  void began_locked() noexcept { ++in_flight_; }
  /// It succeeded: the backoff resets.
  void succeeded_locked() noexcept;
  /// It failed at `now`: the next attempt waits the backoff.
  void failed_locked(adapter_error error, clock_source::time_point now) noexcept;

 private:
  const pool_options& opts_;
  std::size_t max_size_;
  std::size_t min_idle_;
  std::size_t in_flight_ = 0;
  std::uint32_t consecutive_failures_ = 0;
  clock_source::time_point retry_at_{};
  adapter_error last_error_{};
  adapter_error last_failure_{};
  std::minstd_rand jitter_rng_;
};

}  // namespace berth::detail
