// retry_test.cpp: postgres::run_transaction against a real server:
// serialization failures (a write skew, concurrent increments) and a
// deadlock retried to exact results, a unique violation not retried, and a
// COMMIT whose backend was killed never retried.
#include <berth/postgres/retry.hpp>

#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::shared_pg_server;
using pg_pool = berth::pool<adapter>;

pg_pool make_pool(std::size_t size) {
  return pg_pool(adapter{options{.conninfo = shared_pg_server().conninfo(), .connect_timeout = 5s}},
                 pool_options{.name = "retry", .max_size = size, .min_idle = 0});
}

void sql(const std::string& statements) {
  auto c = connection::open(shared_pg_server().conninfo(), 5s).value();
  c.execute("SET client_min_messages = warning; " + statements).value();
}

std::int64_t scalar(connection& c, const std::string& q) { return c.execute(q).value().get<std::int64_t>(0, 0); }

/// Records events from several threads.
struct recorder {
  std::mutex m;
  std::vector<retry_event> events;
  std::vector<std::string> sqlstates;
  retry_policy policy(std::uint32_t attempts = 20) {
    retry_policy p;
    p.max_attempts = attempts;
    p.budget = 60s;
    p.initial_backoff = 1ms;
    p.max_backoff = 20ms;
    p.on_retry = [this](const retry_event& e) {
      std::lock_guard lk(m);
      events.push_back(e);
      sqlstates.push_back(decode_sqlstate(e.code.value()));
    };
    return p;
  }
  std::size_t retries() {
    std::lock_guard lk(m);
    std::size_t n = 0;
    for (const auto& e : events) n += e.verdict == retry_verdict::retry ? 1 : 0;
    return n;
  }
};

constexpr transaction_options serializable{.isolation = isolation_level::serializable};

// The classic write skew: two doctors on call; each, under SERIALIZABLE,
// goes off call if the count says another stays. Run concurrently (both
// read before either writes), one of them fails with 40001 and is retried;
// the retry sees a single doctor on call and leaves it so.
TEST(PostgresRunTransaction, AWriteSkewIsRetriedToTheSerialOutcome) {
  sql("DROP TABLE IF EXISTS retry_oncall; CREATE TABLE retry_oncall (id int PRIMARY KEY, on_call bool NOT NULL);"
      "INSERT INTO retry_oncall VALUES (1, true), (2, true)");
  pg_pool pool = make_pool(2);
  recorder rec;
  std::barrier both_read(2);
  std::atomic<int> calls{0};
  auto doctor = [&](int id) {
    bool first = true;
    run_transaction(
        pool, serializable,
        [&](connection& c) {
          calls.fetch_add(1);
          const auto on_call = scalar(c, "SELECT count(*) FROM retry_oncall WHERE on_call");
          if (std::exchange(first, false)) both_read.arrive_and_wait();
          if (on_call >= 2) c.execute("UPDATE retry_oncall SET on_call = false WHERE id = $1", id).value();
        },
        rec.policy());
  };
  std::thread a(doctor, 1), b(doctor, 2);
  a.join();
  b.join();
  auto c = pool.acquire().value();
  EXPECT_EQ(scalar(*c, "SELECT count(*) FROM retry_oncall WHERE on_call"), 1) << "exactly one doctor stays on call";
  ASSERT_GE(rec.events.size(), 1u);
  for (std::size_t i = 0; i < rec.events.size(); ++i) {
    EXPECT_EQ(rec.sqlstates[i], "40001");
    EXPECT_EQ(rec.events[i].verdict, retry_verdict::retry);
  }
  EXPECT_EQ(calls.load(), 2 + static_cast<int>(rec.events.size()));
}

// Read-modify-write increments from 4 threads under REPEATABLE READ: a
// concurrent update fails with 40001; every increment lands exactly once.
TEST(PostgresRunTransaction, ConcurrentIncrementsAreExactWithRetries) {
  sql("DROP TABLE IF EXISTS retry_counter; CREATE TABLE retry_counter (id int PRIMARY KEY, n bigint NOT NULL);"
      "INSERT INTO retry_counter VALUES (1, 0)");
  constexpr int threads = 4, each = 20;
  pg_pool pool = make_pool(threads);
  recorder rec;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < each; ++i) {
        run_transaction(
            pool, {.isolation = isolation_level::repeatable_read},
            [](connection& c) {
              const auto n = scalar(c, "SELECT n FROM retry_counter WHERE id = 1");
              c.execute("UPDATE retry_counter SET n = $1 WHERE id = 1", n + 1).value();
            },
            rec.policy(1000));
      }
    });
  }
  for (auto& t : ts) t.join();
  auto c = pool.acquire().value();
  EXPECT_EQ(scalar(*c, "SELECT n FROM retry_counter WHERE id = 1"), threads * each);
  for (const auto& s : rec.sqlstates) EXPECT_EQ(s, "40001");
  std::printf("ConcurrentIncrementsAreExactWithRetries: %d increments, %zu retries\n", threads * each, rec.retries());
}

