// slot_state.hpp: the per-slot state machine, as a table, a pure function and
// the named CAS operations that realise it on one atomic word.
//
// Owns: the word's encoding (state + flags) and every transition on it.
// Never touches: anything outside the word; who may perform a transition is
// the callers' protocol, which each CAS also checks.
//
//   state       event            next        who
//   ---------   --------------   ---------   ----------------------------------------
//   empty       begin_connect    connecting  maintenance thread claims a free slot
//   connecting  connected        idle        new connection published to the ring
//   connecting  hand_off         leased      new connection given to a queued waiter
//   connecting  connect_failed   empty       adapter.connect() failed
//   idle        lease            leased      acquirer (thread hint or ring pop)
//   idle        reserve          reserved    maintenance/close: claim before acting
//   leased      release          idle        lease destroyed, no waiter queued
//   leased      retire           closing     discard(), evicted, pool closed, reset failed
//   reserved    unreserve        idle        maintenance done, connection kept
//   reserved    hand_off         leased      maintenance done, given to a waiter
//   reserved    retire           closing     maintenance decided to close
//   closing     closed           empty       adapter.close() returned
//
// A lease handed from one lessee to a queued waiter stays `leased`: ownership
// moves with the slot index, not with a state change.
//
// Word layout (std::uint32_t): bits 0-7 the state; flag bits beside it that
// survive transitions:
//   in_ring  the slot's index is in the idle ring, or held by a popper that has
//            not yet examined the slot. Set by whoever publishes the slot as
//            idle (and then pushes iff it was clear), cleared only by a popper.
//            Hence each index is in the ring at most once and the ring, sized
//            to max_size, can never overflow.
//   evict    soft eviction of an owned slot: its owner retires it instead of
//            publishing it (reason evicted).
//   expired  set by the reaper on a connection past its max-lifetime deadline
//            that it could not reserve (leased, typically): retired at
//            release, or by the acquirer that claims it.
//   stale    set by the reaper on an idle connection unused for longer than
//            validation_bypass: the next blocking acquirer validates it first
//            (try_acquire puts it back instead; it never validates).
//   resized  set by the creator thread's trim after pool::resize() lowered
//            max_size below the open connections, on an owned slot (leased,
//            or reserved by the reaper) that carries no other retire flag:
//            retired at release (reason resized), as expired is. The release
//            path reads it in the word its CAS already returns (retire_mask),
//            so it costs nothing there.
// Leak tracking keeps no flag here: with leak_threshold on, every lease's
// start and end are recorded beside the slot (pool_core.cpp, leak_tracker).
// The acquirer reads all flags from the word its CAS already loaded, so a
// pool with no flagged slot pays nothing for these policies.
//
// Synchronization:
//   [W1] every transition is a seq_cst CAS on the word. acq_rel alone would
//        publish the connection object between owners (a releaser's writes to
//        it happen-before the next lessee's reads); seq_cst is needed because
//        the release path is one half of a Dekker pair with waiter
//        registration (see pool_core.hpp [G2]/[G3]). On x86-64 every CAS is a
//        lock cmpxchg whatever the order, so seq_cst costs nothing there.
//   [W2] relaxed loads of the word only seed a CAS or read an approximate
//        count; a stale value makes the CAS fail and retry.
//   [W3] the fast path's two CASes are seeded with a guess instead of a
//        load: the word of a slot in steady reuse (the state and in_ring,
//        no other flag). A wrong guess is a failed CAS that returns the
//        real word, after which the loop goes on as if it had loaded it;
//        a right one saves a load on the CAS's dependency chain (about
//        1 ns of a 10 ns cycle, issue 9). No ordering rests on the guess.
#pragma once

#include <berth/detail/hot_path.hpp>

#include <atomic>
#include <cstdint>
#include <optional>

