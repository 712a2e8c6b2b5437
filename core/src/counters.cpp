// counters.cpp: statistics arithmetic; see counters.hpp.
#include <berth/detail/counters.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

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

namespace {

/// a + b, at most nanoseconds::max() (both >= 0).
std::int64_t add_saturating(std::int64_t a, std::int64_t b) noexcept {
  return a > std::numeric_limits<std::int64_t>::max() - b ? std::numeric_limits<std::int64_t>::max() : a + b;
}

std::int64_t non_negative(std::chrono::nanoseconds d) noexcept { return std::max<std::int64_t>(d.count(), 0); }

}  // namespace

void wait_histogram::record(std::chrono::nanoseconds waited) noexcept {
  ++h_.buckets[duration_histogram::bucket_of(waited)];
  ++h_.count;
  h_.sum = std::chrono::nanoseconds{add_saturating(h_.sum.count(), non_negative(waited))};
}

duration_histogram wait_histogram::histogram(std::uint64_t zero_waits) const noexcept {
  duration_histogram h = h_;
  h.buckets[0] += zero_waits;
  h.count += zero_waits;
  return h;
}

wait_percentiles wait_histogram::percentiles(std::uint64_t zero_waits) const noexcept {
  const duration_histogram h = histogram(zero_waits);
  wait_percentiles w;
  w.p50 = h.quantile(0.50);
  w.p90 = h.quantile(0.90);
  w.p99 = h.quantile(0.99);
  w.p999 = h.quantile(0.999);
  w.max = h.max();
  return w;
}

void atomic_histogram::record(std::chrono::nanoseconds d) noexcept {
  // Relaxed: statistics (see the class).
  buckets_[duration_histogram::bucket_of(d)].fetch_add(1, std::memory_order_relaxed);
  // A sum past nanoseconds::max() (292 years of holds) sticks there: a
  // saturating add in a CAS loop, so it never wraps.
  const std::int64_t v = non_negative(d);
  std::int64_t cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, add_saturating(cur, v), std::memory_order_relaxed)) {
  }
}

duration_histogram atomic_histogram::snapshot() const noexcept {
  duration_histogram h;
  for (std::size_t b = 0; b < h.buckets.size(); ++b) {
    h.buckets[b] = buckets_[b].load(std::memory_order_relaxed);  // relaxed: statistics
    h.count += h.buckets[b];
  }
  h.sum = std::chrono::nanoseconds{sum_.load(std::memory_order_relaxed)};
  return h;
}

duration_histogram sharded_histogram::snapshot() const noexcept {
  duration_histogram h;
  std::int64_t sum = 0;
  for (const auto& shard : shards_) {
    const duration_histogram part = shard.value.snapshot();
    for (std::size_t b = 0; b < h.buckets.size(); ++b) h.buckets[b] += part.buckets[b];
    h.count += part.count;
    sum = add_saturating(sum, part.sum.count());
  }
  h.sum = std::chrono::nanoseconds{sum};
  return h;
}

}  // namespace berth::detail

namespace berth {

std::size_t duration_histogram::bucket_of(std::chrono::nanoseconds ns) noexcept {
  const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns.count(), 0));
  return std::min<std::size_t>(static_cast<std::size_t>(std::bit_width(v)), bucket_count - 1);
}

std::chrono::nanoseconds duration_histogram::upper_bound(std::size_t b) noexcept {
  // bucket 63's bound 2^63 is past nanoseconds::max()
  if (b == 0) return std::chrono::nanoseconds{0};
  if (b >= bucket_count - 1) return std::chrono::nanoseconds::max();
  return std::chrono::nanoseconds{std::int64_t{1} << b};
}

std::chrono::nanoseconds duration_histogram::quantile(double q) const noexcept {
  if (count == 0) return std::chrono::nanoseconds{0};
  q = q >= 0.0 ? std::min(q, 1.0) : 0.0;  // NaN too: the cast below must see [0, 1]
  const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count - 1)) + 1;
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < bucket_count; ++b)
    if ((seen += buckets[b]) >= rank) return upper_bound(b);
  return upper_bound(bucket_count - 1);
}

std::chrono::nanoseconds duration_histogram::max() const noexcept {
  for (std::size_t b = bucket_count; b-- > 0;)
    if (buckets[b] != 0) return upper_bound(b);
  return std::chrono::nanoseconds{0};
}

std::chrono::nanoseconds duration_histogram::mean() const noexcept {
  return count == 0 ? std::chrono::nanoseconds{0}
                    : std::chrono::nanoseconds{sum.count() / static_cast<std::int64_t>(count)};
}

}  // namespace berth
