// Tests of the fast path's inline case (pool_core::claim_steady and the
// inline part of pool_core::release): a thread that reuses the connection it
// claimed last leases it with one CAS on the word idle|in_ring, and releases
// it with one CAS back, when nothing else applies. Everything else takes the
// general path out of line.
//
// The first acquire of a thread goes through the ring (no hint yet) and
// clears the slot's in_ring, so its release takes the general path too; the
// inline case starts with the second cycle. Each test here therefore runs one
// cycle first ("warm"), then checks that the policy in question still
// applies on the inline case: validation on every acquire, hold-time
// sampling, leak records, eviction, and the ring push a release owes when
// another thread popped the index meanwhile.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"
#include "support/manual_executor.hpp"
#include "support/protocol_options.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::fake_adapter;
using testing::fake_clock;
using testing::fake_script;
using testing::protocol_options;
using fake_pool = pool<fake_adapter>;

struct FastPathTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;

  std::unique_ptr<fake_pool> make(const pool_options& o) {
    return std::make_unique<fake_pool>(fake_adapter{script}, o, clock);
  }
  /// One cycle on this thread: the hint is set and the slot's index is back
  /// in the ring, so the next acquire here takes the inline case.
  static void warm(fake_pool& p) {
    auto l = p.acquire_for(1s);
    ASSERT_TRUE(l.has_value()) << l.error().message();
  }
  /// Moves the fake clock one reaper period (100 ms in these tests) and
  /// waits for the pass it starts.
  void pass(fake_pool& p) {
    const auto before = p.stats().reaper_passes;
    clock.advance(100ms);
    ASSERT_TRUE(eventually([&] { return p.stats().reaper_passes > before; }));
  }
};

// validation_bypass = 0 validates every blocking acquire, the thread's own
// connection included: the inline case must never match in such a pool
// (pool_core::fast_key_).
TEST_F(FastPathTest, ABypassOfZeroValidatesEveryAcquireOfTheThreadsOwnConnection) {
  pool_options o = protocol_options("fast", 1, 1);
  o.validate_on_acquire = true;
  o.validation_bypass = 0ms;
  o.reaper_period = 1h;  // no pass: only acquires validate
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  const auto before = script->validates.load();
  for (int k = 0; k < 5; ++k) {
    auto l = p->acquire_for(1s);
    ASSERT_TRUE(l.has_value()) << l.error().message();
  }
  EXPECT_EQ(script->validates.load() - before, 5u);
  EXPECT_EQ(p->stats().acquire_validations, 6u);
  // try_acquire never validates: it takes the general path too and hands
  // out a connection that is not stale without validating it.
  const auto validated = script->validates.load();
  EXPECT_TRUE(p->try_acquire().has_value());
  EXPECT_EQ(script->validates.load(), validated);
}

// hold_time_sampling = 1 times every lease, those of the inline case too
// (its count test routes them to note_lease_checked and release_general).
TEST_F(FastPathTest, EveryLeaseOfTheThreadsOwnConnectionIsTimedWhenSamplingIsOne) {
  pool_options o = protocol_options("fast", 1, 1);
  o.hold_time_sampling = 1;
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  for (int k = 0; k < 5; ++k) {
    auto l = p->acquire_for(1s);
    ASSERT_TRUE(l.has_value());
    clock.advance(2ms);
  }
  const auto s = p->stats();
  EXPECT_EQ(s.hold_time.count, 6u);
  EXPECT_EQ(s.acquired, 6u);
}

// 1 in 4: the 4th and 8th leases of the slot are timed, whichever path
// claimed them.
TEST_F(FastPathTest, OneLeaseInFourIsTimedWhenSamplingIsFour) {
  pool_options o = protocol_options("fast", 1, 1);
  o.hold_time_sampling = 4;
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  for (int k = 0; k < 7; ++k) {
    auto l = p->try_acquire();
    ASSERT_TRUE(l.has_value());
    clock.advance(1ms);
  }
  const auto s = p->stats();
  EXPECT_EQ(s.acquired, 8u);
  EXPECT_EQ(s.hold_time.count, 2u);
}

