// gate_line_test.cpp: the gate lines, their pins and generations
// (core/include/berth/detail/gate_line.hpp). The destruction race they
// close on the inline release is forced in fault_catalogue_test.cpp
// (DestructionRaceTest).
#include <berth/detail/gate_line.hpp>

#include "support/fork_child.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace berth::detail {
namespace {

TEST(GateLineTest, APinWithTheCurrentGenerationHoldsUntilUnpinned) {
  gate_lease lease;
  gate_line& l = lease.line();
  const std::uint64_t g = l.generation.load();
  ASSERT_TRUE(pin(l, g));
  EXPECT_TRUE(lease.pinned());
  lease.retire();
  EXPECT_TRUE(lease.pinned()) << "a pin taken before the retirement is still held: the destruction waits";
  unpin(l);
  EXPECT_FALSE(lease.pinned());
}

TEST(GateLineTest, APinAfterTheRetirementFailsAndLeavesNoPin) {
  gate_lease lease;
  gate_line& l = lease.line();
  const std::uint64_t g = l.generation.load();
  lease.retire();
  EXPECT_FALSE(pin(l, g)) << "the pool is going: a releaser of it must not enter";
  EXPECT_FALSE(lease.pinned());
  lease.retire();  // idempotent: one bump only
  EXPECT_EQ(l.generation.load(), g + 1);
}

// The table recycles lines, last given back first: a releaser of the
// earlier pool holds a generation the line never has again, and the next
// pool starts with a zero word whatever the last one left.
TEST(GateLineTest, ARecycledLineStartsClearWithAGenerationNoEarlierReleaserHolds) {
  std::optional<gate_lease> first(std::in_place);
  gate_line* const addr = &first->line();
  const std::uint64_t g = addr->generation.load();
  addr->word.store(std::uint64_t{1} << 63);  // closed, as a destroyed pool leaves it
  const std::size_t free_before = free_gate_lines();
  first.reset();
  EXPECT_EQ(free_gate_lines(), free_before + 1);

  gate_lease second;
  EXPECT_EQ(&second.line(), addr) << "the line just given back is taken first";
  EXPECT_EQ(second.line().word.load(), 0u);
  EXPECT_GT(second.line().generation.load(), g);
  EXPECT_FALSE(pin(second.line(), g)) << "the earlier pool's releaser";
  EXPECT_FALSE(second.pinned()) << "and its failed pin leaves nothing behind";
  EXPECT_TRUE(pin(second.line(), second.line().generation.load()));
  unpin(second.line());
}

// A fork child's copy of a pool may carry a pin of a parent's thread that
// never unpins there: abandon() retires without waiting and keeps the line
// out of the table, so no later pool inherits the stuck pin.
TEST(GateLineTest, AnAbandonedLineStaysOutOfTheTable) {
  std::optional<gate_lease> lease(std::in_place);
  gate_line& l = lease->line();
  const std::uint64_t g = l.generation.load();
  ASSERT_TRUE(pin(l, g));  // the parent's releaser, frozen by the fork
  const std::size_t free_before = free_gate_lines();
  lease->abandon();
  lease.reset();
  EXPECT_EQ(free_gate_lines(), free_before);
  EXPECT_FALSE(pin(l, g)) << "retired all the same";
  unpin(l);  // this test's own pin (the line stays out of the table)
}

// Owners take a line, publish it with its generation, retire it, wait
// while it is pinned, mark that incarnation dead and give the line back
// (the table hands it out again, to them or to the other owner); pinners
// pin whatever was last published, from other threads. A pin that holds
// must find its incarnation still alive until it unpins: the destruction's
// wait covered it. A pin that misses the generation touches nothing.
TEST(GateLineTest, PinsRacingRetirementsNeverEnterARetiredGeneration) {
  struct incarnation {
    gate_line* line;
    std::uint64_t generation;
    std::shared_ptr<std::atomic<bool>> alive;
  };
  std::mutex m;
  std::vector<incarnation> published;  // guarded by m: each owner's current one
  constexpr int owners = 2, pinners = 4, rounds = 3000;
  published.resize(owners);
  std::atomic<int> owners_done{0}, wrong{0};
  std::atomic<long> held{0}, missed{0};
  std::vector<std::thread> ts;
  for (int o = 0; o < owners; ++o)
    ts.emplace_back([&, o] {
      for (int r = 0; r < rounds; ++r) {
        std::optional<gate_lease> lease(std::in_place);
        auto alive = std::make_shared<std::atomic<bool>>(true);
        {
          std::lock_guard lk(m);
          published[static_cast<std::size_t>(o)] = {&lease->line(), lease->line().generation.load(), alive};
        }
        std::this_thread::yield();  // let pinners find it
        lease->retire();
        while (lease->pinned()) std::this_thread::yield();
        alive->store(false);
        lease.reset();
      }
      owners_done.fetch_add(1);
    });
  for (int p = 0; p < pinners; ++p)
    ts.emplace_back([&, p] {
      for (std::size_t k = static_cast<std::size_t>(p); owners_done.load() < owners; ++k) {
        incarnation in;
        {
          std::lock_guard lk(m);
          in = published[k % owners];
        }
        if (in.line == nullptr) continue;
        if (pin(*in.line, in.generation)) {
          if (!in.alive->load()) wrong.fetch_add(1);  // entered a pool whose destruction went on
          held.fetch_add(1);
          unpin(*in.line);
        } else {
          missed.fetch_add(1);
        }
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(held.load(), 0) << "no pin ever held: the race was not run";
  EXPECT_GT(missed.load(), 0) << "no pin ever missed: the race was not run";
}

// The table's mutex is held across fork() (pthread_atfork), so a child can
// take a line even when a parent's thread was taking one at the fork. The
// table is warm first, so the churn never allocates (a fork while another
// thread is inside the allocator is a hazard of its own, fork_child.hpp).
TEST(GateLineTest, AForkChildTakesLinesWhileParentThreadsChurn) {
  { gate_lease warm; }
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load()) gate_lease lease;
  });
  const auto out = testing::run_in_child(
      [] {
        for (int i = 0; i < 100; ++i) gate_lease lease;
        return 0;
      },
      testing::child_exit::quick);
  stop.store(true);
  churn.join();
  EXPECT_TRUE(out.ok()) << out.to_string();
}

// A stale releaser's pin in progress on a free line at the fork (here made
// by hand: its increment, not yet its decrement) never ends in the child,
// where that thread does not exist: the child handler clears it, so the
// child's next pool, which takes that line, is not held at its destruction.
TEST(GateLineTest, AForkChildDropsAPinAParentThreadWasMakingOnAFreeLine) {
  gate_line* line = nullptr;
  {
    gate_lease l;
    line = &l.line();
  }
  line->pins.fetch_add(1);  // the parent's stale releaser, between its fetch_add and its unpin
  const auto out = testing::run_in_child(
      [line] {
        gate_lease next;
        if (&next.line() != line) return 10;  // the free list is last in, first out
        return next.pinned() ? 11 : 0;
      },
      testing::child_exit::quick);
  unpin(*line);
  EXPECT_TRUE(out.ok()) << out.to_string();
}

}  // namespace
}  // namespace berth::detail
