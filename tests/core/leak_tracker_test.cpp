// Regression tests for leak tracking (pool_options::leak_threshold): events
// recorded through on_event (leak_suspected / leak_returned), reaper passes
// driven on the fake clock one period at a time (tick(): advance one
// reaper_period, wait for the pass counter), no sleeps.
//
// Contract under test:
//   - a lease held past leak_threshold is reported no later than one
//     reaper_period after it crosses the threshold (age <= threshold +
//     reaper_period), also while a connect hangs;
//   - every way a reported lease ends (normal return, hand-off to a waiter,
//     discard, unwinding, evict then return, expiry then return, close then
//     return) produces exactly one leak_returned, and the next lease on that
//     connection (or slot) is watched afresh;
//   - a lease handed directly to a waiter is watched;
//   - no false report: a lease is judged from its own hand-out, never from a
//     previous lease's acquisition while an acquire validates;
//   - an on_event hook that blocks on leak_suspected blocks neither the
//     lessee's release nor another thread's acquire.
//
// The last section tests detail::leak_tracker directly: began/ended/check on
// time points the test chooses (no clock, no reaper thread), events recorded
// through an event_sink built from pool_options::on_event.
#include <berth/detail/leak_tracker.hpp>
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"
#include "support/manual_executor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <ostream>
#include <source_location>
#include <stdexcept>
#include <string>
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
using lease_t = fake_pool::lease_type;

struct recorded_event {
  event_kind kind;
  std::uint32_t slot;
  clock_source::time_point at;  // fake time when emitted
  std::chrono::nanoseconds age;
  std::string message;
};

/// Runs f when the scope ends (also on an ASSERT's early return): unblocks
/// whatever a failed test left blocked, before futures join their threads.
struct at_scope_exit {
  std::function<void()> f;
  ~at_scope_exit() { f(); }
};

std::string ms(std::chrono::nanoseconds d) { return std::to_string(d.count() / 1'000'000) + " ms"; }

struct LeakTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;
  std::mutex events_mutex;
  std::vector<recorded_event> events;
  /// Called (outside events_mutex) for each event before it is recorded.
  std::function<void(const pool_event&)> hook;

  LeakTest() { script->clock = &clock; }

  // Leak tracking on (threshold 1 s, period 100 ms); every other policy off.
  pool_options opts(std::size_t max, std::size_t min_idle, std::chrono::milliseconds threshold = 1s) {
    pool_options o;
    o.name = "leaks";
    o.max_size = max;
    o.min_idle = min_idle;
    o.reaper_period = 100ms;
    o.idle_timeout = o.max_lifetime = o.keepalive_interval = o.validation_interval = 0ms;
    o.lifetime_jitter = 0ms;
    o.validate_on_acquire = false;
    o.leak_threshold = threshold;
    o.on_event = [this](const pool_event& e) {
      if (hook) hook(e);
      std::lock_guard lk(events_mutex);
      events.push_back({e.kind, e.slot, clock.now(), e.age, std::string(e.message)});
    };
    return o;
  }
  std::unique_ptr<fake_pool> make(const pool_options& o) {
    return std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
  }
  void tick(fake_pool& p) {
    const auto before = p.stats().reaper_passes;
    clock.advance(100ms);
    ASSERT_TRUE(eventually([&] { return p.stats().reaper_passes > before; }));
  }
  void ticks(fake_pool& p, int n) {
    for (int k = 0; k < n; ++k) ASSERT_NO_FATAL_FAILURE(tick(p));
  }
  std::vector<recorded_event> of_kind(event_kind k) {
    std::lock_guard lk(events_mutex);
    std::vector<recorded_event> out;
    std::copy_if(events.begin(), events.end(), std::back_inserter(out),
                 [&](const recorded_event& e) { return e.kind == k; });
    return out;
  }
  std::size_t suspected() { return of_kind(event_kind::leak_suspected).size(); }
  std::size_t returned() { return of_kind(event_kind::leak_returned).size(); }
};