// Leak detection records every lease (check_mask_ is 0): a lease of the
// thread's own connection held past the threshold is reported, and its
// return too.
TEST_F(FastPathTest, ALeakOfTheThreadsOwnConnectionIsReportedAndItsReturnToo) {
  script->clock = &clock;
  std::mutex m;
  int suspected = 0, returned = 0;
  pool_options o = protocol_options("fast", 1, 1);
  o.reaper_period = 100ms;
  o.leak_threshold = 1s;
  o.on_event = [&](const pool_event& e) {
    std::lock_guard lk(m);
    if (e.kind == event_kind::leak_suspected) ++suspected;
    if (e.kind == event_kind::leak_returned) ++returned;
  };
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  {
    auto l = p->try_acquire();
    ASSERT_TRUE(l.has_value());
    for (int k = 0; k < 12; ++k) ASSERT_NO_FATAL_FAILURE(pass(*p));
    EXPECT_EQ(p->stats().leaks_suspected, 1u);
  }
  ASSERT_NO_FATAL_FAILURE(pass(*p));
  std::lock_guard lk(m);
  EXPECT_EQ(suspected, 1);
  EXPECT_EQ(returned, 1);
}

// A lease that starts and ends between two passes is never reported: each
// inline-case release ends the record its acquire began.
TEST_F(FastPathTest, ShortLeasesOfTheThreadsOwnConnectionAreNeverReported) {
  script->clock = &clock;
  pool_options o = protocol_options("fast", 1, 1);
  o.reaper_period = 100ms;
  o.leak_threshold = 1s;
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  for (int k = 0; k < 30; ++k) {
    {
      auto l = p->try_acquire();
      ASSERT_TRUE(l.has_value());
    }
    ASSERT_NO_FATAL_FAILURE(pass(*p));
  }
  EXPECT_EQ(p->stats().leaks_suspected, 0u);
}

// Another thread that pops the index of a leased slot clears its in_ring
// (the index leaves the ring); the release then owes the push, which the
// inline case's CAS (expecting in_ring) leaves to the general path. Without
// it the connection would be idle but unreachable from other threads.
TEST_F(FastPathTest, AReleaseAfterAnotherThreadPoppedTheIndexPutsItBackInTheRing) {
  auto p = make(protocol_options("fast", 1, 1));
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  auto l = p->try_acquire();  // the inline case: in_ring stays set
  ASSERT_TRUE(l.has_value());
  auto other = [&] {
    return std::async(std::launch::async, [&] {
      auto r = p->try_acquire();
      return r.has_value() ? std::optional<errc>{} : std::optional<errc>{r.error().code};
    });
  };
  EXPECT_EQ(other().get(), std::optional<errc>{errc::would_block});  // popped the index, found it leased
  l->release();
  EXPECT_EQ(p->counts().idle, 1u);
  EXPECT_EQ(other().get(), std::nullopt) << "the release did not put the index back in the ring";
}

// evict() on a lease of the thread's own connection flags the word, so the
// inline release CAS fails and the general path closes it.
TEST_F(FastPathTest, AnEvictedLeaseOfTheThreadsOwnConnectionIsClosedAtRelease) {
  auto p = make(protocol_options("fast", 1, 1));
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  {
    auto l = p->try_acquire();
    ASSERT_TRUE(l.has_value());
    p->evict(*l);
  }
  EXPECT_EQ(script->closes.load(), 1u);
  EXPECT_EQ(p->stats().destroyed, 1u);
}

// A pool closed while the thread's own connection is idle: the gate's closed
// bit sends the acquire to the general path, which fails it.
TEST_F(FastPathTest, AClosedPoolRefusesTheThreadsOwnConnection) {
  auto p = make(protocol_options("fast", 1, 1));
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  p->close();
  auto l = p->try_acquire();
  ASSERT_FALSE(l.has_value());
  EXPECT_EQ(l.error().code, errc::pool_closed);
}

