// Tests of detail::wait_histogram and detail::pool_counters (counters.hpp):
// the percentile arithmetic over power-of-two buckets, its edge values, and
// the copy of every counter into pool_stats. Pure, single-threaded.
#include <berth/detail/counters.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace berth::detail {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

/// Bucket b's upper bound, 2^b ns, written out for the tests.
constexpr nanoseconds pow2(int b) { return nanoseconds{std::int64_t{1} << b}; }

void expect_all(const wait_percentiles& w, nanoseconds v) {
  EXPECT_EQ(w.p50, v);
  EXPECT_EQ(w.p90, v);
  EXPECT_EQ(w.p99, v);
  EXPECT_EQ(w.p999, v);
  EXPECT_EQ(w.max, v);
}

TEST(WaitHistogramTest, EmptyHistogramGivesZeros) {
  wait_histogram h;
  EXPECT_EQ(h.count(), 0u);
  expect_all(h.percentiles(0), 0ns);
}

TEST(WaitHistogramTest, OnlyZeroWaitsGiveZeros) {
  wait_histogram h;
  expect_all(h.percentiles(1000), 0ns);
  EXPECT_EQ(h.count(), 0u) << "zero_waits are not recorded";
}

TEST(WaitHistogramTest, OneSampleIsEveryPercentileAtItsBucketBound) {
  wait_histogram h;
  h.record(1000ns);  // 2^9 <= 1000 < 2^10
  EXPECT_EQ(h.count(), 1u);
  expect_all(h.percentiles(0), pow2(10));
}

TEST(WaitHistogramTest, BucketBoundsAreStrictPowersOfTwo) {
  // Bucket b holds waits < 2^b: a power of two goes one bucket up.
  const struct {
    nanoseconds waited, bound;
  } cases[] = {
      {0ns, 0ns},       {1ns, pow2(1)},       {2ns, pow2(2)},       {3ns, pow2(2)},
      {1023ns, pow2(10)}, {1024ns, pow2(11)}, {1ms, pow2(20)},      {1s, pow2(30)},
      {pow2(62) - 1ns, pow2(62)},
  };
  for (const auto& c : cases) {
    wait_histogram h;
    h.record(c.waited);
    EXPECT_EQ(h.percentiles(0).max, c.bound) << c.waited.count() << " ns";
  }
}

TEST(WaitHistogramTest, ZeroWaitsDominateTheMedian) {
  wait_histogram h;
  for (int k = 0; k < 10; ++k) h.record(1ms);
  const auto w = h.percentiles(90);  // 100 acquires, 90 of them on the fast path
  EXPECT_EQ(w.p50, 0ns);
  EXPECT_EQ(w.p90, 0ns) << "rank 90 of 100 is still a zero wait";
  EXPECT_EQ(w.p99, pow2(20));
  EXPECT_EQ(w.p999, pow2(20));
  EXPECT_EQ(w.max, pow2(20));
  EXPECT_EQ(h.count(), 10u);
}

TEST(WaitHistogramTest, PercentilesPickTheBucketAtTheirRank) {
  wait_histogram h;
  // 1000 samples: 900 at 1 us, 90 at 1 ms, 9 at 1 s, 1 at 1 min.
  for (int k = 0; k < 900; ++k) h.record(1us);
  for (int k = 0; k < 90; ++k) h.record(1ms);
  for (int k = 0; k < 9; ++k) h.record(1s);
  h.record(1min);
  const auto w = h.percentiles(0);
  EXPECT_EQ(w.p50, pow2(10));
  EXPECT_EQ(w.p90, pow2(10)) << "rank 900 (floor(0.9 * 999) + 1) is the last 1 us sample";
  EXPECT_EQ(w.p99, pow2(20)) << "rank 990";
  EXPECT_EQ(w.p999, pow2(30)) << "rank 999";
  EXPECT_EQ(w.max, pow2(36)) << "1 min = 6e10 ns < 2^36";
  EXPECT_EQ(h.count(), 1000u);
}

