// pgbouncer_test.cpp: the test PgBouncer itself (support/pgbouncer.hpp):
// password logins through it reach the server, it pools in transaction
// mode (or as pgbouncer_settings says), and stop() takes it down. Skipped
// when pgbouncer is not installed. The adapter through it:
// behind_pgbouncer_test.cpp.
#include "support/pgbouncer.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace berth::testing {
namespace {

bool can_select1(const std::string& conninfo) {
  PGconn* c = PQconnectdb((conninfo + " connect_timeout=10").c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c, "SELECT 1");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
  }
  PQfinish(c);
  return ok;
}

/// The value of key in PgBouncer's SHOW CONFIG, or "" (with a test failure).
std::string show_config(const pgbouncer& b, const std::string& key) {
  PGconn* c = PQconnectdb((b.console_conninfo() + " connect_timeout=10").c_str());
  std::string value;
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << "console login: " << PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, "SHOW CONFIG");
    const int k = PQfnumber(r, "key"), v = PQfnumber(r, "value");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || k < 0 || v < 0) {
      ADD_FAILURE() << "SHOW CONFIG: " << PQerrorMessage(c);
    } else {
      for (int row = 0; row < PQntuples(r); ++row)
        if (key == PQgetvalue(r, row, k)) value = PQgetvalue(r, row, v);
    }
    PQclear(r);
  }
  PQfinish(c);
  return value;
}

TEST(PgBouncer, ForwardsPasswordLoginsInTransactionModeUntilStopped) {
  if (!pgbouncer::available()) GTEST_SKIP() << pgbouncer::binary << " is not installed (Debian package pgbouncer)";
  pg_server& pg = shared_pg_server();
  pgbouncer b = pgbouncer::start(pg);
  EXPECT_NE(b.port(), 0);
  EXPECT_NE(b.port(), pg.port());
  EXPECT_TRUE(can_select1(b.conninfo()));
  EXPECT_FALSE(can_select1("host=" + b.host() + " port=" + std::to_string(b.port()) + " dbname=" + b.dbname() +
                           " user=" + b.user() + " password=wrong"));
  EXPECT_EQ(show_config(b, "pool_mode"), "transaction");

  const std::string conninfo = b.conninfo();
  b.stop();
  EXPECT_FALSE(can_select1(conninfo));
  EXPECT_TRUE(can_select1(pg.conninfo()));  // the server itself is untouched
}

TEST(PgBouncer, AppliesItsSettings) {
  if (!pgbouncer::available()) GTEST_SKIP() << pgbouncer::binary << " is not installed (Debian package pgbouncer)";
  pgbouncer b = pgbouncer::start(shared_pg_server(), {.pool_mode = pgbouncer_settings::mode::session,
                                                      .default_pool_size = 3,
                                                      .query_wait_timeout = std::chrono::seconds{7}});
  EXPECT_EQ(show_config(b, "pool_mode"), "session");
  EXPECT_EQ(show_config(b, "default_pool_size"), "3");
  EXPECT_EQ(show_config(b, "query_wait_timeout"), "7");
  EXPECT_EQ(b.settings().default_pool_size, 3);
  EXPECT_THROW(pgbouncer::start(shared_pg_server(), {.default_pool_size = 0}), std::runtime_error);
}

}  // namespace
}  // namespace berth::testing
