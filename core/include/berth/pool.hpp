// pool.hpp: berth::pool<Adapter>, the public pool.
//
// Usage:
//   berth::pool<my_adapter> p{my_adapter{...}, {.max_size = 16}};
//   if (auto l = p.acquire_for(50ms)) use(**l);          // non-throwing
//   auto l = p.acquire().value();                         // throws acquire_exception
//   p.with([](my_conn& c) { ... });                       // scoped
#pragma once

#include <berth/acquire_error.hpp>
#include <berth/adapter.hpp>
#include <berth/clock.hpp>
#include <berth/detail/duration.hpp>
#include <berth/detail/borrowed.hpp>
#include <berth/detail/pool_core.hpp>
#include <berth/executor.hpp>
#include <berth/lease.hpp>
#include <berth/options.hpp>
#include <berth/result.hpp>
#include <berth/stats.hpp>

#include <chrono>
#include <concepts>
#include <coroutine>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

namespace berth {

/// A handle on one asynchronous acquire (pool::async_acquire), for
/// cancelling it. Copyable; it may outlive the request (cancel() then
/// returns false), and the pool too once the request's handler has run
/// (AsyncTest.CancelAfterThePoolIsGoneIsFalseAndHarmless), but not a pool
/// destroyed while the request is pending.
/// Distinct objects: safe. Shared objects: safe (cancel takes the pool's
/// slow-path mutex briefly).
class async_handle {
 public:
  async_handle() noexcept = default;

  /// Cancels the request: true if it had not completed, in which case its
  /// handler runs (on its executor, exactly once) with errc::cancelled and a
  /// connection handed to it at this very moment goes back to the pool or
  /// the next waiter; false if it already completed or its success was
  /// being delivered (the handler then gets the lease). Thread-safe. Never
  /// blocks on I/O.
  bool cancel() const noexcept {
    // A finished request's pool may be gone while an executor still holds
    // its run (and so the request): `finished` says so without touching
    // the pool (AsyncTest.CancelAfterThePoolIsGoneWhileTheExecutorKeepsTheRunBug).
    if (auto r = r_.lock(); r && !r->finished.load(std::memory_order_acquire)) return r->owner->async_cancel(*r);
    return false;
  }

 private:
  template <adapter A>
  friend class pool;
  explicit async_handle(std::weak_ptr<detail::async_request> r) noexcept : r_(std::move(r)) {}
  std::weak_ptr<detail::async_request> r_;
};

/// A pool of A::connection_type connections made by an adapter A.
///
/// acquire/try_acquire/with/stats/counts/close/drain/evict_all/resize/
/// suspend/resume may be called from any number of threads concurrently. The
/// pool is neither copyable nor movable (leases and its threads point into
/// it). Resizing and suspending a live pool: pool_core's resize(), sizing(),
/// suspend(), resume(), suspended() (detail/pool_core.hpp, issue 11).
/// Distinct objects: safe. Shared objects: safe for acquire*, with, stats,
/// counts, close, drain, evict_all, resize, suspend, resume; unsafe for
/// destruction.
/// An adapter_with_sweep (adapter.hpp) is attached to its pool, so that it
/// can have stale connections dropped (sweep()); the pool is its
/// sweep_target for its whole life.
template <adapter A>
class pool final : public detail::pool_core, private sweep_target {
  static_assert(!declares_needs_reset<A> || adapter_with_needs_reset<A>,
                "berth::pool: the adapter's needs_reset(const connection_type&) must be const, noexcept and return "
                "bool; as declared the pool would never call it (adapter.hpp)");
 public:
  using connection_type = typename A::connection_type;
  using lease_type = lease<A>;
  using acquire_result = result<lease_type, acquire_error>;
  using time_point = clock_source::time_point;

