// gate_line.hpp: where a pool's gate word lives, so that the inline release
// may load it after its publication even if the pool is gone by then.
//
// The problem (release_mark.hpp has the whole story). A release publishes
// its slot with a CAS and then loads the gate [G3]. From the publication on,
// close()/drain() may see the lease returned and another thread may destroy
// the pool. The general paths (all through publish()) mark the thread for
// that window and the destruction waits for the mark. The inline
// release, which runs on every query, did the same until this file: its
// mark's stores cost about 1 point of a pooled SQLite SELECT 1
// (BENCHMARKS.md, "The gate line").
//
// The line. The gate word is not a member of the pool but of a gate_line
// taken from a process-wide table that is never freed: lines are recycled,
// never returned to the allocator. So the inline release's only access after
// its CAS, the gate load, reads valid memory whether or not its pool still
// exists; and a zero gate (no waiter, not closed: the usual case) means it
// has nothing more to do. A non-zero gate sends it to
// pool_core::after_publish_pinned(), which must enter the pool: it first
// pins the line with the generation it read before its CAS (while its lease
// kept the pool alive). The destruction, after it found every lease
// returned, bumps the generation and waits until no pin is held; then it
// closes what such releasers left idle, and gives the line back. A pin
// taken with an old generation (the pool is gone, the line may already
// serve another pool) fails and the releaser returns without touching
// anything but the line. Generations only grow (64 bits: no wrap), so a
// recycled line never matches a releaser of its earlier pool.
//
// Cost on the inline release: the pool's pointer to its line and the
// generation, two loads before the CAS on lines it reads anyway; no store,
// no read-modify-write. An acquire's [G1] load goes through the pointer
// (one load more).
//
// Synchronization:
//   [L1] the releaser's generation load, relaxed, before its publishing
//        CAS. The destruction bumps the generation only after it saw that
//        publication (its lease scan's acquire load, [W1]), so the load
//        reads the generation of the releaser's own pool (read-write
//        coherence through that happens-before).
//   [L2] pin: pins.fetch_add(seq_cst), then generation.load(seq_cst).
//   [L3] the destruction: generation.fetch_add(seq_cst), then
//        pins.load(seq_cst) until 0. [L2]/[L3] are a Dekker pair: in the
//        total order S either the pin's generation load sees the bump (the
//        pin fails; it never touches the pool) or the destruction's pins
//        load sees the pin (it waits for the unpin).
//   [L4] unpin: pins.fetch_sub(release), after the releaser's last access
//        to the pool; pairs with [L3]'s loads (seq_cst, so acquire), which
//        order that access before the destruction's next step.
//   A pin made with a stale generation increments the pins of whatever pool
//   holds the line now, for the few instructions until it sees the
//   generation and unpins: that pool's destruction may wait that long.
//   The table (free list, chunks) is guarded by its mutex, which fork()
//   handlers hold across a fork (pthread_atfork), so a fork child can make
//   pools.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace berth::detail {

/// One pool's gate word, with what makes its post-publication load safe.
/// Thread-safety: the atomics as described above; lines are handed out and
/// taken back through gate_lease only.
struct alignas(64) gate_line {
  /// The gate (waiter_queue.hpp: waiter count and mode bits).
  std::atomic<std::uint64_t> word{0};
  /// Bumped by each retirement of the line ([L3]); never reset.
  std::atomic<std::uint64_t> generation{0};
  /// Releasers inside the pool after their publication ([L2], [L4]).
  std::atomic<std::uint32_t> pins{0};
  /// The free list's link (guarded by the table's mutex).
  gate_line* next_free = nullptr;
};

/// Tries to pin `line` for a releaser that read `generation` before its
/// publication ([L2]). True: the pool is alive until unpin(). Lock-free;
/// any thread.
bool pin(gate_line& line, std::uint64_t generation) noexcept;
/// Ends a pin ([L4]). Lock-free; the pinning thread.
inline void unpin(gate_line& line) noexcept {
  line.pins.fetch_sub(1, std::memory_order_release);  // [L4] pairs with retire()'s pins loads [L3]
}

/// A pool's line, from the table: taken by its constructor (word 0, a
/// generation no releaser holds), given back by its destructor. Not
/// copyable or movable: the pool's address of the line never changes.
/// Thread-safety: retire(), abandon() and the destructor by the pool's
/// destroying thread only; line() and pinned() anywhere.
class gate_lease {
 public:
  /// Throws std::bad_alloc when a new chunk of lines cannot be allocated.
  gate_lease();
  /// Gives the line back (retired first if retire() was not called: a pool
  /// whose construction failed, which no releaser used), unless abandoned.
  ~gate_lease();
  gate_lease(const gate_lease&) = delete;
  gate_lease& operator=(const gate_lease&) = delete;

  gate_line& line() const noexcept { return *line_; }

  /// The destruction's first step [L3]: bumps the generation, so that no
  /// pin of this pool succeeds from now on. Then wait while pinned().
  /// Idempotent.
  void retire() noexcept;
  /// A releaser holds a pin ([L3]'s load): it is inside the pool, or it is
  /// a stale releaser about to see the generation and unpin.
  bool pinned() const noexcept {
    return line_->pins.load(std::memory_order_seq_cst) != 0;  // [L3] pairs with pin() [L2] and unpin() [L4]
  }
  /// A fork child's copy of the pool: retired without waiting (a parent's
  /// thread pinned at the fork never unpins in the child), and the line
  /// stays out of the table for the same reason.
  void abandon() noexcept;

 private:
  gate_line* line_;
  bool retired_ = false;
  bool abandoned_ = false;
};

/// Lines the table holds for reuse (tests). Thread-safe.
std::size_t free_gate_lines() noexcept;

}  // namespace berth::detail
