// The circuit breaker on connection creation, in a pool (issue 11): acquirers
// fail fast with errc::database_unavailable while it is open, idle
// connections are still served, an acquirer at max_size waits for a release,
// queued waiters (blocking and asynchronous) are failed when it opens, the
// creator makes one probe after the recovery interval, and statistics and
// events show it. Fake adapter, fake clock, manual executor: no sleeps.
//
// Each failed attempt waits the creation backoff (10 ms here) on the fake
// clock before the next, so a test advances 10 ms per further failure.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"
#include "support/manual_executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

/// A pool event, its views copied.
struct seen_event {
  event_kind kind;
  std::error_code error;
  std::string message;
  std::chrono::nanoseconds age;
  breaker_state state_in_hook;  // stats().breaker read inside the hook
};

struct BreakerTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;
  manual_executor ex;
  std::mutex events_mutex;
  std::vector<seen_event> events;  // the breaker_* events, guarded by events_mutex
  std::atomic<fake_pool*> self{nullptr};

  BreakerTest() { script->clock = &clock; }

  pool_options opts(std::size_t max, std::size_t min_idle, startup_mode mode = startup_mode::degraded) {
    pool_options o;
    o.name = "breaker";
    o.max_size = max;
    o.min_idle = min_idle;
    o.startup = mode;
    o.creation_backoff_initial = o.creation_backoff_max = 10ms;  // the next attempt 5 to 10 ms after a failure
    o.breaker_threshold = 3;
    o.breaker_window = 10s;
    o.breaker_recovery = 1s;
    o.breaker_recovery_max = 4s;
    o.idle_timeout = o.max_lifetime = o.keepalive_interval = 0ms;
    o.lifetime_jitter = 0ms;
    o.validate_on_acquire = false;
    o.on_event = [this](const pool_event& e) {
      if (e.kind != event_kind::breaker_opened && e.kind != event_kind::breaker_half_open &&
          e.kind != event_kind::breaker_closed)
        return;
      // stats() takes the slow-path mutex: a hook called with it held would
      // deadlock here.
      fake_pool* p = self.load();
      const breaker_state st = p != nullptr ? p->stats().breaker : breaker_state::closed;
      std::lock_guard lk(events_mutex);
      events.push_back({e.kind, e.error, std::string(e.message), e.age, st});
    };
    return o;
  }
  std::unique_ptr<fake_pool> make(const pool_options& o) {
    auto p = std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
    self = p.get();
    return p;
  }
  void TearDown() override { self = nullptr; }

  std::vector<seen_event> breaker_events() {
    std::lock_guard lk(events_mutex);
    return events;
  }
  std::vector<event_kind> breaker_kinds() {
    std::vector<event_kind> k;
    for (const auto& e : breaker_events()) k.push_back(e.kind);
    return k;
  }

  /// Lets connection attempts fail, one per 10 ms of fake time, until the
  /// breaker opens (threshold 3). `before`: creation failures counted so far,
  /// none due.
  void fail_until_open(fake_pool& p, std::uint64_t before = 0) {
    for (std::uint64_t n = before + 1; n < before + 3; ++n) {
      ASSERT_TRUE(eventually([&] { return p.stats().creation_failures >= n; })) << "attempt " << n;
      ASSERT_EQ(p.stats().breaker, breaker_state::closed) << "attempt " << n;
      clock.advance(10ms);
    }
    ASSERT_TRUE(eventually([&] { return p.stats().breaker == breaker_state::open; }))
        << "after 3 failures: " << to_string(p.stats().breaker) << ", " << p.stats().creation_failures << " failures";
    ASSERT_EQ(p.stats().creation_failures, before + 3);
  }

  /// An acquire on another thread, so that a test that fails does not hang.
  std::future<result_type> acquire_async_thread(fake_pool& p, std::chrono::nanoseconds timeout) {
    return std::async(std::launch::async, [&p, timeout] { return p.acquire_for(timeout); });
  }
  /// The outcome of an acquire expected to return without the clock moving.
  /// If it does not (a failure), the pool is closed so that the test ends.
  result_type at_once(std::future<result_type>& f) {
    if (f.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "the acquire did not return; closing the pool";
      if (fake_pool* p = self.load()) p->close();
    }
    return f.get();
  }
  static bool unavailable(const result_type& r) { return !r && r.error().code == errc::database_unavailable; }
};