  /// Validates opts (throws options_error naming the field), then with
  /// startup_mode::fail_fast opens min_idle connections in this thread
  /// (throws std::system_error(errc::startup_failed) with the adapter's
  /// message on the first failure), then starts its creator and reaper threads.
  /// clock must outlive the pool; tests pass a fake one.
  explicit pool(A adapter, const pool_options& opts = {},
                clock_source& clock = clock_source::steady())
      : pool_core(opts, clock),
        adapter_(std::move(adapter)),
        conns_(std::make_unique<std::optional<connection_type>[]>(slot_capacity(options()))) {
    set_conn_base(conns_.get(), sizeof(std::optional<connection_type>));  // before any acquire (pool_core.hpp)
    if constexpr (adapter_with_sweep<A>) {
      force_reaper();  // a sweep flags idle connections stale; the reaper validates them for try_acquire
      adapter_.attach(static_cast<sweep_target*>(this));
      try {
        start();
      } catch (...) {
        adapter_.attach(nullptr);
        throw;
      }
    } else {
      start();
    }
  }

  /// Closes the pool and joins its thread. Aborts, naming each lease and
  /// where it was acquired, if leases are still outstanding. A lease whose
  /// connection is back but whose release() has not returned yet is waited
  /// for when it still needs the pool (detail/release_mark.hpp,
  /// detail/gate_line.hpp): destroying the pool right after drain() is safe
  /// while other threads finish their releases. In a fork child
  /// that inherited the pool (forked(), berth/fork.hpp) it closes nothing,
  /// joins nothing and never blocks: the connections (the parent's
  /// sessions), the parent's thread handles and the slow-path mutex are
  /// leaked, and leases taken before the fork may still be outstanding; the
  /// adapter object itself is destroyed. Not thread-safe with other members.
  ~pool() {
    if (forked()) [[unlikely]] {
      abandon();
      (void)conns_.release();  // never destroyed here: a connection's destructor would close the parent's session
      return;
    }
    if constexpr (adapter_with_sweep<A>) adapter_.attach(nullptr);  // waits for a sweep in progress
    shutdown();
  }

  /// An idle connection now, or errc::would_block (none idle and ready, or
  /// acquirers are queued and fairness sends this one behind them) or
  /// errc::pool_closed. Never waits for a connection and never validates: a
  /// connection that must be validated first (unused for longer than
  /// validation_bypass) is left for a blocking acquire, and the reaper is
  /// woken to validate it at once on its own thread; putting it back and
  /// waking the reaper may briefly take the slow-path mutex. Calls no
  /// adapter function. Thread-safe. Never allocates.
  BERTH_HOT acquire_result try_acquire(std::source_location site = std::source_location::current()) noexcept {
    detail::thread_hint h;
    detail::slot_word::rep seen;
    if (claim_steady(site, h, seen)) [[likely]]
      return lease_type(this, conn_in(h.conn), h.meta);
    return acquire_general(seen, detail::acquire_limit{}, site);
  }

  /// Waits until deadline for a connection, FIFO among waiters. The deadline
  /// bounds the whole call: a validation at acquire gets at most the time
  /// left (passed as the adapter's timeout when it takes one) and none
  /// starts once it has passed. time_point::max() waits without a deadline;
  /// a deadline already passed still takes a connection that is idle and
  /// needs no validation. On failure: errc::timeout (with the pool's counts,
  /// the whole call's duration and the last creation error),
  /// errc::database_unavailable (nothing idle while the circuit breaker on
  /// creation is open: at once, or when it opens; with the last creation
  /// error), errc::pool_closed, or errc::forked (a fork child's copy of
  /// the pool, at once). Thread-safe. The fast path (a connection idle, no
  /// queue) never blocks, never allocates and reads no clock.
  BERTH_HOT acquire_result acquire_until(time_point deadline,
                               std::source_location site = std::source_location::current()) noexcept {
    detail::thread_hint h;
    detail::slot_word::rep seen;
    if (claim_steady(site, h, seen)) [[likely]]
      return lease_type(this, conn_in(h.conn), h.meta);
    return acquire_general(seen, {.k = detail::acquire_limit::kind::absolute, .deadline = deadline}, site);
  }

