// Issue 6: durations at their limits overflowed (signed overflow in
// std::chrono arithmetic), so "wait forever" became "time out at once". These
// tests run under the asan preset's UBSan with -fno-sanitize-recover: any
// overflow left in the helpers aborts the test.
#include <berth/detail/duration.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <string>
#include <vector>

namespace berth::detail {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration;
using std::chrono::nanoseconds;
using tp = clock_source::time_point;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr auto ns_max = nanoseconds::max();
constexpr auto ns_min = nanoseconds::min();

// Compile-time evaluation rejects undefined behaviour too.
static_assert(saturating_ns(std::chrono::hours::max()) == ns_max);
static_assert(saturating_ns(std::chrono::hours::min()) == ns_min);
static_assert(saturating_ns(duration<double>(inf)) == ns_max);
static_assert(saturating_ns(duration<double>(nan)) == 0ns);
static_assert(saturating_ns(duration<long long, std::pico>::min()) == nanoseconds{-9'223'372'036'854'775});
static_assert(deadline_after(tp::max() - 1ns, 2ns) == tp::max());
static_assert(saturating_sub(tp::min(), tp::max()) == ns_min);

struct row {
  std::string what;
  nanoseconds got;
  nanoseconds want;
};

// Each type at max(), min(), zero, -1, +1 and an ordinary value. Run at
// -O0 (the asan preset is Debug), so these calls execute at run time.
TEST(SaturatingNsTest, EveryRepAndPeriodAtItsLimits) {
  using ull_ms = duration<unsigned long long, std::milli>;
  using i32_s = duration<std::int32_t>;
  using dbl_s = duration<double>;
  using pico = duration<long long, std::pico>;
  using std::chrono::hours;
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  using std::chrono::seconds;
  using steady = std::chrono::steady_clock::duration;
  using wide = duration<long long, std::ratio<3'000'000'019, 7'000'000'000'000'000'001>>;
  using huge = duration<long long, std::ratio<9'000'000'000>>;
  const std::vector<row> rows = {
      {"ns max", saturating_ns(nanoseconds::max()), ns_max},
      {"ns min", saturating_ns(nanoseconds::min()), ns_min},
      {"ns zero", saturating_ns(nanoseconds::zero()), 0ns},
      {"ns -1", saturating_ns(-1ns), -1ns},
      {"ns +1", saturating_ns(1ns), 1ns},
      {"ns normal", saturating_ns(123'456'789ns), 123'456'789ns},

      {"us max", saturating_ns(microseconds::max()), ns_max},
      {"us min", saturating_ns(microseconds::min()), ns_min},
      {"us zero", saturating_ns(microseconds::zero()), 0ns},
      {"us -1", saturating_ns(-1us), -1000ns},
      {"us +1", saturating_ns(1us), 1000ns},
      {"us normal", saturating_ns(1500us), 1'500'000ns},

      {"ms max", saturating_ns(milliseconds::max()), ns_max},
      {"ms min", saturating_ns(milliseconds::min()), ns_min},
      {"ms zero", saturating_ns(milliseconds::zero()), 0ns},
      {"ms -1", saturating_ns(-1ms), -1'000'000ns},
      {"ms +1", saturating_ns(1ms), 1'000'000ns},
      {"ms normal", saturating_ns(30'000ms), 30s},

      {"s max", saturating_ns(seconds::max()), ns_max},
      {"s min", saturating_ns(seconds::min()), ns_min},
      {"s zero", saturating_ns(seconds::zero()), 0ns},
      {"s -1", saturating_ns(-1s), -1'000'000'000ns},
      {"s +1", saturating_ns(1s), 1'000'000'000ns},
      {"s normal", saturating_ns(-90s), -90'000'000'000ns},

      {"min max", saturating_ns(minutes::max()), ns_max},
      {"min min", saturating_ns(minutes::min()), ns_min},
      {"min zero", saturating_ns(minutes::zero()), 0ns},
      {"min -1", saturating_ns(-1min), -60s},
      {"min +1", saturating_ns(1min), 60s},
      {"min normal", saturating_ns(10min), 600s},

      {"h max", saturating_ns(hours::max()), ns_max},
      {"h min", saturating_ns(hours::min()), ns_min},
      {"h zero", saturating_ns(hours::zero()), 0ns},
      {"h -1", saturating_ns(-1h), -3600s},
      {"h +1", saturating_ns(1h), 3600s},
      {"h normal", saturating_ns(hours{24 * 365 * 10}), nanoseconds{315'360'000'000'000'000}},

      {"steady max", saturating_ns(steady::max()), ns_max},
      {"steady min", saturating_ns(steady::min()), ns_min},
      {"steady zero", saturating_ns(steady::zero()), 0ns},
      {"steady -1", saturating_ns(steady{-1}), -1ns},
      {"steady +1", saturating_ns(steady{1}), 1ns},
      {"steady normal", saturating_ns(steady{42}), 42ns},

      // Unsigned: max() is above nanoseconds::max(); min() is zero and there
      // is no -1.
      {"ull ms max", saturating_ns(ull_ms::max()), ns_max},
      {"ull ms min", saturating_ns(ull_ms::min()), 0ns},
      {"ull ms zero", saturating_ns(ull_ms::zero()), 0ns},
      {"ull ms +1", saturating_ns(ull_ms{1}), 1ms},
      {"ull ms normal", saturating_ns(ull_ms{9'223'372'036'854}), nanoseconds{9'223'372'036'854'000'000}},
      {"ull ms first saturated", saturating_ns(ull_ms{9'223'372'036'855}), ns_max},

      // 32-bit seconds: the whole range fits in nanoseconds.
      {"i32 s max", saturating_ns(i32_s::max()), nanoseconds{2'147'483'647'000'000'000}},
      {"i32 s min", saturating_ns(i32_s::min()), nanoseconds{-2'147'483'648'000'000'000}},
      {"i32 s zero", saturating_ns(i32_s::zero()), 0ns},
      {"i32 s -1", saturating_ns(i32_s{-1}), -1s},
      {"i32 s +1", saturating_ns(i32_s{1}), 1s},
      {"i32 s normal", saturating_ns(i32_s{86'400}), 24h},

      // Floating point: max() is DBL_MAX, min() is -DBL_MAX.
      {"double max", saturating_ns(dbl_s::max()), ns_max},
      {"double min", saturating_ns(dbl_s::min()), ns_min},
      {"double zero", saturating_ns(dbl_s::zero()), 0ns},
      {"double -1", saturating_ns(dbl_s{-1.0}), -1s},
      {"double +1", saturating_ns(dbl_s{1.0}), 1s},
      {"double normal", saturating_ns(dbl_s{1.5}), 1'500'000'000ns},
      {"double inf", saturating_ns(dbl_s{inf}), ns_max},
      {"double -inf", saturating_ns(dbl_s{-inf}), ns_min},
      {"double NaN", saturating_ns(dbl_s{nan}), 0ns},
      {"double 1e300", saturating_ns(dbl_s{1e300}), ns_max},
      {"double -1e300", saturating_ns(dbl_s{-1e300}), ns_min},
      {"double 2^63 ns", saturating_ns(duration<double, std::nano>{9'223'372'036'854'775'808.0}), ns_max},
      {"double -2^63 ns", saturating_ns(duration<double, std::nano>{-9'223'372'036'854'775'808.0}), ns_min},
      {"double truncates", saturating_ns(duration<double, std::nano>{-2.9}), -2ns},

      // Finer than nanoseconds: divides, truncating toward zero as
      // duration_cast does; never saturates.
      {"pico max", saturating_ns(pico::max()), nanoseconds{9'223'372'036'854'775}},
      {"pico min", saturating_ns(pico::min()), nanoseconds{-9'223'372'036'854'775}},
      {"pico zero", saturating_ns(pico::zero()), 0ns},
      {"pico -1", saturating_ns(pico{-1}), 0ns},
      {"pico +1", saturating_ns(pico{1}), 0ns},
      {"pico normal", saturating_ns(pico{-1'500}), -1ns},

      // Ratios with both a numerator and a denominator besides 1.
      {"thirds of a second", saturating_ns(duration<long long, std::ratio<1, 3>>{2}), 666'666'666ns},
      {"thirds max", saturating_ns(duration<long long, std::ratio<1, 3>>::max()), ns_max},
      {"thirds min", saturating_ns(duration<long long, std::ratio<1, 3>>::min()), ns_min},
      {"thirds last exact", saturating_ns(duration<long long, std::ratio<1, 3>>{27'670'116'110}),
       nanoseconds{9'223'372'036'666'666'666}},
      // 3.000000019e18 / (7e18 + 1) ns per tick: count * num does not fit
      // in 64 bits, nor does num * den (values checked with Python ints).
      {"wide ratio", saturating_ns(wide{7}), 3ns},
      {"wide ratio max", saturating_ns(wide::max()), nanoseconds{3'952'873'755'115'485'159}},
      {"wide ratio min", saturating_ns(wide::min()), nanoseconds{-3'952'873'755'115'485'160}},
      // 9e18 ns per tick: one tick fits, two saturate.
      {"huge tick", saturating_ns(huge{1}), nanoseconds{9'000'000'000'000'000'000}},
      {"two huge ticks", saturating_ns(huge{2}), ns_max},
      {"minus two huge ticks", saturating_ns(huge{-2}), ns_min},
  };
  for (const row& r : rows) EXPECT_EQ(r.got.count(), r.want.count()) << r.what;
}

// The last whole unit that fits converts exactly; one more saturates. Both
// signs, for every integer period coarser than a nanosecond.
template <class D>
void expect_saturates_just_past_the_range() {
  using ratio = std::ratio_divide<typename D::period, std::nano>;
  static_assert(ratio::den == 1);
  const auto k = std::numeric_limits<std::int64_t>::max() / ratio::num;
  EXPECT_EQ(saturating_ns(D{k}).count(), k * ratio::num);
  EXPECT_EQ(saturating_ns(D{k + 1}), ns_max);
  EXPECT_EQ(saturating_ns(D{-k}).count(), -k * ratio::num);
  EXPECT_EQ(saturating_ns(D{-k - 1}), ns_min);
}

TEST(SaturatingNsTest, SaturatesExactlyWhereTheRangeEnds) {
  expect_saturates_just_past_the_range<std::chrono::microseconds>();
  expect_saturates_just_past_the_range<std::chrono::milliseconds>();
  expect_saturates_just_past_the_range<std::chrono::seconds>();
  expect_saturates_just_past_the_range<std::chrono::minutes>();
  expect_saturates_just_past_the_range<std::chrono::hours>();
  expect_saturates_just_past_the_range<duration<std::int64_t, std::ratio<86'400>>>();
}

TEST(SaturatingNsTest, AgreesWithDurationCastInRange) {
  using thirds = duration<long long, std::ratio<1, 3>>;
  using pico = duration<long long, std::pico>;
  // duration_cast<nanoseconds>(thirds{v}) multiplies v by 10^9 before
  // dividing by 3: the values stay below 9.2e9 so that it does not overflow.
  for (long long v : {-9'000'000'001LL, -4LL, -3LL, -2LL, -1LL, 0LL, 1LL, 2LL, 3LL, 4LL, 9'000'000'001LL}) {
    EXPECT_EQ(saturating_ns(thirds{v}), std::chrono::duration_cast<nanoseconds>(thirds{v})) << v;
    EXPECT_EQ(saturating_ns(pico{v}), std::chrono::duration_cast<nanoseconds>(pico{v})) << v;
    EXPECT_EQ(saturating_ns(std::chrono::milliseconds{v}),
              std::chrono::duration_cast<nanoseconds>(std::chrono::milliseconds{v}))
        << v;
  }
}

struct tp_row {
  std::string what;
  tp got;
  tp want;
};

constexpr tp at(nanoseconds d) { return tp{d}; }

TEST(DeadlineTest, DeadlineAfterTriesOnceForNonPositiveAndSaturatesToNoDeadline) {
  const tp now = at(1h);
  const std::vector<tp_row> rows = {
      {"zero: try once", deadline_after(now, 0ns), now},
      {"-1: try once", deadline_after(now, -1ns), now},
      {"min: try once", deadline_after(now, ns_min), now},
      {"min at time_point::min()", deadline_after(tp::min(), ns_min), tp::min()},
      {"+1", deadline_after(now, 1ns), now + 1ns},
      {"normal", deadline_after(now, 30s), now + 30s},
      {"max: no deadline", deadline_after(now, ns_max), tp::max()},
      {"exactly max", deadline_after(tp::max() - 1ns, 1ns), tp::max()},
      {"one past max", deadline_after(tp::max() - 1ns, 2ns), tp::max()},
      {"at max", deadline_after(tp::max(), 1ns), tp::max()},
      {"from the epoch", deadline_after(at(0ns), ns_max), tp::max()},
      {"from min", deadline_after(tp::min(), ns_max), at(-1ns)},
  };
  for (const tp_row& r : rows)
    EXPECT_EQ(r.got.time_since_epoch().count(), r.want.time_since_epoch().count()) << r.what;
  EXPECT_TRUE(no_deadline(deadline_after(now, saturating_ns(std::chrono::hours::max()))));
  EXPECT_FALSE(no_deadline(deadline_after(now, 1h)));
}

TEST(DeadlineTest, SaturatingAddClampsBothEnds) {
  const std::vector<tp_row> rows = {
      {"max + 1", saturating_add(tp::max(), 1ns), tp::max()},
      {"max + max", saturating_add(tp::max(), ns_max), tp::max()},
      {"max + min", saturating_add(tp::max(), ns_min), at(-1ns)},
      {"max - 1", saturating_add(tp::max(), -1ns), tp::max() - 1ns},
      {"min - 1", saturating_add(tp::min(), -1ns), tp::min()},
      {"min + min", saturating_add(tp::min(), ns_min), tp::min()},
      {"min + max", saturating_add(tp::min(), ns_max), at(-1ns)},
      {"min + 1", saturating_add(tp::min(), 1ns), tp::min() + 1ns},
      {"epoch + min", saturating_add(at(0ns), ns_min), tp::min()},
      {"-1 + min", saturating_add(at(-1ns), ns_min), tp::min()},
      {"1 + max", saturating_add(at(1ns), ns_max), tp::max()},
      {"epoch + max", saturating_add(at(0ns), ns_max), tp::max()},
      {"normal", saturating_add(at(1h), -30min), at(30min)},
  };
  for (const tp_row& r : rows)
    EXPECT_EQ(r.got.time_since_epoch().count(), r.want.time_since_epoch().count()) << r.what;
}

TEST(DeadlineTest, SaturatingSubClampsBothEnds) {
  const std::vector<row> rows = {
      {"max - min", saturating_sub(tp::max(), tp::min()), ns_max},
      {"min - max", saturating_sub(tp::min(), tp::max()), ns_min},
      {"min - 1", saturating_sub(tp::min(), at(1ns)), ns_min},
      {"min - 0", saturating_sub(tp::min(), at(0ns)), ns_min},
      {"0 - min", saturating_sub(at(0ns), tp::min()), ns_max},
      {"-1 - min", saturating_sub(at(-1ns), tp::min()), ns_max},
      {"max - 0", saturating_sub(tp::max(), at(0ns)), ns_max},
      {"max - -1", saturating_sub(tp::max(), at(-1ns)), ns_max},
      {"0 - max", saturating_sub(at(0ns), tp::max()), ns_min + 1ns},
      {"-2 - max", saturating_sub(at(-2ns), tp::max()), ns_min},
      {"max - max", saturating_sub(tp::max(), tp::max()), 0ns},
      {"min - min", saturating_sub(tp::min(), tp::min()), 0ns},
      {"normal", saturating_sub(at(1h), at(30min)), 30min},
      {"normal negative", saturating_sub(at(30min), at(1h)), -30min},
  };
  for (const row& r : rows) EXPECT_EQ(r.got.count(), r.want.count()) << r.what;
}

TEST(DeadlineTest, NoDeadlineIsTimePointMax) {
  EXPECT_TRUE(no_deadline(tp::max()));
  EXPECT_FALSE(no_deadline(tp::max() - 1ns));
  EXPECT_FALSE(no_deadline(tp::min()));
  EXPECT_FALSE(no_deadline(at(1h)));
}

}  // namespace
}  // namespace berth::detail
