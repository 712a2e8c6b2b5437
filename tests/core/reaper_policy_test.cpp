#include <berth/detail/reaper_policy.hpp>

#include <gtest/gtest.h>

namespace berth::detail {
namespace {

using namespace std::chrono_literals;

const time_point t0 = time_point{} + 100h;

pool_options policy(std::chrono::milliseconds idle, std::chrono::milliseconds life, std::chrono::milliseconds jitter,
                    std::chrono::milliseconds keepalive, std::chrono::milliseconds validation) {
  pool_options o;
  o.idle_timeout = idle;
  o.max_lifetime = life;
  o.lifetime_jitter = jitter;
  o.keepalive_interval = keepalive;
  o.validation_interval = validation;
  return o;
}

TEST(ReaperPolicyTest, LifetimeDeadlineIsComputedFromCreationWithJitter) {
  const auto o = policy(0ms, 10s, 2s, 0ms, 0ms);
  EXPECT_EQ(lifetime_deadline(t0, o, 0.0), t0 + 10s);
  EXPECT_EQ(lifetime_deadline(t0, o, 0.5), t0 + 9s);
  EXPECT_GT(lifetime_deadline(t0, o, 0.999), t0 + 8s);
  EXPECT_EQ(lifetime_deadline(t0, policy(0ms, 0ms, 2s, 0ms, 0ms), 0.5), time_point::max());
}

TEST(ReaperPolicyTest, ExpiryComesFirstThenIdleThenValidation) {
  const auto o = policy(1min, 10min, 0ms, 2min, 5min);
  slot_times t{t0, t0 + 10min, t0, t0};
  EXPECT_EQ(decide_idle(t, t0 + 30s, o, true), idle_action::keep);
  EXPECT_EQ(decide_idle(t, t0 + 1min, o, true), idle_action::close_idle);
  EXPECT_EQ(decide_idle(t, t0 + 1min, o, false), idle_action::keep) << "at min_idle: keepalive not due yet";
  EXPECT_EQ(decide_idle(t, t0 + 2min, o, false), idle_action::validate) << "keepalive";
  EXPECT_EQ(decide_idle(t, t0 + 10min, o, false), idle_action::close_expired) << "even at min_idle";
  EXPECT_EQ(decide_idle(t, t0 + 10min, o, true), idle_action::close_expired);
}

TEST(ReaperPolicyTest, KeepaliveCountsFromLastUseOrValidation) {
  const auto o = policy(0ms, 0ms, 0ms, 2min, 0ms);
  slot_times t{t0, time_point::max(), t0 + 90s, t0};
  EXPECT_EQ(decide_idle(t, t0 + 2min, o, true), idle_action::keep) << "used 30 s ago";
  EXPECT_EQ(decide_idle(t, t0 + 90s + 2min, o, true), idle_action::validate);
  t.last_validated = t0 + 3min;
  EXPECT_EQ(decide_idle(t, t0 + 4min, o, true), idle_action::keep) << "validated 1 min ago";
}

TEST(ReaperPolicyTest, BackgroundValidationIgnoresUse) {
  const auto o = policy(0ms, 0ms, 0ms, 0ms, 30s);
  slot_times t{t0, time_point::max(), t0 + 29s, t0};
  EXPECT_EQ(decide_idle(t, t0 + 29s, o, true), idle_action::keep);
  EXPECT_EQ(decide_idle(t, t0 + 30s, o, true), idle_action::validate);
}

TEST(ReaperPolicyTest, ZeroDisablesEveryPolicy) {
  const auto o = policy(0ms, 0ms, 0ms, 0ms, 0ms);
  slot_times t{t0, lifetime_deadline(t0, o, 0.3), t0, t0};
  EXPECT_EQ(decide_idle(t, t0 + 1000h, o, true), idle_action::keep);
}

}  // namespace
}  // namespace berth::detail
