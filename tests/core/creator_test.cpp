// Regression tests for the pool's background work: connection creation and
// the reaper's periodic passes must not wait for each other (contract:
// creation and the reaper run on separate threads). Fake clock; a hanging
// adapter call is a latency on the fake clock, released at the end.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
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
using fake_pool = pool<fake_adapter>;

/// Runs f when the scope ends (also on an ASSERT's early return).
struct at_scope_exit {
  std::function<void()> f;
  ~at_scope_exit() { f(); }
};

struct MaintenanceTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;
  std::mutex events_mutex;
  std::vector<pool_event> leaks;  // leak_suspected events (message dropped)

  MaintenanceTest() { script->clock = &clock; }

  pool_options opts(std::size_t max, std::size_t min_idle) {
    pool_options o;
    o.name = "maintenance";
    o.max_size = max;
    o.min_idle = min_idle;
    o.reaper_period = 100ms;
    o.idle_timeout = o.max_lifetime = o.keepalive_interval = o.validation_interval = 0ms;
    o.lifetime_jitter = 0ms;
    o.validate_on_acquire = false;
    o.on_event = [this](const pool_event& e) {
      if (e.kind != event_kind::leak_suspected) return;
      std::lock_guard lk(events_mutex);
      leaks.push_back(pool_event{.kind = e.kind, .slot = e.slot, .age = e.age});
    };
    return o;
  }
  std::unique_ptr<fake_pool> make(const pool_options& o) {
    return std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
  }
  std::size_t leak_count() {
    std::lock_guard lk(events_mutex);
    return leaks.size();
  }
};

// Observed on the current code (9b69ded): FAILS. With a connect hanging
// (10 s fake latency, started for a waiter), the first period's advance ran
// no pass (stats().reaper_passes stayed 0 for the 2 s real-time bound):
// the reaper runs on the thread that is inside adapter.connect(). No leak
// was reported at threshold + one period (the report came at ~10.6 s, see
// LeakTest.LeakReportLateWhileAConnectHangsBug).
TEST_F(MaintenanceTest, ReaperStarvedWhileAConnectHangsBug) {
  auto o = opts(2, 1);
  o.leak_threshold = 500ms;
  auto p = make(o);
  auto leaked = p->try_acquire();  // held throughout: a leak
  ASSERT_TRUE(leaked);
  script->connect_latency = 10s;
  auto waiter = std::async(std::launch::async, [&] { return static_cast<bool>(p->acquire_for(1h)); });
  at_scope_exit unstick{[&] {
    p->close();          // fails the waiter if still queued
    clock.advance(1h);   // the hanging connect returns (into a closed pool)
  }};
  ASSERT_TRUE(eventually([&] { return script->in_connect.load() == 1; })) << "the waiter needs a new connection";

  int ticked = 0;
  for (; ticked < 6; ++ticked) {  // to threshold + one period
    const auto before = p->stats().reaper_passes;
    clock.advance(100ms);
    if (!eventually([&] { return p->stats().reaper_passes > before; }, 2s)) break;
  }
  EXPECT_EQ(ticked, 6) << "no reaper pass in period " << ticked + 1 << " while a connect hangs (passes: "
                       << p->stats().reaper_passes << ")";
  EXPECT_EQ(script->in_connect.load(), 1) << "the connect was still in flight";
  const bool reported = eventually([&] { return leak_count() >= 1; }, ticked == 6 ? 20s : 1s);
  EXPECT_TRUE(reported) << "leak not reported at threshold + one period";
  if (reported) {
    std::lock_guard lk(events_mutex);
    EXPECT_LE(leaks[0].age, 600ms);
  }
}

// The converse: a reaper pass stuck in a keepalive validation (10 s fake
// latency) must not hold up the creation of a connection for a waiter.
// Observed on the current code (9b69ded): FAILS. The waiter was not served
// within the 3 s real-time guard ("total=1, idle=0, leased=0, waiting=1,
// connecting=0, reserved=1"): the creator is the thread inside
// adapter.validate().
TEST_F(MaintenanceTest, CreationStarvedWhileTheReaperValidatesBug) {
  auto o = opts(2, 1);
  o.keepalive_interval = 100ms;
  auto p = make(o);
  script->validate_latency = 10s;
  clock.advance(100ms);  // the first pass validates the idle connection (reserved)
  ASSERT_TRUE(eventually([&] { return script->in_validate.load() == 1; }));

  auto waiter = std::async(std::launch::async, [&] { return static_cast<bool>(p->acquire_for(1h)); });
  at_scope_exit unstick{[&] {
    p->close();
    clock.advance(1h);  // the hanging validation returns
  }};
  const bool served = waiter.wait_for(3s) == std::future_status::ready;
  EXPECT_TRUE(served) << "no connection created for a waiter while the reaper validates: "
                      << p->counts().to_string();
  EXPECT_EQ(script->in_validate.load(), 1) << "the validation was still in flight";
  if (served) {
    EXPECT_TRUE(waiter.get());
  }
}

}  // namespace
}  // namespace berth
