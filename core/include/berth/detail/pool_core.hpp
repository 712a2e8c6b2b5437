// pool_core.hpp: the type-independent pool, the orchestrator that wires the
// parts; pool<Adapter> (pool.hpp) adds the connection storage and the
// adapter calls. The parts, each with its own header and contract:
//
//   slot.hpp          the slots: state word (slot_state.hpp), metadata,
//                     per-thread hint
//   idle_ring.hpp     the lock-free ring of idle slot indices
//   waiter_queue.hpp  blocked acquirers, the gate word, hand-off, fairness,
//                     and the no-lost-wake-up argument
//   creator.hpp       when to open a connection, backoff, last error
//   circuit_breaker.hpp  fail fast while creation keeps failing (a pure
//                     state machine the creator thread drives)
//   reaper.hpp        the lifecycle pass (policy: reaper_policy.hpp)
//   leak_tracker.hpp  leases held past leak_threshold
//   counters.hpp      the counters and wait histogram that stats() reads
//   event_sink.hpp    delivery of events to the user's hook
//
// pool_core owns the fast path (below, in this file), the slow path that
// joins the parts (claim_slow), the lifecycle of connections (retire,
// attend), and the pool's two threads: the creator thread and the reaper
// thread, apart so that a hanging connect never delays a reaper pass and a
// long pass never delays creation (HikariCP keeps its housekeeper and adder
// apart too). See core/README.md for who calls whom.
//
// Fast path (acquire = try_claim, release = release):
//   acquire: load gate; CAS the slot this thread claimed last (its hint) from
//            idle to leased; else pop indices from the idle ring until one
//            CASes idle -> leased, and remember it as the hint. No mutex, no
//            allocation, no system call.
//   release: load gate (and its generation, gate_line.hpp); CAS the slot
//            leased -> idle setting in_ring; push the index only if in_ring
//            was clear; load gate again. From the CAS on drain() sees the
//            lease returned and the pool may be destroyed: the second load
//            reads the gate line, which outlives the pool, and a non-zero
//            gate enters the pool only through a pin that shutdown() waits
//            for; the general paths mark the thread instead
//            (release_mark.hpp). No hint write:
//            the release used to store it, and dropping that store (with one
//            metadata lookup fewer in note_lease) took the single-thread cycle
//            from 16.8 to 12.2 ns on the issue 9 host (BENCHMARKS.md).
// In the steady state of a thread that reuses its connection, acquire and
// release are one CAS each on a line that thread already owns (HikariCP's
// thread-local list idea, made a single hint per pool and thread). The hint
// carries its slot's metadata and connection addresses and the lease keeps
// the metadata's, so neither side computes them from the index (70.4 ->
// 59.5 instructions added to a pooled SQLite SELECT 1, bench/icount.sh; the
// release mark then added 4: 63.5; the gate line in its place, 62.5;
// four cuts of the session of 2026-11-29, 57.5).
// Only that steady state is inline in the caller (claim_steady, and the
// first part of release): each CAS expects the exact steady word (idle or
// leased, with in_ring, no flag), so any flag, a popped index, a waiter, a
// timed or leak-recorded lease, or a pool that validates every acquire
// fails one cheap test and continues out of line (claim_general,
// release_general) with what the inline part found. On a prepared SQLite
// SELECT 1 the time berth adds follows the instructions it adds, not its
// two locked instructions (bench/sqlite_interleave.cpp: two bare CASes
// cost nothing measurable beside the query); 91 -> 60 per null cycle.
//
// The circuit breaker is consulted only under mutex_: by the slow path
// (claim_slow's wait_for_slot, async_start/async_run), when an acquirer
// finds nothing idle, and by the creator thread, which admits attempts and
// reports their outcome. The fast path never looks at it.
//
// Synchronization: the tags [G1]-[G7] are defined in waiter_queue.hpp, [W1]
// [W2] in slot_state.hpp, [Q1]-[Q3] in idle_ring.hpp. On this path:
//   [G1] acquire's relaxed gate load (fairness heuristic; closed,
//        suspended [G7] and forked [G8] are folded into the same
//        must_queue() test).
//   [G3] release publishes, then loads the gate seq_cst; a non-zero gate
//        sends it to after_publish() (close, strict hand-off, or waking the
//        head); on the inline release through a pin of the gate line
//        (after_publish_pinned, gate_line.hpp), which loads the gate again:
//        a later load after the same publication, as valid as the first.
//   Linearization points: acquire at the successful try_lease/lease_from_ring
//   CAS or at the hand-off under mutex_; release at publish_idle's CAS or the
//   hand-off.
//   Modelled in verify/spin/handoff.pml (try_claim, release, publish,
//   after_publish, offer_contended, hand_to_waiter_locked, wait_for_slot,
//   create_one): keep in step.
//
// Living with change (issue 11), kept off the fast path:
//   resize()   the slot array and ring are sized once, for max_size_limit;
//              the max_size and min_idle in force live in sizing_ (and in
//              the creator, under mutex_). Growing takes effect at once (the
//              creator opens what waiters and min_idle want). Shrinking asks
//              the creator thread for a trim (trim_excess): idle connections
//              above the new max_size are closed there, and as many owned
//              ones as are still above it are flagged resized, retired by
//              their owner at release like an expired one (the release path
//              already reads retire_mask in the word its CAS returns).
//   suspend()  the suspended gate bit [G7]: acquirers queue (the fast path's
//              must_queue() test, one mask wider), releasers publish, the
//              creator opens nothing; resume() pours idle connections onto
//              the waiters in FIFO order, clears the bit, settles, and wakes
//              the creator.
//   Adaptive min_idle: the reaper's pass samples demand and calls
//              adapt_min_idle() (reaper.hpp, demand_window.hpp).
//
// fork() (berth/fork.hpp): every pool listens for forks (fork_listener); in
// a fork child the handler sets the gate's forked bit [G8], so try_claim's
// must_queue() test, which the fast path makes anyway, sends acquirers to
// claim_slow, which fails them with errc::forked before taking mutex_ (the
// parent's threads may have held it at the fork and do not exist here); a
// release's must_hand() test sends it to offer_contended, which leaks the
// slot. Every cold entry point that would take mutex_ or call the adapter
// returns at once in the child, and destruction there leaks the threads'
// handles, the mutex and condition variables (abandon(); glibc's
// pthread_cond_destroy would wait forever for the parent's waiters) and,
// in pool<A>, the connections. A per-pool getpid() check was the
// alternative: a system call, so not on the fast path, which then could not
// refuse an acquirer in the child without a new test of its own.
//
// Off the fast path, [S1]: sweep_slots()' first load of each slot word is
// seq_cst, which orders a sweep against the creator's claim of an empty slot
// and the adapter's own seq_cst accesses (see sweep_slots()).
#pragma once

