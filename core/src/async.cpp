// async.cpp: asynchronous acquire, the part of pool_core that serves
// requests completing on a user's executor. Protocol: async_request.hpp.
// Requests wait in the same waiter queue as blocking acquirers
// (waiter_queue.hpp), so hand-off, fairness and settle treat both alike; a
// request's wake() posts a run to its executor instead of notifying a
// condition variable.
#include <berth/detail/duration.hpp>
#include <berth/detail/pool_core.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

namespace berth::detail {

namespace {

/// The request whose post() this thread is inside (to tell an executor's
/// failure to post, or a forbidden inline run, from a normal run).
thread_local const async_request* posting = nullptr;


/// This thread is a pool's async thread whose pool a handler destroyed on
/// it: the thread was detached (it cannot join itself) and its loop must
/// return without touching the pool.
thread_local bool async_thread_orphaned = false;

/// This thread is a pool's async thread (async_loop).
thread_local const pool_core* async_thread_of = nullptr;

/// A handler that threw on the async thread (its executor's post() threw,
/// so berth ran it there): nobody can catch it, so it is reported.
void report_handler_exception(const char* pool_name) noexcept {
  const char* what = "an exception not derived from std::exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr,
               "berth: pool '%s': an asynchronous acquire's handler threw on the pool's async thread (its "
               "executor's post() had thrown, so berth ran the completion there), and the exception was "
               "dropped: %s\n",
               pool_name, what);
}

[[noreturn]] void die_async(const char* what) noexcept {
  std::fprintf(stderr, "berth: %s\n", what);
  std::abort();
}

}  // namespace

/// What a request posts: runs the request's next step on the executor and
/// delivers the outcome there; destroyed unrun, it returns what the request
/// held and drops its handler.
struct pool_core::run_task {
  std::shared_ptr<async_request> r;
  bool ran = false;

  void operator()() {
    ran = true;
    if (posting == r.get())
      die_async("an executor ran a completion inline inside post(); berth's executor contract (executor.hpp) "
                "requires post() to queue it");
    pool_core* const pool = r->owner;
    async_outcome out = pool->async_run(*r);
    if (!out.deliver) return;
    // The request is done but still outstanding: the pool's destructor waits
    // until the handler has returned (or thrown) and been destroyed.
    delivery_scope scope(pool);
    r->complete(out.slot, std::move(out.error));
  }
  run_task(std::shared_ptr<async_request> req) noexcept : r(std::move(req)) {}
  run_task(run_task&& o) noexcept : r(std::move(o.r)), ran(o.ran) {}
  run_task& operator=(run_task&&) = delete;
  ~run_task() {
    if (!r || ran) return;
    if (posting == r.get())
      r->dropped_in_post = true;  // inside post(), under the pool's mutex: schedule_locked handles it
    else
      r->owner->async_dropped(*r);  // destroyed unrun by its executor
  }
};

void pool_core::inline_completion() noexcept {
  die_async("an executor ran a completion inline inside post(); berth's executor contract (executor.hpp) "
            "requires post() to queue it");
}

clock_source::time_point pool_core::deadline_in(std::chrono::nanoseconds timeout) const noexcept {
  return deadline_after(clock_.now(), timeout);
}

void async_request::wake() noexcept { owner->schedule_locked(*this); }

void pool_core::schedule_locked(async_request& r) noexcept {
  if (r.state != async_request::phase::waiting || r.scheduled) return;  // a run is coming, or none is needed
  r.scheduled = true;
  posting = &r;
  bool taken = true;
  try {
    r.post(unique_task(run_task(r.self)));
  } catch (...) {
    // The executor could not take it (out of memory): the async thread runs
    // it instead, so the request still completes exactly once. (The run,
    // destroyed by the throw, marked itself dropped: it was not.)
    taken = false;
    r.dropped_in_post = false;
  }
  posting = nullptr;
  if (!taken || r.dropped_in_post) {  // dropped inside post(): the async thread drops it (async_loop)
    r.fallback_next = fallback_head_;
    fallback_head_ = &r;
    async_cv_.notify_one();
  }
}

