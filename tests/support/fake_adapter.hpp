// fake_adapter.hpp: a scriptable adapter for unit tests.
//
// Connections are small objects with an id and an owner field. The script
// (shared by copies of the adapter) injects connect/validate/reset failures
// and connect latency measured on a fake clock.
#pragma once

#include <berth/adapter.hpp>
#include <berth/errc.hpp>

#include "fake_clock.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace berth::testing {

struct fake_connection {
  std::uint64_t id = 0;
  std::uint64_t resets = 0;
  bool dirty = false;  // set by tests to simulate session state
};

/// Shared, thread-safe script and counters.
struct fake_script {
  std::atomic<int> fail_connects{0};      // next N connects fail
  std::atomic<bool> connect_down{false};  // every connect fails while set
  std::atomic<int> fail_validates{0};
  std::atomic<int> fail_resets{0};
  std::atomic<bool> throw_on_connect{false};
  std::atomic<std::uint64_t> fail_from_connect{0};  // if > 0: connect number >= this fails (1-based)
  std::atomic<std::chrono::nanoseconds> connect_latency{std::chrono::nanoseconds{0}};  // on `clock`
  std::atomic<std::chrono::nanoseconds> validate_latency{std::chrono::nanoseconds{0}};  // on `clock`
  std::atomic<int> in_validate{0};
  std::atomic<fake_clock*> clock{nullptr};  // required when a latency > 0

  std::atomic<std::uint64_t> connects{0}, connect_failures{0}, closes{0}, resets{0}, validates{0};
  std::atomic<std::int64_t> live{0};
  std::atomic<int> in_connect{0};
  std::mutex threads_mutex;
  std::vector<std::thread::id> connect_threads;  // guarded by threads_mutex
  std::atomic<std::uint64_t> next_id{1};
};

/// Thread-safe as the adapter contract requires.
class fake_adapter {
 public:
  using connection_type = fake_connection;

  explicit fake_adapter(std::shared_ptr<fake_script> s = std::make_shared<fake_script>())
      : s_(std::move(s)) {}

  result<fake_connection, adapter_error> connect() {
    s_->in_connect.fetch_add(1);
    struct leave {
      fake_script& s;
      ~leave() { s.in_connect.fetch_sub(1); }
    } guard{*s_};
    if (const auto lat = s_->connect_latency.load(); lat.count() > 0) {
      fake_clock* c = s_->clock.load();
      c->sleep_until(c->now() + lat);
    }
    {
      std::lock_guard lk(s_->threads_mutex);
      s_->connect_threads.push_back(std::this_thread::get_id());
    }
    const std::uint64_t n = s_->connects.fetch_add(1) + 1;
    if (s_->throw_on_connect.load()) throw std::runtime_error("fake connect threw");
    const std::uint64_t from = s_->fail_from_connect.load();
    if (s_->connect_down.load() || take(s_->fail_connects) || (from > 0 && n >= from)) {
      s_->connect_failures.fetch_add(1);
      return failure{adapter_error{std::make_error_code(std::errc::connection_refused),
                                   "fake: connection refused (127.0.0.1:5432)"}};
    }
    s_->live.fetch_add(1);
    return fake_connection{s_->next_id.fetch_add(1)};
  }
  result<void, adapter_error> validate(fake_connection&) {
    s_->in_validate.fetch_add(1);
    if (const auto lat = s_->validate_latency.load(); lat.count() > 0) {
      fake_clock* c = s_->clock.load();
      c->sleep_until(c->now() + lat);
    }
    s_->in_validate.fetch_sub(1);
    s_->validates.fetch_add(1);
    if (take(s_->fail_validates))
      return failure{adapter_error{std::make_error_code(std::errc::broken_pipe), "fake: validation failed"}};
    return {};
  }
  result<void, adapter_error> reset(fake_connection& c) {
    s_->resets.fetch_add(1);
    if (take(s_->fail_resets))
      return failure{adapter_error{std::make_error_code(std::errc::broken_pipe), "fake: reset failed"}};
    ++c.resets;
    c.dirty = false;
    return {};
  }
  void close(fake_connection&) noexcept {
    s_->closes.fetch_add(1);
    s_->live.fetch_sub(1);
  }

  fake_script& script() const { return *s_; }

 private:
  static bool take(std::atomic<int>& n) {
    int v = n.load();
    while (v > 0)
      if (n.compare_exchange_weak(v, v - 1)) return true;
    return false;
  }
  std::shared_ptr<fake_script> s_;
};

static_assert(adapter<fake_adapter>);

}  // namespace berth::testing
