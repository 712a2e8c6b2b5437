// retry_test.cpp: sqlite::run_transaction against a real file: SQLITE_BUSY
// retried to success (at BEGIN IMMEDIATE and at a deferred transaction's
// first write), what is not retried, the budget capping busy_timeout.
#include <berth/sqlite/retry.hpp>

#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace berth::sqlite {
namespace {

using namespace std::chrono_literals;
using testing::temp_dir;
using sqlite_pool = berth::pool<adapter>;
using steady = std::chrono::steady_clock;

std::int64_t count_rows(connection& c) {
  auto& st = c.prepare("SELECT count(*) FROM t");
  EXPECT_TRUE(st.step());
  const auto n = st.get<std::int64_t>(0);
  st.reset();
  return n;
}

/// A file with table t(x UNIQUE), a pool on it whose connections fail at
/// once on a lock (busy_timeout 0), and a second connection that can hold
/// the write lock. The pool opens its first connection before the holder
/// exists: it switches the file to WAL, which takes a lock the holder
/// would be holding later.
struct fixture {
  temp_dir dir;
  std::string path = dir.file("app.db");
  sqlite_pool pool{adapter{{.path = path, .busy_timeout = 0ms}}, pool_options{.max_size = 2, .min_idle = 1}};
  connection holder = connection::open(path);
  fixture() { holder.execute("CREATE TABLE t(x UNIQUE)"); }
};

/// A policy without delays that records every event, and runs `on_first`
/// at the first one.
struct recorder {
  std::vector<retry_event> events;
  std::function<void()> on_first;
  retry_policy policy(std::uint32_t attempts = 5) {
    retry_policy p;
    p.max_attempts = attempts;
    p.initial_backoff = 1ms;
    p.max_backoff = 1ms;
    p.on_retry = [this](const retry_event& e) {
      events.push_back(e);
      if (events.size() == 1 && on_first) on_first();
    };
    return p;
  }
};

TEST(SqliteRunTransaction, BusyAtBeginIsRetriedOnceTheLockIsReleased) {
  fixture f;
  f.holder.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)");
  recorder rec;
  rec.on_first = [&] { f.holder.execute("COMMIT"); };
  int calls = 0;
  const std::int64_t n = run_transaction(
      f.pool, transaction_mode::immediate,
      [&](connection& c) {
        ++calls;
        c.execute("INSERT INTO t VALUES (2)");
        return count_rows(c);
      },
      rec.policy());
  EXPECT_EQ(n, 2);
  EXPECT_EQ(calls, 1) << "the first attempt failed at BEGIN IMMEDIATE, before fn";
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::retry);
  EXPECT_EQ(rec.events[0].code.value() & 0xff, SQLITE_BUSY);
  EXPECT_EQ(rec.events[0].code, db_errc::retryable);
  EXPECT_FALSE(rec.events[0].in_commit);
  EXPECT_EQ(f.pool.with(count_rows), 2);
}

// A deferred transaction reads, then fails with BUSY at its first write
// while another connection holds the write lock: the whole function runs
// again, and only the second run's insert commits.
TEST(SqliteRunTransaction, BusyAtADeferredWriteRerunsTheWholeFunction) {
  fixture f;
  f.holder.execute("BEGIN IMMEDIATE");
  recorder rec;
  rec.on_first = [&] { f.holder.execute("INSERT INTO t VALUES (100); COMMIT"); };
  std::vector<std::int64_t> seen;
  run_transaction(
      f.pool, transaction_mode::deferred,
      [&](connection& c) {
        seen.push_back(count_rows(c));
        c.execute("INSERT INTO t VALUES (1)");
      },
      rec.policy());
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1})) << "the rerun saw the other connection's committed row";
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].code, db_errc::retryable);
  EXPECT_EQ(f.pool.with(count_rows), 2);
}

TEST(SqliteRunTransaction, ConstFunctionsAndResults) {
  fixture f;
  const auto insert = [](connection& c) { c.execute("INSERT INTO t VALUES (1)"); };
  const auto count = [](connection& c) { return count_rows(c); };
  run_transaction(f.pool, transaction_mode::immediate, insert);
  EXPECT_EQ(run_transaction(f.pool, transaction_mode::deferred, count), 1);
}