void pool_core::async_start(const std::shared_ptr<async_request>& rp, std::uint32_t held) {
  if (forked()) [[unlikely]]  // [G8]: try_claim queued us without claiming; mutex_ may be held
    throw std::system_error(make_error_code(errc::forked),
                            "berth pool '" + opts_.name + "': inherited through fork(); create a new pool in the child");
  async_request& r = *rp;
  r.owner = this;
  r.since = clock_.now();
  std::unique_lock lk(mutex_);
  try {
    // The async thread fires deadlines and runs requests whose post() threw.
    if (!async_thread_.joinable() && !async_stop_) async_thread_ = std::thread([this] { async_loop(); });
    if (r.deadline != clock_source::time_point::max()) {
      deadline_push_locked(r);
      // Wake the async thread only if it sleeps past this deadline: with one
      // waiter at a time each deadline is the earliest, but the thread is
      // usually still asleep towards an earlier, finished request's.
      if (r.deadline < async_sleeps_until_) async_cv_.notify_one();
    }
  } catch (...) {
    deadline_erase_locked(r);
    lk.unlock();
    if (held != no_slot) give_back(held);
    throw;
  }
  r.self = rp;
  ++async_outstanding_;
  if (held != no_slot) {  // a flagged slot: checked by a run, on the executor
    r.slot = held;
  } else if (load_gate(std::memory_order_relaxed) & waiter_queue::gate_closed) {  // set before close() locks
    r.closed = true;
  } else if (const std::uint32_t i = waiters_.register_locked(); i != no_slot) {  // [G2]
    r.slot = i;
  } else if (breaker_refuses_locked()) {  // nothing idle, and no connection will be created: fail at once
    waiters_.withdraw_locked();
    r.rejected = true;  // its run delivers errc::database_unavailable
  } else {
    r.waited = true;
    waiters_.enqueue_locked(r, false);  // may hand it a slot at once (settle), posting its run
    if (r.slot == no_slot && creation_wanted_locked()) creator_cv_.notify_one();
    return;
  }
  schedule_locked(r);
}

bool pool_core::async_cancel(async_request& r) noexcept {
  std::lock_guard lk(mutex_);
  if (r.state == async_request::phase::done) return false;
  r.cancelled = true;
  schedule_locked(r);  // a waiting request runs and completes; an attending one sees the flag afterwards
  return true;
}

