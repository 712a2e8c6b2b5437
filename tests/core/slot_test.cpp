// Tests of detail::slot_table (slot.hpp): count_states over slots driven
// through every state of slot_state.hpp's table with slot_atomic's named
// transitions, and leases_total. Single-threaded: at quiescence both are
// exact.
#include <berth/detail/slot.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>

namespace berth::detail {
namespace {

/// The state fields of a pool_counts, for one comparison.
struct by_state {
  std::size_t connecting = 0, idle = 0, leased = 0, reserved = 0, closing = 0, total = 0;
  bool operator==(const by_state&) const = default;
};
std::ostream& operator<<(std::ostream& os, const by_state& s) {
  return os << "connecting=" << s.connecting << " idle=" << s.idle << " leased=" << s.leased
            << " reserved=" << s.reserved << " closing=" << s.closing << " total=" << s.total;
}

by_state count(const slot_table& t) {
  pool_counts c;
  t.count_states(c);
  EXPECT_EQ(c.waiting, 0u) << "not a state: left alone";
  EXPECT_EQ(c.max_size, 0u) << "not a state: left alone";
  return {c.connecting, c.idle, c.leased, c.reserved, c.closing, c.total};
}

/// empty -> connecting -> idle (published, in_ring set).
void make_idle(slot_atomic& w) {
  ASSERT_TRUE(w.try_begin_connect());
  ASSERT_EQ(w.publish_idle(slot_state::connecting) & slot_word::in_ring, 0u);
  ASSERT_EQ(w.state(), slot_state::idle);
}

TEST(SlotTableTest, NewTableIsAllEmpty) {
  slot_table t(4);
  EXPECT_EQ(t.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_EQ(t[i].word.state(), slot_state::empty);
  EXPECT_EQ(count(t), by_state{});
  EXPECT_EQ(t.leases_total(), 0u);
}

TEST(SlotTableTest, EmptyTableCountsNothing) {
  slot_table t(0);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(count(t), by_state{});
  EXPECT_EQ(t.leases_total(), 0u);
}

TEST(SlotTableTest, CountStatesCountsOneSlotInEachState) {
  slot_table t(6);
  // 0: empty
  ASSERT_TRUE(t[1].word.try_begin_connect());  // connecting
  make_idle(t[2].word);                         // idle
  make_idle(t[3].word);
  ASSERT_NE(t[3].word.try_lease(), 0u);  // leased
  make_idle(t[4].word);
  ASSERT_TRUE(t[4].word.try_reserve());  // reserved
  make_idle(t[5].word);
  ASSERT_NE(t[5].word.try_lease(), 0u);
  ASSERT_TRUE(t[5].word.transition(slot_state::leased, slot_state::closing));  // closing
  EXPECT_EQ(count(t), (by_state{.connecting = 1, .idle = 1, .leased = 1, .reserved = 1, .closing = 1, .total = 5}))
      << "empty is not part of total";
}

// One slot walked through every transition of the table in slot_state.hpp;
// after each step exactly its state is counted.
TEST(SlotTableTest, CountStatesFollowsASlotThroughEveryTransition) {
  slot_table t(3);
  slot_atomic& w = t[1].word;
  auto expect_only = [&](slot_state s, const char* step) {
    by_state want;
    switch (s) {
      case slot_state::empty: break;
      case slot_state::connecting: want.connecting = 1; break;
      case slot_state::idle: want.idle = 1; break;
      case slot_state::leased: want.leased = 1; break;
      case slot_state::reserved: want.reserved = 1; break;
      case slot_state::closing: want.closing = 1; break;
    }
    want.total = s == slot_state::empty ? 0 : 1;
    EXPECT_EQ(w.state(), s) << step;
    EXPECT_EQ(count(t), want) << step;
  };
  using S = slot_state;
  ASSERT_TRUE(w.try_begin_connect());  // begin_connect
  expect_only(S::connecting, "empty -> connecting");
  ASSERT_TRUE(w.transition(S::connecting, S::empty));  // connect_failed
  expect_only(S::empty, "connecting -> empty");
  ASSERT_TRUE(w.try_begin_connect());
  ASSERT_TRUE(w.transition(S::connecting, S::leased));  // hand_off
  expect_only(S::leased, "connecting -> leased");
  ASSERT_EQ(w.publish_idle(S::leased) & slot_word::retire_mask, 0u);  // release
  expect_only(S::idle, "leased -> idle");
  ASSERT_TRUE(w.try_reserve());  // reserve
  expect_only(S::reserved, "idle -> reserved");
  ASSERT_EQ(w.publish_idle(S::reserved) & slot_word::retire_mask, 0u);  // unreserve
  expect_only(S::idle, "reserved -> idle");
  ASSERT_NE(w.lease_from_ring(), 0u);  // lease (the ring's way), clears in_ring
  expect_only(S::leased, "idle -> leased (from the ring)");
  ASSERT_TRUE(w.transition(S::leased, S::closing));  // retire
  expect_only(S::closing, "leased -> closing");
  ASSERT_TRUE(w.transition(S::closing, S::empty));  // closed
  expect_only(S::empty, "closing -> empty");
  ASSERT_TRUE(w.try_begin_connect());
  ASSERT_EQ(w.publish_idle(S::connecting) & slot_word::in_ring, 0u);  // connected
  expect_only(S::idle, "connecting -> idle");
  ASSERT_TRUE(w.try_reserve());
  ASSERT_TRUE(w.transition(S::reserved, S::leased));  // hand_off
  expect_only(S::leased, "reserved -> leased");
  ASSERT_NE(w.publish_idle(S::leased) & slot_word::in_ring, 0u) << "in_ring was still set: no second push";
  ASSERT_TRUE(w.try_reserve());
  ASSERT_TRUE(w.transition(S::reserved, S::closing));  // retire
  expect_only(S::closing, "reserved -> closing");
  ASSERT_TRUE(w.transition(S::closing, S::empty));
  expect_only(S::empty, "closing -> empty again");
}

TEST(SlotTableTest, CountStatesIgnoresFlags) {
  slot_table t(3);
  make_idle(t[0].word);  // idle with in_ring
  ASSERT_TRUE(t[0].word.mark_if(slot_word::stale, slot_atomic::state_bit(slot_state::idle)));
  make_idle(t[1].word);
  ASSERT_NE(t[1].word.try_lease(), 0u);
  ASSERT_TRUE(t[1].word.mark_evict_if_owned());
  ASSERT_TRUE(t[1].word.mark_if(slot_word::expired, slot_atomic::owned_states));
  ASSERT_TRUE(t[2].word.try_begin_connect());
  ASSERT_TRUE(t[2].word.mark_evict_if_owned());
  EXPECT_NE(t[0].word.flags(), 0u);
  EXPECT_NE(t[1].word.flags(), 0u);
  EXPECT_NE(t[2].word.flags(), 0u);
  EXPECT_EQ(count(t), (by_state{.connecting = 1, .idle = 1, .leased = 1, .total = 3}));
}

TEST(SlotTableTest, CountStatesOfAFullTableCountsEverySlot) {
  constexpr std::uint32_t n = 64;
  slot_table t(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    make_idle(t[i].word);
    if (i % 2 == 0) {
      ASSERT_NE(t[i].word.try_lease(), 0u);
    }
  }
  EXPECT_EQ(count(t), (by_state{.idle = n / 2, .leased = n / 2, .total = n}));
}

TEST(SlotTableTest, LeasesTotalSumsEverySlotsCounter) {
  slot_table t(4);
  t[0].leases.store(1, std::memory_order_relaxed);
  t[1].leases.store(0, std::memory_order_relaxed);
  t[2].leases.store(std::uint64_t{1} << 32, std::memory_order_relaxed);
  t[3].leases.store(41, std::memory_order_relaxed);
  EXPECT_EQ(t.leases_total(), (std::uint64_t{1} << 32) + 42);
}

TEST(SlotTableTest, LeasesTotalIsIndependentOfState) {
  slot_table t(2);
  t[0].leases.store(5, std::memory_order_relaxed);  // an empty slot keeps its past leases
  make_idle(t[1].word);
  t[1].leases.store(7, std::memory_order_relaxed);
  EXPECT_EQ(t.leases_total(), 12u);
}

TEST(SlotTableTest, EachSlotHasItsOwnLinePair) {
  slot_table t(2);
  const auto a = reinterpret_cast<std::uintptr_t>(&t[0]);
  const auto b = reinterpret_cast<std::uintptr_t>(&t[1]);
  EXPECT_EQ(b - a, cache_pair_size);
  EXPECT_EQ(a % cache_pair_size, 0u);
  ASSERT_TRUE(t[0].word.try_begin_connect());
  EXPECT_EQ(t[1].word.state(), slot_state::empty);
}

}  // namespace
}  // namespace berth::detail