/// One asynchronous outcome (the handler runs on the test thread, through ex).
struct outcome {
  std::optional<result_type> r;
  int calls = 0;
  auto handler() {
    return [this](result_type res) {
      r.emplace(std::move(res));
      ++calls;
    };
  }
};

TEST_F(BreakerTest, WhileOpenAnAcquireFailsAtOnceWithTheLastCreationError) {
  script->connect_down = true;
  auto p = make(opts(4, 1));
  fail_until_open(*p);
  EXPECT_EQ(script->connects.load(), 3u);

  auto f = acquire_async_thread(*p, 1h);
  const result_type r = at_once(f);  // the fake clock has not moved
  ASSERT_TRUE(unavailable(r));
  const acquire_error& e = r.error();
  EXPECT_EQ(e.waited, 0ns);
  EXPECT_EQ(e.last_creation_error, std::make_error_code(std::errc::connection_refused));
  EXPECT_EQ(e.last_creation_message, "fake: connection refused (127.0.0.1:5432)");
  EXPECT_EQ(e.counts.total, 0u);
  EXPECT_EQ(e.pool_name, "breaker");
  const std::string m = e.message();
  EXPECT_NE(m.find("database unavailable"), std::string::npos) << m;
  EXPECT_NE(m.find("last connection attempt failed: fake: connection refused"), std::string::npos) << m;
  EXPECT_EQ(make_error_code(e.code).message(), "database unavailable (connection creation keeps failing)");

  auto g = std::async(std::launch::async, [&] { return p->acquire(); });  // acquire_timeout: 30 s
  EXPECT_TRUE(unavailable(at_once(g)));
  const auto t = p->try_acquire();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, errc::would_block) << "try_acquire never waits for a creation: unchanged";

  const pool_stats s = p->stats();
  EXPECT_EQ(s.breaker, breaker_state::open);
  EXPECT_EQ(s.breaker_opened, 1u);
  EXPECT_EQ(s.breaker_rejected, 2u);
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(s.counts.waiting, 0u);
  EXPECT_EQ(script->connects.load(), 3u) << "no attempt while open";
}

// Regression (review of the issue 11 merge): breaker_refuses_locked() did
// not look at suspension, so while suspended with the breaker open an
// acquirer failed at once with database_unavailable, and a queued one was
// refused on the creator's next pass, where suspend() promises they wait.
TEST_F(BreakerTest, SuspendedAcquirersWaitForResumeEvenWithTheBreakerOpenBug) {
  script->connect_down = true;
  auto p = make(opts(4, 1));
  fail_until_open(*p);
  p->suspend();
  auto waiting = acquire_async_thread(*p, 100ms);
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; })) << "it queued instead of being refused";
  p->evict_all();  // the failover recipe: suspend(); evict_all(); ...; resume() (wakes the creator)
  EXPECT_EQ(waiting.wait_for(50ms), std::future_status::timeout) << "still waiting";
  clock.advance(100ms);
  const result_type r = at_once(waiting);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout) << r.error().message();
  EXPECT_EQ(p->stats().breaker_rejected, 0u);
  // After resume() the breaker decides again: an acquirer that would wait
  // for a creation is refused.
  p->resume();
  auto after = acquire_async_thread(*p, 1h);
  EXPECT_TRUE(unavailable(at_once(after)));
}

TEST_F(BreakerTest, QueuedWaitersAreFailedWhenTheBreakerOpens) {
  script->connect_down = true;
  auto p = make(opts(4, 0));
  std::vector<std::future<result_type>> waiters;
  for (int k = 0; k < 3; ++k) waiters.push_back(acquire_async_thread(*p, 1h));
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 3; }));
  fail_until_open(*p);
  for (auto& w : waiters) {
    const result_type r = at_once(w);
    ASSERT_TRUE(unavailable(r)) << (r ? "served" : r.error().message());
    EXPECT_LE(r.error().waited, 30ms) << "failed when it opened, not at the deadline";
    EXPECT_EQ(r.error().last_creation_error, std::make_error_code(std::errc::connection_refused));
  }
  EXPECT_EQ(p->counts().waiting, 0u);
  EXPECT_EQ(p->stats().breaker_rejected, 3u);
  EXPECT_EQ(p->stats().timeouts, 0u);
}