#include <berth/acquire_error.hpp>
#include <berth/adapter.hpp>
#include <berth/clock.hpp>
#include <berth/detail/async_request.hpp>
#include <berth/detail/circuit_breaker.hpp>
#include <berth/detail/counters.hpp>
#include <berth/detail/creator.hpp>
#include <berth/detail/duration.hpp>
#include <berth/detail/event_sink.hpp>
#include <berth/detail/gate_line.hpp>
#include <berth/detail/hot_path.hpp>
#include <berth/detail/idle_ring.hpp>
#include <berth/detail/leak_tracker.hpp>
#include <berth/detail/reaper.hpp>
#include <berth/detail/release_mark.hpp>
#include <berth/detail/slot.hpp>
#include <berth/detail/slot_state.hpp>
#include <berth/detail/test_hooks.hpp>
#include <berth/detail/waiter_queue.hpp>
#include <berth/events.hpp>
#include <berth/fork.hpp>
#include <berth/options.hpp>
#include <berth/stats.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <source_location>
#include <thread>
#include <vector>

namespace berth {
class async_handle;
}

namespace berth::detail {

/// How a lease ends: normally, during stack unwinding (reset or discard per
/// pool_options::on_unwind), by discard(), or normally but flagged by the
/// adapter's needs_reset() (reset before reuse, discard if that fails).
enum class release_mode : std::uint8_t { normal, unwinding, discard, reset };

/// How long an acquire may take. Built by pool<A>'s entry points; the clock
/// is read only on the slow path.
struct acquire_limit {
  enum class kind : std::uint8_t {
    now,       ///< try_acquire: never blocks, never validates
    relative,  ///< acquire_for: `timeout` from the call (<= 0: no waiting)
    absolute,  ///< acquire_until: `deadline` (time_point::max(): none)
  };
  kind k = kind::now;
  std::chrono::nanoseconds timeout{0};
  clock_source::time_point deadline{};
};

/// The pool without the connection type.
/// Distinct objects: safe. Shared objects: acquire/release/stats/counts/
/// close/drain safe from any thread; construction and destruction are not.
class pool_core : private clock_listener, private idle_source, private reaper_host, private fork_listener {
 public:
  pool_core(const pool_core&) = delete;
  pool_core& operator=(const pool_core&) = delete;

  /// The options, as validated. Thread-safe. Never blocks.
  const pool_options& options() const noexcept { return opts_; }
  /// options().on_unwind == unwind_policy::discard, read from the fast
  /// path's cache line (lease::release_when). Thread-safe.
  bool discard_on_unwind() const noexcept { return discard_on_unwind_; }

  /// Counts by state. Approximate under load, exact at quiescence.
  /// Thread-safe. Never blocks. Never allocates. O(max_size).
  pool_counts counts() const noexcept;

  /// Typed snapshot of counters and wait percentiles. Thread-safe. Briefly
  /// takes the slow-path mutex (never held on the fast path). O(max_size).
  pool_stats stats() const;
  /// stats().creation_failures alone: one relaxed load (a statistic), no
  /// mutex. Thread-safe. The replica router compares it around a wait.
  std::uint64_t creation_failures() const noexcept {
    return counters_.creation_failures.load(std::memory_order_relaxed);
  }

  /// Stops new acquires (they fail with errc::pool_closed at once), fails
  /// queued waiters with errc::pool_closed, stops connection creation and
  /// closes idle connections now; leased ones are closed as they come back.
  /// Idempotent. Thread-safe. Does not wait for leases.
  void close() noexcept;

  /// close(), then waits up to `timeout` for every lease to come back.
  /// errc::drain_timeout if some are still out (they close on return). A
  /// timeout too large to add to the clock means no deadline; <= 0 checks
  /// once. Thread-safe. Blocks.
  std::error_code drain(std::chrono::nanoseconds timeout) noexcept;
  /// drain() for any duration type, converted without overflow (an
  /// implicit conversion of hours::max() to nanoseconds would wrap into a
  /// past deadline: drain_timeout at once).
  template <class Rep, class Period>
  std::error_code drain(std::chrono::duration<Rep, Period> timeout) noexcept {
    return drain(saturating_ns(timeout));
  }

  /// True after close() or drain(). Thread-safe. Never blocks.
  bool closed() const noexcept {
    return (load_gate(std::memory_order_acquire) & waiter_queue::gate_closed) != 0;
  }

  /// Soft-evicts every connection: idle ones are closed now, leased ones when
  /// they come back. The pool refills as demand and min_idle require.
  /// Thread-safe.
  void evict_all() noexcept;

  // ---- living with change (issue 11) -------------------------------------

  /// Sets max_size and min_idle while the pool serves; validated like the
  /// constructor's options (throws options_error naming the pool_sizing
  /// field; see validate(pool_sizing, pool_options)): max_size up to
  /// pool_options::max_size_limit. Growing takes effect at once: the
  /// creator thread opens connections for queued acquirers and up to the
  /// new min_idle. Shrinking: idle connections above the new max_size are
  /// closed by the creator thread soon after (close_reason::resized; a
  /// connect in progress there delays it), and leased ones above it are
  /// closed when they come back (as many as are still above it: which ones
  /// is unspecified); until then counts().total may exceed max_size, and no
  /// connection is opened while it does. A lower min_idle closes nothing by
  /// itself: idle_timeout then closes down to it. A connection flagged by a
  /// shrink is closed on return even if a later resize grows the pool again.
  /// With adaptive_min_idle, min_idle is the new starting point of the
  /// reaper's adjustments. Emits event_kind::resized. After close(), only
  /// recorded. Thread-safe (concurrent resizes apply in some order). Takes
  /// the slow-path mutex briefly; never blocks on I/O.
  void resize(const pool_sizing& s);

  /// The max_size and min_idle in force. Thread-safe. Never blocks. Lock-free
  /// (the two are read together: min_idle <= max_size always holds).
  pool_sizing sizing() const noexcept;

  /// Holds the pool for a planned failover or a credential swap (HikariCP's
  /// suspendPool, PgBouncer's PAUSE): from its return, acquirers (blocking
  /// and asynchronous) queue and wait up to their deadline (try_acquire
  /// fails with errc::would_block), connections released meanwhile stay
  /// idle (no hand-off), and the creator thread opens none (a connect in
  /// progress finishes and its connection stays idle). Leases already out
  /// stay out; the reaper, resize() and evict_all() go on, so
  /// suspend(); evict_all(); <swap credentials>; resume() replaces every
  /// connection: idle ones are closed at once, leased ones when they come
  /// back, and none is reopened before resume(). Guarantee: an acquire that
  /// happens after suspend() returned (ordered after it by the caller's
  /// synchronization) takes no connection until resume(). An acquire that
  /// was already running may still complete with one: its fast path read
  /// the gate (relaxed, [G1]) before the bit was set, or it had already
  /// claimed a connection or been handed one. close() and drain() still
  /// work while suspended. Emits event_kind::suspended (if it was not).
  /// Idempotent. Thread-safe. Takes the slow-path mutex briefly.
  void suspend() noexcept;

  /// Ends a suspension: the idle connections go to the queued acquirers in
  /// arrival order (FIFO), then new acquirers and releases behave as usual
  /// and the creator opens what the remaining waiters and min_idle want.
  /// Emits event_kind::resumed (if it was suspended). Idempotent.
  /// Thread-safe. Takes the slow-path mutex briefly.
  void resume() noexcept;

