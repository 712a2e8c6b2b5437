// pool_core.cpp: the slow paths, lifecycle, creator and reaper threads of
// pool_core. Synchronization pairs and the waiter protocol are described in
// pool_core.hpp.
#include <berth/detail/backoff.hpp>
#include <berth/detail/duration.hpp>
#include <berth/detail/pool_core.hpp>
#include <berth/detail/reaper_policy.hpp>

#include <boost/stacktrace.hpp>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

std::string to_ms(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}
}  // namespace

/// Per-slot leak records, present only when leak_threshold > 0. A record
/// describes the lease currently out on its slot: the lessee writes it when
/// the lease is handed out (lease_began), whoever ends the lease clears it
/// before the slot can change hands (lease_ended, from release()), and the
/// reaper judges it (check_leaks). Each record has its own mutex, held only
/// to copy a few fields: the stack is symbolized outside it, on the reaper
/// thread, so neither a release nor an acquire ever waits for a report.
class leak_tracker {
 public:
  struct record {
    std::mutex mutex;
    bool active = false;    // a lease is out and watched
    bool reported = false;  // leak_suspected was emitted for it
    clock_source::time_point acquired{};
    std::source_location site{};
    boost::stacktrace::stacktrace trace{0, 0};  // empty until the first lease
  };
  explicit leak_tracker(std::size_t n) : records_(std::make_unique<record[]>(n)) {}
  record& operator[](std::uint32_t i) noexcept { return records_[i]; }

 private:
  std::unique_ptr<record[]> records_;
};

/// A blocked acquirer, on its own stack; linked into the FIFO under mutex_.
struct pool_core::waiter {
  waiter* prev = nullptr;
  waiter* next = nullptr;
  std::condition_variable cv;
  std::uint32_t slot = no_slot;  // set by a hand-off [G4]
  bool closed = false;           // set by close()
};

pool_core::pool_core(const pool_options& opts, clock_source& clock)
    : opts_(checked(opts)),
      clock_(clock),
      id_(next_pool_id.fetch_add(1, std::memory_order_relaxed)),
      leak_detection_(opts_.leak_threshold.count() > 0),
      strict_waiters_(opts_.handoff_after.count() == 0 ? gate_waiters : 1),
      handoff_after_(saturating_ns(opts_.handoff_after)),
      meta_(std::make_unique<cache_padded<slot_meta>[]>(opts.max_size)),
      leaks_(opts.leak_threshold.count() > 0 ? std::make_unique<leak_tracker>(opts.max_size) : nullptr),
      ring_(2 * opts.max_size),  // see push_idle()
      jitter_rng_(static_cast<std::uint_fast32_t>(std::random_device{}() ^ id_)),
      lifetime_rng_(static_cast<std::uint_fast32_t>(std::random_device{}() ^ (id_ << 16))),
      reaper_(std::make_unique<reaper_slot[]>(opts.max_size)) {
  clock_.subscribe(*this);
}

pool_core::~pool_core() {
  if (creator_.joinable() || reaper_thread_.joinable()) die("pool destroyed without shutdown()");
  clock_.unsubscribe(*this);
}

void pool_core::push_idle(std::uint32_t i) noexcept {
  // Each index is in the ring at most once (in_ring) and the ring holds
  // 2 * max_size, so the ring is never full. A push can still fail when the
  // cell one lap ahead is held by a popper preempted between its claim and
  // its release of that cell (idle_ring.hpp, "Blocking corner"); it frees as
  // soon as that thread runs again. Yield meanwhile. Regression:
  // stress_pool's hammer scenarios under TSan (IdleRingStalledPopperBug).
  while (!ring_.try_push(i)) std::this_thread::yield();
}

void pool_core::release_abnormal(std::uint32_t i, release_mode mode) noexcept {
  if (mode == release_mode::discard) {
    discarded_.fetch_add(1, std::memory_order_relaxed);
    return retire(i, slot_state::leased, close_reason::discarded);
  }
  unwound_.fetch_add(1, std::memory_order_relaxed);
  if (opts_.on_unwind == unwind_policy::discard) return retire(i, slot_state::leased, close_reason::unwound);
  if (!reset_slot(i)) return retire(i, slot_state::leased, close_reason::reset_failed);
  if (must_queue(gate_.value.load(std::memory_order_seq_cst))) return offer_contended(i, slot_state::leased);  // [G3]
  publish(i, slot_state::leased);
}

void pool_core::offer_contended(std::uint32_t i, slot_state from) noexcept {
  if (gate_.value.load(std::memory_order_seq_cst) & gate_closed)  // [G3]
    return retire(i, from, close_reason::pool_closed);
  {
    std::lock_guard lk(mutex_);
    if (hand_to_waiter_locked(i, from)) return;
  }
  publish(i, from);
}

