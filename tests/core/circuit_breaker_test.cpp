// detail::circuit_breaker as pure logic: every transition of the table in
// circuit_breaker.hpp, the failure window, the recovery intervals and their
// jitter, and extreme configurations. Time points are chosen by the test
// (no clock, no threads).
#include <berth/detail/circuit_breaker.hpp>
#include <berth/options.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace berth::detail {
namespace {

using namespace std::chrono_literals;
using time_point = circuit_breaker::time_point;
using admission = circuit_breaker::admission;
using std::chrono::nanoseconds;

const time_point t0 = time_point{} + 1h;

breaker_config config(std::uint32_t threshold = 3, nanoseconds window = 10s, nanoseconds recovery = 1s,
                      nanoseconds recovery_max = 8s) {
  return {.threshold = threshold, .window = window, .recovery = recovery, .recovery_max = recovery_max};
}

/// Fails `n` times at `at`; returns whether the last failure opened it.
bool fail_n(circuit_breaker& b, int n, time_point at) {
  bool opened = false;
  for (int k = 0; k < n; ++k) opened = b.failed(at);
  return opened;
}

/// Opens a closed breaker at `at` (failures at one instant until it opens).
void open_at(circuit_breaker& b, time_point at) {
  ASSERT_EQ(b.state(), breaker_state::closed);
  for (std::uint32_t k = 0; k < max_breaker_threshold && !b.failed(at); ++k) {
  }
  ASSERT_EQ(b.state(), breaker_state::open);
}

/// Opens, then admits the probe at probe_at(): half_open.
void half_open_at(circuit_breaker& b, time_point at) {
  open_at(b, at);
  ASSERT_EQ(b.admit(b.probe_at()), admission::probe);
  ASSERT_EQ(b.state(), breaker_state::half_open);
}

TEST(BreakerStateTest, ToStringNamesEveryState) {
  EXPECT_STREQ(to_string(breaker_state::closed), "closed");
  EXPECT_STREQ(to_string(breaker_state::open), "open");
  EXPECT_STREQ(to_string(breaker_state::half_open), "half_open");
  EXPECT_STREQ(to_string(static_cast<breaker_state>(9)), "unknown");
}

// ---- the transition table, exhaustively ----------------------------------------

enum class from { closed_fresh, closed_one_below, open, half_open };
enum class event { admit_early, admit_due, success, failure };

struct row {
  from f;
  event e;
  breaker_state next;
  admission answer;  // for admit events
  bool changed;      // the return of succeeded()/failed() (false for admits)
};

/// A breaker in state f: threshold 3, window 10 s, recovery 1 s. Opened or
/// failed at t0.
circuit_breaker reach(from f) {
  circuit_breaker b(config(), 1);
  switch (f) {
    case from::closed_fresh: break;
    case from::closed_one_below: fail_n(b, 2, t0); break;
    case from::open: fail_n(b, 3, t0); break;
    case from::half_open:
      fail_n(b, 3, t0);
      b.admit(t0 + 1s);
      break;
  }
  return b;
}

TEST(CircuitBreakerTest, EveryStateAndEventFollowsTheTable) {
  using enum breaker_state;
  const std::vector<row> table = {
      // from              event               next       answer             changed
      {from::closed_fresh, event::admit_early, closed, admission::attempt, false},
      {from::closed_fresh, event::admit_due, closed, admission::attempt, false},
      {from::closed_fresh, event::success, closed, admission::attempt, false},
      {from::closed_fresh, event::failure, closed, admission::attempt, false},
      {from::closed_one_below, event::admit_early, closed, admission::attempt, false},
      {from::closed_one_below, event::admit_due, closed, admission::attempt, false},
      {from::closed_one_below, event::success, closed, admission::attempt, false},
      {from::closed_one_below, event::failure, open, admission::attempt, true},  // the threshold-th
      {from::open, event::admit_early, open, admission::refuse, false},
      {from::open, event::admit_due, half_open, admission::probe, false},
      {from::open, event::success, closed, admission::attempt, true},  // a late attempt got through
      {from::open, event::failure, open, admission::attempt, false},   // a late attempt failed: ignored
      {from::half_open, event::admit_early, half_open, admission::refuse, false},
      {from::half_open, event::admit_due, half_open, admission::refuse, false},  // the probe is in flight
      {from::half_open, event::success, closed, admission::attempt, true},
      {from::half_open, event::failure, open, admission::attempt, true},
  };
  for (const row& r : table) {
    SCOPED_TRACE(::testing::Message() << "from " << static_cast<int>(r.f) << " event " << static_cast<int>(r.e));
    circuit_breaker b = reach(r.f);
    // Events happen 500 ms after t0: before an open breaker's probe_at
    // (t0 + 1 s) for admit_early, at 2 s for admit_due.
    switch (r.e) {
      case event::admit_early:
        EXPECT_EQ(b.peek(t0 + 500ms), r.answer);
        EXPECT_EQ(b.admit(t0 + 500ms), r.answer);
        break;
      case event::admit_due:
        EXPECT_EQ(b.peek(t0 + 2s), r.answer);
        EXPECT_EQ(b.admit(t0 + 2s), r.answer);
        break;
      case event::success: EXPECT_EQ(b.succeeded(), r.changed); break;
      case event::failure: EXPECT_EQ(b.failed(t0 + 500ms), r.changed); break;
    }
    EXPECT_EQ(b.state(), r.next);
    EXPECT_EQ(b.rejecting(), r.next != closed);
    // What the new state answers now, whatever led there.
    if (r.next == closed) {
      EXPECT_EQ(b.peek(t0 + 1h), admission::attempt);
    } else if (r.next == half_open) {
      EXPECT_EQ(b.peek(t0 + 1h), admission::refuse);
    }
  }
}

TEST(CircuitBreakerTest, PeekChangesNothing) {
  circuit_breaker b(config(), 1);
  open_at(b, t0);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(b.peek(b.probe_at()), admission::probe);
  EXPECT_EQ(b.state(), breaker_state::open);
}

// ---- the failure window -----------------------------------------------------------

TEST(CircuitBreakerTest, ThresholdZeroNeverOpens) {
  circuit_breaker b(config(0), 1);
  EXPECT_FALSE(b.enabled());
  for (int k = 0; k < 1000; ++k) ASSERT_FALSE(b.failed(t0 + k * 1ms));
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_EQ(b.admit(t0 + 1h), admission::attempt);
  EXPECT_EQ(b.times_opened(), 0u);
  EXPECT_EQ(b.recent_failures(), 0u);
}

TEST(CircuitBreakerTest, OpensWhenThresholdFailuresFallWithinTheWindow) {
  circuit_breaker b(config(3, 10s, 1s), 1);
  EXPECT_TRUE(b.enabled());
  EXPECT_FALSE(b.failed(t0));
  EXPECT_FALSE(b.failed(t0 + 1s));
  EXPECT_EQ(b.recent_failures(), 2u);
  EXPECT_TRUE(b.failed(t0 + 2s));
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.probe_at(), t0 + 2s + 1s) << "opened for exactly breaker_recovery";
  EXPECT_EQ(b.open_interval(), 1s);
  EXPECT_EQ(b.times_opened(), 1u);
  EXPECT_EQ(b.recent_failures(), 0u);
}

