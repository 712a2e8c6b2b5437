// router_test.cpp: berth::replica_router over a real primary and streaming
// standby (support/pg_pair.hpp; issue 11): reads spread over the standby and
// the primary per strategy; stopping the standby under a read load loses no
// read (they fall back to or are re-run on the primary) and the standby is
// readmitted once it is back; a standby whose replay is paused is excluded
// by the lag check until it catches up.
#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/router.hpp>

#include "support/pg_pair.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::pg_pair;
using berth::testing::pg_server;
using berth::testing::shared_pg_pair;
using pg_pool = berth::pool<adapter>;
using steady = std::chrono::steady_clock;

std::shared_ptr<pg_pool> make_pool(const std::string& name, const pg_server& server, std::size_t size = 4) {
  options o;
  o.conninfo = server.conninfo();
  o.connect_timeout = 2s;
  pool_options po;
  po.name = name;
  po.max_size = size;
  po.min_idle = 1;
  po.acquire_timeout = 10s;
  po.creation_backoff_initial = 10ms;
  po.creation_backoff_max = 100ms;
  po.breaker_recovery = 100ms;
  po.breaker_recovery_max = 200ms;
  return std::make_shared<pg_pool>(adapter{o}, po);
}

/// What a read sees of its server.
server_role role_of_read(router& r) {
  return r.read([](connection& c) {
    c.execute("SELECT 1").value();
    return c.role();
  });
}

TEST(PostgresRouter, ReadsGoToTheStandbyAndWritesToThePrimary) {
  pg_pair& pair = shared_pg_pair();
  router r(make_pool("router-primary", pair.primary()), {make_pool("router-standby", pair.standby())});
  for (int k = 0; k < 10; ++k) EXPECT_EQ(role_of_read(r), server_role::standby);
  EXPECT_EQ(r.write([](connection& c) { return c.role(); }), server_role::primary);
  const auto s = r.stats();
  EXPECT_EQ(s.replicas[0].reads, 10u);
  EXPECT_EQ(s.primary_reads, 0u);
  EXPECT_EQ(s.writes, 1u);
}

// The primary takes a share of the reads when it is listed among the read
// targets too (a pool of its own); each strategy uses both.
TEST(PostgresRouter, ReadsSpreadOverTheStandbyAndThePrimaryPerStrategy) {
  pg_pair& pair = shared_pg_pair();
  auto primary = make_pool("router-rw", pair.primary());
  for (auto strategy : {read_strategy::round_robin, read_strategy::random, read_strategy::least_loaded,
                        read_strategy::power_of_two_choices}) {
    router_options o;
    o.name = std::string("spread-") + to_string(strategy);
    o.strategy = strategy;
    router r(primary, {make_pool("router-ro-standby", pair.standby()), make_pool("router-ro-primary", pair.primary())},
             o);
    std::map<server_role, int> seen;
    for (int k = 0; k < 40; ++k) ++seen[role_of_read(r)];
    EXPECT_GT(seen[server_role::standby], 0) << to_string(strategy);
    EXPECT_GT(seen[server_role::primary], 0) << to_string(strategy);
    if (strategy == read_strategy::round_robin) {
      EXPECT_EQ(seen[server_role::standby], 20);
      EXPECT_EQ(seen[server_role::primary], 20);
    }
    EXPECT_EQ(r.stats().primary_reads, 0u) << "the read-write pool took no read";
  }
}

