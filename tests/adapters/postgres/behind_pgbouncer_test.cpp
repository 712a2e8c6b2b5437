// behind_pgbouncer_test.cpp: berth::postgres through a real PgBouncer 1.18 in
// transaction pooling mode (issue 11), with fewer server connections than
// berth's pool has client connections, so clients really share them.
//
// What works there, as tested: parameterized statements with
// options::statements = statement_mode::unnamed from many threads;
// transaction guards with savepoints (a transaction keeps one server session
// until it ends); the adapter's validation (an empty query) and its rollback
// of a connection returned mid-transaction, which frees the server
// connection at once; execute_for()'s cancel, which PgBouncer forwards.
// What does not, shown so the options' refusals have a reason: named
// prepared statements (26000 / 42P05) and session state (SET, session
// advisory locks), which stays on a shared server session for the next
// client to find.
//
// Each test starts its own PgBouncer (tens of milliseconds) in front of the
// binary's shared server, so its server connections start from a known
// state. Skipped when pgbouncer is not installed.
#include <berth/db_error.hpp>
#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/transaction.hpp>

#include "support/failure_log.hpp"
#include "support/pg_server.hpp"
#include "support/pgbouncer.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::pgbouncer;
using berth::testing::pgbouncer_settings;
using berth::testing::shared_pg_server;
using pg_pool = berth::pool<adapter>;

#define BERTH_SKIP_WITHOUT_PGBOUNCER()                                                                   \
  if (!pgbouncer::available())                                                                          \
  GTEST_SKIP() << pgbouncer::binary << " is not installed (Debian package pgbouncer)"

/// A PgBouncer in transaction mode with pool_size server connections;
/// a client waiting 5 s for one is dropped (a held server connection fails
/// the test quickly instead of hanging it).
pgbouncer start_bouncer(int pool_size) {
  return pgbouncer::start(shared_pg_server(),
                          {.pool_mode = pgbouncer_settings::mode::transaction,
                           .default_pool_size = pool_size,
                           .query_wait_timeout = 5s});
}

/// The recommended options behind PgBouncer in transaction mode.
options bouncer_options(const pgbouncer& b) {
  options o;
  o.conninfo = b.conninfo();
  o.connect_timeout = 5s;
  o.statements = statement_mode::unnamed;
  o.pooler = pooler_mode::transaction;
  return o;
}

connection open_through(const pgbouncer& b, statement_mode m) {
  return connection::open(b.conninfo(), 5s, m).value();
}

/// The sum of SHOW POOLS' column for the test database (PgBouncer's admin
/// console), or -1 with a test failure.
int show_pools(const pgbouncer& b, const char* column) {
  PGconn* c = PQconnectdb((b.console_conninfo() + " connect_timeout=10").c_str());
  int sum = -1;
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << "console login: " << PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, "SHOW POOLS");
    const int db = PQfnumber(r, "database"), col = PQfnumber(r, column);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || db < 0 || col < 0) {
      ADD_FAILURE() << "SHOW POOLS (" << column << "): " << PQerrorMessage(c);
    } else {
      sum = 0;
      for (int row = 0; row < PQntuples(r); ++row)
        if (b.dbname() == PQgetvalue(r, row, db)) sum += std::stoi(PQgetvalue(r, row, col));
    }
    PQclear(r);
  }
  PQfinish(c);
  return sum;
}

/// Server connections PgBouncer holds for the test database, in any state.
int server_connections(const pgbouncer& b) {
  int n = 0;
  for (const char* col : {"sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"}) n += show_pools(b, col);
  return n;
}

using berth::testing::failure_log;

std::int64_t count_of(connection& c, const std::string& sql) {
  return c.execute(sql).value().get<std::int64_t>(0, 0);
}