  /// True in a fork child that inherited this pool (berth/fork.hpp, [G8]):
  /// acquires fail with errc::forked, releases and close() leave everything
  /// as the parent had it, and destruction leaks instead of closing.
  /// Thread-safe. Never blocks.
  bool forked() const noexcept {
    // Relaxed: [G8], set in the child's only thread inside fork().
    return (load_gate(std::memory_order_relaxed) & waiter_queue::gate_forked) != 0;
  }

  /// True between suspend() and resume(). Thread-safe. Never blocks.
  bool suspended() const noexcept {
    // Relaxed: a flag with nothing behind it; a caller ordered after
    // suspend()/resume() reads its value by coherence.
    return (load_gate(std::memory_order_relaxed) & waiter_queue::gate_suspended) != 0;
  }

 protected:
  explicit pool_core(const pool_options& opts, clock_source& clock);
  virtual ~pool_core();  // virtual: friends (async_request, async_handle) make it accessible

  // ---- fast path -------------------------------------------------------

  /// The gate word with the caller's order ([G1]-[G3] at each call site).
  /// Lock-free; any thread.
  std::uint64_t load_gate(std::memory_order order) const noexcept { return gate_.line().word.load(order); }

  /// Claims an idle slot that needs no attention without waiting: the
  /// thread's hint, then the ring. Returns its index, or no_slot when none
  /// is idle, acquirers are queued (fairness) or the pool is closed; then
  /// `held` is a claimed slot that carries the reaper's flags (the slow
  /// path checks, validates or retires it), or no_slot. Thread-safe. Never
  /// blocks. Never allocates. Reads no clock.
  /// Count = false: the lease is not counted yet (the asynchronous fast
  /// path counts it with completion_taken() when its completion runs, so that
  /// stats().acquired never counts a claim that is given back unused).
  ///
  /// Inline here is only the case of a thread that reuses its connection
  /// (its hint's slot idle, in the ring, no flag, no waiter): one CAS and
  /// the lease's bookkeeping. Everything else is claim_general(), out of
  /// line. Every instruction here is paid on every query: on a prepared
  /// SQLite SELECT 1 (~900 instructions) the time berth adds tracks the
  /// instructions it adds (bench/sqlite_interleave.cpp, BENCHMARKS.md).
  template <bool Count = true>
  BERTH_HOT std::uint32_t try_claim(std::source_location site, std::uint32_t& held) noexcept {
    thread_hint h;
    slot_word::rep seen;
    if (claim_steady<Count>(site, h, seen)) [[likely]] {
      held = no_slot;
      return h.slot;
    }
    return claim_general<Count>(site, held, seen);
  }

  /// pool<A>'s connection storage: an array of elements of `stride` bytes,
  /// slot i's at base + i * stride; set once by its constructor, before any
  /// acquire.
  void set_conn_base(void* base, std::size_t stride) noexcept {
    conn_base_ = base;
    conn_stride_ = stride;
  }
  void* conn_base() const noexcept { return conn_base_; }
  /// Slot i's element of that storage.
  void* conn_storage(std::uint32_t i) const noexcept { return static_cast<char*>(conn_base_) + i * conn_stride_; }

  /// try_claim()'s inline case alone: true with the slot of `claimed` (a
  /// copy of this thread's hint: its index, metadata and connection
  /// storage) claimed and noted; else false, and `seen` is the word the
  /// hint's CAS found (the [W3] guess when none was made), to pass to
  /// claim_general(). pool<A>'s blocking entry points call it directly, so
  /// that their inline code has one exit test.
  template <bool Count = true>
  BERTH_HOT bool claim_steady(std::source_location site, thread_hint& claimed, slot_word::rep& seen) noexcept {
    seen = slot_atomic::steady_word(slot_state::idle);
    const thread_hint& h = my_hint();
    // [G1] relaxed: fairness heuristic; any non-zero gate takes the general
    // path, which applies must_queue().
    if (h.pool_id != fast_key_ || load_gate(std::memory_order_relaxed) != 0) [[unlikely]]
      return false;
    // A copy: a timed lease's note_lease() reads the user's clock, which
    // could acquire from a pool sharing this hint's way and replace it.
    claimed = h;
    slot_meta& m = *claimed.meta;
    if (!BERTH_EXPECT_TRUE(m.word.lease_steady(seen))) [[unlikely]]
      return false;
    if constexpr (Count)
      note_lease(m, site);
    else
      note_site(m, claimed.slot, site);
    return true;
  }
  /// Slot i's metadata (the lease keeps its address: its release computes nothing from the index).
  slot_meta* slot_at(std::uint32_t i) const noexcept { return &slots_[i]; }
  /// The index of one of this pool's slots.
  std::uint32_t slot_index(const slot_meta& m) const noexcept { return slots_.index_of(m); }

  /// try_claim() beyond its inline case: the gate's fairness test, the hint
  /// with whatever flags its word carries, the ring. Same contract.
  /// `seen`: claim_steady()'s, so that a hint whose CAS failed is not
  /// tried again when its word says it cannot lease.
  template <bool Count>
  BERTH_OUT_OF_LINE std::uint32_t claim_general(std::source_location site, std::uint32_t& held,
                                                slot_word::rep seen = slot_atomic::steady_word(slot_state::idle)) noexcept {
    held = no_slot;
    // [G1] relaxed: fairness heuristic.
    if (const std::uint64_t g = load_gate(std::memory_order_relaxed); g != 0 && waiters_.must_queue(g))
        [[unlikely]]
      return no_slot;
    slot_word::rep w = 0;
    const std::uint32_t i = claim_idle(w, seen);
    // The word our CAS replaced carries the reaper's flags: a flagged slot
    // takes the slow path (as every slot does when validation_bypass is 0:
    // then slow_mask_ has every bit, and a claimed word is never 0).
    if (i == no_slot || (w & slow_mask_)) [[unlikely]] {
      held = i;
      return no_slot;
    }
    if constexpr (Count)
      note_lease(i, site);
    else
      note_site(i, site);
    return i;
  }

  /// Ends the lease on slot m (the caller owns it). Thread-safe. Never
  /// allocates. Never blocks in normal mode, except: when acquirers are
  /// queued a short mutex section hands the slot over, and in the ring's
  /// rare blocking corner (idle_ring.hpp) it yields until a preempted popper
  /// runs again.
  /// Inline is the case of a lease that ends normally, untimed and
  /// unrecorded (check_mask_), with no waiter, on a slot whose index is in
  /// the ring and whose word has no flag: one CAS between two gate loads.
  /// From the CAS on the pool may be destroyed by another thread: the
  /// second gate load reads the gate line, which outlives the pool, and a
  /// non-zero gate enters the pool only through a pin (gate_line.hpp).
  /// Everything else is release_general(), out of line.
  BERTH_HOT void release(slot_meta& m, release_mode mode) noexcept {
    slot_word::rep seen = slot_atomic::steady_word(slot_state::leased);
    // Relaxed: the count is our own write at acquire (single writer, slot.hpp).
    if (mode == release_mode::normal && (m.leases.load(std::memory_order_relaxed) & check_mask_) != 0) [[likely]] {
      gate_line& gate = gate_.line();
      // [G3] seq_cst: pairs with close()/waiter registration [G2] (put_back's load).
      if (gate.word.load(std::memory_order_seq_cst) == 0) [[likely]] {
        // [L1] relaxed: our lease keeps the pool, and so its generation, alive until the CAS below.
        const std::uint64_t generation = gate.generation.load(std::memory_order_relaxed);
        BERTH_TEST_HOOK(release_checked, nullptr);  // test builds only (test_hooks.hpp)
        if (m.word.publish_steady(seen)) [[likely]] {
          BERTH_TEST_HOOK(release_published, nullptr);  // test builds only (test_hooks.hpp)
          // [G3] seq_cst: after our publication; pairs with [G2] and [G6]. `this` may be gone.
          if (gate.word.load(std::memory_order_seq_cst) != 0) [[unlikely]]
            after_publish_pinned(this, m, gate, generation);
          return;
        }
      }
    }
    release_general(slot_index(m), mode, seen);
  }