  /// acquire_until(now + timeout), computed without overflow: a timeout
  /// too large to add to the clock (e.g. any duration's max()) waits without
  /// a deadline; zero or negative tries once. The clock is read only if the
  /// fast path fails. Thread-safe.
  template <class Rep, class Period>
  BERTH_HOT acquire_result acquire_for(std::chrono::duration<Rep, Period> timeout,
                             std::source_location site = std::source_location::current()) noexcept {
    detail::thread_hint h;
    detail::slot_word::rep seen;
    if (claim_steady(site, h, seen)) [[likely]]
      return lease_type(this, conn_in(h.conn), h.meta);
    return acquire_general(
        seen, {.k = detail::acquire_limit::kind::relative, .timeout = detail::saturating_ns(timeout)}, site);
  }

  // ---- asynchronous acquire ---------------------------------------------------
  // Same pool, same queue: asynchronous requests wait in the FIFO beside
  // blocking acquirers and are served by the same hand-off and fairness
  // rules. A request completes exactly once, through `ex` (executor.hpp),
  // never inline inside this call or another thread's release(): with a
  // lease when a connection is idle (at once) or handed to it, with
  // errc::timeout when its deadline passes (a timer on the pool's async
  // thread, not a poll), errc::database_unavailable (the circuit breaker
  // on creation refused it: pool_options::breaker_threshold),
  // errc::pool_closed, or errc::cancelled. Validation
  // at acquire and connection checks run in the completion's run on `ex`,
  // so an adapter's blocking validate() blocks that executor's thread, as a
  // blocking acquire blocks its own.

  /// Acquires asynchronously until `deadline` (time_point::max(): none) and
  /// calls handler(acquire_result) on `ex`. The handler may throw; the
  /// exception leaves through the executor's run. Returns a handle to
  /// cancel the request (empty when it completed at once). Throws
  /// std::bad_alloc (or what ex.post throws when a connection is idle)
  /// without having taken a connection (one it claimed goes back as it
  /// came; stats().acquired counts a lease when the handler gets it, so
  /// never such a claim). Thread-safe. The fast path (a
  /// connection idle, no queue) posts once and reads no clock.
  template <executor E, class Handler>
    requires std::invocable<std::decay_t<Handler>&, acquire_result>
  async_handle async_acquire(time_point deadline, E ex, Handler&& handler,
                             std::source_location site = std::source_location::current()) {
    return async_entry([&] { return deadline; }, std::move(ex), std::forward<Handler>(handler), site);
  }

  /// async_acquire with a deadline `timeout` from now (clamped: see
  /// acquire_for; the clock is read only if the fast path fails).
  template <class Rep, class Period, executor E, class Handler>
    requires std::invocable<std::decay_t<Handler>&, acquire_result>
  async_handle async_acquire_for(std::chrono::duration<Rep, Period> timeout, E ex, Handler&& handler,
                                 std::source_location site = std::source_location::current()) {
    return async_entry([&] { return deadline_in(detail::saturating_ns(timeout)); }, std::move(ex),
                       std::forward<Handler>(handler), site);
  }

