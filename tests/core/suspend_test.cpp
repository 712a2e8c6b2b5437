// Suspending a live pool (issue 11, HikariCP's suspendPool, PgBouncer's
// PAUSE): acquirers wait up to their deadline, releases are not handed off,
// nothing is created; resume() serves the waiters in arrival order. Close
// and drain still work. Fake clock, fake adapter, manual executor: no sleeps.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"
#include "support/manual_executor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::fake_adapter;
using testing::fake_clock;
using testing::fake_script;
using testing::manual_executor;
using fake_pool = pool<fake_adapter>;
using result_type = fake_pool::acquire_result;

struct SuspendTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;
  std::mutex events_mutex;
  std::vector<event_kind> events;

  pool_options opts(std::size_t max, std::size_t min_idle) {
    pool_options o;
    o.name = "suspend";
    o.max_size = max;
    o.min_idle = min_idle;
    o.on_event = [this](const pool_event& e) {
      std::lock_guard lk(events_mutex);
      events.push_back(e.kind);
    };
    return o;
  }
  std::unique_ptr<fake_pool> make(const pool_options& o) {
    return std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
  }
  std::size_t count(event_kind k) {
    std::lock_guard lk(events_mutex);
    return static_cast<std::size_t>(std::count(events.begin(), events.end(), k));
  }
};

TEST_F(SuspendTest, AcquiresAfterSuspendReturnedTakeNothingThoughConnectionsAreIdle) {
  auto p = make(opts(2, 2));
  p->suspend();
  EXPECT_TRUE(p->suspended());
  auto t = p->try_acquire();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, errc::would_block);
  EXPECT_TRUE(t.error().counts.suspended);
  EXPECT_NE(t.error().message().find("suspended"), std::string::npos) << t.error().message();
  auto r = p->acquire_for(0s);  // already past its deadline: fails without taking the idle one
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
  EXPECT_EQ(p->counts().idle, 2u);
  p->resume();
  EXPECT_FALSE(p->suspended());
  EXPECT_TRUE(p->try_acquire());
}

TEST_F(SuspendTest, DeadlinesStillEndWaitsWhileSuspended) {
  auto p = make(opts(2, 1));
  p->suspend();
  auto f = std::async(std::launch::async, [&] { return p->acquire_for(5s); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  clock.advance(4s);
  EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);
  clock.advance(1s);
  auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
  EXPECT_TRUE(r.error().counts.suspended);
  EXPECT_EQ(r.error().counts.idle, 1u) << "idle beside the waiter: held back on purpose";
  EXPECT_NE(r.error().message().find("pool suspended"), std::string::npos) << r.error().message();
  EXPECT_EQ(p->stats().timeouts, 1u);
  EXPECT_EQ(p->counts().waiting, 0u);
}

// Three acquirers queue one after the other while two connections are idle
// and one is leased: resume() gives the two idle ones to the first two to
// arrive; the third is served by the next release.
TEST_F(SuspendTest, ResumeServesTheWaitersInArrivalOrder) {
  auto p = make(opts(3, 3));
  auto held = p->try_acquire();
  ASSERT_TRUE(held);
  p->suspend();
  std::atomic<int> served_mask{0};
  std::vector<std::future<result_type>> waiters;
  for (int k = 0; k < 3; ++k) {
    waiters.push_back(std::async(std::launch::async, [&, k] {
      auto r = p->acquire_for(60s);
      if (r) served_mask.fetch_or(1 << k);
      return r;
    }));
    ASSERT_TRUE(eventually([&] { return p->counts().waiting == static_cast<std::size_t>(k + 1); }));
  }
  EXPECT_EQ(p->counts().idle, 2u);
  p->resume();
  auto first = waiters[0].get();
  auto second = waiters[1].get();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(served_mask.load(), 0b011) << "the first two to arrive, not the third";
  EXPECT_EQ(p->counts().waiting, 1u);
  held->release();
  auto third = waiters[2].get();
  ASSERT_TRUE(third);
  EXPECT_EQ(script->connects.load(), 3u);
}

TEST_F(SuspendTest, NothingIsCreatedWhileSuspendedAndResumeLetsCreationGoOn) {
  auto o = opts(2, 0);
  auto p = make(o);
  p->suspend();
  auto f = std::async(std::launch::async, [&] { return p->acquire_for(60s); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  EXPECT_FALSE(eventually([&] { return script->connects.load() > 0; }, std::chrono::seconds{1}))
      << "a queued acquirer wants a connection, but the pool is suspended";
  p->resume();
  auto r = f.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(script->connects.load(), 1u);
}

TEST_F(SuspendTest, RaisingMinIdleWhileSuspendedOpensNothingUntilResume) {
  auto o = opts(2, 0);
  o.max_size_limit = 4;
  auto p = make(o);
  p->suspend();
  p->resize({.max_size = 4, .min_idle = 3});
  EXPECT_FALSE(eventually([&] { return script->connects.load() > 0; }, std::chrono::seconds{1}));
  p->resume();
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 3; }));
}