// 16 threads, berth's 8 client connections, PgBouncer's 2 server
// connections: parameterized INSERTs and SELECTs in unnamed mode, every
// acquire validated (a ping through PgBouncer). Exact row counts per thread.
TEST(PostgresBehindPgBouncer, UnnamedStatementsFromManyThreadsThroughTwoServerConnections) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = start_bouncer(2);
  adapter setup{bouncer_options(b)};
  auto admin = setup.connect().value();
  admin
      .execute("DROP TABLE IF EXISTS bouncer_rows; "
               "CREATE TABLE bouncer_rows (thread int8, op int8, note text, PRIMARY KEY (thread, op))")
      .value();

  pool_options po;
  po.name = "pg-bouncer-unnamed";
  po.max_size = 8;
  po.min_idle = 8;
  po.validate_on_acquire = true;
  po.validation_bypass = 0ms;  // every acquire pings through PgBouncer
  pg_pool p{adapter{bouncer_options(b)}, po};

  constexpr int threads = 16, ops = 40;
  failure_log failures;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < ops; ++i) {
        auto l = p.acquire_for(30s);
        if (!l) {
          failures.add("acquire: " + l.error().message());
          continue;
        }
        connection& c = **l;
        const std::string note = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto ins = c.execute("INSERT INTO bouncer_rows VALUES ($1, $2, $3)", t, i, note);
        if (!ins || ins->rows_affected() != 1) {
          failures.add("insert: " + (ins ? std::string(ins->command_tag()) : ins.error().message));
          continue;
        }
        auto sel = c.execute("SELECT note, $2::int8 * 2 FROM bouncer_rows WHERE thread = $1 AND op = $2", t, i);
        if (!sel || sel->rows() != 1 || sel->get<std::string>(0, 0) != note ||
            sel->get<std::int64_t>(0, 1) != 2 * i)
          failures.add("select: " + (sel ? "wrong row for " + note : sel.error().message));
        if (c.prepared_count() != 0) failures.add("a statement was prepared in unnamed mode");
      }
    });
  for (auto& t : ts) t.join();

  EXPECT_EQ(failures.count(), 0) << failures.summary();
  EXPECT_EQ(count_of(admin, "SELECT count(*) FROM bouncer_rows"), threads * ops);
  EXPECT_EQ(count_of(admin, "SELECT count(*) FROM (SELECT thread FROM bouncer_rows GROUP BY thread "
                            "HAVING count(*) = " + std::to_string(ops) + ") per_thread"),
            threads);
  EXPECT_EQ(p.stats().created, 8u);
  EXPECT_EQ(p.stats().destroyed, 0u) << "no connection failed validation or reset";
  EXPECT_EQ(p.stats().validation_failures, 0u);
  EXPECT_GE(show_pools(b, "cl_active"), 9) << "berth's 8 connections and `admin` are PgBouncer clients";
  EXPECT_LE(server_connections(b), 2) << "served by PgBouncer's 2 server connections";
  std::printf("[ info ] %d statements from %d threads over 8 client / %d server connections\n",
              2 * threads * ops, threads, server_connections(b));
}

