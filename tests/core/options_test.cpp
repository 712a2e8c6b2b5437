#include <berth/options.hpp>
#include <berth/router_options.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;

TEST(PoolOptionsTest, DefaultsAreValid) { EXPECT_FALSE(validate(pool_options{}).has_value()); }

TEST(PoolOptionsTest, BreakerDefaultsAreTheDocumentedOnes) {
  const pool_options o;
  EXPECT_EQ(o.breaker_threshold, 5u);
  EXPECT_EQ(o.breaker_window, 10s);
  EXPECT_EQ(o.breaker_recovery, 250ms);
  EXPECT_EQ(o.breaker_recovery_max, 5s);
}

constexpr std::chrono::milliseconds over_max_ms = max_option_duration + 1ms;

struct bad_case {
  std::string field;
  std::function<void(pool_options&)> mutate;
};

TEST(PoolOptionsTest, EveryBadFieldIsNamed) {
  const std::vector<bad_case> cases = {
      {"name", [](pool_options& o) { o.name = ""; }},
      {"max_size", [](pool_options& o) { o.max_size = 0; }},
      {"max_size", [](pool_options& o) { o.max_size = max_pool_size + 1; }},
      {"min_idle", [](pool_options& o) { o.min_idle = o.max_size + 1; }},
      {"acquire_timeout", [](pool_options& o) { o.acquire_timeout = 0ms; }},
      {"acquire_timeout", [](pool_options& o) { o.acquire_timeout = -5ms; }},
      {"creation_backoff_initial", [](pool_options& o) { o.creation_backoff_initial = 0ms; }},
      {"creation_backoff_max", [](pool_options& o) {
         o.creation_backoff_initial = 100ms;
         o.creation_backoff_max = 99ms;
       }},
      {"breaker_threshold", [](pool_options& o) { o.breaker_threshold = max_breaker_threshold + 1; }},
      {"breaker_window", [](pool_options& o) { o.breaker_window = 0ms; }},
      {"breaker_window", [](pool_options& o) { o.breaker_window = -1ms; }},
      {"breaker_recovery", [](pool_options& o) { o.breaker_recovery = 0ms; }},
      {"breaker_recovery_max", [](pool_options& o) {
         o.breaker_recovery = 2s;
         o.breaker_recovery_max = 1999ms;
       }},
      {"startup", [](pool_options& o) { o.startup = static_cast<startup_mode>(7); }},
      {"on_unwind", [](pool_options& o) { o.on_unwind = static_cast<unwind_policy>(9); }},
      {"handoff_after", [](pool_options& o) { o.handoff_after = -1us; }},
      {"reaper_period", [](pool_options& o) { o.reaper_period = 0ms; }},
      {"validation_interval", [](pool_options& o) { o.validation_interval = -1ms; }},
      {"validation_timeout", [](pool_options& o) { o.validation_timeout = 0ms; }},
      {"validation_bypass", [](pool_options& o) { o.validation_bypass = -1ms; }},
      {"idle_timeout", [](pool_options& o) { o.idle_timeout = -1ms; }},
      {"max_lifetime", [](pool_options& o) { o.max_lifetime = -1ms; }},
      {"lifetime_jitter", [](pool_options& o) { o.lifetime_jitter = -1ms; }},
      {"lifetime_jitter", [](pool_options& o) {
         o.max_lifetime = 10s;
         o.lifetime_jitter = 10s;
       }},
      {"keepalive_interval", [](pool_options& o) { o.keepalive_interval = -1ms; }},
      {"leak_threshold", [](pool_options& o) { o.leak_threshold = -1ms; }},
      // Issue 6: above max_option_duration, deadline arithmetic overflows.
      {"creation_backoff_initial", [](pool_options& o) {
         o.creation_backoff_initial = o.creation_backoff_max = std::chrono::milliseconds::max();
       }},
      {"creation_backoff_initial", [](pool_options& o) { o.creation_backoff_initial = over_max_ms; }},
      {"creation_backoff_max", [](pool_options& o) { o.creation_backoff_max = std::chrono::milliseconds::max(); }},
      {"breaker_window", [](pool_options& o) { o.breaker_window = std::chrono::milliseconds::max(); }},
      {"breaker_window", [](pool_options& o) { o.breaker_window = over_max_ms; }},
      {"breaker_recovery", [](pool_options& o) {
         o.breaker_recovery = o.breaker_recovery_max = std::chrono::milliseconds::max();
       }},
      {"breaker_recovery", [](pool_options& o) { o.breaker_recovery = over_max_ms; }},
      {"breaker_recovery_max", [](pool_options& o) { o.breaker_recovery_max = over_max_ms; }},
      {"handoff_after", [](pool_options& o) { o.handoff_after = std::chrono::microseconds::max(); }},
      {"handoff_after", [](pool_options& o) { o.handoff_after = max_option_duration + 1us; }},
      {"reaper_period", [](pool_options& o) { o.reaper_period = std::chrono::milliseconds::max(); }},
      {"reaper_period", [](pool_options& o) { o.reaper_period = over_max_ms; }},
      {"validation_interval", [](pool_options& o) { o.validation_interval = std::chrono::milliseconds::max(); }},
      {"validation_timeout", [](pool_options& o) { o.validation_timeout = std::chrono::milliseconds::max(); }},
      {"validation_bypass", [](pool_options& o) { o.validation_bypass = std::chrono::milliseconds::max(); }},
      {"idle_timeout", [](pool_options& o) { o.idle_timeout = std::chrono::milliseconds::max(); }},
      {"max_lifetime", [](pool_options& o) { o.max_lifetime = std::chrono::milliseconds::max(); }},
      {"max_lifetime", [](pool_options& o) { o.max_lifetime = over_max_ms; }},
      {"lifetime_jitter", [](pool_options& o) { o.lifetime_jitter = std::chrono::milliseconds::max(); }},
      {"lifetime_jitter", [](pool_options& o) {
         o.max_lifetime = 0ms;  // jitter is moot without a lifetime, but still bounded
         o.lifetime_jitter = over_max_ms;
       }},
      {"keepalive_interval", [](pool_options& o) { o.keepalive_interval = std::chrono::milliseconds::max(); }},
      {"leak_threshold", [](pool_options& o) { o.leak_threshold = std::chrono::milliseconds::max(); }},
      // Issue 11: resizing and adaptive min_idle.
      {"max_size_limit", [](pool_options& o) { o.max_size_limit = o.max_size - 1; }},
      {"max_size_limit", [](pool_options& o) { o.max_size_limit = max_pool_size + 1; }},
      {"min_idle_ceiling", [](pool_options& o) {
         o.adaptive_min_idle = true;
         o.min_idle_ceiling = o.max_size + 1;  // above the slots (no max_size_limit)
       }},
      {"min_idle_ceiling", [](pool_options& o) {
         o.adaptive_min_idle = true;
         o.max_size_limit = 20;
         o.min_idle_ceiling = 21;
       }},
      {"min_idle_floor", [](pool_options& o) {
         o.adaptive_min_idle = true;
         o.min_idle_floor = 4;
         o.min_idle_ceiling = 3;
       }},
      {"min_idle", [](pool_options& o) {
         o.adaptive_min_idle = true;
         o.min_idle = 1;
         o.min_idle_floor = 2;
       }},
      {"min_idle", [](pool_options& o) {
         o.adaptive_min_idle = true;
         o.min_idle = 3;
         o.min_idle_ceiling = 2;
       }},
      {"adaptive_window", [](pool_options& o) {
         o.adaptive_min_idle = true;
         o.adaptive_window = o.reaper_period - 1ms;
       }},
      {"adaptive_window", [](pool_options& o) {
         o.adaptive_min_idle = true;
         o.adaptive_window = over_max_ms;
       }},
  };
  for (const auto& c : cases) {
    pool_options o;
    c.mutate(o);
    auto err = validate(o);
    ASSERT_TRUE(err.has_value()) << c.field;
    EXPECT_EQ(err->field(), c.field);
    EXPECT_NE(std::string(err->what()).find("pool_options." + c.field), std::string::npos) << err->what();
  }
}

