// release_mark.hpp: the mark a releasing thread leaves while it may still
// touch a pool after publishing a slot, so that the pool's destruction waits
// for it.
//
// The problem. A release publishes its slot (the CAS that makes it idle) and
// then loads the pool's gate [G3], and may go on into after_publish(), the
// ring push or the yield loop. From the publication on, close()/drain() may
// retire the slot and see no lease outstanding, and the thread that called
// them may destroy the pool (~registry does exactly that). A releaser
// preempted between its publication and its last access would then read
// freed memory. retire() already ends with its last touch under the mutex
// that drain() takes (ADrainWaitsForTheThreadRetiringTheLastSlotBug); this
// closes the same window on the publishing paths
// (DestructionRaceTest in tests/core/fault_catalogue_test.cpp).
//
// The mark. Each thread that releases has one release_record in its static
// thread-local storage: `pool` is the pool whose slot it is publishing, or
// null. The releaser stores the pool before its publishing CAS and clears it
// after its last access to that pool; pool_core::shutdown(), after it has
// found every lease returned, waits until no listed thread's mark names the
// pool. The records are listed (linked under a process-wide mutex) on a
// thread's first release and unlinked at its exit (a pthread key's
// destructor), so a marked release's cost is a test of `listed` and two
// plain stores on a thread-local line: no read-modify-write, no shared line
// (on the inline release that still cost about 1 point of a pooled SQLite
// SELECT 1, hence gate_line.hpp there). The
// alternatives weighed: a per-pool count of releasers in the window (two
// locked instructions on a line every releaser shares), and signalling
// waiters and close through the slot word so that nothing follows a release's
// CAS (a new hand-off protocol: every [G3]-[G7] role of the post-publication
// gate load moved into the slot words).
//
// The inline release (pool_core::release, the steady state of every
// query) carries no mark since the gate line (gate_line.hpp): after its CAS
// it reads only that line, which outlives the pool, and enters the pool
// through a pin the destruction waits for. The marks remain on the general
// paths, out of line: publish() arms one around its CAS and what follows,
// whichever path reaches it (release_general(), a spared hand-off, the
// reaper's and the asynchronous paths). A hand-off to a waiter needs none:
// the slot stays leased (now the waiter's) and the lease check waits for it.
//
// User code in a marked window:
//   - retire() (the adapter's close, the event hook). It needs no mark: its
//     last touch is under mutex_, where it counts open_ down, and
//     shutdown() waits for open_ to reach 0 under mutex_
//     (wait_for_retirements), whether or not a drain() completed. Nothing
//     of the outer release but retire()'s return follows it.
//   - an executor's post() (waking an asynchronous waiter, under mutex_).
//     A release nested there is harmless to the outer window: an inline one
//     does not touch the mark, and pool_core::publish() arms its own mark
//     right before its CAS and restores the caller's afterwards.
//
// Synchronization:
//   [M1] arm: store(pool, release), sequenced before the publishing CAS
//        (seq_cst). A destroyer that saw the slot returned synchronized with
//        that CAS through the slot word's chain [W1] (close_idle's reserve,
//        retire's open_ count under the mutex, drain's acquire load), so its
//        [M3] load reads the mark or a later value.
//   [M2] clear: store(nullptr, release) after the releaser's last access to
//        the pool. Later marks of the same thread are release stores too, so
//        reading any of them orders that last access before the destroyer's.
//   [M3] the destroyer's acquire load of each listed mark; pairs with [M1]
//        and [M2].
//   The list itself (next/prev/listed) is guarded by the records' mutex;
//   `listed` is also read, unguarded, by its own thread only.
#pragma once

#include <berth/detail/hot_path.hpp>

#include <atomic>
#include <cstddef>

namespace berth::detail {

/// One thread's release mark and its link in the process-wide list.
/// Thread-safety: `pool` is written by its thread only and read by
/// destroyers ([M1]-[M3]); the links are guarded by the list's mutex.
struct release_record {
  std::atomic<const void*> pool{nullptr};
  bool listed = false;  // own thread only (and the fork child handler): tried to link
  bool linked = false;  // guarded by the list's mutex: in the list
  release_record* prev = nullptr;
  release_record* next = nullptr;
};

/// This thread's record: constant-initialized, so an access is a plain
/// thread-local load, with no initialization guard.
inline thread_local release_record tls_release{};

/// Lists this thread's record (its first release; after the key's
/// destructor ran at its exit the record stays unlinked). Takes the list's
/// mutex. Never allocates after the process's first call (pthread_key_create).
BERTH_COLD void list_releaser() noexcept;

/// Marks this thread as possibly touching `pool` from now until
/// disarm_release() [M1]. Call before the publishing CAS. This thread only.
/// Never blocks except on its first call (list_releaser). Never allocates.
BERTH_HOT void arm_release(const void* pool) noexcept {
  if (!tls_release.listed) [[unlikely]]
    list_releaser();
  tls_release.pool.store(pool, std::memory_order_release);  // [M1]
}

/// Ends the mark [M2] (or puts back `previous`, a mark this thread had).
/// This thread only. Never blocks.
BERTH_HOT void disarm_release(const void* previous = nullptr) noexcept {
  tls_release.pool.store(previous, std::memory_order_release);  // [M2]
}

/// The mark this thread holds now (null when none). This thread only.
BERTH_HOT const void* current_release_mark() noexcept {
  return tls_release.pool.load(std::memory_order_relaxed);  // own write
}

/// True if a listed thread other than the caller holds a mark naming `pool`
/// [M3]. Takes the list's mutex. Thread-safe. Never allocates.
bool releasing(const void* pool) noexcept;

/// The number of listed threads (tests). Thread-safe.
std::size_t listed_releasers() noexcept;

}  // namespace berth::detail
