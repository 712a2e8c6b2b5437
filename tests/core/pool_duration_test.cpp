// Issue 6 through the public pool API: durations at their limits must mean
// what they say. A huge timeout waits (saturating to no deadline) instead of
// overflowing into a deadline in the past; zero, negative and min() try once;
// option durations at max_option_duration neither overflow nor spin the
// reaper. Under the asan preset (UBSan, -fno-sanitize-recover) any signed
// overflow left on these paths aborts the test.
//
// On the fake clock (starts at 1 h, moves only when told). A call expected to
// keep waiting is given a short real-time grace after each clock advance to
// act on it (still_pending, stays_false): a slow machine can only hide a bug
// there, never fail a correct pool.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <iterator>
#include <limits>
#include <ostream>
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
using acquire_result = fake_pool::acquire_result;
using acquire_fn = std::function<acquire_result(fake_pool&)>;
using time_point = clock_source::time_point;

constexpr auto grace = 100ms;  // real time given to another thread to act on a clock advance
constexpr int advances = 5;    // clock advances of 1000 h while a call must keep waiting

template <class T>
bool is_ready(const std::future<T>& f) {
  return f.wait_for(0s) == std::future_status::ready;
}

/// The future is still pending after `grace` of real time.
template <class T>
bool still_pending(const std::future<T>& f) {
  return f.wait_for(grace) == std::future_status::timeout;
}

/// pred stays false for `grace` of real time.
template <class Pred>
bool stays_false(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return false;
    std::this_thread::yield();
  }
  return !pred();
}

std::string describe(const acquire_result& r) { return r ? std::string("a connection") : r.error().message(); }

/// One row of a table of acquire calls: a name for the test and the call.
struct timeout_case {
  std::string name;  // [A-Za-z0-9_]: becomes part of the test name
  acquire_fn acquire;
};

void PrintTo(const timeout_case& c, std::ostream* os) { *os << c.name; }

template <class Rep, class Period>
timeout_case acquire_for_case(std::string name, std::chrono::duration<Rep, Period> timeout) {
  return {std::move(name), [timeout](fake_pool& p) { return p.acquire_for(timeout); }};
}

struct PoolDurationTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;

  static pool_options opts(std::size_t max, std::size_t min_idle) {
    pool_options o;
    o.name = "durations";
    o.max_size = max;
    o.min_idle = min_idle;
    return o;
  }
  std::unique_ptr<fake_pool> make(const pool_options& o) {
    return std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
  }

  /// On a pool of one whose connection the test holds, `acquire` (run in
  /// another thread) waits through advances of 1000 h without timing out,
  /// then gets the connection when the test releases it.
  void expect_waits_forever(const acquire_fn& acquire, const pool_options& o = opts(1, 1)) {
    auto p = make(o);
    // Declared before `held`: on an early return `held` goes back to the
    // pool first, so the pending call completes and the future's destructor
    // (which joins the thread) cannot block.
    std::future<acquire_result> f;
    acquire_result held = p->try_acquire();
    ASSERT_TRUE(held);
    f = std::async(std::launch::async, [&] { return acquire(*p); });
    ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1 || is_ready(f); }));
    if (!still_pending(f)) FAIL() << "returned before any clock advance: " << describe(f.get());
    for (int k = 1; k <= advances; ++k) {
      clock.advance(1000h);
      if (!still_pending(f)) FAIL() << "returned after " << k * 1000 << " h: " << describe(f.get());
    }
    held.value().release();
    const acquire_result r = f.get();
    ASSERT_TRUE(r) << describe(r);
    const pool_stats s = p->stats();
    EXPECT_EQ(s.timeouts, 0u);
    EXPECT_EQ(s.acquired_after_wait, 1u);
  }

  /// With a connection idle, `acquire` gets it; with none idle it fails with
  /// errc::timeout at once, with no clock advance.
  void expect_tries_once(const acquire_fn& acquire) {
    auto p = make(opts(1, 1));
    std::future<acquire_result> f;  // before `first`, see expect_waits_forever
    acquire_result first = acquire(*p);
    ASSERT_TRUE(first) << "a connection was idle: " << describe(first);
    f = std::async(std::launch::async, [&] { return acquire(*p); });
    ASSERT_TRUE(eventually([&] { return is_ready(f); }, 10s)) << "still waiting: the deadline is in the future";
    const acquire_result r = f.get();
    ASSERT_FALSE(r) << "the only connection is leased";
    EXPECT_EQ(r.error().code, errc::timeout) << describe(r);
    EXPECT_EQ(p->stats().timeouts, 1u);
    EXPECT_EQ(p->counts().waiting, 0u);
  }
};

