// collectable_test.cpp: berth::prometheus::collectable's sources and their
// lifetimes: pools and registries held weakly (a collectable outliving its
// pool), callables until remove(), duplicate names, a throwing source, and
// Collect() racing add/remove from other threads (run under TSan by the
// tsan stage).
#include <berth/pool.hpp>
#include <berth/prometheus.hpp>
#include <berth/registry.hpp>

#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <prometheus/text_serializer.h>

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace berth::prometheus {
namespace {

using namespace std::chrono_literals;
using testing::fake_adapter;
using fake_pool = pool<fake_adapter>;

pool_options small(std::size_t max_size) {
  pool_options o;
  o.max_size = max_size;
  o.min_idle = 1;
  return o;
}

/// The pool label values of berth_pool_connections_max, with their values.
std::map<std::string, double> max_sizes(const collectable& c) {
  std::map<std::string, double> out;
  for (const auto& f : c.Collect())
    if (f.name == "berth_pool_connections_max")
      for (const auto& m : f.metric) out[m.label.at(0).value] = m.gauge.value;
  return out;
}

stats_by_name one_pool(const std::string& name, std::size_t max_size) {
  stats_by_name s;
  s[name].counts.max_size = max_size;
  return s;
}

TEST(CollectableTest, ReportsAPoolUnderItsName) {
  auto p = std::make_shared<fake_pool>(fake_adapter{}, small(3));
  collectable c;
  c.add("orders", p);
  EXPECT_EQ(max_sizes(c), (std::map<std::string, double>{{"orders", 3}}));
  const std::string text = ::prometheus::TextSerializer{}.Serialize(c.Collect());
  EXPECT_NE(text.find("berth_pool_connections_max{pool=\"orders\"} 3\n"), std::string::npos) << text;
}

// add(name, pool) labels the pool with name: two names differing in an
// invalid byte became one label set, and a server refuses a scrape with a
// duplicate series (review of 957e949).
TEST(CollectableTest, APoolNameThatIsNotUtf8IsRefusedBug) {
  auto p = std::make_shared<fake_pool>(fake_adapter{}, small(1));
  collectable c;
  try {
    c.add("orders\xff", p);
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(max_sizes(c).empty());
}

TEST(CollectableTest, OutlivesItsPoolAndDropsIt) {
  auto p = std::make_shared<fake_pool>(fake_adapter{}, small(3));
  collectable c;
  const auto id = c.add("orders", p);
  EXPECT_EQ(c.size(), 1u);
  std::weak_ptr<fake_pool> w = p;
  p.reset();
  EXPECT_TRUE(w.expired()) << "the collectable holds no reference";
  EXPECT_TRUE(max_sizes(c).empty());
  EXPECT_EQ(c.size(), 0u) << "dropped at that Collect()";
  EXPECT_FALSE(c.remove(id));
  for (const auto& f : c.Collect()) EXPECT_TRUE(f.metric.empty()) << f.name;
}

TEST(CollectableTest, ReportsEveryPoolOfARegistryIncludingOnesAddedLater) {
  auto reg = std::make_shared<registry>();
  reg->emplace<fake_pool>("orders", fake_adapter{}, small(2));
  collectable c;
  c.add(reg);
  EXPECT_EQ(max_sizes(c), (std::map<std::string, double>{{"orders", 2}}));
  reg->emplace<fake_pool>("cache", fake_adapter{}, small(4));
  EXPECT_EQ(max_sizes(c), (std::map<std::string, double>{{"cache", 4}, {"orders", 2}}));
  reg.reset();  // closes and drains its pools; the collectable did not keep it
  EXPECT_TRUE(max_sizes(c).empty());
  EXPECT_EQ(c.size(), 0u);
}

TEST(CollectableTest, ACallableIsCalledUntilRemoved) {
  std::atomic<int> calls{0};
  collectable c;
  const auto id = c.add([&] {
    ++calls;
    return one_pool("x", 5);
  });
  EXPECT_EQ(max_sizes(c), (std::map<std::string, double>{{"x", 5}}));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(c.remove(id));
  EXPECT_FALSE(c.remove(id));
  EXPECT_TRUE(max_sizes(c).empty());
  EXPECT_EQ(calls.load(), 1);
}

TEST(CollectableTest, ANameFromTwoSourcesIsExportedOnceFromTheFirst) {
  collectable c;
  c.add([] { return one_pool("x", 3); });
  c.add([] { return one_pool("x", 5); });
  auto p = std::make_shared<fake_pool>(fake_adapter{}, small(7));
  c.add("x", p);
  EXPECT_EQ(max_sizes(c), (std::map<std::string, double>{{"x", 3}}));
}

TEST(CollectableTest, AThrowingSourceIsLeftOutOfThatScrape) {
  collectable c;
  c.add([]() -> stats_by_name { throw std::runtime_error("down"); });
  c.add([] { return one_pool("ok", 2); });
  EXPECT_EQ(max_sizes(c), (std::map<std::string, double>{{"ok", 2}}));
}

TEST(CollectableTest, RejectsEmptyNamesAndNullSources) {
  collectable c;
  auto p = std::make_shared<fake_pool>(fake_adapter{}, small(1));
  EXPECT_THROW(c.add("", p), std::invalid_argument);
  EXPECT_THROW(c.add("x", std::shared_ptr<fake_pool>{}), std::invalid_argument);
  EXPECT_THROW(c.add(std::shared_ptr<registry>{}), std::invalid_argument);
  EXPECT_THROW(c.add(std::function<stats_by_name()>{}), std::invalid_argument);
  EXPECT_EQ(c.size(), 0u);
}

// Scrapes from two threads while a third adds pools, drops them and
// removes callables: every scrape is well formed (each family has one
// series per pool it lists) and nothing races (TSan).
TEST(CollectableTest, CollectRacesAddAndRemove) {
  collectable c;
  auto reg = std::make_shared<registry>();
  reg->emplace<fake_pool>("steady", fake_adapter{}, small(1));
  c.add(reg);
  std::atomic<bool> done{false};
  std::latch start(3);
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 2; ++t)
    scrapers.emplace_back([&] {
      start.arrive_and_wait();
      while (!done.load()) {
        const auto fs = c.Collect();
        const std::size_t pools = fs.at(1).metric.size();  // berth_pool_connections_pending
        EXPECT_GE(pools, 1u);
        EXPECT_EQ(fs.at(0).metric.size(), pools * 5) << "five states per pool";
        EXPECT_NE(::prometheus::TextSerializer{}.Serialize(fs).find("pool=\"steady\""), std::string::npos);
      }
    });
  start.arrive_and_wait();
  const int rounds = 50;
  for (int k = 0; k < rounds; ++k) {
    auto p = std::make_shared<fake_pool>(fake_adapter{}, small(2));
    const auto pid = c.add("p" + std::to_string(k), p);
    const auto fid = c.add([k] { return one_pool("f" + std::to_string(k), 3); });
    std::this_thread::yield();
    if (k % 2 == 0) {
      EXPECT_TRUE(c.remove(pid));
    } else {
      p.reset();  // dropped by a later Collect()
    }
    EXPECT_TRUE(c.remove(fid));
  }
  done = true;
  for (auto& t : scrapers) t.join();
  EXPECT_EQ(max_sizes(c), (std::map<std::string, double>{{"steady", 1}}));
}

}  // namespace
}  // namespace berth::prometheus