  /// What `co_await pool.acquire_async(deadline, ex)` awaits: an
  /// acquire_result. When a connection is idle the coroutine does not
  /// suspend; otherwise it suspends and is resumed on `ex` (executor.hpp)
  /// with the outcome. Plain C++20, no library, any coroutine type:
  /// - destroyed while suspended (its owner destroyed the frame), the
  ///   request is cancelled, and an outcome that arrives anyway (a lease)
  ///   is dropped, never written into the freed frame;
  /// - if the executor drops the resumption unrun (it is shutting down), a
  ///   coroutine that frees itself (its promise's final_suspend() is
  ///   std::suspend_never: a detached task) is destroyed, as Asio does with
  ///   the awaitables of a destroyed io_context, rather than leaked; any
  ///   other coroutine is left suspended for its owner to destroy (berth
  ///   never destroys a frame that something else owns).
  /// Unsafe to share: one co_await per object.
  template <executor E>
  class acquire_awaiter {
   public:
    /// Movable until co_awaited (as awaitable combinators store them).
    acquire_awaiter(acquire_awaiter&&) noexcept(std::is_nothrow_move_constructible_v<E>) = default;
    acquire_awaiter& operator=(acquire_awaiter&&) = delete;
    /// Suspended: cancels the request; its outcome is dropped (see above).
    ~acquire_awaiter() {
      if (!link_) return;
      async_handle h;
      {
        std::lock_guard lk(link_->m);
        link_->a = nullptr;
        h = std::move(link_->handle);
      }
      (void)h.cancel();  // false when the outcome is on its way: the resumer drops it
    }
    bool await_ready() noexcept {
      // The fast path keeps only the slot: the lease is made in
      // await_resume, and result_ (with its out-of-line reset) stays for
      // the suspended path (18 instructions of a 145-instruction cycle).
      slot_ = pool_->try_claim(site_, held_);
      return slot_ != detail::no_slot;
    }
    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> h) {
      constexpr bool frees_itself = requires(Promise& p) {
        { p.final_suspend() } -> std::same_as<std::suspend_never>;
      };
      link_ = std::make_shared<link>(this, h, frees_itself);
      const std::shared_ptr<link> l = link_;  // the outcome may resume (and end) us before start_async returns
      async_handle started = pool_->start_async(held_, [this] { return deadline_; }, std::move(ex_), resumer{l}, site_);
      std::lock_guard lk(l->m);
      if (l->a != nullptr && !l->done) l->handle = std::move(started);
    }
    acquire_result await_resume() {
      if (slot_ != detail::no_slot) return pool_->make_lease(slot_);
      link_.reset();
      return std::move(*result_);
    }

   private:
    friend class pool;
    /// What the awaiter and its request's handler share (the handler may
    /// outlive the awaiter: a frame destroyed while suspended).
    struct link {
      link(acquire_awaiter* aw, std::coroutine_handle<> ch, bool frees) noexcept : a(aw), h(ch), frees_itself(frees) {}
      std::mutex m;  // guards a, done and handle
      acquire_awaiter* a;  // null once the awaiter is destroyed
      std::coroutine_handle<> h;
      bool frees_itself;
      bool done = false;    // the outcome arrived
      async_handle handle;  // to cancel the request
    };
    /// The request's handler: stores the outcome and resumes the coroutine,
    /// unless its awaiter is gone (then the outcome, a lease, is dropped).
    struct resumer {
      std::shared_ptr<link> l;
      void operator()(acquire_result r) {
        {
          std::lock_guard lk(l->m);
          l->done = true;
          if (l->a == nullptr) return;  // r (a lease) goes back as it is destroyed
          l->a->result_.emplace(std::move(r));
        }
        l->h.resume();
      }
      void abandon() noexcept {
        bool destroy = false;
        {
          std::lock_guard lk(l->m);
          l->done = true;
          destroy = l->a != nullptr && l->frees_itself;
        }
        if (destroy) l->h.destroy();  // runs ~acquire_awaiter, which sees done
      }
    };
    acquire_awaiter(pool* p, time_point deadline, E ex, std::source_location site)
        : pool_(p), deadline_(deadline), ex_(std::move(ex)), site_(site) {}
    pool* pool_;
    time_point deadline_;
    E ex_;
    std::source_location site_;
    std::uint32_t held_ = detail::no_slot;
    std::uint32_t slot_ = detail::no_slot;  ///< claimed by await_ready's fast path
    std::optional<acquire_result> result_;
    std::shared_ptr<link> link_;  ///< while suspended
  };

  /// `co_await pool.acquire_async(deadline, ex)`: see acquire_awaiter.
  /// Thread-safe (each call makes its own awaiter).
  template <executor E>
  acquire_awaiter<E> acquire_async(time_point deadline, E ex,
                                   std::source_location site = std::source_location::current()) {
    return acquire_awaiter<E>(this, deadline, std::move(ex), site);
  }

  /// acquire_for(options().acquire_timeout). Thread-safe.
  BERTH_HOT acquire_result acquire(std::source_location site = std::source_location::current()) noexcept {
    detail::thread_hint h;
    detail::slot_word::rep seen;
    if (claim_steady(site, h, seen)) [[likely]]
      return lease_type(this, conn_in(h.conn), h.meta);
    return acquire_general(seen, site);  // reads the option there, not here
  }

