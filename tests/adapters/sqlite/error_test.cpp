#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/error.hpp>

#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace berth::sqlite {
namespace {

using testing::temp_dir;

TEST(SqliteErrorCategory, NameAndMessageComeFromSqlite) {
  EXPECT_STREQ(error_category().name(), "sqlite");
  EXPECT_EQ(to_error_code(SQLITE_BUSY).message(), sqlite3_errstr(SQLITE_BUSY));
  EXPECT_EQ(to_error_code(SQLITE_CONSTRAINT_UNIQUE).message(), sqlite3_errstr(SQLITE_CONSTRAINT_UNIQUE));
  EXPECT_STREQ(db_category().name(), "berth.db");
}

TEST(SqliteErrorCategory, ClassifiesExtendedCodesIntoConditions) {
  struct row {
    int code;
    db_errc cond;
  };
  const row equal[] = {
      {SQLITE_BUSY, db_errc::retryable},
      {SQLITE_BUSY_SNAPSHOT, db_errc::retryable},
      {SQLITE_LOCKED_SHAREDCACHE, db_errc::retryable},
      {SQLITE_LOCKED_VTAB, db_errc::retryable},
      {SQLITE_CONSTRAINT_UNIQUE, db_errc::constraint_violation},
      {SQLITE_CONSTRAINT_FOREIGNKEY, db_errc::constraint_violation},
      {SQLITE_CONSTRAINT_NOTNULL, db_errc::constraint_violation},
      {SQLITE_IOERR_READ, db_errc::connection_lost},
      {SQLITE_CORRUPT, db_errc::connection_lost},
      {SQLITE_NOTADB, db_errc::connection_lost},
      {SQLITE_CANTOPEN, db_errc::connection_lost},
      {SQLITE_INTERRUPT, db_errc::timeout},
      {SQLITE_FULL, db_errc::resource_exhausted},
  };
  for (const auto& r : equal) {
    const std::error_code ec = to_error_code(r.code);
    EXPECT_EQ(ec, r.cond) << r.code;
    for (const db_errc other : {db_errc::retryable, db_errc::constraint_violation, db_errc::connection_lost,
                                db_errc::timeout, db_errc::resource_exhausted})
      if (other != r.cond) {
        EXPECT_NE(ec, other) << r.code << " vs " << static_cast<int>(other);
      }
  }
  EXPECT_NE(to_error_code(SQLITE_ERROR), db_errc::retryable);
  // Plain SQLITE_LOCKED (extended codes on): a conflict inside one
  // connection, which running again meets again; no condition.
  for (const db_errc c : {db_errc::retryable, db_errc::constraint_violation, db_errc::connection_lost,
                          db_errc::timeout, db_errc::resource_exhausted})
    EXPECT_NE(to_error_code(SQLITE_LOCKED), c) << static_cast<int>(c);
  EXPECT_NE(to_error_code(SQLITE_MISMATCH), db_errc::constraint_violation);
  EXPECT_TRUE(is_fatal(to_error_code(SQLITE_CORRUPT_INDEX)));
  EXPECT_FALSE(is_fatal(to_error_code(SQLITE_BUSY)));
  // A code of another category never matches.
  EXPECT_NE(std::make_error_code(std::errc::resource_unavailable_try_again), db_errc::retryable);
}

TEST(SqliteError, UniqueViolationIsAConstraintViolationWithTheEngineMessage) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  c.execute("CREATE TABLE users(email TEXT UNIQUE); INSERT INTO users VALUES ('a@x')");
  try {
    c.execute("INSERT INTO users VALUES ('a@x')");
    FAIL() << "no exception";
  } catch (const sqlite_error& e) {
    EXPECT_EQ(e.code(), db_errc::constraint_violation);
    EXPECT_EQ(e.code().value(), SQLITE_CONSTRAINT_UNIQUE) << "extended codes are on";
    EXPECT_EQ(e.code().category(), error_category());
    EXPECT_EQ(e.engine_message(), "UNIQUE constraint failed: users.email");
    EXPECT_EQ(e.sql(), "INSERT INTO users VALUES ('a@x')");
    const std::string what = e.what();
    EXPECT_NE(what.find("UNIQUE constraint failed: users.email"), std::string::npos) << what;
    EXPECT_NE(what.find("INSERT INTO users"), std::string::npos) << what;
    EXPECT_EQ(c.last_error().value(), SQLITE_CONSTRAINT_UNIQUE);
    EXPECT_FALSE(is_fatal(c.last_error()));
  }
}