// Strict hand-off normally gives every release to the head waiter; while
// suspended the releaser publishes and the connection stays idle.
TEST_F(SuspendTest, ReleasesWhileSuspendedAreNotHandedOff) {
  auto o = opts(1, 1);
  o.handoff_after = 0us;
  auto p = make(o);
  auto held = p->try_acquire();
  ASSERT_TRUE(held);
  auto f = std::async(std::launch::async, [&] { return p->acquire_for(60s); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  p->suspend();
  held->release();
  EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);
  pool_counts c = p->counts();
  EXPECT_EQ(c.idle, 1u) << c.to_string();
  EXPECT_EQ(c.waiting, 1u);
  EXPECT_FALSE(c.strict_handoff) << "no hand-off while suspended";
  p->resume();
  ASSERT_TRUE(f.get());
}

TEST_F(SuspendTest, CloseWhileSuspendedFailsTheWaitersAndClosesWhatIsIdle) {
  auto p = make(opts(2, 2));
  auto held = p->try_acquire();
  p->suspend();
  auto f = std::async(std::launch::async, [&] { return p->acquire_for(60s); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  p->close();
  auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::pool_closed);
  EXPECT_EQ(p->counts().idle, 0u);
  held->release();  // closed on return
  EXPECT_EQ(p->counts().total, 0u);
  EXPECT_EQ(script->live.load(), 0);
  p->resume();  // harmless on a closed pool
  EXPECT_TRUE(p->closed());
}

TEST_F(SuspendTest, DrainWhileSuspendedWaitsForTheLeases) {
  auto p = make(opts(2, 2));
  auto held = p->try_acquire();
  p->suspend();
  auto d = std::async(std::launch::async, [&] { return p->drain(60s); });
  ASSERT_TRUE(eventually([&] { return p->closed() && p->counts().idle == 0; }));
  EXPECT_EQ(d.wait_for(0s), std::future_status::timeout) << "a lease is still out";
  held->release();
  EXPECT_FALSE(d.get());
  EXPECT_EQ(script->live.load(), 0);
}

TEST_F(SuspendTest, AsyncAcquireWhileSuspendedWaitsAndIsServedOnResume) {
  auto p = make(opts(1, 1));
  manual_executor ex;
  std::optional<result_type> got;
  p->async_acquire_for(60s, ex.executor(), [&](result_type r) { got.emplace(std::move(r)); });
  ex.run_all();
  ASSERT_TRUE(got && *got) << "not suspended yet: served at once";
  got.reset();  // the lease ends
  p->suspend();
  p->async_acquire_for(60s, ex.executor(), [&](result_type r) { got.emplace(std::move(r)); });
  EXPECT_EQ(ex.run_all(), 0u);
  EXPECT_EQ(p->counts().waiting, 1u);
  EXPECT_EQ(p->counts().idle, 1u);
  p->resume();
  ASSERT_EQ(ex.run_all(), 1u);
  ASSERT_TRUE(got && *got);
}

TEST_F(SuspendTest, AsyncDeadlineWhileSuspendedFiresByTimer) {
  auto p = make(opts(1, 1));
  manual_executor ex;
  std::optional<result_type> got;
  p->suspend();
  p->async_acquire_for(50ms, ex.executor(), [&](result_type r) { got.emplace(std::move(r)); });
  clock.advance(50ms);
  ASSERT_TRUE(ex.wait_for_task());
  ex.run_all();
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, errc::timeout);
}

TEST_F(SuspendTest, SuspendAndResumeAreIdempotentAndEmitOneEventEach) {
  auto p = make(opts(1, 1));
  p->resume();  // not suspended: nothing
  p->suspend();
  p->suspend();
  EXPECT_TRUE(p->counts().suspended);
  EXPECT_TRUE(p->stats().counts.suspended);
  p->resume();
  p->resume();
  EXPECT_FALSE(p->counts().suspended);
  EXPECT_EQ(count(event_kind::suspended), 1u);
  EXPECT_EQ(count(event_kind::resumed), 1u);
}

// The failover recipe the documentation gives: suspend, evict everything,
// resume; the connections opened after resume are new ones.
TEST_F(SuspendTest, SuspendEvictAllResumeReplacesEveryConnection) {
  auto p = make(opts(2, 2));
  auto held = p->try_acquire();
  ASSERT_TRUE(held);
  const std::uint64_t old_id = (*held)->id;
  p->suspend();
  p->evict_all();
  EXPECT_EQ(p->counts().idle, 0u);
  held->release();  // evicted: closed on return
  EXPECT_EQ(p->counts().total, 0u);
  EXPECT_EQ(script->connects.load(), 2u) << "no refill while suspended";
  p->resume();
  auto r = p->acquire_for(10s);
  ASSERT_TRUE(r);
  EXPECT_GT((*r)->id, old_id);
  EXPECT_GE(script->connects.load(), 3u);
}

}  // namespace
}  // namespace berth
