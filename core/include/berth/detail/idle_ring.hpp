// idle_ring.hpp: bounded lock-free MPMC ring of idle slot indices.
//
// Owns: its cells and positions. Never touches: slots (an index is only a
// number here; pool_core leases the slot it names and keeps each index in
// the ring at most once through the slot word's in_ring flag).
//
// Algorithm: Dmitry Vyukov's bounded MPMC queue (1024cores.net, "Bounded
// MPMC queue", 2010): each cell carries a sequence number; a producer claims
// position p by CAS on enqueue_pos when cell[p].seq == p, writes the value and
// sets seq = p + 1; a consumer claims p when seq == p + 1 and sets
// seq = p + capacity. One CAS per operation, no allocation after construction.
//
// Why not moodycamel::ConcurrentQueue as the idle ring: see
// bench/ring_bench.cpp and BENCHMARKS.md. In short, it is not FIFO across
// producers, may allocate on enqueue when its blocks run out, and its
// standalone fences are invisible to ThreadSanitizer, so the pool's
// cross-thread publication would be unverifiable on the TSan-checked path.
//
// Seq is the sequence/position type. The pool uses std::uint64_t (never
// wraps in practice); tests instantiate std::uint8_t so that wrap-around of
// positions and sequence numbers happens within a few hundred operations
// (moodycamel's SmallIndexTraits idea). Comparisons use the signed difference
// of Seq, valid while capacity <= half of Seq's range. A narrow Seq is for
// single-threaded wrap tests only: a thread stalled between its position load
// and its CAS while others perform 2^bits operations would see the position
// wrap back (ABA) and claim a cell that is still full. With std::uint64_t
// that takes centuries.
//
// Blocking corner (Vyukov's design has it): a consumer preempted between its
// position CAS and its [Q1] store keeps that cell occupied, so the producer
// that reaches the cell one lap later sees "full" although other cells are
// free. The ring is not full then, only stalled. The pool sizes the ring at
// twice max_size and its push_idle() yields until the consumer finishes
// (found by the stress harness under TSan: pool_core.cpp,
// push_idle, and stress/stress_pool.cpp).
//
// Synchronization:
//   [Q1] cell.seq store (seq_cst) publishes cell.value to the consumer's
//        [Q2] load; and symmetrically a consumer's store frees the cell for the
//        next producer's load. release/acquire would suffice for the ring
//        alone; seq_cst makes a completed push visible to any thread whose
//        later seq_cst operation follows it in the single total order, which
//        the pool's waiter registration relies on (pool_core.hpp [G3]). The
//        only x86-64 cost is xchg instead of mov on the store.
//   [Q3] enqueue_pos / dequeue_pos CAS: claims a position. The value itself
//        is published by [Q1], so the CAS could be relaxed; it is seq_cst
//        because a lock cmpxchg costs the same and it keeps the ring's
//        operations inside the total order.
//   Linearization: a pop at its [Q3] CAS; a push at its [Q1] store (before
//   it, a consumer at that position reports empty).
#pragma once

#include <berth/detail/cache_padded.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <type_traits>

namespace berth::detail {

template <class Seq>
struct idle_ring_test_access;  // tests only: splits try_pop to model a stalled popper

/// Bounded MPMC FIFO of std::uint32_t values.
/// Thread-safety: try_push/try_pop safe from any threads concurrently; never
/// block, never allocate. Construction/destruction: not concurrent.
template <class Seq = std::uint64_t>
class basic_idle_ring {
  static_assert(std::is_unsigned_v<Seq>);
  using diff = std::make_signed_t<Seq>;

