// topology_test.cpp: role awareness and target_session_attrs against a real
// primary and streaming standby (support/pg_pair.hpp): each connection knows
// its server's role, and libpq's own target_session_attrs picks the server
// through the adapter's non-blocking connect, with multi-host conninfos.
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/connection.hpp>

#include "support/pg_pair.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::pg_pair;
using berth::testing::pg_server;
using berth::testing::shared_pg_pair;

std::string port_of(const pg_server& s) { return std::to_string(s.port()); }

TEST(PostgresTopology, EachConnectionKnowsItsServersRole) {
  pg_pair& pair = shared_pg_pair();
  auto p = connection::open(pair.primary().conninfo(), 5s).value();
  auto s = connection::open(pair.standby().conninfo(), 5s).value();
  EXPECT_EQ(p.role(), server_role::primary);
  EXPECT_EQ(s.role(), server_role::standby);
  EXPECT_FALSE(p.read_only_by_default());
  EXPECT_EQ(p.port(), port_of(pair.primary()));
  EXPECT_EQ(s.host(), "127.0.0.1");
  // Asking agrees with what the server reports (in_hot_standby, 14+).
  EXPECT_EQ(p.refresh_role(5s).value(), server_role::primary);
  EXPECT_EQ(s.refresh_role(5s).value(), server_role::standby);
  // The router's lag helper: nothing on a primary; on a standby, the age of
  // the last replayed commit.
  EXPECT_EQ(p.last_replay_age(5s).value(), std::nullopt);
  p.execute("CREATE TABLE IF NOT EXISTS topology_rows (v int); INSERT INTO topology_rows VALUES (1)").value();
  pair.wait_for_replay();
  const auto age = s.last_replay_age(5s).value();
  ASSERT_TRUE(age.has_value());
  EXPECT_GE(*age, 0us);
  EXPECT_LT(*age, 60s);
  EXPECT_FALSE(p.superseded()) << "connection::open does no failover tracking";
}

// libpq's target_session_attrs through connection::open_with_target (the
// adapter's connect: PQconnectStartParams + PQconnectPoll, non-blocking),
// the target given as the adapter option; with a multi-host conninfo libpq
// tries the hosts in order and keeps the first that satisfies it.
TEST(PostgresTopology, TheTargetPicksTheServerWhicheverOrderTheyAreListedIn) {
  pg_pair& pair = shared_pg_pair();
  const pg_server* primary = &pair.primary();
  const pg_server* standby = &pair.standby();
  struct row {
    session_target target;
    const pg_server* expected_first_primary;  // listed "primary,standby"
    const pg_server* expected_first_standby;  // listed "standby,primary"
  };
  const row rows[] = {
      {session_target::any, primary, standby},
      {session_target::read_write, primary, primary},
      {session_target::primary, primary, primary},
      {session_target::read_only, standby, standby},
      {session_target::standby, standby, standby},
      {session_target::prefer_standby, standby, standby},
  };
  for (const auto& r : rows) {
    for (const bool primary_first : {true, false}) {
      options o;
      o.conninfo = primary_first ? pair.conninfo({primary, standby}) : pair.conninfo({standby, primary});
      o.connect_timeout = 5s;
      o.target_session_attrs = r.target;
      adapter a{o};
      auto c = a.connect();
      ASSERT_TRUE(c) << to_string(r.target) << ": " << c.error().message;
      const pg_server* expected = primary_first ? r.expected_first_primary : r.expected_first_standby;
      EXPECT_EQ(c->port(), port_of(*expected)) << to_string(r.target) << (primary_first ? " primary first" : " standby first");
      EXPECT_EQ(c->role(), expected == primary ? server_role::primary : server_role::standby) << to_string(r.target);
      EXPECT_FALSE(c->superseded());
      EXPECT_TRUE(a.validate(*c, 5s)) << to_string(r.target);
    }
  }
}

TEST(PostgresTopology, ReadWriteInTheConninfoFindsThePrimaryListedSecond) {
  pg_pair& pair = shared_pg_pair();
  const std::string ci = pair.conninfo({&pair.standby(), &pair.primary()}, "target_session_attrs=read-write");
  auto c = connection::open(ci, 5s);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->port(), port_of(pair.primary()));
  EXPECT_EQ(c->role(), server_role::primary);
  options o;
  o.conninfo = ci;
  EXPECT_EQ(adapter{o}.target(), session_target::read_write) << "the adapter reads the conninfo's target";
  EXPECT_TRUE(c->execute("CREATE TABLE IF NOT EXISTS topology_writes (v int)"));
}

TEST(PostgresTopology, ATargetNoListedServerSatisfiesFailsTheConnectClearly) {
  pg_pair& pair = shared_pg_pair();
  options o;
  o.conninfo = pair.primary().conninfo();
  o.connect_timeout = 5s;
  o.target_session_attrs = session_target::standby;
  auto c = adapter{o}.connect();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, make_sqlstate_error("08001"));
  EXPECT_NE(c.error().message.find("hot standby"), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().message.find(pair.primary().password()), std::string::npos) << c.error().message;
  // prefer-standby settles for the primary.
  o.target_session_attrs = session_target::prefer_standby;
  auto p = adapter{o}.connect();
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->role(), server_role::primary);
}

}  // namespace
}  // namespace berth::postgres