TEST(CircuitBreakerTest, ThresholdOneOpensOnTheFirstFailure) {
  circuit_breaker b(config(1), 1);
  EXPECT_TRUE(b.failed(t0));
  EXPECT_EQ(b.state(), breaker_state::open);
}

TEST(CircuitBreakerTest, FailuresSpreadWiderThanTheWindowDoNotOpen) {
  circuit_breaker b(config(3, 10s), 1);
  EXPECT_FALSE(b.failed(t0));
  EXPECT_FALSE(b.failed(t0 + 6s));
  EXPECT_FALSE(b.failed(t0 + 12s)) << "0, 6, 12: 12 s > 10 s";
  EXPECT_FALSE(b.failed(t0 + 23s)) << "6, 12, 23: 17 s";
  EXPECT_FALSE(b.failed(t0 + 24s)) << "12, 23, 24: 12 s";
  EXPECT_TRUE(b.failed(t0 + 25s)) << "23, 24, 25: 2 s";
}

TEST(CircuitBreakerTest, TheWindowBoundIsInclusive) {
  {
    circuit_breaker b(config(2, 10s), 1);
    EXPECT_FALSE(b.failed(t0));
    EXPECT_TRUE(b.failed(t0 + 10s)) << "exactly the window apart";
  }
  {
    circuit_breaker b(config(2, 10s), 1);
    EXPECT_FALSE(b.failed(t0));
    EXPECT_FALSE(b.failed(t0 + 10s + 1ns)) << "one nanosecond more";
  }
}

TEST(CircuitBreakerTest, TheWindowSlidesOverTheLastThresholdFailures) {
  circuit_breaker b(config(3, 10s), 1);
  // A slow trickle, then a burst: the burst opens it as soon as three fall
  // within 10 s, whatever came before.
  for (int k = 0; k < 10; ++k) ASSERT_FALSE(b.failed(t0 + k * 20s)) << k;
  const time_point burst = t0 + 300s;
  EXPECT_FALSE(b.failed(burst));
  EXPECT_FALSE(b.failed(burst + 1s));
  EXPECT_TRUE(b.failed(burst + 2s));
}