// The pool name is exported as a JSON key (stats_by_name) and a Prometheus
// label, which hold UTF-8 only: "bad\xFF" and "bad\xFE" both became
// "bad\uFFFD", two series with one label set (review; Prometheus drops one).
TEST(PoolOptionsTest, APoolNameThatIsNotUtf8IsRefusedBug) {
  pool_options o;
  for (const char* bad : {"bad\xFF", "caf\xC3", "\xED\xA0\x80"}) {
    o.name = bad;
    const auto e = validate(o);
    ASSERT_TRUE(e.has_value()) << bad;
    EXPECT_EQ(e->field(), "name");
    EXPECT_NE(std::string(e->what()).find("must be UTF-8"), std::string::npos) << e->what();
  }
  o.name = "caf\xC3\xA9 \xE2\x9C\x93";  // "café ✓": fine
  EXPECT_FALSE(validate(o).has_value());
  router_options r;
  r.name = "r\xFF";
  ASSERT_TRUE(validate(r).has_value());
  EXPECT_EQ(validate(r)->field(), "name");
}

TEST(PoolOptionsTest, BoundaryValuesAreAccepted) {
  pool_options o;
  o.max_size = max_pool_size;
  o.min_idle = 0;
  EXPECT_FALSE(validate(o).has_value());
  o.max_size = 1;
  o.min_idle = 1;
  o.creation_backoff_initial = o.creation_backoff_max = 1ms;
  EXPECT_FALSE(validate(o).has_value());
  // 0 turns the breaker off; the smallest window and intervals; a cap equal
  // to the first interval.
  o.breaker_threshold = 0;
  o.breaker_window = o.breaker_recovery = o.breaker_recovery_max = 1ms;
  EXPECT_FALSE(validate(o).has_value());
  // Zero disables each lifecycle policy; a jitter without a lifetime is moot.
  o.validation_interval = o.idle_timeout = o.max_lifetime = o.keepalive_interval = 0ms;
  o.lifetime_jitter = 1h;
  EXPECT_FALSE(validate(o).has_value());
  // Issue 6: every bounded duration exactly at max_option_duration, and an
  // acquire_timeout at milliseconds::max() (it saturates to no deadline).
  pool_options m;
  m.acquire_timeout = std::chrono::milliseconds::max();
  m.creation_backoff_initial = m.creation_backoff_max = max_option_duration;
  m.handoff_after = max_option_duration;
  m.breaker_threshold = max_breaker_threshold;
  m.breaker_window = m.breaker_recovery = m.breaker_recovery_max = max_option_duration;
  m.reaper_period = m.validation_interval = m.validation_timeout = m.validation_bypass = max_option_duration;
  m.idle_timeout = m.max_lifetime = m.keepalive_interval = m.leak_threshold = max_option_duration;
  m.lifetime_jitter = max_option_duration - 1ms;
  const auto err = validate(m);
  EXPECT_FALSE(err.has_value()) << err->what();
  // The jitter at the bound too, without a lifetime.
  m.max_lifetime = 0ms;
  m.lifetime_jitter = max_option_duration;
  EXPECT_FALSE(validate(m).has_value());
}