  /// Runs f(connection&) with a connection from acquire() and returns its
  /// result. Throws acquire_exception if none could be had; if f throws, the
  /// exception propagates and the connection is reset or discarded (see
  /// pool_options::on_unwind). f may not return a reference, a
  /// std::string_view, a std::span, a pointer or a std::reference_wrapper,
  /// nor one inside an optional, pair, tuple, variant or container
  /// (detail::borrows_v):
  /// it would refer into a connection that is back in the pool (a compile
  /// error).
  /// Thread-safe.
  template <class F>
    requires std::is_invocable_v<F&&, connection_type&> &&
             (!detail::borrows_v<std::invoke_result_t<F&&, connection_type&>>)
  std::invoke_result_t<F&&, connection_type&> with(F&& f,
                                                   std::source_location site = std::source_location::current()) {
    lease_type l = acquire(site).value();
    // Released as unwinding only if f threw: a with() called from a
    // destructor during stack unwinding returns a healthy connection
    // (PoolTest.WithInADestructorDuringUnwindingKeepsTheConnectionBug).
    // Released while f's exception unwinds (an adapter's needs_reset()
    // may look at std::uncaught_exceptions() too).
    struct scope_end {
      lease_type& l;
      bool threw = false;
      ~scope_end() { l.release_when([this] { return threw; }); }
    } end{l};
    try {
      return std::forward<F>(f)(*l);
    } catch (...) {
      end.threw = true;
      throw;
    }
  }

  /// Soft-evicts the lease's connection (after a failover, or when the
  /// caller knows it is stale): the lease stays usable; the connection is
  /// closed when the lease ends instead of being returned. Thread-safe.
  /// Never blocks.
  void evict(const lease_type& l) noexcept {
    // An empty lease (pool_ null) is tested first: GCC at -O2, knowing a
    // moved-from lease's pool_ is null, otherwise read `l.pool_ == this` as
    // `this == nullptr` and warned of a call through a null `this`
    // (-Wnonnull), which fails a -Werror build of the caller (the tsan
    // preset, LeaseMisuseTest.AMovedFromLeaseIsEmpty...).
    if (l.pool_ != nullptr && l.pool_ == this) evict_slot(slot_index(*l.slot_));
  }

  /// The adapter. Thread-safety: that of A's const members.
  const A& adapter() const noexcept { return adapter_; }

 private:
  friend class lease<A>;

  /// A lease on slot i, which the caller has claimed.
  lease_type make_lease(std::uint32_t i) noexcept { return lease_type(this, conn_at(i), slot_at(i)); }

  /// A slot the fast path claimed for an asynchronous completion, until the
  /// completion runs. Destroyed before (its executor dropped the task, its
  /// post() threw, or copying the handler threw), it returns the slot as an
  /// ordinary release even while an exception is in flight: nobody used the
  /// connection, so nothing calls for the unwinding policy (a reset, or a
  /// discard) that a lease destroyed then would apply
  /// (AsyncTest.FastPathPostThatThrowsUnwindsTheLeaseBug).
  class slot_claim {
   public:
    slot_claim(pool* p, std::uint32_t i) noexcept : pool_(p), slot_(i) {}
    slot_claim(slot_claim&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), slot_(o.slot_) {}
    slot_claim& operator=(slot_claim&&) = delete;
    ~slot_claim() { drop(); }
    /// Never reached its handler: the slot goes back (its completion mark
    /// ends with the next lease's start). Empty afterwards.
    void drop() noexcept {
      if (pool* const p = std::exchange(pool_, nullptr)) p->release_unclaimed(slot_);
    }
    /// The lease, counted as handed out now; the claim is empty afterwards.
    lease_type take() noexcept {
      pool* const p = std::exchange(pool_, nullptr);
      p->fast_running();
      p->completion_taken(slot_);
      return p->make_lease(slot_);
    }

   private:
    pool* pool_;  // null once taken, dropped or moved from
    std::uint32_t slot_;
  };

