// async_bench.cpp: what does an asynchronous acquire + release cost next to
// the blocking one, and how long does a waiter wait for a released
// connection, blocking or asynchronous? (issue 10's numbers)
//
// Fast path: single thread, a pool of 32 null connections (null_adapter.hpp),
// a connection always idle; ns per acquire + release cycle.
//   BM_blocking_cycle            acquire() + lease destruction: the baseline
//                                (cycle_bench's BM_berth_cycle on one thread).
//   BM_coroutine_cycle           a plain C++20 coroutine (bench_task below, no
//                                library) looping `co_await
//                                pool.acquire_async(deadline, ex)` and ending
//                                the lease: the awaiter's await_ready() takes
//                                the connection, so it never suspends.
//   BM_coroutine_blocking_cycle  the same coroutine loop calling acquire()
//                                instead (a control: what keeping the loop
//                                in a coroutine frame costs by itself, so
//                                BM_coroutine_cycle minus this is the
//                                awaiter's own cost).
//   BM_callback_cycle            pool.async_acquire(deadline, ex, handler),
//                                then the loop runs what the call queued on
//                                ring_executor (a preallocated ring of
//                                unique_task, one thread, no lock); the
//                                handler ends the lease. One post per cycle:
//                                berth never completes inline.
//   BM_executor_post_only        a trivial unique_task posted to the same
//                                ring_executor and run: the executor's own
//                                share of BM_callback_cycle.
// With berth::asio (BERTH_BENCH_WITH_ASIO), on an io_context(1) run by the
// benchmark thread:
//   BM_asio_callback_cycle       berth::asio::async_acquire with a callback
//                                that ends the lease and starts the next
//                                acquire (callback chaining inside run()).
//   BM_asio_post_only            asio::post of a trivial handler that posts
//                                the next one, same chaining: Asio's own
//                                post + run, to subtract.
//   BM_asio_awaitable_cycle      an asio::awaitable (co_spawn) looping
//                                `co_await berth::asio::async_acquire(...,
//                                asio::use_awaitable)`.
//   BM_asio_awaitable_post_only  the same coroutine looping `co_await
//                                asio::post(ex, asio::use_awaitable)`: Asio's
//                                own suspend, post and resume.
// Every fast-path benchmark reports allocs_per_cycle: operator new calls on
// the benchmark thread during the run, per cycle (a counting operator new
// below). berth promises 0 for the blocking, coroutine and callback paths
// (the completion fits unique_task's inline buffer: static_asserts below).
//
// Wait latency: a pool of ONE connection and two parties taking turns. The
// holder waits until the other party is queued (pool.counts().waiting),
// stamps the time and releases; the waiter gets the connection and stamps
// the time it has it; only then does the releaser ask again (in the default
// throughput mode it would otherwise take its own connection straight back,
// which measures barging, not waiting). One iteration is a round trip (two
// hand-offs); its manual time is that round trip, measured by the driver
// (the benchmark thread, party A); party B is a thread of the run. Two
// arguments:
//   strict:0   the default handoff_after: a release with a waiter queued
//              publishes the connection and wakes the head waiter, which
//              takes it; strict:1, handoff_after 0: the releaser hands it to
//              the head under the pool's mutex.
//   hold_us:0  the holder releases as soon as the other party is queued,
//              possibly before that party's thread is asleep (a saturated
//              ping-pong: the round trip is the throughput number);
//              hold_us:20, it holds 20 us more, so the waiter is asleep
//              when the release comes, as it is behind any real hold (the
//              latency number).
//   BM_handoff_blocking          both parties block in acquire().
//   BM_handoff_async             both wait with async_acquire_for(the pool's
//                                acquire_timeout, as acquire() does), each
//                                completion posted to its party's
//                                cv_executor, whose thread sleeps on a
//                                condition variable until a task comes.
//   BM_handoff_async_no_deadline the same with time_point::max(): no entry in
//                                the pool's deadline heap, so no wake-up of
//                                the pool's async thread per request.
//   BM_handoff_asio              berth::asio::async_acquire_for with a
//                                callback, each party running its own
//                                io_context(1) with run_one().
// They report handoff_mean_ns, handoff_p50_ns and handoff_p99_ns: from the
// releaser's stamp (just before release()) to the waiter holding the lease
// (acquire() returned, or the handler entered), over both directions;
// items_per_second is hand-offs per second.
//
// bench/async_report.py prints the comparison table and the verdict on the
// issue's target (the async fast path within 10% of the blocking one).
// Each run builds its own pool before its timed loop; the release preset
// only (never quote Debug or sanitizer numbers).
#include "null_adapter.hpp"

