// Tests of live::run_monitor's thread on a fake clock: it samples once per
// interval while a probe is attached, never calls a detached probe, writes
// plain status lines to a non-terminal descriptor when asked, and stop()
// returns the record.
#include <berth/live/run_monitor.hpp>

#include "support/eventually.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace berth::live {
namespace {

using namespace std::chrono_literals;
using berth::testing::eventually;

struct RunMonitorTest : ::testing::Test {
  testing::fake_clock clock;
  std::atomic<std::uint64_t> ops{0};
  std::atomic<int> reads{0};
  int fds[2] = {-1, -1};

  void SetUp() override {
    ASSERT_EQ(::pipe(fds), 0);
    ASSERT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  }
  void TearDown() override {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  std::string drain() {
    std::string out;
    char buf[512];
    for (ssize_t k; (k = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(k));
    return out;
  }
  probe make_probe() {
    probe p;
    p.phase = "phase-1";
    p.pools.push_back({"pool", [this] {
                         reads.fetch_add(1);
                         pool_reading r;
                         r.counts.max_size = 4;
                         r.counts.leased = 3;
                         return r;
                       }});
    p.ops = [this] { return ops.load(); };
    return p;
  }
  monitor_options options(std::optional<bool> live) {
    monitor_options o;
    o.interval = 250ms;
    o.plain_every = 1s;
    o.live = live;
    o.status_fd = fds[1];
    o.clock = &clock;
    o.latency_label = "test latency";
    return o;
  }
};

TEST_F(RunMonitorTest, SamplesOncePerIntervalWhileAttached) {
  run_monitor m(options(std::nullopt));
  EXPECT_EQ(m.mode(), status_mode::off) << "a pipe is no terminal";
  m.attach(make_probe());
  for (std::size_t k = 1; k <= 3; ++k) {
    ops += 100;
    clock.advance(250ms);
    ASSERT_TRUE(eventually([&] { return m.samples_taken() == k; })) << k;
  }
  m.detach();
  const int after_detach = reads.load();
  clock.advance(250ms);
  clock.advance(250ms);
  const run_record r = m.stop();
  EXPECT_EQ(reads.load(), after_detach) << "a detached probe is never called";
  EXPECT_EQ(r.samples.size(), 3u) << "detach right at a sample adds no empty window";
  EXPECT_EQ(r.interval, 250ms);
  EXPECT_EQ(r.latency_label, "test latency");
  EXPECT_EQ(r.duration, 1250ms);
  ASSERT_EQ(r.phases.size(), 1u);
  EXPECT_EQ(r.phases[0].ops, 300u);
  EXPECT_DOUBLE_EQ(r.samples[1].ops_per_second(), 400.0);
  EXPECT_EQ(drain(), "") << "status off";
}

TEST_F(RunMonitorTest, PlainLinesOnANonTerminalWhenAsked) {
  run_monitor m(options(true));
  EXPECT_EQ(m.mode(), status_mode::plain);
  m.attach(make_probe());
  for (std::size_t k = 1; k <= 4; ++k) {
    clock.advance(250ms);
    ASSERT_TRUE(eventually([&] { return m.samples_taken() == k; }));
  }
  const std::string out = drain();
  EXPECT_EQ(out.rfind("live: 1.0s phase-1 | ", 0), 0u) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "one line after one second";
  (void)m.stop();
}

// A probe's callable that threw on the sampling thread ended the process
// (std::terminate); so did one throwing in stop()'s final sample from the
// destructor. A throwing probe now skips that sample, counted.
struct ThrowingProbeTest : RunMonitorTest {
  std::atomic<bool> fail{false};
  probe failing_probe() {
    probe p = make_probe();
    p.ops = [this]() -> std::uint64_t {
      if (fail.load()) throw std::runtime_error("probe failed");
      return ops.load();
    };
    return p;
  }
  /// Attaches failing_probe(), makes it fail, and waits until the monitor's
  /// thread has skipped one sample; false if it did not.
  bool skipped_one(run_monitor& m) {
    m.attach(failing_probe());
    fail = true;
    clock.advance(250ms);
    return eventually([&] { return m.samples_skipped() == 1; });
  }
};

TEST_F(ThrowingProbeTest, SkipsTheSampleAndTheNextCoversItsWindowBug) {
  run_monitor m(options(std::nullopt));
  m.attach(failing_probe());
  ops += 100;
  clock.advance(250ms);
  ASSERT_TRUE(eventually([&] { return m.samples_taken() == 1; }));
  fail = true;
  ops += 100;
  clock.advance(250ms);
  ASSERT_TRUE(eventually([&] { return m.samples_skipped() == 1; }));
  fail = false;
  ops += 100;
  clock.advance(250ms);
  ASSERT_TRUE(eventually([&] { return m.samples_taken() == 2; }));
  fail = true;
  clock.advance(250ms);
  ASSERT_TRUE(eventually([&] { return m.samples_skipped() == 2; }));
  const run_record r = m.stop();  // its final sample throws too
  EXPECT_EQ(r.samples_skipped, 3u);
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.samples[1].window, 500ms) << "the skipped window is in the next sample";
  EXPECT_EQ(r.samples[1].ops, 200u);
  ASSERT_EQ(r.phases.size(), 1u);
  EXPECT_EQ(r.phases[0].ops, 300u);
  EXPECT_EQ(r.phases[0].samples, 2u);
}

TEST_F(ThrowingProbeTest, DetachRethrowsButDetachesBug) {
  run_monitor m(options(std::nullopt));
  ASSERT_TRUE(skipped_one(m));
  EXPECT_THROW(m.detach(), std::runtime_error);
  const int after_detach = reads.load();
  clock.advance(250ms);
  clock.advance(250ms);
  const run_record r = m.stop();
  EXPECT_EQ(reads.load(), after_detach) << "detached all the same";
  EXPECT_EQ(r.samples_skipped, 1u) << "the caller got detach()'s exception";
  EXPECT_TRUE(r.samples.empty());
}

TEST_F(ThrowingProbeTest, DestructorWithAThrowingProbeAttachedBug) {
  {
    run_monitor m(options(std::nullopt));
    ASSERT_TRUE(skipped_one(m));
    clock.advance(100ms);  // the destructor's final sample throws (or std::terminate)
  }
  SUCCEED();
}

TEST_F(RunMonitorTest, PrintAboveRunsTheFunction) {
  run_monitor m(options(false));
  bool ran = false;
  m.print_above([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST_F(RunMonitorTest, RejectsANonPositiveInterval) {
  monitor_options o = options(false);
  o.interval = 0ms;
  EXPECT_THROW(run_monitor{o}, std::invalid_argument);
}

}  // namespace
}  // namespace berth::live
