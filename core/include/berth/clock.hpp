// clock.hpp: the time source every pool timing decision uses.
//
// Production uses steady_clock; tests inject a fake clock that advances only
// when told, so timeouts and backoff are tested without sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace berth {

/// Told by a clock_source when its time jumps (fake clocks only), so that a
/// pool can wake waiters whose deadline may have passed.
class clock_listener {
 public:
  /// Called by clock_source::advance-like operations, without clock locks
  /// that the listener could need. Must not block for long.
  virtual void on_clock_advanced() noexcept = 0;

 protected:
  ~clock_listener() = default;
};

/// A monotonic clock with a matching timed wait.
/// Thread-safety: all members are thread-safe.
class clock_source {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~clock_source() = default;

  /// Current time. Thread-safe. Never blocks.
  virtual time_point now() const noexcept = 0;

  /// Blocks on cv (lock held by the caller, released while blocked) until
  /// notified, spuriously woken, or this clock reaches deadline
  /// (time_point::max(): no deadline, wait for a notification). Callers loop
  /// on their own predicate and on now() >= deadline. Thread-safe.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          time_point deadline) const = 0;

  /// Registers a listener for time jumps. The steady clock never jumps and
  /// ignores listeners. Thread-safe.
  virtual void subscribe(clock_listener&) {}
  /// Unregisters; after return the listener is not called. Thread-safe.
  virtual void unsubscribe(clock_listener&) {}

  /// The process-wide steady_clock source. Thread-safe.
  static clock_source& steady() noexcept;
};

}  // namespace berth