  /// The fast path's completion: the claimed slot and the handler.
  template <class H>
  struct fast_completion {
    slot_claim claim;  // first: it returns the slot if constructing h throws
    H h;
    template <class Handler>
    fast_completion(slot_claim&& c, Handler&& handler) : claim(std::move(c)), h(std::forward<Handler>(handler)) {}
    fast_completion(fast_completion&&) = default;
    /// Dropped unrun: the slot goes back before the handler is destroyed,
    /// which may destroy the pool (a handler owning the last reference to
    /// it: AsyncTest.ADroppedFastPathCompletionWhoseHandlerOwnsThePoolBug).
    ~fast_completion() { claim.drop(); }
    /// Nothing touches the pool after the handler: it may have let the pool
    /// be destroyed (slot_meta::completion).
    void operator()() { std::move(h)(acquire_result(claim.take())); }
  };

  /// The fast path of async_acquire(_for): posts slot i's completion, which
  /// the pool's destruction waits for (completion_posted).
  template <class E, class Handler>
  void post_fast(std::uint32_t i, E& ex, Handler&& handler) {
    using H = std::decay_t<Handler>;
    completion_posted(i);
    struct posting {  // an executor running the completion inline is named (fast_running)
      explicit posting(const pool* p) noexcept { fast_posting(p); }
      ~posting() { fast_posting(nullptr); }
    } scope(this);
    ex.post(unique_task(fast_completion<H>(slot_claim(this, i), std::forward<Handler>(handler))));
  }

  /// One asynchronous request: the user's executor and handler. The
  /// handler is destroyed as soon as it has been called (or dropped), inside
  /// complete() or abandon(): the pool waits for those to return before it
  /// may be destroyed, so whatever the handler owns (a lease, say) ends
  /// while the pool exists.
  template <class E, class H>
  class async_op final : public detail::async_request {
   public:
    async_op(pool* p, E ex, H h) : pool_(p), ex_(std::move(ex)), h_(std::in_place, std::move(h)) {}
    void post(unique_task run) override { ex_.post(std::move(run)); }
    void complete(std::uint32_t i, acquire_error&& err) override {
      H h = std::move(*h_);
      h_.reset();
      if (i != detail::no_slot)
        std::move(h)(acquire_result(pool_->make_lease(i)));
      else
        std::move(h)(acquire_result(failure{std::move(err)}));
    }
    /// The executor dropped the run: a handler that must clean up (the
    /// coroutine awaiter's) is told, then the handler is destroyed.
    void abandon() noexcept override {
      if constexpr (requires(H& h) { h.abandon(); })
        if (h_) h_->abandon();
      h_.reset();
    }

   private:
    pool* pool_;
    E ex_;
    std::optional<H> h_;  // engaged until called or dropped
  };

  /// Both asynchronous entry points: the fast path (post the lease), else
  /// start_async. deadline() is called only on the slow path (it may read
  /// the clock).
  template <class D, class E, class Handler>
  async_handle async_entry(D deadline, E ex, Handler&& handler, std::source_location site) {
    std::uint32_t held;
    const std::uint32_t i = try_claim<false>(site, held);  // counted when the completion runs (slot_claim)
    if (i != detail::no_slot) [[likely]] {
      post_fast(i, ex, std::forward<Handler>(handler));
      return {};
    }
    return start_async(held, deadline, std::move(ex), std::forward<Handler>(handler), site);
  }

  /// The slow path of the asynchronous entry points: `held` is a flagged
  /// slot the fast path claimed, or no_slot; deadline() computes the
  /// deadline (the clock is read only here).
  template <class D, class E, class Handler>
  async_handle start_async(std::uint32_t held, D deadline, E ex, Handler&& handler, std::source_location site) {
    std::shared_ptr<async_op<E, std::decay_t<Handler>>> r;
    try {
      r = std::make_shared<async_op<E, std::decay_t<Handler>>>(this, std::move(ex),
                                                                std::decay_t<Handler>(std::forward<Handler>(handler)));
    } catch (...) {
      if (held != detail::no_slot) give_back(held);
      throw;
    }
    r->deadline = deadline();
    r->site = site;
    async_start(r, held);
    return async_handle(r);
  }