// Issue 11: the slot array is max_size_limit long (0: max_size), and the
// adaptive fields are checked only when the mode is on.
TEST(PoolOptionsTest, MaxSizeLimitAndAdaptiveBoundsAcceptTheirRanges) {
  pool_options o;
  EXPECT_EQ(slot_capacity(o), o.max_size) << "default: no room to grow, no extra slots";
  o.max_size_limit = o.max_size;
  EXPECT_FALSE(validate(o).has_value());
  o.max_size_limit = max_pool_size;
  EXPECT_FALSE(validate(o).has_value());
  EXPECT_EQ(slot_capacity(o), max_pool_size);
  o.max_size_limit = 40;
  o.adaptive_min_idle = true;
  o.min_idle_floor = 1;
  o.min_idle_ceiling = 0;  // read as max_size_limit
  EXPECT_EQ(effective_min_idle_ceiling(o), 40u);
  EXPECT_FALSE(validate(o).has_value());
  o.min_idle_ceiling = 40;  // above max_size (10): clamped to it at run time
  EXPECT_FALSE(validate(o).has_value());
  o.adaptive_window = o.reaper_period;
  EXPECT_FALSE(validate(o).has_value());
  pool_options off;  // mode off: the bounds are not looked at
  off.min_idle_floor = 5;
  off.min_idle_ceiling = 2;
  EXPECT_FALSE(validate(off).has_value());
}