// A guard's transaction keeps one server session from BEGIN to its end, so
// guards, savepoints and isolation levels work as on a direct connection.
TEST(PostgresBehindPgBouncer, TransactionGuardsAndSavepointsKeepOneServerSession) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = start_bouncer(2);
  adapter setup{bouncer_options(b)};
  auto admin = setup.connect().value();
  admin
      .execute("DROP TABLE IF EXISTS bouncer_tx; "
               "CREATE TABLE bouncer_tx (thread int8, op int8, part text, PRIMARY KEY (thread, op, part))")
      .value();
  pool_options po;
  po.name = "pg-bouncer-tx";
  po.max_size = 6;
  po.min_idle = 6;
  pg_pool p{adapter{bouncer_options(b)}, po};

  constexpr int threads = 8, ops = 25;
  std::atomic<int> committed{0};
  failure_log failures;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < ops; ++i) {
        try {
          p.with([&](connection& c) {
            transaction tx(c, {.isolation = i % 2 == 0 ? isolation_level::read_committed
                                                       : isolation_level::repeatable_read});
            const auto pid = c.execute("SELECT pg_backend_pid()").value().get<std::int32_t>(0, 0);
            c.execute("INSERT INTO bouncer_tx VALUES ($1, $2, 'outer')", t, i).value();
            {
              transaction sp(c);  // not committed: ROLLBACK TO
              c.execute("INSERT INTO bouncer_tx VALUES ($1, $2, 'dropped')", t, i).value();
            }
            {
              transaction sp(c);  // fails: its destructor rolls back to the savepoint
              if (c.execute("SELECT 1 / ($1::int8 - $1::int8)", i)) failures.add("division by zero succeeded");
            }
            {
              transaction sp(c);
              c.execute("INSERT INTO bouncer_tx VALUES ($1, $2, 'inner')", t, i).value();
              sp.commit();  // RELEASE
            }
            if (c.execute("SELECT pg_backend_pid()").value().get<std::int32_t>(0, 0) != pid)
              failures.add("the transaction moved to another server session");
            if (i % 5 == 4) return;  // not committed: the guard rolls back
            tx.commit();
            committed.fetch_add(1);
          });
        } catch (const std::exception& e) {
          failures.add(e.what());
        }
      }
    });
  for (auto& t : ts) t.join();

  EXPECT_EQ(failures.count(), 0) << failures.summary();
  EXPECT_EQ(committed.load(), threads * ops * 4 / 5);
  EXPECT_EQ(count_of(admin, "SELECT count(*) FROM bouncer_tx WHERE part = 'outer'"), committed.load());
  EXPECT_EQ(count_of(admin, "SELECT count(*) FROM bouncer_tx WHERE part = 'inner'"), committed.load());
  EXPECT_EQ(count_of(admin, "SELECT count(*) FROM bouncer_tx WHERE part = 'dropped'"), 0);
  EXPECT_EQ(count_of(admin, "SELECT count(*) FROM bouncer_tx WHERE op % 5 = 4"), 0);
  EXPECT_LE(server_connections(b), 2);
}

// One server connection behind 4 client connections: each lease goes back
// mid-transaction (open, or failed). The adapter's reset rolls it back on
// release, which also hands the server connection back to PgBouncer: were
// it kept, every other client's next statement (the validating ping
// first) would wait for it and be dropped after query_wait_timeout.
TEST(PostgresBehindPgBouncer, ConnectionReturnedMidTransactionIsRolledBackAndFreesItsServerConnection) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = start_bouncer(1);
  adapter setup{bouncer_options(b)};
  {
    auto admin = setup.connect().value();
    admin.execute("DROP TABLE IF EXISTS bouncer_left; CREATE TABLE bouncer_left (thread int8, op int8)").value();
  }
  pool_options po;
  po.name = "pg-bouncer-left-open";
  po.max_size = 4;
  po.min_idle = 4;
  po.validate_on_acquire = true;
  po.validation_bypass = 0ms;
  pg_pool p{adapter{bouncer_options(b)}, po};

  constexpr int threads = 4, ops = 20;
  failure_log failures;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < ops; ++i) {
        auto l = p.acquire_for(30s);
        if (!l) {
          failures.add("acquire: " + l.error().message());
          continue;
        }
        connection& c = **l;
        auto r = c.execute("BEGIN");
        if (r) r = c.execute("INSERT INTO bouncer_left VALUES ($1, $2)", t, i);
        if (!r) failures.add("statement: " + r.error().message);
        if (i % 2 == 1 && c.execute("SELECT 1 / 0")) failures.add("division by zero succeeded");
        const auto expected = i % 2 == 1 ? transaction_state::in_error : transaction_state::in_transaction;
        if (c.transaction() != expected) failures.add("unexpected transaction state");
      }  // the lease goes back mid-transaction
    });
  for (auto& t : ts) t.join();

  EXPECT_EQ(failures.count(), 0) << failures.summary();
  auto l = p.acquire_for(5s).value();
  EXPECT_EQ(count_of(*l, "SELECT count(*) FROM bouncer_left"), 0) << "every transaction was rolled back";
  EXPECT_EQ(p.stats().destroyed, 0u) << "rolled back, not discarded";
  EXPECT_EQ(p.stats().validation_failures, 0u);
  EXPECT_EQ(show_pools(b, "sv_active"), 0) << "no server connection is held by a leftover transaction";
  EXPECT_EQ(show_pools(b, "cl_waiting"), 0);
}