// ---- acquire_for(huge): wait, saturating to no deadline ---------------------

// Bug (issue 6): acquire_for(X::max()) computed now + duration_cast<ns>(X::max()):
// signed overflow (UB), in practice a deadline in the past, so "wait as long
// as it takes" timed out at once; for hours::max() the cast itself overflowed,
// and duration<double>(inf) converted to INT64_MIN.
struct PoolHugeTimeoutTest : PoolDurationTest, ::testing::WithParamInterface<timeout_case> {};

std::vector<timeout_case> huge_timeouts() {
  using std::chrono::duration;
  return {
      acquire_for_case("nanoseconds_max", std::chrono::nanoseconds::max()),
      acquire_for_case("microseconds_max", std::chrono::microseconds::max()),
      acquire_for_case("milliseconds_max", std::chrono::milliseconds::max()),
      acquire_for_case("seconds_max", std::chrono::seconds::max()),
      acquire_for_case("minutes_max", std::chrono::minutes::max()),
      acquire_for_case("hours_max", std::chrono::hours::max()),
      acquire_for_case("steady_clock_duration_max", std::chrono::steady_clock::duration::max()),
      acquire_for_case("double_seconds_inf", duration<double>(std::numeric_limits<double>::infinity())),
      acquire_for_case("double_seconds_max", duration<double>::max()),
      acquire_for_case("unsigned_milliseconds_max", duration<unsigned long long, std::milli>::max()),
  };
}

TEST_P(PoolHugeTimeoutTest, AcquireForHugeTimeoutWaitsForever) { expect_waits_forever(GetParam().acquire); }

INSTANTIATE_TEST_SUITE_P(Limits, PoolHugeTimeoutTest, ::testing::ValuesIn(huge_timeouts()),
                         [](const ::testing::TestParamInfo<timeout_case>& i) { return i.param.name; });

// Bug (issue 6): acquire() with acquire_timeout = milliseconds::max() (valid:
// the field has no upper bound) overflowed the same way.
TEST_F(PoolDurationTest, AcquireTimeoutAtMillisecondsMaxWaitsForever) {
  auto o = opts(1, 1);
  o.acquire_timeout = std::chrono::milliseconds::max();
  expect_waits_forever([](fake_pool& p) { return p.acquire(); }, o);
}

// ---- acquire_for(zero, negative, min()): try once --------------------------

// Bug (issue 6): acquire_for(X::min()) overflowed in duration_cast or in
// now + timeout (UB; in practice a deadline far in the future: the call hung
// instead of failing). Zero and negative timeouts mean "do not wait".
struct PoolNonPositiveTimeoutTest : PoolDurationTest, ::testing::WithParamInterface<timeout_case> {};

std::vector<timeout_case> non_positive_timeouts() {
  using std::chrono::duration;
  return {
      acquire_for_case("minus_1ms", -1ms),
      acquire_for_case("minus_1ns", -1ns),
      acquire_for_case("zero_ns", 0ns),
      acquire_for_case("zero_s", 0s),
      acquire_for_case("nanoseconds_min", std::chrono::nanoseconds::min()),
      acquire_for_case("microseconds_min", std::chrono::microseconds::min()),
      acquire_for_case("milliseconds_min", std::chrono::milliseconds::min()),
      acquire_for_case("seconds_min", std::chrono::seconds::min()),
      acquire_for_case("minutes_min", std::chrono::minutes::min()),
      acquire_for_case("hours_min", std::chrono::hours::min()),
      acquire_for_case("steady_clock_duration_min", std::chrono::steady_clock::duration::min()),
      acquire_for_case("double_seconds_minus_inf", duration<double>(-std::numeric_limits<double>::infinity())),
      acquire_for_case("double_seconds_min", duration<double>::min()),
      acquire_for_case("double_seconds_nan", duration<double>(std::numeric_limits<double>::quiet_NaN())),
      acquire_for_case("unsigned_milliseconds_zero", duration<unsigned long long, std::milli>::zero()),
  };
}

TEST_P(PoolNonPositiveTimeoutTest, AcquireForNegativeOrMinTimeoutTriesOnce) { expect_tries_once(GetParam().acquire); }

INSTANTIATE_TEST_SUITE_P(Limits, PoolNonPositiveTimeoutTest, ::testing::ValuesIn(non_positive_timeouts()),
                         [](const ::testing::TestParamInfo<timeout_case>& i) { return i.param.name; });

