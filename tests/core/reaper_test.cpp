// The reaper's policies on a fake clock: every pass is driven by advancing
// the clock one reaper period and waiting for the pass counter, no sleeps.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <set>
#include <thread>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::fake_adapter;
using testing::fake_clock;
using testing::fake_script;
using fake_pool = pool<fake_adapter>;

struct recorded_event {
  event_kind kind;
  close_reason reason;
  std::uint32_t slot;
  clock_source::time_point at;
  std::chrono::nanoseconds age;
  std::string message;
};

struct ReaperTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;
  std::mutex events_mutex;
  std::vector<recorded_event> events;

  ReaperTest() { script->clock = &clock; }

  // All policies off; each test turns on what it checks.
  pool_options opts(std::size_t max, std::size_t min_idle) {
    pool_options o;
    o.name = "reaper";
    o.max_size = max;
    o.min_idle = min_idle;
    o.reaper_period = 100ms;
    o.idle_timeout = o.max_lifetime = o.keepalive_interval = o.validation_interval = 0ms;
    o.lifetime_jitter = 0ms;
    o.validate_on_acquire = false;
    o.on_event = [this](const pool_event& e) {
      std::lock_guard lk(events_mutex);
      events.push_back({e.kind, e.reason, e.slot, clock.now(), e.age, std::string(e.message)});
    };
    return o;
  }
  std::unique_ptr<fake_pool> make(const pool_options& o) {
    return std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
  }
  // One reaper period, and wait until the pass for it has run.
  void tick(fake_pool& p) {
    const auto before = p.stats().reaper_passes;
    clock.advance(100ms);
    ASSERT_TRUE(eventually([&] { return p.stats().reaper_passes > before; }));
  }
  std::size_t closed_for(close_reason r) {
    std::lock_guard lk(events_mutex);
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const recorded_event& e) {
      return e.kind == event_kind::closed && e.reason == r;
    }));
  }
};

TEST_F(ReaperTest, PoolShrinksToMinIdleWithinIdleTimeoutPlusOnePeriodAfterASpike) {
  auto o = opts(10, 2);
  o.idle_timeout = 1s;
  auto p = make(o);
  {
    std::vector<fake_pool::lease_type> spike;
    for (int k = 0; k < 10; ++k) spike.push_back(std::move(p->acquire_for(1h).value()));
    EXPECT_EQ(p->counts().total, 10u);
  }  // the spike ends now
  for (int k = 0; k < 10; ++k) tick(*p);  // idle_timeout has not passed since the last use was seen
  EXPECT_EQ(p->counts().total, 10u);
  tick(*p);  // idle_timeout + one period
  EXPECT_EQ(p->counts().total, 2u) << p->counts().to_string();
  EXPECT_EQ(closed_for(close_reason::idle_timeout), 8u);
  for (int k = 0; k < 30; ++k) tick(*p);
  EXPECT_EQ(p->counts().total, 2u) << "never below min_idle";
}

// Threads without a hint (a thread per request) pop the oldest idle
// connection from the FIFO ring, so every connection is used every few
// periods and none is ever idle for idle_timeout on its own. The surplus rule
// still sees that 9 of 10 stayed idle through the whole window.
TEST_F(ReaperTest, FifoRotationByFreshThreadsDoesNotKeepASpikeAlive) {
  auto o = opts(10, 2);
  o.idle_timeout = 1s;
  auto p = make(o);
  {
    std::vector<fake_pool::lease_type> spike;
    for (int k = 0; k < 10; ++k) spike.push_back(std::move(p->acquire_for(1h).value()));
  }
  std::set<std::uint64_t> used;
  for (int k = 0; k < 11; ++k) {
    for (int r = 0; r < 2; ++r)
      std::thread([&] {
        auto l = p->try_acquire();  // no hint on a new thread: the ring's oldest
        ASSERT_TRUE(l);
        used.insert((*l)->id);
      }).join();
    tick(*p);
  }
  EXPECT_GE(used.size(), 8u) << "the requests rotated through the pool";
  EXPECT_EQ(p->counts().total, 2u) << p->counts().to_string();
  EXPECT_EQ(closed_for(close_reason::idle_timeout), 8u);
}

TEST_F(ReaperTest, ConnectionInUseDoesNotIdleOut) {
  auto o = opts(4, 0);
  o.idle_timeout = 500ms;
  o.startup = startup_mode::fail_fast;
  o.min_idle = 2;
  auto p = make(o);
  o.min_idle = 0;
  for (int k = 0; k < 20; ++k) {
    (void)p->try_acquire();  // this thread keeps reusing one connection
    tick(*p);
  }
  EXPECT_EQ(closed_for(close_reason::idle_timeout), 0u) << "min_idle 2 keeps both";
}

