// transaction_test.cpp: the transaction guard (isolation levels, savepoints,
// misuse, unwinding), execute_for's per-call timeout, and a guard left open
// at a pool release, against a real server.
#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/transaction.hpp>

#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <string>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::shared_pg_server;
using steady = std::chrono::steady_clock;

connection open_test_connection() { return connection::open(shared_pg_server().conninfo(), 5s).value(); }

/// A fresh table `name (x int)` in the test database (dropped first, so
/// --gtest_repeat works; admin_execute() is connected to another database).
void fresh_table(const std::string& name) {
  open_test_connection().execute("DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name + " (x int)").value();
}

std::int64_t count(connection& c, const std::string& table) {
  return c.execute("SELECT count(*) FROM " + table).value().get<std::int64_t>(0, 0);
}

std::string show(connection& c, const std::string& setting) {
  return c.execute("SHOW " + setting).value().get<std::string>(0, 0);
}

// ---- isolation -------------------------------------------------------------

TEST(PostgresTransaction, UncommittedWriteIsInvisibleUntilCommit) {
  fresh_table("tx_visible");
  connection a = open_test_connection(), b = open_test_connection();
  {
    transaction tx(a);
    EXPECT_FALSE(tx.is_savepoint());
    EXPECT_EQ(a.transaction_depth(), 1);
    a.execute("INSERT INTO tx_visible VALUES (1)").value();
    EXPECT_EQ(count(a, "tx_visible"), 1) << "a sees its own write";
    EXPECT_EQ(count(b, "tx_visible"), 0) << "b does not see a's uncommitted write";
    tx.commit();
    EXPECT_FALSE(tx.active());
  }
  EXPECT_EQ(a.transaction_depth(), 0);
  EXPECT_EQ(a.transaction(), transaction_state::idle);
  EXPECT_EQ(count(b, "tx_visible"), 1) << "commit made it visible";
}

TEST(PostgresTransaction, BeginSpellsOutTheOptions) {
  connection c = open_test_connection();
  {
    transaction tx(c);
    EXPECT_EQ(show(c, "transaction_isolation"), "read committed");
    EXPECT_EQ(show(c, "transaction_read_only"), "off");
  }
  {
    transaction tx(c, {.isolation = isolation_level::serializable, .read_only = true, .deferrable = true});
    EXPECT_EQ(show(c, "transaction_isolation"), "serializable");
    EXPECT_EQ(show(c, "transaction_read_only"), "on");
    EXPECT_EQ(show(c, "transaction_deferrable"), "on");
  }
  c.execute("SET default_transaction_read_only = on").value();
  {
    transaction tx(c, {.isolation = isolation_level::repeatable_read});
    EXPECT_EQ(show(c, "transaction_isolation"), "repeatable read");
    EXPECT_EQ(show(c, "transaction_read_only"), "off") << "READ WRITE is spelled out";
  }
}

TEST(PostgresTransaction, RepeatableReadSeesAStableSnapshot) {
  fresh_table("tx_snapshot");
  connection a = open_test_connection(), b = open_test_connection();
  {
    transaction rr(a, {.isolation = isolation_level::repeatable_read});
    EXPECT_EQ(count(a, "tx_snapshot"), 0);  // the snapshot is taken here
    b.execute("INSERT INTO tx_snapshot VALUES (1)").value();
    EXPECT_EQ(count(a, "tx_snapshot"), 0) << "a committed insert after the snapshot stays invisible";
    rr.commit();
  }
  {
    transaction rc(a);  // read committed: each statement sees what is committed
    EXPECT_EQ(count(a, "tx_snapshot"), 1);
    b.execute("INSERT INTO tx_snapshot VALUES (2)").value();
    EXPECT_EQ(count(a, "tx_snapshot"), 2);
  }
}

// The classic write skew: each transaction reads both rows, then takes one
// doctor off call. Serially, the second would see one doctor left and stop.
TEST(PostgresTransaction, SerializableWriteSkewFailsOneWith40001Retryable) {
  connection a = open_test_connection(), b = open_test_connection();
  a.execute("DROP TABLE IF EXISTS tx_oncall; CREATE TABLE tx_oncall (id int PRIMARY KEY, on_call bool)").value();
  a.execute("INSERT INTO tx_oncall VALUES (1, true), (2, true)").value();
  const transaction_options ser{.isolation = isolation_level::serializable};
  std::optional<error> failed;
  auto note = [&](const postgres_error& e) {
    if (!failed) failed = error{e.code(), e.what()};
  };
  {
    transaction t1(a, ser), t2(b, ser);
    EXPECT_EQ(a.execute("SELECT count(*) FROM tx_oncall WHERE on_call").value().get<std::int64_t>(0, 0), 2);
    EXPECT_EQ(b.execute("SELECT count(*) FROM tx_oncall WHERE on_call").value().get<std::int64_t>(0, 0), 2);
    a.execute("UPDATE tx_oncall SET on_call = false WHERE id = 1").value();
    if (auto r = b.execute("UPDATE tx_oncall SET on_call = false WHERE id = 2"); !r) failed = r.error();
    try {
      t1.commit();
    } catch (const postgres_error& e) {
      note(e);
    }
    if (t2.active()) {
      try {
        t2.commit();
      } catch (const postgres_error& e) {
        note(e);
      }
    }
  }
  ASSERT_TRUE(failed) << "one of the two must fail";
  EXPECT_EQ(failed->sqlstate(), "40001") << failed->message;
  EXPECT_TRUE(is_retryable(failed->code));
  EXPECT_EQ(failed->code, db_errc::retryable);
  EXPECT_EQ(a.execute("SELECT count(*) FROM tx_oncall WHERE on_call").value().get<std::int64_t>(0, 0), 1)
      << "exactly one took effect";
  EXPECT_EQ(b.transaction(), transaction_state::idle);
  EXPECT_FALSE(b.broken());
}

TEST(PostgresTransaction, ReadOnlyRejectsAWriteWith25006) {
  fresh_table("tx_readonly");
  connection c = open_test_connection();
  transaction tx(c, {.read_only = true});
  auto r = c.execute("INSERT INTO tx_readonly VALUES (1)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sqlstate(), "25006") << r.error().message;
  EXPECT_EQ(c.transaction(), transaction_state::in_error);
}

// ---- savepoints, unwinding, misuse -----------------------------------------

TEST(PostgresTransaction, NestedSavepointRollbackKeepsOuterWork) {
  fresh_table("tx_nested");
  connection c = open_test_connection();
  {
    transaction outer(c);
    c.execute("INSERT INTO tx_nested VALUES (1)").value();
    {
      transaction inner(c);
      EXPECT_TRUE(inner.is_savepoint());
      EXPECT_EQ(inner.depth(), 2);
      EXPECT_EQ(c.transaction_depth(), 2);
      c.execute("INSERT INTO tx_nested VALUES (2)").value();
      {
        transaction innermost(c);  // berth_sp_3, committed into inner, rolled back with it
        c.execute("INSERT INTO tx_nested VALUES (3)").value();
        innermost.commit();
      }
    }  // not committed: ROLLBACK TO berth_sp_2
    EXPECT_EQ(c.transaction_depth(), 1);
    {
      transaction failing(c);
      EXPECT_FALSE(c.execute("SELECT no_such_column FROM tx_nested"));
      EXPECT_EQ(c.transaction(), transaction_state::in_error);
    }  // the savepoint rollback repairs the outer transaction
    EXPECT_EQ(c.transaction(), transaction_state::in_transaction);
    {
      transaction kept(c);
      c.execute("INSERT INTO tx_nested VALUES (4)").value();
      kept.commit();
    }
    outer.commit();
  }
  auto r = c.execute("SELECT string_agg(x::text, ',' ORDER BY x) FROM tx_nested").value();
  EXPECT_EQ(r.get<std::string>(0, 0), "1,4");
}

TEST(PostgresTransaction, GuardDestroyedDuringAnExceptionRollsBack) {
  fresh_table("tx_unwind");
  connection c = open_test_connection();
  EXPECT_THROW(
      {
        transaction tx(c);
        c.execute("INSERT INTO tx_unwind VALUES (1)").value();
        transaction sp(c);
        c.execute("INSERT INTO tx_unwind VALUES (2)").value();
        throw std::runtime_error("boom");
      },
      std::runtime_error);
  EXPECT_EQ(c.transaction(), transaction_state::idle);
  EXPECT_EQ(c.transaction_depth(), 0);
  EXPECT_EQ(count(c, "tx_unwind"), 0);
}

TEST(PostgresTransaction, FinishingAGuardThatIsNotInnermostIsAClearError) {
  fresh_table("tx_misuse");
  connection c = open_test_connection();
  transaction outer(c);
  c.execute("INSERT INTO tx_misuse VALUES (1)").value();
  {
    transaction inner(c);
    try {
      outer.commit();
      FAIL() << "committed around a live inner guard";
    } catch (const postgres_error& e) {
      EXPECT_NE(std::string(e.what()).find("not the innermost"), std::string::npos) << e.what();
    }
    EXPECT_THROW(outer.rollback(), postgres_error);
    EXPECT_TRUE(outer.active()) << "the failed calls changed nothing";
    EXPECT_EQ(c.transaction_depth(), 2);
    inner.commit();
    EXPECT_THROW(inner.commit(), postgres_error) << "already finished";
  }
  outer.commit();
  EXPECT_THROW(outer.rollback(), postgres_error);
  EXPECT_EQ(count(c, "tx_misuse"), 1);
}

// A guard's misuse threw std::logic_error, outside the throwing API's
// hierarchy rooted in std::system_error (issue 8): a catch of db_error or
// system_error let it through. Now a postgres_error 25000, in no db_errc
// class (so never retried), and nothing is sent.
TEST(PostgresTransaction, MisuseThrowsAPostgresErrorBug) {
  connection c = open_test_connection();
  transaction outer(c);
  transaction inner(c);
  try {
    outer.commit();
    FAIL() << "committed around a live inner guard";
  } catch (const std::system_error& e) {
    const auto* pe = dynamic_cast<const postgres_error*>(&e);
    ASSERT_NE(pe, nullptr) << e.what();
    EXPECT_EQ(pe->sqlstate(), "25000");
    EXPECT_EQ(e.code(), make_sqlstate_error("25000"));
    EXPECT_NE(e.code(), berth::db_errc::retryable);
    EXPECT_NE(e.code(), berth::db_errc::connection_lost);
  }
  inner.commit();
  try {
    inner.rollback();
    FAIL() << "rolled back a finished guard";
  } catch (const berth::db_error& e) {
    EXPECT_NE(std::string(e.what()).find("already finished"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.transaction(), transaction_state::in_transaction) << "nothing sent";
  outer.commit();
}

TEST(PostgresTransaction, CommitOfAFailedTransactionThrows25P02) {
  fresh_table("tx_failed");
  connection c = open_test_connection();
  transaction tx(c);
  c.execute("INSERT INTO tx_failed VALUES (1)").value();
  EXPECT_FALSE(c.execute("SELECT 1/0"));
  try {
    tx.commit();
    FAIL() << "COMMIT of a failed transaction reported success";
  } catch (const postgres_error& e) {
    EXPECT_EQ(e.sqlstate(), "25P02") << e.what();
  }
  EXPECT_FALSE(tx.active());
  EXPECT_EQ(c.transaction(), transaction_state::idle);
  EXPECT_EQ(count(c, "tx_failed"), 0);
  transaction again(c);  // the connection is fine for the next transaction
  again.commit();
}

// "A guard whose transaction ended without it (a manual COMMIT/ROLLBACK)
// finishes silently: its destructor sends nothing." After a manual COMMIT
// and the user's own BEGIN, the guard still thought the open transaction
// was its own and rolled it back: the user's insert was lost (review).
TEST(PostgresTransaction, AGuardNeverRollsBackTheUsersOwnLaterTransactionBug) {
  fresh_table("tx_own");
  for (const bool one_call : {false, true}) {
    SCOPED_TRACE(one_call ? "COMMIT; BEGIN in one call" : "COMMIT, then BEGIN");
    connection c = open_test_connection();
    {
      transaction guard(c);
      if (one_call) {
        c.execute("COMMIT; BEGIN").value();
      } else {
        c.execute("COMMIT").value();
        c.execute("BEGIN").value();
      }
      c.execute("INSERT INTO tx_own VALUES (1)").value();
    }  // the guard's destructor: not its transaction
    EXPECT_EQ(c.transaction(), transaction_state::in_transaction) << "the user's transaction is still open";
    c.execute("COMMIT").value();
  }
  connection other = open_test_connection();
  EXPECT_EQ(count(other, "tx_own"), 2) << "both of the user's inserts committed";
}

// ROLLBACK AND CHAIN (tag ROLLBACK, still in a transaction) did not move
// the transaction epoch, so the guard committed the user's chained
// transaction as its own, and an inner savepoint guard failed its ROLLBACK
// TO and marked a healthy session broken. A stray BEGIN inside the
// transaction (a no-op, WARNING 25001) moved it, so the guard refused to
// commit its own transaction (review of 957e949).
TEST(PostgresTransaction, AChainedOrStrayBoundaryIsSeenByTheGuardBug) {
  fresh_table("tx_chain");
  {
    connection c = open_test_connection();
    {
      transaction tx(c);
      c.execute("INSERT INTO tx_chain VALUES (1)").value();
      c.execute("ROLLBACK AND CHAIN").value();
      c.execute("INSERT INTO tx_chain VALUES (2)").value();
      EXPECT_THROW(tx.commit(), postgres_error) << "as after ROLLBACK; BEGIN: not the guard's transaction";
    }
    EXPECT_EQ(c.transaction(), transaction_state::in_transaction) << "the user's chained transaction is theirs";
    c.execute("ROLLBACK").value();
  }
  {
    connection c = open_test_connection();
    {
      transaction outer(c);
      {
        transaction inner(c);
        c.execute("rollback   and\n chain").value();
      }  // inner: its savepoint went with the chain; nothing to roll back
      EXPECT_FALSE(c.broken()) << "a healthy session stays usable";
    }
    EXPECT_FALSE(c.broken());
    c.execute("ROLLBACK").value();
    EXPECT_TRUE(c.ping(5s));
  }
  {
    connection c = open_test_connection();
    ::testing::internal::CaptureStderr();
    {
      transaction tx(c);
      c.execute("INSERT INTO tx_chain VALUES (3)").value();
      c.execute("BEGIN").value();  // a no-op: WARNING 25001
      c.execute("INSERT INTO tx_chain VALUES (4); START TRANSACTION").value();
      EXPECT_NO_THROW(tx.commit());
    }
    const std::string warned = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(warned.find("already a transaction in progress"), std::string::npos) << warned;
    EXPECT_EQ(c.transaction(), transaction_state::idle);
  }
  connection other = open_test_connection();
  EXPECT_EQ(count(other, "tx_chain"), 2) << "rows 3 and 4, committed by the guard; 1 and 2 rolled back";
}

// A ROLLBACK tag (which ROLLBACK TO SAVEPOINT shares) moved the transaction
// epoch whenever the words AND CHAIN stood anywhere in the text, in a string
// constant, a quoted identifier, a dollar quote or a comment too: the guard
// then took its own transaction for the user's and refused to commit it.
// The text is now read as the server reads it; a real chain is still seen,
// COMMIT and END AND CHAIN of a failed transaction (tagged ROLLBACK) included.
TEST(PostgresTransaction, AndChainOutsideAStatementsOwnWordsIsNoChainBug) {
  for (const char* sql :
       {"ROLLBACK TO SAVEPOINT s; SELECT 'x AND CHAIN'", "ROLLBACK TO s /* and chain */", "ROLLBACK TO s -- AND CHAIN",
        "ROLLBACK TO s; SELECT 1 AS \"and chain\"", "ROLLBACK TO s; SELECT $$ AND CHAIN $$",
        "ROLLBACK TO s; SELECT E'\\' AND CHAIN'"}) {
    SCOPED_TRACE(sql);
    connection c = open_test_connection();
    {
      transaction tx(c);
      c.execute("SAVEPOINT s").value();
      c.execute(sql).value();
      EXPECT_NO_THROW(tx.commit()) << "the guard's own transaction, rolled back to a savepoint only";
    }
    EXPECT_EQ(c.transaction(), transaction_state::idle);
    EXPECT_FALSE(c.broken());
  }
  for (const char* sql : {"ROLLBACK AND CHAIN", "abort work and chain", "COMMIT AND CHAIN",
                          "END TRANSACTION AND CHAIN; SELECT 'AND NO CHAIN'"}) {
    SCOPED_TRACE(sql);
    connection c = open_test_connection();
    {
      transaction tx(c);
      EXPECT_FALSE(c.execute("SELECT 1/0")) << "a failed transaction: its COMMIT is tagged ROLLBACK";
      c.execute(sql).value();
      EXPECT_EQ(c.transaction(), transaction_state::in_transaction) << "chained";
      EXPECT_THROW(tx.commit(), postgres_error) << "the chained transaction is the user's";
    }
    EXPECT_EQ(c.transaction(), transaction_state::in_transaction) << "the guard left the user's transaction alone";
    c.execute("ROLLBACK").value();
  }
}

TEST(PostgresTransaction, RollbackThatFailsMarksTheConnectionBroken) {
  connection c = open_test_connection();
  const auto pid = c.execute("SELECT pg_backend_pid()").value().get<std::int64_t>(0, 0);
  {
    transaction tx(c);
    shared_pg_server().admin_execute("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  }  // ROLLBACK fails: no throw from the destructor
  EXPECT_TRUE(c.broken());
  EXPECT_THROW(transaction{c}, postgres_error) << "no guard on a broken connection";
}

// ---- execute_for -----------------------------------------------------------

TEST(PostgresExecuteFor, OverrunIsCancelledAndTheConnectionStaysUsable) {
  connection c = open_test_connection();
  const auto t0 = steady::now();
  auto r = c.execute_for(100ms, "SELECT pg_sleep(5)");
  const auto took = steady::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sqlstate(), "57014") << r.error().message;
  EXPECT_TRUE(is_canceled(r.error().code));
  EXPECT_NE(r.error().message.find("timed out after 100 ms"), std::string::npos) << r.error().message;
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 600ms) << "bounded by the timeout plus the cancel round trip";
  EXPECT_FALSE(c.broken());
  EXPECT_EQ(c.execute("SELECT 1").value().get<std::int32_t>(0, 0), 1);
}

// A statement that finishes on its own just as execute_for's deadline
// passes: the cancel request, which goes out from a helper thread, must not
// land on the session's next statement instead. Before the fix the call
// returned without waiting for the helper, and the next statement could
// fail with 57014. Pass: over 60 tries with the deadline at the statement's
// own length, the statement that follows on the same session never fails
// with 57014 (a session the request might still reach is marked broken,
// and replaced here).
TEST(PostgresExecuteFor, ALateCancelNeverCancelsTheNextStatementBug) {
  connection c = open_test_connection();
  int next_cancelled = 0, timed_out = 0;
  for (int k = 0; k < 60; ++k) {
    if (c.broken()) c = open_test_connection();
    if (!c.execute_for(20ms, "SELECT pg_sleep(0.02)")) ++timed_out;
    if (c.broken()) continue;
    auto next = c.execute("SELECT pg_sleep(0.01)");  // long enough for a late request to land in it
    if (!next && is_canceled(next.error().code)) ++next_cancelled;
  }
  EXPECT_EQ(next_cancelled, 0) << timed_out << " of 60 timed out";
}

TEST(PostgresExecuteFor, PreparedOverrunInsideATransactionFailsItOnly) {
  fresh_table("tx_execfor");
  connection c = open_test_connection();
  {
    transaction tx(c);
    c.execute("INSERT INTO tx_execfor VALUES (1)").value();
    auto r = c.execute_for(100ms, "SELECT pg_sleep($1)", 5.0);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is_canceled(r.error().code)) << r.error().message;
    EXPECT_EQ(c.transaction(), transaction_state::in_error);
  }
  EXPECT_FALSE(c.broken());
  EXPECT_EQ(count(c, "tx_execfor"), 0);
  auto ok = c.execute_for(2s, "SELECT $1::int8 + 1", 41);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->get<std::int64_t>(0, 0), 42);
  auto bad = c.execute_for(0ms, "SELECT 1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().sqlstate(), "22023");
}

TEST(PostgresExecuteFor, ServerSideStatementTimeoutOptionCancelsToo) {
  options o;
  o.conninfo = shared_pg_server().conninfo();
  o.statement_timeout = 150ms;
  adapter a{o};
  connection c = a.connect().value();
  const auto t0 = steady::now();
  auto r = c.execute("SELECT pg_sleep(5)");
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_canceled(r.error().code)) << r.error().message;
  EXPECT_LT(steady::now() - t0, 2s);
  EXPECT_FALSE(c.broken());
  EXPECT_TRUE(a.validate(c, 1s));
}

// ---- the pool --------------------------------------------------------------

TEST(PostgresAdapter, NeedsResetSeesOpenAndFailedTransactionsWithoutIO) {
  options o;
  o.conninfo = shared_pg_server().conninfo();
  adapter a{o};
  connection c = a.connect().value();
  EXPECT_FALSE(a.needs_reset(c));
  c.execute("BEGIN").value();
  EXPECT_TRUE(a.needs_reset(c));
  EXPECT_FALSE(c.execute("SELECT 1/0"));
  EXPECT_TRUE(a.needs_reset(c)) << "failed transaction";
  c.execute("ROLLBACK").value();
  EXPECT_FALSE(a.needs_reset(c));
  c.close();
  EXPECT_TRUE(a.needs_reset(c)) << "closed";
}

TEST(PostgresPool, LeaseReleasedWithItsGuardOpenIsRolledBackBeforeReuse) {
  fresh_table("tx_pool");
  pool_options po;
  po.name = "pg-guard-release";
  po.max_size = 1;
  po.min_idle = 1;
  options o;
  o.conninfo = shared_pg_server().conninfo();
  berth::pool<adapter> p{adapter{o}, po};
  {
    auto first = p.acquire_for(5s).value();
    std::optional<transaction> stale;  // optional only to end it at a chosen point below
    stale.emplace(*first);
    first->execute("INSERT INTO tx_pool VALUES (1)").value();
    first.release();  // a normal release (no exception in flight), guard still open

    // The one connection again, while the stale guard still exists: the
    // release must have rolled back already (the guard has not run yet).
    auto next = p.acquire_for(5s).value();
    EXPECT_EQ(next->transaction(), transaction_state::idle);
    EXPECT_EQ(next->transaction_depth(), 0);
    EXPECT_EQ(count(*next, "tx_pool"), 0) << "the uncommitted insert was rolled back at release";
    // A new outermost guard on the reused connection, then the stale guard
    // ends (same thread: the documented safe case). It must find its
    // transaction gone and leave the new one alone.
    transaction fresh(*next);
    next->execute("INSERT INTO tx_pool VALUES (2)").value();
    stale.reset();
    EXPECT_TRUE(fresh.active());
    EXPECT_EQ(next->transaction(), transaction_state::in_transaction) << "the stale guard sent nothing";
    EXPECT_EQ(next->transaction_depth(), 1);
    fresh.commit();
  }
  auto l = p.acquire_for(5s).value();
  EXPECT_EQ(count(*l, "tx_pool"), 1) << "only the second transaction's insert";
  EXPECT_EQ(p.stats().created, 1u) << "reset kept the connection";
}

// A guard on a closed (here default-constructed) connection throws 08003,
// a connection_lost_error, without touching anything.
TEST(PostgresTransaction, GuardOnAClosedConnectionThrows08003) {
  connection closed;
  EXPECT_FALSE(closed.is_open());
  try {
    transaction tx(closed);
    FAIL() << "no exception";
  } catch (const postgres_error& e) {
    EXPECT_EQ(e.sqlstate(), "08003");
    EXPECT_NE(std::string(e.what()).find("the connection is closed"), std::string::npos) << e.what();
    EXPECT_NE(dynamic_cast<const connection_lost_error*>(&e), nullptr) << "08 is connection_lost";
  }
}

}  // namespace
}  // namespace berth::postgres