TEST(SqliteError, LockContentionIsRetryable) {
  temp_dir dir;
  auto a = connection::open(dir.file("t.db"));
  auto b = connection::open(dir.file("t.db"));
  a.execute("CREATE TABLE t(x)");
  sqlite3_busy_timeout(b.native_handle(), 0);
  a.execute("BEGIN IMMEDIATE");
  try {
    b.execute("BEGIN IMMEDIATE");
    FAIL() << "no exception";
  } catch (const sqlite_error& e) {
    EXPECT_EQ(e.code(), db_errc::retryable);
    EXPECT_EQ(e.code().value() & 0xff, SQLITE_BUSY);
    EXPECT_EQ(e.engine_message(), "database is locked");
  }
  a.execute("ROLLBACK");
}

TEST(SqliteError, OpenFailureNamesThePath) {
  temp_dir dir;
  const std::string missing = dir.file("no/such/dir/t.db");
  try {
    (void)connection::open(missing);
    FAIL() << "no exception";
  } catch (const sqlite_error& e) {
    EXPECT_EQ(e.code(), db_errc::connection_lost);  // SQLITE_CANTOPEN
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

TEST(SqliteError, ConvertsToAdapterError) {
  const sqlite_error e(to_error_code(SQLITE_BUSY), "database is locked", "BEGIN IMMEDIATE");
  const adapter_error a = e.to_adapter_error();
  EXPECT_EQ(a.code, db_errc::retryable);
  EXPECT_EQ(a.message, e.what());
}

// Issue 8: the throwing API's exceptions are the engine-neutral classes of
// berth/db_error.hpp too, so one catch serves both engines.
TEST(SqliteError, RealBusyIsCaughtAsBerthRetryableError) {
  temp_dir dir;
  auto a = connection::open(dir.file("t.db"));
  auto b = connection::open(dir.file("t.db"));
  a.execute("CREATE TABLE t(x)");
  sqlite3_busy_timeout(b.native_handle(), 0);
  a.execute("BEGIN IMMEDIATE");
  try {
    b.execute("BEGIN IMMEDIATE");
    FAIL() << "no exception";
  } catch (const berth::retryable_error& e) {
    EXPECT_EQ(e.code().value() & 0xff, SQLITE_BUSY);
    EXPECT_EQ(e.engine_message(), "database is locked");
    EXPECT_EQ(e.sql(), "BEGIN IMMEDIATE");
    EXPECT_NE(dynamic_cast<const sqlite_error*>(&e), nullptr) << "also the engine's error";
    EXPECT_EQ(dynamic_cast<const berth::constraint_error*>(&e), nullptr);
  }
  a.execute("ROLLBACK");
}

TEST(SqliteError, UniqueViolationIsCaughtAsBerthConstraintError) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  c.execute("CREATE TABLE users(email TEXT UNIQUE); INSERT INTO users VALUES ('a@x')");
  try {
    c.execute("INSERT INTO users VALUES ('a@x')");
    FAIL() << "no exception";
  } catch (const berth::retryable_error&) {
    FAIL() << "a constraint violation is not retryable";
  } catch (const berth::constraint_error& e) {
    EXPECT_EQ(e.code().value(), SQLITE_CONSTRAINT_UNIQUE);
    EXPECT_EQ(e.engine_message(), "UNIQUE constraint failed: users.email");
  }
  // The engine-specific catch still works for the same failure.
  EXPECT_THROW(c.execute("INSERT INTO users VALUES ('a@x')"), sqlite_error);
}

TEST(SqliteError, UnclassifiedFailureIsADbErrorOfNoClass) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  try {
    c.execute("SELEC 1");
    FAIL() << "no exception";
  } catch (const berth::db_error& e) {
    EXPECT_NE(dynamic_cast<const sqlite_error*>(&e), nullptr);
    EXPECT_EQ(dynamic_cast<const berth::retryable_error*>(&e), nullptr);
    EXPECT_EQ(dynamic_cast<const berth::constraint_error*>(&e), nullptr);
    EXPECT_EQ(dynamic_cast<const berth::connection_lost_error*>(&e), nullptr);
    EXPECT_EQ(dynamic_cast<const berth::timeout_error*>(&e), nullptr);
  }
}

}  // namespace
}  // namespace berth::sqlite
