#include <berth/detail/backoff.hpp>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace berth::detail
