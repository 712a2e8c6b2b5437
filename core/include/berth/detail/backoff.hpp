// backoff.hpp: creation retry delay, a pure function.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace berth::detail {

/// Delay before connection attempt number `failures + 1` after `failures`
/// consecutive failures (failures >= 1): exponential, initial * 2^(failures-1),
/// capped at cap, then "equal jitter": uniformly in [d/2, d] using unit in
/// [0, 1). The jitter spreads reconnect storms of many pools/processes; the
/// lower half bound keeps the backoff meaningful. Thread-safe, pure.
constexpr std::chrono::nanoseconds creation_backoff(std::chrono::nanoseconds initial,
                                                    std::chrono::nanoseconds cap,
                                                    std::uint32_t failures, double unit) noexcept {
  if (failures == 0) return std::chrono::nanoseconds{0};
  std::chrono::nanoseconds d = initial;
  for (std::uint32_t k = 1; k < failures && d < cap; ++k) d *= 2;
  d = std::min(d, cap);
  const auto half = d / 2;
  const auto extra = static_cast<std::int64_t>(static_cast<double>((d - half).count()) * unit);
  return half + std::chrono::nanoseconds{extra};
}

}  // namespace berth::detail
