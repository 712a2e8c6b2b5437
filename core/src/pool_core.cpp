// pool_core.cpp: the slow paths, lifecycle and the two threads of
// pool_core; see pool_core.hpp for the parts it wires and the fast path.
#include <berth/detail/duration.hpp>
#include <berth/detail/pool_core.hpp>
#include <berth/lease.hpp>
#include <berth/detail/reaper_policy.hpp>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

namespace berth::detail {

namespace {
std::atomic<std::uint64_t> next_pool_id{1};  // relaxed: uniqueness only

const pool_options& checked(const pool_options& o) {
  if (auto err = validate(o)) throw *err;
  return o;
}

[[noreturn]] void die(const char* what) noexcept {
  std::fprintf(stderr, "berth: internal invariant violated: %s\n", what);
  std::abort();
}

breaker_config breaker_config_of(const pool_options& o) noexcept {
  return {.threshold = o.breaker_threshold,
          .window = saturating_ns(o.breaker_window),
          .recovery = saturating_ns(o.breaker_recovery),
          .recovery_max = saturating_ns(o.breaker_recovery_max)};
}
}  // namespace

void empty_lease_dereferenced() noexcept {
  std::fputs("berth::lease: no connection (moved from, released or discarded) was dereferenced\n", stderr);
  std::abort();
}

/// A blocked acquirer, on its own stack: sleeps on its own condition
/// variable, under mutex_, until wake().
class pool_core::blocking_waiter final : public waiter {
 public:
  std::condition_variable cv;
  void wake() noexcept override { cv.notify_one(); }
};

namespace {
/// validate_on_acquire with validation_bypass 0 (pool_core::always_validate_).
bool always_validates(const pool_options& o) noexcept {
  return o.validate_on_acquire && o.validation_bypass.count() == 0;
}
/// pool_core::hold_mask_.
std::uint64_t hold_mask_of(const pool_options& o) noexcept {
  return o.hold_time_sampling == 0 ? ~std::uint64_t{0} : o.hold_time_sampling - 1u;
}
}  // namespace

pool_core::pool_core(const pool_options& opts, clock_source& clock)
    : pool_core(opts, clock, next_pool_id.fetch_add(1, std::memory_order_relaxed)) {}

pool_core::pool_core(const pool_options& opts, clock_source& clock, std::uint64_t id)
    : opts_(checked(opts)),
      clock_(clock),
      hint_offset_(static_cast<std::uint32_t>(id % thread_hint_ways * sizeof(thread_hint))),
      discard_on_unwind_(opts_.on_unwind == unwind_policy::discard),
      fast_key_(always_validates(opts_) ? ~std::uint64_t{0} : id),
      check_mask_(opts_.leak_threshold.count() > 0 ? 0 : hold_mask_of(opts_)),
      slots_(slot_capacity(opts_)),  // max_size_limit: resize() may grow max_size up to it
      always_validate_(always_validates(opts_)),
      slow_mask_(always_validate_ ? ~slot_word::rep{0} : slot_word::attention_mask),
      id_(id),
      events_(opts_),
      leaks_(opts_.leak_threshold.count() > 0
                 ? std::make_unique<leak_tracker>(slots_.size(), opts_.leak_threshold, events_)
                 : nullptr),
      hold_mask_(hold_mask_of(opts_)),
      ring_(2 * slots_.size()),  // see push_idle()
      sizing_(pack({.max_size = opts_.max_size, .min_idle = opts_.min_idle})),
      sync_(std::make_unique<sync_block>()),
      mutex_(sync_->mutex),
      waiters_(mutex_, gate_.line().word, *this, saturating_ns(opts_.handoff_after)),
      creator_(opts_, static_cast<std::uint_fast32_t>(std::random_device{}() ^ id_)),
      breaker_(breaker_config_of(opts_), static_cast<std::uint_fast32_t>(std::random_device{}() ^ (id_ << 8))),
      creator_cv_(sync_->creator_cv),
      reaper_cv_(sync_->reaper_cv),
      drained_cv_(sync_->drained_cv),
      async_cv_(sync_->async_cv),
      async_done_cv_(sync_->async_done_cv),
      lifetime_rng_(static_cast<std::uint_fast32_t>(std::random_device{}() ^ (id_ << 16))),
      reaper_(opts_, slots_, *this, leaks_.get()) {
  rate_from_ = rate_mark_ = {.at = clock_.now(), .acquired = 0};
  clock_.subscribe(*this);
  listen_for_fork();  // last: the child handler may call on_forked() from now on
}

pool_core::~pool_core() {
  stop_listening_for_fork();
  if (creator_thread_.joinable() || reaper_thread_.joinable() || async_thread_.joinable())
    die("pool destroyed without shutdown()");
  clock_.unsubscribe(*this);
}

void pool_core::abandon() noexcept {
  // A fork child (forked()): the threads are the parent's; joining would
  // wait forever and destroying a joinable std::thread terminates. Moving
  // each into a std::thread that is never destroyed leaves this one empty
  // without a pthread call. glibc's pthread_cond_destroy waits until the
  // waiters it counts have left, and those are the parent's threads: the
  // block is leaked too (a few hundred bytes, once per inherited pool).
  for (std::thread* t : {&creator_thread_, &reaper_thread_, &async_thread_})
    if (t->joinable()) (void)new (std::nothrow) std::thread(std::move(*t));
  (void)sync_.release();
  gate_.abandon();  // a parent's releaser may have been pinned at the fork: the line stays out of the table
}

void pool_core::fill_forked(acquire_error& err) const noexcept {
  err.code = errc::forked;
  err.counts = counts();
  try {
    err.pool_name = opts_.name;
  } catch (...) {  // out of memory: the code still says it
  }
}

void pool_core::note_lease_checked(slot_meta& m, std::source_location site) noexcept {
  const std::uint64_t n = m.leases.load(std::memory_order_relaxed);  // our own count_lease() (single writer)
  const std::uint32_t i = slot_index(m);
  const clock_source::time_point now = clock_.now();
  if ((n & hold_mask_) == 0) m.hold_since.store(now, std::memory_order_relaxed);  // timed; single writer, see slot.hpp
  if (leaks_) leaks_->began(i, now, site);  // leak detection on: time + stack
}

// ---- release side ------------------------------------------------------------

void pool_core::end_hold(std::uint32_t i) noexcept {
  slot_meta& m = slots_[i];
  // Relaxed: single writer, see slot.hpp.
  holds_.record(i, saturating_sub(clock_.now(), m.hold_since.load(std::memory_order_relaxed)));
  m.hold_since.store(clock_source::time_point::min(), std::memory_order_relaxed);
}

void pool_core::push_idle(std::uint32_t i) noexcept {
  // Each index is in the ring at most once (in_ring) and the ring holds
  // 2 * slots, so the ring is never full. A push can still fail when the
  // cell one lap ahead is held by a popper preempted between its claim and
  // its release of that cell (idle_ring.hpp, "Blocking corner"); it frees as
  // soon as that thread runs again. Yield meanwhile. Regression:
  // stress_pool's hammer scenarios under TSan (IdleRingStalledPopperBug).
  while (!ring_.try_push(i)) std::this_thread::yield();
}

void pool_core::release_abnormal(std::uint32_t i, release_mode mode) noexcept {
  if (forked()) return;  // [G8] no adapter call in a fork child: the slot stays leased (leaked)
  if (mode == release_mode::discard) {
    pool_counters::bump(counters_.discarded);
    return retire(i, slot_state::leased, close_reason::discarded);
  }
  if (mode == release_mode::unwinding) {
    pool_counters::bump(counters_.unwound);
    if (opts_.on_unwind == unwind_policy::discard) return retire(i, slot_state::leased, close_reason::unwound);
  }
  if (!reset_slot(i)) return retire(i, slot_state::leased, close_reason::reset_failed);
  give_back(i);
}

void pool_core::give_back(std::uint32_t i) noexcept {
  // Never used: not a hold to record, but a lease may have been noted (a
  // completion dropped unrun). Relaxed: lessee only, see slot.hpp.
  slots_[i].hold_since.store(clock_source::time_point::min(), std::memory_order_relaxed);
  if (waiters_.must_hand(load_gate(std::memory_order_seq_cst)))  // [G3]
    return offer_contended(i, slot_state::leased);
  publish(i, slot_state::leased);
}

void pool_core::offer_contended(std::uint32_t i, slot_state from) noexcept {
  const std::uint64_t g = load_gate(std::memory_order_seq_cst);  // [G3]
  if (g & waiter_queue::gate_forked) return;  // [G8] a fork child: no mutex, no close; the slot is leaked
  if (g & waiter_queue::gate_closed) return retire(i, from, close_reason::pool_closed);
  bool spared;
  {
    std::lock_guard lk(mutex_);
    // A connection a waiter got moments ago stays with it while others
    // wait behind the owed head: the owed hand-off waits for another
    // releaser ("Fairness" in waiter_queue.hpp), else the thread just
    // served would be the likeliest to lose its connection again at once.
    // With one waiter there is no queue to cycle through: hand it over.
    spared = waiters_.queued_locked() > 1 && fresh_tenure(i);
    if (!spared && hand_to_waiter_locked(i, from)) return;
  }
  publish(i, from, spared);
}

bool pool_core::hand_to_waiter_locked(std::uint32_t i, slot_state from) noexcept {
  // A slot flagged to retire (evicted, resized) is retired by its owner
  // (outside mutex_), not handed; while suspended nothing is handed [G7].
  if (waiters_.empty_locked() || waiters_.suspended_locked() || (slots_[i].word.flags() & slot_word::retire_mask))
    return false;
  if (from != slot_state::leased && !slots_[i].word.transition(from, slot_state::leased))
    die("hand-off by a non-owner");
  note_handed(i);  // before the waiter can run [G4]
  return waiters_.hand_locked(i);
}

void pool_core::after_publish(std::uint32_t i, std::uint64_t g, bool spared) noexcept {
  // We published slot i and then saw a non-zero gate [G3]: the pool closed,
  // or a waiter may have registered before seeing our publication.
  if (g & waiter_queue::gate_forked) return;  // [G8] nobody waits in a fork child
  if (g & waiter_queue::gate_closed) {
    if (slots_[i].word.try_reserve()) retire(i, slot_state::reserved, close_reason::pool_closed);
    return;
  }
  // [G7] suspended: the connection stays idle; resume() settles, and its
  // clear of the bit follows our push in S if our load saw the bit.
  if (g & waiter_queue::gate_suspended) return;
  if (spared || !waiters_.must_hand(g)) {  // a spared slot: as in throughput mode
    waiters_.wake_head();  // throughput: the head competes [G5]
    if (spared) return;
    // Give the woken waiter a chance to run before this thread, likely to
    // acquire again at once, takes the connection back: yield while it is
    // still idle and two or more wait ("Fairness" in waiter_queue.hpp; a
    // lone waiter on a machine with a free core runs anyway, and the
    // yield's system call would only slow the releaser), unless this
    // connection's tenure is fresh (it keeps it). Each check is a relaxed
    // load: a stale value only ends the courtesy early or late.
    for (int k = 0; k < release_yields && slots_[i].word.state() == slot_state::idle &&
                    (load_gate(std::memory_order_relaxed) & waiter_queue::gate_waiters) > 1 &&
                    !fresh_tenure(i);
         ++k)
      std::this_thread::yield();
    return;
  }
  std::lock_guard lk(mutex_);
  waiters_.settle_locked();  // strict: what we published (or whatever is idle) goes to the head
}

void pool_core::retire(std::uint32_t i, slot_state from, close_reason why) noexcept {
  slot_atomic& w = slots_[i].word;
  if (!w.transition(from, slot_state::closing)) die("retire by a non-owner");
  close_slot(i);
  if (events_.enabled()) {  // after the adapter closed it: "closed" means closed
    // created: written by the creator before publication; we own slot i.
    const auto age = saturating_sub(clock_.now(), slots_[i].created.load(std::memory_order_relaxed));
    events_.emit({.kind = event_kind::closed, .reason = why, .slot = i, .age = age});
  }
  w.clear_flags(slot_word::all_flags);
  if (!w.transition(slot_state::closing, slot_state::empty)) die("closing slot changed hands");
  pool_counters::bump(counters_.destroyed);
  // The count goes down under mutex_, as this thread's last touch of the
  // pool: drain() reads open_ under mutex_, so neither it nor a destruction
  // after it can go on before this thread lets go of the mutex. Counted
  // down before the lock, a drain() could see 0 and the pool be destroyed
  // while this thread still had to lock the mutex to notify
  // (ForcedInterleavingTest.ADrainWaitsForTheThreadRetiringTheLastSlotBug:
  // Registry.DestructorWaitsForOutstandingLeases hung 1 run in ~7 on a freed
  // mutex). The release paths return right after retire().
  std::lock_guard lk(mutex_);
  // release: pairs with drain()'s and the reaper's acquire loads, so they see
  // every adapter.close() effect.
  open_.fetch_sub(1, std::memory_order_release);
  BERTH_TEST_HOOK(slot_retired, nullptr);  // test builds only (test_hooks.hpp)
  wake_creator_locked();
}

// ---- acquire side --------------------------------------------------------------

std::uint32_t pool_core::claim_slow(std::uint32_t held, const acquire_limit& limit, std::source_location site,
                                    acquire_error& err) noexcept {
  if (forked()) [[unlikely]] {  // [G8]: try_claim queued us without claiming (held is no_slot)
    fill_forked(err);
    return no_slot;
  }
  if (limit.k == acquire_limit::kind::now) {
    // try_acquire: held == no_slot means the fast path found nothing idle or
    // was told to queue behind waiters.
    if (held == no_slot) {
      fill_would_block(err, false);
      return no_slot;
    }
    // A flagged claim is stale (an idle slot carries no other flag:
    // publish_idle stops on the retire flags, evict, expired and resized,
    // which are set only on owned slots) or validation_bypass is 0.
    std::uint32_t i = held;
    if (slots_[i].word.flags() & slot_word::stale) {
      skip_stale(i);
      i = pop_ready();
    }
    // pop_ready() gives up only after putting stale connections back.
    if (i == no_slot) {
      fill_would_block(err, true);
      return no_slot;
    }
    remember(i);  // not the stale one the fast path found: it went back
    note_lease(i, site);
    return i;
  }
  // The call's start: the fast path read no clock, so this is it.
  const auto start = clock_.now();
  const auto deadline =
      limit.k == acquire_limit::kind::relative ? deadline_after(start, limit.timeout) : limit.deadline;
  std::uint32_t i = held;
  bool waited = false;     // this call has blocked at some point: it keeps its place at the head
  bool no_time = false;    // a connection needed validation and the deadline left no time for it
  for (;;) {
    if (i == no_slot) {
      bool blocked = false;
      i = wait_for_slot(deadline, start, waited, err, blocked);
      if (i == no_slot) {
        if (err.code == errc::timeout) {
          err.awaiting_validation = no_time;
          fill_lease_sites(err, site);
        }
        return no_slot;
      }
      waited |= blocked;
    }
    // Outside mutex_: attend() may validate through the adapter.
    if (check_claimed(i, deadline, no_time)) {
      if (waited) {  // counted only for a connection actually handed out
        const auto d = saturating_sub(clock_.now(), start);
        std::lock_guard lk(mutex_);
        waits_.record(d);
      }
      remember(i);  // a slot that reached us on the slow path is this thread's hint too
      note_lease(i, site);
      return i;
    }
    // The connection was retired or put back. A waiter keeps its place at
    // the head of the queue, however many validations fail in a row
    // (AcquireDeadlineTest.AWaiterKeepsItsPlaceAfterTwoFailedValidationsBug); nobody
    // starts a wait or a validation once the deadline has passed.
    i = no_slot;
    if (const auto now = clock_.now(); now >= deadline) {
      {
        std::lock_guard lk(mutex_);
        fill_error_locked(err, errc::timeout, saturating_sub(now, start));
        pool_counters::bump(counters_.timeouts);
      }
      err.awaiting_validation = no_time;
      fill_lease_sites(err, site);
      return no_slot;
    }
  }
}

void pool_core::skip_stale(std::uint32_t i) noexcept {
  // Slot i is ours, stale, and will not be validated by this caller: it goes
  // back for a blocking acquirer, and the reaper is asked to validate it now
  // rather than at its next pass. Under mutex_ so that the request cannot
  // fall between the reaper's check and its wait; only the first skipper
  // since the last validation asks. Relaxed: a flag with no data behind it
  // (the slots carry their own).
  publish(i, slot_state::leased);
  if (!stale_skipped_.exchange(true, std::memory_order_relaxed)) {
    std::lock_guard lk(mutex_);
    reaper_cv_.notify_one();
  }
}

std::uint32_t pool_core::pop_ready() noexcept {
  // Cold paths that never validate (try_acquire, a try-once acquire), after
  // the caller put back the one slot it examined: an idle connection that
  // needs no validation, skipping stale ones. Bounded: at most as many slots
  // as the pool has are examined, the caller's included (so a pool of one
  // does not take back the slot it just put back). A retire flag set after
  // our claim is acted on when the lease ends, as for any lease.
  for (std::size_t seen = 1; seen < slots_.size(); ++seen) {
    slot_word::rep w = 0;
    const std::uint32_t i = pop_idle(w);  // not the hint: it may be a slot just put back
    if (i == no_slot) return no_slot;
    if (!(w & slot_word::attention_mask)) return i;
    skip_stale(i);  // idle: stale is its only possible flag (see claim_slow)
  }
  return no_slot;
}

bool pool_core::check_claimed(std::uint32_t& i, clock_source::time_point deadline, bool& no_time) noexcept {
  if (!(slots_[i].word.flags() & slot_word::attention_mask) && !always_validate_) return true;
  const attended a = attend(i, deadline);
  if (a == attended::ready) return true;
  if (a == attended::closed) return false;
  // The deadline passed before the validation could start (a try-once
  // acquire: zero timeout or a deadline already passed): another idle
  // connection may need none (README "Deadlines").
  no_time = true;
  i = always_validate_ ? no_slot : pop_ready();
  return i != no_slot;
}

pool_core::attended pool_core::attend(std::uint32_t i, clock_source::time_point deadline) noexcept {
  // The caller holds slot i leased and has not handed it out yet.
  const slot_word::rep f = slots_[i].word.flags();
  if (f & slot_word::retire_mask) {
    retire(i, slot_state::leased, retire_reason(f));
    return attended::closed;
  }
  if ((f & slot_word::stale) || always_validate_) {  // idle past validation_bypass: check before use
    // The validation gets at most the time left; none starts after the
    // deadline: the connection goes back, still stale, for the next one
    // (and the reaper validates a stale one now).
    const std::chrono::nanoseconds left = saturating_sub(deadline, clock_.now());
    if (left <= std::chrono::nanoseconds::zero()) {
      if (f & slot_word::stale)
        skip_stale(i);
      else
        publish(i, slot_state::leased);
      return attended::no_time;
    }
    const auto timeout = left >= opts_.validation_timeout ? opts_.validation_timeout
                                                          : std::chrono::ceil<std::chrono::milliseconds>(left);
    if (!validate_or_retire(i, slot_state::leased, timeout)) return attended::closed;
    pool_counters::bump(counters_.acquire_validations);
  }
  return attended::ready;
}

bool pool_core::validate_or_retire(std::uint32_t i, slot_state from, std::chrono::milliseconds timeout) noexcept {
  // The caller owns slot i in state `from` (leased or reserved). The stale
  // flag goes before the validation, not after: one that a sweep sets
  // meanwhile (sweep_slots) must survive it, since this validation may have
  // judged the connection by what the adapter knew before that sweep.
  slots_[i].word.clear_flags(slot_word::stale);
  auto v = validate_slot(i, timeout);
  if (v) return true;
  events_.emit(
      {.kind = event_kind::validation_failed, .slot = i, .error = v.error().code, .message = v.error().message});
  pool_counters::bump(counters_.validation_failures);
  retire(i, from, close_reason::validation_failed);
  return false;
}

std::uint32_t pool_core::wait_for_slot(clock_source::time_point deadline, clock_source::time_point start, bool front,
                                       acquire_error& err, bool& blocked) noexcept {
  if (closed()) {  // fail at once, no mutex
    fill_closed(err, saturating_sub(clock_.now(), start));
    return no_slot;
  }
  BERTH_TEST_HOOK(acquire_slow, nullptr);  // test builds only (test_hooks.hpp)
  std::unique_lock lk(mutex_);
  if (load_gate(std::memory_order_relaxed) & waiter_queue::gate_closed) {  // set before close() locks
    fill_closed(err, saturating_sub(clock_.now(), start));
    return no_slot;
  }
  if (const std::uint32_t i = waiters_.register_locked(); i != no_slot) return i;  // [G2]
  if (breaker_refuses_locked()) {  // nothing idle, and no connection will be created: fail at once
    waiters_.withdraw_locked();
    refuse_locked(err, saturating_sub(clock_.now(), start));
    return no_slot;
  }
  blocking_waiter w;
  w.since = start;
  waiters_.enqueue_locked(w, front);
  if (w.slot == no_slot && creation_wanted_locked()) creator_cv_.notify_one();
  for (;;) {
    if (w.slot != no_slot) {  // [G4] handed over; the hander unlinked us
      blocked = true;
      waiters_.served_locked(clock_.now());
      return w.slot;
    }
    if (w.closed) {
      fill_error_locked(err, errc::pool_closed, saturating_sub(clock_.now(), start));
      return no_slot;
    }
    if (w.rejected) {  // the breaker opened while we waited for a creation (reject_waiters_locked)
      refuse_locked(err, saturating_sub(clock_.now(), start));
      return no_slot;
    }
    const auto now = clock_.now();
    if (now >= deadline) {
      fill_error_locked(err, errc::timeout, saturating_sub(now, start));  // counts include this waiter
      waiters_.leave_locked(w);
      pool_counters::bump(counters_.timeouts);
      return no_slot;
    }
    clock_.wait_until(w.cv, lk, deadline);
    BERTH_TEST_HOOK(waiter_woke, &w);
    if (w.slot != no_slot || w.closed || w.rejected) continue;
    if (const std::uint32_t i = waiters_.after_wake_locked(w); i != no_slot) {
      blocked = true;
      return i;
    }
    BERTH_TEST_HOOK(woken_found_nothing, &w);
    waiters_.starving_locked(saturating_sub(clock_.now(), start));
  }
}

// ---- errors and statistics -----------------------------------------------------

void pool_core::fill_would_block(acquire_error& err, bool skipped_stale) const noexcept {
  err.code = closed() ? errc::pool_closed : errc::would_block;
  err.counts = counts();
  err.awaiting_validation = skipped_stale;
}

void pool_core::fill_closed(acquire_error& err, std::chrono::nanoseconds waited) const noexcept {
  err.code = errc::pool_closed;
  err.counts = counts();
  err.waited = waited;
  try {
    err.pool_name = opts_.name;
  } catch (...) {  // out of memory: the code still says it
  }
}

void pool_core::fill_lease_sites(acquire_error& err, std::source_location site) const noexcept {
  err.site = site;
  // Distinct sites of the leased slots, by count. The site is the lessee's
  // relaxed store (note_lease): a slot handed over and not yet noted shows
  // its previous lease's site; approximate by contract.
  struct tally {
    std::source_location where;
    std::size_t count;
  };
  constexpr std::size_t distinct = 16;  // beyond that, the most frequent are likely among the first seen
  tally seen[distinct];
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].word.state() != slot_state::leased) continue;
    const std::source_location at = slots_[i].site.load(std::memory_order_relaxed);  // see above
    if (at.line() == 0) continue;
    std::size_t k = 0;
    while (k < n && !(seen[k].where.line() == at.line() && seen[k].where.file_name() == at.file_name() &&
                      seen[k].where.function_name() == at.function_name()))
      ++k;
    if (k < n)
      ++seen[k].count;
    else if (n < distinct)
      seen[n++] = {at, 1};
  }
  std::sort(seen, seen + n, [](const tally& a, const tally& b) { return a.count > b.count; });
  try {
    err.lease_sites.clear();
    for (std::size_t k = 0; k < n && k < acquire_error::max_lease_sites; ++k)
      err.lease_sites.push_back({seen[k].where, seen[k].count});
  } catch (...) {  // out of memory: the counts still tell the story
  }
}