// Why options::statements exists. With one server connection shared by two
// clients, the second client's PREPARE of its first statement (berth_1,
// like everyone's) meets the first client's: 42P05. The same calls in
// unnamed mode work. The adapter refuses named + pooler_mode::transaction.
TEST(PostgresBehindPgBouncer, NamedStatementsCollideOnASharedServerConnection) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = start_bouncer(1);
  connection first = open_through(b, statement_mode::named);
  connection second = open_through(b, statement_mode::named);
  EXPECT_EQ(first.execute("SELECT $1::int8", 1).value().get<std::int64_t>(0, 0), 1)
      << "alone on the server connection, it works by luck";
  auto clash = second.execute("SELECT $1::int8", 2);
  ASSERT_FALSE(clash) << "the second client prepared berth_1 where the first had";
  EXPECT_EQ(clash.error().code, make_sqlstate_error("42P05")) << clash.error().message;
  EXPECT_NE(clash.error().message.find("statement_mode::unnamed"), std::string::npos) << clash.error().message;

  connection third = open_through(b, statement_mode::unnamed);
  connection fourth = open_through(b, statement_mode::unnamed);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(third.execute("SELECT $1::int8", i).value().get<std::int64_t>(0, 0), i);
    EXPECT_EQ(fourth.execute("SELECT $1::int8", i).value().get<std::int64_t>(0, 0), i);
  }

  options named = bouncer_options(b);
  named.statements = statement_mode::named;
  try {
    adapter refused{named};
    ADD_FAILURE() << "named statements with pooler_mode::transaction were accepted";
  } catch (const options_error& e) {
    EXPECT_EQ(e.field(), "statements") << e.what();
  }
}

// The other way named statements fail: the statement was prepared on one
// server connection, and the next call runs on another (PgBouncer hands
// out whichever is free). Here the first one is made busy on purpose.
// Outside a transaction the 26000 of a cached statement has berth prepare
// it again and run the call once more (as after a DISCARD ALL behind the
// cache's back), which here lands on the second server connection: the
// cache heals, but statement_mode::unnamed is still the mode to use here
// (inside a transaction the call would fail, and PREPAREs collide: above).
TEST(PostgresBehindPgBouncer, NamedStatementIsMissingWhenTheNextCallGetsAnotherServerConnection) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = start_bouncer(2);
  ASSERT_EQ(server_connections(b), 1) << "start() logged in once: one server connection, idle";
  connection client = open_through(b, statement_mode::named);
  connection other = open_through(b, statement_mode::unnamed);
  EXPECT_EQ(client.execute("SELECT $1::int8", 1).value().get<std::int64_t>(0, 0), 1);  // prepared there
  other.execute("BEGIN").value();  // holds that server connection until it ends
  auto healed = client.execute("SELECT $1::int8", 2);
  ASSERT_TRUE(healed) << "prepared again on the second server connection: " << healed.error().message;
  EXPECT_EQ(healed->get<std::int64_t>(0, 0), 2);
  EXPECT_EQ(server_connections(b), 2);
  other.execute("ROLLBACK").value();

  connection unnamed = open_through(b, statement_mode::unnamed);
  EXPECT_EQ(unnamed.execute("SELECT $1::int8", 1).value().get<std::int64_t>(0, 0), 1);
  other.execute("BEGIN").value();
  EXPECT_EQ(unnamed.execute("SELECT $1::int8", 2).value().get<std::int64_t>(0, 0), 2);
  other.execute("ROLLBACK").value();
}