  /// The inline release saw a non-zero gate after its publication of slot
  /// m, in pool p, which may be gone: pins p's gate line with the
  /// generation read before the publication (gate_line.hpp [L2]); if that
  /// holds, p is alive until the unpin and after_publish() runs; else it
  /// touches nothing. Static: p is not dereferenced before the pin.
  BERTH_OUT_OF_LINE static void after_publish_pinned(pool_core* p, slot_meta& m, gate_line& gate,
                                                     std::uint64_t generation) noexcept;

  /// release() beyond its inline case: leak record and hold time, abnormal
  /// modes, waiters, retire flags, the ring push. `seen` seeds the
  /// publication's CAS ([W3]: the word publish_steady() found, or its guess).
  BERTH_OUT_OF_LINE void release_general(std::uint32_t i, release_mode mode, slot_word::rep seen) noexcept {
    if (leaks_) [[unlikely]] {
      if (forked()) return;  // [G8] a record's mutex may be held by a parent's thread: leak the slot
      leaks_->ended(i, clock_.now());  // before anyone else can own slot i
    }
    // Relaxed: our own write at acquire (or the reset value [W1] brought).
    if (slots_[i].hold_since.load(std::memory_order_relaxed) != clock_source::time_point::min()) [[unlikely]]
      end_hold(i);  // a timed lease (pool_options::hold_time_sampling)
    if (mode != release_mode::normal) [[unlikely]]
      return release_abnormal(i, mode);
    put_back(i, seen);
  }

  // ---- the asynchronous fast path's completions (pool<A>::post_fast) ----
  // A completion posted and not yet run, and then its handler while it
  // holds the lease, mark their leased slot (slot_meta::completion): the
  // pool's destruction waits for them, as for a request that waited
  // (stop_async; AsyncTest.DestroyingThePoolWaitsForAQueuedFastPathCompletionBug).
  // No shared counter: the claimer and then the completion own the slot.
  // The mark lasts until the next lease's start (note_site), so that
  // nothing touches the pool after the handler returns (it may have let the
  // pool be destroyed); a lease kept past its handler keeps the mark, and
  // the destruction names it once it gives up waiting.
  static constexpr std::uint8_t completion_queued = 1, completion_running = 2;

  /// Slot i's completion is about to be posted (the claimer, owning slot i).
  void completion_posted(std::uint32_t i) noexcept {
    slots_[i].completion.store(completion_queued, std::memory_order_release);  // pairs with stop_async
  }
  /// Slot i's completion takes it: its handler gets the lease now, counted.
  void completion_taken(std::uint32_t i) noexcept {
    note_count(i);
    slots_[i].completion.store(completion_running, std::memory_order_release);  // pairs with stop_async
  }

  /// A request's completion this thread is delivering (its handler is
  /// running), in a stack: the innermost first. The pool counts the request
  /// as outstanding until the delivery ends, so that its destructor waits
  /// for it; a handler that destroys the pool itself (a coroutine whose
  /// frame owns the pool) must not wait for its own delivery, and then the
  /// delivery must not touch the pool afterwards (pool_gone).
  struct delivery {
    pool_core* pool;
    delivery* outer;
    bool pool_gone = false;
  };
  static inline thread_local delivery* deliveries_ = nullptr;

  /// One count of async_outstanding_ being delivered on this thread, for
  /// the scope's lifetime: a delivery on the stack, and at its end the
  /// count's async_delivered(), unless the pool was destroyed inside it
  /// (stop_async does not wait for it and marks it pool_gone). Nothing may
  /// touch the pool after the scope ends. Never blocks, except on mutex_ at
  /// the end. Thread-safety: used only by the delivering thread, on its
  /// stack (deliveries_ is thread-local; scopes end in reverse order).
  class delivery_scope {
   public:
    explicit delivery_scope(pool_core* p) noexcept : d_{p, deliveries_} { deliveries_ = &d_; }
    delivery_scope(const delivery_scope&) = delete;
    delivery_scope& operator=(const delivery_scope&) = delete;
    ~delivery_scope() {
      deliveries_ = d_.outer;
      if (!d_.pool_gone) d_.pool->async_delivered();
    }

   private:
    delivery d_;
  };

  // Public: berth::asio's completion uses them (detail).
 public:
  /// Keeps the pool's destruction waiting, as for a request whose handler
  /// has not returned, until destroyed or spent by deliver(). Move-only.
  class delivery_hold {
   public:
    delivery_hold() noexcept = default;
    explicit delivery_hold(pool_core* p) noexcept : p_(p) {}
    delivery_hold(delivery_hold&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    delivery_hold& operator=(delivery_hold&&) = delete;
    ~delivery_hold() {
      if (p_ != nullptr) p_->async_delivered();
    }
    /// Calls f (the handler with its outcome, or the outcome's and the
    /// handler's destruction) as the held delivery of the pool on this
    /// thread, then ends the hold: a handler that destroys the pool inside
    /// f (it owned the last reference) is not waited for, and the hold then
    /// leaves the pool alone. An empty hold just calls f. Empty afterwards,
    /// even when f throws. As thread-safe as f.
    template <class F>
    void deliver(F&& f) {
      if (p_ == nullptr) return std::forward<F>(f)();
      delivery_scope scope(std::exchange(p_, nullptr));
      std::forward<F>(f)();
    }

   private:
    pool_core* p_ = nullptr;
  };
  /// For a completion handler that passes the outcome on to a queue of its
  /// own (berth::asio's dispatch, which must post when it does not run on
  /// the handler's executor): when this thread is the pool's async thread
  /// (the executor's post() threw, so berth runs the completion there), a
  /// hold to keep with the outcome until it is delivered or dropped, both
  /// through deliver() (the handler may destroy the pool, wherever dispatch
  /// runs it: inline on this thread, or on the executor);
  /// otherwise an empty one (the completion runs on its executor). Thread-safe.
  delivery_hold hold_delivery_on_async_thread();

 protected:

  /// This thread is inside post() of this pool's fast-path completion (p),
  /// or no longer (nullptr); fast_running() aborts naming an executor that
  /// runs the completion inline there, as the slow path does (run_task).
  /// Inline (a thread-local pointer): no call on the fast path.
  static void fast_posting(const pool_core* p) noexcept { fast_posting_pool_ = p; }
  void fast_running() const noexcept {
    if (fast_posting_pool_ == this) [[unlikely]]
      inline_completion();
  }
  [[noreturn]] BERTH_COLD static void inline_completion() noexcept;
  static inline thread_local const pool_core* fast_posting_pool_ = nullptr;

