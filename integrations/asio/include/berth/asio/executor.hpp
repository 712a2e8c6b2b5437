// executor.hpp: an Asio executor as a berth executor (berth/executor.hpp),
// for berth::asio::async_acquire (async_acquire.hpp).
//
// berth posts an asynchronous acquire's steps (the run that checks a handed
// connection, then the completion) to the executor a request carries.
// berth::asio gives it the completion handler's associated executor wrapped
// here, so the steps run where Asio would run the handler, and the request
// counts as that executor's outstanding work while it is pending: an
// io_context's run() does not return while a coroutine waits for a
// connection, just as it does not while a socket read is pending.
#pragma once

#include <berth/executor.hpp>
#include <berth/unique_task.hpp>

#include <asio/execution.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/is_executor.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/system_executor.hpp>

#include <type_traits>
#include <utility>

namespace berth::asio {

/// Any Asio executor: a standard one (asio::execution::executor: io_context
/// executors, strands, any_io_executor, thread_pool and system executors) or
/// a legacy Networking TS one (asio::is_executor).
template <class E>
concept asio_executor = ::asio::execution::is_executor<E>::value || ::asio::is_executor<E>::value;

namespace detail {

/// How posting_executor holds work: a tracked copy of a standard executor,
/// or a work guard on a legacy one.
template <class E, bool standard = ::asio::execution::is_executor<E>::value>
struct work_tracking {
  using type = std::decay_t<
      typename ::asio::prefer_result<const E&, ::asio::execution::outstanding_work_t::tracked_t>::type>;
  static type track(const E& ex) { return ::asio::prefer(ex, ::asio::execution::outstanding_work.tracked); }
  static const type& executor(const type& work) noexcept { return work; }
};
template <class E>
struct work_tracking<E, false> {
  using type = ::asio::executor_work_guard<E>;
  static type track(const E& ex) { return type(ex); }
  static E executor(const type& work) noexcept { return work.get_executor(); }
};

}  // namespace detail

/// A berth executor that posts onto the Asio executor `Executor` and, while
/// any copy of it exists, holds outstanding work on that executor's context
/// (standard executors: asio::prefer(ex, outstanding_work.tracked), which
/// executors that track no work, such as system_executor, ignore; legacy
/// ones: an executor_work_guard).
/// post() is asio::post: it never runs the task inline (blocking.never, as
/// berth's executor contract requires: berth posts under its slow-path
/// mutex), does not block beyond the context's queue lock, and may throw
/// std::bad_alloc (berth then runs the task on the pool's async thread).
/// Distinct objects: safe. Shared objects: safe for post() (Asio
/// executors' execute is thread-safe); unsafe for assignment.
template <asio_executor Executor>
class posting_executor {
 public:
  /// Tracks work on ex's context from now on. Never blocks.
  explicit posting_executor(const Executor& ex) : work_(tracking::track(ex)) {}

  /// Queues t on the executor (asio::post). Never runs t inline. Thread-safe.
  void post(unique_task t) const { ::asio::post(tracking::executor(work_), std::move(t)); }

 private:
  using tracking = detail::work_tracking<Executor>;

  // Immutable after construction: the tracked executor or the work guard.
  typename tracking::type work_;
};

static_assert(berth::executor<posting_executor<::asio::system_executor>>);

}  // namespace berth::asio