// Acquisition sites, named in leak reports (source_location of the call).
std::optional<lease_t> lease_at_site_a(fake_pool& p) { return std::move(p.try_acquire().value()); }
std::optional<lease_t> lease_at_site_b(fake_pool& p) { return std::move(p.acquire_for(1h).value()); }

// ---- timing ---------------------------------------------------------------

// Sanity (the maintenance thread is free): reported within one period of
// crossing the threshold. Observed on the current code (9b69ded): passes.
TEST_F(LeakTest, LeakIsReportedWithinOnePeriodOfCrossingTheThreshold) {
  auto p = make(opts(2, 1));
  clock.advance(30ms);  // acquire between two passes
  auto l = lease_at_site_a(*p);
  ticks(*p, 9);  // 900 ms held
  EXPECT_EQ(suspected(), 0u);
  ticks(*p, 2);
  const auto ev = of_kind(event_kind::leak_suspected);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_GE(ev[0].age, 1s);
  EXPECT_LE(ev[0].age, 1s + 100ms) << "reported " << ms(ev[0].age) << " after acquire";
}

// The reaper thread loaded the symbolizer's debug information (~100 ms,
// per thread) before its first pass, so a lease taken just after
// construction was reported 100 to 200 ms late (review of 957e949). The
// constructor now waits for it. Checked by counting warm-ups, not by
// timing: a bound against the load's cost measured on another thread
// failed under TSan with ctest -j2 on 2 cores (report 515 ms, load 382 ms)
// although the constructor had waited. Without the wait the count is still
// short when the constructor returns (the load takes 100+ ms).
TEST_F(LeakTest, TheFirstReportIsNotLateBug) {
  const auto before = detail::leak_tracker::warm_ups();
  auto p = make(opts(2, 1, 150ms));
  EXPECT_EQ(detail::leak_tracker::warm_ups(), before + 1)
      << "the constructor returned before its reaper thread loaded the symbolizer; its first report would be late";
  auto l = lease_at_site_a(*p);
  ticks(*p, 2);  // 200 ms held: past the threshold at the second pass
  ASSERT_TRUE(eventually([&] { return suspected() == 1; }));
  EXPECT_GE(of_kind(event_kind::leak_suspected)[0].age, 150ms);
}

// check() decides a lease is a suspected leak, then builds and emits its
// report without the record's lock; a lease that ended meanwhile emitted
// leak_returned at once, before its leak_suspected (review: reversed in
// every run of a probe).
TEST_F(LeakTest, LeakReturnedNeverPrecedesItsSuspectedBug) {
  std::optional<lease_t> l;
  hook = [&](const pool_event& e) {
    if (e.kind == event_kind::leak_suspected) std::thread([&] { l.reset(); }).join();  // ends while announced
  };
  auto p = make(opts(1, 1));
  l = lease_at_site_a(*p);
  ticks(*p, 11);
  ASSERT_TRUE(eventually([&] { return returned() == 1; }));
  std::vector<event_kind> order;
  {
    std::lock_guard lk(events_mutex);
    for (const auto& e : events)
      if (e.kind == event_kind::leak_suspected || e.kind == event_kind::leak_returned) order.push_back(e.kind);
  }
  EXPECT_EQ(order, (std::vector<event_kind>{event_kind::leak_suspected, event_kind::leak_returned}));
}