TEST(CircuitBreakerTest, ASuccessForgetsTheRecentFailures) {
  circuit_breaker b(config(3), 1);
  fail_n(b, 2, t0);
  EXPECT_FALSE(b.succeeded()) << "closed stays closed";
  EXPECT_EQ(b.recent_failures(), 0u);
  EXPECT_FALSE(fail_n(b, 2, t0 + 1s)) << "two since the success";
  EXPECT_TRUE(b.failed(t0 + 2s));
}

// ---- open, half-open, and the recovery intervals ------------------------------------

TEST(CircuitBreakerTest, OpenRefusesUntilProbeAtThenLetsExactlyOneProbeThrough) {
  circuit_breaker b(config(), 1);
  open_at(b, t0);
  EXPECT_EQ(b.admit(b.probe_at() - 1ns), admission::refuse);
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.admit(b.probe_at()), admission::probe);
  EXPECT_EQ(b.state(), breaker_state::half_open);
  for (int k = 0; k < 100; ++k) ASSERT_EQ(b.admit(t0 + k * 1h), admission::refuse) << "one probe only";
}

TEST(CircuitBreakerTest, ProbeSuccessClosesAndTheNextOpenLastsRecoveryAgain) {
  circuit_breaker b(config(3, 10s, 1s, 8s), 1);
  half_open_at(b, t0);
  ASSERT_TRUE(b.failed(t0 + 1s));  // interval 2: in [1 s, 2 s]
  ASSERT_EQ(b.admit(b.probe_at()), admission::probe);
  EXPECT_TRUE(b.succeeded());
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_EQ(b.failed_probes(), 0u);
  EXPECT_EQ(b.admit(t0 + 1h), admission::attempt);
  EXPECT_FALSE(fail_n(b, 2, t0 + 1h)) << "the threshold counts afresh";
  EXPECT_TRUE(b.failed(t0 + 1h));
  EXPECT_EQ(b.open_interval(), 1s) << "reset to breaker_recovery";
  EXPECT_EQ(b.probe_at(), t0 + 1h + 1s);
  EXPECT_EQ(b.times_opened(), 3u) << "opened, reopened after the failed probe, opened again";
}

TEST(CircuitBreakerTest, FailedProbesDoubleTheIntervalWithEqualJitterUpToTheCap) {
  circuit_breaker b(config(3, 10s, 1s, 8s), 7);
  half_open_at(b, t0);
  time_point now = b.probe_at();
  for (std::uint32_t k = 1; k <= 12; ++k) {
    ASSERT_TRUE(b.failed(now));
    EXPECT_EQ(b.failed_probes(), k);
    const nanoseconds d = std::min<nanoseconds>(1s * (std::int64_t{1} << std::min(k, 10u)), 8s);
    EXPECT_GE(b.open_interval(), std::max<nanoseconds>(d / 2, 1s)) << "failed probe " << k;
    EXPECT_LE(b.open_interval(), d) << "failed probe " << k;
    EXPECT_EQ(b.probe_at(), now + b.open_interval());
    EXPECT_EQ(b.admit(b.probe_at() - 1ns), admission::refuse);
    ASSERT_EQ(b.admit(b.probe_at()), admission::probe);
    now = b.probe_at();
  }
  EXPECT_EQ(b.times_opened(), 13u);
}

TEST(CircuitBreakerTest, IntervalsStayWithinRecoveryAndTheCapAfterManyFailedProbes) {
  circuit_breaker b(config(1, 1s, 100ms, 1s), 3);
  half_open_at(b, t0);
  for (int k = 0; k < 300; ++k) {  // past 63 doublings
    ASSERT_TRUE(b.failed(b.probe_at()));
    ASSERT_GE(b.open_interval(), 100ms);
    ASSERT_LE(b.open_interval(), 1s);
    ASSERT_EQ(b.admit(b.probe_at()), admission::probe);
  }
  EXPECT_EQ(b.failed_probes(), 300u);
}

TEST(CircuitBreakerTest, ACapBelowTwiceRecoveryNeverShortensTheInterval) {
  circuit_breaker b(config(1, 1s, 1s, 1500ms), 5);
  half_open_at(b, t0);
  for (int k = 0; k < 50; ++k) {
    ASSERT_TRUE(b.failed(b.probe_at()));
    ASSERT_GE(b.open_interval(), 1s) << "jitter would give [750 ms, 1.5 s]: clamped to recovery";
    ASSERT_LE(b.open_interval(), 1500ms);
    b.admit(b.probe_at());
  }
}

TEST(CircuitBreakerTest, LateOutcomesWhileOpen) {
  circuit_breaker b(config(), 1);
  open_at(b, t0);
  const time_point due = b.probe_at();
  EXPECT_FALSE(b.failed(t0 + 500ms)) << "a late failure does not extend the open state";
  EXPECT_EQ(b.probe_at(), due);
  EXPECT_EQ(b.times_opened(), 1u);
  EXPECT_TRUE(b.succeeded()) << "a late success proves the database reachable";
  EXPECT_EQ(b.state(), breaker_state::closed);
}