// Two threads each reusing their own connection of two: each takes the
// inline case on its own slot, and neither ever holds the other's.
TEST_F(FastPathTest, TwoThreadsEachReuseTheirOwnConnection) {
  auto p = make(protocol_options("fast", 2, 2));
  std::atomic<int> holders[2] = {0, 0};
  std::atomic<bool> overlap{false};
  auto run = [&] {
    for (int k = 0; k < 20000; ++k) {
      auto l = p->acquire_for(1s);
      if (!l) {
        overlap.store(true);
        return;
      }
      const int i = static_cast<int>((*l)->id % 2);
      if (holders[i].fetch_add(1) != 0) overlap.store(true);
      holders[i].fetch_sub(1);
    }
  };
  auto a = std::async(std::launch::async, run);
  auto b = std::async(std::launch::async, run);
  a.get();
  b.get();
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(p->stats().acquired, 40000u);
  EXPECT_EQ(p->counts().idle, 2u);
}

// The thread's hint carries its slot's metadata and connection addresses,
// and a lease its slot's metadata address (pool_core.hpp), so that neither
// side computes them from the index. Five pools: two share a hint way (4
// ways). A thread alternating between them must get each pool's own
// connections on the inline case, give each back to its own pool, and
// discard or evict exactly the connection its lease holds.
TEST_F(FastPathTest, PoolsSharingAHintWayEachLeaseAndTakeBackTheirOwnConnections) {
  constexpr std::size_t pools = 5;
  constexpr std::uint64_t rounds = 100;
  std::vector<std::shared_ptr<fake_script>> scripts;
  std::vector<std::unique_ptr<fake_pool>> ps;
  for (std::size_t k = 0; k < pools; ++k) {
    scripts.push_back(std::make_shared<fake_script>());
    scripts.back()->next_id = 1000u * (k + 1);  // pool k's ids: (k + 1) * 1000 + n
    ps.push_back(std::make_unique<fake_pool>(fake_adapter{scripts.back()},
                                             protocol_options("way" + std::to_string(k), 2, 2), clock));
  }
  for (auto& p : ps) ASSERT_NO_FATAL_FAILURE(warm(*p));
  // Each round holds two leases of each pool at once: the first on the
  // thread's hint (inline, except where the pool sharing its way took the
  // hint since), the second from the ring. A hint whose addresses named
  // another slot would hand out one connection twice, or another pool's.
  for (std::uint64_t r = 0; r < rounds; ++r) {
    for (std::size_t k = 0; k < pools; ++k) {
      auto a = ps[k]->acquire_for(1s);
      auto b = ps[k]->acquire_for(1s);
      ASSERT_TRUE(a.has_value() && b.has_value()) << "pool " << k << ", round " << r;
      ASSERT_NE((*a)->id, (*b)->id) << "pool " << k << ", round " << r << ": one connection leased twice";
      ASSERT_EQ((*a)->id / 1000, std::uint64_t{k + 1}) << "pool " << k << ", round " << r;
      ASSERT_EQ((*b)->id / 1000, std::uint64_t{k + 1}) << "pool " << k << ", round " << r;
      b = std::move(a);  // b's lease ends here: a release while another is out
      auto c = ps[k]->acquire_for(1s);  // the one just released
      ASSERT_TRUE(c.has_value());
      ASSERT_NE((*c)->id, (*b)->id) << "pool " << k << ", round " << r << ": one connection leased twice";
    }
  }
  // Holds every connection of pool k; their ids.
  const auto ids_of = [&](std::size_t k) {
    std::vector<std::uint64_t> ids;
    std::vector<fake_pool::lease_type> held;
    for (int n = 0; n < 2; ++n) {
      auto l = ps[k]->acquire_for(1s);
      if (!l) {
        ADD_FAILURE() << "pool " << k << ": " << l.error().message();
        break;
      }
      ids.push_back((*l)->id);
      held.push_back(std::move(*l));
    }
    return ids;
  };
  for (std::size_t k = 0; k < pools; ++k) {
    SCOPED_TRACE(k);
    EXPECT_EQ(ps[k]->stats().acquired, 1u + 3 * rounds);
    EXPECT_TRUE(eventually([&] { return ps[k]->counts().idle == ps[k]->counts().total; })) << "every lease came back";
    auto a = ps[k]->acquire_for(1s);  // the inline case: this thread's hint
    ASSERT_TRUE(a.has_value());
    const auto discarded = (*a)->id;
    a->discard();
    auto b = ps[k]->acquire_for(1s);
    ASSERT_TRUE(b.has_value());
    const auto evicted = (*b)->id;
    ps[k]->evict(*b);
    b->release();  // closed (evicted)
    EXPECT_TRUE(eventually([&] { return scripts[k]->closes.load() == 2u; })) << scripts[k]->closes.load();
    for (const auto id : ids_of(k)) {
      EXPECT_NE(id, discarded);
      EXPECT_NE(id, evicted);
      EXPECT_EQ(id / 1000, std::uint64_t{k + 1});
    }
  }
}