// The asynchronous fast path claims a connection, then its completion waits
// on the executor. Counting the lease only when the completion runs (so
// that stats().acquired never goes down) first deferred its site and leak
// record too: a completion stuck on its executor was never reported, and
// timeout and destruction reports named the slot's previous lease's site
// (review of 909f021).
TEST_F(LeakTest, APendingAsyncFastPathClaimKeepsItsSiteAndLeakRecordBug) {
  testing::manual_executor ex;
  auto p = make(opts(1, 1));
  { auto earlier = lease_at_site_a(*p); }  // the slot's previous lease, elsewhere
  const int line = __LINE__ + 1;
  p->async_acquire(clock.now() + 1h, ex.executor(), [](const fake_pool::acquire_result&) {});
  EXPECT_EQ(p->stats().acquired, 1u) << "the pending claim is not counted (only the earlier lease)";
  const auto timed_out = p->acquire_for(0ms);
  ASSERT_FALSE(timed_out);
  ASSERT_EQ(timed_out.error().lease_sites.size(), 1u) << timed_out.error().message();
  EXPECT_EQ(timed_out.error().lease_sites[0].where.line(), static_cast<std::uint_least32_t>(line))
      << timed_out.error().message();
  ticks(*p, 11);  // its completion waits on the executor past the 1 s threshold
  const auto ev = of_kind(event_kind::leak_suspected);
  ASSERT_EQ(ev.size(), 1u) << "a completion stuck on its executor holds the connection: a leak";
  EXPECT_NE(ev[0].message.find(":" + std::to_string(line)), std::string::npos) << ev[0].message;
  ex.drop_all();  // dropped unrun: the claim goes back, and its record ends
  EXPECT_EQ(returned(), 1u);
  EXPECT_EQ(p->counts().idle, 1u);
  EXPECT_EQ(p->stats().acquired, 1u);
}

// Observed on the current code (9b69ded): FAILS. While the connect hung
// (10 s of fake latency) no reaper pass ran at all (the creator and the
// reaper share one thread), so nothing was reported at threshold + period
// (600 ms); the report came only once the connect returned: age 10600 ms.
TEST_F(LeakTest, LeakReportLateWhileAConnectHangsBug) {
  auto p = make(opts(2, 1, 500ms));
  auto l = lease_at_site_a(*p);
  script->connect_latency = 10s;
  auto w = std::async(std::launch::async, [&] { return static_cast<bool>(p->acquire_for(1h)); });
  at_scope_exit unstick{[&] {
    p->close();
    clock.advance(1h);  // the hanging connect returns; the waiter was failed by close()
  }};
  ASSERT_TRUE(eventually([&] { return script->in_connect.load() == 1; })) << "a connect for the waiter";

  // To threshold + one period, one period at a time; wait for each pass
  // while passes run (stop waiting after the first missed one).
  bool passes_run = true;
  for (int k = 0; k < 6; ++k) {
    const auto before = p->stats().reaper_passes;
    clock.advance(100ms);
    if (passes_run) passes_run = eventually([&] { return p->stats().reaper_passes > before; }, 2s);
  }
  EXPECT_TRUE(passes_run) << "reaper passes stopped while a connect hangs";
  const bool reported = eventually([&] { return suspected() >= 1; }, 2s);
  EXPECT_TRUE(reported) << "no leak report 600 ms after a 500 ms threshold";
  if (reported) {
    EXPECT_LE(of_kind(event_kind::leak_suspected)[0].age, 600ms);
  } else {  // for the record: when does it come?
    clock.advance(10s);
    if (eventually([&] { return suspected() >= 1; }, 5s))
      ADD_FAILURE() << "reported only after the connect returned, age "
                    << ms(of_kind(event_kind::leak_suspected)[0].age);
  }
}

// ---- hand-off -----------------------------------------------------------

