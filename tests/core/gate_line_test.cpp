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

// Many threads taking and giving back lines while others pin them with a
// generation read while their line was theirs: every pin made with a
// retired generation fails, every other one holds, and the table ends with
// every line back.
TEST(GateLineTest, PinsRacingRetirementsNeverEnterARetiredGeneration) {
  const std::size_t free_before = free_gate_lines();
  constexpr int threads = 8, rounds = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int r = 0; r < rounds; ++r) {
        std::optional<gate_lease> lease(std::in_place);
        gate_line& l = lease->line();
        const std::uint64_t g = l.generation.load(std::memory_order_relaxed);
        if (!pin(l, g)) wrong.fetch_add(1);  // ours, not retired: must hold
        unpin(l);
        lease->retire();
        if (pin(l, g)) {  // retired: must fail
          wrong.fetch_add(1);
          unpin(l);
        }
        lease.reset();
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(free_gate_lines(), free_before);
}

// The table's mutex is held across fork() (pthread_atfork), so a child can
// take a line even when a parent's thread was taking one at the fork.
TEST(GateLineTest, AForkChildTakesLinesWhileParentThreadsChurn) {
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

}  // namespace
}  // namespace berth::detail
