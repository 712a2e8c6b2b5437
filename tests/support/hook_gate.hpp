// hook_gate.hpp: stops a chosen test thread at a chosen point of the pool's
// hand-off protocol (core/include/berth/detail/test_hooks.hpp), for binaries
// linked with berth_core_test_hooks (tests/CMakeLists.txt: berth_hooked_test).
#pragma once

#include <berth/detail/test_hooks.hpp>

#ifndef BERTH_TEST_HOOKS
#error "hook_gate.hpp needs the hooked core: declare the test with berth_hooked_test (tests/CMakeLists.txt)"
#endif

#include "eventually.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace berth::testing {

using detail::hook_point;

/// Installs f as the pool's test hook for its lifetime. Create it before the
/// pool and destroy it after (test_hooks.hpp, "Synchronization"). One at a
/// time. Thread-safety: construct and destroy on the test's thread.
class scoped_test_hook {
 public:
  explicit scoped_test_hook(detail::test_hook_fn f) noexcept {
    detail::test_hook.store(f, std::memory_order_relaxed);  // see test_hooks.hpp
  }
  ~scoped_test_hook() { detail::test_hook.store(nullptr, std::memory_order_relaxed); }
  scoped_test_hook(const scoped_test_hook&) = delete;
  scoped_test_hook& operator=(const scoped_test_hook&) = delete;
};

/// Which test thread this is (0: not a test role: the pool's own threads,
/// the main thread). The gate stops only threads with the role it is told.
inline thread_local int hook_role = 0;

/// Stops the thread with a given role the next time it reaches a given hook
/// point, until the test lets it go. Every stop is bounded in real time
/// (stop_bound), so a test never hangs whatever the pool does. One gate at a
/// time (it installs itself as the hook). Thread-safe.
class hook_gate {
 public:
  static constexpr auto stop_bound = std::chrono::seconds{5};

  hook_gate() : install_(&on_hook) { current().store(this); }
  ~hook_gate() {
    release_all();
    current().store(nullptr);
  }

  /// The thread with `role` stops the next time it reaches `p` (once).
  void arm(hook_point p, int role) {
    std::lock_guard lk(mutex_);
    armed_.push_back({p, role});
  }
  /// Waits (bounded) until the thread with `role` is stopped at `p`.
  bool wait_stopped(hook_point p, int role) {
    return eventually([&] { return stopped(p, role); }, stop_bound);
  }
  bool stopped(hook_point p, int role) const {
    std::lock_guard lk(mutex_);
    return std::find(stopped_.begin(), stopped_.end(), stop{p, role}) != stopped_.end();
  }
  /// Lets the thread with `role` go on.
  void release(int role) {
    std::lock_guard lk(mutex_);
    std::erase_if(stopped_, [&](const stop& s) { return s.role == role; });
    cv_.notify_all();
  }
  /// Disarms every stop and lets every stopped thread go (cleanup).
  void release_all() {
    std::lock_guard lk(mutex_);
    armed_.clear();
    stopped_.clear();
    cv_.notify_all();
  }
  /// How many times a role-carrying thread reached `p`.
  int hits(hook_point p) const {
    std::lock_guard lk(mutex_);
    return hits_[static_cast<std::size_t>(p)];
  }

 private:
  struct stop {
    hook_point point;
    int role;
    bool operator==(const stop&) const = default;
  };
  static std::atomic<hook_gate*>& current() {
    static std::atomic<hook_gate*> g{nullptr};
    return g;
  }
  static void on_hook(hook_point p, const void*) noexcept {
    if (hook_role == 0) return;
    if (hook_gate* g = current().load()) g->reached(p);
  }
  void reached(hook_point p) noexcept {
    std::unique_lock lk(mutex_);
    ++hits_[static_cast<std::size_t>(p)];
    const stop s{p, hook_role};
    const auto it = std::find(armed_.begin(), armed_.end(), s);
    if (it == armed_.end()) return;
    armed_.erase(it);
    stopped_.push_back(s);
    cv_.wait_for(lk, stop_bound,
                 [&] { return std::find(stopped_.begin(), stopped_.end(), s) == stopped_.end(); });
    std::erase(stopped_, s);  // timed out: the test failed, go on
  }

  scoped_test_hook install_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<stop> armed_;    // guarded by mutex_
  std::vector<stop> stopped_;  // guarded by mutex_
  int hits_[16] = {};          // guarded by mutex_
};

}  // namespace berth::testing