TEST(CircuitBreakerTest, SameSeedGivesTheSameIntervals) {
  circuit_breaker a(config(), 12345), b(config(), 12345);
  half_open_at(a, t0);
  half_open_at(b, t0);
  for (int k = 0; k < 10; ++k) {
    a.failed(a.probe_at());
    b.failed(b.probe_at());
    ASSERT_EQ(a.open_interval(), b.open_interval()) << k;
    a.admit(a.probe_at());
    b.admit(b.probe_at());
  }
}

TEST(CircuitBreakerTest, JitterSpreadsTheReopenIntervalAcrossSeeds) {
  std::set<nanoseconds::rep> seen;
  for (std::uint_fast32_t seed = 1; seed <= 64; ++seed) {
    circuit_breaker b(config(3, 10s, 1s, 8s), seed);
    half_open_at(b, t0);
    b.failed(b.probe_at());
    ASSERT_GE(b.open_interval(), 1s);
    ASSERT_LE(b.open_interval(), 2s);
    seen.insert(b.open_interval().count());
  }
  EXPECT_GT(seen.size(), 32u) << "equal jitter: a spread, not one value";
}

// ---- extreme configurations ----------------------------------------------------------

TEST(CircuitBreakerTest, ProbeAtSaturatesAtTheEndOfTime) {
  circuit_breaker b(config(1, 1s, max_option_duration, nanoseconds::max()), 1);
  const time_point late = time_point::max() - 1s;
  ASSERT_TRUE(b.failed(late));
  EXPECT_EQ(b.probe_at(), time_point::max());
  EXPECT_EQ(b.admit(time_point::max() - 1ns), admission::refuse);
  EXPECT_EQ(b.admit(time_point::max()), admission::probe);
  for (int k = 0; k < 80; ++k) {
    ASSERT_TRUE(b.failed(late));
    ASSERT_EQ(b.probe_at(), time_point::max()) << "no wrap-around";
    ASSERT_GE(b.open_interval(), max_option_duration);
    b.admit(time_point::max());
  }
}

TEST(CircuitBreakerTest, HugeWindowCountsEveryFailureSinceTheLastSuccess) {
  circuit_breaker b(config(3, nanoseconds::max()), 1);
  EXPECT_FALSE(b.failed(time_point::min()));
  EXPECT_FALSE(b.failed(t0));
  EXPECT_TRUE(b.failed(time_point::max())) << "the span saturates, within a window of max()";
}

TEST(CircuitBreakerTest, NonPositiveValuesCountAsZero) {
  {
    circuit_breaker b(config(2, -5s), 1);  // window < 0: only failures at one instant
    EXPECT_FALSE(b.failed(t0));
    EXPECT_FALSE(b.failed(t0 + 1ns));
    EXPECT_TRUE(b.failed(t0 + 1ns));
  }
  {
    circuit_breaker b(config(1, 1s, -1s, -1s), 1);  // recovery < 0: the probe is due at once
    ASSERT_TRUE(b.failed(t0));
    EXPECT_EQ(b.open_interval(), 0ns);
    EXPECT_EQ(b.admit(t0), admission::probe);
    ASSERT_TRUE(b.failed(t0));
    EXPECT_EQ(b.open_interval(), 0ns);
  }
  {
    circuit_breaker b(config(1, 1s, 2s, 1s), 1);  // recovery_max < recovery counts as recovery
    half_open_at(b, t0);
    for (int k = 0; k < 5; ++k) {
      ASSERT_TRUE(b.failed(b.probe_at()));
      ASSERT_EQ(b.open_interval(), 2s);
      b.admit(b.probe_at());
    }
  }
}

TEST(CircuitBreakerTest, LargestThresholdOpensAtItsLastFailure) {
  circuit_breaker b(config(max_breaker_threshold, 1h), 1);
  for (std::uint32_t k = 1; k < max_breaker_threshold; ++k) ASSERT_FALSE(b.failed(t0)) << k;
  EXPECT_EQ(b.recent_failures(), max_breaker_threshold - 1);
  EXPECT_TRUE(b.failed(t0));
}

TEST(CircuitBreakerTest, TheRingWrapsManyTimesWithoutOpeningOnSpreadFailures) {
  circuit_breaker b(config(4, 2999ms), 1);
  // Four consecutive failures 1 s apart span 3 s: just outside the window.
  for (int k = 0; k < 10'000; ++k) ASSERT_FALSE(b.failed(t0 + k * 1s)) << k;
  EXPECT_EQ(b.recent_failures(), 4u);
  EXPECT_TRUE(b.failed(t0 + 9999s + 1ms)) << "9997, 9998, 9999, 9999.001: 2.001 s";
}

}  // namespace
}  // namespace berth::detail