 public:
  /// Capacity rounded up to a power of two (at least 2).
  /// Throws std::length_error when it exceeds half of Seq's range.
  explicit basic_idle_ring(std::size_t min_capacity) {
    std::size_t cap = 2;
    while (cap < min_capacity) cap <<= 1;
    constexpr auto half = static_cast<unsigned long long>(static_cast<Seq>(~Seq{0})) / 2 + 1;
    if (cap > half) throw std::length_error("berth: idle ring capacity exceeds its index range");
    mask_ = cap - 1;
    cells_ = std::make_unique<cell[]>(cap);
    for (std::size_t i = 0; i < cap; ++i)
      cells_[i].seq.store(static_cast<Seq>(i), std::memory_order_relaxed);  // before publication by the constructor's caller
  }

  std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Appends v; false when full. Thread-safe. Never blocks. Never allocates.
  bool try_push(std::uint32_t v) noexcept {
    Seq pos = enqueue_pos_.value.load(std::memory_order_seq_cst);
    for (;;) {
      cell& c = cells_[static_cast<std::size_t>(pos) & mask_];
      Seq seq = c.seq.load(std::memory_order_seq_cst);  // [Q2] pairs with a consumer's [Q1]
      diff d = static_cast<diff>(static_cast<Seq>(seq - pos));
      if (d == 0) {
        // [Q3] claim position pos.
        if (enqueue_pos_.value.compare_exchange_weak(pos, static_cast<Seq>(pos + 1),
                                                     std::memory_order_seq_cst,
                                                     std::memory_order_seq_cst)) {
          c.value = v;
          c.seq.store(static_cast<Seq>(pos + 1), std::memory_order_seq_cst);  // [Q1] publish value
          return true;
        }
      } else if (d < 0) {
        return false;  // full: the cell still holds last lap's value
      } else {
        pos = enqueue_pos_.value.load(std::memory_order_seq_cst);
      }
    }
  }

  /// Removes the oldest value into v; false when empty. Thread-safe. Never
  /// blocks. Never allocates.
  bool try_pop(std::uint32_t& v) noexcept {
    Seq pos = dequeue_pos_.value.load(std::memory_order_seq_cst);
    for (;;) {
      cell& c = cells_[static_cast<std::size_t>(pos) & mask_];
      Seq seq = c.seq.load(std::memory_order_seq_cst);  // [Q2] pairs with the producer's [Q1]
      diff d = static_cast<diff>(static_cast<Seq>(seq - static_cast<Seq>(pos + 1)));
      if (d == 0) {
        // [Q3] claim position pos.
        if (dequeue_pos_.value.compare_exchange_weak(pos, static_cast<Seq>(pos + 1),
                                                     std::memory_order_seq_cst,
                                                     std::memory_order_seq_cst)) {
          v = c.value;
          // [Q1] free the cell for the producer one lap later.
          c.seq.store(static_cast<Seq>(pos + mask_ + 1), std::memory_order_seq_cst);
          return true;
        }
      } else if (d < 0) {
        return false;  // empty (or a push claimed pos but has not published yet)
      } else {
        pos = dequeue_pos_.value.load(std::memory_order_seq_cst);
      }
    }
  }

  /// Approximate number of values. Thread-safe. Never blocks.
  std::size_t size_approx() const noexcept {
    Seq e = enqueue_pos_.value.load(std::memory_order_relaxed);  // approximate by contract
    Seq d = dequeue_pos_.value.load(std::memory_order_relaxed);
    diff n = static_cast<diff>(static_cast<Seq>(e - d));
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

 private:
  friend struct idle_ring_test_access<Seq>;
  struct cell {
    std::atomic<Seq> seq{0};
    std::uint32_t value = 0;  // written before [Q1], read after [Q2]
  };

  // Immutable after construction.
  std::size_t mask_ = 0;
  std::unique_ptr<cell[]> cells_;
  // Atomics only, each on its own line pair.
  cache_padded<std::atomic<Seq>> enqueue_pos_{};
  cache_padded<std::atomic<Seq>> dequeue_pos_{};
};

using idle_ring = basic_idle_ring<std::uint64_t>;

}  // namespace berth::detail
