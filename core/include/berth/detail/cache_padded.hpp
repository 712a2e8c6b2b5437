// cache_padded.hpp: keep a hot atomic alone on its cache-line pair.
//
// 128 bytes, not 64: on x86-64 the L2 adjacent-line prefetcher pulls lines in
// pairs, so two atomics 64 bytes apart still false-share. folly
// (hardware_destructive_interference_size) and crossbeam (CachePadded) use 128.
#pragma once

#include <cstddef>

namespace berth::detail {

inline constexpr std::size_t cache_pair_size = 128;

/// A T aligned and padded to 128 bytes.
/// Thread-safety: that of T.
template <class T>
struct alignas(cache_pair_size) cache_padded {
  T value;
};

static_assert(sizeof(cache_padded<char>) == cache_pair_size);
static_assert(alignof(cache_padded<char>) == cache_pair_size);

}  // namespace berth::detail