TEST_F(ReaperTest, LifetimeRetirementsOf32SimultaneousConnectionsSpreadOverTheJitterWindow) {
  auto o = opts(32, 32);
  o.max_lifetime = 10s;
  o.lifetime_jitter = 4s;
  auto p = make(o);  // fail-fast: all 32 opened at the same fake instant
  const auto created = clock.now();
  for (int k = 0; k < 102; ++k) {  // to 10.2 s
    tick(*p);
    // The creator refills on its own thread while the fake clock stands
    // still; let it catch up before the next pass, or a loaded machine
    // (TSan under ctest -j2) leaves fewer open connections and so a smaller
    // per-pass expiry budget (a quarter of those open), pushing retirements
    // past 10.2 s.
    ASSERT_TRUE(eventually([&] { return p->counts().total == 32; }));
  }
  std::vector<recorded_event> expired;
  {
    std::lock_guard lk(events_mutex);
    for (const auto& e : events)
      if (e.kind == event_kind::closed && e.reason == close_reason::expired) expired.push_back(e);
  }
  ASSERT_EQ(expired.size(), 32u);
  std::set<clock_source::time_point> passes;
  for (const auto& e : expired) {
    EXPECT_GE(e.at, created + 6s);
    EXPECT_LE(e.at, created + 10s + 100ms);
    passes.insert(e.at);
  }
  EXPECT_GE(passes.size(), 12u) << "retirements must not bunch up";
  EXPECT_GE(*passes.rbegin() - *passes.begin(), 2s);
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 32; })) << "refilled to min_idle";
}

TEST_F(ReaperTest, StalledReaperCatchesUpWithoutAStormOfCloses) {
  auto o = opts(8, 8);
  o.max_lifetime = 10s;  // no jitter: all expire together
  auto p = make(o);
  const auto before = p->stats().reaper_passes;
  clock.advance(1h);  // the reaper slept through everything
  ASSERT_TRUE(eventually([&] { return p->stats().reaper_passes > before; }));
  EXPECT_EQ(p->stats().reaper_passes, before + 1) << "one pass, not one per missed period";
  EXPECT_EQ(closed_for(close_reason::expired), 2u) << "a quarter per pass";
  for (int k = 0; k < 20 && closed_for(close_reason::expired) < 8; ++k) {
    const auto before_pass = closed_for(close_reason::expired);
    tick(*p);
    EXPECT_LE(closed_for(close_reason::expired) - before_pass, 2u) << "never more than a quarter of 8";
  }
  EXPECT_EQ(closed_for(close_reason::expired), 8u) << "all retired, a few per pass";
}

TEST_F(ReaperTest, LeasedConnectionIsNeverTouchedAndRetiresOnceIdle) {
  auto o = opts(1, 1);
  o.max_lifetime = 1s;
  auto p = make(o);
  auto l = p->try_acquire();
  ASSERT_TRUE(l);
  for (int k = 0; k < 15; ++k) tick(*p);
  EXPECT_EQ(script->closes.load(), 0u) << "reserve-then-act: a leased slot cannot be reserved";
  l.value().release();
  tick(*p);
  EXPECT_EQ(closed_for(close_reason::expired), 1u);
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; }));
}

TEST_F(ReaperTest, LeasedConnectionPastItsLifetimeIsRetiredWhenItComesBack) {
  auto o = opts(2, 1);
  o.max_lifetime = 1s;
  auto p = make(o);
  auto l = p->try_acquire();
  ASSERT_TRUE(l);
  for (int k = 0; k < 11; ++k) tick(*p);  // the reaper flags it while it is leased
  EXPECT_EQ(script->closes.load(), 0u);
  l.value().release();  // no reaper pass needed: the release sees the flag
  EXPECT_EQ(closed_for(close_reason::expired), 1u);
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; }));
}

TEST_F(ReaperTest, StaleConnectionIsValidatedAtAcquireAndAHotOneIsNot) {
  auto o = opts(1, 1);
  o.validate_on_acquire = true;
  o.validation_bypass = 500ms;
  auto p = make(o);
  for (int k = 0; k < 20; ++k) {  // hot: used every period
    (void)p->try_acquire();
    tick(*p);
  }
  EXPECT_EQ(script->validates.load(), 0u) << "a hot pool pays nothing";
  for (int k = 0; k < 7; ++k) tick(*p);  // idle longer than the bypass window
  {
    auto l = p->acquire_for(1s);
    ASSERT_TRUE(l);
    EXPECT_EQ(script->validates.load(), 1u) << "validated before it was handed out";
  }
  EXPECT_EQ(p->stats().acquire_validations, 1u);
  (void)p->try_acquire();
  EXPECT_EQ(script->validates.load(), 1u) << "validated once, not every acquire";
}

