// pool_core.hpp: the type-independent pool: slots, idle ring, per-thread
// hints, waiter queue, the creator and reaper threads. pool<Adapter>
// (pool.hpp) adds the connection storage and the adapter calls.
//
// Fast path (acquire = try_claim, release = release):
//   acquire: load gate; CAS the slot this thread released last (its hint) from
//            idle to leased; else pop indices from the idle ring until one
//            CASes idle -> leased. No mutex, no allocation, no system call.
//   release: remember the slot as this thread's hint; load gate; CAS the slot
//            leased -> idle setting in_ring; push the index only if in_ring was
//            clear; load gate again.
// In the steady state of a thread that reuses its connection, acquire and
// release are one CAS each on a line that thread already owns (HikariCP's
// thread-local list idea, made a single hint per pool and thread).
//
// Synchronization:
//   [G1] gate_ (waiter count | closed | handoff | woken bits): acquire's
//        relaxed load is a fairness heuristic: while hand-off is strict
//        (must_queue) a new acquirer goes to the back of the waiter queue
//        instead of barging. A stale value only lets it barge once or sends it
//        to the slow path, which rechecks under mutex_.
//   [G2] a waiter registers with a seq_cst fetch_add on gate_ and then pops
//        the ring (seq_cst loads, idle_ring.hpp [Q2]).
//   [G3] a releaser publishes (seq_cst CAS [W1], seq_cst ring push [Q1]) and
//        then loads gate_ seq_cst. [G2]/[G3] are a Dekker pair: in the single
//        total order S of seq_cst operations either the waiter's pop sees the
//        published index, or the releaser's load sees the waiter and acts in
//        after_publish(). close() uses the same pair with the closed bit, so
//        no connection is left idle in a closed pool.
//   [G4] a hand-off moves a leased slot to a waiter under mutex_; the
//        waiter reads its slot index under the same mutex, which also
//        publishes the connection object.
//   [G5] woken bit: set by the one releaser that notifies the head waiter in
//        throughput mode, so a burst of releases wakes one thread, not one per
//        release. The head clears it (seq_cst RMW) and then pops; a releaser
//        pushes and then loads gate_ (seq_cst): either it sees woken clear and
//        notifies, or the head's pop sees its push.
//   [G6] settle: whoever changes the queue or the mode under mutex_ (a waiter
//        leaves, the head changes, hand-off turns strict) does so with a
//        seq_cst RMW on gate_ and then pops the ring on the head's behalf,
//        handing what it finds to the head, until the ring or the queue is
//        empty. A releaser whose gate load preceded that RMW in S pushed
//        before it, so the settle's pop sees the push; one whose load
//        followed it sees the new mode and acts on it.
//   Linearization points: acquire at the successful try_lease/lease_from_ring
//   CAS or at the hand-off under mutex_; release at publish_idle's CAS or the
//   hand-off.
//
// Fairness (Go's sync.Mutex starvation mode, applied to a pool). Two modes,
// read off gate_ by must_queue():
//   strict      a lone waiter, or any waiter has waited handoff_after (the
//               handoff bit), or handoff_after is 0: a released connection
//               goes to the head waiter (offer_contended, or after_publish
//               then settle) and new acquirers queue.
//   throughput  several waiters, none starving: running threads may reuse
//               connections ahead of sleeping waiters and a release wakes the
//               head waiter to compete ([G5]). Strict hand-off here costs a
//               context switch per cycle and convoys (bench/cycle_bench: 1-2.5
//               us vs 9 ns per cycle at 64-128 threads on 32 connections).
// A waiter, whenever it runs, is in one of these states (wait_for_slot):
//   served      a hand-off gave it a slot [G4]: it takes it.
//   closed      close() failed it.
//   expired     its deadline passed: it leaves (then settle [G6]).
//   head        it pops the ring in either mode: the connection is its due
//               in strict mode and its to compete for in throughput mode.
//               If it has waited handoff_after it sets the handoff bit (then
//               settle [G6]).
//   behind      it pops the ring only in throughput mode.
// No lost wake-up: an idle connection and a sleeping waiter cannot coexist
// once every thread has finished its step. The idle index was pushed by a
// publisher; by [G3] either a waiter's pop (registration, head, settle) saw
// it, or the publisher's gate load saw the waiter: in strict mode the
// publisher settles under mutex_, in throughput mode it wakes the head,
// which pops when it runs ([G5]). A switch to strict mode (a waiter leaving
// so that one remains, or the handoff bit) is followed by a settle [G6], so
// a connection published in throughput mode is never stranded by the switch
// (issue 6, LostWakeupWhenPoolTurnsStrictBug).
#pragma once

