// test_hooks.hpp: named points in the hand-off protocol where a test build can
// stop a thread, so that an interleaving that real scheduling produces once in
// a million runs happens in every run (issue 13, "interleavings forced on
// purpose"; tests/core/fault_catalogue_test.cpp).
//
// BERTH_TEST_HOOK(point, subject) expands to nothing (no code, no data) unless the
// build defines BERTH_TEST_HOOKS. Only the test-only library
// berth_core_test_hooks (tests/CMakeLists.txt) defines it, PUBLIC, so that
// every translation unit of a binary linked with it agrees (the fast path in
// pool_core.hpp is inline: a binary mixing hooked and unhooked units would
// break the one-definition rule). berth::core, the release, bench and package
// builds and a user's build never define it.
//
// With hooks compiled in, each point is one relaxed load of a function
// pointer and a branch. The hook runs on the thread that reached the point,
// with whatever that thread holds (the "mutex held" points below hold the
// pool's slow-path mutex: a hook must not take it, and a hook that stops the
// thread there stops every thread that needs it, which is the point).
//
// Synchronization: test_hook is loaded relaxed: it points at code, and the
// hook's own state is the test's to synchronize (a mutex). Install it before
// creating the pool (thread creation orders the store before every load on
// the pool's threads and on threads started later); remove it after the pool
// is destroyed.
//
// The points (keep in step with the tags of waiter_queue.hpp):
//   acquire_slow         pool_core::wait_for_slot: an acquirer whose fast path
//                        missed, before it locks the slow-path mutex to
//                        register [G2] (mutex not held).
//   waiter_registered    waiter_queue::register_locked: after the gate's
//                        fetch_add [G2], before the pop (mutex held).
//   waiter_enqueued      waiter_queue::enqueue_locked: linked in the queue,
//                        before the settle (mutex held). Subject: the waiter.
//   waiter_given         a slot goes to a queued waiter: handed to it
//                        (waiter_queue::give_locked [G4], on the hander's
//                        thread) or popped by it after a wake
//                        (after_wake_locked) (mutex held). Subject: the waiter.
//   waiter_woke          pool_core::wait_for_slot: a queued waiter returned from
//                        its wait (woken, or time moved), before it looks at
//                        its state (mutex held).
//   woken_found_nothing  pool_core::wait_for_slot: a woken waiter's
//                        after_wake_locked popped nothing, before
//                        starving_locked (mutex held): the window of the lost
//                        wake-ups fixed by [G5] and [G6].
//   release_checked      the inline pool_core::release: its gate loaded 0 and
//                        its generation read, before its publishing CAS
//                        (mutex not held).
//   release_published    pool_core::publish and the inline pool_core::release:
//                        the slot is published, before the releaser's [G3]
//                        gate load (mutex not held).
//   release_pinned       pool_core::after_publish_pinned: an inline releaser
//                        that saw a non-zero gate after its publication has
//                        pinned the gate line (gate_line.hpp), before it
//                        enters the pool (mutex not held).
//   slot_retired         pool_core::retire: the slot is empty and counted out
//                        of open_, before the retiring thread lets go of the
//                        pool (mutex held).
//   idle_closed          pool_core::shutdown: the pool is closed and what was
//                        idle retired, before the lease check (mutex not
//                        held): a release published from here on is closed
//                        by shutdown()'s second close_idle().
//   retirement_awaited   pool_core::wait_for_retirements: the destruction found
//                        a connection still being closed by its releaser,
//                        before it waits for it (mutex held).
//   releaser_awaited     pool_core::wait_for_releasers: the destruction found
//                        a thread still marked as releasing into this pool
//                        (release_mark.hpp) or a pin on its gate line
//                        (gate_line.hpp), before it waits (mutex not held).
#pragma once

#if defined(BERTH_TEST_HOOKS)

#include <atomic>
#include <cstdint>

namespace berth::detail {

enum class hook_point : std::uint8_t {
  acquire_slow,
  waiter_registered,
  waiter_enqueued,
  waiter_given,
  waiter_woke,
  woken_found_nothing,
  release_checked,
  release_published,
  release_pinned,
  slot_retired,
  idle_closed,
  retirement_awaited,
  releaser_awaited,
};

/// A test's hook: the point and its subject (the waiter for the waiter_*
/// points, else null; only its address is meaningful). Called on the thread
/// at the point; must not take the pool's mutex.
using test_hook_fn = void (*)(hook_point, const void* subject) noexcept;

/// The installed hook, or null. Written by tests only (see the header).
inline std::atomic<test_hook_fn> test_hook{nullptr};

/// Calls the installed hook, if any. Thread-safe. Never blocks by itself.
inline void run_test_hook(hook_point p, const void* subject) noexcept {
  // Relaxed: pairs with nothing; the hook points at code (see the header).
  if (const test_hook_fn f = test_hook.load(std::memory_order_relaxed)) f(p, subject);
}

}  // namespace berth::detail

#define BERTH_TEST_HOOK(point, subject) \
  ::berth::detail::run_test_hook(::berth::detail::hook_point::point, subject)

#else

#define BERTH_TEST_HOOK(point, subject) static_cast<void>(0)

#endif
