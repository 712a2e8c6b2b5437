// The distributions in pool_stats (issue 12): acquire wait time, lease hold
// time (sampled: pool_options::hold_time_sampling), connection time, and
// the size hint derived from them. Fake clock and fake adapter: every
// duration is set by advancing the clock, so the buckets are exact.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"
#include "support/timed_pool_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using testing::eventually;
using testing::fake_adapter;
using testing::fake_clock;
using testing::fake_script;
using fake_pool = pool<fake_adapter>;

struct PoolMetricsTest : testing::timed_pool_fixture {};

TEST_F(PoolMetricsTest, SamplingOneTimesEveryLeaseInItsBucket) {
  auto p = make(opts(1));
  cycle(*p, 5ms);
  cycle(*p, 5ms);
  cycle(*p, 1us);
  const pool_stats s = p->stats();
  EXPECT_EQ(s.hold_time.count, 3u);
  EXPECT_EQ(s.hold_time.sum, 10ms + 1us);
  EXPECT_EQ(s.hold_time.buckets[duration_histogram::bucket_of(5ms)], 2u);
  EXPECT_EQ(s.hold_time.buckets[duration_histogram::bucket_of(1us)], 1u);
  EXPECT_EQ(s.hold_time.max(), duration_histogram::upper_bound(duration_histogram::bucket_of(5ms)));
}

TEST_F(PoolMetricsTest, SamplingSixtyFourTimesOneLeaseInSixtyFour) {
  auto p = make(opts(64));
  for (int k = 0; k < 64 * 3; ++k) cycle(*p, 2ms);
  const pool_stats s = p->stats();
  EXPECT_EQ(s.acquired, 192u);
  EXPECT_EQ(s.hold_time.count, 3u);
  EXPECT_EQ(s.hold_time.sum, 6ms);
}

TEST_F(PoolMetricsTest, SamplingZeroTimesNothing) {
  auto p = make(opts(0));
  for (int k = 0; k < 200; ++k) cycle(*p, 1ms);
  const pool_stats s = p->stats();
  EXPECT_EQ(s.acquired, 200u);
  EXPECT_EQ(s.hold_time.count, 0u);
  EXPECT_EQ(s.size_hint.suggested_max_size, 0u) << "no estimate without hold samples";
}

TEST_F(PoolMetricsTest, DiscardedLeasesAreTimedToo) {
  auto p = make(opts(1));
  {
    auto l = p->try_acquire();
    ASSERT_TRUE(l.has_value());
    clock.advance(3ms);
    l->discard();
  }
  EXPECT_EQ(p->stats().hold_time.count, 1u);
  EXPECT_EQ(p->stats().hold_time.sum, 3ms);
}

TEST_F(PoolMetricsTest, FastPathAcquiresWaitZeroAndBlockedOnesTheirWait) {
  auto p = make(opts(0));
  cycle(*p, 0ns);
  cycle(*p, 0ns);
  wait_for_hand_over(*p, 7ms);
  const pool_stats s = p->stats();
  EXPECT_EQ(s.wait_time.count, 4u) << "every successful acquire";
  EXPECT_EQ(s.wait_time.buckets[0], 3u) << "the fast-path ones wait 0 ns";
  EXPECT_EQ(s.wait_time.buckets[duration_histogram::bucket_of(7ms)], 1u);
  EXPECT_EQ(s.wait_time.sum, 7ms);
  EXPECT_EQ(s.wait.max, duration_histogram::upper_bound(duration_histogram::bucket_of(7ms)));
}

TEST_F(PoolMetricsTest, CreationTimeIsTheConnectLatency) {
  script->clock = &clock;
  pool_options o = opts(0, 2);
  o.startup = startup_mode::degraded;
  o.min_idle = 0;
  auto p = make(o);
  auto held = p->try_acquire();  // nothing open yet
  EXPECT_FALSE(held.has_value());
  script->connect_latency = 40ms;
  auto first = std::async(std::launch::async, [&] { return p->acquire_for(10s).has_value(); });
  ASSERT_TRUE(eventually([&] { return script->in_connect.load() == 1; }));
  clock.advance(40ms);
  ASSERT_TRUE(first.get());
  const pool_stats s = p->stats();
  EXPECT_EQ(s.creation_time.count, 1u);
  EXPECT_EQ(s.creation_time.sum, 40ms);
  EXPECT_EQ(s.creation_time.buckets[duration_histogram::bucket_of(40ms)], 1u);
}

