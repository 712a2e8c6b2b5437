// blocking_worker.hpp: the blocking acquirer threads of the stress
// harnesses (stress_pool.cpp, stress_async.cpp).
//
// Each worker loops: one operation picked at random (try_acquire 25%,
// acquire_for with a random short timeout 35%, acquire 15%, with 25%), then
// the lessee protocol around its use of the connection (claim() the owner
// word, hold for nothing, a yield or a few microseconds, bump the plain use
// counter, unclaim()), then the lease ends by destructor, release(), a move,
// discard() (~2%) or unwinding (~2%). Every outcome is checked on the spot
// (error codes, timeout never before the deadline, lateness_bound) and
// counted in a tally that the harness audits against stats() at quiescence.
//
// Synchronization: tallies are plain, written by their worker and read after
// join(); progress counters are relaxed atomics read only for display (the
// watchdog's report, the live view's ops/s);
// control::close_returned is the release/acquire pair that orders acquires
// started after close() returned.
#pragma once

#include "live_view.hpp"
#include "stress_common.hpp"

#include <berth/pool.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace berth::stress {

using stress_pool = pool<stress_adapter>;

/// pool_options::acquire_timeout of every stress pool: acquire() and with().
inline constexpr std::chrono::milliseconds acquire_timeout{50};
/// Close phase: operations per thread after close() returned.
inline constexpr unsigned post_close_ops = 4;

enum class activity : int { idle, try_acquire, acquire_for, acquire, with, holding, done };
inline const char* activity_name(int a) {
  static constexpr std::array<const char*, 7> names{"idle",    "try_acquire", "acquire_for", "acquire",
                                                    "with",    "holding",     "done"};
  return a >= 0 && static_cast<std::size_t>(a) < names.size() ? names[static_cast<std::size_t>(a)] : "?";
}

/// One per worker; written by it, read by the main thread after join.
struct tally {
  std::uint64_t ops = 0;
  std::uint64_t acquired = 0;  // successful acquires (each bumps one connection's use counter)
  std::uint64_t timeouts = 0;
  std::uint64_t discards = 0;
  std::uint64_t throws = 0;  // leases ended by unwinding (including inside with())
  std::uint64_t with_calls = 0;
  std::uint64_t post_close = 0;  // ops started after close()/drain() returned
  std::uint64_t timeouts_with_creation_error = 0;
  std::array<std::uint64_t, 8> codes{};  // failed acquires by errc value
  nanoseconds max_late{0};               // worst return past the deadline

  void merge(const tally& o) {
    ops += o.ops;
    acquired += o.acquired;
    timeouts += o.timeouts;
    discards += o.discards;
    throws += o.throws;
    with_calls += o.with_calls;
    post_close += o.post_close;
    timeouts_with_creation_error += o.timeouts_with_creation_error;
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] += o.codes[i];
    max_late = std::max(max_late, o.max_late);
  }
  std::uint64_t code(errc c) const { return codes[static_cast<std::size_t>(c)]; }
};

/// Progress of one worker, for the close trigger and the watchdog's report.
struct alignas(128) thread_progress {
  std::atomic<std::uint64_t> iterations{0};  // relaxed: progress display only
  std::atomic<int> doing{0};                 // relaxed: an activity, display only
};

struct control {
  explicit control(unsigned n) : threads(n), progress(std::make_unique<thread_progress[]>(n)) {}
  const unsigned threads;
  std::unique_ptr<thread_progress[]> progress;
  /// Soak mode: the main thread's "time is up". Relaxed: only ends a loop.
  std::atomic<bool> stop{false};
  /// Close phase: set (release) after close()/drain() returned; a worker that
  /// sees it (acquire) must get errc::pool_closed from every acquire after.
  std::atomic<bool> close_returned{false};

  std::uint64_t total_iterations() const {
    std::uint64_t n = 0;
    for (unsigned i = 0; i < threads; ++i) n += progress[i].iterations.load(std::memory_order_relaxed);
    return n;
  }
};