// Observed on the current code (9b69ded): FAILS. The leaked lease handed to
// the waiter produced no leak_returned (0 events, expected 1).
TEST_F(LeakTest, LeakReturnedMissingWhenLeaseIsHandedToAWaiterBug) {
  auto p = make(opts(1, 1));
  auto l = lease_at_site_a(*p);
  ticks(*p, 10);
  ASSERT_EQ(suspected(), 1u);
  std::atomic<bool> got{false}, let_go{false};
  auto w = std::async(std::launch::async, [&] {
    auto r = p->acquire_for(1h);
    got = static_cast<bool>(r);
    (void)eventually([&] { return let_go.load(); });
  });
  at_scope_exit unstick{[&] {
    let_go = true;
    p->close();
  }};
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  l.reset();  // strict hand-off: the connection goes to the waiter
  ASSERT_TRUE(eventually([&] { return got.load(); }));
  const auto ret = of_kind(event_kind::leak_returned);
  ASSERT_EQ(ret.size(), 1u) << "the reported lease ended by hand-off";
  EXPECT_GE(ret[0].age, 1s);
  let_go = true;
  w.get();
  EXPECT_EQ(returned(), 1u) << "the waiter's short lease is no leak";
}

// Observed on the current code (9b69ded): FAILS. Two leases leaked one
// after the other on the same connection, the first handed to a waiter:
// leak_suspected 1 (the waiter's lease was never reported: the slot still
// carried the first report's flag), leak_returned 0.
TEST_F(LeakTest, LeaseHandedToAWaiterIsNotWatchedBug) {
  auto p = make(opts(1, 1));
  auto l = lease_at_site_a(*p);
  ticks(*p, 10);
  ASSERT_EQ(suspected(), 1u);
  std::atomic<bool> got{false}, let_go{false};
  auto w = std::async(std::launch::async, [&] {
    auto r = p->acquire_for(1h);  // handed over, then held too long
    got = static_cast<bool>(r);
    (void)eventually([&] { return let_go.load(); });
  });
  at_scope_exit unstick{[&] {
    let_go = true;
    p->close();
  }};
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  l.reset();
  ASSERT_TRUE(eventually([&] { return got.load(); }));
  ticks(*p, 11);
  EXPECT_EQ(suspected(), 2u) << "the handed-over lease held 1.1 s was not reported";
  let_go = true;
  w.get();
  EXPECT_EQ(returned(), 2u);
}

// ---- every way a reported lease ends -------------------------------------

enum class end_mode { normal, handoff, discard, unwinding_reset, unwinding_discard, evict, expiry, close };

std::string end_name(const ::testing::TestParamInfo<end_mode>& i) {
  switch (i.param) {
    case end_mode::normal: return "normal";
    case end_mode::handoff: return "handoff";
    case end_mode::discard: return "discard";
    case end_mode::unwinding_reset: return "unwinding_reset";
    case end_mode::unwinding_discard: return "unwinding_discard";
    case end_mode::evict: return "evict_then_return";
    case end_mode::expiry: return "expiry_then_return";
    case end_mode::close: return "close_then_return";
  }
  return "unknown";
}

void PrintTo(end_mode m, std::ostream* os) { *os << end_name(::testing::TestParamInfo<end_mode>(m, 0)); }

struct LeakEndTest : LeakTest, ::testing::WithParamInterface<end_mode> {};

