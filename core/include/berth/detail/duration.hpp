// duration.hpp: overflow-free duration and deadline arithmetic, the one way
// the pool turns a user's duration into a deadline (issue 6).
//
// std::chrono arithmetic is plain integer arithmetic: now + hours::max(),
// duration_cast<nanoseconds>(milliseconds::min()) or a - b across the range
// of a time_point are signed overflow, undefined behaviour that in practice
// wraps a "wait forever" into a deadline in the past. Converting a
// floating-point duration that is inf or out of range is undefined too.
// Everything here saturates instead:
//   saturating_ns(d)          any duration -> nanoseconds, clamped, NaN -> 0
//   deadline_after(now, d)    now + d for d > 0; now for d <= 0 (try once);
//                             time_point::max() ("no deadline") on overflow
//   saturating_add(t, d)      t + d clamped to [time_point::min(), max()]
//   saturating_sub(a, b)      a - b clamped to [nanoseconds::min(), max()]
//   no_deadline(t)            t == time_point::max()
// Convention: time_point::max() means "no deadline" everywhere in the pool;
// waits on it block until notified.
//
// Integer conversion works on magnitudes in std::uintmax_t and multiplies by
// the ratio with a shift-and-subtract loop whose intermediates stay below
// 2 * den, so no ratio (std::pico, hours, ratio<1, 3>, ...) and no count
// overflows. No __int128 (-Wpedantic) and no compiler builtins.
//
// Thread-safety: pure functions. Never block. Never allocate.
#pragma once

#include <berth/clock.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

