// Tests of live::latency_recorder (the log-linear buckets, the exact max,
// several recording threads) and live::summarize (percentiles of a delta).
#include <berth/live/latency_recorder.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace berth::live {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

TEST(LatencyRecorderTest, SmallValuesHaveExactBuckets) {
  for (std::uint64_t v = 0; v < 16; ++v) {
    EXPECT_EQ(latency_recorder::bucket_of(v), v);
    EXPECT_EQ(latency_recorder::upper_bound(v), v);
  }
}

TEST(LatencyRecorderTest, EveryValueLiesInItsBucketWithin12AndAHalfPercent) {
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 16; v < 5000; ++v) values.push_back(v);
  for (int e = 12; e < 64; ++e) {
    const std::uint64_t p = std::uint64_t{1} << e;
    for (std::uint64_t v : {p - 1, p, p + 1, p + p / 3, p + p / 2 + 7}) values.push_back(v);
  }
  values.push_back(~std::uint64_t{0});
  std::size_t prev_bucket = 0;
  std::uint64_t prev_value = 0;
  for (std::uint64_t v : values) {
    const std::size_t b = latency_recorder::bucket_of(v);
    ASSERT_LT(b, latency_recorder::bucket_count) << v;
    const std::uint64_t ub = latency_recorder::upper_bound(b);
    EXPECT_GE(ub, v) << v;
    EXPECT_LE(static_cast<double>(ub), static_cast<double>(v) * 1.125) << v;
    // The bucket below ends below v: v is in exactly this bucket.
    EXPECT_LT(latency_recorder::upper_bound(b - 1), v) << v;
    if (v >= prev_value) {
      EXPECT_GE(b, prev_bucket) << "buckets are monotonic in the value";
    }
    prev_bucket = b;
    prev_value = v;
  }
  EXPECT_EQ(latency_recorder::bucket_of(~std::uint64_t{0}), latency_recorder::bucket_count - 1);
}

TEST(LatencyRecorderTest, ReadSumsEveryShardAndTakeMaxResets) {
  latency_recorder r;
  r.record(100ns);
  r.record(-5ns);  // counts as 0
  std::thread([&] { r.record(3ms); }).join();  // another thread, probably another shard
  latency_recorder::bucket_array b{};
  r.read_into(b);
  EXPECT_EQ(b[latency_recorder::bucket_of(100)], 1u);
  EXPECT_EQ(b[0], 1u);
  EXPECT_EQ(b[latency_recorder::bucket_of(3'000'000)], 1u);
  EXPECT_EQ(r.take_max(), 3ms);
  EXPECT_EQ(r.take_max(), 0ns) << "take_max starts a new interval";
  r.record(7us);
  EXPECT_EQ(r.take_max(), 7us);
}

TEST(LatencyRecorderTest, ManyThreadsLoseNoRecord) {
  latency_recorder r;
  constexpr int threads = 40, each = 2000;  // more threads than shards: some share one
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&r, t] {
      for (int i = 0; i < each; ++i) r.record(nanoseconds{1000 + t});
    });
  for (auto& t : ts) t.join();
  latency_recorder::bucket_array b{};
  r.read_into(b);
  std::uint64_t total = 0;
  for (auto c : b) total += c;
  EXPECT_EQ(total, std::uint64_t{threads} * each);
  EXPECT_EQ(r.take_max(), nanoseconds{1000 + threads - 1});
}

TEST(SummarizeTest, EmptyDeltaIsZeroCount) {
  const latency_summary s = summarize(latency_recorder::bucket_array{}, 0ns);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.max, 0ns);
}

TEST(SummarizeTest, PercentilesAreBucketBoundsCappedByTheExactMax) {
  latency_recorder::bucket_array d{};
  d[latency_recorder::bucket_of(1000)] = 98;     // 98 at ~1 us
  d[latency_recorder::bucket_of(50'000)] = 1;    // 1 at ~50 us
  d[latency_recorder::bucket_of(2'000'000)] = 1;  // 1 at ~2 ms
  const latency_summary s = summarize(d, 1'900'000ns);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.p50, nanoseconds{latency_recorder::upper_bound(latency_recorder::bucket_of(1000))});
  EXPECT_EQ(s.p99, nanoseconds{latency_recorder::upper_bound(latency_recorder::bucket_of(50'000))});
  EXPECT_EQ(s.max, 1'900'000ns) << "the exact max when known";

  const latency_summary u = summarize(d, 0ns);
  EXPECT_EQ(u.max, nanoseconds{latency_recorder::upper_bound(latency_recorder::bucket_of(2'000'000))})
      << "the top bucket's bound without one";
}

TEST(SummarizeTest, OneValueIsEveryPercentile) {
  latency_recorder::bucket_array d{};
  d[latency_recorder::bucket_of(12'345)] = 1;
  const latency_summary s = summarize(d, 12'345ns);
  EXPECT_EQ(s.p50, 12'345ns) << "capped at the exact max";
  EXPECT_EQ(s.p99, 12'345ns);
  EXPECT_EQ(s.max, 12'345ns);
}

}  // namespace
}  // namespace berth::live