// Two transactions lock two rows in opposite orders: PostgreSQL detects the
// deadlock (after deadlock_timeout, 1 s by default) and fails one with
// 40P01; it is retried (possibly more than once, see below), and both
// increments of both rows land.
TEST(PostgresRunTransaction, ADeadlockIsRetried) {
  sql("DROP TABLE IF EXISTS retry_pair; CREATE TABLE retry_pair (id int PRIMARY KEY, n int NOT NULL);"
      "INSERT INTO retry_pair VALUES (1, 0), (2, 0)");
  pg_pool pool = make_pool(2);
  recorder rec;
  std::barrier both_locked(2);
  auto worker = [&](int first_row, int second_row) {
    bool first = true;
    run_transaction(
        pool, {},
        [&](connection& c) {
          c.execute("UPDATE retry_pair SET n = n + 1 WHERE id = $1", first_row).value();
          if (std::exchange(first, false)) both_locked.arrive_and_wait();
          c.execute("UPDATE retry_pair SET n = n + 1 WHERE id = $1", second_row).value();
        },
        rec.policy());
  };
  std::thread a(worker, 1, 2), b(worker, 2, 1);
  a.join();
  b.join();
  auto c = pool.acquire().value();
  EXPECT_EQ(scalar(*c, "SELECT sum(n) FROM retry_pair"), 4);
  EXPECT_EQ(scalar(*c, "SELECT min(n) FROM retry_pair"), 2);
  // At least one victim. More than one is legitimate: when the victim
  // aborts, its retry can update its first row before the survivor, woken
  // by the abort, re-reads that row; the two then deadlock again (seen on a
  // loaded CI machine: 2 events). Every event is a retried 40P01.
  ASSERT_GE(rec.events.size(), 1u) << "a victim";
  for (std::size_t i = 0; i < rec.events.size(); ++i) {
    EXPECT_EQ(rec.sqlstates[i], "40P01") << "event " << i;
    EXPECT_EQ(rec.events[i].verdict, retry_verdict::retry) << "event " << i;
    EXPECT_EQ(rec.events[i].code, db_errc::retryable) << "event " << i;
  }
}

TEST(PostgresRunTransaction, AUniqueViolationIsNotRetried) {
  sql("DROP TABLE IF EXISTS retry_unique; CREATE TABLE retry_unique (k int PRIMARY KEY);"
      "INSERT INTO retry_unique VALUES (1)");
  pg_pool pool = make_pool(1);
  recorder rec;
  int calls = 0;
  try {
    run_transaction(
        pool, serializable,
        [&](connection& c) {
          ++calls;
          c.execute("INSERT INTO retry_unique VALUES (2)").value();
          c.execute("INSERT INTO retry_unique VALUES (1)").value();
        },
        rec.policy());
    ADD_FAILURE() << "duplicate accepted";
  } catch (const postgres_error& e) {
    EXPECT_EQ(e.sqlstate(), "23505");
    EXPECT_NE(dynamic_cast<const constraint_error*>(&e), nullptr);
  }
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::not_retryable);
  auto c = pool.acquire().value();
  EXPECT_EQ(scalar(*c, "SELECT count(*) FROM retry_unique"), 1) << "the attempt rolled back";
}

// The backend is killed (from another connection) after fn's work and
// before COMMIT: COMMIT gets no answer. The runner cannot know whether it
// committed (here it did not), so it does not run fn again and says so.
TEST(PostgresRunTransaction, ACommitWithoutAnAnswerIsNeverRetried) {
  sql("DROP TABLE IF EXISTS retry_lost; CREATE TABLE retry_lost (k int)");
  pg_pool pool = make_pool(1);
  recorder rec;
  int calls = 0;
  try {
    run_transaction(
        pool, {},
        [&](connection& c) {
          ++calls;
          c.execute("INSERT INTO retry_lost VALUES (1)").value();
          const auto pid = scalar(c, "SELECT pg_backend_pid()");
          // pg_terminate_backend(pid, timeout) waits until the backend is gone.
          EXPECT_EQ(shared_pg_server().admin_execute("SELECT pg_terminate_backend(" + std::to_string(pid) + ", 5000)"),
                    "t");
        },
        rec.policy());
    ADD_FAILURE() << "COMMIT succeeded on a terminated backend";
  } catch (const commit_unknown_error& e) {
    EXPECT_EQ(e.attempt(), 1u);
    EXPECT_EQ(e.code(), db_errc::connection_lost) << e.what();
    EXPECT_NE(std::string(e.what()).find("may or may not have committed"), std::string::npos) << e.what();
    try {
      e.rethrow_nested();
    } catch (const connection_lost_error& inner) {
      EXPECT_NE(dynamic_cast<const postgres_error*>(&inner), nullptr) << "the engine's own error is nested";
    }
  }
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::outcome_unknown);
  EXPECT_TRUE(rec.events[0].in_commit);
  // The pool closed the broken connection and serves a new one.
  auto c = pool.acquire().value();
  EXPECT_EQ(scalar(*c, "SELECT count(*) FROM retry_lost"), 0);
}

}  // namespace
}  // namespace berth::postgres
