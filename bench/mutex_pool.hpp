// mutex_pool.hpp: the baseline berth is measured against: the pool most people
// write by hand. One std::mutex guards a stack of free indices; acquire()
// waits on a std::condition_variable while the stack is empty; release()
// pushes the index back and wakes one waiter.
//
// Written to be a fair opponent, not a straw man:
//   - LIFO stack: a thread that releases and re-acquires gets the same,
//     cache-warm connection back (berth gets the same from its thread hint).
//   - notify_one only when a waiter is registered, and after unlocking, so an
//     uncontended release is one lock/unlock pair and no futex call, and a
//     woken waiter does not block at once on the mutex the notifier holds.
//   - The stack is reserved up front: release() never allocates.
//   - No deadline: acquire() waits for ever, so its fast path reads no clock
//     (berth's acquire() computes a deadline from the steady clock each time).
// It is not fair (a running thread barges past sleeping waiters) and has no
// timeouts, validation or eviction: it is the floor of what a mutex pool
// costs, not a complete pool.
//
// Synchronization: everything below mutex_ is guarded by mutex_; conns_[i] is
// owned by the holder of index i, and mutex_ orders one holder's writes before
// the next holder's reads (the index moves through free_ under mutex_).
#pragma once

#include "null_adapter.hpp"

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

namespace berth::bench {

/// A fixed-size pool of null_connection guarded by one mutex.
/// Distinct objects: safe. Shared objects: safe for acquire/release; unsafe
/// for destruction (which must follow the return of every lease).
class mutex_pool {
 public:
  using connection_type = null_connection;

  /// Move-only handle to one connection; returns it when destroyed.
  /// Distinct objects: safe. Shared objects: unsafe.
  class lease {
   public:
    lease() noexcept = default;
    lease(lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        reset();
        pool_ = std::exchange(o.pool_, nullptr);
        index_ = o.index_;
      }
      return *this;
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    /// Returns the connection. Blocks briefly on the pool's mutex.
    ~lease() { reset(); }

    explicit operator bool() const noexcept { return pool_ != nullptr; }
    /// The connection. Precondition: *this holds one.
    connection_type& operator*() const noexcept { return pool_->conns_[static_cast<std::size_t>(index_)]; }

    /// Returns the connection now; the lease becomes empty. Blocks briefly.
    void reset() noexcept {
      if (pool_ != nullptr) std::exchange(pool_, nullptr)->release(index_);
    }

   private:
    friend class mutex_pool;
    lease(mutex_pool* p, int index) noexcept : pool_(p), index_(index) {}

    mutex_pool* pool_ = nullptr;
    int index_ = 0;
  };

  /// A pool of `size` connections, all free. Allocates.
  explicit mutex_pool(std::size_t size) : conns_(size) {
    free_.reserve(size);
    for (std::size_t i = size; i-- > 0;) free_.push_back(static_cast<int>(i));  // index 0 on top
  }
  mutex_pool(const mutex_pool&) = delete;
  mutex_pool& operator=(const mutex_pool&) = delete;

  /// A connection, waiting as long as it takes. Thread-safe. Blocks (mutex,
  /// and the condition variable while none is free). Never allocates.
  lease acquire() {
    std::unique_lock lock(mutex_);
    if (free_.empty()) {
      ++waiters_;
      cv_.wait(lock, [this] { return !free_.empty(); });
      --waiters_;
    }
    const int i = free_.back();
    free_.pop_back();
    return lease(this, i);
  }

 private:
  /// Pushes i back and wakes one waiter if any. Thread-safe. Blocks briefly.
  /// Never allocates (free_ has room for every index).
  void release(int i) noexcept {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      free_.push_back(i);
      wake = waiters_ != 0;
    }
    if (wake) cv_.notify_one();
  }

  // ---- immutable size; element i owned by the holder of index i ----
  std::vector<connection_type> conns_;

  // ---- guarded by mutex_ ----
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> free_;  // indices of free connections; top is back()
  std::size_t waiters_ = 0;  // threads blocked in acquire()
};

}  // namespace berth::bench