// validation_bypass 0 means "validate at every blocking acquire" (HikariCP's
// aliveBypassWindowMs = 0), without waiting for the reaper to flag anything;
// try_acquire still never validates.
TEST_F(ReaperTest, ValidationBypassZeroValidatesEveryBlockingAcquire) {
  auto o = opts(1, 1);
  o.validate_on_acquire = true;
  o.validation_bypass = 0ms;
  auto p = make(o);
  for (int k = 1; k <= 3; ++k) {
    auto l = p->acquire_for(1s);
    ASSERT_TRUE(l);
    EXPECT_EQ(script->validates.load(), static_cast<std::uint64_t>(k)) << "acquire " << k;
  }
  EXPECT_EQ(p->stats().acquire_validations, 3u);
  EXPECT_EQ(p->stats().reaper_passes, 0u) << "no pass was needed";
  {
    auto l = p->try_acquire();
    ASSERT_TRUE(l) << "an unflagged connection is handed out by try_acquire";
  }
  EXPECT_EQ(script->validates.load(), 3u) << "try_acquire never validates";
  script->fail_validates = 1;
  auto l = p->acquire_for(1s);  // the failing one is closed and replaced
  ASSERT_TRUE(l);
  EXPECT_EQ(p->stats().validation_failures, 1u);
}

// try_acquire never validates: it leaves a stale connection and wakes the
// reaper, which validates it at once (no clock advance, no pass needed).
TEST_F(ReaperTest, TryAcquireSkipsAStaleConnectionAndTheReaperValidatesItAtOnce) {
  auto o = opts(1, 1);
  o.validate_on_acquire = true;
  o.validation_bypass = 500ms;
  auto p = make(o);
  for (int k = 0; k < 7; ++k) tick(*p);  // idle longer than the bypass window: stale
  const auto passes = p->stats().reaper_passes;
  auto miss = p->try_acquire();
  ASSERT_FALSE(miss);
  EXPECT_EQ(miss.error().code, errc::would_block);
  EXPECT_NE(miss.error().message().find("await validation"), std::string::npos) << miss.error().message();
  ASSERT_TRUE(eventually([&] { return p->try_acquire().has_value(); }));
  EXPECT_EQ(script->validates.load(), 1u) << "validated once, by the reaper";
  EXPECT_EQ(p->stats().acquire_validations, 0u) << "not by an acquirer";
  EXPECT_EQ(p->stats().reaper_passes, passes) << "without waiting for a pass";
}

// The reaper, woken by the skip, may reserve the connection before the
// error's counts are taken (reserved=1, idle=0): the message must still say
// why, which it once read off counts.idle (1 run in ~60 said "no idle
// connection"). The reaper's validation is held on the fake clock here, so
// it holds the connection while the error is looked at.
TEST_F(ReaperTest, TryAcquireSaysItsConnectionAwaitsValidationWhileTheReaperHoldsItBug) {
  auto o = opts(1, 1);
  o.validate_on_acquire = true;
  o.validation_bypass = 500ms;
  auto p = make(o);
  for (int k = 0; k < 7; ++k) tick(*p);
  script->validate_latency = 1h;  // the reaper's validation waits for the clock
  struct release_validation {  // on any exit: a validation left waiting would hang the pool's destructor
    ReaperTest& t;
    ~release_validation() {
      t.script->validate_latency = 0ns;
      t.clock.advance(1h);
    }
  } guard{*this};
  auto miss = p->try_acquire();
  ASSERT_FALSE(miss);
  ASSERT_TRUE(eventually([&] { return script->in_validate.load() == 1; }));
  EXPECT_TRUE(miss.error().awaiting_validation);
  auto again = p->try_acquire();  // the reaper holds it now: nothing was skipped
  ASSERT_FALSE(again);
  EXPECT_FALSE(again.error().awaiting_validation);
  EXPECT_EQ(again.error().counts.reserved, 1u);
  acquire_error e = miss.error();
  e.counts.idle = 0;
  e.counts.reserved = 1;
  EXPECT_NE(e.message().find("await validation"), std::string::npos) << e.message();
  script->validate_latency = 0ns;  // later validations (the connection goes stale again) do not wait
  clock.advance(1h);               // ends the one in progress
  ASSERT_TRUE(eventually([&] { return p->try_acquire().has_value(); }));
}