  /// Releases slot i, claimed by try_claim<false>() and never counted as a
  /// lease (completion_taken): the asynchronous fast path's post threw, or the
  /// executor dropped its completion. No count and no hold time began for
  /// it, so stats().acquired never goes down; its leak record (begun at the
  /// claim, so a completion that waits long on its executor is reported
  /// with its site: AsyncTest.APendingFastPathClaimKeepsItsSiteAndLeakRecordBug)
  /// ends. The claimant only.
  void release_unclaimed(std::uint32_t i) noexcept {
    if (leaks_) [[unlikely]] {
      if (forked()) return;  // [G8] as in release()
      leaks_->ended(i, clock_.now());
    }
    put_back(i);
  }

  // ---- slow path ---------------------------------------------------------

  /// Everything try_claim() could not do, within `limit`: checks `held` (a
  /// flagged slot the caller claimed, or no_slot), then, unless the limit
  /// is kind::now, waits FIFO until a slot is handed over or idle, the
  /// deadline passes, or the pool closes. While the circuit breaker refuses
  /// (open or half_open) and a slot is free, an acquirer that finds nothing
  /// idle fails at once with errc::database_unavailable, and a queued one
  /// when the breaker opens. The deadline bounds the whole
  /// call: validation at acquire gets at most the time left, and none
  /// starts once it has passed. kind::now never blocks and never validates:
  /// a stale connection is put back for a blocking acquirer or the reaper.
  /// On failure returns no_slot and fills err (err.waited: the whole call).
  /// Thread-safe.
  std::uint32_t claim_slow(std::uint32_t held, const acquire_limit& limit, std::source_location site,
                           acquire_error& err) noexcept;

  /// Opens min_idle connections now (startup_mode::fail_fast) and starts the
  /// creator and (if a lifecycle policy is on) reaper threads. Called once by
  /// pool<A>'s constructor after its storage exists. Throws
  /// std::system_error(errc::startup_failed).
  void start();
  /// Runs the reaper thread even when no lifecycle policy asks for it: a
  /// pool whose adapter can sweep (adapter_with_sweep) may flag idle
  /// connections stale, and only the reaper validates those for
  /// try_acquire. Called by pool<A>'s constructor before start().
  void force_reaper() noexcept { reaper_forced_ = true; }

  /// close(), joins the pool's threads, and aborts with a report naming
  /// each outstanding lease (slot, acquisition site) if any is still out:
  /// the alternative is a silent use-after-free. Called by pool<A>'s
  /// destructor before its storage goes away.
  void shutdown() noexcept;
  /// shutdown(), after its lease check: until no connection is open, i.e.
  /// until every retirement in progress (a discard, a failed reset, a lease
  /// ended into the closed pool) has let go of mutex_.
  void wait_for_retirements() noexcept;
  /// shutdown(), after the gate line's retirement: until no thread holds a
  /// release mark naming this pool (release_mark.hpp [M3]) and no inline
  /// releaser holds a pin on its gate line (gate_line.hpp [L3]). Never
  /// returns while one does.
  void wait_for_releasers() noexcept;
  /// shutdown() for a fork child's copy (forked()): joins nothing, closes
  /// nothing, locks nothing; leaks the parent's thread handles, the mutex and
  /// the condition variables so that destruction neither terminates nor
  /// hangs. Called by pool<A>'s destructor instead of shutdown().
  void abandon() noexcept;

  // ---- implemented by pool<A>: adapter calls on slot storage --------------
  /// Opens a connection into slot i's storage. Cold path.
  virtual result<void, adapter_error> open_slot(std::uint32_t i) noexcept = 0;
  /// adapter.reset() on slot i's connection. Cold path.
  virtual result<void, adapter_error> reset_slot(std::uint32_t i) noexcept = 0;
  /// adapter.close() on slot i's connection and destroys it. Cold path.
  virtual void close_slot(std::uint32_t i) noexcept = 0;
  /// adapter.validate() on slot i's connection, passing `timeout` when the
  /// adapter takes one. Cold path (reaper, or an acquirer's time left).
  virtual result<void, adapter_error> validate_slot(std::uint32_t i, std::chrono::milliseconds timeout) noexcept = 0;

  /// Soft-evicts the connection held by the lease on slot i: it is closed
  /// when the lease ends. Thread-safe. Never blocks.
  void evict_slot(std::uint32_t i) noexcept;

  /// berth::sweep_target::sweep() (adapter.hpp) for pool<A>: each idle slot
  /// is reserved and retired (evicted) when evict(ctx, i) is true, else
  /// published again; each owned slot (leased, reserved, connecting) is
  /// flagged stale, so its next acquirer validates it. evict runs with slot
  /// i reserved by this call. Thread-safe. Never validates; blocks while it
  /// closes. O(max_size). owned_too = false (sweep_target::sweep_idle):
  /// idle slots only; owned ones are left unflagged.
  void sweep_slots(bool (*evict)(const void* ctx, std::uint32_t i) noexcept, const void* ctx,
                   bool owned_too = true) noexcept;

  // ---- asynchronous acquire (async.cpp; protocol in async_request.hpp) ----

  /// The slow path of an asynchronous acquire whose fast path found nothing
  /// (held == no_slot) or claimed a flagged slot `held` that must be
  /// checked: r joins the waiter queue, or a run is posted to its executor.
  /// r's deadline, site and executor are set; r.owner is set here. The
  /// handler is called exactly once, later, on the executor. Throws
  /// std::bad_alloc or std::system_error (the deadline heap, the async
  /// thread; errc::forked in a fork child, [G8]) before anything changed; `held` is then back in the pool.
  /// Thread-safe. Never blocks on I/O (takes the slow-path mutex briefly).
  void async_start(const std::shared_ptr<async_request>& r, std::uint32_t held);
  /// Cancels r: true if it was not done yet, in which case its handler
  /// gets errc::cancelled and any slot handed to it goes back; false if it
  /// had already completed (or was deciding a success). Thread-safe.
  bool async_cancel(async_request& r) noexcept;
  /// Returns slot i (leased by the caller, never handed out) to the pool or
  /// the head waiter, as a release does. Without mutex_. Never allocates.
  void give_back(std::uint32_t i) noexcept;
  /// now + timeout without overflow (time_point::max() when it would).
  /// Reads the clock. Thread-safe.
  clock_source::time_point deadline_in(std::chrono::nanoseconds timeout) const noexcept;

 private:
  class blocking_waiter;
  friend class async_request;
  friend class berth::async_handle;
  struct run_task;

  /// The constructor, given this pool's number (id_ comes after the
  /// fast path's line, whose fields are derived from it).
  pool_core(const pool_options& opts, clock_source& clock, std::uint64_t id);