inline void report_state(const stress_pool& p, const stress_script& s, const control& ctl) {
  std::fprintf(stderr, "  pool: %s, closed=%d\n", p.counts().to_string().c_str(), p.closed() ? 1 : 0);
  std::fprintf(stderr, "  adapter: live=%lld created=%llu closed=%llu in_connect=%d\n",
               static_cast<long long>(s.live.load()), ull(s.created.load()), ull(s.closed.load()),
               s.in_connect.load());
  unsigned finished = 0;
  for (unsigned i = 0; i < ctl.threads; ++i) {
    const int doing = ctl.progress[i].doing.load(std::memory_order_relaxed);
    if (doing == static_cast<int>(activity::done)) {
      ++finished;
      continue;
    }
    std::fprintf(stderr, "  thread %u: iterations=%llu doing=%s\n", i + 1,
                 ull(ctl.progress[i].iterations.load(std::memory_order_relaxed)), activity_name(doing));
  }
  std::fprintf(stderr, "  %u of %u threads finished\n", finished, ctl.threads);
}

struct worker_config {
  std::uint64_t iterations = 0;  // 0: until control::stop (soak) or the close phase ends
  bool close_phase = false;
  /// The pool's max_size; with max_size_varies (pool::resize() under load),
  /// the largest it takes.
  std::size_t max_size = 0;
  bool max_size_varies = false;
  const char* pool_name = "";
  /// The pool's clock: timeouts and lateness are measured on it.
  const clock_source* clock = &clock_source::steady();
  /// Called after each operation, with the worker's generator (another
  /// harness's extra step, e.g. cancelling someone's request right after a
  /// release). May be empty.
  std::function<void(rng&)> after_op;
  /// Acquirers that may wait besides these threads (another harness's
  /// asynchronous requests): bounds the waiting count an error reports.
  std::size_t other_waiters = 0;
  /// Operations besides these threads' (another harness's requests), for
  /// the live view's ops/s. May be empty.
  std::function<std::uint64_t()> other_ops;
  /// Set by run_workers() (live_view.hpp): where successful acquires'
  /// latencies go; nullptr: not recorded.
  live::latency_recorder* latency = nullptr;
};

class worker {
 public:
  worker(stress_pool& p, const worker_config& cfg, control& ctl, std::uint32_t index, std::uint64_t seed)
      : pool_(p), cfg_(cfg), ctl_(ctl), index_(index), me_(std::uint64_t{index} + 1), rng_(seed) {}

  void run() {
    unsigned after = 0;
    for (std::uint64_t it = 0;; ++it) {
      if (cfg_.close_phase) {
        if (after == post_close_ops) break;
      } else if (cfg_.iterations != 0 ? it == cfg_.iterations : ctl_.stop.load(std::memory_order_relaxed)) {
        break;
      }
      // Acquire: pairs with the main thread's release store after close()
      // returned, so our acquires are ordered after the close.
      const bool after_close = cfg_.close_phase && ctl_.close_returned.load(std::memory_order_acquire);
      if (after_close) {
        ++after;
        ++t_.post_close;
      }
      one_op(after_close);
      if (cfg_.after_op) cfg_.after_op(rng_);
      ctl_.progress[index_].iterations.store(it + 1, std::memory_order_relaxed);
    }
    doing(activity::done);
  }

  const tally& result() const { return t_; }

 private:
  void doing(activity a) { ctl_.progress[index_].doing.store(static_cast<int>(a), std::memory_order_relaxed); }

  void one_op(bool after_close) {
    ++t_.ops;
    const std::uint64_t pick = rng_.below(100);
    if (pick < 25)
      op_try_acquire(after_close);
    else if (pick < 60)
      op_acquire_for(after_close);
    else if (pick < 75)
      op_acquire(after_close);
    else
      op_with(after_close);
    doing(activity::idle);
  }

  void op_try_acquire(bool after_close) {
    doing(activity::try_acquire);
    const auto t0 = cfg_.clock->now();
    auto r = pool_.try_acquire();
    const auto t1 = cfg_.clock->now();
    outcome("try_acquire", r, after_close, false, t0, t1, nanoseconds{0});
  }

  void op_acquire_for(bool after_close) {
    doing(activity::acquire_for);
    const std::uint64_t k = rng_.below(100);
    const std::chrono::microseconds timeout{static_cast<std::int64_t>(
        k < 10 ? 0 : k < 40 ? rng_.between(1, 100) : k < 85 ? rng_.between(100, 2000) : rng_.between(2000, 20000))};
    const auto t0 = cfg_.clock->now();
    auto r = pool_.acquire_for(timeout);
    const auto t1 = cfg_.clock->now();
    outcome("acquire_for", r, after_close, true, t0, t1, timeout);
  }

  void op_acquire(bool after_close) {
    doing(activity::acquire);
    const auto t0 = cfg_.clock->now();
    auto r = pool_.acquire();
    const auto t1 = cfg_.clock->now();
    outcome("acquire", r, after_close, true, t0, t1, acquire_timeout);
  }

