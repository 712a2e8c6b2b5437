// executor.hpp: where asynchronous completions run.
//
// berth never runs a user's completion inside another thread's release() or
// on its own threads: it posts the completion to the executor the user gave
// with the request. Anything with a post(unique_task) member qualifies: a
// thin wrapper over an event loop's own queue, a thread pool, or (with
// berth::asio) an Asio executor.
#pragma once

#include <berth/unique_task.hpp>

#include <concepts>
#include <utility>

namespace berth {

/// An executor that berth can post completions to.
///
/// Requirements on e.post(task):
///   - it arranges for task() to run later on a thread the user chose; it
///     must not run task inline (berth calls post with its slow-path mutex
///     held: an inline run would deadlock, and user code must not run under
///     berth's lock);
///   - it must not block and must not call back into the pool, nor end a
///     lease of any berth pool: berth calls post() holding the pool's
///     slow-path mutex, and a release that wakes a waiter takes its own
///     pool's, so two such executors crossing two pools could deadlock;
///   - if it throws (out of memory), berth runs the completion on the
///     pool's own async thread instead, so nothing is lost;
///   - if the executor is destroyed with the task still queued, the task is
///     destroyed without running: berth then returns any connection it held
///     and drops the handler without calling it (a coroutine suspended in
///     acquire_async is destroyed). Destroying the task it was given inside
///     post() without throwing is taken the same way;
///   - post() must not destroy *other* queued berth tasks (it runs under the
///     pool's mutex, which their destruction takes: a deadlock).
/// e is copied into the request; copies must post to the same place.
template <class E>
concept executor = std::copy_constructible<E> && requires(E& e, unique_task t) { e.post(std::move(t)); };

/// Adapts any callable `void(unique_task)` (a post function) to an
/// executor. Thread-safety: that of F.
template <class F>
  requires std::invocable<F&, unique_task>
struct post_function {
  F post_fn;
  void post(unique_task t) { post_fn(std::move(t)); }
};
template <class F>
post_function(F) -> post_function<F>;

}  // namespace berth