  /// The end of every normal release: hands slot i to a waiter when one is
  /// owed it, else publishes it idle. The owner only. `seed`: see publish().
  void put_back(std::uint32_t i, slot_word::rep seed = slot_atomic::steady_word(slot_state::leased)) noexcept {
    // [G3] seq_cst: pairs with close()/waiter registration [G2].
    if (const std::uint64_t g = load_gate(std::memory_order_seq_cst); g != 0 && waiters_.must_hand(g))
        [[unlikely]]
      return offer_contended(i, slot_state::leased);
    publish(i, slot_state::leased, false, seed);
  }

  /// A lease on slot i begins at `site`: counted, maybe timed, recorded.
  BERTH_HOT void note_lease(std::uint32_t i, std::source_location site) noexcept { note_lease(slots_[i], site); }
  BERTH_HOT void note_lease(slot_meta& m, std::source_location site) noexcept {
    const std::uint64_t n = count_lease(m);
    m.site.store(site, std::memory_order_relaxed);       // single writer (the lessee), see slot.hpp
    m.completion.store(0, std::memory_order_relaxed);  // the same
    // The cold call takes neither the index nor n (it finds both from m):
    // the inline code then loads no index and tests n in place.
    if ((n & check_mask_) == 0) [[unlikely]]
      note_lease_checked(m, site);  // timed (1 in hold_time_sampling) or leak-recorded: cold
  }
  /// One more lease on m; returns its count. The lessee only.
  BERTH_HOT static std::uint64_t count_lease(slot_meta& m) noexcept {
    // Relaxed: single writer (the lessee); readers want approximate values.
    const std::uint64_t n = m.leases.load(std::memory_order_relaxed) + 1;
    m.leases.store(n, std::memory_order_relaxed);
    return n;
  }
  /// The part of note_lease() for a lease on m that is timed,
  /// leak-recorded or both; its release takes release_general().
  BERTH_OUT_OF_LINE void note_lease_checked(slot_meta& m, std::source_location site) noexcept;
  /// The count and the hold-time sample of a lease on slot i (the
  /// asynchronous fast path's completion_taken; its site was noted at the claim).
  void note_count(std::uint32_t i) noexcept {
    slot_meta& m = slots_[i];
    if ((count_lease(m) & hold_mask_) == 0) [[unlikely]]
      m.hold_since.store(clock_.now(), std::memory_order_relaxed);  // timed lease; single writer, see slot.hpp
  }
  /// Where slot i's claim was made (timeout and leak reports), and its leak
  /// record; a completion mark left by a dropped or finished completion ends here.
  void note_site(std::uint32_t i, std::source_location site) noexcept { note_site(slots_[i], i, site); }
  BERTH_HOT void note_site(slot_meta& m, std::uint32_t i, std::source_location site) noexcept {
    m.site.store(site, std::memory_order_relaxed);       // single writer (the lessee), see slot.hpp
    m.completion.store(0, std::memory_order_relaxed);  // the same
    if (leaks_) [[unlikely]]
      leaks_->began(i, clock_.now(), site);  // leak detection on: time + stack, cold
  }

  /// This thread's hint, then the ring; w receives the slot's word before
  /// our CAS (its flags). Never blocks. A slot from the ring that needs no
  /// attention becomes the hint (a flagged one goes back or is retired by
  /// the slow path, which remembers what it hands out instead): the hint is
  /// the slot this thread last claimed, so a thread that reuses its
  /// connection writes nothing here.
  /// `seen`: the word a CAS on the hint's slot just found, or the [W3] guess.
  std::uint32_t claim_idle(slot_word::rep& w, slot_word::rep seen) noexcept {
    const thread_hint h = my_hint();
    if (h.pool_id == id_ && (w = slots_[h.slot].word.try_lease(seen)) != 0) return h.slot;
    const std::uint32_t i = pop_idle(w);
    if (i != no_slot && !(w & slow_mask_)) remember(i);
    return i;
  }
  /// This thread's hint for this pool: tls_hints' element at byte offset
  /// hint_offset_ (a byte offset, not an index: the inline acquire adds it
  /// to the thread pointer without a shift).
  thread_hint& my_hint() const noexcept {
    return *std::launder(reinterpret_cast<thread_hint*>(reinterpret_cast<char*>(tls_hints.data()) + hint_offset_));
  }
  /// Makes slot i this thread's hint for this pool (thread-local).
  void remember(std::uint32_t i) noexcept { my_hint() = thread_hint{id_, i, slot_at(i), conn_storage(i)}; }

  /// Pops indices until one leases; w receives its word before the CAS.
  std::uint32_t pop_idle(slot_word::rep& w) noexcept {
    std::uint32_t i;
    while (ring_.try_pop(i))
      if ((w = slots_[i].word.lease_from_ring()) != 0) return i;
    return no_slot;
  }

  /// Owner of `from` makes slot i idle and findable; see [G3].
  /// spared: a slot the owed hand-off leaves with its holder
  /// (offer_contended): waiters are woken as in throughput mode.
  void publish(std::uint32_t i, slot_state from, bool spared = false) noexcept {
    publish(i, from, spared, slot_atomic::steady_word(from));
  }
  /// seed: the word release()'s CAS found, or the [W3] guess.
  /// Marks this thread [M1] for the publication and what follows it, and
  /// puts back the caller's mark afterwards (release_mark.hpp).
  void publish(std::uint32_t i, slot_state from, bool spared, slot_word::rep seed) noexcept {
    const void* const outer = current_release_mark();
    arm_release(this);  // [M1] before the publication
    publish_marked(i, from, spared, seed);
    disarm_release(outer);  // [M2] our last access to the pool is behind us
  }
  void publish_marked(std::uint32_t i, slot_state from, bool spared, slot_word::rep seed) noexcept {
    const slot_word::rep before = slots_[i].word.publish_idle(from, seed);
    if (before & slot_word::retire_mask) [[unlikely]]
      return retire(i, from, retire_reason(before));
    if (!(before & slot_word::in_ring)) push_idle(i);
    BERTH_TEST_HOOK(release_published, nullptr);  // test builds only (test_hooks.hpp)
    // [G3] seq_cst: after our publication; pairs with [G2] and [G6].
    if (const std::uint64_t g = load_gate(std::memory_order_seq_cst); g != 0) [[unlikely]]
      after_publish(i, g, spared);
  }

  /// Why a slot carrying a retire flag (slot_word::retire_mask) is closed.
  static close_reason retire_reason(slot_word::rep w) noexcept {
    if (w & slot_word::evict) return close_reason::evicted;
    return w & slot_word::resized ? close_reason::resized : close_reason::expired;
  }

