// waiter_queue.hpp: the acquirers that wait for a connection, and the rules
// by which released connections reach them (hand-off and fairness).
//
// Owns: the FIFO of waiters, the gate word's writes (waiter count | closed |
// handoff | woken | suspended | forked; the word itself lives in the pool,
// on the cache line its fast path reads anyway), the mode (strict or
// throughput), and the settle step that keeps an idle connection from
// sitting beside a sleeping waiter.
// Never touches: slot words other than through idle_source (a popped slot
// arrives leased), connection objects, the clock (callers pass elapsed
// times), creation. How a waiter sleeps is the waiter's business: wake() is
// virtual, so a blocking acquirer notifies a condition variable and an
// asynchronous one can post a completion instead.
//
// Synchronization (the pool's tags; [G1] and [G3] are on the fast path in
// pool_core.hpp):
//   [G1] a new acquirer's relaxed gate load is a fairness heuristic: while
//        hand-off is strict (must_queue) it queues instead of barging. A
//        stale value only lets it barge once or sends it to the slow path,
//        which rechecks under the mutex.
//   [G2] a waiter registers with a seq_cst fetch_add on the gate and then
//        pops the ring (seq_cst loads, idle_ring.hpp [Q2]).
//   [G3] a releaser publishes (seq_cst CAS [W1], seq_cst ring push [Q1]) and
//        then loads the gate seq_cst. [G2]/[G3] are a Dekker pair: in the
//        single total order S of seq_cst operations either the waiter's pop
//        sees the published index, or the releaser's load sees the waiter
//        and acts (pool_core::after_publish). close() uses the same pair with
//        the closed bit, so no connection is left idle in a closed pool.
//   [G4] a hand-off moves a leased slot to a waiter under the mutex; the
//        waiter reads its slot index under the same mutex, which also
//        publishes the connection object.
//   [G5] woken bit: set by the one releaser that wakes the head waiter in
//        throughput mode (wake_head), so a burst of releases wakes one
//        thread, not one per release. The head clears it (seq_cst RMW) and
//        then pops; a releaser pushes and then loads the gate (seq_cst):
//        either it sees woken clear and wakes, or the head's pop sees its
//        push.
//   [G6] settle: whoever changes the queue or the mode under the mutex (a
//        waiter leaves, the head changes, hand-off turns strict) does so with
//        a seq_cst RMW on the gate and then pops the ring on the head's
//        behalf, handing what it finds to the head, until the ring or the
//        queue is empty. A releaser whose gate load preceded that RMW in S
//        pushed before it, so the settle's pop sees the push; one whose load
//        followed it sees the new mode and acts on it.
//   [G7] suspended bit (pool::suspend(), issue 11): set and cleared only
//        under the mutex, each with a seq_cst RMW, so a _locked member reads
//        it relaxed and it cannot change during its lock hold. While it is
//        set must_queue() is true (new acquirers queue: the fast path's [G1]
//        test, one mask wider), must_hand() is false (releasers publish),
//        and nothing pops the ring for a waiter: register, after_wake,
//        settle and hand all stand back (a waiter registering while
//        suspend() runs is ordered by the mutex: before, it may take what
//        is idle; after, it queues). resume_locked() first pours what is idle
//        onto the waiters in FIFO order while the bit still holds newcomers
//        and releasers back, then clears the bit (seq_cst RMW) and settles
//        again [G6]: a releaser whose [G3] load preceded the clear in S saw
//        the bit and did nothing, but its push preceded the clear too, so
//        the second settle's pop sees it; one whose load follows the clear
//        acts as usual (settle or wake the head). The relaxed [G1] load can
//        let an acquirer that loaded the gate before suspend() set the bit
//        take one idle connection after suspend() returned; an acquire that
//        happens after suspend() returned reads the bit (coherence) and
//        queues.
//   [G8] forked bit (berth/fork.hpp): set in a fork child by the child
//        handler of pthread_atfork (mark_forked), in the child's only thread
//        inside fork(), and never cleared. Relaxed: every later reader in the
//        child is that thread or one it creates afterwards. must_queue() and
//        must_hand() are true under it, so the fast paths' existing tests
//        send acquirers and releasers to the slow path, which fails them
//        (errc::forked) or leaks the slot without taking the mutex (the
//        parent's threads may have held it at the fork).
//
// Fairness. Read off the gate by must_queue() (acquirers) and must_hand()
// (releasers):
//   throughput  waiters, none owed: running threads may take idle
//               connections ahead of sleeping waiters, and a release wakes
//               the head waiter to compete ([G5]); with two or more waiters
//               the releaser then yields the CPU once if its connection is
//               still idle (pool_core::after_publish), so that on an
//               oversubscribed machine the woken waiter gets to run
//               (HikariCP's releasers yield while a borrower waits, for the
//               same reason).
//   owed        the head is starving (the handoff bit): it has waited
//               handoff_after, and the next release is handed to it
//               (must_hand). Acquirers still take what is idle. Making them
//               queue as well (Go's starvation mode), or treating a lone
//               waiter as always owed, handed every release to a sleeping
//               thread: a context switch per cycle, 0.05 M cycles/s for 2
//               threads on 1 connection and a p99.9 of 8 to 15 ms at 64 to
//               128 threads on 2 cores (issue 9). One hand-off per mark:
//               give_locked clears the bit, and the next head is owed one
//               only when that hand-off was taken (served_locked) and it has
//               itself waited handoff_after, so at most one connection at a
//               time waits for a sleeping thread to run. While two or more
//               wait, the mark passes over a fresh tenure (fresh(): the
//               releaser's slot was given to a waiter less than
//               handoff_after ago, slot_meta::handed_at): that release is
//               published and the head woken to compete, as in throughput
//               mode (pool_core::offer_contended), and a fresh releaser in
//               throughput mode skips the courtesy yield. Without it the thread just
//               served, the one running when served_locked owes the next
//               head, was the likeliest to release first and lost its
//               connection within a cycle or two: the queue passed one
//               connection along itself, a cycle per waiter per pass
//               (issue 9: a thread at 339 cycles in 2 s against a median
//               of 29,000; AWaiterJustServedIsNotTheNextOwedHandoffsVictimBug).
//               Every tenure is past fresh within handoff_after, so the
//               owed head waits at most that much longer for a release.
//   strict      handoff_after is 0: every release goes to the head waiter
//               (the releaser hands it, or publishes and settles) and new
//               acquirers queue behind the waiters.
// A waiter, whenever it runs, is in one of these states:
//   served      a hand-off gave it a slot [G4]: it takes it (served_locked,
//               which may mark the next head as owed, then settle [G6]).
//   closed      close() failed it.
//   rejected    the pool refused it (reject_all_locked: the circuit breaker
//               on creation opened while it waited for a new connection).
//   expired     its deadline passed: it leaves (leave_locked, then settle).
//   head        it pops the ring in either mode (after_wake_locked): the
//               connection is its due in strict mode and its to compete for
//               otherwise. If it finds nothing and has waited handoff_after
//               it sets the handoff bit (starving_locked, then settle [G6]).
//   behind      it pops the ring unless acquirers must queue (strict).
//   suspended   whatever its place, it takes nothing until resume() [G7];
//               its deadline and close() still end its wait.
// No lost wake-up: an idle connection and a sleeping waiter cannot coexist
// once every thread has finished its step, unless the pool is suspended
// (then they do by design, and resume() settles them [G7]). The idle index was pushed by a
// publisher; by [G3] either a waiter's pop (registration, head, settle) saw
// it, or the publisher's gate load saw the waiter: in strict mode the
// publisher settles under the mutex, in throughput mode it wakes the head,
// which pops when it runs ([G5]). A switch to strict mode (a waiter leaving
// so that one remains, or the handoff bit) is followed by a settle [G6], so
// a connection published in throughput mode is never stranded by the switch
// (issue 6, LostWakeupWhenPoolTurnsStrictBug in waiter_queue_test.cpp).
// Modelled in verify/spin/handoff.pml (register, enqueue, after_wake,
// starving, served, leave, hand, settle, give, unlink, wake_head): keep in step.
// The windows above are forced one by one, through the test hooks
// (test_hooks.hpp), in tests/core/fault_catalogue_test.cpp.
#pragma once