namespace berth::detail {

enum class slot_state : std::uint8_t { empty, connecting, idle, leased, reserved, closing };
inline constexpr int slot_state_count = 6;

enum class slot_event : std::uint8_t {
  begin_connect,
  connected,
  hand_off,
  connect_failed,
  lease,
  reserve,
  release,
  retire,
  unreserve,
  closed,
};
inline constexpr int slot_event_count = 10;

/// The transition table above as a pure function: the next state, or nullopt
/// when the event is not allowed in that state. Thread-safe, constexpr.
constexpr std::optional<slot_state> next(slot_state s, slot_event e) noexcept {
  using S = slot_state;
  using E = slot_event;
  switch (s) {
    case S::empty:
      if (e == E::begin_connect) return S::connecting;
      break;
    case S::connecting:
      if (e == E::connected) return S::idle;
      if (e == E::hand_off) return S::leased;
      if (e == E::connect_failed) return S::empty;
      break;
    case S::idle:
      if (e == E::lease) return S::leased;
      if (e == E::reserve) return S::reserved;
      break;
    case S::leased:
      if (e == E::release) return S::idle;
      if (e == E::retire) return S::closing;
      break;
    case S::reserved:
      if (e == E::unreserve) return S::idle;
      if (e == E::hand_off) return S::leased;
      if (e == E::retire) return S::closing;
      break;
    case S::closing:
      if (e == E::closed) return S::empty;
      break;
  }
  return std::nullopt;
}

const char* to_string(slot_state s) noexcept;
const char* to_string(slot_event e) noexcept;

/// The packed slot word: state in the low byte, sticky flags above it.
struct slot_word {
  using rep = std::uint32_t;
  static constexpr rep state_mask = 0xffu;
  static constexpr rep in_ring = 1u << 8;
  static constexpr rep evict = 1u << 9;
  static constexpr rep expired = 1u << 10;
  static constexpr rep stale = 1u << 11;
  static constexpr rep resized = 1u << 12;
  /// Flags that make an owner retire the slot instead of publishing it; they
  /// stop publish_idle.
  static constexpr rep retire_mask = evict | expired | resized;
  /// Flags an acquirer must act on before handing the connection out.
  static constexpr rep attention_mask = retire_mask | stale;
  static constexpr rep all_flags = in_ring | attention_mask;

  static constexpr slot_state state(rep w) noexcept { return static_cast<slot_state>(w & state_mask); }
  static constexpr rep with_state(rep w, slot_state s) noexcept {
    return (w & ~state_mask) | static_cast<rep>(s);
  }
};

/// One slot's atomic word with the table's transitions as named CAS
/// operations. Each returns true when this caller performed the transition.
/// Thread-safe: every member may be called concurrently; a transition out of
/// an owned state (leased, reserved, connecting, closing) is performed only by
/// the owner by protocol, which the CAS also checks.
class slot_atomic {
 public:
  using rep = slot_word::rep;