void pool_core::fill_error_locked(acquire_error& err, errc code, std::chrono::nanoseconds waited) const {
  err.code = code;
  err.counts = counts();
  err.waited = waited;
  try {
    err.pool_name = opts_.name;
    err.last_creation_error = creator_.last_error_locked().code;
    err.last_creation_message = creator_.last_error_locked().message;
  } catch (...) {  // out of memory: the code and counts still tell the story
  }
}

pool_counts pool_core::counts() const noexcept {
  pool_counts c;
  const pool_sizing z = sizing();
  c.max_size = z.max_size;
  c.min_idle = z.min_idle;
  slots_.count_states(c);
  const std::uint64_t g = load_gate(std::memory_order_relaxed);  // approximate by contract
  c.waiting = static_cast<std::size_t>(g & waiter_queue::gate_waiters);
  c.strict_handoff = c.waiting != 0 && waiters_.must_hand(g);
  c.suspended = (g & waiter_queue::gate_suspended) != 0;
  return c;
}

pool_stats pool_core::stats() const {
  pool_stats s;
  s.counts = counts();
  s.acquired = slots_.leases_total();
  counters_.read_into(s);
  s.leaks_suspected = leaks_ ? leaks_->suspected() : 0;
  if (forked()) return s;  // [G8] mutex_ may be held by a parent's thread: the lock-free part only
  std::lock_guard lk(mutex_);
  s.breaker = breaker_.state();
  s.breaker_opened = breaker_.times_opened();
  s.acquired_after_wait = waits_.count();
  // Fast-path acquires waited ~0. The per-slot sums are read without
  // stopping the pool, so clamp.
  // Acquires that did not wait: the per-slot lease sum (read above, without
  // the lock) minus the waits recorded. A waiter records its wait before its
  // lease is counted, so this can come out one short of an earlier call's
  // value; wait_time's buckets are Prometheus counters, which must never go
  // down (a drop reads as a reset), so the largest value reported stands.
  // The true count only grows, and this is a lower bound of it.
  const std::uint64_t zero_waits = zero_waits_reported_ = std::max(
      zero_waits_reported_, s.acquired > s.acquired_after_wait ? s.acquired - s.acquired_after_wait : 0);
  s.wait = waits_.percentiles(zero_waits);
  s.wait_time = waits_.histogram(zero_waits);
  s.hold_time = holds_.snapshot();
  s.creation_time = connects_.snapshot();
  s.size_hint = size_hint_locked(s.acquired, s.hold_time);
  return s;
}

