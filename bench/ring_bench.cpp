// ring_bench.cpp: should moodycamel::ConcurrentQueue be berth's idle ring?
//
// The idle ring holds the indices of idle slots; acquire pops one, release
// pushes one. It never holds more than max_size values, each at most once
// (the in_ring bit); the pool sizes it at 2 x max_size cells, and a push
// waits only for a popper preempted inside a cell (idle_ring.hpp).
// Candidates, each measured here as one pop + one push of a uint32 index per
// iteration, 1..8 threads, on a queue prefilled with 32 values:
//   (a) berth::detail::idle_ring: Vyukov's bounded MPMC queue, capacity 64.
//   (b) moodycamel::ConcurrentQueue<uint32_t>, no tokens (implicit producers).
//   (c) moodycamel::ConcurrentQueue<uint32_t> with a ProducerToken and a
//       ConsumerToken per thread (its fastest mode).
//   (d) std::mutex + std::deque<uint32_t>: the baseline.
//
// Speed is only part of the answer. What else decides it:
//   - Order. moodycamel is FIFO per producer only, not across producers, and
//     not linearizable: try_dequeue() "returns false if all producer streams
//     appeared empty at the time they were checked (so, the queue is likely
//     but not guaranteed to be empty)". It reads tail indices relaxed, and a
//     consumer can report empty while values are present because of other
//     consumers' optimistic over-commit. The pool's no-lost-wake-up argument
//     (pool_core.hpp [G2]/[G3]) needs more: a pop may fail only when the ring
//     is empty or a push is still in flight (whose releaser then loads the
//     gate, seq_cst, and rescues the waiter). idle_ring gives exactly that:
//     its seq_cst pop fails only at a cell whose push has not published yet.
//     Round-robin reuse (FIFO) also keeps "least recently used" meaningful
//     for the reaper's idle timeout.
//   - Allocation. enqueue() "allocates memory if required": when a
//     producer's blocks are full it takes one from the block pool, then from
//     the heap. try_enqueue() never allocates but fails when the preallocated
//     blocks run out, and blocks are not shared between producers, so whether
//     a push succeeds depends on how many threads ever pushed. Without tokens,
//     every new thread allocates an implicit producer on its first enqueue;
//     with MOODYCAMEL_CPP11_THREAD_LOCAL_SUPPORTED disabled (the 1.0.3
//     default) it is never freed before the queue (a later thread reuses it
//     only if its thread-local block lands at the same address, moodycamel's
//     thread id on x86-64 Linux), and try_dequeue() walks the producer list.
//     berth promises "never allocates" on its fast path
//     (tests/core/no_alloc_test.cpp checks it); idle_ring allocates only in
//     its constructor. Not measured here (counting operator new calls is
//     overkill for the question): in (b) the allocations are one implicit
//     producer per new thread (Google Benchmark starts fresh threads for every
//     run, so each run pays them, amortized over its iterations) plus blocks
//     until the block free list is warm.
//   - Verification. moodycamel synchronizes partly through standalone
//     std::atomic_thread_fence (acquire/release fences in dequeue and block
//     bookkeeping). ThreadSanitizer does not model standalone fences, so it
//     would report races in correct code, and suppressing them would blind
//     the TSan preset to the pool's publication of connections through the
//     ring. style.md bans fences from core/ for this reason.
//   - Tokens. Its fast mode needs a ProducerToken and a ConsumerToken per
//     thread and per queue. A pool cannot ask its users to carry them; it
//     would have to keep them in thread_local storage keyed by pool, created
//     (allocating) on a thread's first use and outliving or dangling past the
//     pool. Without tokens, (b) is what the pool would get.
//   - Progress under preemption. Vyukov's ring is not "never full below
//     capacity" and not lock-free when threads are preempted: a popper claims
//     a cell (CAS on dequeue_pos) and frees it (seq store) in two steps; if it
//     is preempted in between while other threads push one lap (capacity
//     pushes, as few as 2 for a 2-slot pool), the next push lands on the
//     unfreed cell and try_push() reports full with the ring nearly empty,
//     until the popper runs again. Symmetrically, try_pop() reports empty
//     while a pusher is preempted between its claim and its publish. This
//     benchmark retries both (so idle_ring rows beyond the core count include
//     spinning on preempted peers); a caller that treats a failed push as
//     impossible aborts (pool_core.cpp push_idle: "idle ring overflow").
//     moodycamel's enqueue() has no full case; it allocates instead.
//   - Pattern. Each thread here pops then pushes back what it popped; with
//     tokens, moodycamel then mostly works on the thread's own sub-queue, a
//     best case a pool (released on one thread, acquired on another) would
//     not see as often.
//   - Size. The pool needs neither unbounded growth nor bulk operations,
//     which is what moodycamel's block design pays for.
//
// Each shared queue is a function-local static, built and prefilled once by
// the first benchmark thread before its timed loop, and kept across runs (the
// number of values in it is conserved: every iteration pushes back what it
// popped). items_per_second = pop+push pairs per second over all threads,
// on the wall-clock time of each run (run_wall_clock.hpp: 4 and 8 threads
// outnumber the cores of a small machine).
#include <berth/detail/idle_ring.hpp>