#include <berth/acquire_error.hpp>
#include <berth/adapter.hpp>
#include <berth/clock.hpp>
#include <berth/events.hpp>
#include <berth/detail/cache_padded.hpp>
#include <berth/detail/idle_ring.hpp>
#include <berth/detail/slot_state.hpp>
#include <berth/options.hpp>
#include <berth/stats.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <source_location>
#include <thread>

namespace berth::detail {

inline constexpr std::uint32_t no_slot = 0xffffffffu;

class leak_tracker;  // pool_core.cpp: keeps Boost.Stacktrace out of public headers

/// This thread's last released slot for one pool. Four ways indexed by the
/// pool's id, so a thread alternating between a few pools keeps a hint in
/// each. Pool ids are never reused, so a hint of a destroyed pool never
/// matches a live one.
struct thread_hint {
  std::uint64_t pool_id = 0;
  std::uint32_t slot = 0;
};
inline constexpr std::size_t thread_hint_ways = 4;
inline thread_local std::array<thread_hint, thread_hint_ways> tls_hints{};

/// Per-slot metadata on its own 128-byte line pair.
struct slot_meta {
  slot_atomic word;
  /// Leases granted on this slot. Written only by the lessee while it owns
  /// the slot (relaxed load + store, no RMW: single writer); summed by stats.
  std::atomic<std::uint64_t> leases{0};
  /// Where the current lease was acquired; written by the lessee (relaxed,
  /// single writer), read by reports of outstanding leases.
  std::atomic<std::source_location> site{};
  /// Connections opened in this slot so far, and the current one's opening
  /// time and max_lifetime deadline (computed once, with its jitter).
  /// Written by the creator while the slot is connecting; the slot word's
  /// CAS chain [W1] publishes them to later owners. The reaper also reads
  /// them without owning the slot (relaxed: a value of a newer connection
  /// only makes it skip or re-check after reserving, see reap()).
  std::atomic<std::uint32_t> generation{0};
  std::atomic<std::uint64_t> leases_at_open{0};  // `leases` when it was opened
  std::atomic<clock_source::time_point> created{};
  std::atomic<clock_source::time_point> deadline{};
};
static_assert(std::atomic<std::source_location>::is_always_lock_free);
static_assert(std::atomic<clock_source::time_point>::is_always_lock_free);
static_assert(sizeof(cache_padded<slot_meta>) == cache_pair_size);

/// How a lease ends.
enum class release_mode : std::uint8_t { normal, unwinding, discard };

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
class pool_core : private clock_listener {
 public:
  pool_core(const pool_core&) = delete;
  pool_core& operator=(const pool_core&) = delete;

  /// The options, as validated. Thread-safe. Never blocks.
  const pool_options& options() const noexcept { return opts_; }

  /// Counts by state. Approximate under load, exact at quiescence.
  /// Thread-safe. Never blocks. Never allocates. O(max_size).
  pool_counts counts() const noexcept;

  /// Typed snapshot of counters and wait percentiles. Thread-safe. Briefly
  /// takes the slow-path mutex (never held on the fast path). O(max_size).
  pool_stats stats() const;

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

  /// True after close() or drain(). Thread-safe. Never blocks.
  bool closed() const noexcept { return (gate_.value.load(std::memory_order_acquire) & gate_closed) != 0; }