pool_size_hint pool_core::size_hint_locked(std::uint64_t acquired, const duration_histogram& holds) const noexcept {
  const auto now = clock_.now();
  // The window starts at the latest earlier call at least 1 s old (the
  // pool's start until there is one), so frequent callers (a scraper and a
  // dashboard) do not shrink each other's windows below 1 s.
  if (now - rate_mark_.at >= std::chrono::seconds{1}) rate_from_ = rate_mark_;
  pool_size_hint h;
  h.rate_window = saturating_sub(now, rate_from_.at);
  const std::uint64_t n = acquired > rate_from_.acquired ? acquired - rate_from_.acquired : 0;
  if (h.rate_window.count() > 0)
    h.acquire_rate = static_cast<double>(n) * 1e9 / static_cast<double>(h.rate_window.count());
  if (now - rate_mark_.at >= std::chrono::seconds{1})
    rate_mark_ = {.at = now, .acquired = acquired, .holds = holds.count, .hold_sum = holds.sum};
  // The mean hold over the same window (the load of the moment), or over the
  // pool's life when no timed lease ended in the window.
  if (holds.count > rate_from_.holds && holds.sum >= rate_from_.hold_sum)
    h.mean_hold = (holds.sum - rate_from_.hold_sum) / static_cast<std::int64_t>(holds.count - rate_from_.holds);
  else
    h.mean_hold = holds.mean();
  if (holds.count != 0) {
    h.busy = h.acquire_rate * static_cast<double>(h.mean_hold.count()) * 1e-9;
    const double n_conn = std::ceil(h.busy + 3.0 * std::sqrt(h.busy));
    constexpr double cap = 1e15;  // far past any max_size; keeps the cast defined
    h.suggested_max_size = std::max<std::size_t>(1, static_cast<std::size_t>(std::min(n_conn, cap)));
  }
  return h;
}

