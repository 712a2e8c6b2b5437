// slot.hpp: the slot: one connection's place in the pool. Its atomic state
// word (slot_state.hpp), the metadata beside it on its own 128-byte line
// pair, the table of all slots, and the per-thread hint.
//
// Owns: the slot array and what each slot's owners write into it.
// Never touches: the idle ring, the waiter queue, the connection objects
// (pool<A> keeps those, indexed by slot).
//
// Synchronization: every field is an atomic. The word's CAS chain [W1]
// publishes what a slot's owner wrote (connection, metadata) to the next
// owner; the fields below say who writes them and why relaxed suffices.
#pragma once

#include <berth/clock.hpp>
#include <berth/detail/cache_padded.hpp>
#include <berth/detail/slot_state.hpp>
#include <berth/stats.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <source_location>

namespace berth::detail {

inline constexpr std::uint32_t no_slot = 0xffffffffu;

/// The slot this thread last claimed from one pool's ring or slow path
/// (pool_core::claim_idle, claim_slow): tried first by its next acquire.
/// Four ways indexed by the pool's id, so a thread alternating between a few pools keeps a hint in
/// each. Pool ids are never reused, so a hint of a destroyed pool never
/// matches a live one. Thread-local: no synchronization.
/// The slot's metadata and connection addresses ride along, so that the
/// fast path's claim computes neither from the index (five instructions of
/// a ~60-instruction cycle, bench/icount.sh).
struct slot_meta;
struct thread_hint {
  std::uint64_t pool_id = 0;
  std::uint32_t slot = 0;
  slot_meta* meta = nullptr;  // &pool's slots_[slot]
  void* conn = nullptr;       // the pool<A>'s connection storage of slot (pool_core::conn_storage)
};
inline constexpr std::size_t thread_hint_ways = 4;
inline thread_local std::array<thread_hint, thread_hint_ways> tls_hints{};

/// Per-slot metadata on its own 128-byte line pair.
struct slot_meta {
  // The fast path's fields first, on one 64-byte line: word, completion,
  // leases, site (note_lease writes the last three on every lease).
  slot_atomic word;
  /// The asynchronous fast path claimed this slot and posted its
  /// completion (completion_posted), or the completion took it and its
  /// handler got the lease (completion_taken); 0 otherwise. While the slot
  /// is leased and this is not 0, the pool's destruction waits (stop_async),
  /// as it waits for a request's completion. Every lease's start sets 0
  /// (note_site): a dropped completion gives the slot back with its mark,
  /// and a handler that released its lease left it. Written only by the
  /// slot's owner; release stores, stop_async's acquire loads.
  std::atomic<std::uint8_t> completion{0};
  /// Leases granted on this slot. Written only by the lessee while it owns
  /// the slot (relaxed load + store, no RMW: single writer); summed by stats.
  std::atomic<std::uint64_t> leases{0};
  /// Where the current lease was acquired; written by the lessee (relaxed,
  /// single writer), read by reports of outstanding leases.
  std::atomic<std::source_location> site{};
  /// Connections opened in this slot so far, and the current one's opening
  /// time and max_lifetime deadline (computed once, with its jitter).
  /// Written by the creator while the slot is connecting; the slot word's
  /// CAS chain [W1] publishes them to later owners. The reaper also reads
  /// them without owning the slot (relaxed: a value of a newer connection
  /// only makes it skip or re-check after reserving, see reaper.cpp).
  std::atomic<std::uint32_t> generation{0};
  std::atomic<std::uint64_t> leases_at_open{0};  // `leases` when it was opened
  std::atomic<clock_source::time_point> created{};
  std::atomic<clock_source::time_point> deadline{};
  /// When the current lease was acquired if it is one the pool times
  /// (pool_options::hold_time_sampling), else time_point::min(). Written by
  /// the lessee at acquire and release (relaxed, single writer: the slot
  /// word's CAS chain [W1] carries the reset value to the next lessee).
  std::atomic<clock_source::time_point> hold_since{clock_source::time_point::min()};
  /// When a waiter last got this slot (a hand-off, or a pop on its
  /// behalf), else time_point::min(): the start of its holder's tenure
  /// ("Fairness", waiter_queue.hpp). Written under the pool's mutex by the
  /// thread that gives the slot to the waiter, read by later lessees on
  /// their release's slow path; relaxed: the slot word's CAS chain [W1] and
  /// the hand-off's mutex [G4] order the write before any later lease.
  std::atomic<clock_source::time_point> handed_at{clock_source::time_point::min()};
};
static_assert(std::atomic<std::source_location>::is_always_lock_free);
static_assert(std::atomic<clock_source::time_point>::is_always_lock_free);
static_assert(sizeof(cache_padded<slot_meta>) == cache_pair_size);

/// The fixed array of slots, each on its own line pair.
/// Thread-safety: operator[] and the const members from any thread (each
/// slot's fields have their own contracts above). Never allocates after
/// construction.
class slot_table {
 public:
  explicit slot_table(std::size_t n) : slots_(std::make_unique<cache_padded<slot_meta>[]>(n)), size_(n) {}

  slot_meta& operator[](std::uint32_t i) const noexcept { return slots_[i].value; }
  /// The index of m, an element of this table (m == (*this)[index_of(m)]).
  std::uint32_t index_of(const slot_meta& m) const noexcept {
    const auto bytes = static_cast<std::size_t>(reinterpret_cast<const char*>(&m) -
                                                reinterpret_cast<const char*>(&slots_[0].value));
    return static_cast<std::uint32_t>(bytes / sizeof(cache_padded<slot_meta>));
  }
  std::size_t size() const noexcept { return size_; }

  /// Slots by state ([W2] relaxed loads: approximate under load, exact at
  /// quiescence); sets the state fields of c, its total and retiring (the
  /// others are left alone). O(size).
  void count_states(pool_counts& c) const noexcept {
    c.connecting = c.idle = c.leased = c.reserved = c.closing = c.retiring = 0;
    constexpr unsigned owned = slot_atomic::owned_states;
    for (std::uint32_t i = 0; i < size_; ++i) {
      const slot_word::rep w = (*this)[i].word.word();
      if ((w & slot_word::retire_mask) && (owned & slot_atomic::state_bit(slot_word::state(w)))) ++c.retiring;
      switch (slot_word::state(w)) {
        case slot_state::empty: break;
        case slot_state::connecting: ++c.connecting; break;
        case slot_state::idle: ++c.idle; break;
        case slot_state::leased: ++c.leased; break;
        case slot_state::reserved: ++c.reserved; break;
        case slot_state::closing: ++c.closing; break;
      }
    }
    c.total = c.connecting + c.idle + c.leased + c.reserved + c.closing;
  }

  /// Leases granted on all slots (relaxed: each counter has one writer;
  /// the sum is approximate under load). O(size).
  std::uint64_t leases_total() const noexcept {
    std::uint64_t n = 0;
    for (std::uint32_t i = 0; i < size_; ++i) n += (*this)[i].leases.load(std::memory_order_relaxed);
    return n;
  }

 private:
  std::unique_ptr<cache_padded<slot_meta>[]> slots_;
  std::size_t size_;
};

}  // namespace berth::detail