// In session mode PgBouncer gives each client one server connection for
// its whole life (pooler_mode::none covers it): named statements work.
TEST(PostgresBehindPgBouncer, NamedStatementsWorkInSessionMode) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = pgbouncer::start(shared_pg_server(),
                                 {.pool_mode = pgbouncer_settings::mode::session, .default_pool_size = 2});
  options o;
  o.conninfo = b.conninfo();
  adapter a{o};
  auto first = a.connect().value();
  auto second = a.connect().value();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(first.execute("SELECT $1::int8", i).value().get<std::int64_t>(0, 0), i);
    EXPECT_EQ(second.execute("SELECT $1::int8", i).value().get<std::int64_t>(0, 0), i);
  }
  EXPECT_EQ(first.prepared_count(), 1u);
}

// Session state lands on a server session other clients share: a SET made
// by one client is what the next client finds, and a session advisory lock
// taken by one client does not exclude another (same server session). This
// is why statement_timeout and reset_query are refused with
// pooler_mode::transaction; SET LOCAL inside a transaction is the
// transaction-scoped way, and it ends with the transaction.
TEST(PostgresBehindPgBouncer, SessionStateIsSharedBetweenClientsButSetLocalIsNot) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = start_bouncer(1);
  connection one = open_through(b, statement_mode::unnamed);
  connection two = open_through(b, statement_mode::unnamed);
  const std::string before = two.execute("SHOW statement_timeout").value().get<std::string>(0, 0);
  one.execute("SET statement_timeout = '1234ms'").value();
  EXPECT_EQ(two.execute("SHOW statement_timeout").value().get<std::string>(0, 0), "1234ms")
      << "another client's SET leaked to this one";
  one.execute("SELECT pg_advisory_lock(4242)").value();
  EXPECT_TRUE(two.execute("SELECT pg_try_advisory_lock(4242)").value().get<bool>(0, 0))
      << "the lock is the shared server session's, not the client's";
  two.execute("SELECT pg_advisory_unlock_all(); RESET statement_timeout").value();

  {
    transaction tx(one);
    one.execute("SET LOCAL statement_timeout = '50ms'").value();
    auto slow = one.execute("SELECT pg_sleep(5)");
    ASSERT_FALSE(slow);
    EXPECT_TRUE(is_canceled(slow.error().code)) << slow.error().message;  // 57014 by statement_timeout
  }  // rolled back: the SET LOCAL ends with it
  EXPECT_EQ(two.execute("SHOW statement_timeout").value().get<std::string>(0, 0), before);

  options leaky = bouncer_options(b);
  leaky.statement_timeout = 5s;
  try {
    adapter refused{leaky};
    ADD_FAILURE() << "statement_timeout with pooler_mode::transaction was accepted";
  } catch (const options_error& e) {
    EXPECT_EQ(e.field(), "statement_timeout") << e.what();
  }
}

// execute_for()'s cancel request reaches the statement's server session
// through PgBouncer, and the adapter's validation pings through it.
TEST(PostgresBehindPgBouncer, ExecuteForCancelsAndValidationPingsThroughPgBouncer) {
  BERTH_SKIP_WITHOUT_PGBOUNCER();
  pgbouncer b = start_bouncer(2);
  adapter a{bouncer_options(b)};
  auto c = a.connect().value();
  EXPECT_TRUE(a.validate(c, 2s));
  const auto t0 = std::chrono::steady_clock::now();
  auto slow = c.execute_for(100ms, "SELECT pg_sleep($1::float8)", 10.0);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(slow);
  EXPECT_TRUE(is_canceled(slow.error().code)) << slow.error().message;
  EXPECT_LT(took, 3s) << "the cancel reached the server session";
  EXPECT_FALSE(c.broken());
  EXPECT_TRUE(a.validate(c, 2s));
  EXPECT_EQ(c.execute("SELECT $1::int8", 7).value().get<std::int64_t>(0, 0), 7);
  EXPECT_EQ(show_pools(b, "sv_active"), 0);
}

}  // namespace
}  // namespace berth::postgres
