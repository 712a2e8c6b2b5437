// pg_server_test.cpp: the test server itself: password logins over TCP,
// superuser administration over the socket, restart.
#include "support/pg_server.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <string>

namespace berth::testing {
namespace {

bool can_login(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  const bool ok = PQstatus(c) == CONNECTION_OK;
  PQfinish(c);
  return ok;
}

TEST(PgServer, AcceptsThePasswordOverTcpAndRejectsAWrongOne) {
  pg_server& pg = shared_pg_server();
  EXPECT_NE(pg.port(), 0);
  EXPECT_TRUE(can_login(pg.conninfo()));
  EXPECT_FALSE(can_login(pg.conninfo_with_password("wrong")));
}

TEST(PgServer, AdministersOverTheSocketAndRestarts) {
  pg_server& pg = shared_pg_server();
  EXPECT_EQ(pg.admin_execute("SELECT current_setting('fsync')"), "off");
  EXPECT_EQ(pg.admin_execute("SELECT current_setting('listen_addresses')"), "127.0.0.1");
  pg.restart();
  EXPECT_TRUE(can_login(pg.conninfo()));
}

}  // namespace
}  // namespace berth::testing
