// latency_recorder.cpp: see latency_recorder.hpp (Synchronization: [L1], [L2]).
#include <berth/live/latency_recorder.hpp>

#include <algorithm>
#include <bit>

namespace berth::live {

namespace {

/// Threads get ordinals in order of their first record(); relaxed: only
/// uniqueness matters, and fetch_add gives it.
std::atomic<std::size_t> next_ordinal{0};

std::size_t my_shard() noexcept {
  thread_local const std::size_t ordinal = next_ordinal.fetch_add(1, std::memory_order_relaxed);
  return ordinal % latency_recorder::shard_count;
}

}  // namespace

latency_recorder::latency_recorder() : shards_(std::make_unique<shard[]>(shard_count)) {}

std::size_t latency_recorder::bucket_of(std::uint64_t ns) noexcept {
  if (ns < 16) return static_cast<std::size_t>(ns);
  const auto e = static_cast<std::size_t>(std::bit_width(ns)) - 1;  // 4..63
  const auto sub = static_cast<std::size_t>((ns >> (e - 3)) & 7);
  return 16 + (e - 4) * 8 + sub;
}

std::uint64_t latency_recorder::upper_bound(std::size_t b) noexcept {
  if (b < 16) return b;
  const std::size_t e = (b - 16) / 8 + 4;
  const std::uint64_t sub = (b - 16) % 8;
  const std::uint64_t width = std::uint64_t{1} << (e - 3);
  return ((8 + sub) << (e - 3)) + (width - 1);  // wraps to 2^64 - 1 for the last bucket: its true bound
}

void latency_recorder::record(std::chrono::nanoseconds d) noexcept {
  const std::int64_t ns = std::max<std::int64_t>(d.count(), 0);
  shard& s = shards_[my_shard()];
  // [L1] relaxed: a statistic; see the header.
  s.buckets[bucket_of(static_cast<std::uint64_t>(ns))].fetch_add(1, std::memory_order_relaxed);
  std::int64_t prev = s.max.load(std::memory_order_relaxed);  // [L1]
  while (ns > prev && !s.max.compare_exchange_weak(prev, ns, std::memory_order_relaxed)) {
  }
}

void latency_recorder::read_into(bucket_array& into) const noexcept {
  for (std::size_t k = 0; k < shard_count; ++k)
    for (std::size_t b = 0; b < bucket_count; ++b)
      into[b] += shards_[k].buckets[b].load(std::memory_order_relaxed);  // [L2]
}

std::chrono::nanoseconds latency_recorder::take_max() noexcept {
  std::int64_t m = 0;
  for (std::size_t k = 0; k < shard_count; ++k)
    m = std::max(m, shards_[k].max.exchange(0, std::memory_order_relaxed));  // [L2]
  return std::chrono::nanoseconds{m};
}

latency_summary summarize(const latency_recorder::bucket_array& delta, std::chrono::nanoseconds exact_max) noexcept {
  latency_summary s;
  for (std::uint64_t c : delta) s.count += c;
  if (s.count == 0) return s;
  std::size_t top = 0;
  for (std::size_t b = delta.size(); b-- > 0;)
    if (delta[b] != 0) {
      top = b;
      break;
    }
  const auto bound = [](std::size_t b) {
    const std::uint64_t u = latency_recorder::upper_bound(b);
    constexpr auto limit = static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count());
    return std::chrono::nanoseconds{static_cast<std::int64_t>(std::min(u, limit))};
  };
  s.max = exact_max.count() > 0 ? exact_max : bound(top);
  const auto quantile = [&](double q) {
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(s.count - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < delta.size(); ++b)
      if ((seen += delta[b]) >= rank) return std::min(bound(b), s.max);
    return s.max;
  };
  s.p50 = quantile(0.50);
  s.p99 = quantile(0.99);
  return s;
}

}  // namespace berth::live