bool pool_core::hand_to_waiter_locked(std::uint32_t i, slot_state from) noexcept {
  // An evicted slot is retired by its owner (outside mutex_), not handed.
  if (head_ == nullptr || (meta(i).word.flags() & slot_word::evict)) return false;
  if (from != slot_state::leased && !meta(i).word.transition(from, slot_state::leased))
    die("hand-off by a non-owner");
  give_locked(*head_, i);
  settle_locked();  // the queue changed [G6]
  return true;
}

void pool_core::give_locked(waiter& w, std::uint32_t i) noexcept {
  unlink_locked(w);
  w.slot = i;  // [G4] read by the waiter under mutex_
  // Notify under the lock: once unlocked the waiter may return and its
  // stack-resident cv would be gone.
  w.cv.notify_one();
}

void pool_core::unlink_locked(waiter& w) noexcept {
  const bool was_head = head_ == &w;
  (w.prev ? w.prev->next : head_) = w.next;
  (w.next ? w.next->prev : tail_) = w.prev;
  w.prev = w.next = nullptr;
  --queued_;
  // [G2] deregister; [G6] a seq_cst RMW before the caller's settle.
  gate_.value.fetch_sub(1, std::memory_order_seq_cst);
  if (was_head) {
    // [G5] the notified head is gone: the next publication wakes the new one.
    std::uint64_t clear = gate_woken;
    if (head_ == nullptr) clear |= gate_handoff;  // no waiter left to starve
    gate_.value.fetch_and(~clear, std::memory_order_seq_cst);
  }
}

void pool_core::settle_locked() noexcept {
  // [G6] After a change of the queue or the mode: nobody may sleep while a
  // connection is idle. Pop for the head until the ring or the queue is
  // empty; a popped slot that carries flags is checked by the waiter.
  while (head_ != nullptr) {
    const std::uint32_t i = pop_idle();
    if (i == no_slot) return;
    give_locked(*head_, i);
  }
}

void pool_core::after_publish(std::uint32_t i, std::uint64_t g) noexcept {
  // We published slot i and then saw a non-zero gate [G3]: the pool closed,
  // or a waiter may have registered before seeing our publication.
  if (g & gate_closed) {
    if (meta(i).word.try_reserve()) retire(i, slot_state::reserved, close_reason::pool_closed);
    return;
  }
  if (!must_queue(g)) return wake_head();  // throughput: the head competes [G5]
  std::lock_guard lk(mutex_);
  settle_locked();  // strict: what we published (or whatever is idle) goes to the head
}

void pool_core::wake_head() noexcept {
  std::uint64_t g = gate_.value.load(std::memory_order_relaxed);  // seeds the CAS
  while ((g & gate_waiters) != 0 && !(g & gate_woken)) {
    // [G5] one releaser wins the right to notify.
    if (gate_.value.compare_exchange_weak(g, g | gate_woken, std::memory_order_seq_cst,
                                          std::memory_order_relaxed)) {
      std::lock_guard lk(mutex_);
      if (head_ != nullptr)
        head_->cv.notify_one();
      else
        gate_.value.fetch_and(~gate_woken, std::memory_order_seq_cst);  // it left meanwhile
      return;
    }
  }
}

void pool_core::retire(std::uint32_t i, slot_state from, close_reason why) noexcept {
  slot_atomic& w = meta(i).word;
  if (!w.transition(from, slot_state::closing)) die("retire by a non-owner");
  close_slot(i);
  if (opts_.on_event) {  // after the adapter closed it: "closed" means closed
    // created: written by the creator before publication; we own slot i.
    emit({.kind = event_kind::closed, .reason = why, .slot = i, .age = saturating_sub(clock_.now(), meta(i).created.load(std::memory_order_relaxed))});
  }
  w.clear_flags(slot_word::all_flags);
  if (!w.transition(slot_state::closing, slot_state::empty)) die("closing slot changed hands");
  destroyed_.fetch_add(1, std::memory_order_relaxed);
  // release: pairs with drain()'s acquire load, so a drained pool's caller
  // sees every adapter.close() effect.
  open_.fetch_sub(1, std::memory_order_release);
  wake_creator();
}

void pool_core::emit(pool_event ev) const noexcept {
  if (!opts_.on_event) return;
  ev.pool = opts_.name;
  try {
    opts_.on_event(ev);
  } catch (...) {  // a throwing logger must not take the pool down
  }
}