async_outcome pool_core::async_run(async_request& r) noexcept {
  async_outcome out;
  std::unique_lock lk(mutex_);
  r.scheduled = false;
  if (r.state != async_request::phase::waiting) return out;
  bool no_time = false;  // this run put back a connection it had no time left to validate
  for (;;) {
    std::uint32_t i = std::exchange(r.slot, no_slot);
    const auto now = clock_.now();
    const auto waited = saturating_sub(now, r.since);
    if (i != no_slot) {
      if (r.waited) waiters_.served_locked(now);  // a queued request gets r.slot only by hand-off [G4]
    } else if (r.cancelled) {  // before closed: a cancel() that returned true promised errc::cancelled
      fill_error_locked(out.error, errc::cancelled, waited);  // counts include r
      if (r.queued) waiters_.leave_locked(r);
      finish_locked(r);
      out.deliver = true;
      return out;
    } else if (r.closed || (!r.queued && (load_gate(std::memory_order_relaxed) & waiter_queue::gate_closed))) {
      fill_error_locked(out.error, errc::pool_closed, waited);
      finish_locked(r);
      out.deliver = true;
      return out;
    } else if (r.rejected) {  // refused at the start, or queued when the breaker opened
      refuse_locked(out.error, waited);
      finish_locked(r);
      out.deliver = true;
      return out;
    } else if (now >= r.deadline) {
      fill_error_locked(out.error, errc::timeout, waited);  // counts include r
      out.error.awaiting_validation = no_time;
      if (r.queued) waiters_.leave_locked(r);
      pool_counters::bump(counters_.timeouts);
      finish_locked(r);
      out.deliver = true;
      const std::source_location site = r.site;  // immutable; read before we let go of the mutex
      lk.unlock();
      fill_lease_sites(out.error, site);  // outside mutex_, as a blocking acquire's timeout does
      return out;
    } else if (r.queued) {  // woken as the head (or to compete): look at the ring
      i = waiters_.after_wake_locked(r);
      if (i == no_slot) {
        waiters_.starving_locked(waited);
        return out;
      }
    } else {  // a check failed on the slot we had: wait again, keeping our place at the front
      i = waiters_.register_locked();  // [G2]
      if (i == no_slot && breaker_refuses_locked()) {
        waiters_.withdraw_locked();
        r.rejected = true;
        continue;  // delivered above
      }
      if (i == no_slot) {
        const bool front = r.waited;  // it waited before: it keeps its place
        r.waited = true;
        waiters_.enqueue_locked(r, front);
        if (r.slot == no_slot && creation_wanted_locked()) creator_cv_.notify_one();
        return out;
      }
    }
    // Slot i is ours and r is out of the queue.
    if (!r.cancelled) {
      r.state = async_request::phase::attending;
      lk.unlock();
      // Outside mutex_: attend() may validate through the adapter.
      const bool ok = check_claimed(i, r.deadline, no_time);
      lk.lock();
      r.state = async_request::phase::waiting;
      if (!ok) continue;  // retired or put back: wait again (or time out, or close)
    }
    if (r.cancelled) {  // cancelled at the very moment it got a connection: the connection goes back
      fill_error_locked(out.error, errc::cancelled, saturating_sub(clock_.now(), r.since));
      finish_locked(r);
      lk.unlock();
      give_back(i);
      out.deliver = true;
      return out;
    }
    if (r.waited) waits_.record(saturating_sub(clock_.now(), r.since));
    note_lease(i, r.site);
    finish_locked(r);
    out.slot = i;
    out.deliver = true;
    return out;
  }
}

void pool_core::async_dropped(async_request& r) noexcept {
  std::unique_lock lk(mutex_);
  r.scheduled = false;
  if (r.state != async_request::phase::waiting) return;
  const std::uint32_t i = std::exchange(r.slot, no_slot);
  if (i != no_slot && r.waited) waiters_.served_locked(clock_.now());
  if (r.queued) waiters_.leave_locked(r);
  finish_locked(r);
  lk.unlock();
  if (i != no_slot) give_back(i);
  // Destroying the handler may destroy the pool (a handler owning the last
  // reference to it): a delivery of this pool on this thread, as in
  // run_task, so that its destructor does not wait for this very request.
  delivery_scope scope(this);  // its end is last: the pool may be destroyed from there on
  r.abandon();
}

void pool_core::finish_locked(async_request& r) noexcept {
  r.state = async_request::phase::done;
  r.finished.store(true, std::memory_order_release);  // pairs with async_handle::cancel()'s acquire load
  deadline_erase_locked(r);
  // Still outstanding: its run returns any slot and delivers the outcome
  // outside the mutex, then calls async_delivered().
  r.self.reset();  // the caller holds another reference
}

void pool_core::async_delivered() noexcept {
  std::lock_guard lk(mutex_);
  if (--async_outstanding_ == 0) async_done_cv_.notify_all();
}

// ---- deadlines: a binary min-heap of requests, each knowing its index ----

void pool_core::deadline_push_locked(async_request& r) {
  deadlines_.push_back(&r);  // may throw: nothing changed then
  r.heap_index = deadlines_.size() - 1;
  deadline_sift_locked(r.heap_index);
}