// ---- acquire_until at the ends of time_point --------------------------------

// Bug guarded (issue 6): time_point::max() is "no deadline" everywhere in the
// pool; any arithmetic on it (remaining time, a conversion for a timed wait)
// would overflow and end the wait at once.
TEST_F(PoolDurationTest, AcquireUntilTimePointMaxWaitsForever) {
  expect_waits_forever([](fake_pool& p) { return p.acquire_until(time_point::max()); });
}

// Bug guarded (issue 6): time_point::min() (and any past deadline) means try
// once; arithmetic on it (elapsed or remaining time) would overflow.
TEST_F(PoolDurationTest, AcquireUntilTimePointMinTimesOutAtOnce) {
  expect_tries_once([](fake_pool& p) { return p.acquire_until(time_point::min()); });
  expect_tries_once([this](fake_pool& p) { return p.acquire_until(clock.now() - 1ns); });
}

// ---- drain -------------------------------------------------------------------

// Bug (issue 6): drain(nanoseconds::max()) computed now + timeout (signed
// overflow, UB), a deadline in the past: it returned drain_timeout at once
// instead of waiting for the outstanding lease.
/// drain(timeout) with one lease out: it must wait through 1000-hour clock
/// steps until the lease comes back, then succeed.
template <class Duration>
void expect_drain_waits_for_the_lease(PoolDurationTest& t, Duration timeout) {
  auto p = t.make(t.opts(1, 1));
  std::future<std::error_code> f;  // before `held`, see expect_waits_forever
  acquire_result held = p->try_acquire();
  ASSERT_TRUE(held);
  f = std::async(std::launch::async, [&] { return p->drain(timeout); });
  ASSERT_TRUE(eventually([&] { return p->closed(); }));
  for (int k = 1; k <= advances; ++k) {
    t.clock.advance(1000h);
    if (!still_pending(f)) FAIL() << "returned after " << k * 1000 << " h: " << f.get().message();
  }
  held.value().release();  // the pool is closed: the connection is closed
  EXPECT_EQ(f.get(), std::error_code{});
  EXPECT_EQ(p->counts().total, 0u);
}

TEST_F(PoolDurationTest, DrainWithHugeTimeoutWaitsForTheLease) {
  expect_drain_waits_for_the_lease(*this, std::chrono::nanoseconds::max());
}

// drain(hours::max()): the implicit conversion to nanoseconds overflowed
// (UB) into a past deadline, and drain returned drain_timeout at once.
TEST_F(PoolDurationTest, DrainWithHoursMaxWaitsForTheLeaseBug) {
  expect_drain_waits_for_the_lease(*this, std::chrono::hours::max());
}

// Bug guarded (issue 6): drain(nanoseconds::min()) or a negative timeout
// must check once, not overflow into a far deadline and hang.
TEST_F(PoolDurationTest, DrainWithNegativeOrMinTimeoutChecksOnce) {
  for (const std::chrono::nanoseconds timeout : {-1ns, std::chrono::nanoseconds::min()}) {
    auto p = make(opts(1, 1));
    std::future<std::error_code> f;
    acquire_result held = p->try_acquire();
    ASSERT_TRUE(held);
    f = std::async(std::launch::async, [&] { return p->drain(timeout); });
    ASSERT_TRUE(eventually([&] { return is_ready(f); }, 10s)) << timeout.count();
    EXPECT_EQ(f.get(), errc::drain_timeout) << timeout.count();
    held.value().release();
    EXPECT_EQ(p->drain(timeout), std::error_code{}) << "nothing out: drained at once";
  }
}

// ---- option durations at max_option_duration ------------------------------

