// stress_async.cpp: berth_stress_async, blocking and asynchronous acquirers
// on one small pool (issue 10's verification).
//
// Every scenario runs, on one pool of 4 to 8 connections:
//   - --threads (default 136) blocking workers (blocking_worker.hpp: the
//     same threads as stress_pool's, owner-stamp checks and all), each of
//     which, after ~5% of its operations, cancels a random client's pending
//     request: right after its own release, that races the hand-off the
//     release just made;
//   - 128 asynchronous clients, driven by 8 issuing threads (16 each). A
//     client issues one request at a time (async_acquire with a deadline,
//     async_acquire_for, or, for ~10%, a coroutine's co_await
//     acquire_async), waits for its completion, and sometimes keeps the
//     lease for a while after the handler returned (the handler leaves it
//     in the client's mailbox and the issuing thread ends it later, on
//     another thread). Deadlines: already passed, tiny (1-100 us), short
//     (0.1-5 ms), long (20-200 ms) or none. Cancellation: none, right after
//     the call (before any hand-off), at a random moment 0-3 ms later
//     (racing hand-off and deadline), or after the completion (must return
//     false), besides the blocking workers' cancels;
//   - three executors (thread_pool_executor.hpp), picked per request: "plain"
//     (4 threads); "dropper" (2 threads) that destroys ~10% of its tasks
//     unrun during the middle third of the run (async_dropped: the handler
//     is dropped uncalled and any connection goes back); "thrower" (2
//     threads) whose post() throws std::bad_alloc ~3% of the time (the pool
//     runs the request on its async thread instead; on the fast path
//     async_acquire throws and takes nothing);
//   - the stress adapter with connect failures, throws and delays, reset
//     failures and throws, and validation failures; validation at acquire
//     (the reaper flags connections idle for 2 ms; one scenario validates
//     every acquire), which for a request runs on its executor.
// Handlers end their lease by release, discard (~2%), a move, or by
// throwing with the lease alive (~2%: the lease is reset during unwinding,
// and the exception leaves through the executor).
//
// Scenarios:
//   mixed-4        throughput hand-off (handoff_after 1 ms); quiesce, audit.
//   strict-6       strict FIFO (handoff_after 0); close() or drain() under
//                  load at half-time; requests issued after it returned must
//                  fail with pool_closed (or cancelled); audit.
//   validate-4     every acquire validates (validation_bypass 0: even the
//                  async fast path goes through a run); in 6 rounds (one
//                  when soaking), each ending with the pool DESTROYED under
//                  load: issuing stops, a random half of the pending
//                  requests is cancelled, and the pool's destructor runs
//                  while requests are queued, runs are posted and handlers
//                  hold leases, the executors running.
//   jumpy-clock-6  the pool runs on a fake clock (tests/support) that a
//                  ticker advances in jumps of 0.2-3 ms, roughly at real
//                  speed: every jump wakes every waiter (wake_all_locked)
//                  and posts a run for every queued request; quiesce, audit.
//
// Checks:
//   - no double hand-out: a lessee (blocking worker or async client) CASes
//     the connection's owner word from 0 to its id for as long as it holds
//     the lease (stress_common.hpp [O1]/[O2]), and bumps a plain use counter
//     (TSan sees any hand-over the pool does not order);
//   - every request's handler runs exactly once, or never when an executor
//     dropped its task: the handler object counts its calls and reports
//     being destroyed uncalled; at the end completed + dropped + (fast-path
//     post threw) == issued, and dropped handlers == tasks the executors
//     dropped;
//   - cancel(): true means the handler gets errc::cancelled, never a lease,
//     a timeout or pool_closed (checked by whichever of the handler and the
//     canceller comes second, a Dekker pair on seq_cst flags); a cancel()
//     that started after the handler ran returns false; errc::cancelled
//     only after someone called cancel();
//   - errc::timeout never before the deadline; any completion within
//     lateness_bound of its deadline; pool_closed only after close began;
//   - quiescence: no lease and no waiter left; after drain() the books
//     balance (check_books over blocking + async tallies, events, adapter);
//     destruction under load: the destructor returns with no handler still
//     running, every request then completes or is dropped, the adapter has
//     nothing open and use counters == leases handed out;
//   - a monitor: idle beside waiting for 2 s (500 ms without a sanitizer) is
//     a lost wake-up (pool_audit.hpp), and the counts stay in range;
//   - a watchdog turns a hang into a report.
//
// Synchronization (harness side):
//   [C1] cancel acknowledgement: the canceller stores cancel_acked (seq_cst)
//        then loads state; the handler stores state = completed (seq_cst)
//        then loads cancel_acked. In the total order of seq_cst operations
//        one of them sees the other's store and checks the outcome.
//   request_record's plain fields are written by the issuing thread before
//   the async_acquire call and read by the handler: the pool orders the call
//   before the completion (its mutex, or the executor's queue).
//   client::mutex guards a client's current request, handle and mailbox.
//   Tallies are relaxed atomics, read after every thread is joined or idle.
//
// Usage: berth_stress_async [--quick] [--seed N] [--seconds N] [--threads N] [--only NAME]
//                     [--report FILE.html] [--live | --no-live]
//   (replay a scenario: --seed <the run's seed> --only <name>)
#include "blocking_worker.hpp"
#include "pool_audit.hpp"
#include "stress_common.hpp"
#include "thread_pool_executor.hpp"

#include "support/fake_clock.hpp"

