// async_acquire.hpp: berth::asio::async_acquire, a pool's asynchronous
// acquire (pool::async_acquire) as an Asio asynchronous operation:
// completion tokens, the handler's associated executor, per-operation
// cancellation.
//
//   asio::awaitable<void> serve(berth::pool<A>& pool) {
//     auto r = co_await berth::asio::async_acquire_for(pool, 100ms, asio::use_awaitable);
//     if (!r) co_return log(r.error().message());  // timeout, pool closed, cancelled
//     use(**r);                                     // the lease returns it at scope end
//   }
//
// Completion signature: void(pool<A>::acquire_result), the outcome type of
// every other acquire of the pool (acquire_for, pool::async_acquire,
// co_await pool.acquire_async), rather than Asio's usual
// void(std::error_code, lease). Why: an acquire_error carries what berth's
// errors exist for (the pool's counts when it gave up, how long it waited,
// the last connection failure: "pool exhausted" versus "database down"),
// and an error_code cannot. With (error_code, lease), use_awaitable and
// use_future would throw a system_error built from the bare code, losing
// it (Boost.MySQL's pool, which took that route, needs a diagnostics
// out-parameter and later a special token to get it back). A timeout is an
// expected outcome that coroutine code handles with an `if`, as blocking
// code does; `.value()` throws acquire_exception with the whole message
// when an exception is wanted. What is given up: adapters that want an
// error_code first argument (as_tuple, redirect_error, parallel_group's
// wait_for_one_error/success conditions); wait_for_one() and the
// awaitable operators work. For code that wants Asio's vocabulary,
// berth::asio::to_error_code(r.error()) is asio::error::operation_aborted
// for a cancelled acquire (error.hpp).
//
// Tokens: any Asio completion token for that signature: a callback
// (`void(acquire_result)`), asio::use_awaitable (co_await yields the
// acquire_result), asio::use_future (std::future<acquire_result>),
// asio::experimental::deferred (Asio 1.22 has no asio::deferred), and the
// tokens built on them (bind_executor, bind_cancellation_slot,
// parallel_group, awaitable operators).
//
// Where things run (Asio's rules for an operation without an I/O object,
// like asio::post(token)):
//   - The handler's associated executor (asio::get_associated_executor,
//     defaulting to the executor given to the overloads that take one, else
//     asio::system_executor) is wrapped as a berth executor
//     (posting_executor): berth posts the request's steps to it, so the
//     handler never runs inside the initiating call or inside another
//     thread's release(), and is then invoked as if by asio::dispatch on
//     that executor (inline, since the step already runs there; when
//     berth had to fall back to its own thread because a post threw, a
//     post, or inline there for an executor whose dispatch runs anywhere,
//     such as the system executor).
//   - While a request waits, it holds outstanding work on that executor
//     (outstanding_work.tracked), so io_context::run() does not return
//     under a waiting coroutine; the work ends when the request completes.
//   - Validation at acquire (adapter.validate) runs in the step on that
//     executor: a blocking validate() (SQLite, PostgreSQL) blocks one of its
//     threads, as a blocking acquire blocks its caller.
//
// Cancellation: when the handler has an associated cancellation slot
// (asio::get_associated_cancellation_slot: a coroutine's, a
// parallel_group's, bind_cancellation_slot), an emission on it calls the
// request's async_handle::cancel(). The request then completes with
// errc::cancelled (to_error_code: asio::error::operation_aborted), any
// connection handed to it at that moment goes back to the pool or to the
// next waiter, and its place in the queue is given up. A cancellation that
// arrives after the outcome was decided does nothing: the handler gets the
// lease (cancellation is a request, as for every Asio operation).
// Cancellation types: terminal, partial and total are all honoured, because
// a cancelled acquire has no side effect at all (no connection taken, the
// pool as if the request had never been made), which is what `total` asks
// and therefore also satisfies `partial` and `terminal`; an emission of
// `none` is ignored. (A coroutine's slot passes only terminal by default,
// asio::this_coro::reset_cancellation_state changes that; parallel_group
// emits terminal.) Asio 1.22 has no asio::cancel_after (it came in 1.30);
// race the acquire against a steady_timer with
// asio::experimental::make_parallel_group or the awaitable operator ||, or
// emit a cancellation_signal yourself.
//
// Lifetimes: the pool must outlive every operation on it (as for all of
// berth's asynchronous acquires), and the executor's context must keep
// running until the operations on it completed: a pool being destroyed
// waits (up to 10 s, then aborts naming it) for completions posted to
// executors. Shut down in this order: close the pool (waiting requests
// complete with errc::pool_closed) or cancel them, let the io_context run
// them, then destroy the pool and the io_context. Destroying an io_context
// whose queue still holds a completion is safe (berth returns the
// connection and drops the handler); destroying it while a request still
// waits in the pool is not (the request would later post to it).
#pragma once

#include <berth/adapter.hpp>
#include <berth/asio/executor.hpp>
#include <berth/pool.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/dispatch.hpp>
#include <asio/system_executor.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