  /// idle -> leased, keeping flags. The acquirer's linearization point.
  /// Returns the word as it was (non-zero: idle is not 0), flags included,
  /// or 0 when the slot was not idle. [W1] pairs with the releaser's CAS in
  /// publish_idle(). Never blocks.
  BERTH_HOT rep try_lease() noexcept { return try_lease(steady_word(slot_state::idle)); }
  /// `seed`: a guess of the word (steady_word(idle), [W3]) or the word a
  /// failed CAS found (lease_steady's `seen`): no CAS at all when it is not idle.
  BERTH_HOT rep try_lease(rep seed) noexcept {
    rep w = seed;  // [W3]
    while (slot_word::state(w) == slot_state::idle) {
      if (word_.compare_exchange_weak(w, slot_word::with_state(w, slot_state::leased), std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
        return w;
    }
    return 0;
  }
  static_assert(static_cast<rep>(slot_state::idle) != 0);

  /// The fast path's lease: idle|in_ring (a slot in steady reuse: no flag
  /// to act on) -> leased|in_ring, one CAS seeded with that word [W3].
  /// False when the word was anything else (a flag set, another state, the
  /// index out of the ring): nothing changed, and the caller's general path
  /// (try_lease) acts on the word it finds. The acquirer's linearization
  /// point. [W1] pairs with the releaser's CAS. Never blocks.
  /// On failure `seen` holds the word as it was (for try_lease(seed)).
  BERTH_HOT bool lease_steady(rep& seen) noexcept {
    seen = steady_word(slot_state::idle);
    return word_.compare_exchange_strong(seen, steady_word(slot_state::leased), std::memory_order_seq_cst,
                                         std::memory_order_relaxed);
  }

  /// The fast path's release by the owner of a leased slot:
  /// leased|in_ring -> idle|in_ring, one CAS [W3]. False when the word
  /// carried anything else (a retire or stale flag, in_ring clear): nothing
  /// changed, and `seen` holds the word as it was, to seed the general
  /// path's publish_idle(). The releaser's linearization point. [W1] pairs
  /// with try_lease()/lease_steady(). Never blocks.
  BERTH_HOT bool publish_steady(rep& seen) noexcept {
    seen = steady_word(slot_state::leased);
    return word_.compare_exchange_strong(seen, steady_word(slot_state::idle), std::memory_order_seq_cst,
                                         std::memory_order_relaxed);
  }

  /// [W3] the usual word of a slot in state s on the fast path (the state
  /// and in_ring, no other flag): the guess that seeds a CAS.
  static constexpr rep steady_word(slot_state s) noexcept { return static_cast<rep>(s) | slot_word::in_ring; }

  /// idle -> reserved (HikariCP's reserve-then-act). [W1]
  bool try_reserve() noexcept { return transition(slot_state::idle, slot_state::reserved); }

  /// empty -> connecting: the creator's claim of a free slot. [W1]
  bool try_begin_connect() noexcept { return transition(slot_state::empty, slot_state::connecting); }

  /// connecting -> empty after a failed connect (connect_failed), clearing
  /// every flag but in_ring in the same CAS: a flag set on the attempt
  /// (evict_all's evict, a sweep's stale) must not outlive it onto the
  /// slot's next connection (regression:
  /// PoolTest.AFailedConnectLeavesNoFlagForTheNextConnection). Owner-only.
  /// [W1]
  bool fail_connect() noexcept {
    rep w = word_.load(std::memory_order_relaxed);  // [W2]
    while (slot_word::state(w) == slot_state::connecting) {
      if (word_.compare_exchange_weak(w, slot_word::with_state(w & slot_word::in_ring, slot_state::empty),
                                      std::memory_order_seq_cst, std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  /// Owner-only transitions between owned states (see the table):
  /// connecting -> empty|leased, leased|reserved -> closing, closing -> empty,
  /// reserved -> leased. Returns false only if the caller did not own `from`.
  bool transition(slot_state from, slot_state to) noexcept {
    rep w = word_.load(std::memory_order_relaxed);  // [W2]
    while (slot_word::state(w) == from) {
      // [W1] seq_cst: publishes/obtains the connection and orders against gate.
      if (word_.compare_exchange_weak(w, slot_word::with_state(w, to), std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  /// Owner of `from` (leased, reserved or connecting) makes the slot idle and
  /// sets in_ring. Returns the flags as they were before, so the caller pushes
  /// the index to the ring iff in_ring was clear, and retires instead when
  /// evict is set (in which case nothing changed and the state is still from).
  /// The releaser's linearization point. [W1] pairs with try_lease().
  BERTH_HOT rep publish_idle(slot_state from) noexcept { return publish_idle(from, steady_word(from)); }
  /// `seed`: a guess of the word (steady_word(from), [W3]) or the word
  /// publish_steady() found.
  BERTH_HOT rep publish_idle([[maybe_unused]] slot_state from, rep seed) noexcept {
    rep w = seed;  // [W3]
    for (;;) {
      BERTH_INTERNAL_ASSERT(slot_word::state(w) == from, "publish_idle by a non-owner");
      if (w & slot_word::retire_mask) return w;
      rep n = slot_word::with_state(w, slot_state::idle) | slot_word::in_ring;
      if (word_.compare_exchange_weak(w, n, std::memory_order_seq_cst, std::memory_order_relaxed))
        return w;
    }
  }

  /// A ring popper examines a popped index: if idle, lease it and clear
  /// in_ring, returning the word as it was (non-zero); otherwise only clear
  /// in_ring so that the next publisher pushes the index again (0). [W1]
  rep lease_from_ring() noexcept {
    rep w = word_.load(std::memory_order_relaxed);  // [W2]
    for (;;) {
      const bool idle = slot_word::state(w) == slot_state::idle;
      rep n = idle ? slot_word::with_state(w, slot_state::leased) & ~slot_word::in_ring : w & ~slot_word::in_ring;
      if (word_.compare_exchange_weak(w, n, std::memory_order_seq_cst, std::memory_order_relaxed))
        return idle ? w : 0;
    }
  }

  /// Bit set of states for mark_if().
  static constexpr unsigned state_bit(slot_state s) noexcept { return 1u << static_cast<unsigned>(s); }
  static constexpr unsigned owned_states = (1u << static_cast<unsigned>(slot_state::leased)) |
                                           (1u << static_cast<unsigned>(slot_state::reserved)) |
                                           (1u << static_cast<unsigned>(slot_state::connecting));

  /// Sets `flag` iff the slot's state is in `states` (a state_bit set) and
  /// the flag is not set yet. Returns whether this call set it. [W1]
  bool mark_if(rep flag, unsigned states) noexcept {
    rep w = word_.load(std::memory_order_relaxed);  // [W2]
    while ((states & state_bit(slot_word::state(w))) && !(w & flag)) {
      if (word_.compare_exchange_weak(w, w | flag, std::memory_order_seq_cst, std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  /// Sets `flag` (one of retire_mask) iff the slot's state is in `states`
  /// and it carries no retire flag yet: true means this call doomed a
  /// connection that was not doomed before (the resize trim counts those).
  /// [W1]
  bool mark_retire_if_none(rep flag, unsigned states) noexcept {
    rep w = word_.load(std::memory_order_relaxed);  // [W2]
    while ((states & state_bit(slot_word::state(w))) && !(w & slot_word::retire_mask)) {
      if (word_.compare_exchange_weak(w, w | flag, std::memory_order_seq_cst, std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  /// Soft eviction: sets evict iff the slot is owned (leased, reserved by
  /// the reaper, or connecting); its owner retires it instead of publishing
  /// it. Returns whether it was set. [W1]
  bool mark_evict_if_owned() noexcept { return mark_if(slot_word::evict, owned_states); }

  /// Owner-only: clears flags (never in_ring, which belongs to the ring's
  /// protocol). [W1]
  void clear_flags(rep f) noexcept { word_.fetch_and(~(f & ~slot_word::in_ring), std::memory_order_seq_cst); }

  /// Flags as of now. [W2] approximate unless the caller owns the slot.
  rep flags() const noexcept { return word_.load(std::memory_order_relaxed) & ~slot_word::state_mask; }

  /// State and flags in one load. [W2] approximate unless the caller owns
  /// the slot.
  rep word() const noexcept { return word_.load(std::memory_order_relaxed); }

  /// Current state. [W2] approximate unless the caller owns the slot. With
  /// std::memory_order_acquire it pairs with the [W1] CAS chain: what the
  /// slot's owners wrote before the transitions seen is visible.
  slot_state state(std::memory_order order = std::memory_order_relaxed) const noexcept {
    return slot_word::state(word_.load(order));
  }
 private:

  std::atomic<rep> word_{static_cast<rep>(slot_state::empty)};
};

}  // namespace berth::detail