// ---- lifecycle -----------------------------------------------------------------

void pool_core::close_idle() noexcept {
  for (std::uint32_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].word.try_reserve()) retire(i, slot_state::reserved, close_reason::pool_closed);
}

void pool_core::close() noexcept {
  if (forked()) return;  // [G8] the parent's pool: nothing to close here
  waiters_.mark_closed();  // [G2] then scan for idle
  {
    std::lock_guard lk(mutex_);
    stop_ = true;
    waiters_.fail_all_locked();
    creator_cv_.notify_all();
    reaper_cv_.notify_all();
  }
  close_idle();
}

std::error_code pool_core::drain(std::chrono::nanoseconds timeout) noexcept {
  if (forked()) return errc::forked;  // [G8]
  const auto deadline = deadline_after(clock_.now(), timeout);  // the timeout runs from the call
  close();
  std::unique_lock lk(mutex_);
  while (open_.load(std::memory_order_acquire) != 0) {  // pairs with retire()'s release
    if (clock_.now() >= deadline) return errc::drain_timeout;
    clock_.wait_until(drained_cv_, lk, deadline);
  }
  return {};
}

void pool_core::evict_all() noexcept {
  if (forked()) return;  // [G8] no adapter call in a fork child
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].word.try_reserve()) {
      events_.emit({.kind = event_kind::evicted, .slot = i});
      retire(i, slot_state::reserved, close_reason::evicted);
    } else if (slots_[i].word.mark_evict_if_owned()) {
      events_.emit({.kind = event_kind::evicted, .slot = i});  // closed (reason evicted) when its owner lets go
    }
  }
}

