#include <berth/detail/backoff.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace berth::detail {
namespace {

using namespace std::chrono_literals;

TEST(CreationBackoffTest, DoublesThenCapsWithEqualJitter) {
  EXPECT_EQ(creation_backoff(50ms, 10s, 0, 0.5), 0ns);
  EXPECT_EQ(creation_backoff(50ms, 10s, 1, 0.0), 25ms);
  EXPECT_EQ(creation_backoff(50ms, 10s, 1, 1.0), 50ms);
  EXPECT_EQ(creation_backoff(50ms, 10s, 2, 1.0), 100ms);
  EXPECT_EQ(creation_backoff(50ms, 10s, 3, 1.0), 200ms);
  EXPECT_EQ(creation_backoff(50ms, 10s, 30, 1.0), 10s);
  EXPECT_EQ(creation_backoff(50ms, 10s, 1000, 0.0), 5s);
  EXPECT_EQ(creation_backoff(50ms, 10s, 4'000'000'000u, 0.999999), creation_backoff(50ms, 10s, 64, 0.999999));
}

TEST(CreationBackoffTest, JitterStaysWithinHalfToFull) {
  for (std::uint32_t f = 1; f < 20; ++f)
    for (double u : {0.0, 0.1, 0.37, 0.5, 0.9, 0.999}) {
      auto d = creation_backoff(10ms, 1s, f, u);
      auto full = std::min<std::chrono::nanoseconds>(10ms * (1ll << std::min<std::uint32_t>(f - 1, 20)), 1s);
      EXPECT_GE(d, full / 2);
      EXPECT_LE(d, full);
    }
}

// Issue 6: with initial or cap near nanoseconds::max() the doubling
// overflowed (signed overflow, UB) and wrapped negative, so the pool retried
// creation at once: a reconnect storm. Any inputs now give a delay in
// [d/2, d] with d = min(initial * 2^(failures-1), cap), never negative.
TEST(CreationBackoffTest, CreationBackoffOverflowBug) {
  using std::chrono::nanoseconds;
  constexpr nanoseconds ten_years = std::chrono::hours{24 * 365 * 10};
  std::vector<std::uint32_t> failures;
  for (std::uint32_t f = 1; f <= 64; ++f) failures.push_back(f);
  failures.push_back(65);
  failures.push_back(1000);
  failures.push_back(UINT32_MAX);
  const double units[] = {0.0, 1e-9, 0.5, 0.999999, 1.0};
  for (const nanoseconds cap : {nanoseconds::max(), ten_years, nanoseconds::max() - 1ns})
    for (const std::uint32_t f : failures)
      for (const double u : units) {
        // initial == cap: every failure count waits d = cap.
        const auto d = creation_backoff(cap, cap, f, u);
        EXPECT_GE(d, cap / 2) << cap.count() << " " << f << " " << u;
        EXPECT_LE(d, cap) << cap.count() << " " << f << " " << u;
        // Doubling from a small initial value saturates at cap.
        const auto g = creation_backoff(1ns, cap, f, u);
        const nanoseconds full = f > 63 ? cap : std::min(nanoseconds{std::int64_t{1} << (f - 1)}, cap);
        EXPECT_GE(g, full / 2) << cap.count() << " " << f << " " << u;
        EXPECT_LE(g, full) << cap.count() << " " << f << " " << u;
        // Doubling that would pass nanoseconds::max() on its last step.
        const auto h = creation_backoff(nanoseconds::max() / 2 + 1ns, cap, f, u);
        EXPECT_GE(h, nanoseconds::zero());
        EXPECT_LE(h, cap);
      }
  EXPECT_EQ(creation_backoff(nanoseconds::max(), nanoseconds::max(), UINT32_MAX, 1.0), nanoseconds::max());
  EXPECT_EQ(creation_backoff(nanoseconds::max(), nanoseconds::max(), 1, 0.0), nanoseconds::max() / 2);
}

// Inputs validation never lets through still give a delay in [0, cap]: no
// negative delay (an immediate retry) and no endless doubling of zero.
TEST(CreationBackoffTest, OutOfContractInputsStayInRange) {
  using std::chrono::nanoseconds;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(creation_backoff(-5ms, 1s, 3, 0.5), 0ns);
  EXPECT_EQ(creation_backoff(nanoseconds::min(), nanoseconds::max(), UINT32_MAX, 0.5), 0ns);
  EXPECT_EQ(creation_backoff(0ns, 1s, UINT32_MAX, 0.5), 0ns);  // returns at once, no 2^32 loop
  EXPECT_EQ(creation_backoff(50ms, -1s, 3, 0.5), 0ns);
  EXPECT_EQ(creation_backoff(50ms, nanoseconds::min(), 3, 0.5), 0ns);
  EXPECT_EQ(creation_backoff(2s, 1s, 1, 1.0), 1s) << "initial above cap: cap";
  EXPECT_EQ(creation_backoff(100ms, 1s, 1, nan), 50ms) << "NaN unit: no jitter";
  EXPECT_EQ(creation_backoff(100ms, 1s, 1, -3.0), 50ms);
  EXPECT_EQ(creation_backoff(100ms, 1s, 1, 7.0), 100ms);
  EXPECT_EQ(creation_backoff(nanoseconds::max(), nanoseconds::max(), 1, std::numeric_limits<double>::infinity()),
            nanoseconds::max());
}

}  // namespace
}  // namespace berth::detail