#include <berth/pool.hpp>
#include <berth/unique_task.hpp>

#ifdef BERTH_BENCH_WITH_ASIO
#include <berth/asio.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#endif

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

// ---- allocation counting -------------------------------------------------------
// A replaced global operator new that counts calls per thread: the fast-path
// benchmarks read the benchmark thread's count before and after their run.
// One thread-local increment per allocation; nothing on paths that do not
// allocate, which is what is being checked.

namespace {
thread_local std::uint64_t thread_allocations = 0;

void* counted_alloc(std::size_t n) {
  ++thread_allocations;
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void* counted_aligned_alloc(std::size_t n, std::align_val_t a) {
  ++thread_allocations;
  const auto align = static_cast<std::size_t>(a);
  // aligned_alloc wants a size that is a multiple of the alignment.
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
}  // namespace

// GCC 12 pairs the replaced operator delete's free() with operator new at -O2
// and warns of a mismatch; the replacement pair is malloc/free by design
// (tests/core/no_alloc_test.cpp does the same).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_aligned_alloc(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_aligned_alloc(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using berth::bench::null_adapter;
using berth_pool = berth::pool<null_adapter>;
using acquire_result = berth_pool::acquire_result;
using lease_type = berth_pool::lease_type;
using time_point = berth_pool::time_point;

berth::pool_options full_pool_options(std::size_t size) {
  berth::pool_options o;
  o.name = "async_bench";
  o.max_size = size;
  o.min_idle = size;  // every connection open before the first acquire
  o.startup = berth::startup_mode::fail_fast;
  return o;
}

/// A deadline no fast-path run reaches, computed once before the timed loop
/// (the fast path reads no clock; neither does the loop).
time_point far_deadline() { return berth::clock_source::steady().now() + std::chrono::hours(1); }

/// Reports operator new calls on this thread per cycle since `before`.
void report_allocations(benchmark::State& state, std::uint64_t before) {
  const auto iterations = static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
  state.counters["allocs_per_cycle"] = static_cast<double>(thread_allocations - before) / iterations;
}

// ---- the executors -------------------------------------------------------------

/// A bounded FIFO of tasks in a preallocated ring. Not thread-safe: its
/// owner (ring_executor, cv_executor) serializes access.
class task_ring {
 public:
  /// capacity: a power of two.
  explicit task_ring(std::size_t capacity) : tasks_(capacity), mask_(capacity - 1) {}

  bool empty() const noexcept { return head_ == tail_; }
  /// Throws std::length_error when full (berth then completes the request
  /// on its own async thread: executor.hpp).
  void push(berth::unique_task t) {
    if (tail_ - head_ == tasks_.size()) throw std::length_error("task_ring full");
    tasks_[tail_++ & mask_] = std::move(t);
  }
  /// The oldest task, moved out. Precondition: !empty().
  berth::unique_task pop() noexcept { return std::move(tasks_[head_++ & mask_]); }
  /// Runs the oldest task in place and destroys it, then frees its cell.
  /// The cell stays taken while it runs, so a task that posts cannot
  /// overwrite itself. Precondition: !empty().
  void run_front() {
    berth::unique_task& t = tasks_[head_ & mask_];
    t();
    t = berth::unique_task{};
    ++head_;
  }

 private:
  std::vector<berth::unique_task> tasks_;
  std::size_t mask_;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
};

/// The minimal single-threaded event loop: post() queues, run_queued() runs
/// what is queued (including what those tasks post). No lock, no
/// allocation. One thread only.
class ring_executor {
 public:
  /// The copyable handle a request keeps (berth::executor).
  struct ref {
    ring_executor* loop;
    void post(berth::unique_task t) const { loop->tasks_.push(std::move(t)); }
  };
  ref executor() noexcept { return ref{this}; }

  /// Runs queued tasks until none is left; returns how many ran.
  std::size_t run_queued() {
    std::size_t n = 0;
    for (; !tasks_.empty(); ++n) tasks_.run_front();
    return n;
  }

 private:
  task_ring tasks_{16};
};
static_assert(berth::executor<ring_executor::ref>);

/// An executor whose thread sleeps on a condition variable until a task is
/// posted (from any thread), as an event loop's thread sleeps in its poller.
/// Thread-safe: post() from any thread; run_one() on the owning thread.
class cv_executor {
 public:
  struct ref {
    cv_executor* loop;
    void post(berth::unique_task t) const { loop->push(std::move(t)); }
  };
  ref executor() noexcept { return ref{this}; }

  void push(berth::unique_task t) {
    {
      std::lock_guard lk(mutex_);
      tasks_.push(std::move(t));
    }
    cv_.notify_one();
  }
  /// Waits for a task and runs it (outside the lock).
  void run_one() {
    berth::unique_task t;
    {
      std::unique_lock lk(mutex_);
      cv_.wait(lk, [&] { return !tasks_.empty(); });
      t = tasks_.pop();
    }
    t();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  task_ring tasks_{16};  // guarded by mutex_
};
static_assert(berth::executor<cv_executor::ref>);

// ---- no allocation on the callback fast path -----------------------------------
// pool::async_acquire's fast path posts unique_task([lease, handler]); it
// stays inline (no allocation) when that closure is at most
// unique_task::inline_size bytes, aligned no more than max_align_t and
// nothrow-movable. GCC lays a closure's captures out as this struct does.

template <class Handler>
struct fast_completion_layout {
  lease_type lease;
  Handler handler;
};
template <class Handler>
inline constexpr bool completion_stays_inline =
    sizeof(fast_completion_layout<Handler>) <= berth::unique_task::inline_size &&
    alignof(fast_completion_layout<Handler>) <= alignof(std::max_align_t) &&
    std::is_nothrow_move_constructible_v<Handler>;

// ---- fast path: blocking -------------------------------------------------------

void BM_blocking_cycle(benchmark::State& state) {
  berth_pool p{null_adapter{}, full_pool_options(32)};
  const std::uint64_t allocs = thread_allocations;
  for (auto _ : state) {
    auto l = p.acquire();
    if (!l) [[unlikely]] {
      state.SkipWithError("acquire() failed");
      break;
    }
    benchmark::DoNotOptimize(l);
  }  // lease released here, inside the timed loop
  report_allocations(state, allocs);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_blocking_cycle)->UseRealTime();

// ---- fast path: a plain C++20 coroutine ------------------------------------------

/// The least coroutine type: starts at once, frees its frame when it ends,
/// and says so through *done.
struct bench_task {
  struct promise_type {
    bench_task get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

/// The whole timed loop, in one coroutine. It suspends only if await_ready()
/// finds no connection (one flagged for validation, say): the caller then
/// runs the executor, which resumes it.
bench_task coroutine_loop(benchmark::State& state, berth_pool& p, ring_executor::ref ex, time_point deadline,
                          bool& done) {
  for (auto _ : state) {
    auto r = co_await p.acquire_async(deadline, ex);
    if (!r) [[unlikely]] {
      state.SkipWithError("co_await acquire_async failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  done = true;
}

/// coroutine_loop with acquire() in place of the co_await: a coroutine
/// that never awaits the pool.
bench_task coroutine_blocking_loop(benchmark::State& state, berth_pool& p, bool& done) {
  for (auto _ : state) {
    auto r = p.acquire();
    if (!r) [[unlikely]] {
      state.SkipWithError("acquire() failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  done = true;
  co_return;
}

void BM_coroutine_cycle(benchmark::State& state) {
  berth_pool p{null_adapter{}, full_pool_options(32)};
  ring_executor loop;
  const time_point deadline = far_deadline();
  bool done = false;
  std::size_t resumptions = 0;
  const std::uint64_t allocs = thread_allocations;
  coroutine_loop(state, p, loop.executor(), deadline, done);  // its frame: one allocation per run
  while (!done) {
    resumptions += loop.run_queued();
    if (!done) std::this_thread::yield();  // a resumption not yet posted (the pool's async thread)
  }
  report_allocations(state, allocs);
  state.counters["suspensions"] = static_cast<double>(resumptions);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_coroutine_cycle)->UseRealTime();

void BM_coroutine_blocking_cycle(benchmark::State& state) {
  berth_pool p{null_adapter{}, full_pool_options(32)};
  bool done = false;
  const std::uint64_t allocs = thread_allocations;
  coroutine_blocking_loop(state, p, done);  // runs to the end: it never suspends
  report_allocations(state, allocs);
  if (!done) state.SkipWithError("the coroutine did not finish");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_coroutine_blocking_cycle)->UseRealTime();

// ---- fast path: callback on a minimal executor ---------------------------------

/// Ends the lease it is given; counts failures.
struct drop_lease {
  int* failures;
  void operator()(acquire_result r) const {
    if (!r) [[unlikely]]
      ++*failures;
    benchmark::DoNotOptimize(r);
  }  // lease released here
};
static_assert(completion_stays_inline<drop_lease>, "the callback cycle's completion must not allocate");

void BM_callback_cycle(benchmark::State& state) {
  berth_pool p{null_adapter{}, full_pool_options(32)};
  ring_executor loop;
  const time_point deadline = far_deadline();
  int failures = 0;
  const std::uint64_t allocs = thread_allocations;
  for (auto _ : state) {
    p.async_acquire(deadline, loop.executor(), drop_lease{&failures});
    loop.run_queued();
  }
  report_allocations(state, allocs);
  if (failures != 0) state.SkipWithError("async_acquire completed with an error");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_callback_cycle)->UseRealTime();

/// The task BM_executor_post_only posts: as big as the callback cycle's
/// completion (a lease and a pointer), so it moves the same bytes.
struct trivial_task {
  std::uint64_t words[4];
  int* ran;
  void operator()() { ++*ran; }
};

void BM_executor_post_only(benchmark::State& state) {
  ring_executor loop;
  int ran = 0;
  const std::uint64_t allocs = thread_allocations;
  for (auto _ : state) {
    loop.executor().post(berth::unique_task(trivial_task{{}, &ran}));
    loop.run_queued();
  }
  report_allocations(state, allocs);
  benchmark::DoNotOptimize(ran);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_executor_post_only)->UseRealTime();

// ---- fast path: Asio -------------------------------------------------------------
#ifdef BERTH_BENCH_WITH_ASIO

/// Callback chaining inside io_context::run(): each handler ends its lease,
/// then starts the next acquire; the run ends when the benchmark does.
class asio_acquire_chain {
 public:
  asio_acquire_chain(benchmark::State& state, berth_pool& p, asio::io_context& ioc, time_point deadline)
      : state_(state), pool_(p), ioc_(ioc), deadline_(deadline) {}

  struct handler {
    asio_acquire_chain* chain;
    void operator()(acquire_result r) const {
      if (!r) [[unlikely]] {
        chain->state_.SkipWithError("berth::asio::async_acquire completed with an error");
        return;
      }
      benchmark::DoNotOptimize(r);
      (*r).release();  // before the next acquire, which would otherwise take a second connection
      chain->next();
    }
  };

  void next() {
    if (state_.KeepRunning()) berth::asio::async_acquire(pool_, ioc_.get_executor(), deadline_, handler{this});
  }

 private:
  benchmark::State& state_;
  berth_pool& pool_;
  asio::io_context& ioc_;
  time_point deadline_;
};
static_assert(completion_stays_inline<berth::asio::detail::completion<asio_acquire_chain::handler, acquire_result,
                                                                      asio::io_context::executor_type>>,
              "the Asio callback cycle's completion must not allocate");

void BM_asio_callback_cycle(benchmark::State& state) {
  berth_pool p{null_adapter{}, full_pool_options(32)};
  asio::io_context ioc{1};  // destroyed before the pool: a queued completion is dropped, its lease returned
  asio_acquire_chain chain{state, p, ioc, far_deadline()};
  const std::uint64_t allocs = thread_allocations;
  asio::post(ioc, [&] { chain.next(); });  // start inside run(), as every later acquire is
  ioc.run();
  report_allocations(state, allocs);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_asio_callback_cycle)->UseRealTime();

/// asio_acquire_chain without the pool: a trivial handler posts the next.
class asio_post_chain {
 public:
  asio_post_chain(benchmark::State& state, asio::io_context& ioc) : state_(state), ioc_(ioc) {}
  void next() {
    if (state_.KeepRunning()) asio::post(ioc_, [this] { next(); });
  }

 private:
  benchmark::State& state_;
  asio::io_context& ioc_;
};

void BM_asio_post_only(benchmark::State& state) {
  asio::io_context ioc{1};
  asio_post_chain chain{state, ioc};
  const std::uint64_t allocs = thread_allocations;
  asio::post(ioc, [&] { chain.next(); });
  ioc.run();
  report_allocations(state, allocs);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_asio_post_only)->UseRealTime();

asio::awaitable<void> awaitable_acquire_loop(benchmark::State& state, berth_pool& p, time_point deadline) {
  for (auto _ : state) {
    auto r = co_await berth::asio::async_acquire(p, deadline, asio::use_awaitable);
    if (!r) [[unlikely]] {
      state.SkipWithError("co_await berth::asio::async_acquire failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}

void BM_asio_awaitable_cycle(benchmark::State& state) {
  berth_pool p{null_adapter{}, full_pool_options(32)};
  asio::io_context ioc{1};
  const std::uint64_t allocs = thread_allocations;
  asio::co_spawn(ioc, awaitable_acquire_loop(state, p, far_deadline()), asio::detached);
  ioc.run();
  report_allocations(state, allocs);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_asio_awaitable_cycle)->UseRealTime();

asio::awaitable<void> awaitable_post_loop(benchmark::State& state) {
  const auto ex = co_await asio::this_coro::executor;
  for (auto _ : state) co_await asio::post(ex, asio::use_awaitable);
}

void BM_asio_awaitable_post_only(benchmark::State& state) {
  asio::io_context ioc{1};
  const std::uint64_t allocs = thread_allocations;
  asio::co_spawn(ioc, awaitable_post_loop(state), asio::detached);
  ioc.run();
  report_allocations(state, allocs);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_asio_awaitable_post_only)->UseRealTime();

#endif  // BERTH_BENCH_WITH_ASIO

// ---- wait latency: hand-off between two parties on a pool of one -----------------
//
// Synchronization: [H1] the releaser stores released_at (release) before
// release(); the waiter loads it (acquire) after it has the connection,
// which the hand-off under the pool's mutex already orders after the store.
// [H2] stop is stored (release) by the driver before its last release and
// loaded (acquire) by party B after each receipt. [H3] the receiver bumps
// receipts (release) once it has the connection; the releaser waits for
// that (acquire) before it asks again.

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

berth::pool_options handoff_pool_options(bool strict) {
  berth::pool_options o = full_pool_options(1);
  if (strict) o.handoff_after = std::chrono::microseconds{0};
  return o;
}

/// What the two parties share.
struct handoff_state {
  handoff_state(bool strict, std::int64_t hold) : pool(null_adapter{}, handoff_pool_options(strict)), hold_ns(hold) {}
  berth_pool pool;
  const std::int64_t hold_ns;  ///< how long a holder keeps the connection once the other party is queued
  std::atomic<std::int64_t> released_at{0};  // [H1]
  std::atomic<std::uint64_t> receipts{0};    // [H3]
  std::atomic<bool> stop{false};             // [H2]
};

/// A connection received, and when the receiver had it.
struct receipt {
  lease_type lease;
  std::int64_t at;
};

/// Waits in acquire().
class blocking_waiter {
 public:
  explicit blocking_waiter(berth_pool& p) : pool_(p) {}
  receipt wait() {
    auto r = pool_.acquire();
    const std::int64_t at = now_ns();
    if (!r) std::abort();  // a hand-off bench cannot continue without its connection
    return {std::move(*r), at};
  }

 private:
  berth_pool& pool_;
};

/// Where an asynchronous waiter's handler leaves the connection it got, and
/// when it got it. Used by the waiter's own thread only.
class receipt_box {
 public:
  /// The handler's body: stamps the time first.
  void put(acquire_result r) {
    at_ = now_ns();
    if (!r) std::abort();  // a hand-off bench cannot continue without its connection
    got_.emplace(std::move(*r));
  }
  bool empty() const noexcept { return !got_; }
  receipt take() {
    receipt out{std::move(*got_), at_};
    got_.reset();
    return out;
  }

 private:
  std::optional<lease_type> got_;
  std::int64_t at_ = 0;
};

/// Waits with async_acquire_for (or async_acquire without a deadline); the
/// completion is posted to this party's cv_executor, which its thread runs.
class async_waiter {
 public:
  async_waiter(berth_pool& p, bool with_deadline) : pool_(p), with_deadline_(with_deadline) {}
  receipt wait() {
    auto on_done = [this](acquire_result r) { box_.put(std::move(r)); };
    if (with_deadline_)
      pool_.async_acquire_for(pool_.options().acquire_timeout, loop_.executor(), on_done);
    else
      pool_.async_acquire(time_point::max(), loop_.executor(), on_done);
    while (box_.empty()) loop_.run_one();
    return box_.take();
  }

 private:
  berth_pool& pool_;
  bool with_deadline_;
  cv_executor loop_;
  receipt_box box_;
};

#ifdef BERTH_BENCH_WITH_ASIO
/// Waits with berth::asio::async_acquire_for and a callback on this party's
/// own io_context, which its thread runs one handler at a time.
class asio_waiter {
 public:
  explicit asio_waiter(berth_pool& p) : pool_(p) {}
  receipt wait() {
    berth::asio::async_acquire_for(pool_, ioc_.get_executor(), pool_.options().acquire_timeout,
                                   [this](acquire_result r) { box_.put(std::move(r)); });
    while (box_.empty()) ioc_.run_one();
    return box_.take();
  }

 private:
  berth_pool& pool_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};  // run_one never returns 0
  receipt_box box_;
};
#endif

/// Waits until the other party is queued, stamps the time [H1], releases,
/// and waits until the other party has the connection [H3]. Returns the
/// stamp. Yields while it waits: the other party needs a core.
std::int64_t pass_on(handoff_state& s, lease_type& l) {
  while (s.pool.counts().waiting == 0) std::this_thread::yield();
  if (s.hold_ns != 0) {
    const std::int64_t until = now_ns() + s.hold_ns;
    while (now_ns() < until) std::this_thread::yield();
  }
  const std::uint64_t receipts = s.receipts.load(std::memory_order_acquire);  // [H3]
  const std::int64_t t = now_ns();
  s.released_at.store(t, std::memory_order_release);  // [H1]
  l.release();
  while (s.receipts.load(std::memory_order_acquire) == receipts) std::this_thread::yield();  // [H3]
  return t;
}

/// Receives the connection and records the hand-off's latency.
template <class Waiter>
receipt receive(handoff_state& s, Waiter& w, std::vector<std::int64_t>& latencies) {
  receipt r = w.wait();
  latencies.push_back(r.at - s.released_at.load(std::memory_order_acquire));  // [H1]
  s.receipts.fetch_add(1, std::memory_order_release);                          // [H3]
  return r;
}

/// p50 and p99 (nearest rank) and the mean of `v`, into state's counters.
void report_latencies(benchmark::State& state, std::vector<std::int64_t>& v) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (const std::int64_t x : v) sum += static_cast<double>(x);
  auto rank = [&](double q) { return static_cast<double>(v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))]); };
  state.counters["handoff_mean_ns"] = sum / static_cast<double>(v.size());
  state.counters["handoff_p50_ns"] = rank(0.50);
  state.counters["handoff_p99_ns"] = rank(0.99);
}

/// The ping-pong. Party A (this thread) and party B (a thread of its own)
/// each wait with a Waiter made by make_waiter(pool).
template <class MakeWaiter>
void handoff(benchmark::State& state, MakeWaiter make_waiter) {
  handoff_state s{state.range(0) != 0, state.range(1) * 1000};
  const auto reserve = static_cast<std::size_t>(state.max_iterations) + 2;
  std::vector<std::int64_t> a_latencies, b_latencies;
  a_latencies.reserve(reserve);
  b_latencies.reserve(reserve);

  auto first = s.pool.acquire();  // A starts with the connection
  if (!first) {
    state.SkipWithError("could not take the only connection");
    return;
  }
  lease_type held = std::move(*first);
  std::thread b([&] {
    auto w = make_waiter(s.pool);
    for (;;) {
      receipt r = receive(s, w, b_latencies);
      if (s.stop.load(std::memory_order_acquire)) break;  // [H2]; r's lease goes back idle
      pass_on(s, r.lease);
    }
  });
  auto w = make_waiter(s.pool);
  for (auto _ : state) {
    const std::int64_t sent = pass_on(s, held);
    receipt r = receive(s, w, a_latencies);
    held = std::move(r.lease);
    state.SetIterationTime(static_cast<double>(r.at - sent) * 1e-9);
  }
  s.stop.store(true, std::memory_order_release);  // [H2]
  pass_on(s, held);
  b.join();

  a_latencies.insert(a_latencies.end(), b_latencies.begin(), b_latencies.end());
  a_latencies.pop_back();  // B's last receipt, outside the timed loop
  report_latencies(state, a_latencies);
  state.SetItemsProcessed(2 * state.iterations());
}

void handoff_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"strict", "hold_us"})->ArgsProduct({{0, 1}, {0, 20}})->UseManualTime();
}

void BM_handoff_blocking(benchmark::State& state) {
  handoff(state, [](berth_pool& p) { return blocking_waiter(p); });
}
void BM_handoff_async(benchmark::State& state) {
  handoff(state, [](berth_pool& p) { return async_waiter(p, true); });
}
void BM_handoff_async_no_deadline(benchmark::State& state) {
  handoff(state, [](berth_pool& p) { return async_waiter(p, false); });
}
BENCHMARK(BM_handoff_blocking)->Apply(handoff_args);
BENCHMARK(BM_handoff_async)->Apply(handoff_args);
BENCHMARK(BM_handoff_async_no_deadline)->Apply(handoff_args);
#ifdef BERTH_BENCH_WITH_ASIO
void BM_handoff_asio(benchmark::State& state) {
  handoff(state, [](berth_pool& p) { return asio_waiter(p); });
}
BENCHMARK(BM_handoff_asio)->Apply(handoff_args);
#endif

}  // namespace

BENCHMARK_MAIN();