void pool_core::evict_slot(std::uint32_t i) noexcept {
  if (slots_[i].word.mark_evict_if_owned()) events_.emit({.kind = event_kind::evicted, .slot = i});
}

void pool_core::sweep_slots(bool (*evict)(const void*, std::uint32_t) noexcept, const void* ctx,
                             bool owned_too) noexcept {
  if (forked()) return;  // [G8] no adapter call in a fork child
  // Flag, then reserve: a slot idle at the flag but leased before our
  // reserve carries stale to its lessee, whose claim reads the flag from the
  // word its CAS replaced (try_claim's slow_mask_), so it validates first;
  // one owned throughout keeps the flag until its next acquirer validates.
  // The stale flag means the same as the reaper's (reaper.cpp), so
  // try_acquire, the reaper and attend() need nothing new.
  constexpr unsigned live = slot_atomic::owned_states | slot_atomic::state_bit(slot_state::idle);
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {  // every slot that may hold a connection
    slot_atomic& w = slots_[i].word;
    // [S1] seq_cst: with the adapter's seq_cst write of what makes a
    // connection stale (before it calls sweep()) and its seq_cst read of it
    // when it connects (after the creator's begin_connect CAS), this load is
    // in one total order with them: a connection whose adapter read happened
    // before that write began connecting before this load, so this load sees
    // its slot connecting or later, never the empty word from before.
    if (!(live & slot_atomic::state_bit(w.state(std::memory_order_seq_cst)))) continue;  // empty or closing
    const bool flagged = owned_too && w.mark_if(slot_word::stale, live);
    if (!w.try_reserve()) continue;  // owned: flagged above (or stale already)
    // Our flag goes (not one that was there before), and before the
    // examination, as in validate_or_retire(): a concurrent sweep that found
    // the flag set and left the slot to us did so before this clear, so what
    // it made stale is visible to evict() below. (A reaper flag set between
    // our mark and our reserve goes too: the reaper sets it again at its
    // next pass if the connection is still unused.)
    if (flagged) w.clear_flags(slot_word::stale);
    if (evict(ctx, i)) {
      events_.emit({.kind = event_kind::evicted, .slot = i});
      retire(i, slot_state::reserved, close_reason::evicted);
    } else {
      publish(i, slot_state::reserved);
    }
  }
}

void pool_core::on_clock_advanced() noexcept {
  if (forked()) return;  // [G8] nobody waits in a fork child, and mutex_ may be held
  std::lock_guard lk(mutex_);
  waiters_.wake_all_locked();
  async_cv_.notify_all();
  creator_cv_.notify_all();
  reaper_cv_.notify_all();
  drained_cv_.notify_all();
}

void pool_core::start() {
  if (opts_.startup == startup_mode::fail_fast) {
    std::uint32_t opened = 0;
    for (; opened < opts_.min_idle; ++opened) {
      slots_[opened].word.try_begin_connect();
      open_.fetch_add(1, std::memory_order_relaxed);
      const auto began = clock_.now();
      auto r = open_slot(opened);
      if (!r) {
        slots_[opened].word.fail_connect();
        open_.fetch_sub(1, std::memory_order_relaxed);
        pool_counters::bump(counters_.creation_failures);
        // Every created has its closed, and the refusal its creation_failed,
        // as when the creator fails: a hook counting open connections per
        // pool does not drift when construction fails
        // (PoolTest.AFailedFailFastStartEmitsCreationFailedAndClosesWhatItOpenedBug).
        events_.emit({.kind = event_kind::creation_failed,
                      .slot = opened,
                      .error = r.error().code,
                      .message = r.error().message});
        for (std::uint32_t k = 0; k < opened; ++k) retire(k, slot_state::connecting, close_reason::pool_closed);
        throw std::system_error(make_error_code(errc::startup_failed),
                                "berth pool '" + opts_.name + "': could not open connection " +
                                    std::to_string(opened + 1) + " of min_idle=" +
                                    std::to_string(opts_.min_idle) + ": " + r.error().message);
      }
      pool_counters::bump(counters_.created);
      const auto now = clock_.now();
      connects_.record(saturating_sub(now, began));
      this->opened(opened, now);
    }
    for (std::uint32_t k = 0; k < opened; ++k) publish(k, slot_state::connecting);
  }
  // The first pass is due one period after construction, not after the
  // thread happens to be scheduled.
  const auto first_pass = saturating_add(clock_.now(), saturating_ns(opts_.reaper_period));
  try {
    creator_thread_ = std::thread([this] { creator_loop(); });
    if (reaper_enabled()) reaper_thread_ = std::thread([this, first_pass] { reaper_loop(first_pass); });
  } catch (...) {  // no thread: close what start-up opened, then report
    shutdown();
    throw;
  }
  // The reaper thread's first use of the symbolizer loads the debug
  // information (~100 ms; libbacktrace keeps it per thread). Waited for
  // here, so that it delays construction, not the first passes and with
  // them the first leak reports (LeakTest.TheFirstReportIsNotLateBug).
  if (leaks_) reaper_warm_.wait(false, std::memory_order_acquire);  // pairs with reaper_loop's release store
}