TEST(SqliteRunTransaction, AConstraintViolationIsNotRetried) {
  fixture f;
  f.holder.execute("INSERT INTO t VALUES (1)");
  recorder rec;
  int calls = 0;
  EXPECT_THROW(run_transaction(
                   f.pool, transaction_mode::immediate,
                   [&](connection& c) {
                     ++calls;
                     c.execute("INSERT INTO t VALUES (2)");
                     c.execute("INSERT INTO t VALUES (1)");
                   },
                   rec.policy()),
               constraint_error);
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::not_retryable);
  EXPECT_EQ(f.pool.with(count_rows), 1) << "the attempt's first insert rolled back";
}

// Plain SQLITE_LOCKED is a conflict inside the connection itself (here a
// DROP while the function's own statement reads the table): every run meets
// it again. It was classified retryable, so run_transaction re-ran the
// function until its attempts or budget ran out and then reported it as
// contention.
TEST(SqliteRunTransaction, ALockInsideTheConnectionItselfIsNotRetriedBug) {
  fixture f;
  f.holder.execute("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)");
  recorder rec;
  int calls = 0;
  try {
    run_transaction(
        f.pool, transaction_mode::immediate,
        [&](connection& c) {
          ++calls;
          auto& st = c.prepare("SELECT x FROM t");
          EXPECT_TRUE(st.step());
          c.execute("DROP TABLE t");
        },
        rec.policy());
    ADD_FAILURE() << "the DROP went through under the function's own reading statement";
  } catch (const sqlite_error& e) {
    EXPECT_EQ(e.code().value(), SQLITE_LOCKED) << e.what();
    EXPECT_NE(e.code(), db_errc::retryable);
    EXPECT_EQ(dynamic_cast<const retryable_error*>(&e), nullptr);
  }
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::not_retryable);
  EXPECT_EQ(f.pool.with(count_rows), 2) << "the table is still there";
}

TEST(SqliteRunTransaction, TheCallersOwnExceptionIsNotRetried) {
  fixture f;
  recorder rec;
  int calls = 0;
  EXPECT_THROW(run_transaction(
                   f.pool, transaction_mode::immediate,
                   [&](connection& c) {
                     ++calls;
                     c.execute("INSERT INTO t VALUES (1)");
                     throw std::runtime_error("no");
                   },
                   rec.policy()),
               std::runtime_error);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(rec.events.empty());
  EXPECT_EQ(f.pool.with(count_rows), 0);
}

TEST(SqliteRunTransaction, GivesUpAfterMaxAttemptsWithTheBusyError) {
  fixture f;
  f.holder.execute("BEGIN IMMEDIATE");
  recorder rec;
  try {
    run_transaction(f.pool, transaction_mode::immediate, [](connection&) {}, rec.policy(3));
    ADD_FAILURE() << "ran while the lock was held";
  } catch (const sqlite_error& e) {
    EXPECT_EQ(e.code().value() & 0xff, SQLITE_BUSY);
  }
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_EQ(rec.events[2].verdict, retry_verdict::attempts_exhausted);
  f.holder.execute("ROLLBACK");
}

// busy_timeout (5 s here) waits for a lock, but never past the budget, and
// the connection gets its configured busy_timeout back afterwards.
TEST(SqliteRunTransaction, TheBudgetCapsBusyTimeout) {
  temp_dir dir;
  const std::string path = dir.file("app.db");
  sqlite_pool pool{adapter{{.path = path, .busy_timeout = 5s}}, pool_options{.max_size = 1}};
  connection holder = connection::open(path);
  holder.execute("CREATE TABLE t(x); BEGIN IMMEDIATE");
  retry_policy p;
  p.max_attempts = 1000;
  p.budget = 150ms;
  const auto t0 = steady::now();
  EXPECT_THROW(run_transaction(pool, transaction_mode::immediate, [](connection&) {}, p), retryable_error);
  const auto waited = steady::now() - t0;
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 3s) << "busy_timeout was not capped by the budget";
  holder.execute("ROLLBACK");
  pool.with([](connection& c) {
    auto& st = c.prepare("PRAGMA busy_timeout");
    EXPECT_TRUE(st.step());
    EXPECT_EQ(st.get<std::int64_t>(0), 5000) << "restored";
    st.reset();
  });
}

TEST(SqliteRunTransaction, NoFreeConnectionIsAnAcquireErrorNotARetry) {
  temp_dir dir;
  sqlite_pool pool{adapter{{.path = dir.file("app.db")}}, pool_options{.max_size = 1, .acquire_timeout = 1ms}};
  auto held = pool.acquire().value();
  recorder rec;
  int calls = 0;
  EXPECT_THROW(run_transaction(pool, transaction_mode::immediate, [&](connection&) { ++calls; }, rec.policy()),
               acquire_exception);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(rec.events.empty());
}

}  // namespace
}  // namespace berth::sqlite