#include <berth/pool.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace berth::stress {
namespace {

using namespace std::chrono_literals;
using acquire_result = stress_pool::acquire_result;
using lease_type = stress_pool::lease_type;
using time_point = clock_source::time_point;

constexpr unsigned async_clients = 128;
constexpr unsigned issuing_threads = 8;
constexpr unsigned post_close_requests = 2;  // per client, after close() returned
/// Owner ids of async clients: above every blocking worker's (1..--threads).
constexpr std::uint64_t client_owner_base = std::uint64_t{1} << 32;

// ---- configuration ----------------------------------------------------------

enum class ending { quiesce, close_under_load, destroy_under_load };

struct scenario {
  const char* name;
  std::size_t max_size;
  std::size_t min_idle;
  std::chrono::microseconds handoff_after;
  std::chrono::milliseconds validation_bypass;  // 0: every acquire validates
  bool jumpy_clock;
  ending end;
  unsigned rounds;  // pools built, loaded and ended one after the other (quota split between them)
};

/// Connect failures, throws and delays; reset failures and throws (a handler
/// that throws with its lease resets it); validation failures at acquire.
constexpr fault_plan async_faults{.connect_fail = 0.05,
                                  .connect_throw = 0.01,
                                  .connect_delay = 0.2,
                                  .max_connect_delay = 200us,
                                  .reset_fail = 0.1,
                                  .reset_throw = 0.03,
                                  .validate_fail = 0.1};

pool_options options_for(const scenario& sc) {
  pool_options o = stress_options(sc.name, sc.max_size, sc.min_idle);
  o.handoff_after = sc.handoff_after;
  // Validation at acquire: the reaper flags connections unused for 2 ms as
  // stale, so a claimed slot often needs a check, which a request's run does
  // on its executor; 0 validates every blocking and async acquire.
  o.validate_on_acquire = true;
  o.validation_bypass = sc.validation_bypass;
  o.reaper_period = 2ms;
  return o;
}

std::uint64_t requests_per_client(const run_args& a) { return (a.quick ? 160 : 1600) / iteration_divisor; }

std::chrono::seconds hang_limit(const run_args& a) {
  const long long base = (a.quick ? 1 : 10) * (under_sanitizer ? 150 : 60);
  return std::chrono::seconds{base + a.seconds};
}

// ---- one request --------------------------------------------------------------

enum class req_state : int { pending, completed, dropped, start_threw };

/// One asynchronous request, shared by its client, its handler and any
/// canceller. See the file comment for who writes what.
struct request_record {
  request_record(std::uint64_t i, std::uint32_t c) noexcept : id(i), client(c) {}
  const std::uint64_t id;
  const std::uint32_t client;
  // Written by the issuing thread before the call (ordered by the pool).
  time_point issued{};
  time_point deadline{};  // a lower bound of the pool's deadline; max(): none
  bool after_close = false;
  bool coroutine = false;
  bool use_for = false;
  const char* executor = "";
  // Issuing thread only.
  enum class cancel_plan : std::uint8_t { none, immediate, at, after_completion } plan = cancel_plan::none;
  clock_type::time_point cancel_at{};
  // Shared.
  std::atomic<int> state{static_cast<int>(req_state::pending)};
  std::atomic<int> code{-1};  // 0: a lease; else the errc
  std::atomic<bool> running{false};  // inside the handler
  std::atomic<int> cancel_attempts{0};
  std::atomic<bool> cancel_acked{false};  // [C1]

  req_state now_state() const { return static_cast<req_state>(state.load(std::memory_order_seq_cst)); }
};

/// What the asynchronous side counted. Relaxed atomics: many executor
/// threads count; read at quiescence.
struct async_tally {
  std::atomic<std::uint64_t> issued{0}, leases{0}, timeouts{0}, cancelled{0}, closed{0}, dropped{0},
      start_threw{0}, coroutines{0}, discards{0}, throws{0}, stashed{0}, cancel_calls{0}, cancel_true{0},
      after_close{0};
  std::atomic<std::int64_t> max_late_ns{0};

  void late(nanoseconds d) {
    std::int64_t prev = max_late_ns.load(std::memory_order_relaxed);
    while (d.count() > prev && !max_late_ns.compare_exchange_weak(prev, d.count(), std::memory_order_relaxed)) {
    }
  }
  static std::uint64_t get(const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); }
};

/// A logical requester. Its issuing thread drives it; handlers and
/// cancellers reach it through `mutex`.
struct client {
  std::uint32_t index = 0;
  std::mutex mutex;
  // ---- guarded by mutex ----
  std::shared_ptr<request_record> current;  // the request in flight (or just resolved, until reaped)
  async_handle handle;
  std::optional<lease_type> mailbox;  // a lease a handler left for the issuing thread
  clock_type::time_point mailbox_until{};
  std::uint64_t mailbox_owner = 0;
  bool mailbox_closed = false;  // the issuing thread has stopped: handlers end their leases themselves
  // ---- issuing thread only ----
  std::uint64_t issued = 0;
  std::uint64_t issued_after_close = 0;
};

// ---- the asynchronous side ------------------------------------------------------

class async_side;

/// The handler given to async_acquire: counts its call, reports being
/// destroyed uncalled (its executor dropped the request's task).
class completion {
 public:
  completion(std::shared_ptr<request_record> r, async_side* s) noexcept : rec_(std::move(r)), side_(s) {}
  completion(completion&& o) noexcept : rec_(std::move(o.rec_)), side_(o.side_), called_(o.called_) {}
  completion& operator=(completion&&) = delete;
  ~completion();
  void operator()(acquire_result r);

 private:
  std::shared_ptr<request_record> rec_;  // null once moved from
  async_side* side_;
  bool called_ = false;
};

/// A coroutine that runs to completion on its own (never awaited).
struct detached {
  struct promise_type {
    detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { fail("a stress coroutine threw"); }
  };
};

class async_side {
 public:
  async_side(stress_pool& p, const clock_source& clock, const scenario& sc, std::uint64_t seed)
      : pool_(p),
        clock_(clock),
        sc_(sc),
        seed_(seed),
        plain_("plain", 4, derive_seed(seed, 501)),
        dropper_("dropper", 2, derive_seed(seed, 502)),
        thrower_("thrower", 2, derive_seed(seed, 503)),
        clients_(async_clients) {
    for (std::uint32_t i = 0; i < async_clients; ++i) clients_[i].index = i;
    thrower_.set_post_throw(0.03);
  }

  async_tally tally;
  /// Set (seq_cst) just before close(), drain() or the destructor starts.
  std::atomic<bool> close_started{false};
  /// Set (release) after close()/drain() returned; issuers load it (acquire).
  std::atomic<bool> close_returned{false};
  /// Soak and destruction: issuers stop issuing. Relaxed: only ends loops.
  std::atomic<bool> stop_issuing{false};

  std::array<thread_pool_executor*, 3> executors() { return {&plain_, &dropper_, &thrower_}; }
  thread_pool_executor& dropper() { return dropper_; }

  std::uint64_t issued_total() const { return tally.get(tally.issued); }

