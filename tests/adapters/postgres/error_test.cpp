// error_test.cpp: SQLSTATE packing, classification, password redaction.
#include <berth/postgres/error.hpp>

#include <gtest/gtest.h>

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

TEST(PostgresError, ExceptionCarriesSqlstateAndMessage) {
  const error e{make_sqlstate_error("23505"), "duplicate key"};
  const postgres_error x(e);
  EXPECT_EQ(x.sqlstate(), "23505");
  EXPECT_EQ(x.server_message(), "duplicate key");
  EXPECT_EQ(x.code(), db_errc::constraint_violation);
}

}  // namespace
}  // namespace berth::postgres
