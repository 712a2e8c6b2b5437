// Resizing a live pool (issue 11): pool::resize() growing at once and
// shrinking as connections come back, its validation, and the adaptive
// min_idle driven by the reaper. Fake clock and fake adapter: the reaper's
// passes are driven by advancing the clock, no sleeps.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <optional>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::fake_adapter;
using testing::fake_clock;
using testing::fake_script;
using fake_pool = pool<fake_adapter>;

struct ResizeTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;
  std::mutex events_mutex;
  std::vector<pool_event> events;  // views cleared: kind, reason, sizes only

  // Every lifecycle policy off (the adaptive tests turn the reaper on).
  pool_options opts(std::size_t max, std::size_t min_idle, std::size_t limit) {
    pool_options o;
    o.name = "resize";
    o.max_size = max;
    o.min_idle = min_idle;
    o.max_size_limit = limit;
    o.reaper_period = 100ms;
    o.idle_timeout = o.max_lifetime = o.keepalive_interval = o.validation_interval = 0ms;
    o.lifetime_jitter = 0ms;
    o.validate_on_acquire = false;
    o.on_event = [this](const pool_event& e) {
      std::lock_guard lk(events_mutex);
      events.push_back({.kind = e.kind, .reason = e.reason, .max_size = e.max_size, .min_idle = e.min_idle});
    };
    return o;
  }
  std::unique_ptr<fake_pool> make(const pool_options& o) {
    return std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
  }
  std::size_t closed_for(close_reason r) {
    std::lock_guard lk(events_mutex);
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const pool_event& e) {
      return e.kind == event_kind::closed && e.reason == r;
    }));
  }
  std::vector<pool_event> of_kind(event_kind k) {
    std::lock_guard lk(events_mutex);
    std::vector<pool_event> v;
    std::copy_if(events.begin(), events.end(), std::back_inserter(v), [&](const pool_event& e) { return e.kind == k; });
    return v;
  }
  // One reaper period, and wait until the pass for it has run.
  void tick(fake_pool& p) {
    const auto before = p.stats().reaper_passes;
    clock.advance(100ms);
    ASSERT_TRUE(eventually([&] { return p.stats().reaper_passes > before; }));
  }
};

TEST_F(ResizeTest, DefaultOptionsAllocateNoRoomToGrow) {
  auto p = make(opts(4, 1, 0));
  EXPECT_EQ(p->sizing(), (pool_sizing{.max_size = 4, .min_idle = 1}));
  EXPECT_THROW(p->resize({.max_size = 5, .min_idle = 1}), options_error);
  p->resize({.max_size = 3, .min_idle = 0});  // shrinking needs no limit
  EXPECT_EQ(p->sizing(), (pool_sizing{.max_size = 3, .min_idle = 0}));
}

TEST_F(ResizeTest, InvalidSizingThrowsNamingTheFieldAndChangesNothing) {
  auto p = make(opts(4, 2, 8));
  const auto expect_field = [&](pool_sizing s, const char* field) {
    try {
      p->resize(s);
      ADD_FAILURE() << "no error for " << field;
    } catch (const options_error& e) {
      EXPECT_EQ(e.field(), field);
      EXPECT_NE(std::string(e.what()).find(std::string("pool_sizing.") + field), std::string::npos) << e.what();
    }
  };
  expect_field({.max_size = 0, .min_idle = 0}, "max_size");
  expect_field({.max_size = 9, .min_idle = 1}, "max_size");
  expect_field({.max_size = 3, .min_idle = 4}, "min_idle");
  EXPECT_EQ(p->sizing(), (pool_sizing{.max_size = 4, .min_idle = 2}));
  EXPECT_EQ(p->counts().max_size, 4u);
  EXPECT_TRUE(of_kind(event_kind::resized).empty());
}

TEST_F(ResizeTest, GrowingServesAQueuedAcquirerAtOnce) {
  auto p = make(opts(2, 2, 4));
  auto a = p->try_acquire();
  auto b = p->try_acquire();
  ASSERT_TRUE(a && b);
  auto waiter = std::async(std::launch::async, [&] { return p->acquire_for(10s); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  EXPECT_EQ(script->connects.load(), 2u) << "at max_size: nothing opened for the waiter";
  p->resize({.max_size = 3, .min_idle = 2});
  auto r = waiter.get();  // no clock advance: served by the new connection
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(script->connects.load(), 3u);
  const pool_counts c = p->counts();
  EXPECT_EQ(c.max_size, 3u);
  EXPECT_EQ(c.total, 3u);
  const auto resized = of_kind(event_kind::resized);
  ASSERT_EQ(resized.size(), 1u);
  EXPECT_EQ(resized[0].max_size, 3u);
  EXPECT_EQ(resized[0].min_idle, 2u);
}

TEST_F(ResizeTest, RaisingMinIdleOpensUpToIt) {
  auto p = make(opts(2, 1, 6));
  p->resize({.max_size = 6, .min_idle = 5});
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 5; })) << p->counts().to_string();
  EXPECT_EQ(p->counts().min_idle, 5u);
  EXPECT_EQ(script->connects.load(), 5u);
}

