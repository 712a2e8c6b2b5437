// thread_pool_executor.hpp: a berth executor (berth/executor.hpp) for the
// asynchronous stress harness: a few worker threads running posted tasks in
// FIFO order, with two injectable faults that the executor contract allows:
//
//   drop        while a drop probability is set, a worker destroys some
//               tasks without running them (an executor shutting down with
//               work queued). berth must then return any connection the
//               task held and drop its handler uncalled (pool_core's
//               async_dropped). Tasks are destroyed on the worker, never
//               inside post(): post() runs under the pool's mutex, and a
//               berth task destroyed there would call back into the pool.
//   post_throw  post() throws std::bad_alloc before taking the task (out of
//               memory). berth then runs a pending request on its own async
//               thread, or (fast path) throws from async_acquire without
//               having taken a connection.
//
// A task that throws injected_fault (a handler throwing on purpose) is
// counted; any other exception is a failure.
//
// Synchronization: every member below the constructor's is guarded by
// mutex_, except the counters (relaxed atomics, read at quiescence after
// wait_idle() or join, which order them) and the fault probabilities
// (relaxed atomics: a stale value only shifts when a fault starts or ends).
#pragma once

#include "stress_common.hpp"

#include <berth/unique_task.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace berth::stress {

/// Thread-safe: post() and the fault setters from any thread; wait_idle()
/// and stop() from threads other than its workers.
class thread_pool_executor {
 public:
  /// The copyable executor handle a request keeps (executor concept).
  struct ref {
    thread_pool_executor* e;
    void post(unique_task t) const { e->post(std::move(t)); }
  };

  thread_pool_executor(std::string name, unsigned threads, std::uint64_t seed)
      : name_(std::move(name)), seed_(seed) {
    workers_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  thread_pool_executor(const thread_pool_executor&) = delete;
  thread_pool_executor& operator=(const thread_pool_executor&) = delete;
  ~thread_pool_executor() { stop(); }

  ref executor() noexcept { return ref{this}; }
  const std::string& name() const noexcept { return name_; }

  /// Queues t; throws std::bad_alloc (t untouched) with the post_throw
  /// probability. Never runs t inline. Never blocks but on mutex_.
  void post(unique_task t) {
    const double p = post_throw_.load(std::memory_order_relaxed);
    if (p > 0 && rng(derive_seed(seed_, post_draws_.fetch_add(1, std::memory_order_relaxed))).chance(p)) {
      post_throws.fetch_add(1, std::memory_order_relaxed);
      throw std::bad_alloc();
    }
    {
      std::lock_guard lk(mutex_);
      BERTH_STRESS_CHECK(!stopping_, "executor %s: post() after stop()", name_.c_str());
      queue_.push_back(std::move(t));
    }
    posted.fetch_add(1, std::memory_order_relaxed);
    work_cv_.notify_one();
  }

  /// From now on workers destroy each task unrun with probability p.
  void set_drop(double p) noexcept { drop_.store(p, std::memory_order_relaxed); }
  /// From now on post() throws with probability p.
  void set_post_throw(double p) noexcept { post_throw_.store(p, std::memory_order_relaxed); }

  /// Blocks until the queue is empty and no worker is inside a task.
  void wait_idle() {
    std::unique_lock lk(mutex_);
    done_cv_.wait(lk, [&] { return queue_.empty() && busy_ == 0; });
  }

  /// Runs what is queued (no more drops), then joins the workers.
  /// Idempotent.
  void stop() {
    set_drop(0);
    {
      std::lock_guard lk(mutex_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_)
      if (t.joinable()) t.join();
  }

  /// Queued tasks now (for hang reports). Thread-safe.
  std::size_t queued() const {
    std::lock_guard lk(mutex_);
    return queue_.size();
  }

  // Counters, relaxed; exact once the workers are idle or joined.
  std::atomic<std::uint64_t> posted{0}, ran{0}, dropped{0}, post_throws{0}, task_exceptions{0};

 private:
  void work(unsigned index) {
    rng r(derive_seed(seed_, 1'000'000 + index));
    std::unique_lock lk(mutex_);
    for (;;) {
      work_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      unique_task task = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
      lk.unlock();
      if (r.chance(drop_.load(std::memory_order_relaxed))) {
        dropped.fetch_add(1, std::memory_order_relaxed);
        task = unique_task();  // destroyed unrun, outside post() and outside our lock
      } else {
        try {
          task();
        } catch (const injected_fault&) {
          task_exceptions.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
          fail("executor %s: a task threw %s", name_.c_str(), e.what());
        }
        task = unique_task();  // its captures die before we report idle
        ran.fetch_add(1, std::memory_order_relaxed);
      }
      lk.lock();
      --busy_;
      done_cv_.notify_all();
    }
  }

  // ---- immutable after construction ----
  const std::string name_;
  const std::uint64_t seed_;

  // ---- atomics only ----
  std::atomic<double> drop_{0};
  std::atomic<double> post_throw_{0};
  std::atomic<std::uint64_t> post_draws_{0};

  // ---- guarded by mutex_ ----
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<unique_task> queue_;
  std::size_t busy_ = 0;  // workers inside a task
  bool stopping_ = false;

  std::vector<std::thread> workers_;  // last: started after the members above exist
};

}  // namespace berth::stress
