// fake_clock.hpp: a clock_source that moves only when a test advances it.
#pragma once

#include <berth/clock.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace berth::testing {

/// Thread-safe. advance() wakes every subscribed pool (so timed waits
/// re-check their deadline) and every sleep_until() caller.
class fake_clock final : public clock_source {
 public:
  time_point now() const noexcept override { return time_point{duration{now_.load(std::memory_order_acquire)}}; }

  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  time_point deadline) const override {
    // The pool re-checks now() >= deadline under its lock before calling, and
    // advance() notifies under that lock via on_clock_advanced(): no lost wake-up.
    if (now() < deadline) cv.wait(lock);
  }

  void subscribe(clock_listener& l) override {
    std::lock_guard lk(mutex_);
    listeners_.push_back(&l);
  }
  void unsubscribe(clock_listener& l) override {
    std::lock_guard lk(mutex_);
    listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), &l), listeners_.end());
  }

  /// Moves time forward by d and wakes waiters.
  void advance(duration d) {
    std::lock_guard lk(mutex_);  // held while notifying: listeners cannot unsubscribe meanwhile
    now_.fetch_add(d.count(), std::memory_order_acq_rel);
    for (auto* l : listeners_) l->on_clock_advanced();
    sleepers_.notify_all();
  }

  /// Blocks the calling thread until the clock reaches t (for fake adapters
  /// that simulate latency). Thread-safe.
  void sleep_until(time_point t) {
    std::unique_lock lk(mutex_);
    ++sleeping_;
    sleepers_.wait(lk, [&] { return now() >= t; });
    --sleeping_;
  }

  /// Threads inside sleep_until() that have not seen their time yet: a test
  /// that changes a latency after a call started waits for this, so that the
  /// call has read the old one. Thread-safe.
  std::size_t sleeping() const {
    std::lock_guard lk(mutex_);
    return sleeping_;
  }

 private:
  std::atomic<duration::rep> now_{duration{std::chrono::hours{1}}.count()};
  mutable std::mutex mutex_;
  std::condition_variable sleepers_;
  std::size_t sleeping_ = 0;  // guarded by mutex_
  std::vector<clock_listener*> listeners_;
};

}  // namespace berth::testing