// 8 threads read through the router for about 2.5 s; the standby is stopped
// (pg_ctl stop -m fast: its backends are terminated mid-read) 0.5 s in and
// started again 1 s later. Every read succeeds (those that lost the standby
// ran again on the primary; later ones went there directly), and reads go
// to the standby again once it is back.
TEST(PostgresRouter, StoppingTheStandbyUnderReadLoadLosesNoReadAndItIsReadmitted) {
  pg_pair pair = pg_pair::start();  // its own: this test stops the standby
  pair.primary().admin_execute("CREATE TABLE router_rows (v int); INSERT INTO router_rows SELECT generate_series(1, 100); "
                               "GRANT ALL ON router_rows TO " + pair.primary().user(),
                               pair.primary().dbname());
  pair.wait_for_replay();
  router_options o;
  o.name = "router-outage";
  o.readmit_after = 100ms;
  o.readmit_after_max = 400ms;
  o.check_timeout = 500ms;
  router r(make_pool("outage-primary", pair.primary()), {make_pool("outage-standby", pair.standby())}, o);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, failures{0}, on_standby_after_restart{0};
  std::atomic<bool> restarted{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t)
    readers.emplace_back([&] {
      while (!stop.load()) {
        try {
          const auto [n, role] = r.read([](connection& c) {
            return std::pair{c.execute("SELECT count(*) FROM router_rows").value().get<std::int64_t>(0, 0), c.role()};
          });
          if (n != 100) failures.fetch_add(1);
          reads.fetch_add(1);
          if (restarted.load() && role == server_role::standby) on_standby_after_restart.fetch_add(1);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "read failed: %s\n", e.what());
          failures.fetch_add(1);
        }
      }
    });
  std::this_thread::sleep_for(500ms);
  const std::uint64_t before = reads.load();
  pair.standby().stop_keeping_data("fast");
  const auto stopped = steady::now();
  std::this_thread::sleep_for(1s);
  const auto ejected = r.stats().replicas[0].health;
  pair.standby().start_again();
  const auto back = steady::now();
  restarted = true;
  while (on_standby_after_restart.load() == 0 && steady::now() - back < 10s) std::this_thread::sleep_for(1ms);
  const auto readmitted_after = steady::now() - back;
  std::this_thread::sleep_for(200ms);
  stop = true;
  for (auto& t : readers) t.join();
  const auto s = r.stats();
  std::printf("router outage: %llu reads (%llu before the stop), %llu re-run after losing the standby, "
              "%llu on the primary; standby readmitted %lld ms after it was back (%lld ms after the stop)\n",
              static_cast<unsigned long long>(reads.load()), static_cast<unsigned long long>(before),
              static_cast<unsigned long long>(s.read_retries), static_cast<unsigned long long>(s.primary_reads),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(readmitted_after).count()),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - stopped).count()));
  EXPECT_EQ(failures.load(), 0u) << "no read was lost";
  EXPECT_GT(before, 0u);
  EXPECT_NE(ejected, replica_health::admitted) << "the stopped standby was ejected";
  EXPECT_GT(s.primary_reads, 0u) << "reads fell back to the primary meanwhile";
  EXPECT_GT(on_standby_after_restart.load(), 0u) << "the standby was readmitted";
  EXPECT_LT(readmitted_after, 5s);
  EXPECT_EQ(s.replicas[0].health, replica_health::admitted);
  pair.stop();
}

// A standby whose replay is paused falls behind as the primary commits: the
// lag check (replay_lag_probe) excludes it and reads go to the primary; once
// replay resumes it catches up and takes reads again.
TEST(PostgresRouter, ALaggingStandbyIsExcludedUntilItCatchesUp) {
  pg_pair& pair = shared_pg_pair();
  pair.primary().admin_execute("CREATE TABLE IF NOT EXISTS router_lag (v int); "
                               "GRANT ALL ON router_lag TO " + pair.primary().user(),
                               pair.primary().dbname());
  pair.wait_for_replay();
  router_options o;
  o.name = "router-lag";
  o.max_replica_lag = 200ms;
  o.lag_check_interval = 0ms;  // check_now() only: the test decides when
  auto primary = make_pool("lag-primary", pair.primary());
  router r(primary, {make_pool("lag-standby", pair.standby())}, o, replay_lag_probe());
  r.check_now();
  ASSERT_FALSE(r.stats().replicas[0].lagging);
  EXPECT_EQ(role_of_read(r), server_role::standby);

  pair.standby().admin_execute("SELECT pg_wal_replay_pause()");
  struct resume_replay {
    pg_server& s;
    ~resume_replay() { s.admin_execute("SELECT pg_wal_replay_resume()"); }
  } resume{pair.standby()};
  primary->with([](connection& c) { c.execute("INSERT INTO router_lag VALUES (1)").value(); });
  // The standby receives that commit but does not replay it: its lag grows.
  const auto deadline = steady::now() + 10s;
  while (steady::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    r.check_now();
    if (r.stats().replicas[0].lagging) break;
  }
  const auto lagging = r.stats();
  ASSERT_TRUE(lagging.replicas[0].lagging) << "the paused standby was never found lagging";
  ASSERT_TRUE(lagging.replicas[0].lag);
  EXPECT_GT(*lagging.replicas[0].lag, 200ms);
  EXPECT_EQ(role_of_read(r), server_role::primary) << "reads avoid the lagging standby";

  pair.standby().admin_execute("SELECT pg_wal_replay_resume()");
  pair.wait_for_replay();
  r.check_now();
  EXPECT_FALSE(r.stats().replicas[0].lagging);
  EXPECT_EQ(r.stats().replicas[0].lag, std::chrono::nanoseconds(0));
  EXPECT_EQ(role_of_read(r), server_role::standby);
}

}  // namespace
}  // namespace berth::postgres
