// cas_peer.cpp: the floors of the peer harness (README.md beside this file):
// the least a pool of C slots can do per cycle. Built twice
// (CMakeLists.txt):
//   cas-pair  (BERTH_PEER_CAS_STORE=0)  acquire = CAS free -> taken,
//                                       release = CAS taken -> free
//   cas-store (BERTH_PEER_CAS_STORE=1)  acquire = CAS free -> taken,
//                                       release = a release store of free
// Each slot word sits alone on its 128-byte line pair, as a berth slot word
// does. Thread t starts at slot t % C (its "home", as berth's per-thread
// hint sends a thread back to its last slot) and scans onward while the
// slots it tries are taken: a relaxed load first, and a CAS only on a slot
// that looked free. After a whole fruitless round it yields the CPU once.
//
// What the floors mean: with no contention (threads <= slots, or one
// thread), one cycle is one uncontended CAS (+ one CAS or store) on a line
// the thread already owns: no pool can do less, so a pool's single-thread
// cost is judged against it. Under contention they are not pools: no
// queue, no sleeping, no fairness, no timeouts. Waiting threads spin
// (yielding between rounds), so on an oversubscribed machine their
// throughput, latency and per-thread spread say what raw CAS traffic on C
// lines does, not what a usable pool should be compared with. The protocol's
// acquire timeout does not apply (acquire never fails).
//
// Synchronization: [F1] a successful acquire CAS (acquire) pairs with the
// release CAS or store [F2] of the slot's previous holder, so the holder's
// writes to the connection happen before the next holder's reads.
#include "null_adapter.hpp"
#include "workload.hpp"

#include <berth/detail/cache_padded.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>

namespace {

using berth::bench::null_connection;
using berth::bench::peers::driver_config;

#ifndef BERTH_PEER_CAS_STORE
#error "BERTH_PEER_CAS_STORE must be 0 (cas-pair) or 1 (cas-store)"
#endif
/// Which floor this build is: release by a store (cas-store) or by a CAS.
constexpr bool release_by_store = BERTH_PEER_CAS_STORE != 0;

constexpr std::uint32_t slot_free = 0;
constexpr std::uint32_t slot_taken = 1;

/// A slot word and its connection on one line pair.
struct slot {
  std::atomic<std::uint32_t> word{slot_free};
  null_connection conn;  // touched only by the slot's holder
};

/// Distinct objects: safe. Shared objects: safe for worker use; unsafe for
/// destruction.
class cas_peer {
 public:
  explicit cas_peer(const driver_config& cfg)
      : slots_(std::make_unique<berth::detail::cache_padded<slot>[]>(cfg.connections)), size_(cfg.connections) {}

  /// Holds one slot; frees it when destroyed. Distinct objects: safe.
  /// Shared objects: unsafe.
  class handle {
   public:
    handle() noexcept = default;
    explicit handle(slot* s) noexcept : slot_(s) {}
    handle(handle&& o) noexcept : slot_(std::exchange(o.slot_, nullptr)) {}
    handle& operator=(handle&&) = delete;
    ~handle() {
      if (slot_ == nullptr) return;
      if constexpr (release_by_store) {
        slot_->word.store(slot_free, std::memory_order_release);  // [F2] pairs with the next holder's [F1]
      } else {
        std::uint32_t expected = slot_taken;
        // [F2] pairs with the next holder's [F1]. Only the holder frees its
        // slot, so the CAS cannot fail: it stands for a pool's release CAS.
        while (!slot_->word.compare_exchange_weak(expected, slot_free, std::memory_order_release,
                                                  std::memory_order_relaxed))
          expected = slot_taken;
      }
    }
    explicit operator bool() const noexcept { return slot_ != nullptr; }
    slot* get() const noexcept { return slot_; }

   private:
    slot* slot_ = nullptr;
  };

  /// One thread's home slot. Distinct objects: safe.
  class worker {
   public:
    worker(cas_peer& p, std::size_t index) noexcept : pool_(&p), home_(index % p.size_) {}

    handle acquire() noexcept {
      const std::size_t n = pool_->size_;
      for (;;) {
        std::size_t i = home_;
        for (std::size_t k = 0; k < n; ++k) {
          slot& s = pool_->slots_[i].value;
          std::uint32_t expected = slot_free;
          // relaxed peek: only a CAS that succeeds synchronizes ([F1]).
          if (s.word.load(std::memory_order_relaxed) == slot_free &&
              s.word.compare_exchange_strong(expected, slot_taken, std::memory_order_acquire,
                                             std::memory_order_relaxed))  // [F1]
            return handle(&s);
          if (++i == n) i = 0;
        }
        std::this_thread::yield();
      }
    }
    static const void* connection(handle& h) noexcept { return &h.get()->conn; }

   private:
    cas_peer* pool_;
    std::size_t home_;
  };

 private:
  // ---- immutable after construction; each slot's word is atomic ----
  std::unique_ptr<berth::detail::cache_padded<slot>[]> slots_;
  std::size_t size_;
};

}  // namespace

int main(int argc, char** argv) {
  return berth::bench::peers::run_driver<cas_peer>(argc, argv, release_by_store ? "cas-store" : "cas-pair",
                                                   BERTH_PEER_BUILD);
}