TEST_F(PoolMetricsTest, FailFastStartupTimesItsConnects) {
  auto p = make(opts(0));  // min_idle 1, fail_fast: opened in the constructor
  const pool_stats s = p->stats();
  EXPECT_EQ(s.creation_time.count, 1u);
  EXPECT_EQ(s.creation_time.buckets[0], 1u) << "no latency on the fake clock";
}

// Little's law: 100 acquires/s, each held 10 ms: 1 connection busy on
// average; ceil(1 + 3 sqrt(1)) = 4 suggested.
TEST_F(PoolMetricsTest, SizeHintIsLittlesLawPlusSquareRootHeadroom) {
  auto p = make(opts(1, 4));
  for (int k = 0; k < 100; ++k) cycle(*p, 10ms);  // 1 s on the fake clock
  const pool_stats s = p->stats();
  EXPECT_EQ(s.size_hint.rate_window, 1s);
  EXPECT_DOUBLE_EQ(s.size_hint.acquire_rate, 100.0);
  EXPECT_EQ(s.size_hint.mean_hold, 10ms);
  EXPECT_DOUBLE_EQ(s.size_hint.busy, 1.0);
  EXPECT_EQ(s.size_hint.suggested_max_size, 4u);
}

TEST_F(PoolMetricsTest, SizeHintRateWindowMovesOnlyAfterASecond) {
  auto p = make(opts(1, 4));
  for (int k = 0; k < 100; ++k) cycle(*p, 10ms);
  (void)p->stats();  // marks t = 1 s
  clock.advance(500ms);
  EXPECT_EQ(p->stats().size_hint.rate_window, 1500ms) << "a call 0.5 s later keeps the window from the start";
  for (int k = 0; k < 50; ++k) cycle(*p, 10ms);  // t = 2 s, 150 acquires
  const pool_size_hint h = p->stats().size_hint;
  EXPECT_EQ(h.rate_window, 1s) << "from the call at t = 1 s";
  EXPECT_DOUBLE_EQ(h.acquire_rate, 50.0);
}

// The hint is about the load of the moment: after an hour of 1 ms holds,
// holds of 20 ms must show at once, not be averaged away by the hour.
TEST_F(PoolMetricsTest, SizeHintMeanHoldIsOverTheRateWindowBug) {
  auto p = make(opts(1, 4));
  for (int k = 0; k < 3600; ++k) cycle(*p, 1ms);
  clock.advance(1h);
  (void)p->stats();  // marks the window's start
  for (int k = 0; k < 50; ++k) cycle(*p, 20ms);  // 1 s
  const pool_size_hint h = p->stats().size_hint;
  EXPECT_EQ(h.rate_window, 1s);
  EXPECT_DOUBLE_EQ(h.acquire_rate, 50.0);
  EXPECT_EQ(h.mean_hold, 20ms);
  EXPECT_DOUBLE_EQ(h.busy, 1.0);
  EXPECT_EQ(h.suggested_max_size, 4u);
}

TEST_F(PoolMetricsTest, SizeHintFallsBackToTheLifetimeMeanWhenNoHoldEndedInTheWindow) {
  auto p = make(opts(1, 4));
  for (int k = 0; k < 10; ++k) cycle(*p, 3ms);
  clock.advance(2s);
  (void)p->stats();
  clock.advance(2s);
  EXPECT_EQ(p->stats().size_hint.mean_hold, 3ms);
}

