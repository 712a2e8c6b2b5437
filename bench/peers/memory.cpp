// memory.cpp: berth_peer_memory, what a berth slot costs beyond its
// connection (issue 9's memory figures). Prints one JSON line on stdout:
//
//   connection_bytes          sizeof(null_connection), the connection itself
//   slot_meta_bytes           sizeof(cache_padded<slot_meta>): the slot word and
//                             its metadata on their own 128-byte line pair
//                             (core/include/berth/detail/slot.hpp)
//   connection_wrapper_bytes  sizeof(std::optional<C>) - sizeof(C): how
//                             pool<A> stores each connection (pool.hpp)
//   ring_cell_bytes           heap bytes per cell of berth's idle ring
//                             (detail/idle_ring.hpp)
//   ring_bytes_per_slot       heap bytes of an idle ring of 2 x 10,000 cells
//                             (rounded up to a power of two, as pool_core.cpp
//                             sizes the pool's ring), per connection
//   heap_bytes_per_slot_beyond_connection
//                             measured: (heap allocated by constructing a pool
//                             of 10,000 connections - that of a pool of 1)
//                             / 9,999 - connection_bytes. Everything per slot,
//                             whatever its source
//   other_bytes_per_slot      the measured figure minus slot_meta, wrapper and
//                             ring: per-slot state kept elsewhere (the
//                             reaper's per-slot view, reaper.hpp, 32 bytes
//                             when this was written)
//   rss_before_kb, rss_after_kb
//                             VmRSS (/proc/self/status) before and after
//                             constructing the 10,000-connection pool (all
//                             opened: min_idle = max_size, fail_fast)
//   rss_delta_bytes_per_connection
//                             (rss_after - rss_before) / 10,000, connections
//                             included; pages touched by the pool's threads
//                             (their stacks) are in it too
//
// Heap bytes are counted by a replaced global operator new (gross bytes
// allocated while the counter is on, frees ignored: construction frees next
// to nothing, and what it does cancels in the difference of two pools).
//
// Synchronization: the counter is a relaxed atomic: the pool's own threads
// may allocate; the main thread reads it after the constructor returned
// (its threads' allocations at start-up, if any, are constant per pool and
// cancel in the difference).
#include "berth_options.hpp"
#include "null_adapter.hpp"

#include <berth/detail/cache_padded.hpp>
#include <berth/detail/idle_ring.hpp>
#include <berth/detail/slot.hpp>
#include <berth/pool.hpp>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <optional>
#include <string>

namespace {
std::atomic<std::size_t> heap_bytes{0};  // relaxed: a statistic, read after the fact
}  // namespace

// GCC 12 pairs the replaced operator delete's free() with operator new at
// -O2 and warns of a mismatch; the replacement pair is malloc/free by design.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  heap_bytes.fetch_add(n, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al) {
  heap_bytes.fetch_add(n, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(al);
  const std::size_t size = n == 0 ? a : (n + a - 1) / a * a;  // aligned_alloc wants a multiple of a
  if (void* p = std::aligned_alloc(a, size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using berth::bench::null_adapter;
using berth::bench::null_connection;

constexpr std::size_t big = 10'000;

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

/// Heap bytes allocated by constructing a pool of n connections.
std::size_t pool_heap(std::size_t n) {
  const std::size_t before = heap_bytes.load(std::memory_order_relaxed);
  berth::pool<null_adapter> p{null_adapter{}, berth::bench::peers::prefilled_options("memory", n)};
  return heap_bytes.load(std::memory_order_relaxed) - before;
}

}  // namespace

int main() {
  const std::size_t ring_before = heap_bytes.load(std::memory_order_relaxed);
  std::size_t ring_cells = 0;
  {
    berth::detail::idle_ring ring(2 * big);
    ring_cells = ring.capacity();
  }
  const std::size_t ring_bytes = heap_bytes.load(std::memory_order_relaxed) - ring_before;
  const double ring_per_slot = static_cast<double>(ring_bytes) / static_cast<double>(big);
  const std::size_t meta = sizeof(berth::detail::cache_padded<berth::detail::slot_meta>);
  const std::size_t wrapper = sizeof(std::optional<null_connection>) - sizeof(null_connection);

  const std::size_t one = pool_heap(1);
  const std::size_t many = pool_heap(big);
  const double per_slot = static_cast<double>(many - one) / static_cast<double>(big - 1) -
                          static_cast<double>(sizeof(null_connection));

  const long rss_before = rss_kb();
  long rss_after = 0;
  {
    berth::pool<null_adapter> p{null_adapter{}, berth::bench::peers::prefilled_options("memory", big)};
    rss_after = rss_kb();
  }

  std::printf(
      "{\"pool\":\"berth\",\"what\":\"memory\",\"connections\":%zu,\"connection_bytes\":%zu,"
      "\"slot_meta_bytes\":%zu,\"connection_wrapper_bytes\":%zu,\"ring_cell_bytes\":%zu,"
      "\"ring_bytes_per_slot\":%.1f,\"heap_bytes_per_slot_beyond_connection\":%.1f,"
      "\"other_bytes_per_slot\":%.1f,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
      "\"rss_delta_bytes_per_connection\":%.1f}\n",
      big, sizeof(null_connection), meta, wrapper, ring_bytes / ring_cells, ring_per_slot, per_slot,
      per_slot - static_cast<double>(meta + wrapper) - ring_per_slot, rss_before, rss_after,
      static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(big));
  return 0;
}