TEST_F(ResizeTest, ShrinkingClosesIdleConnectionsAboveTheNewMaxSoon) {
  auto p = make(opts(6, 6, 6));
  p->resize({.max_size = 2, .min_idle = 1});
  ASSERT_TRUE(eventually([&] { return p->counts().total == 2; })) << p->counts().to_string();
  EXPECT_EQ(closed_for(close_reason::resized), 4u);
  EXPECT_EQ(p->counts().idle, 2u);
  EXPECT_EQ(script->live.load(), 2);
}

TEST_F(ResizeTest, ShrinkingClosesLeasedConnectionsAboveTheNewMaxWhenTheyComeBack) {
  auto p = make(opts(4, 4, 4));
  std::vector<fake_pool::lease_type> held;
  for (int k = 0; k < 4; ++k) held.push_back(p->try_acquire().value());
  p->resize({.max_size = 1, .min_idle = 1});
  // Three of the four are flagged; none is closed while leased.
  ASSERT_TRUE(eventually([&] { return p->counts().retiring == 3; })) << p->counts().to_string();
  EXPECT_EQ(p->counts().total, 4u);
  EXPECT_EQ(closed_for(close_reason::resized), 0u);
  held.clear();  // the leases end
  EXPECT_EQ(closed_for(close_reason::resized), 3u) << "closed by the releasing thread, at release";
  const pool_counts c = p->counts();
  EXPECT_EQ(c.total, 1u) << c.to_string();
  EXPECT_EQ(c.idle, 1u);
  EXPECT_EQ(c.retiring, 0u);
  EXPECT_EQ(script->live.load(), 1);
}

TEST_F(ResizeTest, ShrinkingMixesIdleClosesAndLeasedFlagsToReachTheNewMax) {
  auto p = make(opts(6, 6, 6));
  std::vector<fake_pool::lease_type> held;
  for (int k = 0; k < 4; ++k) held.push_back(p->try_acquire().value());
  p->resize({.max_size = 3, .min_idle = 0});  // 2 idle closed now, 1 leased flagged
  ASSERT_TRUE(eventually([&] { return closed_for(close_reason::resized) == 2 && p->counts().retiring == 1; }))
      << p->counts().to_string();
  EXPECT_EQ(p->counts().total - p->counts().retiring, 3u);
  held.clear();
  EXPECT_EQ(p->counts().total, 3u);
  EXPECT_EQ(closed_for(close_reason::resized), 3u);
}