TEST_F(BreakerTest, IdleConnectionsAreStillServedWhileOpen) {
  auto p = make(opts(4, 2, startup_mode::fail_fast));
  auto a = p->try_acquire();
  auto b = p->try_acquire();
  ASSERT_TRUE(a && b);
  script->connect_down = true;
  auto w = acquire_async_thread(*p, 1h);  // wants a third connection
  fail_until_open(*p);
  EXPECT_TRUE(unavailable(at_once(w)));

  (*a).release();
  auto c = acquire_async_thread(*p, 1h);
  const result_type got = at_once(c);
  ASSERT_TRUE(got) << "an idle connection is served while the breaker is open: " << got.error().message();
  auto d = acquire_async_thread(*p, 1h);
  EXPECT_TRUE(unavailable(at_once(d))) << "none idle again";
  EXPECT_EQ(p->stats().breaker, breaker_state::open);
  EXPECT_EQ(script->connects.load(), 2u + 3u);
}

TEST_F(BreakerTest, AtMaxSizeAnAcquirerWaitsForAReleaseInsteadOfFailing) {
  auto p = make(opts(2, 1, startup_mode::fail_fast));
  auto held = p->try_acquire();
  ASSERT_TRUE(held);
  script->connect_down = true;
  auto first = acquire_async_thread(*p, 1h);
  fail_until_open(*p);
  ASSERT_TRUE(unavailable(at_once(first)));

  // The probe hangs in connect (1 h of fake latency): every slot is open.
  script->connect_latency = 1h;
  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return clock.sleeping() == 1; })) << "the probe, in connect";
  EXPECT_EQ(p->stats().breaker, breaker_state::half_open);
  EXPECT_EQ(p->counts().total, 2u);

  auto second = acquire_async_thread(*p, 2h);
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; })) << "it waits: it needs no creation";
  (*held).release();  // handed to it
  result_type served = at_once(second);
  ASSERT_TRUE(served) << served.error().message();

  auto third = acquire_async_thread(*p, 2h);
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  clock.advance(1h);  // the probe fails: a slot frees, and the waiter would need a creation
  const result_type r = at_once(third);
  ASSERT_TRUE(unavailable(r)) << (r ? "served" : r.error().message());
  EXPECT_EQ(p->stats().breaker, breaker_state::open);
  EXPECT_EQ(p->stats().breaker_opened, 2u);
}

TEST_F(BreakerTest, TheCreatorMakesNoAttemptWhileOpenThenExactlyOneProbe) {
  script->connect_down = true;
  auto p = make(opts(4, 3));  // min_idle 3 would refill
  fail_until_open(*p);
  for (int k = 0; k < 9; ++k) clock.advance(111ms);  // 999 ms
  EXPECT_FALSE(eventually([&] { return script->connects.load() > 3; }, 1s)) << "no attempt while open";

  script->connect_latency = 1h;  // the probe hangs until the end
  clock.advance(1ms);
  ASSERT_TRUE(eventually([&] { return clock.sleeping() == 1; })) << "the probe, at breaker_recovery";
  script->connect_latency = 0ns;  // for the attempts after it
  EXPECT_EQ(p->stats().breaker, breaker_state::half_open);
  clock.advance(10min);  // short of the probe's hour
  EXPECT_FALSE(eventually([&] { return script->in_connect.load() > 1 || script->connects.load() > 3; }, 1s))
      << "one probe at a time";
  auto f = acquire_async_thread(*p, 1h);
  EXPECT_TRUE(unavailable(at_once(f))) << "refused while the probe is in flight";

  script->connect_down = false;
  clock.advance(1h);  // the probe returns, and succeeds
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 3; })) << "closed: min_idle refilled";
  EXPECT_EQ(p->stats().breaker, breaker_state::closed);
}

