// async_request.hpp: one asynchronous acquire waiting in a pool.
//
// Owns: the request's phase and flags, and its place in the pool's deadline
// heap. Never touches: slots (the pool claims, attends and hands them), the
// user's executor and handler (pool<A>'s typed request implements post,
// complete and abandon).
//
// Life of a request (every field below is guarded by the pool's slow-path
// mutex):
//   waiting    queued as a waiter (or about to be), or with a slot handed to
//              it ([G4]) and a run posted. wake() posts one run to the
//              user's executor (`scheduled` keeps it to one).
//   attending  a run owns a slot and is checking it outside the mutex
//              (validation at acquire); a failed check sends it back to
//              waiting at the head of the queue.
//   done       final: set exactly once, by the run (or the pool's async
//              thread) that decides the outcome, under the mutex. The
//              handler is then called exactly once, outside the mutex, on
//              the executor; or, if the executor dropped the run without
//              running it, never (abandon()), after any slot went back.
// Cancellation sets `cancelled` and wakes a waiting request; the run that
// follows completes it with errc::cancelled and returns any slot it holds.
// Cancellation wins over close and the deadline: a cancel() that returned
// true promised errc::cancelled (AsyncTest.CancelAcknowledgedBeforeCloseBug).
// A request keeps itself alive through `self` until it is done. It counts
// as outstanding (pool_core::async_outstanding_, which the pool's destructor
// waits to reach 0) from its start until its run has returned any slot and
// its handler has returned and been destroyed, or been dropped: only then
// does the run stop touching the pool (AsyncTest.DestructionRacesDeliveryBug).
#pragma once

#include <berth/acquire_error.hpp>
#include <berth/clock.hpp>
#include <berth/detail/slot.hpp>
#include <berth/detail/waiter_queue.hpp>
#include <berth/unique_task.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <source_location>

namespace berth::detail {

class pool_core;

/// Base of pool<A>'s typed requests. Thread-safety: see the file comment.
class async_request : public waiter {
 public:
  enum class phase : std::uint8_t { waiting, attending, done };

  // ---- immutable after the request starts ----
  pool_core* owner = nullptr;
  clock_source::time_point deadline{};  ///< time_point::max(): none
  std::source_location site{};

  // ---- guarded by the pool's mutex ----
  phase state = phase::waiting;
  bool scheduled = false;  ///< a run is posted and has not started
  bool cancelled = false;
  bool waited = false;     ///< it has been queued (counts in the wait histogram)
  std::size_t heap_index = no_heap;        ///< place in the deadline heap
  async_request* fallback_next = nullptr;  ///< post() threw: run by the pool's async thread
  /// post() destroyed the run without running it and without throwing (an
  /// executor refusing work): the async thread treats it as dropped.
  bool dropped_in_post = false;
  std::shared_ptr<async_request> self;     ///< keeps it alive until done

  /// True once done (set by finish_locked, before the handler runs or is
  /// dropped): async_handle::cancel() reads it without the pool, which may
  /// be destroyed once the handler has run. Release store, acquire load:
  /// a cancel() that follows the handler (and so the pool's destruction)
  /// sees it and never touches the pool.
  std::atomic<bool> finished{false};

  static constexpr std::size_t no_heap = ~std::size_t{0};

  /// The queue's wake-up (under the mutex): posts a run unless one is
  /// pending or the request is done. Never blocks.
  void wake() noexcept override;

  /// Posts `run` to the user's executor. Called under the pool's mutex; may
  /// throw (the pool then runs it on its async thread).
  virtual void post(unique_task run) = 0;
  /// Calls the handler with a lease on slot i, or with `err` when i is
  /// no_slot, and destroys it. Runs on the executor, outside the mutex,
  /// exactly once; may throw whatever the handler throws (the executor sees
  /// it).
  virtual void complete(std::uint32_t i, acquire_error&& err) = 0;
  /// The executor destroyed the run unrun: destroy the handler uncalled.
  virtual void abandon() noexcept = 0;
};

/// The outcome a run decided; the run task delivers it outside the mutex.
struct async_outcome {
  bool deliver = false;  ///< false: nothing to deliver now (still waiting, or already done)
  std::uint32_t slot = no_slot;
  acquire_error error;
};

}  // namespace berth::detail