namespace berth::asio {

namespace detail {

/// The request's handle, shared by the initiating call and the handler it
/// puts in the operation's cancellation slot. On the heap because the
/// completion may run on another thread (a multi-threaded io_context) and
/// clear the slot, destroying that handler, before the initiating call has
/// stored the handle, which it can only do after the request started.
/// Thread-safety: `handle` is written once by the initiating call and read
/// by emissions on the slot; Asio requires a slot's emissions to be
/// serialized with the initiation of the operation that uses it, so the
/// two never overlap. The completion never touches it.
struct cancel_state {
  async_handle handle;
};

/// Installed in the handler's cancellation slot before the request starts.
struct cancel_on_signal {
  std::shared_ptr<cancel_state> state;

  void operator()(::asio::cancellation_type_t type) const noexcept {
    // All three kinds: see the file comment.
    constexpr auto honoured =
        ::asio::cancellation_type::terminal | ::asio::cancellation_type::partial | ::asio::cancellation_type::total;
    if ((type & honoured) != ::asio::cancellation_type::none) (void)state->handle.cancel();
  }
};

/// The handler berth's request calls (on the handler's executor, through
/// posting_executor): hands the outcome to the user's handler as if by
/// asio::dispatch on its associated executor, after clearing the
/// cancellation slot it filled (the operation is over; a later emission
/// must not reach the request, and the slot must not keep its memory).
/// It keeps the initiation's default executor, not the handler's associated
/// one, and looks the associated executor up again when it runs (a
/// handler's association does not change): a use_awaitable handler's
/// any_io_executor would otherwise be stored twice, and the fast path's
/// posted completion (a lease and this) would outgrow unique_task's inline
/// buffer, one allocation per acquire.
template <class Handler, class Result, class DefaultExecutor>
class completion {
 public:
  completion(Handler&& h, const DefaultExecutor& default_ex, bool clear_slot, berth::detail::pool_core* pool)
      : handler_(std::move(h)), default_ex_(default_ex), clear_slot_(clear_slot), pool_(pool) {}

  void operator()(Result r) {
    const auto ex = ::asio::get_associated_executor(handler_, default_ex_);
    // On berth's async thread (the executor's post() threw) dispatch may
    // post: the hold keeps the pool's destruction waiting until the outcome
    // (a lease) is delivered or dropped
    // (AsioAcquireTest.AFallbackDeliveryIsWaitedForByThePoolBug).
    ::asio::dispatch(ex,
                     deliver(pool_->hold_delivery_on_async_thread(), std::move(handler_), std::move(r), clear_slot_));
  }

 private:
  /// The handler with its outcome, and the hold (empty off the async
  /// thread). Called or destroyed unrun, it ends the handler and the
  /// outcome as the hold's delivery: a handler owning the pool may destroy
  /// it there, run inline on the async thread (a dispatch on the system
  /// executor), on the executor (a posting dispatch), or dropped
  /// (AsioAcquireTest.AHandlerDispatchedInlineOnTheAsyncThreadMayDestroyItsPoolBug,
  /// AHandlerPostedFromTheAsyncThreadMayDestroyItsPoolBug,
  /// AHandlerDroppedOnTheAsyncThreadMayDestroyItsPoolBug).
  class deliver {
   public:
    deliver(berth::detail::pool_core::delivery_hold&& hold, Handler&& h, Result&& r, bool clear)
        : hold_(std::move(hold)), h_(std::in_place, std::move(h)), r_(std::in_place, std::move(r)), clear_(clear) {}
    deliver(deliver&&) = default;
    deliver& operator=(deliver&&) = delete;
    ~deliver() {
      hold_.deliver([this]() noexcept { end(); });  // dropped unrun (or moved from: the hold is empty)
    }
    void operator()() {
      hold_.deliver([this] {
        if (clear_) ::asio::get_associated_cancellation_slot(*h_).clear();
        struct ends {  // even if the handler throws
          deliver& d;
          ~ends() { d.end(); }
        } at_end{*this};
        std::move(*h_)(std::move(*r_));
      });
    }

   private:
    /// The outcome first (a lease goes back to the pool), then the handler
    /// (which may own the pool).
    void end() noexcept {
      r_.reset();
      h_.reset();
    }
    berth::detail::pool_core::delivery_hold hold_;
    std::optional<Handler> h_;  // engaged until called or dropped
    std::optional<Result> r_;
    bool clear_;
  };
  Handler handler_;
  [[no_unique_address]] DefaultExecutor default_ex_;  // asio::system_executor unless the caller gave one
  bool clear_slot_;
  berth::detail::pool_core* pool_;
};

/// asio::async_initiate's initiation: starts pool::async_acquire (When is
/// the pool's time_point) or pool::async_acquire_for (a duration) with the
/// handler's executor and cancellation slot. Copyable (deferred tokens store
/// it). Distinct objects: safe. Shared objects: safe (const, calls
/// thread-safe pool members).
template <adapter A>
class initiate_acquire {
 public:
  explicit initiate_acquire(pool<A>& p) noexcept : pool_(&p) {}

