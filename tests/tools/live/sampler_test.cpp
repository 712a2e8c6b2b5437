// Tests of live::sampler on a fake clock: windows, rates, per-interval
// latency, timeouts, phases that continue or change, the final sample at
// detach, and a probe whose pools change.
#include <berth/live/sampler.hpp>

#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace berth::live {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

/// A pool whose reading the test sets.
struct scripted_pool {
  pool_reading reading;
  pool_probe probe(std::string name) {
    return {std::move(name), [this] { return reading; }};
  }
};

struct SamplerTest : ::testing::Test {
  testing::fake_clock clock;
  sampler s{clock.now()};
  scripted_pool pool;
  std::uint64_t ops = 0;
  latency_recorder lat;

  probe make_probe(std::string phase) {
    probe p;
    p.phase = std::move(phase);
    p.pools.push_back(pool.probe("pool"));
    p.ops = [this] { return ops; };
    p.latency = &lat;
    return p;
  }
};

TEST_F(SamplerTest, NothingAttachedTakesNothing) {
  clock.advance(250ms);
  EXPECT_EQ(s.take(clock.now()), nullptr);
  EXPECT_EQ(s.current_phase(), nullptr);
  s.detach(clock.now());  // no-op
  EXPECT_EQ(s.sample_count(), 0u);
}

TEST_F(SamplerTest, AWindowHasRatesCountsAndLatencyOfThatWindowOnly) {
  ops = 1000;  // before attach: not counted
  pool.reading.timeouts = 7;
  lat.record(1ms);  // before attach: not counted
  clock.advance(1s);
  s.attach(make_probe("hammer"), clock.now());

  clock.advance(250ms);
  ops += 500;
  pool.reading.timeouts += 3;
  pool.reading.counts.leased = 8;
  pool.reading.counts.idle = 2;
  pool.reading.counts.waiting = 40;
  pool.reading.counts.max_size = 10;
  for (int i = 0; i < 99; ++i) lat.record(2us);
  lat.record(900us);
  const sample* x = s.take(clock.now());
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->elapsed, 1250ms);
  EXPECT_EQ(x->window, 250ms);
  EXPECT_EQ(x->ops, 500u);
  EXPECT_DOUBLE_EQ(x->ops_per_second(), 2000.0);
  EXPECT_EQ(x->timeouts, 3u);
  ASSERT_EQ(x->pools.size(), 1u);
  EXPECT_EQ(x->pools[0].leased, 8u);
  EXPECT_EQ(x->pools[0].waiting, 40u);
  EXPECT_EQ(x->latency.count, 100u);
  EXPECT_LE(x->latency.p50, 2250ns);
  EXPECT_GE(x->latency.p50, 2us);
  EXPECT_EQ(x->latency.max, 900us) << "the 1 ms recorded before attach is not this window's";

  // The next window: nothing recorded.
  clock.advance(500ms);
  ops += 100;
  const sample* y = s.take(clock.now());
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->window, 500ms);
  EXPECT_DOUBLE_EQ(y->ops_per_second(), 200.0);
  EXPECT_EQ(y->latency.count, 0u);
  EXPECT_EQ(y->timeouts, 0u);

  const phase_info& ph = *s.current_phase();
  EXPECT_EQ(ph.name, "hammer");
  EXPECT_EQ(ph.start, 1s);
  EXPECT_EQ(ph.end, 1750ms);
  EXPECT_EQ(ph.watched, 750ms);
  EXPECT_EQ(ph.ops, 600u);
  EXPECT_EQ(ph.timeouts, 3u);
  EXPECT_EQ(ph.samples, 2u);
  EXPECT_EQ(ph.peak_waiting, 40u);
  EXPECT_EQ(ph.peak_leased, 8u);
  EXPECT_EQ(ph.latency.count, 100u);
  EXPECT_EQ(ph.latency.max, 900us);
}

TEST_F(SamplerTest, NoTimePassedTakesNothing) {
  s.attach(make_probe("a"), clock.now());
  EXPECT_EQ(s.take(clock.now()), nullptr);
}

