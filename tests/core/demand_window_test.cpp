// The adaptive min_idle's pure parts (demand_window.hpp): the windowed peak
// and the step towards it, with plain values.
#include <berth/detail/demand_window.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace berth::detail {
namespace {

using namespace std::chrono_literals;
using tp = clock_source::time_point;

constexpr tp at(std::chrono::milliseconds ms) { return tp{ms}; }

TEST(DemandWindowTest, ThePeakHoldsForTheWindowThenTheNextLargestTakesOver) {
  demand_window w(300ms);
  EXPECT_EQ(w.observe(at(100ms), 2), 2u);
  EXPECT_EQ(w.observe(at(200ms), 7), 7u);
  EXPECT_EQ(w.observe(at(300ms), 4), 7u);
  EXPECT_EQ(w.observe(at(400ms), 1), 7u);
  EXPECT_EQ(w.observe(at(500ms), 0), 4u) << "7 (at 200) left the window (200, 500]";
  EXPECT_EQ(w.observe(at(600ms), 0), 1u);
  EXPECT_EQ(w.observe(at(700ms), 0), 0u);
}

TEST(DemandWindowTest, ANewPeakReplacesSmallerSamplesAtOnce) {
  demand_window w(1s);
  w.observe(at(0ms), 3);
  w.observe(at(10ms), 2);
  EXPECT_EQ(w.observe(at(20ms), 5), 5u);
  EXPECT_EQ(w.observe(at(30ms), 5), 5u) << "an equal sample renews the peak";
  EXPECT_EQ(w.observe(at(1020ms), 0), 5u) << "the renewed one (at 30) is still inside";
  EXPECT_EQ(w.observe(at(1030ms), 0), 0u);
}

TEST(DemandWindowTest, ASingleSampleIsItsOwnPeakEvenWithALongGap) {
  demand_window w(100ms);
  w.observe(at(0ms), 9);
  EXPECT_EQ(w.observe(at(10'000ms), 1), 1u);
}

TEST(NextMinIdleTest, RisesAtOnceAndFallsByHalfTheDistanceRoundedUp) {
  // current, peak, floor, ceiling, max_size
  EXPECT_EQ(next_min_idle(1, 6, 1, 8, 10), 6u);
  EXPECT_EQ(next_min_idle(6, 0, 1, 8, 10), 3u);
  EXPECT_EQ(next_min_idle(3, 0, 1, 8, 10), 2u);
  EXPECT_EQ(next_min_idle(2, 0, 1, 8, 10), 1u);
  EXPECT_EQ(next_min_idle(1, 0, 1, 8, 10), 1u);
  EXPECT_EQ(next_min_idle(9, 8, 0, 9, 10), 8u) << "a distance of one closes in one step";
}

TEST(NextMinIdleTest, ClampsToTheFloorTheCeilingAndTheMaxSizeInForce) {
  EXPECT_EQ(next_min_idle(2, 20, 0, 5, 10), 5u) << "ceiling";
  EXPECT_EQ(next_min_idle(2, 20, 0, 50, 7), 7u) << "max_size";
  EXPECT_EQ(next_min_idle(4, 0, 4, 8, 10), 4u) << "floor";
  EXPECT_EQ(next_min_idle(9, 9, 0, 9, 4), 4u) << "a resize below the current value: down at once, not by halves";
}

}  // namespace
}  // namespace berth::detail