  void push_idle(std::uint32_t i) noexcept;
  /// Records the hold time of the timed lease on slot i, ending now, and
  /// marks the slot untimed. Lessee only.
  BERTH_COLD void end_hold(std::uint32_t i) noexcept;
  void release_abnormal(std::uint32_t i, release_mode mode) noexcept;
  void offer_contended(std::uint32_t i, slot_state from) noexcept;
  void after_publish(std::uint32_t i, std::uint64_t g, bool spared) noexcept;
  /// A waiter's tenure of slot i begins now (the slot is being given to it).
  void note_handed(std::uint32_t i) noexcept {
    slots_[i].handed_at.store(clock_.now(), std::memory_order_relaxed);  // see slot.hpp
  }
  /// Whether slot i's tenure is still fresh (waiter_queue::fresh). Lessee.
  bool fresh_tenure(std::uint32_t i) const noexcept {
    return waiters_.fresh(slots_[i].handed_at.load(std::memory_order_relaxed), clock_.now());  // see slot.hpp
  }
  bool hand_to_waiter_locked(std::uint32_t i, slot_state from) noexcept;
  /// Puts back slot i (ours, stale, not to be validated by this caller) and
  /// asks the reaper to validate it now.
  void skip_stale(std::uint32_t i) noexcept;
  /// After the caller put back the one slot it examined: an idle slot that
  /// needs no validation, claimed (stale ones are skipped), or no_slot;
  /// examines at most size() - 1 more. Never validates, never blocks on a waiter.
  std::uint32_t pop_ready() noexcept;
  /// What attend() did with the slot the caller held.
  enum class attended : std::uint8_t {
    ready,    ///< checked (or nothing to check): the caller keeps it
    closed,   ///< retired (a retire flag, or a failed validation)
    no_time,  ///< it needed validation and the deadline had passed: put back
  };
  attended attend(std::uint32_t i, clock_source::time_point deadline) noexcept;
  /// Claimed slot i, before it is handed out (claim_slow, async_run): true
  /// when it is ready, possibly after attend(); when the deadline left no
  /// time to validate it, sets no_time and, unless every connection needs
  /// validation, replaces i by an idle one that needs none (pop_ready).
  /// False: nothing ready (i retired or put back).
  bool check_claimed(std::uint32_t& i, clock_source::time_point deadline, bool& no_time) noexcept;
  bool validate_or_retire(std::uint32_t i, slot_state from, std::chrono::milliseconds timeout) noexcept;
  std::uint32_t wait_for_slot(clock_source::time_point deadline, clock_source::time_point start, bool front,
                              acquire_error& err, bool& blocked) noexcept;
  void retire(std::uint32_t i, slot_state from, close_reason why) noexcept;
  void opened(std::uint32_t i, clock_source::time_point now) noexcept;
  void close_idle() noexcept;
  /// pool_stats::size_hint from these counts; moves the rate window.
  pool_size_hint size_hint_locked(std::uint64_t acquired, const duration_histogram& holds) const noexcept;
  void fill_error_locked(acquire_error& err, errc code, std::chrono::nanoseconds waited) const;
  void fill_closed(acquire_error& err, std::chrono::nanoseconds waited) const noexcept;
  /// errc::timeout: this acquire's site and where the leases out were
  /// acquired (acquire_error::lease_sites). Cold; O(max_size); mutex_ not
  /// held.
  BERTH_COLD void fill_lease_sites(acquire_error& err, std::source_location site) const noexcept;
  /// errc::would_block (or pool_closed); skipped_stale: the call put back
  /// idle connections that await validation (acquire_error::awaiting_validation).
  void fill_would_block(acquire_error& err, bool skipped_stale) const noexcept;
  bool reaper_enabled() const noexcept;
  bool creation_wanted_locked() const noexcept;
  bool probe_wanted_locked() const noexcept;
  bool breaker_refuses_locked() const noexcept;
  void refuse_locked(acquire_error& err, std::chrono::nanoseconds waited);
  void reject_waiters_locked() noexcept;
  void breaker_opened_locked(std::unique_lock<std::mutex>& lock) noexcept;
  void create_one(std::unique_lock<std::mutex>& lock) noexcept;
  void creator_loop() noexcept;
  void reaper_loop(clock_source::time_point first_pass) noexcept;
  void wake_creator() noexcept;
  /// wake_creator()'s notifications, for a caller that holds mutex_.
  void wake_creator_locked() noexcept {
    creator_cv_.notify_one();
    drained_cv_.notify_all();
  }

  // living with change (issue 11)
  /// Sets the sizing in force: sizing_ and the creator's copy.
  void set_sizing_locked(pool_sizing s) noexcept;
  /// Creator thread, mutex_ not held: closes or flags connections until
  /// the open ones not already going away are at most max_size.
  void trim_excess(std::size_t max_size) noexcept;
  static constexpr std::uint64_t pack(pool_sizing s) noexcept {
    return (static_cast<std::uint64_t>(s.max_size) << 32) | static_cast<std::uint32_t>(s.min_idle);
  }
  static constexpr pool_sizing unpack(std::uint64_t v) noexcept {
    return {.max_size = static_cast<std::size_t>(v >> 32), .min_idle = static_cast<std::size_t>(v & 0xffffffffu)};
  }

  // asynchronous acquire (async.cpp)
  void schedule_locked(async_request& r) noexcept;
  async_outcome async_run(async_request& r) noexcept;
  void async_dropped(async_request& r) noexcept;
  void finish_locked(async_request& r) noexcept;
  void async_delivered() noexcept;
  void deadline_push_locked(async_request& r);
  void deadline_erase_locked(async_request& r) noexcept;
  void deadline_sift_locked(std::size_t k) noexcept;
  void async_loop() noexcept;
  /// Runs (or drops) the requests queued for the async thread; lk held on
  /// entry and on a true return; false: a handler destroyed the pool (lk is
  /// not held, `this` is gone).
  bool run_fallbacks(std::unique_lock<std::mutex>& lk) noexcept;
  void stop_async() noexcept;

  // clock_listener
  void on_clock_advanced() noexcept override;
  // fork_listener: the child handler, inside fork() [G8]
  void on_forked() noexcept override { waiters_.mark_forked(); }
  /// errc::forked into err. Lock-free.
  void fill_forked(acquire_error& err) const noexcept;
  // idle_source (the waiter queue's settle and waking waiters)
  std::uint32_t pop_idle_for_waiter() noexcept override {
    slot_word::rep w;
    const std::uint32_t i = pop_idle(w);
    if (i != no_slot) note_handed(i);
    return i;
  }
  // reaper_host
  void retire_reserved(std::uint32_t i, close_reason why) noexcept override {
    retire(i, slot_state::reserved, why);
  }
  bool validate_reserved(std::uint32_t i) noexcept override {
    return validate_or_retire(i, slot_state::reserved, opts_.validation_timeout);
  }
  void publish_reserved(std::uint32_t i) noexcept override { publish(i, slot_state::reserved); }
  std::size_t open_connections() const noexcept override {
    return open_.load(std::memory_order_acquire);  // pairs with retire()'s release
  }
  std::size_t min_idle_now() const noexcept override { return sizing().min_idle; }
  demand_signal demand() const noexcept override;
  void adapt_min_idle(std::size_t min_idle) noexcept override;

  /// Yields of a releaser that woke the head in throughput mode with two or
  /// more waiters, while its connection stays idle (after_publish). With
  /// 1 us holds at 64 to 128 threads on 2 cores, 0 let running threads
  /// starve waiters (min 7 cycles vs a median of 29,000); 1 and 4 gave the
  /// same spread, and 4 cost 2 threads on 1 connection half their cycles.
  static constexpr int release_yields = 1;

