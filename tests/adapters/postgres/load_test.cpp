// load_test.cpp: berth::pool<berth::postgres::adapter> under load against a
// real server (issue 8): many threads mixing transactional writes and reads
// through a small pool, and `pg_ctl restart` while threads loop queries.
#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/transaction.hpp>

#include "support/failure_log.hpp"
#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::shared_pg_server;
using pg_pool = berth::pool<adapter>;
using steady = std::chrono::steady_clock;

options test_options() {
  options o;
  o.conninfo = shared_pg_server().conninfo();
  o.connect_timeout = 2s;
  return o;
}

using berth::testing::failure_log;

// 100 threads, 8 connections, ~20 operations each: 30% write transactions
// (two rows, committed together), 70% count(*) reads. Each read must see an
// even count (a transaction's two rows appear together or not at all), no
// fewer rows than were committed before the read began (nothing committed is
// lost) and no more than the transactions that had begun committing by the
// time it returned (nothing uncommitted is seen).
TEST(PostgresLoad, HundredThreadsMixedReadsAndWritesThroughEightConnections) {
  {
    adapter setup{test_options()};
    auto c = setup.connect().value();
    c.execute("DROP TABLE IF EXISTS load_rows; "
              "CREATE TABLE load_rows (thread int8, op int8, half int8, PRIMARY KEY (thread, op, half))")
        .value();
  }
  pool_options po;
  po.name = "pg-load";
  po.max_size = 8;
  po.min_idle = 8;
  pg_pool p{adapter{test_options()}, po};

  constexpr int threads = 100, ops = 20;
  const auto seed = static_cast<std::uint32_t>(std::random_device{}());
  std::printf("[ info ] load seed %u\n", seed);
  // Rows of transactions that have begun COMMIT / whose COMMIT returned.
  std::atomic<std::int64_t> committing{0}, committed{0};
  std::atomic<int> writes{0}, reads{0};
  failure_log failures;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937 rng(seed + static_cast<std::uint32_t>(t));
      for (int i = 0; i < ops; ++i) {
        auto l = p.acquire_for(30s);
        if (!l) {
          failures.add("acquire: " + l.error().message());
          continue;
        }
        connection& c = **l;
        try {
          if (rng() % 10 < 3) {
            transaction tx(c);
            c.execute("INSERT INTO load_rows VALUES ($1, $2, 0)", t, i).value();
            c.execute("INSERT INTO load_rows VALUES ($1, $2, 1)", t, i).value();
            // seq_cst (default) throughout: committing is raised before
            // COMMIT is sent and committed after it returns, so a reader's
            // floor (loaded before its SELECT) and ceiling (loaded after)
            // bracket what the server can show it.
            committing.fetch_add(2);
            tx.commit();
            committed.fetch_add(2);
            writes.fetch_add(1);
          } else {
            const std::int64_t floor = committed.load();
            const auto n = c.execute("SELECT count(*) FROM load_rows").value().get<std::int64_t>(0, 0);
            const std::int64_t ceiling = committing.load();
            if (n % 2 != 0 || n < floor || n > ceiling)
              failures.add("read " + std::to_string(n) + " outside [" + std::to_string(floor) + ", " +
                           std::to_string(ceiling) + "] or odd");
            reads.fetch_add(1);
          }
        } catch (const std::exception& e) {
          failures.add(std::string("query: ") + e.what());
        }
      }
    });
  for (auto& t : ts) t.join();

  EXPECT_EQ(failures.count(), 0) << failures.summary();
  EXPECT_EQ(writes.load() + reads.load(), threads * ops);
  auto l = p.acquire_for(5s).value();
  EXPECT_EQ((*l).execute("SELECT count(*) FROM load_rows").value().get<std::int64_t>(0, 0), 2 * writes.load());
  EXPECT_EQ((*l).execute("SELECT count(DISTINCT (thread, op)) FROM load_rows").value().get<std::int64_t>(0, 0),
            writes.load());
  EXPECT_LE(p.stats().created, 8u);
  std::printf("[ info ] %d write transactions, %d reads, %llu connections created\n", writes.load(),
              reads.load(), static_cast<unsigned long long>(p.stats().created));
}

