// gate_line.cpp: the table of gate lines; see gate_line.hpp.
#include <berth/detail/gate_line.hpp>

#include <mutex>
#include <new>

#include <pthread.h>

namespace berth::detail {
namespace {

/// Lines are allocated in chunks and never freed (a releaser may load a
/// line's word at any time after its pool is gone); the free list recycles
/// them, last given back first taken.
struct line_table {
  static constexpr std::size_t chunk_lines = 64;  // 4 KiB

  std::mutex mutex;
  gate_line* free = nullptr;  // guarded by mutex
  std::size_t free_count = 0;  // guarded by mutex

  /// Throws std::bad_alloc only on its first call (made at static
  /// initialization, below).
  static line_table& get() {
    // Never destroyed: a pool destroyed during static destruction (a
    // global pool) still gives its line back; the chunks stay reachable
    // from the free list or from their pools.
    static line_table* t = [] {
      auto* made = new line_table;
      // fork(): the list must not be changing across it; the child may
      // then make pools of its own.
      (void)::pthread_atfork(&prepare, &parent, &child);
      return made;
    }();
    return *t;
  }

  static void prepare() noexcept { get().mutex.lock(); }
  static void parent() noexcept { get().mutex.unlock(); }
  /// The child's only thread. A free line's pins can only be failed pins
  /// of stale releasers (a line is given back after its pins were waited
  /// out): one a parent's thread was making at the fork never ends here,
  /// and would hold the next pool's destruction forever.
  static void child() noexcept {
    line_table& t = get();
    for (gate_line* l = t.free; l != nullptr; l = l->next_free)
      l->pins.store(0, std::memory_order_relaxed);  // no other thread in the child
    t.mutex.unlock();  // locked by this thread's prepare() (a normal mutex)
  }

  gate_line& take() {
    std::lock_guard lk(mutex);
    if (free == nullptr) {
      auto* chunk = new gate_line[chunk_lines];  // never deleted (see above)
      for (std::size_t i = 0; i < chunk_lines; ++i) {
        chunk[i].next_free = free;
        free = &chunk[i];
      }
      free_count += chunk_lines;
    }
    gate_line& l = *free;
    free = l.next_free;
    l.next_free = nullptr;
    --free_count;
    return l;
  }

  void give_back(gate_line& l) noexcept {
    std::lock_guard lk(mutex);
    l.next_free = free;
    free = &l;
    ++free_count;
  }
};

// Made at static initialization (one thread, as a rule), not by the first
// pool: a fork() in one thread while another made the first pool could
// leave the child with the initialization's guard held.
[[maybe_unused]] const bool table_made = (line_table::get(), true);

}  // namespace

bool pin(gate_line& line, std::uint64_t generation) noexcept {
  line.pins.fetch_add(1, std::memory_order_seq_cst);  // [L2] pairs with retire()'s [L3]
  if (line.generation.load(std::memory_order_seq_cst) == generation) return true;  // [L2]
  unpin(line);  // the pool is gone (or going): touch nothing of it
  return false;
}

gate_lease::gate_lease() : line_(&line_table::get().take()) {
  // Relaxed: no releaser reads this line's word for a pool that holds it
  // until the pool is published to other threads (its construction's end);
  // a stale releaser of an earlier pool may read it at any time, and its
  // pin fails on the generation whatever the word says.
  line_->word.store(0, std::memory_order_relaxed);
}

gate_lease::~gate_lease() {
  if (abandoned_) return;  // a fork child's copy: kept out of the table
  retire();
  line_table::get().give_back(*line_);
}

void gate_lease::retire() noexcept {
  if (retired_) return;
  retired_ = true;
  line_->generation.fetch_add(1, std::memory_order_seq_cst);  // [L3] pairs with pin()'s [L2]
}

void gate_lease::abandon() noexcept {
  retire();
  abandoned_ = true;
}

std::size_t free_gate_lines() noexcept {
  line_table& t = line_table::get();
  std::lock_guard lk(t.mutex);
  return t.free_count;
}

}  // namespace berth::detail