// A waiter must not get a connection that is above the new max_size: the
// releases that bring the pool down to it close their connections instead.
TEST_F(ResizeTest, ConnectionsAboveANewMaxAreNotHandedToWaiters) {
  auto o = opts(3, 3, 3);
  o.handoff_after = 0us;  // strict: every release is a hand-off
  auto p = make(o);
  std::vector<fake_pool::lease_type> held;
  for (int k = 0; k < 3; ++k) held.push_back(p->try_acquire().value());
  p->resize({.max_size = 1, .min_idle = 0});
  ASSERT_TRUE(eventually([&] { return p->counts().retiring == 2; }));
  auto waiter = std::async(std::launch::async, [&] { return p->acquire_for(10s); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  std::vector<std::uint64_t> ids;
  for (auto& l : held) ids.push_back(l->id);
  // Release them in turn: the two flagged ones close, the kept one goes to
  // the waiter. Which ones are flagged is the trim's choice.
  for (auto& l : held) l.release();
  auto r = waiter.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(closed_for(close_reason::resized), 2u);
  EXPECT_NE(std::find(ids.begin(), ids.end(), (*r)->id), ids.end()) << "a kept connection, not a new one";
  EXPECT_EQ(script->connects.load(), 3u) << "nothing opened: the pool was at or above max_size throughout";
}

TEST_F(ResizeTest, NoCreationWhileFlaggedConnectionsKeepThePoolAboveItsMax) {
  auto p = make(opts(4, 0, 4));
  std::vector<fake_pool::lease_type> held;
  for (int k = 0; k < 4; ++k) held.push_back(p->acquire_for(1s).value());
  ASSERT_EQ(script->connects.load(), 4u);
  p->resize({.max_size = 2, .min_idle = 0});
  ASSERT_TRUE(eventually([&] { return p->counts().retiring == 2; }));
  p->resize({.max_size = 4, .min_idle = 0});  // grows back before they return
  // Flagged connections stay flagged (documented): they close on return and
  // the pool opens new ones as demand asks.
  held.clear();
  EXPECT_EQ(closed_for(close_reason::resized), 2u);
  EXPECT_EQ(p->counts().total, 2u);
}

TEST_F(ResizeTest, CountsAndStatsReportTheSizingInForce) {
  auto p = make(opts(4, 2, 10));
  p->resize({.max_size = 7, .min_idle = 3});
  const pool_stats s = p->stats();
  EXPECT_EQ(s.counts.max_size, 7u);
  EXPECT_EQ(s.counts.min_idle, 3u);
  EXPECT_FALSE(s.counts.suspended);
  EXPECT_NE(s.counts.to_string().find("max_size=7, min_idle=3"), std::string::npos) << s.counts.to_string();
}

// ---- adaptive min_idle ------------------------------------------------------------

struct AdaptiveTest : ResizeTest {
  pool_options adaptive(std::size_t max, std::size_t floor, std::size_t ceiling) {
    pool_options o = opts(max, floor, 0);
    o.adaptive_min_idle = true;
    o.min_idle_floor = floor;
    o.min_idle_ceiling = ceiling;
    o.adaptive_window = 300ms;  // three passes
    return o;
  }
};

TEST_F(AdaptiveTest, MinIdleRisesToTheObservedPeakThenFallsByHalvesAfterTheWindow) {
  auto p = make(adaptive(10, 1, 8));
  std::vector<fake_pool::lease_type> held;
  for (int k = 0; k < 6; ++k) held.push_back(p->acquire_for(1s).value());
  tick(*p);
  EXPECT_EQ(p->sizing().min_idle, 6u) << "risen to the peak at once";
  held.clear();
  tick(*p);  // the peak is still in the window
  tick(*p);
  EXPECT_EQ(p->sizing().min_idle, 6u);
  EXPECT_EQ(p->counts().total, 6u) << "kept open for the next burst";
  tick(*p);  // the sample of 6 has left the 300 ms window: target 1 (the floor)
  EXPECT_EQ(p->sizing().min_idle, 3u) << "half the distance (5), rounded up";
  tick(*p);
  EXPECT_EQ(p->sizing().min_idle, 2u);
  tick(*p);
  EXPECT_EQ(p->sizing().min_idle, 1u);
  tick(*p);
  EXPECT_EQ(p->sizing().min_idle, 1u) << "the floor holds";
  const auto resized = of_kind(event_kind::resized);
  ASSERT_EQ(resized.size(), 4u);  // 6, 3, 2, 1
  EXPECT_EQ(resized.back().min_idle, 1u);
}

TEST_F(AdaptiveTest, MinIdleStaysWithinTheCeilingAndTheMaxSizeInForce) {
  auto o = adaptive(8, 0, 5);
  o.max_size_limit = 8;
  auto p = make(o);
  std::vector<fake_pool::lease_type> held;
  for (int k = 0; k < 8; ++k) held.push_back(p->acquire_for(1s).value());
  tick(*p);
  EXPECT_EQ(p->sizing().min_idle, 5u) << "the ceiling";
  p->resize({.max_size = 3, .min_idle = 3});
  tick(*p);
  EXPECT_EQ(p->sizing(), (pool_sizing{.max_size = 3, .min_idle = 3})) << "clamped to max_size";
}

// A burst between two passes is invisible to the samples; the acquires that
// had to wait show that the pool ran dry: every open connection was in use.
TEST_F(AdaptiveTest, AcquiresThatWaitedBetweenPassesCountAsAPoolRunDry) {
  auto p = make(adaptive(8, 1, 8));
  ASSERT_EQ(p->counts().total, 1u);
  auto a = p->try_acquire();
  ASSERT_TRUE(a);
  {
    auto b = p->acquire_for(10s);  // waits while the creator opens a second
    ASSERT_TRUE(b);
  }
  a->release();
  EXPECT_EQ(p->stats().acquired_after_wait, 1u);
  tick(*p);  // nothing leased, nobody waiting now
  EXPECT_EQ(p->sizing().min_idle, 2u);
}

TEST_F(AdaptiveTest, NoSamplesWhileSuspended) {
  auto p = make(adaptive(4, 1, 4));
  p->suspend();
  auto waiter = std::async(std::launch::async, [&] { return p->acquire_until(clock_source::time_point::max()); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  tick(*p);
  tick(*p);
  EXPECT_EQ(p->sizing().min_idle, 1u) << "a held acquirer is not demand to size for";
  p->resume();
  ASSERT_TRUE(waiter.get());
}

TEST_F(AdaptiveTest, AResizeSetsANewStartingPointWithinTheBounds) {
  auto p = make(adaptive(4, 1, 3));
  EXPECT_THROW(p->resize({.max_size = 4, .min_idle = 4}), options_error) << "above min_idle_ceiling";
  EXPECT_THROW(p->resize({.max_size = 4, .min_idle = 0}), options_error) << "below min_idle_floor";
  p->resize({.max_size = 4, .min_idle = 3});
  EXPECT_EQ(p->sizing().min_idle, 3u);
}

}  // namespace
}  // namespace berth
