// error_test.cpp: SQLSTATE packing, classification, password redaction.
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/connection.hpp>
#include <berth/postgres/error.hpp>
#include <berth/result.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace berth::postgres {
namespace {

TEST(PostgresError, SqlstateRoundTripsThroughTheCode) {
  for (const char* s : {"00000", "23505", "40P01", "57P03", "08006", "XX000", "ZZZZZ"}) {
    const std::error_code ec = make_sqlstate_error(s);
    EXPECT_EQ(decode_sqlstate(ec.value()), s);
    EXPECT_EQ(&ec.category(), &error_category());
  }
  EXPECT_EQ(encode_sqlstate("2350"), 0);
  EXPECT_EQ(encode_sqlstate("2350a"), 0);
  EXPECT_EQ(std::string(error_category().name()), "postgres");
  EXPECT_EQ(make_sqlstate_error("23505").message(), "SQLSTATE 23505 unique_violation");
  EXPECT_FALSE(make_sqlstate_error("00000")) << "successful_completion is no error";
}

TEST(PostgresError, Classification) {
  EXPECT_EQ(make_sqlstate_error("40001"), db_errc::retryable);
  EXPECT_EQ(make_sqlstate_error("40P01"), db_errc::retryable);
  EXPECT_NE(make_sqlstate_error("23505"), db_errc::retryable);
  for (const char* s : {"08000", "08006", "57P01", "57P02", "57P03"})
    EXPECT_TRUE(is_connection_lost(make_sqlstate_error(s))) << s;
  EXPECT_FALSE(is_connection_lost(make_sqlstate_error("57014")));
  EXPECT_TRUE(is_constraint_violation(make_sqlstate_error("23505")));
  EXPECT_EQ(make_sqlstate_error("23503"), db_errc::constraint_violation);
  EXPECT_TRUE(is_canceled(make_sqlstate_error("57014")));
  EXPECT_FALSE(is_retryable(std::make_error_code(std::errc::timed_out))) << "other categories never match";
}

TEST(PostgresError, RedactsPasswords) {
  EXPECT_EQ(redact_password("host=h password=s3cret user=u"), "host=h password=*** user=u");
  EXPECT_EQ(redact_password("PASSWORD = 'a b\\' c' dbname=d"), "PASSWORD = *** dbname=d");
  EXPECT_EQ(redact_password("postgresql://me:s3cret@h:5432/db"), "postgresql://me:***@h:5432/db");
  EXPECT_EQ(redact_password("postgresql://me@h:5432/db?password=s3cret&x=1"),
            "postgresql://me@h:5432/db?password=***&x=1");
  EXPECT_EQ(redact_password("password authentication failed"), "password authentication failed");
}

// libpq echoes the token of a conninfo it cannot parse, cut where
// redact_password() cannot see a password: each of these leaked it.
TEST(PostgresError, UnparsableConninfoNeverEchoesItsPasswordBug) {
  for (const char* ci : {"postgresql://app:Zx9?Secret@[::1/db", "postgresql://app:Zx9 Secret@[::1/db",
                         "postgresql://app:Zx9#Secret@[::1/db", "postgresql://app:Zx9%zzSecret@127.0.0.1/db",
                         "postgresql://app@127.0.0.1/db?password=Zx9%00Secret", "host=127.0.0.1 password=Zx9 Secret",
                         "host=127.0.0.1 password='Zx9 Secret", "postgresql://app:Zx9\"Secret@[::1/db"}) {
    const auto e = validate(options{.conninfo = ci});
    ASSERT_TRUE(e) << ci;
    EXPECT_EQ(e->field(), "conninfo");
    const std::string m = e->what();
    EXPECT_EQ(m.find("Secret"), std::string::npos) << ci << " -> " << m;
    EXPECT_EQ(m.find("Zx9"), std::string::npos) << ci << " -> " << m;
    const auto c = connection::open(ci, std::chrono::seconds(1));
    ASSERT_FALSE(c) << ci;
    EXPECT_EQ(c.error().message.find("Secret"), std::string::npos) << ci << " -> " << c.error().message;
  }
  // Without a password the message stays whole.
  EXPECT_EQ(redact_conninfo_message("missing \"=\" after \"junk\"", "host=h junk"), "missing \"=\" after \"junk\"");
  EXPECT_EQ(redact_conninfo_message("missing \"=\" after \"Sec\"", "host=h password=x Sec"),
            "missing \"=\" after \"***\"");
}

// A URI whose password holds an unencoded '/' or '@' parses, but libpq then
// reads the password's pieces as a port or a host and quotes them in its
// connect error, which also becomes the pool's creation_failed event and
// last_creation_message (review: "invalid integer value "Sec" for
// connection option "port""). Connect-time messages blank every piece of
// the password; quoted user and database names stay readable.
TEST(PostgresError, AConnectErrorNeverShowsPiecesOfAMisreadPasswordBug) {
  for (const char* ci : {"postgresql://app:Sec/retPw9@127.0.0.1:1/app", "postgresql://app:Sec@ret7Pw@127.0.0.1:1/app"}) {
    ASSERT_FALSE(validate(options{.conninfo = ci})) << ci << ": libpq parses it";
    const auto c = connection::open(ci, std::chrono::seconds(2));
    ASSERT_FALSE(c) << ci;
    const std::string& m = c.error().message;
    for (const char* piece : {"Sec", "retPw9", "ret7Pw"}) EXPECT_EQ(m.find(piece), std::string::npos) << ci << " -> " << m;
  }
  EXPECT_EQ(redact_conninfo_message("password authentication failed for user \"app\"",
                                    "postgresql://app:Sec/ret@h/db", false),
            "password authentication failed for user \"app\"")
      << "names stay readable";
}

// 08P01 is also the server's plain ERROR for a malformed call (a Bind with
// the wrong number of parameters); the session goes on.
TEST(PostgresError, ProtocolViolationAloneIsNotConnectionLostBug) {
  EXPECT_FALSE(is_connection_lost(make_sqlstate_error("08P01")));
  EXPECT_TRUE(is_connection_lost(make_sqlstate_error("08003")));
}

TEST(PostgresError, ExceptionCarriesSqlstateAndMessage) {
  const error e{make_sqlstate_error("23505"), "duplicate key"};
  const postgres_error x(e);
  EXPECT_EQ(x.sqlstate(), "23505");
  EXPECT_EQ(x.server_message(), "duplicate key");
  EXPECT_EQ(x.code(), db_errc::constraint_violation);
}

// Issue 8: SQLSTATEs compare equal to the same conditions as SQLite's codes.
TEST(PostgresError, SqlstatesMapOntoTheEngineNeutralConditions) {
  EXPECT_EQ(make_sqlstate_error("23505"), berth::db_errc::constraint_violation);
  EXPECT_EQ(make_sqlstate_error("40001"), berth::db_errc::retryable);
  EXPECT_EQ(make_sqlstate_error("40P01"), berth::db_errc::retryable);
  EXPECT_EQ(make_sqlstate_error("57014"), berth::db_errc::timeout);
  EXPECT_EQ(make_sqlstate_error("08006"), berth::db_errc::connection_lost);
  EXPECT_EQ(make_sqlstate_error("57P01"), berth::db_errc::connection_lost);
  EXPECT_EQ(make_sqlstate_error("53300"), berth::db_errc::resource_exhausted);
  EXPECT_EQ(make_sqlstate_error("53100"), berth::db_errc::resource_exhausted);
  EXPECT_NE(make_sqlstate_error("54000"), berth::db_errc::resource_exhausted);
  EXPECT_NE(make_sqlstate_error("42601"), berth::db_errc::retryable);
  EXPECT_NE(make_sqlstate_error("57014"), berth::db_errc::connection_lost);
  EXPECT_NE(make_sqlstate_error("23505"), berth::db_errc::retryable);
}

/// result<int, error>::value() on e; returns true when Caught catches it.
template <class Caught>
bool value_throws_as(const char* sqlstate) {
  result<int, error> r = failure(error{make_sqlstate_error(sqlstate), "server says no"});
  try {
    (void)r.value();
  } catch (const Caught&) {
    return true;
  } catch (...) {
  }
  return false;
}

TEST(PostgresError, ValueThrowsTheBerthClassOfTheSqlstate) {
  EXPECT_TRUE(value_throws_as<berth::retryable_error>("40001"));
  EXPECT_TRUE(value_throws_as<berth::retryable_error>("40P01"));
  EXPECT_TRUE(value_throws_as<berth::constraint_error>("23505"));
  EXPECT_TRUE(value_throws_as<berth::timeout_error>("57014"));
  EXPECT_TRUE(value_throws_as<berth::connection_lost_error>("08006"));
  EXPECT_FALSE(value_throws_as<berth::retryable_error>("23505"));
  EXPECT_FALSE(value_throws_as<berth::connection_lost_error>("42601"));
  for (const char* s : {"40001", "23505", "57014", "08006", "42601"}) {
    EXPECT_TRUE(value_throws_as<postgres_error>(s)) << s;
    EXPECT_TRUE(value_throws_as<berth::db_error>(s)) << s;
  }
  try {
    const result<void, error> r = failure(error{make_sqlstate_error("40001"), "could not serialize access"});
    r.value();
  } catch (const berth::retryable_error& e) {
    const auto* pg = dynamic_cast<const postgres_error*>(&e);
    ASSERT_NE(pg, nullptr);
    EXPECT_EQ(pg->sqlstate(), "40001");
    EXPECT_EQ(pg->server_message(), "could not serialize access");
    EXPECT_EQ(std::string(e.what()), "could not serialize access: SQLSTATE 40001 serialization_failure");
  }
}

}  // namespace
}  // namespace berth::postgres