// 16 threads loop SELECTs through 4 connections while the server restarts.
// A failure is allowed only if it is of the connection-lost class (08xxx,
// 57P01-57P03): a query cut off, or an acquire that timed out while new
// connections were refused (or failed at once with database_unavailable once
// the circuit breaker opened). Every query is bounded (execute_for), so a hang
// shows up as a 57014 failure instead of a stuck test. After restart()
// returns, each thread must be served again, within 10 s.
TEST(PostgresLoad, RestartDuringLoadFailsOnlyAsConnectionLostAndRecovers) {
  pool_options po;
  po.name = "pg-restart-load";
  po.max_size = 4;
  po.min_idle = 4;
  po.validate_on_acquire = true;
  po.validation_bypass = 0ms;
  po.reaper_period = 10ms;
  po.creation_backoff_initial = 10ms;
  po.creation_backoff_max = 200ms;
  pg_pool p{adapter{test_options()}, po};

  constexpr int threads = 16;
  std::atomic<bool> restarted{false}, stop{false};
  // Nanoseconds since restart() returned at which each thread's first query
  // begun after that point succeeded; -1 until then.
  std::vector<std::atomic<std::int64_t>> recovered_ns(threads);
  for (auto& r : recovered_ns) r.store(-1);
  std::atomic<int> lost{0}, served_before{0};
  failure_log unexpected;
  steady::time_point restart_returned{};  // written before restarted is set
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      while (!stop.load()) {
        // seq_cst: a true here makes restart_returned visible.
        const bool after = restarted.load();
        auto l = p.acquire_for(5s);
        if (!l) {
          const auto& e = l.error();
          // database_unavailable: the circuit breaker opened while
          // connections were refused (a slow restart); it fails at once, so
          // back off a little rather than spin.
          if ((e.code == errc::timeout || e.code == errc::database_unavailable) &&
              is_connection_lost(e.last_creation_error))
            lost.fetch_add(1);
          else
            unexpected.add("acquire: " + e.message());
          if (e.code == errc::database_unavailable) std::this_thread::sleep_for(1ms);
          continue;
        }
        auto r = (**l).execute_for(5s, "SELECT 1");
        if (!r) {
          if (is_connection_lost(r.error().code)) lost.fetch_add(1);
          else unexpected.add("query: " + r.error().message + " (" + r.error().sqlstate() + ")");
          continue;  // the lease goes back; the adapter reports the connection broken
        }
        if (!after) {
          served_before.fetch_add(1);
        } else if (recovered_ns[static_cast<std::size_t>(t)].load() < 0) {
          recovered_ns[static_cast<std::size_t>(t)].store(
              std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - restart_returned).count());
        }
      }
    });

  // Let the load run, restart under it, then wait (bounded) for every thread.
  const auto warmup_until = steady::now() + 5s;
  while (served_before.load() < threads * 4 && steady::now() < warmup_until) std::this_thread::sleep_for(5ms);
  shared_pg_server().restart();
  restart_returned = steady::now();
  restarted.store(true);
  const auto all_recovered = [&] {
    return std::all_of(recovered_ns.begin(), recovered_ns.end(), [](const auto& r) { return r.load() >= 0; });
  };
  while (!all_recovered() && steady::now() - restart_returned < 20s) std::this_thread::sleep_for(1ms);
  stop.store(true);
  for (auto& t : ts) t.join();

  EXPECT_EQ(unexpected.count(), 0) << unexpected.summary();
  EXPECT_GE(served_before.load(), threads) << "the load was running before the restart";
  std::int64_t worst = -1;
  for (int t = 0; t < threads; ++t) {
    const auto ns = recovered_ns[static_cast<std::size_t>(t)].load();
    EXPECT_GE(ns, 0) << "thread " << t << " was never served after the restart";
    worst = std::max(worst, ns);
  }
  std::printf("[ info ] restart under load: %d connection-lost failures; every thread served again %.1f ms "
              "after pg_ctl restart returned\n",
              lost.load(), static_cast<double>(worst) / 1e6);
  EXPECT_LT(std::chrono::nanoseconds(worst), 10s);
}

}  // namespace
}  // namespace berth::postgres
