// Issue 13's fault catalogue at scale: real threads, the real steady clock
// and the pool's default clock. Labelled integration: the pass criteria are
// real-time bounds, each generous enough for a loaded 2-core CI machine and
// stated where it is checked; every wait is bounded by a watchdog that fails
// the test (and closes the pool so every thread returns) instead of hanging.
// The same races forced deterministically are in fault_catalogue_test.cpp.
//
// Linked with the hooked core (test_hooks.hpp): the herd reads the waiter
// queue's own order (enqueue and service, both under the pool's mutex) off
// the hooks.
//
// Long soak (a local command, not CI): the herd with more rounds, e.g.
//   BERTH_HERD_ROUNDS=20 build/debug/tests/core_fault_catalogue_realtime_test
//       --gtest_filter='*Herd*' --gtest_repeat=10   (one command line)
#include <berth/function_adapter.hpp>
#include <berth/pool.hpp>

#include "support/failure_log.hpp"
#include "support/hook_gate.hpp"
#include "support/protocol_options.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using testing::failure_log;
using testing::hook_point;
using testing::scoped_test_hook;

std::int64_t ms(steady::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

/// A connection: an id. The adapter counts connects and open connections
/// and keeps the peak of the latter.
struct conn_counters {
  std::atomic<int> connects{0}, open{0}, peak_open{0};
  void opened() {
    connects.fetch_add(1);
    const int now = open.fetch_add(1) + 1;
    int peak = peak_open.load();
    while (now > peak && !peak_open.compare_exchange_weak(peak, now)) {
    }
  }
};
using int_pool = pool<function_adapter<int>>;

using testing::protocol_options;

/// Lets `n` threads go at once, once all have arrived (they park on an
/// atomic wait meanwhile, so creating the rest is not slowed by spinners).
class start_line {
 public:
  explicit start_line(int n) : n_(n) {}
  void arrive_and_wait() {
    ready_.fetch_add(1);
    go_.wait(false);
  }
  void start() {
    while (ready_.load() < n_) std::this_thread::yield();
    go_.store(true);
    go_.notify_all();
  }

 private:
  const int n_;
  std::atomic<int> ready_{0};
  std::atomic<bool> go_{false};
};

// ---- absolute deadlines, on the real clock ----------------------------------------

// An acquire that gets no connection fails within [timeout, timeout + 250 ms]
// (here 200 ms, so [200, 450] ms: the bound absorbs a loaded 2-core machine),
// with errc::timeout, whatever its slow path meets meanwhile: the creator
// failing and retrying with backoff, or handing it one new connection after
// another that fails validation (each retry re-enters the wait; none re-arms
// the deadline: node-mysql2 once turned a 500 ms timeout into 2309 ms that
// way). Repeated 3 times per variant.
TEST(FaultCatalogueRealtimeTest, AFailedAcquireReturnsWithinItsDeadlineWhateverItsRetries) {
  constexpr auto timeout = 200ms;
  constexpr auto bound = 250ms;
  enum class variant { connects_fail, validations_fail };
  for (const variant v : {variant::connects_fail, variant::validations_fail}) {
    const char* name = v == variant::connects_fail ? "connects_fail" : "validations_fail";
    conn_counters n;
    std::atomic<bool> down{false};
    function_adapter<int>::callables c;
    c.connect = [&] {
      if (down.load()) throw std::runtime_error("refused (test)");
      std::this_thread::sleep_for(1ms);
      n.opened();
      return n.connects.load();
    };
    c.validate = [](int&) { return false; };
    c.close = [&](int&) { n.open.fetch_sub(1); };
    pool_options o = protocol_options(name, 2, 1);
    o.breaker_threshold = 0;  // no fail-fast: the acquire waits out its deadline
    if (v == variant::validations_fail) {
      o.validate_on_acquire = true;
      o.validation_bypass = 0ms;  // every acquire that waited validates
    }
    int_pool p(function_adapter<int>{std::move(c)}, o);
    auto held = p.try_acquire();  // fast path: not validated
    ASSERT_TRUE(held) << held.error().message();
    if (v == variant::connects_fail) down = true;
    for (int k = 0; k < 3; ++k) {
      const auto t0 = steady::now();
      auto r = p.acquire_for(timeout);
      const auto took = steady::now() - t0;
      ASSERT_FALSE(r) << name << ": nothing can serve it";
      EXPECT_EQ(r.error().code, errc::timeout) << name << ": " << r.error().message();
      EXPECT_GE(took, timeout) << name << ": returned early, after " << ms(took) << " ms";
      EXPECT_LE(took, timeout + bound) << name << ": returned after " << ms(took) << " ms for a 200 ms timeout";
      EXPECT_GE(r.error().waited, timeout) << name;
      std::printf("[          ] %s #%d: failed after %lld ms; %d connects so far\n", name, k,
                  static_cast<long long>(ms(took)), n.connects.load());
    }
    if (v == variant::validations_fail)
      EXPECT_GT(n.connects.load(), 3) << "the acquires met new connections that failed validation";
    else
      EXPECT_GT(p.stats().creation_failures, 1u) << "the creator retried meanwhile";
  }
}

// A thread holding the pool's only connection acquires again: it fails with
// errc::timeout within [100, 350] ms of its 100 ms timeout, never hangs, and
// the error points at the outer acquire (the fake-clock version, with the
// message, is NestedAcquireOnAnExhaustedPoolFailsAtItsDeadlineAndSaysSo).
TEST(FaultCatalogueRealtimeTest, NestedAcquireOnAnExhaustedPoolFailsWithinItsDeadline) {
  function_adapter<int>::callables c;
  c.connect = [] { return 1; };
  int_pool p(function_adapter<int>{std::move(c)}, protocol_options("nested", 1, 1));
  auto outer = p.acquire_for(1s);
  ASSERT_TRUE(outer) << outer.error().message();
  for (int k = 0; k < 3; ++k) {
    const auto t0 = steady::now();
    auto inner = p.acquire_for(100ms);
    const auto took = steady::now() - t0;
    ASSERT_FALSE(inner);
    EXPECT_EQ(inner.error().code, errc::timeout);
    EXPECT_GE(took, 100ms);
    EXPECT_LE(took, 350ms) << "returned after " << ms(took) << " ms";
    EXPECT_NE(inner.error().message().find("nested acquire"), std::string::npos) << inner.error().message();
  }
}

// ---- creation race ----------------------------------------------------------------

// 256 threads acquire at once from an empty pool of max_size 8 whose connects
// take ~2 ms each: exactly 8 connections are ever created (never more open
// at once), and all 256 acquires are served. The first 8 served hold their
// connections until 8 are out (so the demand needs all 8), the rest release
// at once. Bounded: 30 s deadlines, 10 s holds; well under a second in debug.
TEST(FaultCatalogueRealtimeTest, TwoHundredFiftySixAcquirersOnMaxEightCreateExactlyEight) {
  constexpr int threads = 256;
  conn_counters n;
  function_adapter<int>::callables c;
  c.connect = [&] {
    std::this_thread::sleep_for(2ms);
    n.opened();
    return n.connects.load();
  };
  c.close = [&](int&) { n.open.fetch_sub(1); };
  int_pool p(function_adapter<int>{std::move(c)}, protocol_options("creation-race", 8, 0));
  ASSERT_EQ(n.connects.load(), 0);

  failure_log failures;
  std::atomic<int> served{0};
  start_line line(threads);
  std::vector<std::thread> ts;
  for (int k = 0; k < threads; ++k)
    ts.emplace_back([&] {
      line.arrive_and_wait();
      auto l = p.acquire_for(30s);
      if (!l) return failures.add(l.error().message());
      // The first 8 served hold on until 8 are out, so that the demand
      // needs all 8 (with short holds 7 served everyone); bounded.
      const int nth = served.fetch_add(1) + 1;
      const auto until = steady::now() + 10s;
      while (nth <= 8 && served.load() < 8 && steady::now() < until) std::this_thread::yield();
    });
  line.start();
  for (auto& t : ts) t.join();

  EXPECT_EQ(failures.count(), 0) << failures.summary();
  EXPECT_EQ(served.load(), threads);
  EXPECT_EQ(n.connects.load(), 8) << "connections ever created";
  EXPECT_LE(n.peak_open.load(), 8) << "open at once";
  const pool_counts counts = p.counts();
  EXPECT_EQ(counts.total, 8u) << counts.to_string();
  EXPECT_EQ(counts.idle, 8u) << counts.to_string();
  EXPECT_EQ(p.stats().created, 8u);
}

// ---- waiter herd ------------------------------------------------------------------

/// One acquire's place in the waiter queue, read off the hooks (both under
/// the pool's mutex, so the two sequences are total orders).
struct queue_marks {
  static constexpr std::uint64_t none = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t enqueued = none;  // order of enqueue among all acquires
  std::uint64_t served = none;    // order in which the queue gave them a slot
};

/// The acquire running on this thread, for the enqueue hook.
thread_local queue_marks* tls_marks = nullptr;
/// Marks of the waiters in the queue, by waiter: a slot is given to a waiter
/// on the giver's thread. The sequences and the map are guarded by
/// order_mutex (the hooks also run under the pool's mutex).
std::mutex order_mutex;
std::unordered_map<const void*, queue_marks*> in_queue;
std::uint64_t enqueue_seq = 0, give_seq = 0;

void record_queue_order(hook_point p, const void* w) noexcept {
  std::lock_guard lk(order_mutex);
  if (p == hook_point::waiter_enqueued && tls_marks != nullptr && tls_marks->enqueued == queue_marks::none) {
    tls_marks->enqueued = enqueue_seq++;
    in_queue[w] = tls_marks;
  } else if (p == hook_point::waiter_given) {
    if (const auto it = in_queue.find(w); it != in_queue.end()) {
      it->second->served = give_seq++;
      in_queue.erase(it);
    }
  }
}

/// Counts, for each queued acquire, the acquires enqueued after it but
/// served before it (it was overtaken in the queue). O(n log n).
struct overtaking {
  std::uint64_t total = 0;  // pairs (a, b): a enqueued before b, b served before a
  std::uint64_t worst = 0;  // the most any one acquire was overtaken
};
overtaking count_overtaking(std::vector<queue_marks> q) {
  // Sorted by enqueue order; walk it backwards, counting earlier service
  // ranks among the later-enqueued with a Fenwick tree over service ranks.
  std::sort(q.begin(), q.end(), [](const auto& a, const auto& b) { return a.enqueued < b.enqueued; });
  std::vector<std::uint64_t> ranks;
  for (const auto& m : q) ranks.push_back(m.served);
  std::vector<std::uint64_t> sorted = ranks;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::uint64_t> tree(sorted.size() + 1, 0);
  overtaking out;
  for (std::size_t k = ranks.size(); k-- > 0;) {
    const std::size_t r = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), ranks[k]) -
                                                   sorted.begin());  // 0-based rank
    std::uint64_t before = 0;  // later-enqueued served before this one
    for (std::size_t i = r; i > 0; i -= i & (~i + 1)) before += tree[i];
    for (std::size_t i = r + 1; i < tree.size(); i += i & (~i + 1)) ++tree[i];
    out.total += before;
    out.worst = std::max(out.worst, before);
  }
  return out;
}

