// counters.cpp: statistics arithmetic; see counters.hpp.
#include <berth/detail/counters.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>

namespace berth::detail {

void pool_counters::read_into(pool_stats& s) const noexcept {
  // Relaxed: statistics, see the struct.
  s.created = created.load(std::memory_order_relaxed);
  s.destroyed = destroyed.load(std::memory_order_relaxed);
  s.creation_failures = creation_failures.load(std::memory_order_relaxed);
  s.timeouts = timeouts.load(std::memory_order_relaxed);
  s.discarded = discarded.load(std::memory_order_relaxed);
  s.unwound = unwound.load(std::memory_order_relaxed);
  s.reaper_passes = reaper_passes.load(std::memory_order_relaxed);
  s.validation_failures = validation_failures.load(std::memory_order_relaxed);
  s.acquire_validations = acquire_validations.load(std::memory_order_relaxed);
  s.breaker_rejected = breaker_rejected.load(std::memory_order_relaxed);
}

void wait_histogram::record(std::chrono::nanoseconds waited) noexcept {
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(waited.count(), 0));
  ++buckets_[std::min<std::size_t>(static_cast<std::size_t>(std::bit_width(ns)), buckets_.size() - 1)];
  ++count_;
}

wait_percentiles wait_histogram::percentiles(std::uint64_t zero_waits) const noexcept {
  std::array<std::uint64_t, 64> hist = buckets_;
  hist[0] += zero_waits;
  std::uint64_t n = 0;
  for (auto h : hist) n += h;
  auto bound = [](std::size_t b) {  // bucket 63's bound 2^63 is past nanoseconds::max()
    return b == 0 ? std::chrono::nanoseconds{0}
                  : b >= 63 ? std::chrono::nanoseconds::max() : std::chrono::nanoseconds{std::int64_t{1} << b};
  };
  auto quantile = [&](double q) {
    if (n == 0) return std::chrono::nanoseconds{0};
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < hist.size(); ++b)
      if ((seen += hist[b]) >= rank) return bound(b);
    return bound(hist.size() - 1);
  };
  wait_percentiles w;
  w.p50 = quantile(0.50);
  w.p90 = quantile(0.90);
  w.p99 = quantile(0.99);
  w.p999 = quantile(0.999);
  for (std::size_t b = hist.size(); b-- > 0;)
    if (hist[b] != 0) {
      w.max = bound(b);
      break;
    }
  return w;
}

}  // namespace berth::detail