TEST(PoolSizingTest, EveryBadFieldIsNamedAgainstTheOptions) {
  pool_options o;
  o.max_size = 10;
  o.max_size_limit = 16;
  struct sizing_case {
    std::string field;
    pool_sizing s;
  };
  const std::vector<sizing_case> cases = {
      {"max_size", {.max_size = 0, .min_idle = 0}},
      {"max_size", {.max_size = 17, .min_idle = 1}},
      {"min_idle", {.max_size = 4, .min_idle = 5}},
  };
  for (const auto& c : cases) {
    auto err = validate(c.s, o);
    ASSERT_TRUE(err.has_value()) << c.field;
    EXPECT_EQ(err->field(), c.field);
    EXPECT_NE(std::string(err->what()).find("pool_sizing." + c.field), std::string::npos) << err->what();
  }
  EXPECT_FALSE(validate(pool_sizing{.max_size = 16, .min_idle = 16}, o).has_value());
  EXPECT_FALSE(validate(pool_sizing{.max_size = 1, .min_idle = 0}, o).has_value());
  o.max_size_limit = 0;  // cannot grow: the message says how to allow it
  auto err = validate(pool_sizing{.max_size = 11, .min_idle = 1}, o);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(std::string(err->what()).find("max_size_limit"), std::string::npos) << err->what();
  EXPECT_FALSE(validate(pool_sizing{.max_size = 3, .min_idle = 1}, o).has_value()) << "shrinking needs no limit";
  o.adaptive_min_idle = true;
  o.min_idle_floor = 2;
  o.min_idle_ceiling = 6;
  o.min_idle = 2;
  err = validate(pool_sizing{.max_size = 8, .min_idle = 7}, o);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->field(), "min_idle");
  err = validate(pool_sizing{.max_size = 8, .min_idle = 1}, o);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->field(), "min_idle");
  EXPECT_FALSE(validate(pool_sizing{.max_size = 8, .min_idle = 6}, o).has_value());
}

// The message gives the bound and the value with its unit.
TEST(PoolOptionsTest, UpperBoundMessageSaysBoundAndValue) {
  pool_options o;
  o.idle_timeout = max_option_duration + 1ms;
  auto err = validate(o);
  ASSERT_TRUE(err.has_value());
  EXPECT_STREQ(err->what(), "berth: invalid pool_options.idle_timeout: must be <= 87600 h, got 315360000001 ms");
  o = pool_options{};
  o.handoff_after = std::chrono::microseconds::max();
  err = validate(o);
  ASSERT_TRUE(err.has_value());
  EXPECT_STREQ(err->what(),
               "berth: invalid pool_options.handoff_after: must be <= 87600 h, got 9223372036854775807 us");
  EXPECT_EQ(max_option_duration, std::chrono::hours{87'600});
}

}  // namespace
}  // namespace berth