  // ---- immutable after construction ----
  const pool_options opts_;
  clock_source& clock_;
  // What every acquire and release reads, together on one cache line (the
  // fast path touches this line, the thread's hint, the slot's and the
  // connection; on a SQLite SELECT 1 the pool's cost tracks what it
  // touches, bench/sqlite_interleave.cpp).
  /// The gate word's line (waiter_queue.hpp: waiter count and mode bits;
  /// gate_line.hpp: why it is not a member), which waiters_ writes and
  /// every acquire and release loads ([G1]-[G3]) through this pointer.
  /// Declared before everything that writes the word: destroyed after it.
  alignas(64) gate_lease gate_;
  /// (id_ % thread_hint_ways) * sizeof(thread_hint): the byte offset of
  /// this pool's way in each thread's hints (my_hint()).
  const std::uint32_t hint_offset_;
  /// on_unwind == unwind_policy::discard (lease::end reads it on every
  /// release: here, in hint_offset_'s padding, it shares the line the release
  /// already reads, not the next one).
  const bool discard_on_unwind_;
  /// id_, or a value no hint holds when every acquire must validate
  /// (always_validate_): then claim_steady() never matches, and
  /// claim_general() uses the hint (keyed by id_) and sends its slot to
  /// the slow path.
  const std::uint64_t fast_key_;
  /// hold_mask_, or 0 when leak detection records every lease: a lease
  /// whose count has none of these bits set needs note_lease_checked() at
  /// its start and release_general() at its end (one test on each side).
  const std::uint64_t check_mask_;
  slot_table slots_;
  /// pool<A>'s connection storage (its first element) and the size of an
  /// element, set by its constructor: read where a hint is written
  /// (remember) and where the general paths build a lease; the inline
  /// acquire takes the hint's copy of the address.
  void* conn_base_ = nullptr;
  /// validate_on_acquire with validation_bypass 0: every blocking acquire
  /// validates (HikariCP's aliveBypassWindowMs = 0), not only the
  /// connections the reaper flagged stale.
  const bool always_validate_;
  /// Word bits that send a claimed slot to the slow path: attention_mask,
  /// or every bit when always_validate_.
  const slot_word::rep slow_mask_;
  // (end of the fast path's line)
  std::size_t conn_stride_ = 0;  // see conn_base_
  /// This pool's number, unique in the process: the key of its threads'
  /// hints (tls_hints), read by the general paths.
  const std::uint64_t id_;
  const event_sink events_;
  /// Null when leak_threshold is 0.
  const std::unique_ptr<leak_tracker> leaks_;
  /// hold_time_sampling - 1: a lease whose slot lease count has none of
  /// these bits set is timed. All bits when sampling is off (a count is
  /// never 0 after its increment).
  const std::uint64_t hold_mask_;

  // ---- atomics only ----
  idle_ring ring_;
  pool_counters counters_;
  sharded_histogram holds_;    // hold times of timed leases (end_hold), sharded by slot
  atomic_histogram connects_;  // durations of successful connects (creator thread, start())
  /// Slots not empty (connecting, idle, leased, reserved, closing). Relaxed
  /// where changed on cold paths and read under mutex_ after the changer
  /// locked it; release/acquire between retire() and drain()/the reaper.
  std::atomic<std::size_t> open_{0};
  /// Set by a try_acquire that put back a stale connection it may not
  /// validate; the reaper, woken, validates the stale idle connections at
  /// once (reaper::validate_stale). Relaxed: a flag with no data behind it.
  std::atomic<bool> stale_skipped_{false};
  /// The max_size (high half) and min_idle (low half) in force, packed so
  /// that a reader sees a pair that was in force together. Written under
  /// mutex_ (resize, the reaper's adaptive step), relaxed: the writers are
  /// ordered by mutex_, the creator reads its own copy under mutex_, and the
  /// lock-free readers (counts, the reaper's shrink decisions) want an
  /// approximate value with nothing behind it.
  std::atomic<std::uint64_t> sizing_;

  /// The slow-path mutex and the condition variables, on the heap so that a
  /// fork child can leak them (abandon()). Set by the constructor; released
  /// only by abandon(), in a fork child, just before destruction.
  struct sync_block {
    std::mutex mutex;
    std::condition_variable creator_cv, reaper_cv, drained_cv, async_cv, async_done_cv;
  };
  std::unique_ptr<sync_block> sync_;

  // ---- guarded by mutex_ (slow path only) ----
  std::mutex& mutex_;  // sync_->mutex
  waiter_queue waiters_;  // its _locked members; its gate word is lock-free
  creator creator_;
  /// Admits the creator's attempts; refuses acquirers that need a creation
  /// while open or half_open (see pool_options::breaker_threshold).
  circuit_breaker breaker_;
  /// An acquirer was refused (or a waiter rejected) since the breaker opened
  /// or last probed: a connection is wanted, so the probe is made even when
  /// min_idle is reached (with min_idle 0 nothing else would ask for one).
  bool refused_since_probe_ = false;
  wait_histogram waits_;
  /// stats()' size hint measures the acquire rate and the mean hold time
  /// from rate_from_ to now; rate_mark_ is the latest stats() call, which
  /// becomes rate_from_ once it is at least 1 s old.
  struct rate_sample {
    clock_source::time_point at;
    std::uint64_t acquired = 0;
    std::uint64_t holds = 0;  // hold_time.count then
    std::chrono::nanoseconds hold_sum{0};
  };
  mutable rate_sample rate_from_, rate_mark_;
  /// The largest fast-path acquire count stats() has reported: see stats().
  mutable std::uint64_t zero_waits_reported_ = 0;
  bool stop_ = false;
  /// resize() lowered max_size: the creator thread trims (trim_excess).
  bool trim_requested_ = false;
  std::condition_variable& creator_cv_;  // sync_'s
  std::condition_variable& reaper_cv_;
  std::condition_variable& drained_cv_;
  /// Asynchronous acquires: pending deadlines (a min-heap on deadline, each
  /// request knowing its index), requests whose post() threw, requests whose
  /// run has not finished delivering (or dropping) their outcome (shutdown
  /// waits for 0), and the async thread that fires the deadlines and runs
  /// the fallbacks.
  std::vector<async_request*> deadlines_;
  async_request* fallback_head_ = nullptr;
  std::size_t async_outstanding_ = 0;
  bool async_stop_ = false;

  /// The deadline the async thread sleeps towards (min() while it runs): a
  /// new deadline wakes it only if earlier.
  clock_source::time_point async_sleeps_until_ = clock_source::time_point::min();
  std::condition_variable& async_cv_;  // sync_'s
  std::condition_variable& async_done_cv_;

  // ---- creator thread only, or the constructor before it starts ----
  std::minstd_rand lifetime_rng_;  // lifetime jitter, drawn in opened()
  bool reaper_forced_ = false;  // force_reaper(): set before start(), read by it

  // ---- reaper thread only ----
  reaper reaper_;

  // ---- the pool's threads ----
  std::thread creator_thread_;
  std::thread reaper_thread_;
  /// The reaper thread has loaded the symbolizer (leak detection on):
  /// start() waits for it. Release store / acquire wait.
  std::atomic<bool> reaper_warm_{false};
  std::thread async_thread_;  // started by the first async_start
};

}  // namespace berth::detail