TEST(WaitHistogramTest, MaxIsTheHighestNonEmptyBucketsBound) {
  wait_histogram h;
  h.record(1ms);
  h.record(1ns);
  h.record(1us);
  EXPECT_EQ(h.percentiles(0).max, pow2(20));
  EXPECT_EQ(h.percentiles(1'000'000).max, pow2(20)) << "zero waits do not lower the max";
}

TEST(WaitHistogramTest, PercentilesAreOrdered) {
  wait_histogram h;
  for (int k = 1; k <= 5000; ++k) h.record(nanoseconds{k * k});
  const auto w = h.percentiles(1234);
  EXPECT_LE(w.p50, w.p90);
  EXPECT_LE(w.p90, w.p99);
  EXPECT_LE(w.p99, w.p999);
  EXPECT_LE(w.p999, w.max);
}

TEST(WaitHistogramTest, NegativeWaitsLandInBucketZero) {
  wait_histogram h;
  h.record(-1ns);
  h.record(nanoseconds::min());
  EXPECT_EQ(h.count(), 2u);
  expect_all(h.percentiles(0), 0ns);
}

TEST(WaitHistogramTest, LargestWaitsLandInTheLastBucketWhoseBoundIsNanosecondsMax) {
  wait_histogram h;
  h.record(nanoseconds::max());  // bit_width 63
  EXPECT_EQ(h.count(), 1u);
  expect_all(h.percentiles(0), nanoseconds::max());

  wait_histogram g;
  g.record(pow2(62));  // bit_width 63 too: 2^63 is past nanoseconds::max()
  EXPECT_EQ(g.percentiles(0).max, nanoseconds::max());
}

// The rank of quantile q over n samples is floor(q * (n - 1)) + 1 (the lower
// neighbour): with two samples every percentile is the lower one and only
// max shows the higher.
TEST(WaitHistogramTest, NegativeAndMaxWaitsTogetherSpanBucketsZeroToSixtyThree) {
  wait_histogram h;
  h.record(-5s);
  h.record(nanoseconds::max());
  const auto w = h.percentiles(0);
  EXPECT_EQ(w.p50, 0ns);
  EXPECT_EQ(w.p90, 0ns);
  EXPECT_EQ(w.p99, 0ns);
  EXPECT_EQ(w.p999, 0ns);
  EXPECT_EQ(w.max, nanoseconds::max());
}

TEST(WaitHistogramTest, OneSlowWaitInAHundredShowsOnlyInMax) {
  wait_histogram h;
  h.record(1s);
  const auto w = h.percentiles(99);  // rank of p999: floor(0.999 * 99) + 1 = 99 of 100
  EXPECT_EQ(w.p99, 0ns);
  EXPECT_EQ(w.p999, 0ns);
  EXPECT_EQ(w.max, pow2(30));
}

TEST(WaitHistogramTest, TwoSlowWaitsInAThousandMakeTheP999) {
  wait_histogram h;
  h.record(1s);
  h.record(1s);
  const auto w = h.percentiles(998);  // rank of p999: floor(0.999 * 999) + 1 = 999 of 1000
  EXPECT_EQ(w.p99, 0ns);
  EXPECT_EQ(w.p999, pow2(30));
  EXPECT_EQ(w.max, pow2(30));
}

TEST(PoolCountersTest, BumpAddsOne) {
  pool_counters c;
  pool_counters::bump(c.timeouts);
  pool_counters::bump(c.timeouts);
  EXPECT_EQ(c.timeouts.load(), 2u);
  EXPECT_EQ(c.created.load(), 0u);
}