void pool_core::deadline_erase_locked(async_request& r) noexcept {
  const std::size_t k = r.heap_index;
  if (k == async_request::no_heap) return;
  r.heap_index = async_request::no_heap;
  async_request* last = deadlines_.back();
  deadlines_.pop_back();
  if (last == &r) return;
  deadlines_[k] = last;
  last->heap_index = k;
  deadline_sift_locked(k);
}

void pool_core::deadline_sift_locked(std::size_t k) noexcept {
  auto before = [this](std::size_t a, std::size_t b) { return deadlines_[a]->deadline < deadlines_[b]->deadline; };
  auto swap = [this](std::size_t a, std::size_t b) {
    std::swap(deadlines_[a], deadlines_[b]);
    deadlines_[a]->heap_index = a;
    deadlines_[b]->heap_index = b;
  };
  while (k > 0 && before(k, (k - 1) / 2)) {  // up
    swap(k, (k - 1) / 2);
    k = (k - 1) / 2;
  }
  for (;;) {  // down
    const std::size_t l = 2 * k + 1, rt = l + 1;
    std::size_t m = k;
    if (l < deadlines_.size() && before(l, m)) m = l;
    if (rt < deadlines_.size() && before(rt, m)) m = rt;
    if (m == k) return;
    swap(k, m);
    k = m;
  }
}

// ---- the async thread ----

pool_core::delivery_hold pool_core::hold_delivery_on_async_thread() {
  if (async_thread_of != this) return {};
  std::lock_guard lk(mutex_);
  ++async_outstanding_;
  return delivery_hold(this);
}

bool pool_core::run_fallbacks(std::unique_lock<std::mutex>& lk) noexcept {
  while (async_request* r = fallback_head_) {  // post() threw (run here) or dropped the run
    fallback_head_ = std::exchange(r->fallback_next, nullptr);
    std::optional<run_task> task(std::in_place, r->self);  // alive: a scheduled request is not done
    const bool drop = std::exchange(r->dropped_in_post, false);
    lk.unlock();
    if (drop) {
      const std::shared_ptr<async_request> keep = std::move(task->r);  // the task is now inert
      task.reset();
      async_dropped(*keep);
    } else {
      // The name first: the handler may destroy the pool.
      const std::string name = opts_.name;
      try {
        (*task)();
      } catch (...) {  // the handler threw on our thread: nobody else can tell
        report_handler_exception(name.c_str());
      }
    }
    task.reset();  // the request (its executor copy) dies outside the mutex
    if (async_thread_orphaned) return false;  // a handler destroyed the pool: `this` is gone
    lk.lock();
  }
  return true;
}

void pool_core::async_loop() noexcept {
  async_thread_of = this;
  std::unique_lock lk(mutex_);
  for (;;) {
    if (!run_fallbacks(lk)) return;
    if (async_stop_) return;
    // A deadline passed: its request runs (and times out) on its executor.
    const auto now = clock_.now();
    while (!deadlines_.empty() && deadlines_.front()->deadline <= now) {
      async_request& r = *deadlines_.front();
      deadline_erase_locked(r);
      schedule_locked(r);
    }
    // A post() that threw just above queued its request for us, and its
    // notify found nobody waiting: run it before sleeping
    // (AsyncTest.TimerFallbackLostWakeupBug).
    if (fallback_head_ != nullptr) continue;
    async_sleeps_until_ = deadlines_.empty() ? clock_source::time_point::max() : deadlines_.front()->deadline;
    clock_.wait_until(async_cv_, lk, async_sleeps_until_);
    async_sleeps_until_ = clock_source::time_point::min();  // awake: sees every push before it sleeps again
  }
}