  /// Soft-evicts every connection: idle ones are closed now, leased ones when
  /// they come back. The pool refills as demand and min_idle require.
  /// Thread-safe.
  void evict_all() noexcept;

 protected:
  explicit pool_core(const pool_options& opts, clock_source& clock);
  ~pool_core();

  // ---- fast path -------------------------------------------------------

  /// Claims an idle slot that needs no attention without waiting: the
  /// thread's hint, then the ring. Returns its index, or no_slot when none
  /// is idle, acquirers are queued (fairness) or the pool is closed; then
  /// `held` is a claimed slot that carries the reaper's flags (the slow
  /// path checks, validates or retires it), or no_slot. Thread-safe. Never
  /// blocks. Never allocates. Reads no clock.
  std::uint32_t try_claim(std::source_location site, std::uint32_t& held) noexcept {
    held = no_slot;
    // [G1] relaxed: fairness heuristic, see the header.
    if (const std::uint64_t g = gate_.value.load(std::memory_order_relaxed); g != 0 && must_queue(g)) [[unlikely]]
      return no_slot;
    slot_word::rep w = 0;
    const std::uint32_t i = claim_idle(w);
    // The word our CAS replaced carries the reaper's flags: a flagged slot
    // takes the slow path.
    if (i == no_slot || (w & slot_word::attention_mask)) [[unlikely]] {
      held = i;
      return no_slot;
    }
    note_lease(i, site);
    return i;
  }

  /// Ends the lease on slot i (the caller owns it). Thread-safe. Never
  /// allocates. Never blocks in normal mode, except: when acquirers are
  /// queued a short mutex section hands the slot over, and in the ring's
  /// rare blocking corner (idle_ring.hpp) it yields until a preempted popper
  /// runs again.
  void release(std::uint32_t i, release_mode mode) noexcept {
    tls_hints[id_ % thread_hint_ways] = thread_hint{id_, i};
    if (leak_detection_) [[unlikely]]
      lease_ended(i);  // before anyone else can own slot i
    if (mode != release_mode::normal) [[unlikely]]
      return release_abnormal(i, mode);
    // [G3] seq_cst: pairs with close()/waiter registration [G2].
    if (const std::uint64_t g = gate_.value.load(std::memory_order_seq_cst); g != 0 && must_queue(g)) [[unlikely]]
      return offer_contended(i, slot_state::leased);
    publish(i, slot_state::leased);
  }

  // ---- slow path ---------------------------------------------------------

  /// Everything try_claim() could not do, within `limit`: checks `held` (a
  /// flagged slot the caller claimed, or no_slot), then, unless the limit
  /// is kind::now, waits FIFO until a slot is handed over or idle, the
  /// deadline passes, or the pool closes. The deadline bounds the whole
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

  /// close(), joins the pool's threads, and aborts with a report naming
  /// each outstanding lease (slot, acquisition site) if any is still out:
  /// the alternative is a silent use-after-free. Called by pool<A>'s
  /// destructor before its storage goes away.
  void shutdown() noexcept;

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

 private:
  struct waiter;
  static constexpr std::uint64_t gate_closed = std::uint64_t{1} << 63;
  static constexpr std::uint64_t gate_handoff = std::uint64_t{1} << 62;  // a waiter starved: strict
  static constexpr std::uint64_t gate_woken = std::uint64_t{1} << 61;    // [G5]
  static constexpr std::uint64_t gate_waiters = gate_woken - 1;

  /// True when an acquirer must queue and a releaser must hand off (strict
  /// FIFO), see "Fairness" in the header; also when the pool is closed.
  bool must_queue(std::uint64_t g) const noexcept {
    if (g & gate_closed) return true;
    const std::uint64_t w = g & gate_waiters;
    return w != 0 && ((g & gate_handoff) || w <= strict_waiters_);
  }

  slot_meta& meta(std::uint32_t i) const noexcept { return meta_[i].value; }