#include <concurrentqueue/concurrentqueue.h>  // SYSTEM include: see CMakeLists.txt

#include <benchmark/benchmark.h>

#include "run_wall_clock.hpp"

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>

namespace {

using berth::bench::run_wall_clock;

constexpr std::uint32_t prefill = 32;
constexpr std::size_t ring_capacity = 64;

/// Aborts a benchmark binary whose set-up is broken; numbers would be lies.
void require(bool ok) {
  if (!ok) std::abort();
}

// ---- (a) berth idle_ring --------------------------------------------------------

struct prefilled_ring {
  berth::detail::idle_ring ring{ring_capacity};
  prefilled_ring() {
    for (std::uint32_t v = 0; v < prefill; ++v) require(ring.try_push(v));
  }
};

void BM_idle_ring(benchmark::State& state) {
  static prefilled_ring shared;
  berth::detail::idle_ring& r = shared.ring;
  static run_wall_clock wall;
  wall.arrive();
  for (auto _ : state) {
    std::uint32_t v = 0;
    while (!r.try_pop(v)) {
    }
    benchmark::DoNotOptimize(v);
    // Not require(): try_push() also fails, though the ring holds 31 values,
    // while a popper one lap behind is preempted between its claim of a cell
    // and its release of it (see "Progress under preemption"). Retry.
    while (!r.try_push(v)) {
    }
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

// ---- (b), (c) moodycamel::ConcurrentQueue -----------------------------------------

/// Default capacity (6 blocks of 32 values): what a user would write.
struct prefilled_queue {
  moodycamel::ConcurrentQueue<std::uint32_t> queue;
  prefilled_queue() {
    for (std::uint32_t v = 0; v < prefill; ++v) require(queue.enqueue(v));
  }
};

void BM_moodycamel_no_tokens(benchmark::State& state) {
  static prefilled_queue shared;
  moodycamel::ConcurrentQueue<std::uint32_t>& q = shared.queue;
  static run_wall_clock wall;
  wall.arrive();
  for (auto _ : state) {
    std::uint32_t v = 0;
    while (!q.try_dequeue(v)) {
    }
    benchmark::DoNotOptimize(v);
    require(q.enqueue(v));  // may allocate: a new implicit producer or block
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

void BM_moodycamel_tokens(benchmark::State& state) {
  static prefilled_queue shared;
  moodycamel::ConcurrentQueue<std::uint32_t>& q = shared.queue;
  // Per thread and queue, before the timed loop. Destroying a ProducerToken
  // leaves its explicit producer (and any values in it) for reuse by a later
  // token, so no value is lost between runs.
  moodycamel::ProducerToken producer(q);
  moodycamel::ConsumerToken consumer(q);
  static run_wall_clock wall;
  wall.arrive();
  for (auto _ : state) {
    std::uint32_t v = 0;
    while (!q.try_dequeue(consumer, v)) {
    }
    benchmark::DoNotOptimize(v);
    require(q.enqueue(producer, v));  // may allocate a block
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

// ---- (d) std::mutex + std::deque ----------------------------------------------------

/// Guarded by mutex. std::deque allocates and frees a 512-byte chunk every
/// 128 pushes/pops as the window slides; libstdc++'s allocator makes that
/// cheap and it happens under the lock, as it would in a real pool.
struct locked_deque {
  std::mutex mutex;
  std::deque<std::uint32_t> values;
  locked_deque() {
    for (std::uint32_t v = 0; v < prefill; ++v) values.push_back(v);
  }
};

void BM_mutex_deque(benchmark::State& state) {
  static locked_deque shared;
  static run_wall_clock wall;
  wall.arrive();
  for (auto _ : state) {
    std::uint32_t v = 0;
    for (bool got = false; !got;) {
      std::lock_guard lock(shared.mutex);
      if (!shared.values.empty()) {
        v = shared.values.front();
        shared.values.pop_front();
        got = true;
      }
    }
    benchmark::DoNotOptimize(v);
    std::lock_guard lock(shared.mutex);
    shared.values.push_back(v);
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_idle_ring)->ThreadRange(1, 8)->UseManualTime();
BENCHMARK(BM_moodycamel_no_tokens)->ThreadRange(1, 8)->UseManualTime();
BENCHMARK(BM_moodycamel_tokens)->ThreadRange(1, 8)->UseManualTime();
BENCHMARK(BM_mutex_deque)->ThreadRange(1, 8)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