TEST_F(BreakerTest, ProbeSuccessClosesTheBreakerAndAcquirersAreServedAgain) {
  script->connect_down = true;
  auto p = make(opts(4, 1));
  fail_until_open(*p);
  script->connect_down = false;
  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return p->stats().breaker == breaker_state::closed; }));
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; })) << "the probe's connection";
  auto fa = acquire_async_thread(*p, 1h);
  const result_type a = at_once(fa);
  ASSERT_TRUE(a) << a.error().message();
  auto f = acquire_async_thread(*p, 1h);  // waits for a creation again
  const result_type r = at_once(f);
  ASSERT_TRUE(r) << r.error().message();

  const auto ev = breaker_events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, event_kind::breaker_opened);
  EXPECT_EQ(ev[0].error, std::make_error_code(std::errc::connection_refused));
  EXPECT_EQ(ev[0].message, "fake: connection refused (127.0.0.1:5432)");
  EXPECT_EQ(ev[0].age, 1s) << "open for breaker_recovery";
  EXPECT_EQ(ev[0].state_in_hook, breaker_state::open) << "delivered without the pool's lock";
  EXPECT_EQ(ev[1].kind, event_kind::breaker_half_open);
  EXPECT_EQ(ev[1].state_in_hook, breaker_state::half_open);
  EXPECT_EQ(ev[2].kind, event_kind::breaker_closed);
  EXPECT_EQ(ev[2].state_in_hook, breaker_state::closed);
  EXPECT_STREQ(to_string(event_kind::breaker_opened), "breaker_opened");
  EXPECT_STREQ(to_string(event_kind::breaker_half_open), "breaker_half_open");
  EXPECT_STREQ(to_string(event_kind::breaker_closed), "breaker_closed");
  EXPECT_EQ(p->stats().breaker_opened, 1u);
}

TEST_F(BreakerTest, AFailedProbeReopensForALongerJitteredInterval) {
  script->connect_down = true;
  auto p = make(opts(4, 1));
  fail_until_open(*p);
  clock.advance(1s);  // the probe, which fails
  ASSERT_TRUE(eventually([&] { return breaker_events().size() == 3; }));
  auto ev = breaker_events();
  ASSERT_EQ(ev[2].kind, event_kind::breaker_opened);
  const auto interval = ev[2].age;
  EXPECT_GE(interval, 1s);
  EXPECT_LE(interval, 2s) << "recovery doubled, with equal jitter";
  EXPECT_EQ(p->stats().breaker_opened, 2u);
  EXPECT_EQ(script->connects.load(), 4u);

  clock.advance(interval - 1ns);
  EXPECT_FALSE(eventually([&] { return script->connects.load() > 4; }, 1s)) << "not before the interval";
  clock.advance(1ns);
  ASSERT_TRUE(eventually([&] { return script->connects.load() == 5; })) << "the second probe";
  ASSERT_TRUE(eventually([&] { return breaker_events().size() == 5; })) << "it fails too";
  EXPECT_EQ(breaker_kinds(), (std::vector<event_kind>{event_kind::breaker_opened, event_kind::breaker_half_open,
                                                      event_kind::breaker_opened, event_kind::breaker_half_open,
                                                      event_kind::breaker_opened}));
  ev = breaker_events();
  EXPECT_GE(ev[4].age, 2s) << "doubled again: [2 s, 4 s]";
  EXPECT_LE(ev[4].age, 4s);
  EXPECT_EQ(p->stats().breaker_opened, 3u);
}

TEST_F(BreakerTest, WithMinIdleZeroTheProbeWaitsForDemand) {
  script->connect_down = true;
  auto p = make(opts(4, 0));
  auto w = acquire_async_thread(*p, 1h);
  fail_until_open(*p);
  ASSERT_TRUE(unavailable(at_once(w)));
  clock.advance(1s);  // the rejected waiter asked for a connection: probe (fails)
  ASSERT_TRUE(eventually([&] { return p->stats().breaker_opened == 2; }));
  EXPECT_EQ(script->connects.load(), 4u);
  clock.advance(1h);
  EXPECT_FALSE(eventually([&] { return script->connects.load() > 4; }, 1s))
      << "nobody wants a connection: no probe";
  auto f = acquire_async_thread(*p, 1h);
  EXPECT_TRUE(unavailable(at_once(f)));
  ASSERT_TRUE(eventually([&] { return script->connects.load() == 5; })) << "refused demand: the probe, now due";
}