  void note_lease(std::uint32_t i, std::source_location site) noexcept {
    slot_meta& m = meta(i);
    // Relaxed: single writer (the lessee); readers want approximate values.
    m.leases.store(m.leases.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    m.site.store(site, std::memory_order_relaxed);
    if (leak_detection_) [[unlikely]]
      lease_began(i, site);  // leak detection on: time + stack, cold
  }

  /// This thread's hint, then the ring; w receives the slot's word before
  /// our CAS (its flags). Never blocks.
  std::uint32_t claim_idle(slot_word::rep& w) noexcept {
    const thread_hint h = tls_hints[id_ % thread_hint_ways];
    if (h.pool_id == id_ && (w = meta(h.slot).word.try_lease()) != 0) return h.slot;
    return pop_idle(w);
  }

  /// Pops indices until one leases; w receives its word before the CAS.
  std::uint32_t pop_idle(slot_word::rep& w) noexcept {
    std::uint32_t i;
    while (ring_.try_pop(i))
      if ((w = meta(i).word.lease_from_ring()) != 0) return i;
    return no_slot;
  }
  std::uint32_t pop_idle() noexcept {
    slot_word::rep w;
    return pop_idle(w);
  }

  /// Owner of `from` makes slot i idle and findable; see [G3].
  void publish(std::uint32_t i, slot_state from) noexcept {
    const slot_word::rep before = meta(i).word.publish_idle(from);
    if (before & slot_word::retire_mask) [[unlikely]]
      return retire(i, from, before & slot_word::evict ? close_reason::evicted : close_reason::expired);
    if (!(before & slot_word::in_ring)) push_idle(i);
    // [G3] seq_cst: after our publication; pairs with [G2] and [G6].
    if (const std::uint64_t g = gate_.value.load(std::memory_order_seq_cst); g != 0) [[unlikely]]
      after_publish(i, g);
  }

  void push_idle(std::uint32_t i) noexcept;
  void release_abnormal(std::uint32_t i, release_mode mode) noexcept;
  void offer_contended(std::uint32_t i, slot_state from) noexcept;
  void after_publish(std::uint32_t i, std::uint64_t g) noexcept;
  std::uint32_t claim_ready(std::uint32_t held, std::source_location site) noexcept;
  bool attend(std::uint32_t i, clock_source::time_point deadline) noexcept;
  bool validate_or_retire(std::uint32_t i, slot_state from, std::chrono::milliseconds timeout) noexcept;
  void lease_began(std::uint32_t i, std::source_location site) noexcept;
  void lease_ended(std::uint32_t i) noexcept;
  void check_leaks(clock_source::time_point now) noexcept;
  std::uint32_t wait_for_slot(clock_source::time_point deadline, clock_source::time_point start, bool front,
                              acquire_error& err, bool& blocked) noexcept;
  void wake_head() noexcept;
  void unlink_locked(waiter& w) noexcept;
  void give_locked(waiter& w, std::uint32_t i) noexcept;
  void settle_locked() noexcept;
  void retire(std::uint32_t i, slot_state from, close_reason why) noexcept;
  void emit(pool_event ev) const noexcept;
  void emit_evicted(std::uint32_t i) const noexcept;
  void opened(std::uint32_t i, clock_source::time_point now) noexcept;
  void reap(clock_source::time_point now) noexcept;
  void validate_stale(clock_source::time_point now) noexcept;
  bool reaper_enabled() const noexcept;
  bool hand_to_waiter_locked(std::uint32_t i, slot_state from) noexcept;
  void fail_waiters_locked() noexcept;
  void close_idle() noexcept;
  void fill_error_locked(acquire_error& err, errc code, std::chrono::nanoseconds waited) const;
  void fill_closed(acquire_error& err, std::chrono::nanoseconds waited) const noexcept;
  void fill_would_block(acquire_error& err) const noexcept;
  void record_wait_locked(std::chrono::nanoseconds waited) noexcept;
  void on_clock_advanced() noexcept override;
  void creator_loop() noexcept;
  void reaper_loop(clock_source::time_point first_pass) noexcept;
  bool creation_wanted_locked() const noexcept;
  void create_one(std::unique_lock<std::mutex>& lock) noexcept;
  void wake_creator() noexcept;

  // ---- immutable after construction ----
  const pool_options opts_;
  clock_source& clock_;
  const std::uint64_t id_;
  const bool leak_detection_;  // leak_threshold > 0
  /// Up to this many waiters, hand-off is always strict: 1 (a lone waiter
  /// is never passed over), or unlimited when handoff_after is 0.
  const std::uint64_t strict_waiters_;
  /// handoff_after in the clock's unit (bounded by validate(), so exact).
  const std::chrono::nanoseconds handoff_after_;
  std::unique_ptr<cache_padded<slot_meta>[]> meta_;
  /// Leak records (pool_core.cpp); null when leak_threshold is 0.
  std::unique_ptr<leak_tracker> leaks_;

  // ---- atomics only ----
  /// waiters (low 61 bits) | woken | handoff | closed. Read on every
  /// acquire/release, written only on the slow path.
  cache_padded<std::atomic<std::uint64_t>> gate_{};
  idle_ring ring_;
  /// Cold-path counters (relaxed: statistics, no ordering duty).
  std::atomic<std::uint64_t> created_{0}, destroyed_{0}, creation_failures_{0}, timeouts_{0},
      discarded_{0}, unwound_{0}, reaper_passes_{0}, validation_failures_{0},
      acquire_validations_{0}, leaks_suspected_{0};
  /// Slots not empty (connecting, idle, leased, reserved, closing). Relaxed:
  /// changed on cold paths and read under mutex_ after the changer locked it.
  std::atomic<std::size_t> open_{0};
  /// Set by a try_acquire that put back a stale connection it may not
  /// validate; the reaper, woken, validates the stale idle connections at
  /// once (validate_stale). Relaxed: a flag with no data behind it.
  std::atomic<bool> stale_skipped_{false};

  // ---- guarded by mutex_ (slow path only) ----
  mutable std::mutex mutex_;
  waiter* head_ = nullptr;  // FIFO of blocked acquirers
  waiter* tail_ = nullptr;
  std::size_t queued_ = 0;
  std::size_t connecting_ = 0;  // creations in flight
  std::uint32_t consecutive_failures_ = 0;
  clock_source::time_point retry_at_{};
  adapter_error last_creation_error_{};
  bool stop_ = false;
  std::uint64_t acquired_after_wait_ = 0;
  std::array<std::uint64_t, 64> wait_histogram_{};  // bucket b: waited < 2^b ns
  std::condition_variable creator_cv_;
  std::condition_variable reaper_cv_;
  std::condition_variable drained_cv_;
  std::minstd_rand jitter_rng_;

  // ---- creator thread only, or the constructor before it starts ----
  std::minstd_rand lifetime_rng_;  // lifetime jitter, drawn in opened()

  // ---- reaper thread only ----
  struct reaper_slot {
    std::uint32_t generation = 0;          // slot_meta::generation this entry describes
    std::uint64_t seen_leases = 0;         // slot_meta::leases at the last look
    clock_source::time_point last_used{};  // last pass that saw it leased or re-leased
    clock_source::time_point last_validated{};
  };
  std::unique_ptr<reaper_slot[]> reaper_;
  /// Idle-count samples, one per pass, over the last idle_timeout: a
  /// monotonic deque whose front is the window's minimum. Connections that
  /// stayed idle-surplus for the whole window are closed even if a FIFO
  /// rotation (threads without a hint popping the oldest idle connection)
  /// kept each one individually warm.
  std::deque<std::pair<clock_source::time_point, std::size_t>> idle_window_;
  clock_source::time_point idle_window_start_{};
  void close_idle_surplus(clock_source::time_point now, std::size_t idle, std::size_t& open) noexcept;

  // ---- the pool's threads: connection creation apart from the reaper, so
  // a hanging connect never delays a reaper pass and a long pass never
  // delays creation (HikariCP keeps its housekeeper and adder apart too).
  std::thread creator_;
  std::thread reaper_thread_;
};

}  // namespace berth::detail
