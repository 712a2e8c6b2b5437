#include <berth/detail/idle_ring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <random>
#include <thread>
#include <vector>

namespace berth::detail {

// A popper that claims its position and then stalls before freeing the cell.
template <class Seq>
struct idle_ring_test_access {
  static std::size_t claim_pop_and_stall(basic_idle_ring<Seq>& r, std::uint32_t& v) {
    Seq pos = r.dequeue_pos_.value.load();
    auto& c = r.cells_[static_cast<std::size_t>(pos) & r.mask_];
    EXPECT_EQ(c.seq.load(), static_cast<Seq>(pos + 1)) << "cell must be full";
    EXPECT_TRUE(r.dequeue_pos_.value.compare_exchange_strong(pos, static_cast<Seq>(pos + 1)));
    v = c.value;
    return static_cast<std::size_t>(pos);
  }
  static void finish_pop(basic_idle_ring<Seq>& r, std::size_t pos) {
    r.cells_[pos & r.mask_].seq.store(static_cast<Seq>(pos + r.mask_ + 1));
  }
};

namespace {

// Found by stress_pool under TSan: "each index in the ring at most once" does
// not make pushes infallible. A popper stalled between its claim and its
// release of a cell blocks the producer one lap later although the ring holds
// fewer values than its capacity. pool_core::push_idle waits it out.
TEST(IdleRingTest, IdleRingStalledPopperBug) {
  idle_ring r(4);
  std::uint32_t v = 0;
  ASSERT_TRUE(r.try_push(0));
  const std::size_t stalled = idle_ring_test_access<std::uint64_t>::claim_pop_and_stall(r, v);
  EXPECT_EQ(v, 0u);
  // Other threads cycle 1, 2, 3 through the remaining cells until the
  // producer wraps around to the stalled cell.
  for (std::uint32_t k = 1; k < 4; ++k) {
    ASSERT_TRUE(r.try_push(k));
    ASSERT_TRUE(r.try_pop(v));
    ASSERT_EQ(v, k);
  }
  EXPECT_EQ(r.size_approx(), 0u) << "nothing is in the ring...";
  EXPECT_FALSE(r.try_push(9)) << "...yet the push at the stalled cell fails";
  idle_ring_test_access<std::uint64_t>::finish_pop(r, stalled);
  EXPECT_TRUE(r.try_push(9)) << "and succeeds once the popper runs again";
  ASSERT_TRUE(r.try_pop(v));
  EXPECT_EQ(v, 9u);
}

TEST(IdleRingTest, CapacityRoundsUpToPowerOfTwo) {
  EXPECT_EQ(idle_ring(1).capacity(), 2u);
  EXPECT_EQ(idle_ring(10).capacity(), 16u);
  EXPECT_EQ(idle_ring(65536).capacity(), 65536u);
  EXPECT_THROW(basic_idle_ring<std::uint8_t>(129), std::length_error);
  EXPECT_EQ(basic_idle_ring<std::uint8_t>(128).capacity(), 128u);
}

TEST(IdleRingTest, FifoFullAndEmpty) {
  idle_ring r(4);
  std::uint32_t v = 0;
  EXPECT_FALSE(r.try_pop(v));
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_TRUE(r.try_push(i));
  EXPECT_FALSE(r.try_push(99)) << "full";
  EXPECT_EQ(r.size_approx(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.try_pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(r.try_pop(v));
}

// 8-bit positions wrap every 256 operations: run thousands of laps against a
// reference deque (moodycamel's SmallIndexTraits idea).
template <class Seq>
void model_check(std::size_t cap, std::uint32_t seed) {
  basic_idle_ring<Seq> r(cap);
  std::deque<std::uint32_t> model;
  std::mt19937 rng(seed);
  std::uint32_t next = 0;
  for (int op = 0; op < 200000; ++op) {
    if (rng() % 2) {
      const bool ok = r.try_push(next);
      ASSERT_EQ(ok, model.size() < r.capacity()) << "op " << op;
      if (ok) model.push_back(next);
      ++next;
    } else {
      std::uint32_t v = 0;
      const bool ok = r.try_pop(v);
      ASSERT_EQ(ok, !model.empty()) << "op " << op;
      if (ok) {
        ASSERT_EQ(v, model.front()) << "op " << op;
        model.pop_front();
      }
    }
  }
}

TEST(IdleRingTest, NarrowIndexWrapAroundMatchesModel) {
  for (std::size_t cap : {2u, 3u, 16u, 100u, 128u}) model_check<std::uint8_t>(cap, static_cast<std::uint32_t>(cap));
  model_check<std::uint16_t>(1000, 7);
}

// Concurrent producers/consumers: every value out exactly once. 64-bit
// positions: a narrow ring would be exposed to position ABA when a thread
// stalls for 2^bits operations (seen under TSan with 8 bits), see idle_ring.hpp.
TEST(IdleRingTest, ConcurrentMpmcDeliversEachValueOnce) {
  idle_ring r(64);
  constexpr std::uint32_t per_producer = 20000;
  constexpr int producers = 3, consumers = 3;
  std::vector<std::atomic<int>> seen(per_producer * producers);
  std::atomic<std::uint32_t> consumed{0};
  std::vector<std::thread> ts;
  for (int p = 0; p < producers; ++p)
    ts.emplace_back([&, p] {
      for (std::uint32_t k = 0; k < per_producer; ++k)
        while (!r.try_push(static_cast<std::uint32_t>(p) * per_producer + k)) std::this_thread::yield();
    });
  for (int c = 0; c < consumers; ++c)
    ts.emplace_back([&] {
      std::uint32_t v;
      while (consumed.load() < per_producer * producers) {
        if (r.try_pop(v)) {
          seen[v].fetch_add(1);
          consumed.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  for (auto& t : ts) t.join();
  for (auto& s : seen) ASSERT_EQ(s.load(), 1);
}

}  // namespace
}  // namespace berth::detail