  /// The issuing thread `k`: drives clients k, k + issuing_threads, ...
  /// until each has issued `quota` requests (0: until stop_issuing), or in
  /// the close ending post_close_requests after close() returned, and has
  /// nothing in flight.
  void issue_loop(unsigned k, std::uint64_t quota) {
    rng r(derive_seed(seed_, 2000 + k));
    std::vector<client*> mine;
    for (std::size_t i = k; i < clients_.size(); i += issuing_threads) mine.push_back(&clients_[i]);
    for (;;) {
      bool acted = false;
      bool all_done = true;
      for (client* c : mine) {
        acted |= step_client(*c, r, quota);
        if (!done_issuing(*c, quota)) {
          all_done = false;
        } else {
          std::lock_guard lk(c->mutex);
          all_done &= !c->current && !c->mailbox;
        }
      }
      if (all_done) break;
      if (!acted) std::this_thread::sleep_for(std::chrono::microseconds{static_cast<std::int64_t>(r.between(20, 200))});
    }
    // Our clients' mailboxes close: a handler finishing later ends its own lease.
    for (client* c : mine) {
      std::optional<lease_type> left;
      std::uint64_t owner = 0;
      {
        std::lock_guard lk(c->mutex);
        c->mailbox_closed = true;
        left.swap(c->mailbox);
        owner = c->mailbox_owner;
      }
      if (left) end_mailbox_lease(std::move(*left), owner, r);
    }
  }

  /// A blocking worker's extra step: cancel a random client's request.
  void cancel_random(rng& r) {
    if (const auto [rec, h] = snapshot(clients_[r.below(clients_.size())]); rec) cancel(*rec, h);
  }

  /// Client c's request in flight and its handle (null when idle).
  static std::pair<std::shared_ptr<request_record>, async_handle> snapshot(client& c) {
    std::lock_guard lk(c.mutex);
    return {c.current, c.handle};
  }

  /// cancel() with the [C1] checks.
  void cancel(request_record& rec, const async_handle& h) {
    rec.cancel_attempts.fetch_add(1, std::memory_order_seq_cst);  // before: a cancelled outcome needs it
    const req_state before = rec.now_state();
    const bool ok = h.cancel();
    tally.cancel_calls.fetch_add(1, std::memory_order_relaxed);
    if (!ok) return;
    tally.cancel_true.fetch_add(1, std::memory_order_relaxed);
    BERTH_STRESS_CHECK(before == req_state::pending,
                       "request %llu: cancel() returned true though its handler had already %s", ull(rec.id),
                       before == req_state::completed ? "run" : "been dropped");
    rec.cancel_acked.store(true, std::memory_order_seq_cst);  // [C1]
    if (rec.now_state() == req_state::completed) {
      const int code = rec.code.load(std::memory_order_relaxed);  // ordered by the seq_cst state load
      BERTH_STRESS_CHECK(code == static_cast<int>(errc::cancelled),
                         "request %llu: cancel() returned true, yet the handler got %s", ull(rec.id), outcome_name(code));
    }
  }