TEST_F(SamplerTest, DetachTakesAFinalSampleAndDropsTheProbe) {
  s.attach(make_probe("a"), clock.now());
  clock.advance(100ms);
  ops = 50;
  s.detach(clock.now());
  EXPECT_FALSE(s.attached());
  ASSERT_EQ(s.sample_count(), 1u);
  const run_record r = s.record(clock.now());
  EXPECT_EQ(r.samples[0].window, 100ms);
  EXPECT_EQ(r.samples[0].ops, 50u);
  clock.advance(250ms);
  EXPECT_EQ(s.take(clock.now()), nullptr);
  EXPECT_EQ(s.record(clock.now()).duration, 350ms);
}

TEST(SamplerTailTest, AShortFinalWindowCountsButDrawsNoPoint) {
  testing::fake_clock clock;
  sampler s(clock.now(), 50ms);
  std::uint64_t ops = 0;
  probe p;
  p.phase = "a";
  p.ops = [&ops] { return ops; };
  s.attach(p, clock.now());
  clock.advance(2ms);
  ops = 7;
  s.detach(clock.now());
  EXPECT_EQ(s.sample_count(), 1u) << "the phase's only sample is kept, however short";

  s.attach(p, clock.now());
  clock.advance(250ms);
  ops = 100;
  ASSERT_NE(s.take(clock.now()), nullptr);
  clock.advance(3ms);
  ops = 110;
  s.detach(clock.now());
  const run_record r = s.record(clock.now());
  EXPECT_EQ(r.samples.size(), 2u) << "no point for the 3 ms tail";
  EXPECT_EQ(r.phases[0].ops, 110u) << "but its operations count";
  EXPECT_EQ(r.phases[0].watched, 255ms);
  EXPECT_EQ(r.phases[0].samples, 2u);
}

TEST_F(SamplerTest, TheSameNameContinuesAPhaseAnotherStartsOne) {
  s.attach(make_probe("case/threads:8"), clock.now());
  clock.advance(250ms);
  ops = 10;
  s.detach(clock.now());
  clock.advance(1s);  // unwatched: not in the phase's watched time
  ops = 1000;         // counted by nobody
  s.attach(make_probe("case/threads:8"), clock.now());
  clock.advance(250ms);
  ops = 1010;
  s.detach(clock.now());
  s.attach(make_probe("other"), clock.now());
  clock.advance(250ms);
  s.detach(clock.now());

  const run_record r = s.record(clock.now());
  ASSERT_EQ(r.phases.size(), 2u);
  EXPECT_EQ(r.phases[0].name, "case/threads:8");
  EXPECT_EQ(r.phases[0].ops, 20u);
  EXPECT_EQ(r.phases[0].watched, 500ms);
  EXPECT_EQ(r.phases[0].start, 0ms);
  EXPECT_EQ(r.phases[0].end, 1500ms);
  EXPECT_EQ(r.phases[1].name, "other");
  EXPECT_EQ(r.phases[1].start, 1500ms);
  ASSERT_EQ(r.samples.size(), 3u);
  EXPECT_EQ(r.samples[1].phase, 0u);
  EXPECT_EQ(r.samples[2].phase, 1u);
}

TEST_F(SamplerTest, WithoutAnOpsCallableOpsAreThePoolsAcquires) {
  scripted_pool writer, readers;
  probe p;
  p.phase = "mix";
  p.pools = {writer.probe("writer"), readers.probe("readers")};
  writer.reading.acquired = 5;
  s.attach(std::move(p), clock.now());
  clock.advance(1s);
  writer.reading.acquired = 105;
  readers.reading.acquired = 300;
  writer.reading.counts.waiting = 90;
  readers.reading.counts.waiting = 3;
  writer.reading.timeouts = 2;
  readers.reading.timeouts = 1;
  const sample* x = s.take(clock.now());
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->ops, 400u);
  EXPECT_EQ(x->timeouts, 3u);
  ASSERT_EQ(x->pools.size(), 2u);
  EXPECT_EQ(s.current_phase()->pools, (std::vector<std::string>{"writer", "readers"}));
  EXPECT_EQ(s.current_phase()->peak_waiting, 93u) << "all pools together";
  EXPECT_EQ(x->latency.count, 0u) << "no recorder";
}

TEST_F(SamplerTest, ACounterGoingBackwardsCountsZero) {
  ops = 100;
  s.attach(make_probe("a"), clock.now());
  clock.advance(250ms);
  ops = 40;
  const sample* x = s.take(clock.now());
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->ops, 0u);
}

}  // namespace
}  // namespace berth::live