TEST_F(ReaperTest, StaleConnectionFailingValidationAtAcquireIsReplacedTransparently) {
  auto o = opts(2, 2);
  o.validate_on_acquire = true;
  o.validation_bypass = 200ms;
  auto p = make(o);
  for (int k = 0; k < 5; ++k) tick(*p);  // both go stale
  script->fail_validates = 1;
  auto l = p->acquire_for(1h);
  ASSERT_TRUE(l) << "the acquire tried the other connection";
  EXPECT_EQ(script->validates.load(), 2u);
  EXPECT_EQ(closed_for(close_reason::validation_failed), 1u);
  EXPECT_EQ(p->stats().acquired, 1u) << "the rejected connection never counted as acquired";
}

TEST_F(ReaperTest, KeepaliveValidatesUntouchedConnectionsAndReplacesFailures) {
  auto o = opts(2, 1);
  o.keepalive_interval = 1s;
  auto p = make(o);
  for (int k = 0; k < 9; ++k) tick(*p);
  EXPECT_EQ(script->validates.load(), 0u);
  tick(*p);
  EXPECT_EQ(script->validates.load(), 1u);
  const auto first_id = p->try_acquire().value()->id;
  script->fail_validates = 1;
  for (int k = 0; k < 11; ++k) tick(*p);
  EXPECT_EQ(p->stats().validation_failures, 1u);
  EXPECT_EQ(closed_for(close_reason::validation_failed), 1u);
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; }));
  EXPECT_NE(p->try_acquire().value()->id, first_id) << "replaced";
}

TEST_F(ReaperTest, BackgroundValidationRunsEveryInterval) {
  auto o = opts(2, 2);
  o.validation_interval = 500ms;
  auto p = make(o);
  for (int k = 0; k < 5; ++k) tick(*p);
  EXPECT_EQ(script->validates.load(), 2u);
  for (int k = 0; k < 5; ++k) tick(*p);
  EXPECT_EQ(script->validates.load(), 4u);
}

TEST_F(ReaperTest, EvictAllDuringValidationClosesTheConnectionAfterwards) {
  auto o = opts(1, 1);
  o.keepalive_interval = 100ms;
  auto p = make(o);
  script->validate_latency = 50ms;
  clock.advance(100ms);
  ASSERT_TRUE(eventually([&] { return script->in_validate.load() == 1; }));  // reserved by the reaper
  p->evict_all();
  EXPECT_EQ(script->closes.load(), 0u) << "a reserved slot is not closed under the reaper";
  clock.advance(50ms);  // validation succeeds...
  ASSERT_TRUE(eventually([&] { return closed_for(close_reason::evicted) == 1; }));  // ...and eviction wins
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; }));
}

TEST_F(ReaperTest, ValidationFailingDuringEvictionClosesOnce) {
  auto o = opts(1, 1);
  o.keepalive_interval = 100ms;
  auto p = make(o);
  script->validate_latency = 50ms;
  script->fail_validates = 1;
  clock.advance(100ms);
  ASSERT_TRUE(eventually([&] { return script->in_validate.load() == 1; }));
  p->evict_all();
  clock.advance(50ms);
  ASSERT_TRUE(eventually([&] { return closed_for(close_reason::validation_failed) == 1; }));
  EXPECT_EQ(closed_for(close_reason::evicted), 0u);
  EXPECT_EQ(script->closes.load(), 1u);
}

// An adapter whose validate takes a timeout gets validation_timeout.
struct timed_validate_adapter : fake_adapter {
  using fake_adapter::fake_adapter;
  using fake_adapter::validate;
  std::shared_ptr<std::atomic<std::int64_t>> seen_timeout_ms = std::make_shared<std::atomic<std::int64_t>>(-1);
  result<void, adapter_error> validate(testing::fake_connection& c, std::chrono::milliseconds timeout) {
    seen_timeout_ms->store(timeout.count());
    return fake_adapter::validate(c);
  }
};

TEST_F(ReaperTest, ValidationTimeoutReachesAnAdapterThatTakesOne) {
  auto o = opts(1, 1);
  o.keepalive_interval = 100ms;
  o.validation_timeout = 1234ms;
  timed_validate_adapter a{script};
  auto seen = a.seen_timeout_ms;
  pool<timed_validate_adapter> p(std::move(a), o, clock);
  const auto before = p.stats().reaper_passes;
  clock.advance(100ms);
  ASSERT_TRUE(eventually([&] { return p.stats().reaper_passes > before; }));
  EXPECT_EQ(seen->load(), 1234);
  EXPECT_EQ(script->validates.load(), 1u);
}

