// Real-time repro of the hand-off lost wake-up (the deterministic versions,
// on a gated fake clock, are in waiter_queue_test.cpp). Threads, the real steady
// clock and the pool's default clock: the scenario is looped with a bounded
// real-time budget and a watchdog, so it hits the race window by repetition.
// Labelled integration: it depends on real scheduling.
//
// Contract: whenever an acquirer waits, no connection stays idle for longer
// than it takes a woken thread to run; every waiter with a long deadline is
// eventually served.
#include <berth/pool.hpp>

#include "support/fake_adapter.hpp"
#include "support/protocol_options.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::fake_adapter;
using testing::fake_script;
using fake_pool = pool<fake_adapter>;
using steady = std::chrono::steady_clock;

/// Spins (no sleep: the interleaving needs sub-microsecond placement) until
/// `until`.
void spin_until(steady::time_point until) {
  while (steady::now() < until) {
  }
}

/// Fails the test if counts() shows `idle >= 1 && waiting >= 1` continuously
/// for more than `limit`; then closes the pool so every waiter returns
/// (errc::pool_closed) and the test cannot hang.
class watchdog {
 public:
  watchdog(fake_pool& p, steady::duration limit) : pool_(p), limit_(limit), thread_([this] { run(); }) {}
  ~watchdog() {
    stop_.store(true);
    thread_.join();
  }
  bool fired() const { return fired_.load(); }
  const std::string& report() const { return report_; }  // valid once fired() (or after stop)

 private:
  void run() {
    std::optional<steady::time_point> since;
    while (!stop_.load()) {
      const pool_counts c = pool_.counts();
      const auto now = steady::now();
      if (c.idle >= 1 && c.waiting >= 1) {
        if (!since) since = now;
        if (now - *since > limit_) {
          report_ = c.to_string() + " strict_handoff=" + std::to_string(c.strict_handoff) + " for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - *since).count()) +
                    " ms";
          fired_.store(true);
          pool_.close();  // unblocks the waiters
          return;
        }
      } else {
        since.reset();
      }
      std::this_thread::sleep_for(100us);  // a watchdog, not part of the race
    }
  }
  fake_pool& pool_;
  const steady::duration limit_;
  std::atomic<bool> stop_{false}, fired_{false};
  std::string report_;
  std::thread thread_;
};

// Observed on the current code (9b69ded), debug build, 3 runs: FAILS. The
// watchdog fired at iterations 117, 205 and 389 (0.5-0.9 s): "total=1,
// idle=1, leased=0, waiting=2, strict_handoff=1 for 200 ms". With a trial
// fix (the woken head pops even when the pool is strict; not committed) it
// ran the whole 4 s budget, ~2500 iterations, every waiter served.
//
// Each iteration: pool of 1, handoff_after 1 ms; W1 and W2 block (10 s
// deadlines); once W1 has waited past handoff_after, the lease is released
// (waking W1) and this thread barges in with try_acquire, holds the
// connection for a delay swept over 0..~40 us and releases it, trying to
// land its release between W1's wake-up and W1's "turn strict" step.
TEST(HandoffRealtimeTest, LostWakeupWhenPoolTurnsStrictBug) {
  auto script = std::make_shared<fake_script>();
  pool_options o = testing::protocol_options("handoff-rt", 1, 1);
  o.handoff_after = 1ms;
  fake_pool p(fake_adapter{script}, o);  // the default (steady) clock

  const auto budget_end = steady::now() + 4s;
  std::uint64_t iterations = 0, barged = 0, served = 0;
  bool other_failure = false;
  std::string other_report;
  {
    watchdog dog(p, 200ms);
    while (steady::now() < budget_end && !dog.fired() && !other_failure) {
      auto held = p.acquire_for(5s);
      if (!held) {  // the pool was closed by the watchdog
        if (!dog.fired()) {
          other_failure = true;
          other_report = held.error().message();
        }
        break;
      }
      std::atomic<int> ok{0};
      std::atomic<int> done{0};
      auto waiter = [&] {
        auto r = p.acquire_for(10s);
        if (r) ok.fetch_add(1);
        done.fetch_add(1);
      };
      std::thread w1(waiter);
      const auto reg_deadline = steady::now() + 2s;
      while (p.counts().waiting < 1 && steady::now() < reg_deadline) std::this_thread::yield();
      const auto w1_registered = steady::now();
      std::thread w2(waiter);
      while (p.counts().waiting < 2 && steady::now() < reg_deadline) std::this_thread::yield();
      // W1 has waited past handoff_after when it next checks.
      spin_until(w1_registered + 1200us);

      const auto hold = std::chrono::nanoseconds{static_cast<std::int64_t>((iterations * 97) % 160) * 250};
      held.value().release();  // throughput mode: wakes W1
      if (auto b = p.try_acquire()) {
        ++barged;
        spin_until(steady::now() + hold);
        b.value().release();
      }
      w1.join();  // bounded: 10 s deadlines, and the watchdog closes the pool after 200 ms stuck
      w2.join();
      if (ok.load() == 2) ++served;
      ++iterations;
    }
    if (dog.fired()) {
      ADD_FAILURE() << "a connection stayed idle while acquirers waited: " << dog.report() << " (iteration "
                    << iterations << ", " << barged << " barged)";
    }
  }
  EXPECT_FALSE(other_failure) << other_report;
  RecordProperty("iterations", static_cast<int>(iterations));
  std::printf("[          ] %llu iterations, %llu barged, %llu with both waiters served\n",
              static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(barged),
              static_cast<unsigned long long>(served));
  EXPECT_GT(iterations, 0u);
}

}  // namespace
}  // namespace berth