void pool_core::stop_async() noexcept {
  // After close(): every queued request was failed and posted. Their runs
  // need this pool until they have delivered (a handler releases its lease
  // into it), so wait for them; the executors must keep running. Deliveries
  // of this pool that this very thread is inside (a handler destroying the
  // pool) are not waited for: they end after we return and then leave the
  // pool alone.
  std::size_t mine = 0;
  for (delivery* d = deliveries_; d != nullptr; d = d->outer)
    if (d->pool == this) {
      ++mine;
      d->pool_gone = true;
    }
  // On the async thread (a handler run there destroys the pool), the
  // requests queued for this thread are run here: nobody else will
  // (AsyncTest.AHandlerOnTheAsyncThreadMayDestroyItsPoolBug).
  const bool on_async_thread = async_thread_of == this;
  std::unique_lock lk(mutex_);
  constexpr auto patience = std::chrono::seconds(10);
  const auto give_up = std::chrono::steady_clock::now() + patience;
  // Fast-path completions posted and not yet run (queued), or whose handler
  // got the lease (running): their slots are leased and marked (acquire:
  // pairs with completion_posted()'s and completion_taken()'s release). A
  // dropped one, or a handler that released its lease, gave the slot back:
  // only leased slots count.
  const auto fast_left = [&](std::uint8_t which) {  // which: a mark, or 0 for either
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      const std::uint8_t c = slots_[i].completion.load(std::memory_order_acquire);
      if (c != 0 && (which == 0 || c == which) && slots_[i].word.state() == slot_state::leased) ++n;
    }
    return n;
  };
  const auto waiting = [&] { return async_outstanding_ != mine || fast_left(0) != 0; };
  while (waiting()) {
    if (on_async_thread) (void)run_fallbacks(lk);
    // Nothing notifies about a fast-path completion (it takes no mutex):
    // look again every millisecond.
    const auto until = std::min(give_up, std::chrono::steady_clock::now() + std::chrono::milliseconds(1));
    async_done_cv_.wait_until(lk, until);
    if (std::chrono::steady_clock::now() < give_up || !waiting()) continue;
    const std::size_t requests = async_outstanding_ - mine, queued = fast_left(completion_queued);
    if (requests == 0 && queued == 0) {
      // Only leases a fast-path handler got: it still runs, or kept the
      // lease past its return (nothing tells the two apart without touching
      // the pool after the handler). Named, as other leases are
      // (AsyncTest.AFastPathLeaseKeptPastItsHandlerIsNamedBug).
      std::string report;
      for (std::uint32_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].completion.load(std::memory_order_acquire) != completion_running ||
            slots_[i].word.state() != slot_state::leased)
          continue;
        const std::source_location at = slots_[i].site.load(std::memory_order_relaxed);
        char line[512];
        std::snprintf(line, sizeof line, "  slot %" PRIu32 ": acquired at %s:%u in %s\n", i, at.file_name(),
                      static_cast<unsigned>(at.line()), at.function_name());
        report += line;
      }
      std::fprintf(stderr,
                   "berth: pool '%s' destroyed with %zu lease(s) from asynchronous acquires still out after %lld s "
                   "(their handlers kept them, or are still running); their connections would be used after "
                   "free. Leases:\n%sRelease every lease before destroying the pool.\n",
                   opts_.name.c_str(), fast_left(completion_running), static_cast<long long>(patience.count()),
                   report.c_str());
    } else {
      std::fprintf(stderr,
                   "berth: pool '%s' destroyed while %zu asynchronous acquire(s) have not completed after %lld s: "
                   "their completions are posted to executors that are not running. Keep the executors running "
                   "(or destroy their queued tasks) until the pool is destroyed.\n",
                   opts_.name.c_str(), requests + queued, static_cast<long long>(patience.count()));
    }
    std::abort();
  }
  async_stop_ = true;
  async_cv_.notify_all();
  lk.unlock();
  if (!async_thread_.joinable()) return;
  if (async_thread_.get_id() == std::this_thread::get_id()) {
    // A handler on the async thread destroys the pool: the thread cannot
    // join itself. It is detached, and its loop returns without touching
    // the pool (AsyncTest.AHandlerOnTheAsyncThreadMayDestroyItsPoolBug).
    async_thread_orphaned = true;
    async_thread_.detach();
    return;
  }
  async_thread_.join();
}

}  // namespace berth::detail