#include <berth/clock.hpp>
#include <berth/detail/slot.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace berth::detail {

/// Where settle and waking waiters find idle connections: the pool pops its
/// ring and leases the slot (pool_core). Called under the queue's mutex.
class idle_source {
 public:
  /// An idle slot, now leased to the caller, or no_slot. Never blocks.
  virtual std::uint32_t pop_idle_for_waiter() noexcept = 0;

 protected:
  ~idle_source() = default;
};

/// One queued acquirer. Lives wherever its owner keeps it (a blocking
/// acquirer: its own stack) and stays put while queued.
/// Thread-safety: every member is read and written under the queue's mutex.
class waiter {
 public:
  std::uint32_t slot = no_slot;  ///< set by a hand-off [G4]
  bool closed = false;           ///< set when the pool closes
  /// Set when the pool refuses it: no connection can come for it (the
  /// circuit breaker on creation opened; reject_all_locked).
  bool rejected = false;
  /// Linked in the queue: set by enqueue_locked, cleared whenever the queue
  /// unlinks it (hand-off, close, popping after a wake, leaving).
  bool queued = false;
  /// When it began to wait (its acquire's start), set before it is
  /// enqueued: whether it is starving once it becomes the head.
  clock_source::time_point since{};

  /// Makes the waiter run: a slot was handed to it, the pool closed, it is
  /// the head and should look at the ring, or time moved (fake clocks).
  /// Called under the mutex; must not block or take the mutex. Once it
  /// returns after a hand-off or close, the waiter may be gone.
  virtual void wake() noexcept = 0;