TEST(PoolCountersTest, ReadIntoCopiesEachCounterToItsField) {
  pool_counters c;
  c.created = 1;
  c.destroyed = 2;
  c.creation_failures = 3;
  c.timeouts = 4;
  c.discarded = 5;
  c.unwound = 6;
  c.reaper_passes = 7;
  c.validation_failures = 8;
  c.acquire_validations = UINT64_MAX;  // edge value, and distinct from the rest

  pool_stats s;
  s.acquired = 100;  // not the counters' fields: left as they were
  s.acquired_after_wait = 101;
  s.leaks_suspected = 102;
  s.counts.idle = 103;
  s.wait.max = 104ns;
  c.read_into(s);

  EXPECT_EQ(s.created, 1u);
  EXPECT_EQ(s.destroyed, 2u);
  EXPECT_EQ(s.creation_failures, 3u);
  EXPECT_EQ(s.timeouts, 4u);
  EXPECT_EQ(s.discarded, 5u);
  EXPECT_EQ(s.unwound, 6u);
  EXPECT_EQ(s.reaper_passes, 7u);
  EXPECT_EQ(s.validation_failures, 8u);
  EXPECT_EQ(s.acquire_validations, UINT64_MAX);
  EXPECT_EQ(s.acquired, 100u);
  EXPECT_EQ(s.acquired_after_wait, 101u);
  EXPECT_EQ(s.leaks_suspected, 102u);
  EXPECT_EQ(s.counts.idle, 103u);
  EXPECT_EQ(s.wait.max, 104ns);
}

TEST(PoolCountersTest, ReadIntoOfFreshCountersGivesZeros) {
  pool_counters c;
  pool_stats s;
  s.created = s.destroyed = s.creation_failures = s.timeouts = s.discarded = s.unwound = s.reaper_passes =
      s.validation_failures = s.acquire_validations = 9;
  c.read_into(s);
  EXPECT_EQ(s.created, 0u);
  EXPECT_EQ(s.destroyed, 0u);
  EXPECT_EQ(s.creation_failures, 0u);
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(s.discarded, 0u);
  EXPECT_EQ(s.unwound, 0u);
  EXPECT_EQ(s.reaper_passes, 0u);
  EXPECT_EQ(s.validation_failures, 0u);
  EXPECT_EQ(s.acquire_validations, 0u);
}

TEST(DurationHistogramTest, QuantileClampsItsArgumentAndMeanDividesTheSum) {
  duration_histogram h;
  h.buckets[duration_histogram::bucket_of(3ns)] = 2;  // bucket 2: [2, 4)
  h.buckets[duration_histogram::bucket_of(1000ns)] = 1;
  h.count = 3;
  h.sum = 1006ns;
  EXPECT_EQ(h.quantile(-1.0), pow2(2));
  EXPECT_EQ(h.quantile(2.0), pow2(10));
  EXPECT_EQ(h.mean(), 335ns);
  EXPECT_EQ(duration_histogram{}.mean(), 0ns);
  EXPECT_EQ(duration_histogram{}.max(), 0ns);
}

TEST(WaitHistogramTest, HistogramAddsZeroWaitsToBucketZeroAndCount) {
  wait_histogram w;
  w.record(5ns);
  const duration_histogram h = w.histogram(10);
  EXPECT_EQ(h.count, 11u);
  EXPECT_EQ(h.buckets[0], 10u);
  EXPECT_EQ(h.sum, 5ns);
}

TEST(AtomicHistogramTest, SumSaturatesAtNanosecondsMax) {
  atomic_histogram h;
  h.record(nanoseconds::max());
  h.record(nanoseconds::max());
  h.record(-5ns);  // counts, adds nothing
  const duration_histogram s = h.snapshot();
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.sum, nanoseconds::max());
  EXPECT_EQ(s.buckets[63], 2u);
  EXPECT_EQ(s.buckets[0], 1u);
}

TEST(AtomicHistogramTest, RecordsFromManyThreadsAreAllKept) {
  atomic_histogram h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&h, t] {
      for (int k = 0; k < 10000; ++k) h.record(nanoseconds{1 << t});
    });
  for (auto& t : ts) t.join();
  const duration_histogram s = h.snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.sum, nanoseconds{10000 * (1 + 2 + 4 + 8)});
  for (int t = 0; t < 4; ++t) EXPECT_EQ(s.buckets[static_cast<std::size_t>(t + 1)], 10000u);
}

}  // namespace
}  // namespace berth::detail
