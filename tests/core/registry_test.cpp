// registry_test.cpp: named entries, typed lookups and their errors, stats of
// all, close_all with leases out, the destructor's drain, and lookups racing
// close_all (run under TSan by the tsan stage).
#include <berth/pool.hpp>
#include <berth/registry.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace berth {

/// An entry that owns two pools, reported as "<name>/left" and "<name>/right"
/// (as sqlite::database reports its writer and readers).
struct two_pools {
  pool<testing::fake_adapter> left{testing::fake_adapter{}, pool_options{.name = "left"}};
  pool<testing::fake_adapter> right{testing::fake_adapter{}, pool_options{.name = "right", .max_size = 2}};
};

template <>
struct registry_traits<two_pools> {
  static void close(two_pools& t) noexcept {
    t.left.close();
    t.right.close();
  }
  static void drain(two_pools& t, std::chrono::nanoseconds d) noexcept {
    (void)t.left.drain(d);
    (void)t.right.drain(d);
  }
  static void stats(const two_pools& t, const std::string& name, stats_by_name& out) {
    out.insert_or_assign(name + "/left", t.left.stats());
    out.insert_or_assign(name + "/right", t.right.stats());
  }
};

namespace {

using namespace std::chrono_literals;
using testing::fake_adapter;
using testing::fake_script;
using fake_pool = pool<fake_adapter>;

/// Another adapter type, for wrong-type lookups.
struct other_adapter : fake_adapter {
  using fake_adapter::fake_adapter;
};

static_assert(registrable<fake_pool>);
static_assert(registrable<two_pools>);
static_assert(!registrable<int>);

registry_errc code_of(const registry_error& e) { return static_cast<registry_errc>(e.code().value()); }

TEST(Registry, EmplaceThenGetReturnsTheSameObject) {
  registry reg;
  auto a = reg.emplace<fake_pool>("orders", fake_adapter{}, pool_options{.name = "orders"});
  auto again = reg.get<fake_pool>("orders");
  EXPECT_EQ(a.get(), again.get());
  EXPECT_TRUE(reg.contains("orders"));
  EXPECT_FALSE(reg.contains("order"));
  reg.emplace<fake_pool>("cache", fake_adapter{});
  EXPECT_EQ(reg.names(), (std::vector<std::string>{"cache", "orders"}));
}

TEST(Registry, DuplicateNameFailsBeforeConstructing) {
  registry reg;
  reg.emplace<fake_pool>("orders", fake_adapter{});
  auto s = std::make_shared<fake_script>();
  try {
    reg.emplace<fake_pool>("orders", fake_adapter{s});
    ADD_FAILURE() << "second 'orders' accepted";
  } catch (const registry_error& e) {
    EXPECT_EQ(code_of(e), registry_errc::duplicate_name);
    EXPECT_EQ(e.code(), make_error_code(registry_errc::duplicate_name));
    EXPECT_EQ(e.name(), "orders");
    EXPECT_NE(std::string(e.what()).find("an entry named 'orders' exists already (a "
                                         "berth::pool<berth::testing::fake_adapter>)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(s->connects.load(), 0u) << "the second pool was never started";
}

TEST(Registry, UnknownNameListsTheNamesThereAre) {
  registry reg;
  try {
    (void)reg.get<fake_pool>("orders");
    ADD_FAILURE();
  } catch (const registry_error& e) {
    EXPECT_EQ(code_of(e), registry_errc::unknown_name);
    EXPECT_NE(std::string(e.what()).find("no entry named 'orders' (entries: none)"), std::string::npos) << e.what();
  }
  reg.emplace<fake_pool>("cache", fake_adapter{});
  reg.emplace<fake_pool>("users", fake_adapter{});
  try {
    (void)reg.get<fake_pool>("orders");
    ADD_FAILURE();
  } catch (const registry_error& e) {
    EXPECT_NE(std::string(e.what()).find("(entries: cache, users)"), std::string::npos) << e.what();
  }
}

TEST(Registry, WrongTypeNamesBothTypes) {
  registry reg;
  reg.emplace<fake_pool>("orders", fake_adapter{});
  try {
    (void)reg.get<pool<other_adapter>>("orders");
    ADD_FAILURE();
  } catch (const registry_error& e) {
    EXPECT_EQ(code_of(e), registry_errc::wrong_type);
    EXPECT_NE(std::string(e.what()).find("'orders' is a berth::pool<berth::testing::fake_adapter>, not a "
                                         "berth::pool<berth::(anonymous namespace)::other_adapter>"),
              std::string::npos)
        << e.what();
  }
}

TEST(Registry, InvalidNames) {
  registry reg;
  for (const char* bad : {"", "orders/primary"}) {
    try {
      reg.emplace<fake_pool>(bad, fake_adapter{});
      ADD_FAILURE() << bad;
    } catch (const registry_error& e) {
      EXPECT_EQ(code_of(e), registry_errc::invalid_name) << e.what();
    }
  }
}

// A registry name is the JSON key of to_json(registry) and the pool label
// of its pools: "orders\xff" and "orders\xfe" both became "orders\uFFFD",
// one key and one label set for two pools, while a pool's own name was
// already refused (review of 957e949).
TEST(Registry, AnEntryNameThatIsNotUtf8IsRefusedBug) {
  registry reg;
  for (const char* bad : {"orders\xff", "orders\xc3", "\xed\xa0\x80"}) {
    try {
      reg.emplace<fake_pool>(bad, fake_adapter{});
      ADD_FAILURE() << bad;
    } catch (const registry_error& e) {
      EXPECT_EQ(code_of(e), registry_errc::invalid_name) << e.what();
      EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
    }
    EXPECT_THROW(reg.insert(bad, std::make_shared<fake_pool>(fake_adapter{})), registry_error);
  }
  EXPECT_NO_THROW(reg.emplace<fake_pool>("commandes-\xc3\xa9t\xc3\xa9", fake_adapter{})) << "UTF-8 is fine";
  EXPECT_EQ(reg.names().size(), 1u);
}

TEST(Registry, InsertSharesOwnership) {
  auto p = std::make_shared<fake_pool>(fake_adapter{});
  registry reg;
  reg.insert("orders", p);
  EXPECT_EQ(reg.get<fake_pool>("orders").get(), p.get());
  EXPECT_THROW(reg.insert("null", std::shared_ptr<fake_pool>{}), std::invalid_argument);
  EXPECT_THROW(reg.insert("orders", p), registry_error);
}

TEST(Registry, StatsOfEveryPoolByName) {
  registry reg;
  auto orders = reg.emplace<fake_pool>("orders", fake_adapter{}, pool_options{.max_size = 3});
  reg.emplace<two_pools>("pair");
  auto l = orders->try_acquire();
  ASSERT_TRUE(l);
  const stats_by_name s = reg.stats();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.at("orders").counts.leased, 1u);
  EXPECT_EQ(s.at("orders").counts.max_size, 3u);
  EXPECT_EQ(s.at("pair/left").counts.max_size, 10u);
  EXPECT_EQ(s.at("pair/right").counts.max_size, 2u);
}

TEST(Registry, CloseAllWithLeasesOutClosesEveryPoolAndKeepsTheEntries) {
  auto script = std::make_shared<fake_script>();
  registry reg;
  auto orders = reg.emplace<fake_pool>("orders", fake_adapter{script}, pool_options{.max_size = 2, .min_idle = 2});
  auto pair = reg.emplace<two_pools>("pair");
  auto l = orders->try_acquire();
  ASSERT_TRUE(l);

  reg.close_all();
  EXPECT_TRUE(reg.closed());
  EXPECT_TRUE(orders->closed());
  EXPECT_TRUE(pair->left.closed());
  EXPECT_TRUE(pair->right.closed());
  auto r = orders->try_acquire();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::pool_closed);
  EXPECT_EQ(script->closes.load(), 1u) << "the idle connection closed now, the leased one not yet";
  (**l).dirty = true;  // still usable
  l->release();
  EXPECT_EQ(script->closes.load(), 2u) << "the leased connection closed when it came back";

  EXPECT_EQ(reg.get<fake_pool>("orders").get(), orders.get()) << "entries stay registered";
  EXPECT_EQ(reg.stats().size(), 3u);
  try {
    reg.emplace<fake_pool>("late", fake_adapter{});
    ADD_FAILURE();
  } catch (const registry_error& e) {
    EXPECT_EQ(code_of(e), registry_errc::closed);
  }
  reg.close_all();  // idempotent
}

TEST(Registry, HandlesOutliveTheRegistry) {
  std::shared_ptr<fake_pool> p;
  {
    registry reg(0ms);
    p = reg.emplace<fake_pool>("orders", fake_adapter{});
  }
  EXPECT_TRUE(p->closed()) << "the registry closed it";
  EXPECT_EQ(p->stats().counts.total, 0u);
}

// The destructor waits for a lease whose pool only the registry owns: the
// lessee returns it once it sees the pool closed, and the pool is then
// destroyed without the abort a lease outliving its pool would cause.
TEST(Registry, DestructorWaitsForOutstandingLeases) {
  auto script = std::make_shared<fake_script>();
  auto reg = std::make_unique<registry>(60s);
  fake_pool* raw = reg->emplace<fake_pool>("orders", fake_adapter{script}).get();
  std::latch holding(1);
  std::thread lessee([&] {
    auto l = raw->try_acquire().value();  // no handle kept: the registry is the only owner
    holding.count_down();
    EXPECT_TRUE(testing::eventually([&] { return raw->closed(); }));
    // The pool is alive: the registry's destructor is waiting for this lease.
  });
  holding.wait();
  reg.reset();
  lessee.join();
  EXPECT_EQ(script->live.load(), 0) << "every connection closed";
}

// A drain_timeout too large to add to the clock (milliseconds::max(), or
// 1000 years) overflowed now() + drain_timeout into the past: the
// destructor did not wait and aborted on the lease still out.
TEST(Registry, DestructorWithTheLargestDrainTimeoutWaitsForTheLeaseBug) {
  for (const auto timeout : {std::chrono::milliseconds::max(),
                             std::chrono::milliseconds(std::chrono::hours(24 * 365 * 1000))}) {
    auto reg = std::make_unique<registry>(timeout);
    fake_pool* raw = reg->emplace<fake_pool>("orders", fake_adapter{}).get();
    std::latch holding(1);
    std::atomic<bool> released{false};
    std::thread lessee([&] {
      auto l = raw->try_acquire().value();
      holding.count_down();
      EXPECT_TRUE(testing::eventually([&] { return raw->closed(); }));
      std::this_thread::sleep_for(100ms);  // the destructor must still be waiting
      released = true;
    });
    holding.wait();
    reg.reset();
    EXPECT_TRUE(released.load()) << timeout.count();
    lessee.join();
  }
}

void destroy_registry_with_lease_out() {
  auto reg = std::make_unique<registry>(0ms);
  auto l = reg->emplace<fake_pool>("orders", fake_adapter{}, pool_options{.name = "orders"})->try_acquire();
  reg.reset();
}

TEST(RegistryDeathTest, ALeaseOutPastTheDrainTimeoutAbortsNamingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(destroy_registry_with_lease_out(), "pool 'orders' destroyed with 1 lease\\(s\\) still outstanding");
}

// Lookups do not wait for another entry's construction: a pool blocked in
// its fail_fast start-up (a connect that takes time on a fake clock) holds
// no registry lock.
TEST(Registry, LookupsDoNotWaitForAnEntrysStartUp) {
  testing::fake_clock clock;
  auto slow = std::make_shared<fake_script>();
  slow->clock = &clock;
  slow->connect_latency = std::chrono::nanoseconds{1s};
  registry reg;
  reg.emplace<fake_pool>("fast", fake_adapter{});
  std::thread starter([&] { reg.emplace<fake_pool>("slow", fake_adapter{slow}, pool_options{}, clock); });
  ASSERT_TRUE(testing::eventually([&] { return slow->in_connect.load() == 1; }));
  EXPECT_NE(reg.get<fake_pool>("fast"), nullptr);
  EXPECT_FALSE(reg.contains("slow")) << "added once constructed";
  EXPECT_EQ(reg.stats().size(), 1u);
  clock.advance(1s);
  starter.join();
  EXPECT_TRUE(reg.contains("slow"));
}

// Many threads look pools up, acquire and read stats while one adds entries
// and another closes everything. Checked by TSan (tsan stage) and by the
// invariants: every acquire after close_all fails with pool_closed, no
// entry appears after it, and every connection is closed at the end.
TEST(Registry, LookupsAndStatsRaceCloseAll) {
  auto script = std::make_shared<fake_script>();
  auto reg = std::make_unique<registry>(10s);
  reg->emplace<fake_pool>("a", fake_adapter{script}, pool_options{.max_size = 4, .min_idle = 1});
  reg->emplace<two_pools>("pair");
  std::atomic<bool> closed{false};
  std::atomic<int> lookups{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        const bool was_closed = closed.load();
        auto p = reg->get<fake_pool>("a");
        auto r = p->try_acquire();
        if (was_closed) {
          EXPECT_FALSE(r);
        }
        if (!r) {
          EXPECT_TRUE(r.error().code == errc::pool_closed || r.error().code == errc::would_block);
        }
        (void)reg->get<two_pools>("pair")->left.try_acquire();
        if (i % 16 == 0) (void)reg->stats();
        lookups.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {  // adds up to 20 entries, then one after close_all
    for (int i = 0; i < 20; ++i) {
      try {
        reg->emplace<fake_pool>("extra" + std::to_string(i), fake_adapter{script}, pool_options{.min_idle = 0});
      } catch (const registry_error& e) {
        EXPECT_EQ(code_of(e), registry_errc::closed);
        return;
      }
    }
    EXPECT_TRUE(testing::eventually([&] { return closed.load(); }));
    EXPECT_THROW(reg->emplace<fake_pool>("late", fake_adapter{script}), registry_error);
  });
  ASSERT_TRUE(testing::eventually([&] { return lookups.load() >= 200; }));
  reg->close_all();
  closed.store(true);
  for (auto& t : threads) t.join();
  const std::size_t n = reg->names().size();
  EXPECT_EQ(reg->names().size(), n) << "nothing added after close_all";
  reg.reset();
  EXPECT_EQ(script->live.load(), 0);
}

// registry_error's code: its own category, one distinct message per value.
TEST(RegistryTest, ErrorCodesHaveTheirOwnCategoryAndMessages) {
  EXPECT_STREQ(registry_category().name(), "berth.registry");
  std::set<std::string> messages;
  for (auto e : {registry_errc::duplicate_name, registry_errc::unknown_name, registry_errc::wrong_type,
                 registry_errc::closed, registry_errc::invalid_name}) {
    const std::error_code c = e;
    EXPECT_EQ(&c.category(), &registry_category());
    EXPECT_TRUE(messages.insert(c.message()).second) << c.message();
    EXPECT_NE(c.message(), "unknown berth.registry error");
  }
  EXPECT_EQ(std::error_code(static_cast<registry_errc>(99)).message(), "unknown berth.registry error");
}

}  // namespace
}  // namespace berth