// Observed on the current code (9b69ded): leak_returned events right after
// the reported lease ended:
//   normal 1, unwinding_reset 1: pass;
//   handoff 0, discard 0, unwinding_discard 0, evict_then_return 0,
//   expiry_then_return 0, close_then_return 0: FAIL (and so 1 instead of 2
//   at the end). The next lease was reported afresh in every case.
TEST_P(LeakEndTest, EveryWayALeakedLeaseEndsReportsOneLeakReturnedBug) {
  const end_mode mode = GetParam();
  auto o = opts(1, 1);
  if (mode == end_mode::unwinding_discard) o.on_unwind = unwind_policy::discard;
  if (mode == end_mode::expiry) o.max_lifetime = 1500ms;  // passes while the lease is out
  auto p = make(o);
  std::atomic<bool> got{false};
  std::future<void> waiter;
  at_scope_exit unstick{[&] { p->close(); }};

  auto l = lease_at_site_a(*p);
  ticks(*p, 10);
  ASSERT_EQ(suspected(), 1u);
  switch (mode) {
    case end_mode::normal: l.reset(); break;
    case end_mode::handoff: {
      waiter = std::async(std::launch::async, [&] {
        auto r = p->acquire_for(1h);
        got = static_cast<bool>(r);
      });  // released at once: a short lease
      ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
      l.reset();
      ASSERT_TRUE(eventually([&] { return got.load(); }));
      waiter.get();
      break;
    }
    case end_mode::discard: l->discard(); break;
    case end_mode::unwinding_reset:
    case end_mode::unwinding_discard:
      try {
        lease_t in_scope = std::move(*l);
        l.reset();
        throw std::runtime_error("user code failed");
      } catch (const std::runtime_error&) {
      }
      break;
    case end_mode::evict:
      p->evict(*l);
      l.reset();
      break;
    case end_mode::expiry:
      ticks(*p, 5);  // the lifetime (1.5 s) passes while leased: flagged
      l.reset();
      break;
    case end_mode::close:
      p->close();
      l.reset();
      break;
  }
  EXPECT_EQ(returned(), 1u) << "leak_returned events after the reported lease ended";
  if (mode == end_mode::close) return;

  // The next lease on that connection (or its replacement) is watched afresh.
  ASSERT_TRUE(eventually([&] { return p->counts().idle == 1; }));
  auto l2 = p->try_acquire();
  ASSERT_TRUE(l2);
  ticks(*p, 11);
  EXPECT_EQ(suspected(), 2u) << "the next lease, held 1.1 s, was not reported";
  l2.value().release();
  EXPECT_EQ(returned(), 2u);
}

INSTANTIATE_TEST_SUITE_P(AllEnds, LeakEndTest,
                         ::testing::Values(end_mode::normal, end_mode::handoff, end_mode::discard,
                                           end_mode::unwinding_reset, end_mode::unwinding_discard, end_mode::evict,
                                           end_mode::expiry, end_mode::close),
                         end_name);

// ---- no false report -----------------------------------------------------

// Observed on the current code (9b69ded): FAILS. While lease B's acquire
// validated the stale connection (300 ms), a pass reported a leak "held
// 400 ms ... acquired at ... lease_at_site_a" (lease A, long released); B
// itself, held 1 s past its hand-out, was then never reported (0 reports
// naming site B).
TEST_F(LeakTest, FalseLeakReportForPreviousLeaseDuringValidatingAcquireBug) {
  auto o = opts(1, 1, 100ms);
  o.validate_on_acquire = true;
  o.validation_bypass = 150ms;
  auto p = make(o);
  lease_at_site_a(*p).reset();  // lease A: acquired and released at once
  ticks(*p, 3);                  // unused for 200 ms > validation_bypass: stale
  ASSERT_EQ(suspected(), 0u);

  script->validate_latency = 300ms;
  auto b = std::async(std::launch::async, [&] { return lease_at_site_b(*p); });
  at_scope_exit unstick{[&] {
    script->validate_latency = std::chrono::nanoseconds{0};
    clock.advance(1h);
  }};
  ASSERT_TRUE(eventually([&] { return script->in_validate.load() == 1 || b.wait_for(0s) == std::future_status::ready; }))
      << "B's acquire validates the stale connection";
  ticks(*p, 3);  // reaper passes while B's acquire validates; the validation ends with the third
  ASSERT_EQ(b.wait_for(20s), std::future_status::ready);
  std::optional<lease_t> lb = b.get();
  ASSERT_TRUE(lb);
  const auto handed_out = clock.now();

  auto names = [](const recorded_event& e, const char* site) { return e.message.find(site) != std::string::npos; };
  for (const auto& e : of_kind(event_kind::leak_suspected)) {
    EXPECT_FALSE(names(e, "lease_at_site_a")) << "false report for released lease A: " << e.message.substr(0, 200);
    EXPECT_GE(e.at - handed_out, 100ms) << "a report before B was held 100 ms: " << e.message.substr(0, 200);
  }
  ticks(*p, 10);  // B held 1 s
  std::size_t for_b = 0;
  for (const auto& e : of_kind(event_kind::leak_suspected)) {
    if (!names(e, "lease_at_site_b")) continue;
    ++for_b;
    EXPECT_GE(e.at - handed_out, 100ms);
    EXPECT_LE(e.age, 200ms) << "B reported " << ms(e.age) << " after its hand-out";
  }
  EXPECT_EQ(for_b, 1u) << "B, held 1 s with a 100 ms threshold, is reported once";
  lb.reset();
}

