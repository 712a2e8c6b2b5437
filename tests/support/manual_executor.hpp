// manual_executor.hpp: an executor (berth/executor.hpp) whose queue a test
// runs by hand, for deterministic asynchronous tests.
#pragma once

#include <berth/executor.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace berth::testing {

/// A FIFO of posted tasks. Thread-safe: post() from any thread; the run
/// members run tasks on the calling thread, outside the queue's lock.
class manual_executor {
 public:
  /// The copyable executor handle that requests keep.
  struct ref {
    manual_executor* q;
    void post(unique_task t) const { q->push(std::move(t)); }
  };
  ref executor() noexcept { return ref{this}; }

  void push(unique_task t) {
    std::lock_guard lk(mutex_);
    if (fail_posts_ > 0) {
      --fail_posts_;
      throw std::bad_alloc();
    }
    tasks_.push_back(std::move(t));
    ++posted_;
    cv_.notify_all();
  }

  /// Runs the oldest task; false if none is queued.
  bool run_one() {
    unique_task t;
    {
      std::lock_guard lk(mutex_);
      if (tasks_.empty()) return false;
      t = std::move(tasks_.front());
      tasks_.pop_front();
    }
    t();
    return true;
  }
  /// Runs tasks until none is queued (including ones posted meanwhile);
  /// returns how many ran.
  std::size_t run_all() {
    std::size_t n = 0;
    while (run_one()) ++n;
    return n;
  }
  /// Waits (real time, for tasks posted by other threads) until a task is
  /// queued; false on timeout.
  bool wait_for_task(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lk(mutex_);
    return cv_.wait_for(lk, timeout, [&] { return !tasks_.empty(); });
  }
  /// Destroys every queued task without running it (an executor shutting
  /// down).
  void drop_all() {
    std::deque<unique_task> gone;
    {
      std::lock_guard lk(mutex_);
      gone.swap(tasks_);
    }
  }
  std::size_t queued() const {
    std::lock_guard lk(mutex_);
    return tasks_.size();
  }
  std::size_t posted() const {
    std::lock_guard lk(mutex_);
    return posted_;
  }
  /// The next n posts throw std::bad_alloc.
  void fail_next_posts(int n) {
    std::lock_guard lk(mutex_);
    fail_posts_ = n;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<unique_task> tasks_;
  std::size_t posted_ = 0;
  int fail_posts_ = 0;
};

}  // namespace berth::testing