  void op_with(bool after_close) {
    doing(activity::with);
    bool ran = false;
    const auto t0 = cfg_.clock->now();
    try {
      pool_.with([&](stress_connection& c) {
        ran = true;
        ++t_.acquired;
        ++t_.with_calls;
        use(c, "with()");
        if (rng_.below(1000) < 20) {
          ++t_.throws;
          throw injected_fault("stress: thrown while holding (with)");
        }
      });
    } catch (const injected_fault&) {
      // expected: the lease inside with() was released during unwinding
    } catch (const acquire_exception& e) {
      const auto t1 = cfg_.clock->now();
      BERTH_STRESS_CHECK(!ran, "with() threw acquire_exception after running the function: %s", e.what());
      BERTH_STRESS_CHECK(e.code().category() == error_category(), "with() threw a foreign error code: %s",
                         e.what());
      failed("with", static_cast<errc>(e.code().value()), nullptr, after_close, true, t0, t1, acquire_timeout);
      return;
    }
    BERTH_STRESS_CHECK(!(after_close && ran), "with() ran its function after close() returned");
  }

  void outcome(const char* what, stress_pool::acquire_result& r, bool after_close, bool timed,
               clock_type::time_point t0, clock_type::time_point t1, nanoseconds timeout) {
    if (!r) return failed(what, r.error().code, &r.error(), after_close, timed, t0, t1, timeout);
    BERTH_STRESS_CHECK(!after_close, "%s succeeded after close()/drain() returned", what);
    check_lateness(what, t0, t1, timeout, "a lease");
    // The live view's latency: already timed; a fake clock's is not real.
    if (cfg_.latency != nullptr && cfg_.clock == &clock_source::steady()) cfg_.latency->record(t1 - t0);
    ++t_.acquired;
    const std::uint64_t ending = rng_.below(1000);
    try {
      stress_pool::lease_type held = std::move(*r);
      BERTH_STRESS_CHECK(held && !*r, "moving a lease did not move ownership");
      use(*held, what);
      if (ending < 20) {
        ++t_.discards;
        held.discard();
        BERTH_STRESS_CHECK(!held, "discard() left the lease engaged");
      } else if (ending < 40) {
        ++t_.throws;
        throw injected_fault("stress: thrown while holding a lease");
      } else if (ending < 90) {
        held.release();
        BERTH_STRESS_CHECK(!held, "release() left the lease engaged");
        held.release();  // no-op on an empty lease
      } else if (ending < 140) {
        stress_pool::lease_type other;
        other = std::move(held);
        BERTH_STRESS_CHECK(other && !held, "move assignment did not move ownership");
      }
      // else: the destructor returns it
    } catch (const injected_fault&) {
      // expected: `held` was destroyed during unwinding
    }
  }

  /// The ownership protocol around one use of a connection.
  void use(stress_connection& c, const char* how) {
    doing(activity::holding);
    connection_state& s = c.state();
    claim(s, me_, how);
    const std::uint64_t h = rng_.below(100);
    if (h >= 90)
      std::this_thread::sleep_for(std::chrono::microseconds{static_cast<std::int64_t>(rng_.between(1, 20))});
    else if (h >= 80)
      std::this_thread::yield();
    ++s.uses;
    unclaim(s, me_);
  }