  /// The handler's body (executor thread, the pool's async thread, or the
  /// issuing thread for a coroutine that did not suspend).
  void complete(request_record& rec, acquire_result r, bool may_throw) {
    struct running_scope {
      request_record& rec;
      ~running_scope() { rec.running.store(false, std::memory_order_seq_cst); }
    } scope{rec};
    rec.running.store(true, std::memory_order_seq_cst);
    const time_point now = clock_.now();
    if (rec.deadline != time_point::max() && now > rec.deadline) {
      const nanoseconds late = now - rec.deadline;
      tally.late(late);
      BERTH_STRESS_CHECK(late <= lateness_bound, "request %llu completed (%s) %lld us after its deadline (bound %lld ms)",
                         ull(rec.id), r ? "a lease" : errc_name(r.error().code), to_us(late),
                         static_cast<long long>(lateness_bound.count()));
    }
    if (!r) return failed(rec, r.error(), now);

    BERTH_STRESS_CHECK(!rec.after_close, "request %llu, issued after close() returned, got a lease", ull(rec.id));
    lease_type l = std::move(*r);
    connection_state& cs = l->state();
    const std::uint64_t me = client_owner_base + rec.client;
    claim(cs, me, "an async completion");
    ++cs.uses;  // plain: the pool must order us after the previous owner
    tally.leases.fetch_add(1, std::memory_order_relaxed);
    publish(rec, 0);

    rng hr(derive_seed(seed_, 3'000'000 + rec.id));
    const std::uint64_t h = hr.below(100);
    if (sc_.end == ending::destroy_under_load && h >= 50)  // deliveries in progress when the destructor starts
      std::this_thread::sleep_for(std::chrono::microseconds{static_cast<std::int64_t>(hr.between(50, 500))});
    else if (h >= 90)
      std::this_thread::sleep_for(std::chrono::microseconds{static_cast<std::int64_t>(hr.between(1, 20))});
    else if (h >= 80)
      std::this_thread::yield();

    const std::uint64_t ending = hr.below(1000);
    if (ending < 400) {  // the issuing thread ends it later, on another thread
      client& c = clients_[rec.client];
      std::lock_guard lk(c.mutex);
      if (!c.mailbox_closed && !c.mailbox) {
        c.mailbox.emplace(std::move(l));
        c.mailbox_owner = me;
        c.mailbox_until = clock_type::now() + std::chrono::microseconds{static_cast<std::int64_t>(hr.below(2000))};
        tally.stashed.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    unclaim(cs, me);
    if (ending < 420) {
      tally.discards.fetch_add(1, std::memory_order_relaxed);
      l.discard();
    } else if (ending < 440 && may_throw) {
      tally.throws.fetch_add(1, std::memory_order_relaxed);
      throw injected_fault("stress: a handler threw with its lease alive");  // reset during unwinding
    } else if (ending < 600) {
      lease_type other = std::move(l);
      BERTH_STRESS_CHECK(other && !l, "moving a lease did not move ownership");
    } else {
      l.release();
    }
  }

  void dropped(request_record& rec) {
    int expected = static_cast<int>(req_state::pending);
    BERTH_STRESS_CHECK(rec.state.compare_exchange_strong(expected, static_cast<int>(req_state::dropped),
                                                         std::memory_order_seq_cst),
                       "request %llu: handler destroyed uncalled after the request %s", ull(rec.id),
                       expected == static_cast<int>(req_state::completed) ? "completed" : "was already dropped");
  }

  /// Handlers counted twice or called after a move abort at once; this is
  /// the exactly-once check for the call itself.
  void called(request_record& rec) {
    BERTH_STRESS_CHECK(rec.now_state() == req_state::pending, "request %llu: handler called after the request %s",
                       ull(rec.id), rec.now_state() == req_state::dropped ? "was dropped" : "completed");
  }

  /// Before a destruction under load (the issuers have stopped): every
  /// idle client issues one request without a deadline or cancel plan.
  void final_burst(rng& r) {
    for (client& c : clients_) {
      {
        std::lock_guard lk(c.mutex);
        if (c.current && c.current->now_state() != req_state::pending) reap_locked(c);
        if (c.current) continue;
      }
      issue(c, r, false, true);
    }
  }

  /// Cancels each request in flight with probability p; returns how many
  /// cancel() calls were made.
  std::uint64_t cancel_some(rng& r, double p) {
    std::uint64_t n = 0;
    for (client& c : clients_) {
      const auto [rec, h] = snapshot(c);
      if (!rec || !r.chance(p)) continue;
      cancel(*rec, h);
      ++n;
    }
    return n;
  }

  /// Every request in flight (under the clients' locks).
  std::vector<std::shared_ptr<request_record>> in_flight() {
    std::vector<std::shared_ptr<request_record>> v;
    for (client& c : clients_) {
      std::lock_guard lk(c.mutex);
      if (c.current) v.push_back(c.current);
    }
    return v;
  }

  /// Reaps every client's resolved request (after the issuers stopped).
  void reap_all() {
    for (client& c : clients_) {
      std::lock_guard lk(c.mutex);
      if (c.current && c.current->now_state() != req_state::pending) reap_locked(c);
    }
  }

  std::uint64_t reaped_total() const { return reaped_.load(std::memory_order_relaxed); }

  static const char* outcome_name(int code) {
    return code == 0 ? "a lease" : code < 0 ? "nothing" : errc_name(static_cast<errc>(code));
  }

 private:
  /// True once client c issues no more requests.
  bool done_issuing(const client& c, std::uint64_t quota) const {
    if (stop_issuing.load(std::memory_order_relaxed)) return true;
    if (sc_.end == ending::close_under_load) return c.issued_after_close >= post_close_requests;
    return quota != 0 && c.issued >= quota;
  }

  /// One step of client c: end its mailbox lease when due, carry out its
  /// cancel plan, reap its resolved request, or issue the next one. True
  /// if it did something.
  bool step_client(client& c, rng& r, std::uint64_t quota) {
    std::unique_lock lk(c.mutex);
    if (c.mailbox && clock_type::now() >= c.mailbox_until) {
      lease_type l = std::move(*c.mailbox);
      c.mailbox.reset();
      const std::uint64_t owner = c.mailbox_owner;
      lk.unlock();
      end_mailbox_lease(std::move(l), owner, r);
      return true;
    }
    if (c.current) {
      request_record& rec = *c.current;
      const bool resolved = rec.now_state() != req_state::pending;
      if ((!resolved && rec.plan == request_record::cancel_plan::at && clock_type::now() >= rec.cancel_at) ||
          (resolved && rec.plan == request_record::cancel_plan::after_completion)) {  // the latter must return false
        rec.plan = request_record::cancel_plan::none;
        const auto keep = c.current;
        const async_handle h = c.handle;
        lk.unlock();
        cancel(*keep, h);
        return true;
      }
      if (!resolved) return false;
      reap_locked(c);
    }
    // Idle: issue another request, unless this client is done.
    const bool after_close = close_returned.load(std::memory_order_acquire);
    if (done_issuing(c, quota)) return false;
    lk.unlock();
    issue(c, r, after_close, false);
    return true;
  }

  void reap_locked(client& c) {
    request_record& rec = *c.current;
    const req_state st = rec.now_state();
    if (st == req_state::completed && rec.cancel_acked.load(std::memory_order_seq_cst))
      BERTH_STRESS_CHECK(rec.code.load(std::memory_order_relaxed) == static_cast<int>(errc::cancelled),
                         "request %llu: cancel() returned true, handler got %s", ull(rec.id),
                         outcome_name(rec.code.load(std::memory_order_relaxed)));
    if (st == req_state::dropped) tally.dropped.fetch_add(1, std::memory_order_relaxed);
    c.current.reset();
    c.handle = async_handle();
    reaped_.fetch_add(1, std::memory_order_relaxed);
  }

  void end_mailbox_lease(lease_type l, std::uint64_t owner, rng& r) {
    unclaim(l->state(), owner);
    if (r.below(100) < 3) {
      tally.discards.fetch_add(1, std::memory_order_relaxed);
      l.discard();
    }  // else its destructor returns it
  }

  /// Issues client c's next request; `last`: no deadline, no cancel plan.
  void issue(client& c, rng& r, bool after_close, bool last) {
    auto rec = std::make_shared<request_record>(next_id_.fetch_add(1, std::memory_order_relaxed), c.index);
    rec->after_close = after_close;
    // Executor: the dropper drops only in its phase; coroutines never use
    // it (a dropped resumption would leak the frame).
    const std::uint64_t e = r.below(100);
    const bool coroutine = r.below(100) < 10;
    thread_pool_executor& ex = e < 50 || (coroutine && e < 75) ? plain_ : e < 75 ? dropper_ : thrower_;
    // Deadline.
    const std::uint64_t d = r.below(100);
    const std::chrono::microseconds timeout{static_cast<std::int64_t>(
        d < 10 ? 0 : d < 30 ? r.between(1, 100) : d < 60 ? r.between(100, 5000) : r.between(20'000, 200'000))};
    const bool none = d >= 85 || last;
    const bool passed = d < 10 && !last;
    const bool use_for = !none && !passed && r.below(2) == 0;
    // Cancellation.
    if (!coroutine && !last) {
      const std::uint64_t k = r.below(100);
      rec->plan = k < 55   ? request_record::cancel_plan::none
                  : k < 70 ? request_record::cancel_plan::immediate
                  : k < 90 ? request_record::cancel_plan::at
                           : request_record::cancel_plan::after_completion;
      rec->cancel_at = clock_type::now() + std::chrono::microseconds{static_cast<std::int64_t>(r.below(3000))};
    }
    const time_point now = clock_.now();
    rec->issued = now;
    rec->coroutine = coroutine;
    rec->use_for = use_for;
    rec->executor = ex.name().c_str();
    rec->deadline = none ? time_point::max() : passed ? now - std::chrono::microseconds{static_cast<std::int64_t>(r.below(1000))} : now + timeout;
    {
      std::lock_guard lk(c.mutex);
      c.current = rec;
      c.handle = async_handle();
    }
    ++c.issued;
    if (after_close) {
      ++c.issued_after_close;
      tally.after_close.fetch_add(1, std::memory_order_relaxed);
    }
    tally.issued.fetch_add(1, std::memory_order_relaxed);
    if (coroutine) {
      tally.coroutines.fetch_add(1, std::memory_order_relaxed);
      run_coroutine(rec, ex.executor());
      return;
    }
    async_handle h;
    try {
      if (use_for)
        h = pool_.async_acquire_for(timeout, ex.executor(), completion(rec, this));
      else
        h = pool_.async_acquire(rec->deadline, ex.executor(), completion(rec, this));
    } catch (const std::bad_alloc&) {
      // The fast path claimed a connection and post() threw: no request
      // started, the connection went back, the handler was destroyed.
      BERTH_STRESS_CHECK(&ex == &thrower_, "async_acquire threw bad_alloc on executor %s", ex.name().c_str());
      int expected = static_cast<int>(req_state::dropped);
      BERTH_STRESS_CHECK(rec->state.compare_exchange_strong(expected, static_cast<int>(req_state::start_threw)),
                         "request %llu: async_acquire threw, the handler's state is %d", ull(rec->id), expected);
      tally.start_threw.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    {
      std::lock_guard lk(c.mutex);
      c.handle = h;
    }
    if (rec->plan == request_record::cancel_plan::immediate) {
      rec->plan = request_record::cancel_plan::none;
      cancel(*rec, h);
    }
  }

  detached run_coroutine(std::shared_ptr<request_record> rec, thread_pool_executor::ref ex) {
    acquire_result r = co_await pool_.acquire_async(rec->deadline, ex);
    called(*rec);
    complete(*rec, std::move(r), false);  // a coroutine's body may not throw (unhandled_exception fails)
  }

  void failed(request_record& rec, const acquire_error& e, time_point now) {
    const errc code = e.code;
    switch (code) {
      case errc::timeout:
        BERTH_STRESS_CHECK(now >= rec.deadline, "request %llu timed out %lld us before its deadline", ull(rec.id),
                           to_us(rec.deadline - now));
        BERTH_STRESS_CHECK(e.waited >= nanoseconds{0} && e.waited <= now - rec.issued,
                           "request %llu: timeout says waited %lld us, issued %lld us ago", ull(rec.id),
                           to_us(e.waited), to_us(now - rec.issued));
        BERTH_STRESS_CHECK(e.pool_name == sc_.name, "request %llu: timeout names pool '%s'", ull(rec.id),
                           e.pool_name.c_str());
        tally.timeouts.fetch_add(1, std::memory_order_relaxed);
        break;
      case errc::cancelled:
        BERTH_STRESS_CHECK(rec.cancel_attempts.load(std::memory_order_seq_cst) > 0,
                           "request %llu completed with errc::cancelled, but nobody cancelled it", ull(rec.id));
        tally.cancelled.fetch_add(1, std::memory_order_relaxed);
        break;
      case errc::pool_closed:
        BERTH_STRESS_CHECK(close_started.load(std::memory_order_seq_cst),
                           "request %llu completed with pool_closed before anyone closed the pool", ull(rec.id));
        tally.closed.fetch_add(1, std::memory_order_relaxed);
        break;
      default:
        fail("request %llu completed with errc::%s", ull(rec.id), errc_name(code));
    }
    if (rec.after_close)
      BERTH_STRESS_CHECK(code == errc::pool_closed || code == errc::cancelled,
                         "request %llu, issued after close() returned, completed with %s", ull(rec.id),
                         errc_name(code));
    BERTH_STRESS_CHECK(e.counts.max_size == sc_.max_size, "request %llu: error counts say max_size=%zu",
                       ull(rec.id), e.counts.max_size);
    publish(rec, static_cast<int>(code));
  }

  /// [C1] the handler's side.
  void publish(request_record& rec, int code) {
    rec.code.store(code, std::memory_order_relaxed);  // ordered by the seq_cst store below
    rec.state.store(static_cast<int>(req_state::completed), std::memory_order_seq_cst);
    if (rec.cancel_acked.load(std::memory_order_seq_cst))
      BERTH_STRESS_CHECK(code == static_cast<int>(errc::cancelled),
                         "request %llu: cancel() returned true, yet the handler got %s", ull(rec.id), outcome_name(code));
  }

  stress_pool& pool_;
  const clock_source& clock_;
  const scenario& sc_;
  const std::uint64_t seed_;
  thread_pool_executor plain_, dropper_, thrower_;
  std::vector<client> clients_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::uint64_t> reaped_{0};
};

completion::~completion() {
  if (rec_ && !called_) side_->dropped(*rec_);
}

void completion::operator()(acquire_result r) {
  BERTH_STRESS_CHECK(rec_ != nullptr, "a moved-from handler was called");
  BERTH_STRESS_CHECK(!called_, "request %llu: handler called twice", ull(rec_->id));
  called_ = true;
  side_->called(*rec_);
  side_->complete(*rec_, std::move(r), true);
}

// ---- a scenario ------------------------------------------------------------------

/// The fake clock's ticker: advances it by the real time elapsed, in jumps
/// of 0.2-3 ms, until destroyed. It runs only while the pool is fully
/// constructed: pool_core subscribes to the clock in its constructor and
/// unsubscribes in its destructor, while the vtable pointer of the pool
/// object is being written, and advance() calls on_clock_advanced() through
/// it (a data race TSan reports; only a clock advanced from another thread
/// during construction or destruction meets it, which the unit tests never
/// do).
class ticker {
 public:
  ticker(testing::fake_clock* clock, std::uint64_t seed) {
    if (clock == nullptr) return;
    thread_ = std::thread([this, clock, seed] {
      rng r(seed);
      auto last = clock_type::now();
      while (!stop_.load(std::memory_order_relaxed)) {
        std::this_thread::sleep_for(std::chrono::microseconds{static_cast<std::int64_t>(r.between(200, 3000))});
        const auto now = clock_type::now();
        clock->advance(now - last);  // wakes every waiter of the pool (wake_all_locked)
        last = now;
        jumps_.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;
  ~ticker() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t jumps() const { return jumps_.load(std::memory_order_relaxed); }  // for display

 private:
  std::atomic<bool> stop_{false};  // relaxed: only ends the loop; join orders the rest
  std::atomic<std::uint64_t> jumps_{0};
  std::thread thread_;
};

void report_async(stress_pool* p, async_side& side, const control& ctl, const clock_source& clock) {
  if (p != nullptr)
    std::fprintf(stderr, "  pool: %s, closed=%d\n", p->counts().to_string().c_str(), p->closed() ? 1 : 0);
  else
    std::fprintf(stderr, "  pool: being destroyed\n");
  for (thread_pool_executor* e : side.executors())
    std::fprintf(stderr, "  executor %s: queued=%zu posted=%llu ran=%llu dropped=%llu\n", e->name().c_str(),
                 e->queued(), ull(e->posted.load()), ull(e->ran.load()), ull(e->dropped.load()));
  std::fprintf(stderr, "  async: issued=%llu reaped=%llu\n", ull(side.issued_total()), ull(side.reaped_total()));
  for (const auto& rec : side.in_flight())
    std::fprintf(stderr,
                 "  request %llu (client %u, %s%s on %s): state=%d running=%d cancel_attempts=%d acked=%d "
                 "issued %lld us ago, deadline %s%lld us\n",
                 ull(rec->id), rec->client, rec->coroutine ? "coroutine" : "handler",
                 rec->use_for ? ", async_acquire_for" : "", rec->executor, rec->state.load(),
                 rec->running.load() ? 1 : 0, rec->cancel_attempts.load(), rec->cancel_acked.load() ? 1 : 0,
                 to_us(clock.now() - rec->issued), rec->deadline == time_point::max() ? "none " : "in ",
                 rec->deadline == time_point::max() ? 0LL : to_us(rec->deadline - clock.now()));
  unsigned finished = 0;
  for (unsigned i = 0; i < ctl.threads; ++i)
    finished += ctl.progress[i].doing.load(std::memory_order_relaxed) == static_cast<int>(activity::done);
  std::fprintf(stderr, "  blocking workers: %u of %u finished\n", finished, ctl.threads);
}

/// Blocks until no request is in flight (every client idle), or fails.
void wait_resolved(async_side& side, const char* name) {
  const auto limit = clock_type::now() + std::chrono::seconds{under_sanitizer ? 60 : 20};
  for (;;) {
    bool pending = false;
    for (const auto& rec : side.in_flight()) pending |= rec->now_state() == req_state::pending;
    if (!pending) return;
    BERTH_STRESS_CHECK(clock_type::now() < limit, "%s: requests still pending long after the load stopped", name);
    std::this_thread::sleep_for(1ms);
  }
}

/// The books of the asynchronous side: every request accounted for once,
/// and the executors agree about the drops.
void check_async_books(async_side& side, const char* name) {
  side.reap_all();
  const async_tally& t = side.tally;
  const std::uint64_t outcomes = t.get(t.leases) + t.get(t.timeouts) + t.get(t.cancelled) + t.get(t.closed) +
                                 t.get(t.dropped) + t.get(t.start_threw);
  BERTH_STRESS_CHECK(outcomes == t.get(t.issued),
                     "%s: %llu requests issued, %llu outcomes (leases %llu timeouts %llu cancelled %llu closed %llu "
                     "dropped %llu start_threw %llu)",
                     name, ull(t.get(t.issued)), ull(outcomes), ull(t.get(t.leases)), ull(t.get(t.timeouts)),
                     ull(t.get(t.cancelled)), ull(t.get(t.closed)), ull(t.get(t.dropped)), ull(t.get(t.start_threw)));
  std::uint64_t dropped_tasks = 0;
  for (thread_pool_executor* e : side.executors()) dropped_tasks += e->dropped.load();
  BERTH_STRESS_CHECK(dropped_tasks == t.get(t.dropped),
                     "%s: executors dropped %llu tasks, %llu handlers were dropped uncalled", name, ull(dropped_tasks),
                     ull(t.get(t.dropped)));
  BERTH_STRESS_CHECK(t.get(t.cancelled) <= t.get(t.cancel_true),
                     "%s: %llu cancelled completions, but cancel() returned true only %llu times", name,
                     ull(t.get(t.cancelled)), ull(t.get(t.cancel_true)));
}

/// Blocking and asynchronous totals, in the shape check_books() audits.
tally combined(const tally& blocking, const async_tally& a) {
  tally t = blocking;
  t.acquired += a.get(a.leases);
  t.timeouts += a.get(a.timeouts);
  t.discards += a.get(a.discards);
  t.throws += a.get(a.throws);
  return t;
}

void print_summary(const scenario& sc, unsigned round, const run_args& a, const tally& b, async_side& side,
                   const stress_script& s, std::uint64_t jumps, clock_type::duration destroy_time,
                   std::size_t destroyed_pending, clock_type::duration wall) {
  char name[64];
  if (sc.rounds > 1)
    std::snprintf(name, sizeof name, "%s#%u", sc.name, round + 1);
  else
    std::snprintf(name, sizeof name, "%s", sc.name);
  const async_tally& t = side.tally;
  std::uint64_t posted = 0, post_throws = 0, task_exceptions = 0;
  for (thread_pool_executor* e : side.executors()) {
    posted += e->posted.load();
    post_throws += e->post_throws.load();
    task_exceptions += e->task_exceptions.load();
  }
  std::printf(
      "stress: %-14s seed=%llu pool=%zu blocking=%u (ops=%llu acquires=%llu timeouts=%llu) clients=%u requests=%llu "
      "(leases=%llu coroutines=%llu timeouts=%llu cancelled=%llu closed=%llu dropped=%llu start_threw=%llu "
      "after_close=%llu) cancel()=%llu (true %llu) posts=%llu post_throws=%llu handler_throws=%llu mailbox=%llu "
      "validations=%llu validation_failures=%llu created=%llu connect_failures=%llu max_late=%lldus%s wall=%.2fs",
      name, ull(a.seed), sc.max_size, a.threads, ull(b.ops), ull(b.acquired), ull(b.timeouts), async_clients,
      ull(t.get(t.issued)), ull(t.get(t.leases)), ull(t.get(t.coroutines)), ull(t.get(t.timeouts)),
      ull(t.get(t.cancelled)), ull(t.get(t.closed)), ull(t.get(t.dropped)), ull(t.get(t.start_threw)),
      ull(t.get(t.after_close)), ull(t.get(t.cancel_calls)), ull(t.get(t.cancel_true)), ull(posted),
      ull(post_throws), ull(task_exceptions), ull(t.get(t.stashed)), ull(s.validates.load()),
      ull(s.validate_failures.load()), ull(s.created.load()), ull(s.connect_failures.load()),
      static_cast<long long>(t.max_late_ns.load() / 1000), "", std::chrono::duration<double>(wall).count());
  if (sc.jumpy_clock) std::printf(" clock_jumps=%llu", ull(jumps));
  if (sc.end == ending::destroy_under_load)
    std::printf(" destructor=%.1fms (%zu requests pending)",
                std::chrono::duration<double, std::milli>(destroy_time).count(), destroyed_pending);
  std::printf("\n");
  std::fflush(stdout);
}

void run_scenario(const scenario& sc, const run_args& a, std::uint64_t seed, unsigned round) {
  const auto start = clock_type::now();
  rng r(derive_seed(seed, 997));
  testing::fake_clock fake;  // used when sc.jumpy_clock; outlives the pool
  clock_source& clock = sc.jumpy_clock ? static_cast<clock_source&>(fake) : clock_source::steady();
  clock_type::duration destroy_time{};
  std::size_t destroyed_pending = 0;  // requests pending when the destructor started
  tally b;
  {
    pool_box box = make_pool(sc.name, options_for(sc), async_faults, seed, clock);
    std::optional<ticker> tick;
    tick.emplace(sc.jumpy_clock ? &fake : nullptr, derive_seed(seed, 996));
    std::uint64_t jumps = 0;
    auto stop_ticker = [&] {
      jumps = tick->jumps();
      tick.reset();
    };
    stress_pool& p = *box.pool;
    stress_script& s = *box.script;
    {
      // Declared after the pool: the executors run until the pool is gone.
      async_side side(p, clock, sc, seed);
      control ctl(a.threads);
      worker_config cfg;
      cfg.iterations = 0;  // until ctl.stop, or the close phase ends
      cfg.close_phase = sc.end == ending::close_under_load;
      cfg.max_size = sc.max_size;
      cfg.pool_name = sc.name;
      cfg.clock = &clock;
      cfg.other_waiters = async_clients;
      cfg.other_ops = [&side] { return side.issued_total(); };
      cfg.after_op = [&side](rng& wr) {
        if (wr.below(100) < 5) side.cancel_random(wr);
      };
      const std::uint64_t quota = a.seconds ? 0 : std::max<std::uint64_t>(requests_per_client(a) / sc.rounds, 4);
      const std::uint64_t nominal = std::uint64_t{async_clients} * (quota ? quota : 1);
      std::atomic<stress_pool*> live_pool{&p};  // for the watchdog's report

      watchdog dog(sc.name, hang_limit(a), [&] { report_async(live_pool.load(), side, ctl, clock); });
      std::atomic<bool> monitor_stop{false};  // relaxed: only ends a loop; join orders the rest
      std::thread monitor([&] {
        rng mr(derive_seed(seed, 999));
        lost_wakeup_watch stranded(sc.name);
        while (!monitor_stop.load(std::memory_order_relaxed)) {
          const pool_counts c = p.counts();
          stranded.sample(c);
          BERTH_STRESS_CHECK(c.total <= c.max_size && c.max_size == sc.max_size, "%s: counts under load: %s",
                             sc.name, c.to_string().c_str());
          BERTH_STRESS_CHECK(c.waiting <= ctl.threads + async_clients,
                             "%s: %zu waiting with %u threads and %u clients (counter underflow?)", sc.name, c.waiting,
                             ctl.threads, async_clients);
          const pool_stats st = p.stats();
          BERTH_STRESS_CHECK(st.wait.p50 <= st.wait.p99 && st.wait.p99 <= st.wait.max, "%s: wait percentiles",
                             sc.name);
          // A request whose deadline passed long ago and that has not
          // completed (nor been dropped) is stuck: report it now rather
          // than when the watchdog fires.
          if (mr.below(50) == 0) {
            const time_point now = clock.now();
            for (const auto& rec : side.in_flight()) {
              if (rec->now_state() != req_state::pending || rec->deadline == time_point::max() ||
                  now - rec->deadline < 5 * lateness_bound)
                continue;
              std::fprintf(stderr, "stress: STUCK: request %llu passed its deadline %lld ms ago; state:\n",
                           ull(rec->id), static_cast<long long>(to_us(now - rec->deadline) / 1000));
              report_async(&p, side, ctl, clock);
              fail("%s: request %llu never completed", sc.name, ull(rec->id));
            }
          }
          std::this_thread::sleep_for(std::chrono::microseconds{static_cast<std::int64_t>(mr.between(200, 2000))});
        }
      });

      b = run_workers(p, ctl, cfg, seed, [&] {
        std::vector<std::thread> issuers;
        for (unsigned k = 0; k < issuing_threads; ++k)
          issuers.emplace_back([&side, k, quota] { side.issue_loop(k, quota); });
        // The dropper's phase (the middle third; in the close ending the
        // second sixth), and the close at half-time.
        const auto t0 = clock_type::now();
        auto progress = [&] {  // 0..1
          if (a.seconds)
            return std::chrono::duration<double>(clock_type::now() - t0).count() / static_cast<double>(a.seconds);
          return static_cast<double>(side.issued_total()) / static_cast<double>(nominal);
        };
        const bool closing = sc.end == ending::close_under_load;
        const double drop_from = closing ? 1.0 / 6 : 1.0 / 3, drop_to = closing ? 2.0 / 6 : 2.0 / 3;
        bool dropping = false, dropped_once = false;
        bool closed = !closing;
        for (;;) {
          const double f = progress();
          if (!dropped_once && f >= drop_from) {
            side.dropper().set_drop(0.1);
            dropping = dropped_once = true;
          }
          if (dropping && f >= drop_to) {
            side.dropper().set_drop(0);
            dropping = false;
          }
          if (!closed && f >= 0.5) {
            side.close_started.store(true, std::memory_order_seq_cst);
            const bool drain = r.chance(0.5);
            if (drain) {
              const std::error_code ec =
                  p.drain(std::chrono::microseconds{static_cast<std::int64_t>(r.between(0, 20000))});
              BERTH_STRESS_CHECK(!ec || ec == make_error_code(errc::drain_timeout), "%s: drain() returned %s",
                                 sc.name, ec.message().c_str());
            } else {
              p.close();
            }
            BERTH_STRESS_CHECK(p.closed(), "%s: closed() false after close()/drain() returned", sc.name);
            // Release: pairs with the issuers' and workers' acquire loads.
            side.close_returned.store(true, std::memory_order_release);
            ctl.close_returned.store(true, std::memory_order_release);
            closed = true;
          }
          if (a.seconds && f >= 1.0) side.stop_issuing.store(true, std::memory_order_relaxed);
          if (closing ? closed : f >= 1.0) break;  // after a close, the issuers end on their own
          std::this_thread::sleep_for(1ms);
        }
        for (std::thread& t : issuers) t.join();
        side.dropper().set_drop(0);
        ctl.stop.store(true, std::memory_order_relaxed);
      });
      monitor_stop.store(true, std::memory_order_relaxed);
      monitor.join();

      wait_resolved(side, sc.name);
      for (thread_pool_executor* e : side.executors()) e->wait_idle();
      if (sc.end != ending::destroy_under_load) {
        const pool_counts c = p.counts();
        BERTH_STRESS_CHECK(c.leased == 0 && c.waiting == 0,
                           "%s: with every request resolved and every worker joined: %s", sc.name,
                           c.to_string().c_str());
        check_async_books(side, sc.name);
        side.close_started.store(true, std::memory_order_seq_cst);
        const std::error_code ec = p.drain(std::chrono::seconds{under_sanitizer ? 60 : 20});
        BERTH_STRESS_CHECK(!ec, "%s: drain() with nothing out failed: %s (%s)", sc.name, ec.message().c_str(),
                           p.counts().to_string().c_str());
        check_all_closed(p, s, sc.name);
        const pool_stats st = p.stats();
        check_books(st, s, combined(b, side.tally), sc.name,
                    side.tally.get(side.tally.dropped) + side.tally.get(side.tally.start_threw));
        check_events(*box.events, st, sc.name);
        check_closed_acquires(p, sc.name);
        // An asynchronous acquire on the closed pool fails too, through its executor.
        std::promise<acquire_result> got;
        auto fut = got.get_future();
        p.async_acquire_for(10ms, side.executors()[0]->executor(),
                            [&got](acquire_result res) { got.set_value(std::move(res)); });
        BERTH_STRESS_CHECK(fut.wait_for(lateness_bound) == std::future_status::ready,
                           "%s: async_acquire on a closed pool did not complete", sc.name);
        const acquire_result late = fut.get();
        BERTH_STRESS_CHECK(!late && late.error().code == errc::pool_closed,
                           "%s: async_acquire on a closed pool did not fail with pool_closed", sc.name);
        live_pool.store(nullptr);
        stop_ticker();
        box.pool.reset();
      } else {
        // Destruction under load. The pool waits for its requests'
        // completions, but a fast-path completion (a connection was idle:
        // async_acquire posted a task holding it at once) is no request and
        // is not waited for. So: hold every connection, so that nothing is
        // idle; let every client issue one request without a deadline (they
        // all queue); cancel a random half; give the connections back (the
        // hand-offs start deliveries, whose handlers hold their lease for up
        // to 0.5 ms); and destroy the pool at once, the executors running.
        std::vector<lease_type> held;
        const auto limit = clock_type::now() + std::chrono::seconds{under_sanitizer ? 60 : 20};
        while (held.size() < sc.max_size) {
          auto l = p.acquire_for(acquire_timeout);
          if (l) {
            held.push_back(std::move(*l));
            continue;
          }
          BERTH_STRESS_CHECK(l.error().code == errc::timeout && clock_type::now() < limit,
                             "%s: could not lease every connection before the destruction: %s", sc.name,
                             l.error().message().c_str());
        }
        side.final_burst(r);
        side.cancel_some(r, 0.5);
        held.clear();
        const auto flying = side.in_flight();
        for (const auto& rec : flying) destroyed_pending += rec->now_state() == req_state::pending;
        live_pool.store(nullptr);
        side.close_started.store(true, std::memory_order_seq_cst);
        stop_ticker();
        const auto d0 = clock_type::now();
        box.pool.reset();
        destroy_time = clock_type::now() - d0;
        // The destructor waited for every request's completion: none is
        // still running, and none that has not completed yet ever will
        // (the only thing left to happen to one is a drop in progress).
        std::vector<std::shared_ptr<request_record>> unfinished;
        for (const auto& rec : flying) {
          BERTH_STRESS_CHECK(!rec->running.load(std::memory_order_seq_cst),
                             "%s: request %llu's handler was still running when the pool's destructor returned",
                             sc.name, ull(rec->id));
          if (rec->now_state() == req_state::pending) unfinished.push_back(rec);
        }
        for (thread_pool_executor* e : side.executors()) e->wait_idle();
        for (const auto& rec : unfinished)
          BERTH_STRESS_CHECK(rec->now_state() == req_state::dropped,
                             "%s: request %llu completed (%s) after the pool's destructor returned", sc.name,
                             ull(rec->id), async_side::outcome_name(rec->code.load()));
        check_async_books(side, sc.name);
        const tally all = combined(b, side.tally);
        BERTH_STRESS_CHECK(s.total_uses() == all.acquired, "%s: connections were used %llu times, %llu leases",
                           sc.name, ull(s.total_uses()), ull(all.acquired));
      }
      BERTH_STRESS_CHECK(s.live.load() == 0 && s.open_count() == 0 && s.dropped_unclosed.load() == 0 &&
                             s.created.load() == s.closed.load(),
                         "%s: after destruction live=%lld created=%llu closed=%llu dropped_unclosed=%llu", sc.name,
                         static_cast<long long>(s.live.load()), ull(s.created.load()), ull(s.closed.load()),
                         ull(s.dropped_unclosed.load()));
      for (thread_pool_executor* e : side.executors()) e->stop();
      print_summary(sc, round, a, b, side, s, jumps, destroy_time, destroyed_pending, clock_type::now() - start);
    }
  }
}

}  // namespace
}  // namespace berth::stress

int main(int argc, char** argv) {
  using namespace berth::stress;
  using namespace std::chrono_literals;
  const run_args a = parse_args(argc, argv);
  print_banner("berth_stress_async", a);
  live_view view(a, argc, argv);  // status line and --report (live_view.hpp)
  g_live = &view;
  const auto start = clock_type::now();
  const std::array<scenario, 4> scenarios{{
      {"mixed-4", 4, 2, 1000us, 2ms, false, ending::quiesce, 1},
      {"strict-6", 6, 2, 0us, 2ms, false, ending::close_under_load, 1},
      {"validate-4", 4, 1, 1000us, 0ms, false, ending::destroy_under_load, 6},
      {"jumpy-clock-6", 6, 2, 1000us, 2ms, true, ending::quiesce, 1},
  }};
  unsigned ran = 0;
  std::uint64_t stream = 0;
  for (const scenario& sc : scenarios) {
    const std::uint64_t seed = derive_seed(a.seed, ++stream);
    if (!selected(a, sc.name)) continue;
    const unsigned rounds = a.seconds ? 1 : sc.rounds;  // soak: one long round
    for (unsigned round = 0; round < rounds; ++round) run_scenario(sc, a, derive_seed(seed, round), round);
    ++ran;
  }
  if (ran == 0) usage(argv[0], ("no scenario matches --only " + a.only).c_str());
  g_live = nullptr;
  view.finish();
  std::printf("stress: PASS (seed=%llu, %.2fs)\n", static_cast<unsigned long long>(a.seed),
              std::chrono::duration<double>(clock_type::now() - start).count());
  return 0;
}