// wait_time's buckets are exported as Prometheus counters, which must never
// go down: bucket 0 (acquires that did not wait) is the per-slot lease sum,
// read without the lock, minus the waits recorded under it, and a waiter
// records its wait before its lease is counted, so a stats() between the
// two once reported bucket 0 one lower than the call before.
TEST_F(PoolMetricsTest, WaitTimeBucketsNeverDecreaseBetweenSnapshotsBug) {
  // The steady clock: waits of 0 ns on the fake clock would land in bucket 0
  // too and hide the drop.
  auto p = std::make_unique<fake_pool>(fake_adapter{script}, opts(0, 1));
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto l = p->acquire_for(10s);  // mostly handed over: the pool has 1 connection
        ASSERT_TRUE(l.has_value());
      }
    });
  duration_histogram last = p->stats().wait_time;
  for (int k = 0; k < 20000; ++k) {
    const duration_histogram now = p->stats().wait_time;
    std::uint64_t cum_last = 0, cum_now = 0;
    for (std::size_t b = 0; b < duration_histogram::bucket_count; ++b) {
      cum_last += last.buckets[b];
      cum_now += now.buckets[b];
      ASSERT_GE(cum_now, cum_last) << "cumulative bucket " << b << " went down at snapshot " << k;
    }
    ASSERT_GE(now.count, last.count);
    last = now;
  }
  stop = true;
  for (auto& t : ts) t.join();
}

TEST_F(PoolMetricsTest, SizeHintOfAnIdlePoolIsOne) {
  auto p = make(opts(1));
  cycle(*p, 1ms);
  clock.advance(1h);
  const pool_size_hint h = p->stats().size_hint;
  EXPECT_GT(h.busy, 0.0);
  EXPECT_LT(h.busy, 1e-6);
  EXPECT_EQ(h.suggested_max_size, 1u);
}

// A completion that an executor drops unrun (it is shutting down) returns
// its connection at the drop: no caller held it, so it counts neither as a
// lease nor as a hold (AsyncTest.AcquiredCountsNoFastPathClaimThatNeverReachedItsHandlerBug),
// and its timing does not leak into the slot's next lease as a hold that
// began back then.
TEST_F(PoolMetricsTest, ADroppedAsyncCompletionEndsItsTimingAtTheDrop) {
  auto p = make(opts(1));
  struct dropping_executor {
    void post(unique_task) const {}
  };
  (void)p->async_acquire_for(1s, dropping_executor{}, [](fake_pool::acquire_result) {});
  ASSERT_EQ(p->counts().idle, 1u);
  clock.advance(1h);
  cycle(*p, 1ms);
  const pool_stats s = p->stats();
  EXPECT_EQ(s.acquired, 1u) << "the dropped claim is not a lease";
  EXPECT_EQ(s.hold_time.count, 1u);
  EXPECT_EQ(s.hold_time.sum, 1ms) << "not an hour";
}

TEST_F(PoolMetricsTest, HoldTimesFromManyThreadsAreAllCounted) {
  auto p = make(opts(1, 4));
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int k = 0; k < 2000; ++k) {
        auto l = p->acquire_for(10s);
        ASSERT_TRUE(l.has_value());
      }
    });
  for (auto& t : ts) t.join();
  const pool_stats s = p->stats();
  EXPECT_EQ(s.acquired, 8000u);
  EXPECT_EQ(s.hold_time.count, 8000u);
  EXPECT_EQ(s.hold_time.buckets[0], 8000u) << "the fake clock stood still";
}

TEST(PoolMetricsOptionsTest, HoldTimeSamplingMustBeAPowerOfTwoOrZero) {
  for (std::uint32_t bad : {3u, 100u, (1u << 30) + 1, 1u << 31}) {
    pool_options o;
    o.hold_time_sampling = bad;
    const auto e = validate(o);
    ASSERT_TRUE(e.has_value()) << bad;
    EXPECT_EQ(e->field(), "hold_time_sampling");
    EXPECT_NE(std::string(e->what()).find(std::to_string(bad)), std::string::npos) << e->what();
  }
  for (std::uint32_t good : {0u, 1u, 2u, 64u, 1u << 30}) {
    pool_options o;
    o.hold_time_sampling = good;
    EXPECT_FALSE(validate(o).has_value()) << good;
  }
}

}  // namespace
}  // namespace berth