void pool_core::shutdown() noexcept {
  close();
  if (creator_thread_.joinable()) creator_thread_.join();
  if (reaper_thread_.joinable()) reaper_thread_.join();
  stop_async();  // every asynchronous request completes (pool_closed) first
  close_idle();  // anything published by the creator or reaper before they saw stop_
  BERTH_TEST_HOOK(idle_closed, nullptr);  // test builds only (test_hooks.hpp)
  std::string report;
  std::size_t outstanding = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    // acquire: pairs with the [W1] chain, so that a releaser's mark [M1],
    // stored before its publication, is visible to wait_for_releasers(),
    // and its generation load [L1] happens before gate_.retire()'s bump
    // (gate_line.hpp): it cannot read the bumped value and pin the next
    // pool to hold the line. Do not weaken.
    if (slots_[i].word.state(std::memory_order_acquire) != slot_state::leased) continue;
    ++outstanding;
    const std::source_location at = slots_[i].site.load(std::memory_order_relaxed);
    char line[512];
    std::snprintf(line, sizeof line, "  slot %" PRIu32 ": acquired at %s:%u in %s\n", i, at.file_name(),
                  static_cast<unsigned>(at.line()), at.function_name());
    report += line;
  }
  if (outstanding != 0) {
    std::fprintf(stderr,
                 "berth: pool '%s' destroyed with %zu lease(s) still outstanding; their "
                 "connections would be used after free. Leases:\n%s"
                 "Release every lease (or call drain()) before destroying the pool.\n",
                 opts_.name.c_str(), outstanding, report.c_str());
    std::abort();
  }
  // Every lease is back. A releaser may still be past its publication:
  // inline ones enter the pool only through a pin of the gate line, which
  // fails from the generation's bump on; the general paths are marked
  // (release_mark.hpp). Wait for both; then nothing publishes any more, and
  // a connection an inline releaser published after close() and left idle
  // (its pin failed) is closed here.
  gate_.retire();
  wait_for_releasers();
  close_idle();
  wait_for_retirements();
}

void pool_core::after_publish_pinned(pool_core* p, slot_meta& m, gate_line& gate, std::uint64_t generation) noexcept {
  if (!pin(gate, generation)) return;  // the pool is gone or going: its destruction closes what we published
  BERTH_TEST_HOOK(release_pinned, nullptr);  // test builds only (test_hooks.hpp)
  // [G3] seq_cst: a later load than release()'s, after the same publication.
  if (const std::uint64_t g = gate.word.load(std::memory_order_seq_cst); g != 0)
    p->after_publish(p->slot_index(m), g, false);
  unpin(gate);  // [L4] our last access to the pool is behind us
}

void pool_core::wait_for_retirements() noexcept {
  // No lease is out, but a releaser may still be retiring its connection
  // (a discard, a failed reset, a lease ended into the closed pool): its
  // slot is closing, not leased, so the scan above passed it, and a pool
  // destroyed without a completed drain() (~registry goes on after a
  // drain_timeout) would be freed under it. retire()'s last touch is under
  // mutex_, where it counts open_ down and notifies drained_cv_: wait for
  // open_ to reach 0 there. The creator and reaper are joined and
  // close_idle() retired what was idle, so only such retirements remain.
  std::unique_lock lk(mutex_);
  bool reported = false;
  while (open_.load(std::memory_order_acquire) != 0) {  // pairs with retire()'s release
    BERTH_TEST_HOOK(retirement_awaited, nullptr);      // test builds only (test_hooks.hpp)
    if (drained_cv_.wait_for(lk, std::chrono::seconds{10}) == std::cv_status::timeout && !reported) {
      reported = true;  // an adapter's close() that hangs: say what the destruction waits for
      std::fprintf(stderr,
                   "berth: pool '%s' is being destroyed and has waited 10 s for %zu connection(s) still "
                   "being closed by the adapter (a discarded lease, a failed reset, or one returned after "
                   "close()); it waits on.\n",
                   opts_.name.c_str(), static_cast<std::size_t>(open_.load(std::memory_order_relaxed)));
    }
  }
}

void pool_core::wait_for_releasers() noexcept {
  // Every lease is back, but a releaser may still be between its
  // publication and its last access to this pool (release_mark.hpp). The
  // window is a few instructions unless the thread was preempted there:
  // yield, then sleep in growing steps (destruction is not a hot path).
  std::chrono::microseconds nap{0};
  const auto since = std::chrono::steady_clock::now();
  bool reported = false;
  while (releasing(this) || gate_.pinned()) {
    BERTH_TEST_HOOK(releaser_awaited, nullptr);  // test builds only (test_hooks.hpp)
    if (nap.count() == 0) {
      std::this_thread::yield();
      nap = std::chrono::microseconds{1};
    } else {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds{1000});
    }
    if (!reported && std::chrono::steady_clock::now() - since > std::chrono::seconds{10}) {
      reported = true;  // a thread stuck inside a release (waking a waiter, yielding to it)
      std::fprintf(stderr,
                   "berth: pool '%s' is being destroyed and has waited 10 s for a thread still inside "
                   "release() (past the point where its lease counted as returned); it waits on.\n",
                   opts_.name.c_str());
    }
  }
}

// ---- creator thread ------------------------------------------------------------

bool pool_core::creation_wanted_locked() const noexcept {
  // Nothing is opened while suspended [G7]: resume() wakes the creator.
  return !stop_ && !waiters_.suspended_locked() &&
         creator_.wanted_locked(open_.load(std::memory_order_relaxed), waiters_.queued_locked());
}

bool pool_core::probe_wanted_locked() const noexcept {
  // Below min_idle (creator_.wanted_locked), or an acquirer was refused: in
  // either case, room for one more connection under the max_size in force
  // (resize()); never while suspended [G7]. open_ relaxed, as in
  // creation_wanted_locked (see breaker_refuses_locked).
  return creation_wanted_locked() ||
         (!stop_ && !waiters_.suspended_locked() && refused_since_probe_ &&
          open_.load(std::memory_order_relaxed) < creator_.max_size_locked());
}