  /// The blocking and non-blocking acquires beyond claim_steady(): the
  /// ring, a flagged hint, then (cold) the slow path. `seen`: see
  /// pool_core::claim_general.
  BERTH_OUT_OF_LINE acquire_result acquire_general(detail::slot_word::rep seen, const detail::acquire_limit& limit,
                                                   std::source_location site) noexcept {
    std::uint32_t held;
    const std::uint32_t i = claim_general<true>(site, held, seen);
    if (i != detail::no_slot) [[likely]]
      return lease_type(this, conn_at(i), slot_at(i));
    return slow(held, limit, site);
  }

  /// acquire_general() with options().acquire_timeout (acquire()).
  BERTH_OUT_OF_LINE acquire_result acquire_general(detail::slot_word::rep seen, std::source_location site) noexcept {
    return acquire_general(
        seen, {.k = detail::acquire_limit::kind::relative, .timeout = detail::saturating_ns(options().acquire_timeout)},
        site);
  }

  /// Slot i's connection (engaged: the caller owns slot i, which holds one).
  connection_type* conn_at(std::uint32_t i) const noexcept { return conn_in(conn_storage(i)); }
  /// The connection in one element of the storage (conn_storage(i), or a
  /// thread hint's copy of it).
  static connection_type* conn_in(void* storage) noexcept {
    return &**static_cast<std::optional<connection_type>*>(storage);
  }

  BERTH_COLD acquire_result slow(std::uint32_t held, const detail::acquire_limit& limit, std::source_location site) noexcept {
    acquire_error err;
    const std::uint32_t i = claim_slow(held, limit, site, err);
    if (i != detail::no_slot) return lease_type(this, conn_at(i), slot_at(i));
    return failure{std::move(err)};
  }

  result<void, adapter_error> open_slot(std::uint32_t i) noexcept override {
    try {
      auto r = adapter_.connect();
      if (!r) return failure{std::move(r).error()};
      conns_[i].emplace(std::move(*r));
      return {};
    } catch (const std::exception& e) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), e.what()}};
    } catch (...) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), "connect threw"}};
    }
  }

  result<void, adapter_error> reset_slot(std::uint32_t i) noexcept override {
    try {
      return adapter_.reset(*conns_[i]);
    } catch (const std::exception& e) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), e.what()}};
    } catch (...) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), "reset threw"}};
    }
  }

  result<void, adapter_error> validate_slot(std::uint32_t i, std::chrono::milliseconds timeout) noexcept override {
    try {
      if constexpr (requires(A& a, connection_type& c, std::chrono::milliseconds t) {
                      { a.validate(c, t) } -> std::same_as<result<void, adapter_error>>;
                    })
        return adapter_.validate(*conns_[i], timeout);
      else
        return adapter_.validate(*conns_[i]);
    } catch (const std::exception& e) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), e.what()}};
    } catch (...) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), "validate threw"}};
    }
  }

  void close_slot(std::uint32_t i) noexcept override {
    adapter_.close(*conns_[i]);
    conns_[i].reset();
  }

  /// sweep_target: the adapter asked (adapter_with_sweep). Cold path.
  void sweep() noexcept override { sweep_with(true); }
  void sweep_idle() noexcept override { sweep_with(false); }
  void sweep_with(bool owned_too) noexcept {
    if constexpr (adapter_with_sweep<A>)
      sweep_slots(
          [](const void* self, std::uint32_t i) noexcept -> bool {
            const pool& p = *static_cast<const pool*>(self);
            return p.adapter_.should_evict(*p.conns_[i]);  // slot i is reserved by the sweep: ours
          },
          this, owned_too);
  }

  A adapter_;
  /// Slot i's connection; engaged while slot i is not empty. Accessed only by
  /// the slot's current owner (slot_state.hpp).
  std::unique_ptr<std::optional<connection_type>[]> conns_;
};

}  // namespace berth