// Bug (issue 6): handoff_after = microseconds::max() overflowed when compared
// with a waiter's elapsed time in nanoseconds. At the bound (10 years) the
// comparison is exact: two waiters on a pool of one, rounds with clock
// advances below and above the bound, every waiter is served, and the pool
// turns strict exactly when a waiter has waited handoff_after.
TEST_F(PoolDurationTest, HandoffAfterMaxDoesNotOverflow) {
  auto o = opts(1, 1);
  o.handoff_after = max_option_duration;
  auto p = make(o);
  const auto past_bound = max_option_duration + 24h * 365;
  const std::chrono::hours rounds[] = {1h, past_bound, 1000h, past_bound, 1h};
  auto wait_forever = [&p] { return p->acquire_until(time_point::max()); };
  std::future<acquire_result> a, b;  // before `held`, see expect_waits_forever
  acquire_result held = p->try_acquire();
  ASSERT_TRUE(held);
  int n = 0;
  for (const auto advance : rounds) {
    SCOPED_TRACE("round " + std::to_string(n++) + ", advance " + std::to_string(advance.count()) + " h");
    a = std::async(std::launch::async, wait_forever);
    ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
    b = std::async(std::launch::async, wait_forever);
    ASSERT_TRUE(eventually([&] { return p->counts().waiting == 2; }));
    clock.advance(advance);
    if (advance > o.handoff_after)
      EXPECT_TRUE(eventually([&] { return p->counts().strict_handoff; })) << "waited past handoff_after: strict";
    else
      EXPECT_TRUE(stays_false([&] { return p->counts().strict_handoff; })) << "2 waiters, none starving";
    held.value().release();
    ASSERT_TRUE(eventually([&] { return is_ready(a) || is_ready(b); }));
    std::future<acquire_result>& first = is_ready(a) ? a : b;
    std::future<acquire_result>& second = &first == &a ? b : a;
    acquire_result r = first.get();
    ASSERT_TRUE(r) << describe(r);
    r.value().release();
    held = second.get();
    ASSERT_TRUE(held) << describe(held);
  }
  const pool_stats s = p->stats();
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(s.acquired_after_wait, 2u * std::size(rounds));
}

// Bug (issue 6): option durations near their type's max overflowed: now +
// reaper_period wrapped into the past (a reaper busy loop), max_lifetime /
// lifetime_jitter retired everything at once, and idle_timeout,
// validation_interval, keepalive_interval, validation_bypass and
// leak_threshold overflowed in comparisons. Every duration at
// max_option_duration: the pool opens min_idle, serves acquires, retires
// nothing over 5000 h, and the reaper does not spin.
TEST_F(PoolDurationTest, DurationOptionsAtTheirBoundKeepThePoolWorking) {
  auto o = opts(4, 2);
  o.reaper_period = o.idle_timeout = o.max_lifetime = max_option_duration;
  o.lifetime_jitter = max_option_duration - 1ms;
  o.keepalive_interval = o.validation_interval = o.validation_bypass = o.leak_threshold = max_option_duration;
  o.validation_timeout = max_option_duration;
  o.creation_backoff_initial = o.creation_backoff_max = max_option_duration;
  o.handoff_after = max_option_duration;
  auto p = make(o);
  EXPECT_EQ(p->counts().idle, 2u) << "min_idle opened";
  {
    acquire_result x = p->try_acquire();
    acquire_result y = p->acquire_for(1s);
    acquire_result z = p->acquire_for(1s);  // the maintenance thread opens a third
    ASSERT_TRUE(x && y && z) << describe(x) << " / " << describe(y) << " / " << describe(z);
  }
  acquire_result held = p->try_acquire();  // leased through the advances: no leak report
  ASSERT_TRUE(held);
  for (int k = 1; k <= advances; ++k) {
    clock.advance(1000h);
    EXPECT_TRUE(stays_false([&] { return p->stats().reaper_passes >= 5; })) << "reaper spinning after " << k * 1000
                                                                             << " h";
  }
  pool_stats s = p->stats();
  EXPECT_LT(s.reaper_passes, 5u);
  EXPECT_EQ(s.reaper_passes, 0u) << "the first pass is due reaper_period (10 years) after start";
  EXPECT_EQ(s.destroyed, 0u) << "nothing expired, idled out or failed validation";
  EXPECT_EQ(s.leaks_suspected, 0u);
  EXPECT_EQ(s.validation_failures, 0u);
  EXPECT_EQ(script->validates.load(), 0u) << "keepalive, validation_interval and bypass are 10 years";
  held.value().release();
  {
    acquire_result x = p->acquire_for(1s);
    ASSERT_TRUE(x) << describe(x);
  }
  // One reaper period later: exactly one pass (next_pass = now + 10 years
  // does not wrap), and the pool still serves.
  clock.advance(max_option_duration);
  ASSERT_TRUE(eventually([&] { return p->stats().reaper_passes >= 1; }));
  EXPECT_TRUE(stays_false([&] { return p->stats().reaper_passes >= 2; })) << "reaper spinning at its bound";
  acquire_result x = p->acquire_for(1s);
  ASSERT_TRUE(x) << describe(x);
}

}  // namespace
}  // namespace berth
