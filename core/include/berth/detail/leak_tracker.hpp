// leak_tracker.hpp: leases held past pool_options::leak_threshold.
//
// Owns: one record per slot describing the lease currently out on it (when
// it was handed out, where, the stack), whether it was reported, and the
// count of reports. Present only when leak_threshold > 0.
// Never touches: slot words, the ring, waiters. It does not know how a
// lease ends: the pool calls ended() at the top of release(), before the
// slot can change hands, whichever way the lease ends (return, hand-off to
// a waiter, discard, unwinding, eviction, expiry, a closed pool).
//
// Synchronization: each record has its own mutex, held only to copy a few
// fields (the lessee at began()/ended(), the reaper at check()); the stack is
// symbolized outside it, on the reaper thread, so neither a release nor an
// acquire ever waits for a report. Boost.Stacktrace stays in
// leak_tracker.cpp, out of every public header.
#pragma once

#include <berth/clock.hpp>
#include <berth/detail/event_sink.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <source_location>

namespace berth::detail {

/// Thread-safety: began()/ended() by the slot's owner, check() by the reaper,
/// suspected() from any thread; all concurrently.
class leak_tracker {
 public:
  leak_tracker(std::size_t slots, std::chrono::milliseconds threshold, const event_sink& events);
  ~leak_tracker();
  leak_tracker(const leak_tracker&) = delete;
  leak_tracker& operator=(const leak_tracker&) = delete;

  /// A lease on slot i was handed out at `now` from `site`: captures the
  /// stack (a few microseconds) and watches the lease. Never blocks on a
  /// report.
  void began(std::uint32_t i, clock_source::time_point now, std::source_location site) noexcept;

  /// The lease on slot i ends at `now`; if it was reported, emits
  /// leak_returned (once) on the calling thread. The next lease on slot i
  /// is watched afresh.
  void ended(std::uint32_t i, clock_source::time_point now) noexcept;

  /// Reaper: reports (leak_suspected, once per lease) every lease held at
  /// `now` for leak_threshold or longer. A slot leased but not yet handed out
  /// (validation at acquire, a waiter not yet running) has no active record,
  /// so an earlier lease is never judged in its place.
  void check(clock_source::time_point now) noexcept;

  /// Leases reported so far. Relaxed: a statistic.
  std::uint64_t suspected() const noexcept { return suspected_.load(std::memory_order_relaxed); }

  /// Loads the symbolizer's debug information on the calling thread
  /// (libbacktrace keeps it per thread, ~100 ms the first time), so that the
  /// first report on it is not late by that much.
  static void warm_up() noexcept;

  /// Calls of warm_up() that have returned, in this process (tests check
  /// that a pool's constructor waits for its reaper's). Acquire: pairs with
  /// warm_up()'s release increment, so the load is seen done.
  static std::uint64_t warm_ups() noexcept;

 private:
  struct record;
  void emit_returned(std::uint32_t i, std::chrono::nanoseconds held) const noexcept;
  std::unique_ptr<record[]> records_;
  const std::size_t size_;
  const std::chrono::milliseconds threshold_;
  const event_sink& events_;
  std::atomic<std::uint64_t> suspected_{0};
};

}  // namespace berth::detail