// ---- a blocking hook -----------------------------------------------------

// Observed on the current code (9b69ded): FAILS for the acquire: an acquire
// that needs a new connection did not return within the 3 s guard while the
// hook blocked ("total=2, idle=0, leased=2, waiting=1, connecting=0": the
// reaper's thread is also the creator). The acquire of an idle connection
// and the release of the reported lease returned at once (those halves
// pass today).
TEST_F(LeakTest, LeakReportHookBlocksReleaseOrAcquireBug) {
  std::mutex m;
  std::condition_variable cv;
  bool let_go = false;
  std::atomic<bool> in_hook{false};
  hook = [&](const pool_event& e) {
    if (e.kind != event_kind::leak_suspected) return;
    in_hook = true;
    std::unique_lock lk(m);
    cv.wait_for(lk, 20s, [&] { return let_go; });  // bounded: a broken test must not hang
  };
  auto p = make(opts(3, 2));
  auto l = lease_at_site_a(*p);
  std::optional<lease_t> second;
  std::future<bool> fast, creating;
  std::future<void> release;
  at_scope_exit unstick{[&] {
    {
      std::lock_guard lk(m);
      let_go = true;
    }
    cv.notify_all();
    p->close();  // fails a still-queued waiter
  }};
  ticks(*p, 9);
  clock.advance(100ms);  // the pass reports the leak and blocks in the hook
  ASSERT_TRUE(eventually([&] { return in_hook.load(); }));

  fast = std::async(std::launch::async, [&] {  // the idle connection
    auto r = p->acquire_for(1h);
    if (r) second.emplace(std::move(r.value()));
    return second.has_value();
  });
  EXPECT_TRUE(fast.wait_for(3s) == std::future_status::ready) << "acquire of an idle connection blocked";
  creating = std::async(std::launch::async, [&] {  // needs a new connection (max 3)
    return static_cast<bool>(p->acquire_for(1h));
  });
  EXPECT_TRUE(creating.wait_for(3s) == std::future_status::ready)
      << "an acquire that needs a new connection blocked while the leak hook blocks: " << p->counts().to_string();
  release = std::async(std::launch::async, [&] { l.reset(); });
  EXPECT_TRUE(release.wait_for(3s) == std::future_status::ready) << "the reported lease's release blocked";

  {
    std::lock_guard lk(m);
    let_go = true;
  }
  cv.notify_all();
  ASSERT_EQ(release.wait_for(20s), std::future_status::ready);
  ASSERT_EQ(creating.wait_for(20s), std::future_status::ready);
  ASSERT_EQ(fast.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(fast.get());
  EXPECT_TRUE(creating.get());
  second.reset();
}

}  // namespace
}  // namespace berth

// ---- detail::leak_tracker, directly -------------------------------------------------
namespace berth::detail {
namespace {

using namespace std::chrono_literals;
using time_point = clock_source::time_point;

struct tracked_event {
  event_kind kind;
  std::string pool;
  std::uint32_t slot;
  std::chrono::nanoseconds age;
  std::string message;
};

/// Where a lease was "acquired": a named function, so that its name shows in
/// the report.
std::source_location acquire_site_for_leak_test() { return std::source_location::current(); }

struct LeakTrackerTest : ::testing::Test {
  std::vector<tracked_event> events;  // single-threaded: every emit is on the test thread
  pool_options opts = [this] {
    pool_options o;
    o.name = "tracked";
    o.on_event = [this](const pool_event& e) {
      events.push_back({e.kind, std::string(e.pool), e.slot, e.age, std::string(e.message)});
    };
    return o;
  }();
  event_sink sink{opts};
  leak_tracker tracker{3, 1s, sink};  // 3 slots, threshold 1 s
  const time_point t0 = time_point{} + 1h;
  const std::source_location site = acquire_site_for_leak_test();