  template <class Handler, class DefaultExecutor, class When>
  void operator()(Handler&& handler, const DefaultExecutor& default_ex, When when,
                  std::source_location site) const {
    using handler_type = std::decay_t<Handler>;
    using executor_type = ::asio::associated_executor_t<handler_type, DefaultExecutor>;
    using done_type = completion<handler_type, typename pool<A>::acquire_result, DefaultExecutor>;

    const executor_type ex = ::asio::get_associated_executor(handler, default_ex);
    // Fill the slot before the request starts: once it started, the
    // completion may run elsewhere and use the slot (file comment).
    auto slot = ::asio::get_associated_cancellation_slot(handler);
    std::shared_ptr<cancel_state> cancel;
    if (slot.is_connected()) {
      cancel = std::make_shared<cancel_state>();
      slot.template emplace<cancel_on_signal>(cancel_on_signal{cancel});
    }
    async_handle started;
    try {
      done_type done(std::forward<Handler>(handler), default_ex, cancel != nullptr, pool_);
      if constexpr (std::is_same_v<When, typename pool<A>::time_point>)
        started = pool_->async_acquire(when, posting_executor<executor_type>(ex), std::move(done), site);
      else
        started = pool_->async_acquire_for(when, posting_executor<executor_type>(ex), std::move(done), site);
    } catch (...) {
      if (cancel) slot.clear();  // nothing started, nothing will complete
      throw;
    }
    if (cancel) cancel->handle = std::move(started);  // empty when it completed at once: cancel() is then false
  }

 private:
  pool<A>* pool_;
};

}  // namespace detail

/// Acquires a connection from `p` asynchronously until `deadline`
/// (time_point::max(): none) and completes `token` with the pool's
/// acquire_result: a lease, or an acquire_error with errc::timeout,
/// errc::pool_closed or errc::cancelled (see the file comment for tokens,
/// executors, cancellation and lifetimes). The handler runs on its
/// associated executor (asio::system_executor when it has none: bind one
/// with asio::bind_executor, or use the overload taking a default), never
/// inside this call. `site` is the acquisition site that leak reports name.
/// Throws std::bad_alloc (nothing started) when memory runs out.
/// Thread-safe. The fast path (a connection idle) takes it at once and
/// posts the completion once.
template <adapter A, ASIO_COMPLETION_TOKEN_FOR(void(typename pool<A>::acquire_result)) Token>
auto async_acquire(pool<A>& p, typename pool<A>::time_point deadline, Token&& token,
                   std::source_location site = std::source_location::current()) {
  return ::asio::async_initiate<Token, void(typename pool<A>::acquire_result)>(
      detail::initiate_acquire<A>(p), token, ::asio::system_executor(), deadline, site);
}

/// async_acquire whose handler, when it has no associated executor, runs on
/// `ex` (as asio::post(ex, token) does). Thread-safe.
template <adapter A, asio_executor Executor,
          ASIO_COMPLETION_TOKEN_FOR(void(typename pool<A>::acquire_result)) Token>
auto async_acquire(pool<A>& p, const Executor& ex, typename pool<A>::time_point deadline, Token&& token,
                   std::source_location site = std::source_location::current()) {
  return ::asio::async_initiate<Token, void(typename pool<A>::acquire_result)>(
      detail::initiate_acquire<A>(p), token, ex, deadline, site);
}

/// async_acquire with a deadline `timeout` from now, computed as
/// pool::acquire_for does (saturating: a timeout too large for the clock
/// waits without a deadline; zero or negative takes only an idle
/// connection). The clock is read only when no connection is idle.
/// Thread-safe.
template <adapter A, class Rep, class Period,
          ASIO_COMPLETION_TOKEN_FOR(void(typename pool<A>::acquire_result)) Token>
auto async_acquire_for(pool<A>& p, std::chrono::duration<Rep, Period> timeout, Token&& token,
                       std::source_location site = std::source_location::current()) {
  return ::asio::async_initiate<Token, void(typename pool<A>::acquire_result)>(
      detail::initiate_acquire<A>(p), token, ::asio::system_executor(), timeout, site);
}

/// async_acquire_for with a default executor `ex` (see async_acquire).
/// Thread-safe.
template <adapter A, asio_executor Executor, class Rep, class Period,
          ASIO_COMPLETION_TOKEN_FOR(void(typename pool<A>::acquire_result)) Token>
auto async_acquire_for(pool<A>& p, const Executor& ex, std::chrono::duration<Rep, Period> timeout, Token&& token,
                       std::source_location site = std::source_location::current()) {
  return ::asio::async_initiate<Token, void(typename pool<A>::acquire_result)>(
      detail::initiate_acquire<A>(p), token, ex, timeout, site);
}

}  // namespace berth::asio