// The asynchronous fast path claims without counting (try_claim<false>) and
// counts when its completion runs; a dropped completion gives the claim back
// uncounted. Sampling 1 in 2 over 8 counted leases times 4.
TEST_F(FastPathTest, AsyncLeasesOfTheThreadsOwnConnectionAreCountedAndTimedAndADroppedClaimIsNot) {
  pool_options o = protocol_options("fast", 1, 1);
  o.hold_time_sampling = 2;
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));  // lease 1
  testing::manual_executor ex;
  for (int k = 0; k < 4; ++k) {  // leases 2..5
    std::optional<fake_pool::acquire_result> r;
    p->async_acquire_for(1s, ex.executor(), [&](fake_pool::acquire_result x) { r.emplace(std::move(x)); });
    ex.run_all();
    ASSERT_TRUE(r && r->has_value());
    clock.advance(1ms);
    r.reset();
  }
  // one dropped claim in the middle: never counted
  p->async_acquire_for(1s, ex.executor(), [&](fake_pool::acquire_result) {});
  ex.drop_all();
  for (int k = 0; k < 3; ++k) {  // leases 6..8
    auto l = p->try_acquire();
    ASSERT_TRUE(l.has_value());
    clock.advance(1ms);
  }
  const auto s = p->stats();
  EXPECT_EQ(s.acquired, 8u);
  EXPECT_EQ(s.hold_time.count, 4u);
}

// With leak detection on, asynchronous leases and dropped claims of the
// thread's own connection each end the record they began.
TEST_F(FastPathTest, AsyncLeasesAndDroppedClaimsOfTheThreadsOwnConnectionLeaveNoLeakRecord) {
  script->clock = &clock;
  pool_options o = protocol_options("fast", 1, 1);
  o.reaper_period = 100ms;
  o.leak_threshold = 1s;
  o.hold_time_sampling = 2;
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  testing::manual_executor ex;
  for (int k = 0; k < 20; ++k) {
    std::optional<fake_pool::acquire_result> r;
    p->async_acquire_for(1s, ex.executor(), [&](fake_pool::acquire_result x) { r.emplace(std::move(x)); });
    ex.run_all();
    ASSERT_TRUE(r && r->has_value());
    r.reset();
    p->async_acquire_for(1s, ex.executor(), [&](fake_pool::acquire_result) {});
    ex.drop_all();
    ASSERT_NO_FATAL_FAILURE(pass(*p));
  }
  EXPECT_EQ(p->stats().leaks_suspected, 0u);
  EXPECT_EQ(p->stats().acquired, 21u);
  EXPECT_EQ(p->stats().hold_time.count, 10u);
  EXPECT_EQ(p->counts().idle, 1u);
}

// The reaper flags the thread's idle connection stale (unused past
// validation_bypass): the inline CAS, expecting no flag, fails, and the
// general path validates it before handing it out.
TEST_F(FastPathTest, AHintedConnectionTheReaperFlaggedStaleIsValidatedAtTheNextAcquire) {
  pool_options o = protocol_options("fast", 1, 1);
  o.validate_on_acquire = true;
  o.validation_bypass = 500ms;
  o.reaper_period = 100ms;
  auto p = make(o);
  ASSERT_NO_FATAL_FAILURE(warm(*p));
  for (int k = 0; k < 8; ++k) {
    ASSERT_NO_FATAL_FAILURE(pass(*p));
  }
  const auto v = script->validates.load();
  { auto l = p->acquire_for(1s); ASSERT_TRUE(l.has_value()); }
  EXPECT_GT(script->validates.load(), v);
  EXPECT_EQ(p->stats().acquire_validations, 1u);
}

}  // namespace
}  // namespace berth