  std::size_t of_kind(event_kind k) const {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [k](const tracked_event& e) { return e.kind == k; }));
  }
};

TEST_F(LeakTrackerTest, CheckBeforeTheThresholdReportsNothing) {
  tracker.began(0, t0, site);
  tracker.check(t0);
  tracker.check(t0 + 999ms);
  tracker.check(t0 + 1s - 1ns);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(tracker.suspected(), 0u);
}

TEST_F(LeakTrackerTest, CheckAtTheThresholdReportsOneLeakSuspected) {
  tracker.began(1, t0, site);
  tracker.check(t0 + 1s);
  ASSERT_EQ(events.size(), 1u);
  const tracked_event& e = events[0];
  EXPECT_EQ(e.kind, event_kind::leak_suspected);
  EXPECT_EQ(e.pool, "tracked");
  EXPECT_EQ(e.slot, 1u);
  EXPECT_EQ(e.age, 1s);
  EXPECT_NE(e.message.find(site.file_name()), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(site.function_name()), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("acquire_site_for_leak_test"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(":" + std::to_string(site.line())), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("stack at acquire"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("held 1000 ms"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("leak_threshold 1000 ms"), std::string::npos) << e.message;
  EXPECT_EQ(tracker.suspected(), 1u);
}

TEST_F(LeakTrackerTest, CheckReportsALeaseOnlyOnce) {
  tracker.began(0, t0, site);
  tracker.check(t0 + 1s);
  tracker.check(t0 + 2s);
  tracker.check(t0 + 1h);
  EXPECT_EQ(of_kind(event_kind::leak_suspected), 1u);
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(tracker.suspected(), 1u);
}

TEST_F(LeakTrackerTest, EndedAfterAReportEmitsOneLeakReturnedWithTheHeldAge) {
  tracker.began(2, t0, site);
  tracker.check(t0 + 1500ms);
  tracker.ended(2, t0 + 3s);
  ASSERT_EQ(events.size(), 2u);
  const tracked_event& e = events[1];
  EXPECT_EQ(e.kind, event_kind::leak_returned);
  EXPECT_EQ(e.pool, "tracked");
  EXPECT_EQ(e.slot, 2u);
  EXPECT_EQ(e.age, 3s) << "from began, not from the report";
  EXPECT_NE(e.message.find("returned after 3000 ms"), std::string::npos) << e.message;
}

TEST_F(LeakTrackerTest, EndedWithoutAReportEmitsNothing) {
  tracker.began(0, t0, site);
  tracker.ended(0, t0 + 500ms);
  tracker.began(1, t0, site);
  tracker.ended(1, t0 + 1h);  // long, but never checked: never reported
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(tracker.suspected(), 0u);
}

TEST_F(LeakTrackerTest, EndedTwiceAfterAReportEmitsOneLeakReturned) {
  tracker.began(0, t0, site);
  tracker.check(t0 + 1s);
  tracker.ended(0, t0 + 2s);
  tracker.ended(0, t0 + 3s);
  EXPECT_EQ(of_kind(event_kind::leak_returned), 1u);
  EXPECT_EQ(events.size(), 2u);
}

TEST_F(LeakTrackerTest, EndedOnASlotNeverLeasedEmitsNothing) {
  tracker.ended(0, t0);
  tracker.ended(2, t0 + 1h);
  EXPECT_TRUE(events.empty());
}

TEST_F(LeakTrackerTest, CheckNeverReportsALeaseThatHasEnded) {
  tracker.began(0, t0, site);
  tracker.ended(0, t0 + 1ms);
  tracker.check(t0 + 1h);
  tracker.check(t0 + 100h);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(tracker.suspected(), 0u);
}

TEST_F(LeakTrackerTest, ANewLeaseAfterEndedIsWatchedFromItsOwnStart) {
  tracker.began(0, t0, site);
  tracker.ended(0, t0 + 100ms);
  tracker.began(0, t0 + 10s, site);
  tracker.check(t0 + 10500ms);  // 10.5 s after the first lease, 0.5 s into this one
  EXPECT_TRUE(events.empty());
  tracker.check(t0 + 11s);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].age, 1s);
}

TEST_F(LeakTrackerTest, ANewLeaseAfterAReportedOneIsReportedAgain) {
  tracker.began(0, t0, site);
  tracker.check(t0 + 1s);
  tracker.ended(0, t0 + 2s);
  tracker.began(0, t0 + 5s, site);
  tracker.check(t0 + 5s + 999ms);
  EXPECT_EQ(of_kind(event_kind::leak_suspected), 1u);
  tracker.check(t0 + 6s);
  EXPECT_EQ(of_kind(event_kind::leak_suspected), 2u);
  EXPECT_EQ(tracker.suspected(), 2u);
  tracker.ended(0, t0 + 7s);
  ASSERT_EQ(of_kind(event_kind::leak_returned), 2u);
  EXPECT_EQ(events.back().age, 2s);
}

// began() on a slot whose previous lease was reported but never ended (the
// pool always calls ended() first; the tracker still starts afresh).
TEST_F(LeakTrackerTest, BeganAgainWithoutEndedStartsAFreshRecord) {
  tracker.began(0, t0, site);
  tracker.check(t0 + 1s);
  tracker.began(0, t0 + 2s, site);
  tracker.ended(0, t0 + 2500ms);
  EXPECT_EQ(of_kind(event_kind::leak_returned), 0u) << "the new lease was not reported";
  EXPECT_EQ(of_kind(event_kind::leak_suspected), 1u);
}

TEST_F(LeakTrackerTest, CheckReportsEachSlotPastTheThresholdAndSuspectedCountsThem) {
  tracker.began(0, t0, site);
  tracker.began(1, t0 + 500ms, site);
  tracker.began(2, t0 + 2s, site);
  tracker.check(t0 + 1500ms);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].slot, 0u);
  EXPECT_EQ(events[0].age, 1500ms);
  EXPECT_EQ(events[1].slot, 1u);
  EXPECT_EQ(events[1].age, 1s);
  EXPECT_EQ(tracker.suspected(), 2u);
  tracker.check(t0 + 3s);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].slot, 2u);
  EXPECT_EQ(tracker.suspected(), 3u);
  tracker.ended(1, t0 + 4s);
  EXPECT_EQ(tracker.suspected(), 3u) << "a count of reports: returns do not lower it";
}

TEST_F(LeakTrackerTest, CheckWithTimeBeforeTheAcquisitionReportsNothing) {
  tracker.began(0, t0, site);
  tracker.check(t0 - 1h);  // a clock reading older than began's
  EXPECT_TRUE(events.empty());
}

TEST_F(LeakTrackerTest, ZeroSlotTrackerChecksNothing) {
  leak_tracker none(0, 1s, sink);
  none.check(t0 + 100h);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(none.suspected(), 0u);
}

TEST_F(LeakTrackerTest, WithoutAHookNothingIsEmittedButLeaksAreCounted) {
  pool_options silent;
  event_sink quiet(silent);
  leak_tracker t(1, 1s, quiet);
  t.began(0, t0, site);
  t.check(t0 + 1s);
  t.ended(0, t0 + 2s);
  EXPECT_EQ(t.suspected(), 1u);
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace berth::detail