namespace berth::detail {

// The pool's time_point counts nanoseconds; the helpers below rely on it.
static_assert(std::is_same_v<clock_source::duration, std::chrono::nanoseconds>);
static_assert(std::is_same_v<clock_source::time_point::duration, std::chrono::nanoseconds>);

namespace duration_impl {

using ns_rep = std::chrono::nanoseconds::rep;
static_assert(std::is_same_v<ns_rep, std::int64_t>);
inline constexpr std::uintmax_t ns_max_magnitude = static_cast<std::uintmax_t>(std::numeric_limits<ns_rep>::max());
static_assert(std::numeric_limits<std::uintmax_t>::digits == 64);

/// floor(r * num / den) for r < den, num > 0, den > 0, without overflow:
/// binary long multiplication of r by num, reducing modulo den at each step,
/// so every intermediate stays below 2 * den <= 2^64. The result is < num.
constexpr std::uintmax_t mul_div_below(std::uintmax_t r, std::uintmax_t num, std::uintmax_t den) noexcept {
  std::uintmax_t q = 0;    // quotient so far
  std::uintmax_t rem = 0;  // remainder so far, always < den
  for (int bit = std::numeric_limits<std::uintmax_t>::digits - 1; bit >= 0; --bit) {
    q <<= 1;  // q < num < 2^63 at every step: no overflow
    // rem * 2 < 2 * den; compare with den - rem instead of forming it.
    if (rem >= den - rem) {
      rem -= den - rem;
      q += 1;
    } else {
      rem += rem;
    }
    if ((num >> bit) & 1u) {
      if (rem >= den - r) {  // rem + r >= den, with r < den
        rem -= den - r;
        q += 1;
      } else {
        rem += r;
      }
    }
  }
  return q;
}

/// floor(mag * num / den) clamped to limit.
constexpr std::uintmax_t scale_magnitude(std::uintmax_t mag, std::uintmax_t num, std::uintmax_t den,
                                         std::uintmax_t limit) noexcept {
  const std::uintmax_t whole = mag / den;  // mag = whole * den + part
  const std::uintmax_t part = mag % den;
  if (whole > limit / num) return limit;
  const std::uintmax_t scaled = whole * num;                                  // <= limit
  const std::uintmax_t frac = part == 0 ? 0 : mul_div_below(part, num, den);  // < num
  return frac > limit - scaled ? limit : scaled + frac;
}

}  // namespace duration_impl

/// d in nanoseconds, clamped to [nanoseconds::min(), nanoseconds::max()]
/// instead of overflowing. Any arithmetic Rep (signed or unsigned integers up
/// to 64 bits, floating point) and any Period. Values in range convert as
/// duration_cast does (truncation toward zero); floating-point NaN gives 0,
/// +inf and -inf the bounds. Thread-safe, pure.
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturating_ns(std::chrono::duration<Rep, Period> d) noexcept {
  using std::chrono::nanoseconds;
  using duration_impl::ns_rep;
  using ratio = std::ratio_divide<Period, std::nano>;  // reduced, den > 0
  static_assert(std::is_arithmetic_v<Rep>, "saturating_ns: Rep must be an arithmetic type");
  static_assert(ratio::num > 0, "saturating_ns: Period must be positive");
  const Rep c = d.count();
  if constexpr (std::is_floating_point_v<Rep>) {
    // duration_cast's own formula, in the same common type, then a range
    // check before the one conversion to an integer (out of range is UB).
    using F = std::common_type_t<Rep, double>;
    const F v = static_cast<F>(c) * static_cast<F>(ratio::num) / static_cast<F>(ratio::den);
    if (v != v) return nanoseconds{0};  // NaN
    constexpr F two_pow_63 = static_cast<F>(std::uintmax_t{1} << 63);  // exact in any F
    if (v >= two_pow_63) return nanoseconds::max();
    if (v <= -two_pow_63) return nanoseconds::min();
    return nanoseconds{static_cast<ns_rep>(v)};  // |v| < 2^63: in range
  } else {
    static_assert(std::numeric_limits<Rep>::digits <= 64, "saturating_ns: integer Rep wider than 64 bits");
    // Sign and magnitude, with no comparison or conversion that mixes
    // signedness (std::cmp_less would reject char and bool reps).
    bool negative = false;
    std::uintmax_t mag = 0;
    if constexpr (std::is_signed_v<Rep>) {
      const std::intmax_t s = c;
      negative = s < 0;
      // -(s + 1) + 1: no overflow for intmax_t::min().
      mag = negative ? static_cast<std::uintmax_t>(-(s + 1)) + 1u : static_cast<std::uintmax_t>(s);
    } else {
      mag = static_cast<std::uintmax_t>(c);
    }
    // nanoseconds spans [-2^63, 2^63 - 1].
    const std::uintmax_t limit = duration_impl::ns_max_magnitude + (negative ? 1u : 0u);
    const std::uintmax_t out = duration_impl::scale_magnitude(mag, static_cast<std::uintmax_t>(ratio::num),
                                                              static_cast<std::uintmax_t>(ratio::den), limit);
    if (!negative) return nanoseconds{static_cast<ns_rep>(out)};
    if (out > duration_impl::ns_max_magnitude) return nanoseconds::min();
    return nanoseconds{-static_cast<ns_rep>(out)};
  }
}

/// t + d, clamped to [time_point::min(), time_point::max()]. Either sign of
/// d. Thread-safe, pure.
constexpr clock_source::time_point saturating_add(clock_source::time_point t, std::chrono::nanoseconds d) noexcept {
  using tp = clock_source::time_point;
  using lim = std::numeric_limits<duration_impl::ns_rep>;
  const duration_impl::ns_rep base = t.time_since_epoch().count();
  const duration_impl::ns_rep delta = d.count();
  if (delta > 0 && base > lim::max() - delta) return tp::max();
  if (delta < 0 && base < lim::min() - delta) return tp::min();
  return t + d;
}

/// a - b, clamped to [nanoseconds::min(), nanoseconds::max()]. Use it for an
/// elapsed time that one side may hold at time_point::min() or max().
/// Thread-safe, pure.
constexpr std::chrono::nanoseconds saturating_sub(clock_source::time_point a, clock_source::time_point b) noexcept {
  using std::chrono::nanoseconds;
  using lim = std::numeric_limits<duration_impl::ns_rep>;
  const duration_impl::ns_rep x = a.time_since_epoch().count();
  const duration_impl::ns_rep y = b.time_since_epoch().count();
  if (y < 0 && x > lim::max() + y) return nanoseconds::max();
  if (y > 0 && x < lim::min() + y) return nanoseconds::min();
  return a - b;
}

/// The deadline of a wait of d from now: d <= 0 gives now (already passed:
/// try once, do not wait), otherwise now + d, or time_point::max() ("no
/// deadline") when that would overflow. Thread-safe, pure.
constexpr clock_source::time_point deadline_after(clock_source::time_point now, std::chrono::nanoseconds d) noexcept {
  if (d <= std::chrono::nanoseconds::zero()) return now;
  return saturating_add(now, d);
}

/// True for the "no deadline" value, time_point::max(). Thread-safe, pure.
constexpr bool no_deadline(clock_source::time_point t) noexcept { return t == clock_source::time_point::max(); }

}  // namespace berth::detail