// 1,000 threads, 25 acquires each (25,000) on a pool of 3, released at once:
// every acquire succeeds, none is lost (a watchdog fails the test if no
// acquire completes for 10 s, or if a connection stays idle beside a waiter
// for 1 s, and closes the pool so the threads return), and the waiter queue
// serves in arrival order: among acquires that queued, at most 0.1% of them
// (and each at most 3 times, max_size) are overtaken by an acquire that
// enqueued later. Acquires that take an idle connection without queueing
// (throughput mode, issue 9) are not in the queue's order; their share is
// printed. Measured on the 2-core machine: debug ~0.4 s (16-29% of the
// acquires queued, 0 overtaken). Under ThreadSanitizer the full size took
// 2.6 s (47% queued, 0 overtaken), too much of the CI budget for one case,
// so TSan runs 250 threads x 20 (0.35 s, 42% queued): the queue's logic is
// the same at any thread count above max_size, and the soak command in this
// file's header runs the full size as long as wanted.
TEST(FaultCatalogueRealtimeTest, HerdOfAThousandThreadsOnAPoolOfThreeIsServedInQueueOrder) {
#if defined(BERTH_TSAN)  // cmake/sanitizers.cmake
  constexpr int threads = 250, per_thread = 20;
#else
  constexpr int threads = 1000, per_thread = 25;
#endif
  constexpr auto hold = 20us;
  int rounds = 1;
  if (const char* r = std::getenv("BERTH_HERD_ROUNDS")) rounds = std::max(1, std::atoi(r));

  scoped_test_hook hook(&record_queue_order);  // before the pool
  conn_counters n;
  function_adapter<int>::callables c;
  c.connect = [&] {
    n.opened();
    return n.connects.load();
  };
  c.close = [&](int&) { n.open.fetch_sub(1); };
  int_pool p(function_adapter<int>{std::move(c)}, protocol_options("herd", 3, 3));

  const int per = per_thread * rounds;
  std::vector<std::vector<queue_marks>> marks(threads, std::vector<queue_marks>(static_cast<std::size_t>(per)));
  failure_log failures;
  std::atomic<int> done{0};
  std::atomic<bool> finished{false}, fired{false};
  std::string why;
  std::thread dog([&] {
    int last = -1;
    auto progress_at = steady::now();
    bool stuck = false;  // idle beside a waiter since stuck_since
    auto stuck_since = progress_at;
    while (!finished.load()) {
      std::this_thread::sleep_for(5ms);
      const auto now = steady::now();
      if (const int d = done.load(); d != last) {
        last = d;
        progress_at = now;
      }
      const pool_counts k = p.counts();
      if (k.idle >= 1 && k.waiting >= 1) {
        if (!stuck) stuck_since = now;
        stuck = true;
      } else {
        stuck = false;
      }
      if (now - progress_at > 10s || (stuck && now - stuck_since > 1s)) {
        why = (now - progress_at > 10s ? "no acquire completed for 10 s: " : "idle beside a waiter for 1 s: ") +
              k.to_string();
        fired.store(true);
        p.close();  // every waiter returns (pool_closed)
        return;
      }
    }
  });

  const auto t0 = steady::now();
  start_line line(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      line.arrive_and_wait();
      for (auto& m : marks[static_cast<std::size_t>(t)]) {
        tls_marks = &m;
        auto l = p.acquire_for(60s);
        tls_marks = nullptr;
        if (!l) return failures.add(l.error().message());
        done.fetch_add(1);
        const auto until = steady::now() + hold;  // a short query
        while (steady::now() < until) {
        }
      }
    });
  line.start();
  for (auto& t : ts) t.join();
  const auto took = steady::now() - t0;
  finished.store(true);
  dog.join();

  ASSERT_FALSE(fired.load()) << why;
  EXPECT_EQ(failures.count(), 0) << failures.summary();
  EXPECT_EQ(done.load(), threads * per);

  std::vector<queue_marks> queued;
  for (const auto& v : marks)
    for (const auto& m : v)
      if (m.enqueued != queue_marks::none) queued.push_back(m);
  for (const auto& m : queued) ASSERT_NE(m.served, queue_marks::none) << "a queued acquire succeeded unserved";
  const overtaking o = count_overtaking(queued);
  std::printf("[          ] %d threads x %d acquires in %lld ms; %zu queued (%.1f%%), overtaken pairs %llu, "
              "worst %llu\n",
              threads, per, static_cast<long long>(ms(took)), queued.size(),
              100.0 * static_cast<double>(queued.size()) / (threads * per), static_cast<unsigned long long>(o.total),
              static_cast<unsigned long long>(o.worst));
  EXPECT_LE(o.total * 1000, queued.size()) << "overtaken pairs: " << o.total << " of " << queued.size() << " queued";
  EXPECT_LE(o.worst, 3u);
  EXPECT_EQ(n.connects.load(), 3);
  RecordProperty("queued", static_cast<int>(queued.size()));
  RecordProperty("took_ms", static_cast<int>(ms(took)));
}

}  // namespace
}  // namespace berth
