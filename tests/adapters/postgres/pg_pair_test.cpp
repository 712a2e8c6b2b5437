// pg_pair_test.cpp: the primary/standby rig itself (support/pg_pair.hpp):
// the standby streams the primary's writes and refuses its own, and a
// promoted standby accepts writes.
#include "support/pg_pair.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace berth::testing {
namespace {

/// SQLSTATE of sql run over TCP with the test login ("" on success).
std::string sqlstate_of(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb((conninfo + " connect_timeout=10").c_str());
  std::string state = "08001";
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    state = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? "" : PQresultErrorField(r, PG_DIAG_SQLSTATE);
    PQclear(r);
  }
  PQfinish(c);
  return state;
}

TEST(PgPair, TheStandbyReplaysThePrimarysWritesAndRefusesItsOwn) {
  pg_pair& pair = shared_pg_pair();
  EXPECT_NE(pair.primary().port(), pair.standby().port());
  EXPECT_FALSE(pair.primary().in_recovery());
  EXPECT_TRUE(pair.standby().in_recovery());
  EXPECT_EQ(pair.primary().admin_execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"), "1");

  pair.primary().admin_execute("CREATE TABLE IF NOT EXISTS rig_rows (v int); INSERT INTO rig_rows VALUES (7)",
                               pair.primary().dbname());
  pair.wait_for_replay();
  EXPECT_EQ(pair.standby().admin_execute("SELECT sum(v) FROM rig_rows", pair.standby().dbname()), "7");
  // The test login works on both; the standby refuses writes (25006).
  EXPECT_EQ(sqlstate_of(pair.standby().conninfo(), "CREATE TABLE IF NOT EXISTS rig_own (v int)"), "25006");
  EXPECT_EQ(sqlstate_of(pair.primary().conninfo(), "CREATE TABLE IF NOT EXISTS rig_own (v int)"), "");
}

TEST(PgPair, StartStopAndPromoteOnAPairOfItsOwn) {
  const auto t0 = std::chrono::steady_clock::now();
  pg_pair pair = pg_pair::start();
  const auto t1 = std::chrono::steady_clock::now();
  pair.primary().stop_keeping_data();
  EXPECT_EQ(sqlstate_of(pair.primary().conninfo(), "SELECT 1"), "08001");
  pair.standby().promote();
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_FALSE(pair.standby().in_recovery());
  EXPECT_EQ(sqlstate_of(pair.standby().conninfo(), "CREATE TABLE after_promotion (v int)"), "");
  pair.primary().start_again();  // the old primary comes back, still a primary (split brain: the test's choice)
  EXPECT_EQ(sqlstate_of(pair.primary().conninfo(), "SELECT 1"), "");
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf("[ info ] pair started in %.0f ms; primary stopped and standby promoted in %.0f ms\n", ms(t1 - t0),
              ms(t2 - t1));
}

}  // namespace
}  // namespace berth::testing