  virtual ~waiter() = default;

 private:
  friend class waiter_queue;
  waiter* prev_ = nullptr;
  waiter* next_ = nullptr;
};

/// The FIFO of waiters and its gate word.
/// Thread-safety: members ending in _locked need the mutex given at
/// construction (the pool's slow-path mutex); load_gate(), must_queue(),
/// mark_closed() and wake_head() are lock-free and safe from any thread.
class waiter_queue {
 public:
  static constexpr std::uint64_t gate_closed = std::uint64_t{1} << 63;
  static constexpr std::uint64_t gate_handoff = std::uint64_t{1} << 62;  // the starving head is owed a release
  static constexpr std::uint64_t gate_woken = std::uint64_t{1} << 61;    // [G5]
  static constexpr std::uint64_t gate_suspended = std::uint64_t{1} << 60;  // [G7] pool::suspend()
  static constexpr std::uint64_t gate_forked = std::uint64_t{1} << 59;     // [G8] a fork child's copy
  static constexpr std::uint64_t gate_waiters = gate_forked - 1;

  /// handoff_after: the fairness bound (0: always strict). `gate`: the gate
  /// word, owned by the caller (the pool's gate line, gate_line.hpp), 0
  /// and outliving the queue; the queue is its only writer.
  waiter_queue(std::mutex& mutex, std::atomic<std::uint64_t>& gate, idle_source& idle,
               std::chrono::nanoseconds handoff_after) noexcept;

  /// The gate word, with the caller's order (see [G1]-[G3] at the call site).
  std::uint64_t load_gate(std::memory_order order) const noexcept { return gate_.load(order); }

  /// True when a new acquirer must queue behind the waiters rather than
  /// take an idle connection (strict mode, see "Fairness"); also when the
  /// pool is closed, suspended [G7] or a fork child's copy [G8]. Pure.
  bool must_queue(std::uint64_t g) const noexcept {
    if (g & (gate_closed | gate_suspended | gate_forked)) return true;
    const std::uint64_t w = g & gate_waiters;
    return w != 0 && always_strict_;
  }
  /// True when a releaser must hand its connection to the head waiter
  /// (strict mode, or the head is owed one) rather than publish it; also
  /// when the pool is closed or a fork child's copy [G8] (the slow path
  /// then leaks the slot). False while suspended and open [G7]. Pure.
  bool must_hand(std::uint64_t g) const noexcept {
    if (g & (gate_closed | gate_forked)) return true;
    if (g & gate_suspended) return false;
    const std::uint64_t w = g & gate_waiters;
    return w != 0 && ((g & gate_handoff) || always_strict_);
  }

  /// Sets the closed bit ([G2]: seq_cst, before close() scans for idle
  /// slots). Lock-free.
  void mark_closed() noexcept { gate_.fetch_or(gate_closed, std::memory_order_seq_cst); }
  /// [G8] Sets the forked bit. Fork child handler only (relaxed: the
  /// child's only thread, inside fork()). Lock-free; never blocks.
  void mark_forked() noexcept { gate_.fetch_or(gate_forked, std::memory_order_relaxed); }