bool pool_core::breaker_refuses_locked() const noexcept {
  // Never while suspended [G7]: acquirers then wait for resume() up to
  // their deadline, whatever the breaker says (resume() wakes the creator,
  // which refuses those its pour did not serve). open_ is relaxed: its
  // changers lock mutex_ afterwards (retire() through wake_creator()), so a
  // stale max_size here only queues the acquirer, and the creator, woken by
  // that retire(), rejects it (reject_waiters_locked).
  return breaker_.rejecting() && !waiters_.suspended_locked() &&
         open_.load(std::memory_order_relaxed) < creator_.max_size_locked();
}

void pool_core::refuse_locked(acquire_error& err, std::chrono::nanoseconds waited) {
  fill_error_locked(err, errc::database_unavailable, waited);  // the last creation error with it
  // Always with its cause: a refused waiter may fill this after a probe
  // succeeded and cleared the last error (an asynchronous one runs on its
  // executor later): the failure that opened the breaker is the cause.
  if (!err.last_creation_error && err.last_creation_message.empty()) {
    try {
      err.last_creation_error = creator_.last_failure_locked().code;
      err.last_creation_message = creator_.last_failure_locked().message;
    } catch (...) {  // out of memory: the code still says what happened
    }
  }
  pool_counters::bump(counters_.breaker_rejected);
  // Demand for a connection: the probe is worth making. Only while the
  // breaker refuses (a rejected waiter may run after a probe closed it).
  if (breaker_.rejecting() && !refused_since_probe_) {
    refused_since_probe_ = true;
    creator_cv_.notify_one();
  }
}

void pool_core::reject_waiters_locked() noexcept {
  // Every queued waiter waits for a connection the pool will not create
  // while the breaker refuses (unless every slot is open: then they wait
  // for releases). The waiters fill their own error (refuse_locked).
  if (breaker_refuses_locked() && !waiters_.empty_locked()) {
    // A connection published by a release that only woke the head would
    // otherwise stay idle while that head is refused: hand what is idle to
    // the heads first [G6], then refuse the rest.
    waiters_.settle_locked();
    if (waiters_.empty_locked()) return;
    refused_since_probe_ = true;
    waiters_.reject_all_locked();
  }
}

void pool_core::breaker_opened_locked(std::unique_lock<std::mutex>& lk) noexcept {
  reject_waiters_locked();
  if (!events_.enabled()) return;
  // The event is delivered without the lock: copy what it shows.
  const adapter_error& last = creator_.last_error_locked();
  const std::error_code code = last.code;
  std::string message;
  try {
    message = last.message;
  } catch (...) {  // out of memory: the code still says it
  }
  const auto interval = breaker_.open_interval();
  lk.unlock();
  events_.emit({.kind = event_kind::breaker_opened, .age = interval, .error = code, .message = message});
  lk.lock();
}

void pool_core::wake_creator() noexcept {
  std::lock_guard lk(mutex_);
  wake_creator_locked();
}

void pool_core::creator_loop() noexcept {
  std::unique_lock lk(mutex_);
  while (!stop_) {
    if (trim_requested_) {  // resize() lowered max_size
      trim_requested_ = false;
      const std::size_t max = creator_.max_size_locked();
      lk.unlock();
      trim_excess(max);
      lk.lock();
      continue;
    }
    if (breaker_.rejecting()) {
      // Open (half_open lasts only inside create_one): no attempt but the
      // probe, made once the recovery interval has passed and only if a
      // connection is wanted. Waiters for a creation are failed now; this
      // also catches those queued at max_size whose slot has since closed
      // (retire() wakes us).
      reject_waiters_locked();
      if (!probe_wanted_locked())
        creator_cv_.wait(lk);
      else if (clock_.now() >= breaker_.probe_at())
        create_one(lk);
      else
        clock_.wait_until(creator_cv_, lk, breaker_.probe_at());
      continue;
    }
    const bool create = creation_wanted_locked();
    if (create && clock_.now() >= creator_.retry_at_locked()) {
      create_one(lk);
      continue;
    }
    if (create)
      clock_.wait_until(creator_cv_, lk, creator_.retry_at_locked());
    else
      creator_cv_.wait(lk);
  }
}

void pool_core::create_one(std::unique_lock<std::mutex>& lk) noexcept {
  std::uint32_t i = 0;
  while (i < slots_.size() && !slots_[i].word.try_begin_connect()) ++i;
  if (i == slots_.size()) {  // open_ counted a slot still closing: wait for its retire()
    creator_cv_.wait(lk);
    return;
  }
  // The caller checked under this lock hold that the breaker admits an
  // attempt now (closed, or open with the probe due); the clock only moves
  // forward. A probe turns it half_open until its outcome below.
  const auto admitted = breaker_.admit(clock_.now());
  if (admitted == circuit_breaker::admission::refuse) die("creation attempt refused by the breaker");
  const bool probe = admitted == circuit_breaker::admission::probe;
  if (probe) refused_since_probe_ = false;
  open_.fetch_add(1, std::memory_order_relaxed);
  creator_.began_locked();
  lk.unlock();
  if (probe) events_.emit({.kind = event_kind::breaker_half_open});
  const auto began = clock_.now();
  auto r = open_slot(i);
  if (r) {
    const auto now = clock_.now();
    connects_.record(saturating_sub(now, began));
    opened(i, now);
  } else {
    events_.emit(
        {.kind = event_kind::creation_failed, .slot = i, .error = r.error().code, .message = r.error().message});
  }
  lk.lock();
  if (!r) {
    if (!slots_[i].word.fail_connect()) die("failed connect by a non-owner");
    open_.fetch_sub(1, std::memory_order_relaxed);
    // The clock first: whoever sees the count sees a backoff that runs from
    // no later than their own now() (PoolTest.AFailedConnectLeavesNoFlagForTheNextConnection).
    const auto now = clock_.now();
    pool_counters::bump(counters_.creation_failures);
    creator_.failed_locked(std::move(r).error(), now);
    if (breaker_.failed(now)) breaker_opened_locked(lk);
    drained_cv_.notify_all();
    return;
  }
  pool_counters::bump(counters_.created);
  creator_.succeeded_locked();
  if (breaker_.succeeded()) {  // the probe (or a late attempt) got through: acquirers wait for creations again
    refused_since_probe_ = false;
    lk.unlock();
    events_.emit({.kind = event_kind::breaker_closed});
    lk.lock();
  }
  if (stop_) {
    lk.unlock();
    retire(i, slot_state::connecting, close_reason::pool_closed);
    lk.lock();
    return;
  }
  if (hand_to_waiter_locked(i, slot_state::connecting)) return;
  lk.unlock();
  publish(i, slot_state::connecting);
  lk.lock();
}