void pool_core::opened(std::uint32_t i, clock_source::time_point now) noexcept {
  // The creator (or the constructor before the threads start) owns slot i
  // (connecting): these writes reach later owners through [W1], and the
  // reaper tells the new connection by its generation.
  slot_meta& m = meta(i);
  m.created.store(now, std::memory_order_relaxed);
  m.deadline.store(lifetime_deadline(now, opts_, std::uniform_real_distribution<double>(0.0, 1.0)(lifetime_rng_)),
                   std::memory_order_relaxed);
  m.leases_at_open.store(m.leases.load(std::memory_order_relaxed), std::memory_order_relaxed);
  m.generation.store(m.generation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // single writer
  emit({.kind = event_kind::created, .slot = i});
}

void pool_core::wake_creator() noexcept {
  std::lock_guard lk(mutex_);
  creator_cv_.notify_one();
  drained_cv_.notify_all();
}

std::uint32_t pool_core::claim_slow(std::uint32_t held, const acquire_limit& limit, std::source_location site,
                                    acquire_error& err) noexcept {
  if (limit.k == acquire_limit::kind::now) {
    // try_acquire: held == no_slot means the fast path found nothing idle or
    // was told to queue behind waiters.
    const std::uint32_t i = held == no_slot ? no_slot : claim_ready(held, site);
    if (i == no_slot) fill_would_block(err);
    return i;
  }
  // The call's start: the fast path read no clock, so this is it.
  const auto start = clock_.now();
  const auto deadline =
      limit.k == acquire_limit::kind::relative ? deadline_after(start, limit.timeout) : limit.deadline;
  std::uint32_t i = held;
  bool front = false;
  bool waited = false;  // this call has blocked at some point
  for (;;) {
    bool blocked = false;
    if (i == no_slot) {
      i = wait_for_slot(deadline, start, front, err, blocked);
      if (i == no_slot) return no_slot;
      waited |= blocked;
    }
    // Outside mutex_: attend() may validate through the adapter.
    if (!(meta(i).word.flags() & slot_word::attention_mask) || attend(i, deadline)) {
      if (waited) {  // counted only for a connection actually handed out
        const auto d = saturating_sub(clock_.now(), start);
        std::lock_guard lk(mutex_);
        ++acquired_after_wait_;
        record_wait_locked(d);
      }
      note_lease(i, site);
      return i;
    }
    // The connection was retired or put back. A waiter keeps its place at
    // the head of the queue; nobody starts a wait or a validation once the
    // deadline has passed.
    front = blocked;
    i = no_slot;
    if (const auto now = clock_.now(); now >= deadline) {
      std::lock_guard lk(mutex_);
      fill_error_locked(err, errc::timeout, saturating_sub(now, start));
      timeouts_.fetch_add(1, std::memory_order_relaxed);
      return no_slot;
    }
  }
}

std::uint32_t pool_core::claim_ready(std::uint32_t i, std::source_location site) noexcept {
  // try_acquire's cold path: slot i is ours and was stale when we claimed
  // it (an idle slot carries no other flag: publish_idle stops on evict and
  // expired, which are set only on owned slots). It never validates (that
  // may block): the connection goes back for a blocking acquirer, and the
  // reaper's next pass validates it. A retire flag set after our claim is
  // acted on when the lease ends, as for any lease. Bounded: at most
  // max_size slots are examined.
  for (std::size_t seen = 1;; ++seen) {
    if (!(meta(i).word.flags() & slot_word::stale)) {
      note_lease(i, site);
      return i;
    }
    publish(i, slot_state::leased);
    // Ask the reaper to validate it now rather than at its next pass. Under
    // mutex_ so that the request cannot fall between the reaper's check and
    // its wait; only the first skipper since the last validation asks.
    // Relaxed: a flag with no data behind it (the slots carry their own).
    if (!stale_skipped_.exchange(true, std::memory_order_relaxed)) {
      std::lock_guard lk(mutex_);
      reaper_cv_.notify_one();
    }
    if (seen >= opts_.max_size) return no_slot;
    slot_word::rep w = 0;
    i = pop_idle(w);  // not the hint: it may be the slot just put back
    if (i == no_slot) return no_slot;
    if (!(w & slot_word::attention_mask)) {
      note_lease(i, site);
      return i;
    }
  }
}

bool pool_core::attend(std::uint32_t i, clock_source::time_point deadline) noexcept {
  // The caller holds slot i leased and has not handed it out yet.
  const slot_word::rep f = meta(i).word.flags();
  if (f & slot_word::retire_mask) {
    retire(i, slot_state::leased, f & slot_word::evict ? close_reason::evicted : close_reason::expired);
    return false;
  }
  if (f & slot_word::stale) {  // idle past validation_bypass: check before use
    // The validation gets at most the time left; none starts after the
    // deadline (the connection goes back, still stale, for the next one).
    const std::chrono::nanoseconds left = saturating_sub(deadline, clock_.now());
    if (left <= std::chrono::nanoseconds::zero()) {
      publish(i, slot_state::leased);
      return false;
    }
    const auto timeout = left >= opts_.validation_timeout ? opts_.validation_timeout
                                                          : std::chrono::ceil<std::chrono::milliseconds>(left);
    if (!validate_or_retire(i, slot_state::leased, timeout)) return false;
    acquire_validations_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

bool pool_core::validate_or_retire(std::uint32_t i, slot_state from, std::chrono::milliseconds timeout) noexcept {
  // The caller owns slot i in state `from` (leased or reserved).
  auto v = validate_slot(i, timeout);
  if (v) {
    meta(i).word.clear_flags(slot_word::stale);
    return true;
  }
  emit({.kind = event_kind::validation_failed, .slot = i, .error = v.error().code, .message = v.error().message});
  validation_failures_.fetch_add(1, std::memory_order_relaxed);
  retire(i, from, close_reason::validation_failed);
  return false;
}

void pool_core::lease_began(std::uint32_t i, std::source_location site) noexcept {
  boost::stacktrace::stacktrace trace;  // captured outside the lock; empty if out of memory
  const auto now = clock_.now();
  leak_tracker::record& r = (*leaks_)[i];
  std::lock_guard lk(r.mutex);
  r.active = true;
  r.reported = false;
  r.acquired = now;
  r.site = site;
  r.trace = std::move(trace);
}

void pool_core::lease_ended(std::uint32_t i) noexcept {
  // The releaser still owns slot i: nobody else can begin a lease on it.
  leak_tracker::record& r = (*leaks_)[i];
  std::chrono::nanoseconds held{};
  {
    std::lock_guard lk(r.mutex);
    if (!r.active) return;
    r.active = false;
    if (!r.reported) return;
    r.reported = false;
    held = saturating_sub(clock_.now(), r.acquired);
  }
  std::string msg;
  try {
    msg = "lease on slot " + std::to_string(i) + " returned after " + to_ms(held) + " ms";
  } catch (...) {  // out of memory: the event still says it
  }
  emit({.kind = event_kind::leak_returned, .slot = i, .age = held, .message = msg});
}

void pool_core::check_leaks(clock_source::time_point now) noexcept {
  // Reaper thread. A record is judged only while its lease is out and
  // recorded: a slot leased but not yet handed out (validation at acquire,
  // a waiter not yet running) has no active record, so no earlier lease is
  // ever judged in its place.
  for (std::uint32_t i = 0; i < opts_.max_size; ++i) {
    leak_tracker::record& r = (*leaks_)[i];
    std::chrono::nanoseconds held{};
    std::source_location at{};
    boost::stacktrace::stacktrace trace{0, 0};
    {
      std::lock_guard lk(r.mutex);
      if (!r.active || r.reported) continue;
      held = saturating_sub(now, r.acquired);
      if (held < opts_.leak_threshold) continue;
      r.reported = true;
      at = r.site;
      trace = std::move(r.trace);  // reported once: the record needs it no more
    }
    leaks_suspected_.fetch_add(1, std::memory_order_relaxed);
    std::string report;
    try {  // symbolized here, with no lock held
      report = "lease on slot " + std::to_string(i) + " held " + to_ms(held) + " ms (leak_threshold " +
               std::to_string(opts_.leak_threshold.count()) + " ms), acquired at " + at.file_name() + ":" +
               std::to_string(at.line()) + " in " + at.function_name() + "\nstack at acquire:\n" +
               boost::stacktrace::to_string(trace);
    } catch (...) {
    }
    emit({.kind = event_kind::leak_suspected, .slot = i, .age = held, .message = report});
  }
}

std::uint32_t pool_core::wait_for_slot(clock_source::time_point deadline, clock_source::time_point start, bool front,
                                       acquire_error& err, bool& blocked) noexcept {
  if (gate_.value.load(std::memory_order_acquire) & gate_closed) {  // fail at once, no mutex
    fill_closed(err, saturating_sub(clock_.now(), start));
    return no_slot;
  }
  std::unique_lock lk(mutex_);
  if (gate_.value.load(std::memory_order_relaxed) & gate_closed) {  // set before close() locks mutex_
    fill_closed(err, saturating_sub(clock_.now(), start));
    return no_slot;
  }
  gate_.value.fetch_add(1, std::memory_order_seq_cst);  // [G2] register, then look again
  if (std::uint32_t i = pop_idle(); i != no_slot) {
    gate_.value.fetch_sub(1, std::memory_order_seq_cst);  // [G6] the count changed
    settle_locked();
    return i;
  }
  waiter w;
  if (front && head_ != nullptr) {  // a handed connection failed its check: keep our place
    w.next = head_;
    head_->prev = &w;
    head_ = &w;
    // [G5] woken referred to the old head; the new head has not been told.
    gate_.value.fetch_and(~gate_woken, std::memory_order_seq_cst);
  } else {
    w.prev = tail_;
    (tail_ ? tail_->next : head_) = &w;
    tail_ = &w;
  }
  ++queued_;
  settle_locked();  // [G6]
  if (w.slot == no_slot && creation_wanted_locked()) creator_cv_.notify_one();
  for (;;) {
    if (w.slot != no_slot) {  // [G4] handed over; the hander unlinked us
      const auto waited = saturating_sub(clock_.now(), start);
      blocked = true;
      // Go's exit from starvation mode: strict hand-off ends once a waiter is
      // served quickly or none is left (towards throughput: no settle needed).
      if (head_ == nullptr || waited < handoff_after_)
        gate_.value.fetch_and(~gate_handoff, std::memory_order_seq_cst);
      return w.slot;
    }
    if (w.closed) {
      fill_error_locked(err, errc::pool_closed, saturating_sub(clock_.now(), start));
      return no_slot;
    }
    const auto now = clock_.now();
    if (now >= deadline) {
      fill_error_locked(err, errc::timeout, saturating_sub(now, start));  // counts include this waiter
      unlink_locked(w);
      settle_locked();  // [G6]
      timeouts_.fetch_add(1, std::memory_order_relaxed);
      return no_slot;
    }
    clock_.wait_until(w.cv, lk, deadline);
    if (w.slot != no_slot || w.closed) continue;
    const bool head = head_ == &w;
    if (head) gate_.value.fetch_and(~gate_woken, std::memory_order_seq_cst);  // [G5] the head ran
    const std::uint64_t g = gate_.value.load(std::memory_order_seq_cst);
    // The head takes an idle connection in either mode (in strict mode it
    // is its due); others compete only in throughput mode.
    if (head || !must_queue(g)) {
      if (const std::uint32_t i = pop_idle(); i != no_slot) {
        unlink_locked(w);
        settle_locked();  // [G6]
        blocked = true;
        return i;
      }
    }
    if (handoff_after_.count() > 0 && !(g & gate_handoff) && saturating_sub(clock_.now(), start) >= handoff_after_) {
      gate_.value.fetch_or(gate_handoff, std::memory_order_seq_cst);  // starving: strict from now on
      settle_locked();  // [G6]
    }
  }
}

void pool_core::fail_waiters_locked() noexcept {
  while (waiter* w = head_) {
    unlink_locked(*w);
    w->closed = true;
    w->cv.notify_one();
  }
}

void pool_core::record_wait_locked(std::chrono::nanoseconds waited) noexcept {
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(waited.count(), 0));
  ++wait_histogram_[std::min<std::size_t>(static_cast<std::size_t>(std::bit_width(ns)), 63)];
}

void pool_core::fill_would_block(acquire_error& err) const noexcept {
  err.code = gate_.value.load(std::memory_order_relaxed) & gate_closed ? errc::pool_closed
                                                                       : errc::would_block;
  err.counts = counts();
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

void pool_core::fill_error_locked(acquire_error& err, errc code, std::chrono::nanoseconds waited) const {
  err.code = code;
  err.counts = counts();
  err.waited = waited;
  try {
    err.pool_name = opts_.name;
    err.last_creation_error = last_creation_error_.code;
    err.last_creation_message = last_creation_error_.message;
  } catch (...) {  // out of memory: the code and counts still tell the story
  }
}

pool_counts pool_core::counts() const noexcept {
  pool_counts c;
  c.max_size = opts_.max_size;
  for (std::size_t i = 0; i < opts_.max_size; ++i) {
    switch (meta(static_cast<std::uint32_t>(i)).word.state()) {
      case slot_state::empty: break;
      case slot_state::connecting: ++c.connecting; break;
      case slot_state::idle: ++c.idle; break;
      case slot_state::leased: ++c.leased; break;
      case slot_state::reserved: ++c.reserved; break;
      case slot_state::closing: ++c.closing; break;
    }
  }
  c.total = c.connecting + c.idle + c.leased + c.reserved + c.closing;
  const std::uint64_t g = gate_.value.load(std::memory_order_relaxed);  // approximate by contract
  c.waiting = static_cast<std::size_t>(g & gate_waiters);
  c.strict_handoff = c.waiting != 0 && must_queue(g);
  return c;
}

pool_stats pool_core::stats() const {
  pool_stats s;
  s.counts = counts();
  for (std::size_t i = 0; i < opts_.max_size; ++i)
    s.acquired += meta(static_cast<std::uint32_t>(i)).leases.load(std::memory_order_relaxed);
  s.created = created_.load(std::memory_order_relaxed);
  s.destroyed = destroyed_.load(std::memory_order_relaxed);
  s.creation_failures = creation_failures_.load(std::memory_order_relaxed);
  s.timeouts = timeouts_.load(std::memory_order_relaxed);
  s.discarded = discarded_.load(std::memory_order_relaxed);
  s.unwound = unwound_.load(std::memory_order_relaxed);
  s.reaper_passes = reaper_passes_.load(std::memory_order_relaxed);
  s.validation_failures = validation_failures_.load(std::memory_order_relaxed);
  s.acquire_validations = acquire_validations_.load(std::memory_order_relaxed);
  s.leaks_suspected = leaks_suspected_.load(std::memory_order_relaxed);
  std::array<std::uint64_t, 64> hist;
  {
    std::lock_guard lk(mutex_);
    s.acquired_after_wait = acquired_after_wait_;
    hist = wait_histogram_;
  }
  // Fast-path acquires waited ~0: they fill bucket 0. The per-slot sums are
  // read without stopping the pool, so clamp.
  hist[0] += s.acquired > s.acquired_after_wait ? s.acquired - s.acquired_after_wait : 0;
  std::uint64_t n = 0;
  for (auto h : hist) n += h;
  auto bound = [](std::size_t b) {  // bucket 63's bound 2^63 is past nanoseconds::max()
    return b == 0 ? std::chrono::nanoseconds{0}
                  : b >= 63 ? std::chrono::nanoseconds::max() : std::chrono::nanoseconds{std::int64_t{1} << b};
  };
  auto quantile = [&](double q) {
    if (n == 0) return std::chrono::nanoseconds{0};
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < hist.size(); ++b)
      if ((seen += hist[b]) >= rank) return bound(b);
    return bound(hist.size() - 1);
  };
  s.wait.p50 = quantile(0.50);
  s.wait.p90 = quantile(0.90);
  s.wait.p99 = quantile(0.99);
  s.wait.p999 = quantile(0.999);
  for (std::size_t b = hist.size(); b-- > 0;)
    if (hist[b] != 0) {
      s.wait.max = bound(b);
      break;
    }
  return s;
}

void pool_core::close_idle() noexcept {
  for (std::uint32_t i = 0; i < opts_.max_size; ++i)
    if (meta(i).word.try_reserve()) retire(i, slot_state::reserved, close_reason::pool_closed);
}

void pool_core::close() noexcept {
  gate_.value.fetch_or(gate_closed, std::memory_order_seq_cst);  // [G2] then scan for idle
  {
    std::lock_guard lk(mutex_);
    stop_ = true;
    fail_waiters_locked();
    creator_cv_.notify_all();
    reaper_cv_.notify_all();
  }
  close_idle();
}

std::error_code pool_core::drain(std::chrono::nanoseconds timeout) noexcept {
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
  for (std::uint32_t i = 0; i < opts_.max_size; ++i) {
    if (meta(i).word.try_reserve()) {
      emit_evicted(i);
      retire(i, slot_state::reserved, close_reason::evicted);
    } else if (meta(i).word.mark_evict_if_owned()) {
      emit_evicted(i);  // closed (reason evicted) when its owner lets go
    }
  }
}

void pool_core::evict_slot(std::uint32_t i) noexcept {
  if (meta(i).word.mark_evict_if_owned()) emit_evicted(i);
}

void pool_core::emit_evicted(std::uint32_t i) const noexcept {
  emit({.kind = event_kind::evicted, .slot = i});
}

void pool_core::on_clock_advanced() noexcept {
  std::lock_guard lk(mutex_);
  for (waiter* w = head_; w; w = w->next) w->cv.notify_one();
  creator_cv_.notify_all();
  reaper_cv_.notify_all();
  drained_cv_.notify_all();
}

bool pool_core::creation_wanted_locked() const noexcept {
  if (stop_) return false;
  const std::size_t open = open_.load(std::memory_order_relaxed);
  return open < opts_.max_size && (queued_ > connecting_ || open < opts_.min_idle);
}

void pool_core::start() {
  if (opts_.startup == startup_mode::fail_fast) {
    std::uint32_t opened = 0;
    for (; opened < opts_.min_idle; ++opened) {
      meta(opened).word.try_begin_connect();
      open_.fetch_add(1, std::memory_order_relaxed);
      auto r = open_slot(opened);
      if (!r) {
        meta(opened).word.transition(slot_state::connecting, slot_state::empty);
        open_.fetch_sub(1, std::memory_order_relaxed);
        for (std::uint32_t k = 0; k < opened; ++k) {
          meta(k).word.transition(slot_state::connecting, slot_state::closing);
          close_slot(k);
          meta(k).word.transition(slot_state::closing, slot_state::empty);
          open_.fetch_sub(1, std::memory_order_relaxed);
          destroyed_.fetch_add(1, std::memory_order_relaxed);
        }
        creation_failures_.fetch_add(1, std::memory_order_relaxed);
        throw std::system_error(make_error_code(errc::startup_failed),
                                "berth pool '" + opts_.name + "': could not open connection " +
                                    std::to_string(opened + 1) + " of min_idle=" +
                                    std::to_string(opts_.min_idle) + ": " + r.error().message);
      }
      created_.fetch_add(1, std::memory_order_relaxed);
      this->opened(opened, clock_.now());
    }
    for (std::uint32_t k = 0; k < opened; ++k) publish(k, slot_state::connecting);
  }
  // The first pass is due one period after construction, not after the
  // thread happens to be scheduled.
  const auto first_pass = saturating_add(clock_.now(), saturating_ns(opts_.reaper_period));
  try {
    creator_ = std::thread([this] { creator_loop(); });
    if (reaper_enabled()) reaper_thread_ = std::thread([this, first_pass] { reaper_loop(first_pass); });
  } catch (...) {  // no thread: close what start-up opened, then report
    shutdown();
    throw;
  }
}

bool pool_core::reaper_enabled() const noexcept {
  return opts_.idle_timeout.count() > 0 || opts_.max_lifetime.count() > 0 || opts_.keepalive_interval.count() > 0 ||
         opts_.validation_interval.count() > 0 || opts_.validate_on_acquire || opts_.leak_threshold.count() > 0;
}

void pool_core::creator_loop() noexcept {
  std::unique_lock lk(mutex_);
  while (!stop_) {
    const bool create = creation_wanted_locked();
    if (create && clock_.now() >= retry_at_) {
      create_one(lk);
      continue;
    }
    if (create)
      clock_.wait_until(creator_cv_, lk, retry_at_);
    else
      creator_cv_.wait(lk);
  }
}

void pool_core::reaper_loop(clock_source::time_point next_pass) noexcept {
  if (leaks_) {
    // libbacktrace loads debug information once per thread (~100 ms): pay it
    // now so that the first leak report is not late by that much.
    try {
      (void)boost::stacktrace::to_string(boost::stacktrace::stacktrace(0, 1));
    } catch (...) {
    }
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
      reap(now);
      reaper_passes_.fetch_add(1, std::memory_order_relaxed);
      lk.lock();
      next_pass = saturating_add(now, period);
      continue;
    }
    if (stale_skipped_.load(std::memory_order_relaxed)) {  // a try_acquire skipped a stale connection
      lk.unlock();
      validate_stale(now);
      lk.lock();
      continue;
    }
    clock_.wait_until(reaper_cv_, lk, next_pass);
  }
}

void pool_core::reap(clock_source::time_point now) noexcept {
  // Leaks first: a long validation below must not make a report late.
  if (leaks_) check_leaks(now);
  std::size_t open = open_.load(std::memory_order_acquire);  // pairs with retire()'s release
  // Lifetime retirements per pass are capped at a quarter of the open
  // connections (at least one): jitter normally spreads them, and after a
  // stalled reaper or with lifetime_jitter 0 this keeps the reconnects of
  // connections opened together from landing in one burst.
  std::size_t expiry_budget = std::max<std::size_t>(1, open / 4);
  std::size_t idle = 0;  // left idle after this pass's own decisions
  for (std::uint32_t i = 0; i < opts_.max_size; ++i) {
    slot_meta& m = meta(i);
    reaper_slot& r = reaper_[i];
    // acquire: pairs with the [W1] CAS chain, so created/deadline/generation
    // read below are at least those of the connection in this state.
    const slot_state st = m.word.state(std::memory_order_acquire);
    const std::uint32_t gen = m.generation.load(std::memory_order_relaxed);
    if (gen != r.generation) {  // a connection opened since the last look
      const auto created = m.created.load(std::memory_order_relaxed);
      r = reaper_slot{gen, m.leases_at_open.load(std::memory_order_relaxed), created, created};
    }
    // "Used since the last pass" is read off the lessee's per-slot lease
    // counter: no clock read or store is added to acquire/release.
    if (const auto n = m.leases.load(std::memory_order_relaxed); n != r.seen_leases) {
      r.seen_leases = n;
      r.last_used = now;
    }
    if (st == slot_state::leased) {
      r.last_used = now;
      // A hot connection is rarely idle when the reaper looks: flag it, and
      // its lessee retires it at release (pgx #2560: hot pools age too).
      // Known narrow race, harmless: if between the state load above and
      // mark_if the slot is retired, refilled and leased again, a fresh
      // connection may be flagged with the old one's deadline and retire
      // early (it is simply reopened).
      if (now >= m.deadline.load(std::memory_order_relaxed) && expiry_budget > 0 &&
          m.word.mark_if(slot_word::expired, slot_atomic::state_bit(slot_state::leased)))
        --expiry_budget;
      continue;
    }
    if (st != slot_state::idle) continue;
    const slot_times t{m.created.load(std::memory_order_relaxed), m.deadline.load(std::memory_order_relaxed),
                       r.last_used, r.last_validated};
    idle_action act = decide_idle(t, now, opts_, open > opts_.min_idle);
    if (act == idle_action::keep) {
      ++idle;
      if (opts_.validate_on_acquire && now - r.last_used > opts_.validation_bypass)
        m.word.mark_if(slot_word::stale, slot_atomic::state_bit(slot_state::idle));  // validated at next acquire
      continue;
    }
    if (act == idle_action::close_expired && expiry_budget == 0) continue;
    if (!m.word.try_reserve()) {  // reserve-then-act: a borrower got there first
      if (act == idle_action::close_expired &&
          m.word.mark_if(slot_word::expired, slot_atomic::state_bit(slot_state::leased)))
        --expiry_budget;
      continue;
    }
    // Ours now. Judged on another connection (the slot was refilled since
    // the look above)? Put it back; the next pass judges the new one.
    if (m.generation.load(std::memory_order_relaxed) != gen) {
      publish(i, slot_state::reserved);
      continue;
    }
    if (m.leases.load(std::memory_order_relaxed) != r.seen_leases) {  // leased and returned meanwhile
      r.seen_leases = m.leases.load(std::memory_order_relaxed);
      r.last_used = now;
      if (act != idle_action::close_expired) {
        publish(i, slot_state::reserved);
        continue;
      }
    }
    switch (act) {
      case idle_action::close_expired:
        retire(i, slot_state::reserved, close_reason::expired);
        --open;
        --expiry_budget;
        break;
      case idle_action::close_idle:
        retire(i, slot_state::reserved, close_reason::idle_timeout);
        --open;
        break;
      case idle_action::validate:
        if (!validate_or_retire(i, slot_state::reserved, opts_.validation_timeout)) {
          --open;
        } else {
          r.last_validated = now;
          publish(i, slot_state::reserved);  // hands it to a waiter if one is queued
          ++idle;
        }
        break;
      case idle_action::keep:
        break;
    }
  }
  if (opts_.idle_timeout.count() > 0) close_idle_surplus(now, idle, open);
}

void pool_core::validate_stale(clock_source::time_point now) noexcept {
  // Reaper thread, between passes: validate the idle connections flagged
  // stale, so that try_acquire (which never validates) can have them.
  stale_skipped_.store(false, std::memory_order_relaxed);  // before the scan: a later skip asks again
  for (std::uint32_t i = 0; i < opts_.max_size; ++i) {
    slot_meta& m = meta(i);
    if (!(m.word.flags() & slot_word::stale) || !m.word.try_reserve()) continue;  // reserve-then-act
    const bool stale = m.word.flags() & slot_word::stale;  // ours now: exact
    if (stale && !validate_or_retire(i, slot_state::reserved, opts_.validation_timeout)) continue;
    if (reaper_slot& r = reaper_[i]; stale && r.generation == m.generation.load(std::memory_order_relaxed))
      r.last_validated = now;
    publish(i, slot_state::reserved);  // hands it to a waiter if one is queued
  }
}

void pool_core::close_idle_surplus(clock_source::time_point now, std::size_t idle, std::size_t& open) noexcept {
  try {
    if (idle_window_.empty() && idle_window_start_ == clock_source::time_point{}) idle_window_start_ = now;
    while (!idle_window_.empty() && idle_window_.back().second >= idle) idle_window_.pop_back();
    idle_window_.emplace_back(now, idle);
    while (idle_window_.size() > 1 && idle_window_[1].first <= now - opts_.idle_timeout) idle_window_.pop_front();
  } catch (...) {  // out of memory: skip the surplus rule this pass
    return;
  }
  // The window must span a full idle_timeout before it proves anything.
  if (now - idle_window_start_ < opts_.idle_timeout) return;
  const std::size_t surplus = idle_window_.front().second;
  std::size_t closable = std::min(surplus, open > opts_.min_idle ? open - opts_.min_idle : 0);
  if (closable == 0) return;
  // Least recently used first (reaper_slot::last_used, pass resolution).
  std::vector<std::uint32_t> order;
  try {
    order.reserve(opts_.max_size);
    for (std::uint32_t i = 0; i < opts_.max_size; ++i)
      if (meta(i).word.state() == slot_state::idle) order.push_back(i);
  } catch (...) {
    return;
  }
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return reaper_[a].last_used < reaper_[b].last_used; });
  for (std::uint32_t i : order) {
    if (closable == 0) break;
    if (!meta(i).word.try_reserve()) continue;  // reserve-then-act
    retire(i, slot_state::reserved, close_reason::idle_timeout);
    --open;
    --closable;
  }
  // What the window proved has been acted on: start a new one.
  idle_window_.clear();
  idle_window_start_ = now;
}

