// backoff.hpp: creation retry delay, a pure function.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace berth::detail {

/// Delay before connection attempt number `failures + 1` after `failures`
/// consecutive failures (failures >= 1): exponential, initial * 2^(failures-1),
/// capped at cap, then "equal jitter": uniformly in [d/2, d] using unit in
/// [0, 1]. The jitter spreads reconnect storms of many pools/processes; the
/// lower half bound keeps the backoff meaningful.
///
/// Overflow-proof for any inputs (issue 6: an overflowing doubling wrapped
/// negative and retried at once, a reconnect storm): the result is always in
/// [0, max(cap, 0)]; doubling saturates at cap and stops after at most 63
/// steps whatever `failures` is; a negative initial counts as 0, a unit
/// outside [0, 1] (or NaN) is clamped, and the jitter's rounding through
/// double never lifts the result above d. Thread-safe, pure.
constexpr std::chrono::nanoseconds creation_backoff(std::chrono::nanoseconds initial,
                                                    std::chrono::nanoseconds cap,
                                                    std::uint32_t failures, double unit) noexcept {
  using std::chrono::nanoseconds;
  if (failures == 0 || cap <= nanoseconds::zero() || initial <= nanoseconds::zero()) return nanoseconds{0};
  nanoseconds d = std::min(initial, cap);
  // d > 0 here, so each doubling at least doubles it: <= 63 iterations.
  for (std::uint32_t k = 1; k < failures && d < cap; ++k) d = d > cap / 2 ? cap : d * 2;
  const nanoseconds half = d / 2;
  const nanoseconds span = d - half;  // > 0
  if (!(unit > 0.0)) unit = 0.0;      // also NaN
  if (unit > 1.0) unit = 1.0;
  // static_cast<double>(span) may round up past span (spans above 2^53 ns):
  // clamp before converting back, so the conversion is in range.
  const double extra = static_cast<double>(span.count()) * unit;
  const double span_d = static_cast<double>(span.count());
  const nanoseconds jitter = extra >= span_d ? span : nanoseconds{static_cast<nanoseconds::rep>(extra)};
  return half + std::min(jitter, span);
}

}  // namespace berth::detail