void pool_core::opened(std::uint32_t i, clock_source::time_point now) noexcept {
  // The creator (or the constructor before the threads start) owns slot i
  // (connecting): these writes reach later owners through [W1], and the
  // reaper tells the new connection by its generation.
  slot_meta& m = slots_[i];
  m.created.store(now, std::memory_order_relaxed);
  m.deadline.store(lifetime_deadline(now, opts_, std::uniform_real_distribution<double>(0.0, 1.0)(lifetime_rng_)),
                   std::memory_order_relaxed);
  m.leases_at_open.store(m.leases.load(std::memory_order_relaxed), std::memory_order_relaxed);
  m.generation.store(m.generation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // single writer
  events_.emit({.kind = event_kind::created, .slot = i});
}

// ---- reaper thread -------------------------------------------------------------

bool pool_core::reaper_enabled() const noexcept {
  return reaper_forced_ || opts_.idle_timeout.count() > 0 || opts_.max_lifetime.count() > 0 || opts_.keepalive_interval.count() > 0 ||
         opts_.validation_interval.count() > 0 || opts_.validate_on_acquire || opts_.leak_threshold.count() > 0 ||
         opts_.adaptive_min_idle;
}

void pool_core::reaper_loop(clock_source::time_point next_pass) noexcept {
  if (leaks_) {
    leak_tracker::warm_up();
    reaper_warm_.store(true, std::memory_order_release);  // pairs with start()'s acquire wait
    reaper_warm_.notify_all();
  }
  const auto period = saturating_ns(opts_.reaper_period);
  std::unique_lock lk(mutex_);
  while (!stop_) {
    const auto now = clock_.now();
    if (now >= next_pass) {
      // One pass however late we are: a delayed reaper judges the state as
      // it is now instead of replaying missed passes, so it catches up
      // without a storm of closes.
      lk.unlock();
      reaper_.pass(now);
      pool_counters::bump(counters_.reaper_passes);
      lk.lock();
      next_pass = saturating_add(now, period);
      continue;
    }
    if (stale_skipped_.exchange(false, std::memory_order_relaxed)) {  // a try_acquire skipped a stale connection
      lk.unlock();
      reaper_.validate_stale(now);
      lk.lock();
      continue;
    }
    clock_.wait_until(reaper_cv_, lk, next_pass);
  }
}

}  // namespace berth::detail

// ---- living with change (issue 11) ----------------------------------------------

namespace berth::detail {

pool_sizing pool_core::sizing() const noexcept {
  return unpack(sizing_.load(std::memory_order_relaxed));  // see sizing_
}

void pool_core::set_sizing_locked(pool_sizing s) noexcept {
  creator_.resize_locked(s.max_size, s.min_idle);
  sizing_.store(pack(s), std::memory_order_relaxed);  // see sizing_: writers are ordered by mutex_
}

void pool_core::resize(const pool_sizing& s) {
  if (auto err = validate(s, opts_)) throw *err;
  if (forked()) return;  // [G8]
  {
    std::lock_guard lk(mutex_);
    if (s.max_size < creator_.max_size_locked()) trim_requested_ = true;
    set_sizing_locked(s);
    // Growing: creation for the waiters and min_idle. Shrinking: the trim.
    creator_cv_.notify_one();
  }
  events_.emit({.kind = event_kind::resized, .max_size = s.max_size, .min_idle = s.min_idle});
}

void pool_core::trim_excess(std::size_t max_size) noexcept {
  // Creator thread: no connection is opened while this runs, so a slot that
  // is idle or owned without a retire flag now was "staying" in the count
  // below too. Each success below (we retire an idle slot, or we doom an
  // owned one that nothing else had doomed) takes one staying connection
  // away, so `excess` of them leave exactly `max_size` staying. A slot that
  // closes for another reason meanwhile (a discard, an expiry) is not ours
  // to count: its close linearizes after the trim, as it would after a
  // resize that it followed.
  std::size_t open = 0, going = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    const slot_word::rep w = slots_[i].word.word();  // [W2]
    const slot_state st = slot_word::state(w);
    if (st == slot_state::empty) continue;
    ++open;
    if (st == slot_state::closing || (w & slot_word::retire_mask)) ++going;
  }
  if (open <= going + max_size) return;
  std::size_t excess = open - going - max_size;
  // Idle ones first, from the top (the creator fills from the bottom).
  for (std::uint32_t i = static_cast<std::uint32_t>(slots_.size()); excess > 0 && i-- > 0;) {
    if (slots_[i].word.try_reserve()) {  // reserve-then-act
      retire(i, slot_state::reserved, close_reason::resized);
      --excess;
    }
  }
  // Then owned ones: flagged, retired by their owner at release.
  constexpr unsigned owned =
      slot_atomic::state_bit(slot_state::leased) | slot_atomic::state_bit(slot_state::reserved);
  for (std::uint32_t i = static_cast<std::uint32_t>(slots_.size()); excess > 0 && i-- > 0;) {
    for (;;) {
      if (slots_[i].word.try_reserve()) {  // released since the loop above
        retire(i, slot_state::reserved, close_reason::resized);
        --excess;
        break;
      }
      if (slots_[i].word.mark_retire_if_none(slot_word::resized, owned)) {
        --excess;
        break;
      }
      // Empty, closing, already doomed, or idle again: look once more only
      // in the last case.
      if (slots_[i].word.state() != slot_state::idle) break;
    }
  }
}

void pool_core::suspend() noexcept {
  if (forked()) return;  // [G8]
  bool was;
  {
    std::lock_guard lk(mutex_);
    was = waiters_.suspended_locked();
    waiters_.suspend_locked();  // [G7]
  }
  if (!was) events_.emit({.kind = event_kind::suspended});
}

void pool_core::resume() noexcept {
  if (forked()) return;  // [G8]
  {
    std::lock_guard lk(mutex_);
    if (!waiters_.suspended_locked()) return;
    waiters_.resume_locked();  // [G7]: FIFO pour, clear, settle
    creator_cv_.notify_one();  // creation was held
  }
  events_.emit({.kind = event_kind::resumed});
}

demand_signal pool_core::demand() const noexcept {
  std::lock_guard lk(mutex_);
  demand_signal d;
  d.waiting = waiters_.queued_locked();
  d.waited = waits_.count() + counters_.timeouts.load(std::memory_order_relaxed);  // a count, nothing behind it
  d.open = open_.load(std::memory_order_acquire);  // pairs with retire()'s release
  d.sizing = sizing();
  d.suspended = waiters_.suspended_locked();
  return d;
}

void pool_core::adapt_min_idle(std::size_t min_idle) noexcept {
  pool_sizing s;
  {
    std::lock_guard lk(mutex_);
    s = sizing();
    // The bounds again, against the max_size in force now (a resize may
    // have come between the reaper's look and this call).
    const std::size_t next =
        std::min({std::max(min_idle, opts_.min_idle_floor), effective_min_idle_ceiling(opts_), s.max_size});
    if (next == s.min_idle) return;
    s.min_idle = next;
    set_sizing_locked(s);
    creator_cv_.notify_one();  // a higher min_idle: open up to it
  }
  events_.emit({.kind = event_kind::resized, .max_size = s.max_size, .min_idle = s.min_idle});
}

}  // namespace berth::detail