// A refill in flight when the pool closes: the new connection must be closed
// when its connect returns, not published into a closed pool or leaked.
TEST_F(ReaperTest, RefillRacingCloseLeaksNothing) {
  auto p = make(opts(2, 2));
  script->connect_latency = 100ms;
  p->try_acquire().value().discard();  // below min_idle: the refill starts
  ASSERT_TRUE(eventually([&] { return script->in_connect.load() == 1; }));
  p->close();
  EXPECT_EQ(script->live.load(), 0) << "idle ones closed at once";
  clock.advance(100ms);  // the refill's connect returns into a closed pool
  ASSERT_TRUE(eventually([&] { return script->connects.load() == 3u && p->counts().total == 0; }));
  EXPECT_EQ(script->live.load(), 0);
  EXPECT_EQ(closed_for(close_reason::pool_closed), 2u) << "the idle one, then the late refill";
  EXPECT_EQ(p->drain(0s), std::error_code{});
}

TEST_F(ReaperTest, EvictLeaseClosesItAtReleaseAndThePoolRefills) {
  auto p = make(opts(2, 1));
  auto l = p->try_acquire();
  ASSERT_TRUE(l);
  p->evict(l.value());
  EXPECT_EQ(l.value()->id, 1u) << "still usable";
  {
    std::lock_guard lk(events_mutex);
    EXPECT_EQ(events.back().kind, event_kind::evicted) << "reported when asked";
  }
  EXPECT_EQ(closed_for(close_reason::evicted), 0u) << "not closed under its lessee";
  l.value().release();
  EXPECT_EQ(closed_for(close_reason::evicted), 1u);
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; }));
}

std::optional<fake_pool::lease_type> hold_a_lease_here(fake_pool& p) {  // named in the leak report
  return std::move(p.try_acquire().value());
}

TEST_F(ReaperTest, LeakIsReportedOnceWithWhereAndReportedAgainWhenItComesBack) {
  auto o = opts(2, 1);
  o.leak_threshold = 1s;
  auto p = make(o);
  auto l = hold_a_lease_here(*p);
  for (int k = 0; k < 9; ++k) tick(*p);
  EXPECT_EQ(p->stats().leaks_suspected, 0u);
  for (int k = 0; k < 10; ++k) tick(*p);  // past the threshold, and well past it
  EXPECT_EQ(p->stats().leaks_suspected, 1u) << "reported once";
  {
    std::lock_guard lk(events_mutex);
    auto it = std::find_if(events.begin(), events.end(),
                           [](const recorded_event& e) { return e.kind == event_kind::leak_suspected; });
    ASSERT_NE(it, events.end());
    EXPECT_GE(it->age, 1s);
    EXPECT_NE(it->message.find("reaper_test.cpp"), std::string::npos) << it->message;
    EXPECT_NE(it->message.find("hold_a_lease_here"), std::string::npos) << it->message;
    EXPECT_NE(it->message.find("stack at acquire"), std::string::npos) << it->message;
    RecordProperty("leak_report", it->message);
  }
  l.reset();  // comes back
  std::lock_guard lk(events_mutex);
  auto it = std::find_if(events.begin(), events.end(),
                         [](const recorded_event& e) { return e.kind == event_kind::leak_returned; });
  ASSERT_NE(it, events.end());
  EXPECT_GE(it->age, 1900ms);
  EXPECT_NE(it->message.find("returned after 1900 ms"), std::string::npos) << it->message;
}

TEST_F(ReaperTest, ShortLeasesAreNotReportedAsLeaks) {
  auto o = opts(1, 1);
  o.leak_threshold = 500ms;
  auto p = make(o);
  for (int k = 0; k < 20; ++k) {
    auto l = p->try_acquire();
    tick(*p);
  }
  EXPECT_EQ(p->stats().leaks_suspected, 0u);
}

TEST_F(ReaperTest, EventsNameCreationAndCloseReasons) {
  auto p = make(opts(2, 1));
  p->try_acquire().value().discard();
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; }));
  std::lock_guard lk(events_mutex);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].kind, event_kind::created);
  EXPECT_EQ(events[1].kind, event_kind::closed);
  EXPECT_EQ(events[1].reason, close_reason::discarded);
  EXPECT_EQ(events[2].kind, event_kind::created);
}

TEST_F(ReaperTest, DisabledPoliciesMeanNoPasses) {
  auto p = make(opts(1, 1));
  clock.advance(1h);
  EXPECT_FALSE(eventually([&] { return p->stats().reaper_passes > 0; }, std::chrono::seconds{1}));
}

}  // namespace
}  // namespace berth