  void failed(const char* what, errc code, const acquire_error* e, bool after_close, bool timed,
              clock_type::time_point t0, clock_type::time_point t1, nanoseconds timeout) {
    const auto ci = static_cast<std::size_t>(code);
    BERTH_STRESS_CHECK(ci < t_.codes.size(), "%s returned an unknown error code %zu", what, ci);
    ++t_.codes[ci];
    if (after_close)
      BERTH_STRESS_CHECK(code == errc::pool_closed, "%s returned errc::%s after close()/drain() returned, want pool_closed",
                         what, errc_name(code));
    const bool closed_ok = cfg_.close_phase && code == errc::pool_closed;
    if (timed)
      BERTH_STRESS_CHECK(code == errc::timeout || closed_ok, "%s failed with errc::%s", what, errc_name(code));
    else
      BERTH_STRESS_CHECK(code == errc::would_block || closed_ok, "%s failed with errc::%s", what, errc_name(code));
    const nanoseconds elapsed = t1 - t0;
    if (code == errc::timeout) {
      ++t_.timeouts;
      BERTH_STRESS_CHECK(elapsed >= timeout, "%s returned errc::timeout after %lld us, before its %lld us deadline",
                         what, to_us(elapsed), to_us(timeout));
    }
    check_lateness(what, t0, t1, timeout, errc_name(code));
    if (code == errc::pool_closed && !after_close) {
      // Back off like a client would. Without it, between close() and
      // close_returned all threads spin on failing acquires, each taking the
      // pool's slow-path mutex; on 2 cores that storm delayed single acquires
      // by up to 0.8 s (Debug, with a benchmark running beside it), tripping
      // the lateness check on scheduling rather than on the pool.
      std::this_thread::sleep_for(std::chrono::microseconds{static_cast<std::int64_t>(rng_.between(50, 500))});
    }
    if (e == nullptr) return;
    BERTH_STRESS_CHECK(e->code == code, "inconsistent error");
    if (cfg_.max_size_varies)
      BERTH_STRESS_CHECK(e->counts.max_size >= 1 && e->counts.max_size <= cfg_.max_size &&
                             e->counts.min_idle <= e->counts.max_size,
                         "%s: error counts say max_size=%zu min_idle=%zu, limit %zu", what, e->counts.max_size,
                         e->counts.min_idle, cfg_.max_size);
    else
      BERTH_STRESS_CHECK(e->counts.max_size == cfg_.max_size, "%s: error counts say max_size=%zu, want %zu", what,
                         e->counts.max_size, cfg_.max_size);
    BERTH_STRESS_CHECK(e->counts.waiting <= ctl_.threads + cfg_.other_waiters,
                       "%s: error counts say waiting=%zu with %u threads and %zu other waiters", what,
                       e->counts.waiting, ctl_.threads, cfg_.other_waiters);
    if (code == errc::timeout) {
      BERTH_STRESS_CHECK(e->pool_name == cfg_.pool_name, "%s: timeout error names pool '%s'", what,
                         e->pool_name.c_str());
      BERTH_STRESS_CHECK(e->waited >= nanoseconds{0} && e->waited <= elapsed,
                         "%s: timeout error says waited %lld us, caller measured %lld us", what, to_us(e->waited),
                         to_us(elapsed));
      // No check that the counts include the caller as a waiter: a deadline
      // can pass before the caller ever queued, while it checked a claimed
      // connection (a validation at acquire, or retiring one flagged evicted
      // or expired: issue 6). PoolTest.TimeoutCarriesCountsAndSaysExhausted
      // pins the queued case.
      if (!e->last_creation_message.empty()) ++t_.timeouts_with_creation_error;
    }
  }

  /// Any acquire, whatever its outcome, returns within timeout + lateness_bound.
  void check_lateness(const char* what, clock_type::time_point t0, clock_type::time_point t1, nanoseconds timeout,
                      const char* result) {
    const nanoseconds late = (t1 - t0) - timeout;
    t_.max_late = std::max(t_.max_late, late);
    BERTH_STRESS_CHECK(late <= lateness_bound,
                       "%s (timeout %lld us) returned %s %lld us after its deadline (bound %lld ms): a stuck waiter",
                       what, to_us(timeout), result, to_us(late), static_cast<long long>(lateness_bound.count()));
  }

  stress_pool& pool_;
  const worker_config cfg_;
  control& ctl_;
  const std::uint32_t index_;
  const std::uint64_t me_;  // owner id, non-zero
  rng rng_;
  tally t_;
};

/// Starts one worker per thread; returns when `until` says stop; joins.
/// The live view (if any) watches the pool meanwhile, as phase
/// cfg.pool_name.
template <class Until>
tally run_workers(stress_pool& p, control& ctl, const worker_config& cfg, std::uint64_t seed, Until until) {
  worker_config wcfg = cfg;
  wcfg.latency = g_live != nullptr ? g_live->latency() : nullptr;
  live_phase watched(cfg.pool_name, p,
                     [&ctl, &cfg] { return ctl.total_iterations() + (cfg.other_ops ? cfg.other_ops() : 0); });
  std::vector<std::unique_ptr<worker>> workers;
  workers.reserve(ctl.threads);
  for (std::uint32_t i = 0; i < ctl.threads; ++i)
    workers.push_back(std::make_unique<worker>(p, wcfg, ctl, i, derive_seed(seed, 1000 + i)));
  std::vector<std::thread> threads;
  threads.reserve(ctl.threads);
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  until();
  for (auto& th : threads) th.join();
  watched.end();
  tally t;
  for (const auto& w : workers) t.merge(w->result());
  return t;
}

}  // namespace berth::stress