TEST_F(BreakerTest, AsynchronousAcquiresFailFastAndQueuedOnesFailWhenItOpens) {
  script->connect_down = true;
  auto p = make(opts(4, 0));
  outcome queued;
  p->async_acquire_for(1h, ex.executor(), queued.handler());
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  fail_until_open(*p);
  ASSERT_TRUE(eventually([&] { return ex.queued() == 1; })) << "the queued request's run is posted";
  ex.run_all();
  ASSERT_EQ(queued.calls, 1);
  ASSERT_FALSE(*queued.r);
  EXPECT_EQ(queued.r->error().code, errc::database_unavailable);
  EXPECT_EQ(queued.r->error().last_creation_error, std::make_error_code(std::errc::connection_refused));

  outcome fresh;
  p->async_acquire_for(1h, ex.executor(), fresh.handler());
  EXPECT_EQ(fresh.calls, 0) << "never inline";
  EXPECT_EQ(p->counts().waiting, 0u) << "not queued";
  ex.run_all();
  ASSERT_EQ(fresh.calls, 1);
  ASSERT_FALSE(*fresh.r);
  EXPECT_EQ(fresh.r->error().code, errc::database_unavailable);
  EXPECT_EQ(fresh.r->error().waited, 0ns);
  EXPECT_EQ(p->stats().breaker_rejected, 2u);

  script->connect_down = false;
  clock.advance(1s);  // the probe succeeds
  ASSERT_TRUE(eventually([&] { return p->stats().breaker == breaker_state::closed; }));
  outcome later;
  p->async_acquire_for(1h, ex.executor(), later.handler());
  ASSERT_TRUE(eventually([&] { return ex.queued() >= 1; }));
  ex.run_all();
  ASSERT_EQ(later.calls, 1);
  EXPECT_TRUE(*later.r) << "served again";
}

// A queued asynchronous request refused when the breaker opened fills its
// error when its run comes, on its executor. If the probe succeeded in
// between, the last creation error had been cleared and the refusal said
// "database unavailable" with no cause (d5a77a9).
TEST_F(BreakerTest, AnAsyncRefusalDeliveredAfterTheProbeSucceededStillCarriesTheCauseBug) {
  script->connect_down = true;
  auto p = make(opts(4, 0));
  outcome queued;
  p->async_acquire_for(1h, ex.executor(), queued.handler());
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  fail_until_open(*p);
  ASSERT_TRUE(eventually([&] { return ex.queued() == 1; })) << "the refused request's run is posted";
  script->connect_down = false;
  clock.advance(1s);  // the probe succeeds before the executor runs the refusal
  ASSERT_TRUE(eventually([&] { return p->stats().breaker == breaker_state::closed; }));
  ex.run_all();
  ASSERT_EQ(queued.calls, 1);
  ASSERT_FALSE(*queued.r);
  EXPECT_EQ(queued.r->error().code, errc::database_unavailable);
  EXPECT_EQ(queued.r->error().last_creation_error, std::make_error_code(std::errc::connection_refused));
  EXPECT_NE(queued.r->error().message().find("connection refused"), std::string::npos) << queued.r->error().message();
}

TEST_F(BreakerTest, ThresholdZeroTurnsItOffAndAcquirersWaitUntilTheirDeadline) {
  script->connect_down = true;
  auto o = opts(4, 1);
  o.breaker_threshold = 0;
  auto p = make(o);
  auto f = acquire_async_thread(*p, 2s);
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; })) << "its deadline runs from here";
  for (std::uint64_t n = 1; n <= 10; ++n) {
    ASSERT_TRUE(eventually([&] { return p->stats().creation_failures >= n; }));
    clock.advance(10ms);
  }
  EXPECT_EQ(p->stats().breaker, breaker_state::closed);
  EXPECT_EQ(f.wait_for(0s), std::future_status::timeout) << "still waiting";
  clock.advance(2s);
  const result_type r = at_once(f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
  EXPECT_EQ(p->stats().breaker_opened, 0u);
  EXPECT_EQ(p->stats().breaker_rejected, 0u);
  EXPECT_TRUE(breaker_events().empty());
}

TEST_F(BreakerTest, AClosedPoolSaysPoolClosedEvenWhileOpen) {
  script->connect_down = true;
  auto p = make(opts(4, 1));
  fail_until_open(*p);
  p->close();
  auto f = acquire_async_thread(*p, 1h);
  const result_type r = at_once(f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::pool_closed);
}

}  // namespace
}  // namespace berth