  /// Registers a waiter [G2] and pops the ring for it: the popped slot (the
  /// registration is withdrawn, then settle), or no_slot (still registered:
  /// enqueue_locked() must follow under the same lock hold). No pop while
  /// suspended [G7].
  std::uint32_t register_locked() noexcept;
  /// Withdraws a registration that register_locked() made, for an acquirer
  /// that will not wait after all (the pool refuses it), then settles [G6].
  void withdraw_locked() noexcept;
  /// Links a registered waiter at the back, or at the front when a
  /// connection handed to it failed its check (it keeps its place), then
  /// settles [G6]: w.slot may be set on return.
  void enqueue_locked(waiter& w, bool front) noexcept;
  /// The waiter woke without a hand-off: the head pops the ring in either
  /// mode, others only in throughput mode, nobody while suspended [G7]; a
  /// popped slot is returned (w has left the queue), else no_slot and
  /// starving_locked() follows.
  std::uint32_t after_wake_locked(waiter& w) noexcept;
  /// The head, having waited `waited`, found nothing: past handoff_after,
  /// and unless a hand-off is still on its way to a waiter, it is owed the
  /// next release (the handoff bit, then settle [G6]).
  void starving_locked(std::chrono::nanoseconds waited) noexcept;
  /// A waiter took the slot handed to it, at `now`: if the new head has
  /// waited handoff_after since its `since`, it is owed the next release
  /// (then settle [G6]).
  void served_locked(clock_source::time_point now) noexcept;
  /// w gives up (deadline): leaves the queue, then settle.
  void leave_locked(waiter& w) noexcept;
  /// Hands slot i (leased by the caller) to the head waiter, then settles.
  /// False when nobody waits or the pool is suspended [G7].
  bool hand_locked(std::uint32_t i) noexcept;
  /// [G6]: pops the ring for the head until the ring or the queue is empty.
  /// Nothing while suspended [G7].
  void settle_locked() noexcept;
  /// Fails every waiter (closed) and empties the queue.
  void fail_all_locked() noexcept;
  /// Refuses every waiter (rejected) and empties the queue; the pool stays
  /// open and later acquirers may queue again.
  void reject_all_locked() noexcept;
  /// Wakes every waiter to re-check its deadline (a fake clock moved).
  void wake_all_locked() noexcept;
  /// [G7] Sets the suspended bit: from now on nothing is handed to a waiter
  /// and new acquirers queue. Idempotent.
  void suspend_locked() noexcept;
  /// [G7] Hands what is idle to the waiters in FIFO order, clears the
  /// suspended bit, then settles [G6]. Idempotent.
  void resume_locked() noexcept;
  /// Whether the suspended bit is set. Relaxed: the bit changes only under
  /// the mutex, which the caller holds.
  bool suspended_locked() const noexcept {
    return (gate_.load(std::memory_order_relaxed) & gate_suspended) != 0;
  }
  /// True while a tenure that began at `handed_at` (a waiter got the slot
  /// then) is younger than handoff_after: its releases are neither handed to
  /// an owed head nor followed by the courtesy yield ("Fairness"). Never in
  /// strict mode. Pure; any thread.
  bool fresh(clock_source::time_point handed_at, clock_source::time_point now) const noexcept {
    return !always_strict_ && handed_at != clock_source::time_point::min() && now - handed_at < handoff_after_;
  }
  bool empty_locked() const noexcept { return head_ == nullptr; }
  std::size_t queued_locked() const noexcept { return queued_; }

  /// [G5] throughput mode: the one releaser that sets the woken bit wakes
  /// the head (taking the mutex briefly). Thread-safe.
  void wake_head() noexcept;

 private:
  void unlink_locked(waiter& w) noexcept;
  void give_locked(waiter& w, std::uint32_t i) noexcept;
  /// settle_locked()'s loop, whatever the suspended bit says (resume).
  void pour_locked() noexcept;
  /// The head, having waited `waited`, is owed the next release if that is
  /// past handoff_after and no hand-off is in flight (then settle [G6]).
  void owe_head_locked(std::chrono::nanoseconds waited) noexcept;

  // ---- immutable after construction ----
  std::mutex& mutex_;
  /// waiters (low 59 bits) | forked | suspended | woken | handoff | closed. Read on every
  /// acquire/release, written only on the slow path. The owner's word (see
  /// the constructor): this reference is not on the fast path.
  std::atomic<std::uint64_t>& gate_;
  idle_source& idle_;
  /// handoff_after is 0: every release is handed over and newcomers queue
  /// while anyone waits (strict FIFO).
  const bool always_strict_;
  const std::chrono::nanoseconds handoff_after_;

  // ---- guarded by mutex_ ----
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
  std::size_t queued_ = 0;
  /// Hand-offs made and not yet taken by their waiter (served_locked).
  std::size_t in_flight_ = 0;
};

}  // namespace berth::detail