void pool_core::create_one(std::unique_lock<std::mutex>& lk) noexcept {
  std::uint32_t i = 0;
  while (i < opts_.max_size && !meta(i).word.try_begin_connect()) ++i;
  if (i == opts_.max_size) {  // open_ counted a slot still closing: wait for its retire()
    creator_cv_.wait(lk);
    return;
  }
  open_.fetch_add(1, std::memory_order_relaxed);
  ++connecting_;
  lk.unlock();
  auto r = open_slot(i);
  if (r) {
    opened(i, clock_.now());
  } else {
    emit({.kind = event_kind::creation_failed, .slot = i, .error = r.error().code, .message = r.error().message});
  }
  lk.lock();
  --connecting_;
  if (!r) {
    meta(i).word.transition(slot_state::connecting, slot_state::empty);
    open_.fetch_sub(1, std::memory_order_relaxed);
    creation_failures_.fetch_add(1, std::memory_order_relaxed);
    ++consecutive_failures_;
    last_creation_error_ = std::move(r).error();
    const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(jitter_rng_);
    retry_at_ = saturating_add(clock_.now(), creation_backoff(opts_.creation_backoff_initial,
                                                              opts_.creation_backoff_max, consecutive_failures_, unit));
    drained_cv_.notify_all();
    return;
  }
  created_.fetch_add(1, std::memory_order_relaxed);
  consecutive_failures_ = 0;
  last_creation_error_ = {};
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

void pool_core::shutdown() noexcept {
  close();
  if (creator_.joinable()) creator_.join();
  if (reaper_thread_.joinable()) reaper_thread_.join();
  close_idle();  // anything published by the creator or reaper before they saw stop_
  std::string report;
  std::size_t outstanding = 0;
  for (std::uint32_t i = 0; i < opts_.max_size; ++i) {
    if (meta(i).word.state() != slot_state::leased) continue;
    ++outstanding;
    const std::source_location at = meta(i).site.load(std::memory_order_relaxed);
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
}

}  // namespace berth::detail
