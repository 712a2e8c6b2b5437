// timed_pool_fixture.hpp: a fake pool whose durations a test sets by
// advancing the fake clock, for the tests of pool_stats' histograms
// (core/pool_metrics_test.cpp) and of their Prometheus form
// (integrations/prometheus/families_test.cpp).
#pragma once

#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"
#include "support/protocol_options.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>

namespace berth::testing {

/// Thread-safety: as a GoogleTest fixture, the test's thread; the pools it
/// makes are thread-safe.
struct timed_pool_fixture : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;

  /// No reaper, one connection open at start, one lease in `sampling` timed.
  pool_options opts(std::uint32_t sampling, std::size_t max = 1) {
    pool_options o = protocol_options("metrics", max, 1);
    o.hold_time_sampling = sampling;
    return o;
  }
  std::unique_ptr<pool<fake_adapter>> make(const pool_options& o) {
    return std::make_unique<pool<fake_adapter>>(fake_adapter{script}, o, clock);
  }
  /// Acquires, holds for `hold` on the fake clock, releases.
  void cycle(pool<fake_adapter>& p, std::chrono::nanoseconds hold) {
    auto l = p.try_acquire();
    ASSERT_TRUE(l.has_value());
    clock.advance(hold);
  }
  /// One acquire that blocks for `wait` on the fake clock: a lease is held,
  /// a second thread's acquire queues, the clock moves, the lease is
  /// released and handed over (the waiter's lease ends with it). The held
  /// lease counts as a fast-path acquire, timed like any other.
  void wait_for_hand_over(pool<fake_adapter>& p, std::chrono::nanoseconds wait) {
    auto held = p.try_acquire();
    ASSERT_TRUE(held.has_value());
    auto waiter = std::async(std::launch::async, [&] { return p.acquire_for(std::chrono::seconds{1}).has_value(); });
    ASSERT_TRUE(eventually([&] { return p.counts().waiting == 1; }));
    clock.advance(wait);
    held->release();
    ASSERT_TRUE(waiter.get());
  }
};

}  // namespace berth::testing
