#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/statement.hpp>

#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <array>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace berth::sqlite {
namespace {

using testing::temp_dir;

// Every test runs on a connection in SQLite's multi-thread mode (berth's
// own, whose getters read a column through sqlite3_column_value()) and on
// one opened with SQLITE_OPEN_FULLMUTEX through open(path, flags), whose
// getters keep to the sqlite3_column_* readers that take its mutex.
struct StatementTest : ::testing::TestWithParam<int> {
  temp_dir dir;
  connection c = connection::open(dir.file("t.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | GetParam());
  void SetUp() override { c.execute("CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, n)"); }

  /// Runs f and returns the sqlite_error it throws (fails the test if none).
  template <class F>
  sqlite_error thrown(F f) {
    try {
      f();
    } catch (const sqlite_error& e) {
      return e;
    }
    ADD_FAILURE() << "no sqlite_error thrown";
    return sqlite_error(to_error_code(SQLITE_OK), "");
  }
};

TEST_P(StatementTest, BindsAndReadsEveryType) {
  const std::array<std::byte, 3> bytes{std::byte{0}, std::byte{0xff}, std::byte{7}};
  auto& ins = c.prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)");
  ins.bind(1, std::int64_t{-9'000'000'000});
  ins.bind(2, 2.5);
  ins.bind(3, std::string_view("h\xC3\xA9llo"));
  ins.bind(4, std::span<const std::byte>(bytes));
  ins.bind(5, nullptr);
  EXPECT_FALSE(ins.step());
  EXPECT_EQ(c.changes(), 1);
  EXPECT_EQ(c.last_insert_rowid(), 1);

  auto& sel = c.prepare("SELECT i, r, s, b, n AS missing FROM t");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.column_count(), 5);
  EXPECT_EQ(sel.column_name(0), "i");
  EXPECT_EQ(sel.column_name(4), "missing");
  EXPECT_EQ(sel.get<std::int64_t>(0), -9'000'000'000);
  EXPECT_EQ(sel.get<double>(1), 2.5);
  EXPECT_EQ(sel.get<std::string>(2), "h\xC3\xA9llo");
  EXPECT_EQ(sel.get<std::string_view>(2), "h\xC3\xA9llo");
  const auto blob = sel.get<std::vector<std::byte>>(3);
  EXPECT_EQ(blob, std::vector<std::byte>(bytes.begin(), bytes.end()));
  EXPECT_EQ(sel.get<std::span<const std::byte>>(3).size(), 3u);
  EXPECT_TRUE(sel.is_null(4));
  EXPECT_FALSE(sel.is_null(0));
  EXPECT_EQ(sel.get<std::optional<std::int64_t>>(4), std::nullopt);
  EXPECT_EQ(sel.get<std::optional<std::int64_t>>(0), -9'000'000'000);
  EXPECT_FALSE(sel.step());
}

TEST_P(StatementTest, BindsOtherIntegralsEmptyTextAndEmptyBlobAsValuesNotNull) {
  auto& ins = c.prepare("INSERT INTO t(i, s, b) VALUES (?, ?, ?)");
  ins.bind(1, 42);  // int
  ins.bind(2, std::string_view());
  ins.bind(3, std::span<const std::byte>());
  EXPECT_FALSE(ins.step());
  auto& sel = c.prepare("SELECT i, s, b, typeof(s), typeof(b) FROM t");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<std::int64_t>(0), 42);
  EXPECT_EQ(sel.get<std::string>(1), "");
  EXPECT_TRUE(sel.get<std::vector<std::byte>>(2).empty());
  EXPECT_EQ(sel.get<std::string>(3), "text");
  EXPECT_EQ(sel.get<std::string>(4), "blob");
}

TEST_P(StatementTest, UnsignedAboveInt64MaxIsRejectedNotWrapped) {
  auto& ins = c.prepare("INSERT INTO t(i) VALUES (?)");
  const auto e = thrown([&] { ins.bind(1, std::numeric_limits<std::uint64_t>::max()); });
  EXPECT_EQ(e.code().value(), SQLITE_RANGE);
}

// The value's overflow was reported as the index's ("bind index 1 out of
// range: the statement has 1 parameter (valid: 1..1)"), and a null const
// char* was read as a string (a segfault) (review of 957e949).
TEST_P(StatementTest, AnUnsignedTooLargeNamesTheValueAndANullCharPointerIsNullBug) {
  auto& ins = c.prepare("INSERT INTO t(i, s) VALUES (?, ?)");
  const auto e = thrown([&] { ins.bind(1, std::numeric_limits<std::uint64_t>::max()); });
  EXPECT_EQ(e.code().value(), SQLITE_RANGE);
  EXPECT_NE(std::string(e.what()).find("18446744073709551615 is above INT64_MAX"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("out of range: the statement has"), std::string::npos) << e.what();
  const char* none = nullptr;
  ins.bind(1, 7);
  ins.bind(2, none);
  EXPECT_FALSE(ins.step());
  ins.reset();
  auto& sel = c.prepare("SELECT s IS NULL FROM t WHERE i = 7");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<std::int64_t>(0), 1);
  sel.reset();
}

TEST_P(StatementTest, IntegerReadsAsDoubleOnlyWhenExact) {
  auto& sel = c.prepare("SELECT 3, 9007199254740993");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<double>(0), 3.0);
  const auto e = thrown([&] { (void)sel.get<double>(1); });
  EXPECT_EQ(e.code().value(), SQLITE_MISMATCH);
  EXPECT_NE(std::string(e.what()).find("cannot hold exactly"), std::string::npos) << e.what();
}

TEST_P(StatementTest, TypeMismatchIsAClearErrorNotASilentConversion) {
  c.execute("INSERT INTO t(i, s, r, b) VALUES (1, 'abc', 1.5, x'00ff')");
  auto& sel = c.prepare("SELECT i, s AS name, n, r, b FROM t");
  ASSERT_TRUE(sel.step());
  const auto e = thrown([&] { (void)sel.get<std::int64_t>(1); });
  EXPECT_EQ(e.code().value(), SQLITE_MISMATCH);
  const std::string what = e.what();
  EXPECT_NE(what.find("column 1"), std::string::npos) << what;
  EXPECT_NE(what.find("\"name\""), std::string::npos) << what;
  EXPECT_NE(what.find("as INTEGER"), std::string::npos) << what;
  EXPECT_NE(what.find("the value is TEXT"), std::string::npos) << what;
  EXPECT_NE(what.find("SELECT i, s AS name, n, r, b FROM t"), std::string::npos) << what;
  EXPECT_EQ(e.sql(), "SELECT i, s AS name, n, r, b FROM t");

  const auto text_as_int = thrown([&] { (void)sel.get<std::string>(0); });
  EXPECT_NE(std::string(text_as_int.what()).find("as TEXT"), std::string::npos);
  EXPECT_NE(std::string(text_as_int.what()).find("the value is INTEGER"), std::string::npos);

  const auto null_read = thrown([&] { (void)sel.get<std::int64_t>(2); });
  EXPECT_NE(std::string(null_read.what()).find("the value is NULL"), std::string::npos) << null_read.what();
  EXPECT_NE(std::string(null_read.what()).find("is_null()"), std::string::npos) << null_read.what();

  const auto blob_as_text = thrown([&] { (void)sel.get<std::vector<std::byte>>(1); });
  EXPECT_NE(std::string(blob_as_text.what()).find("as BLOB"), std::string::npos) << blob_as_text.what();

  // The stored type is named for REAL and BLOB values too.
  const auto real_as_int = thrown([&] { (void)sel.get<std::int64_t>(3); });
  EXPECT_NE(std::string(real_as_int.what()).find("the value is REAL"), std::string::npos) << real_as_int.what();
  const auto stored_blob = thrown([&] { (void)sel.get<std::string>(4); });
  EXPECT_NE(std::string(stored_blob.what()).find("the value is BLOB"), std::string::npos) << stored_blob.what();
}

TEST_P(StatementTest, ColumnIndexOutOfRangeNamesIndexAndValidRange) {
  auto& sel = c.prepare("SELECT 1, 2");
  ASSERT_TRUE(sel.step());
  for (const int bad : {-1, 2}) {
    const auto e = thrown([&] { (void)sel.get<std::int64_t>(bad); });
    EXPECT_EQ(e.code().value(), SQLITE_RANGE);
    const std::string what = e.what();
    EXPECT_NE(what.find("column index " + std::to_string(bad) + " out of range"), std::string::npos) << what;
    EXPECT_NE(what.find("valid: 0..1"), std::string::npos) << what;
    EXPECT_NE(what.find("SELECT 1, 2"), std::string::npos) << what;
  }
  EXPECT_THROW((void)sel.column_name(5), sqlite_error);
  EXPECT_THROW((void)sel.is_null(5), sqlite_error);

  auto& ins = c.prepare("INSERT INTO t(i) VALUES (1)");
  const auto none = thrown([&] { (void)ins.get<std::int64_t>(0); });
  EXPECT_EQ(none.code().value(), SQLITE_RANGE);
  EXPECT_NE(std::string(none.what()).find("the statement returns no columns"), std::string::npos) << none.what();
}

// Each getter reads through a fast path (a current row and the index in
// range, then one type check) and falls back to the full checks to throw:
// every getter must still give each mistake its own code.
TEST_P(StatementTest, EveryGetterGivesEachMistakeItsCode) {
  c.execute("INSERT INTO t(i, r, s, b) VALUES (1, 1.5, 'abc', x'00ff')");
  auto& sel = c.prepare("SELECT i, r, s, b, n FROM t");  // INTEGER, REAL, TEXT, BLOB, NULL
  struct getter {
    const char* name;
    int stored_at;  // the column holding its type
    std::function<void(statement&, int)> read;
  };
  const std::vector<getter> getters = {
      {"int64", 0, [](statement& s, int col) { (void)s.get<std::int64_t>(col); }},
      {"double", 1, [](statement& s, int col) { (void)s.get<double>(col); }},
      {"string", 2, [](statement& s, int col) { (void)s.get<std::string>(col); }},
      {"string_view", 2, [](statement& s, int col) { (void)s.get<std::string_view>(col); }},
      {"bytes", 3, [](statement& s, int col) { (void)s.get<std::vector<std::byte>>(col); }},
      {"span", 3, [](statement& s, int col) { (void)s.get<std::span<const std::byte>>(col); }},
      {"optional", 0, [](statement& s, int col) { (void)s.get<std::optional<std::int64_t>>(col); }},
      {"is_null", 4, [](statement& s, int col) { (void)s.is_null(col); }},
  };
  for (const getter& g : getters) {
    SCOPED_TRACE(g.name);
    sel.reset();
    EXPECT_EQ(thrown([&] { g.read(sel, g.stored_at); }).code().value(), SQLITE_MISUSE) << "before a step";
    ASSERT_TRUE(sel.step());
    EXPECT_NO_THROW(g.read(sel, g.stored_at));
    for (const int bad : {-1, 5, 1 << 30})
      EXPECT_EQ(thrown([&] { g.read(sel, bad); }).code().value(), SQLITE_RANGE) << bad;
    if (g.stored_at != 4) {  // is_null() reads any type
      const int other = g.stored_at == 2 ? 0 : 2;  // TEXT, or INTEGER for the text getters
      EXPECT_EQ(thrown([&] { g.read(sel, other); }).code().value(), SQLITE_MISMATCH);
      if (std::string_view(g.name) == "optional")
        EXPECT_NO_THROW(g.read(sel, 4)) << "NULL";
      else
        EXPECT_EQ(thrown([&] { g.read(sel, 4); }).code().value(), SQLITE_MISMATCH) << "NULL";
    }
    ASSERT_FALSE(sel.step());
    EXPECT_EQ(thrown([&] { g.read(sel, g.stored_at); }).code().value(), SQLITE_MISUSE) << "after the last row";
  }
}

// The getters ask SQLite for the column count on each read rather than keep
// it: a schema change re-prepares a statement at its next step, and SELECT *
// then has another count.
TEST_P(StatementTest, AColumnAddedUnderACachedSelectStarIsRead) {
  c.execute("INSERT INTO t(i) VALUES (1)");
  auto& st = c.prepare("SELECT * FROM t");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_count(), 5);
  EXPECT_EQ(thrown([&] { (void)st.get<std::int64_t>(5); }).code().value(), SQLITE_RANGE);
  st.reset();
  c.execute("ALTER TABLE t ADD COLUMN extra INTEGER DEFAULT 42");
  auto& again = c.prepare("SELECT * FROM t");
  ASSERT_EQ(&again, &st);
  ASSERT_TRUE(again.step());
  EXPECT_EQ(again.column_count(), 6);
  EXPECT_EQ(again.get<std::int64_t>(5), 42);
  EXPECT_EQ(again.column_name(5), "extra");
}

TEST_P(StatementTest, BindIndexOutOfRangeNamesIndexAndParameterCount) {
  auto& ins = c.prepare("INSERT INTO t(i, s) VALUES (?, ?)");
  for (const int bad : {0, 3}) {
    const auto e = thrown([&] { ins.bind(bad, std::int64_t{1}); });
    EXPECT_EQ(e.code().value(), SQLITE_RANGE);
    const std::string what = e.what();
    EXPECT_NE(what.find("bind index " + std::to_string(bad) + " out of range"), std::string::npos) << what;
    EXPECT_NE(what.find("2 parameters (valid: 1..2)"), std::string::npos) << what;
    EXPECT_NE(what.find("INSERT INTO t(i, s)"), std::string::npos) << what;
  }
  auto& none = c.prepare("SELECT 1");
  const auto e = thrown([&] { none.bind(1, "x"); });
  EXPECT_NE(std::string(e.what()).find("no parameters"), std::string::npos) << e.what();
}

TEST_P(StatementTest, ResetRerunsWithBindingsAndClearBindingsNullsThem) {
  auto& ins = c.prepare("INSERT INTO t(i) VALUES (?)");
  ins.bind(1, 7);
  EXPECT_FALSE(ins.step());
  ins.reset();
  EXPECT_FALSE(ins.step());  // same binding again
  ins.reset();
  ins.clear_bindings();
  EXPECT_FALSE(ins.step());
  auto& sel = c.prepare("SELECT count(*), count(i), sum(i) FROM t");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<std::int64_t>(0), 3);
  EXPECT_EQ(sel.get<std::int64_t>(1), 2);
  EXPECT_EQ(sel.get<std::int64_t>(2), 14);
}

TEST_P(StatementTest, StepFailureCarriesEngineMessageAndSql) {
  c.execute("CREATE TABLE u(x NOT NULL)");
  auto& ins = c.prepare("INSERT INTO u VALUES (?)");
  ins.bind(1, nullptr);
  const auto e = thrown([&] { (void)ins.step(); });
  EXPECT_EQ(e.code().value(), SQLITE_CONSTRAINT_NOTNULL);
  EXPECT_EQ(e.engine_message(), "NOT NULL constraint failed: u.x");
  EXPECT_EQ(e.sql(), "INSERT INTO u VALUES (?)");
}

// A bind the engine refuses for another reason than the index (here
// SQLITE_TOOBIG, text over the connection's length limit) throws the
// engine's code and names the statement.
TEST_P(StatementTest, BindTheEngineRefusesThrowsItsCodeAndTheSql) {
  auto& ins = c.prepare("INSERT INTO t(s) VALUES (?)");
  sqlite3_limit(c.native_handle(), SQLITE_LIMIT_LENGTH, 8);
  const auto e = thrown([&] { ins.bind(1, std::string(64, 'x')); });
  EXPECT_EQ(e.code().value(), SQLITE_TOOBIG);
  EXPECT_EQ(e.sql(), "INSERT INTO t(s) VALUES (?)");
  EXPECT_EQ(c.last_error().value(), SQLITE_TOOBIG) << "recorded as the connection's last failure";
}

// "Reads are strict": reading with no current row (before the first step(),
// or after step() returned false) read as NULL: is_null() true, an optional
// empty, get<int64> "the value is NULL" on a NOT NULL column (d5a77a9).
TEST_P(StatementTest, ReadingWithNoCurrentRowIsAnErrorNotNullBug) {
  c.execute("INSERT INTO t(i) VALUES (1)");
  auto& st = c.prepare("SELECT i FROM t");
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "before the first step" : "after the last step");
    const auto e = thrown([&] { (void)st.is_null(0); });
    EXPECT_EQ(e.code().value(), SQLITE_MISUSE);
    EXPECT_NE(std::string(e.what()).find("no current row"), std::string::npos) << e.what();
    EXPECT_EQ(thrown([&] { (void)st.get<std::optional<std::int64_t>>(0); }).code().value(), SQLITE_MISUSE);
    EXPECT_EQ(thrown([&] { (void)st.get<std::int64_t>(0); }).code().value(), SQLITE_MISUSE);
    EXPECT_EQ(thrown([&] { (void)st.get<double>(0); }).code().value(), SQLITE_MISUSE);
    EXPECT_EQ(st.column_name(0), "i") << "metadata needs no row";
    if (round == 0) {
      ASSERT_TRUE(st.step());
      EXPECT_EQ(st.get<std::int64_t>(0), 1);
      ASSERT_FALSE(st.step());
    }
  }
  st.reset();
  EXPECT_EQ(thrown([&] { (void)st.get<std::int64_t>(0); }).code().value(), SQLITE_MISUSE) << "after reset()";
}

// bind() on a statement that is mid-result said only "bad parameter or other
// API misuse" (d5a77a9): it now says that a reset is needed.
TEST_P(StatementTest, BindOnAStatementMidResultSaysResetFirstBug) {
  c.execute("INSERT INTO t(i) VALUES (1), (2)");
  auto& st = c.prepare("SELECT i FROM t WHERE i >= ?1");
  st.bind(1, 0);
  ASSERT_TRUE(st.step());
  const auto e = thrown([&] { st.bind(1, 1); });
  EXPECT_EQ(e.code().value(), SQLITE_MISUSE);
  EXPECT_NE(std::string(e.what()).find("reset() it first"), std::string::npos) << e.what();
  st.reset();
  st.bind(1, 2);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get<std::int64_t>(0), 2);
}

// A bind after step() returned false (no reset) failed with SQLite's "bad
// parameter or other API misuse" alone. Pass: the message says reset first.
TEST_P(StatementTest, BindAfterTheLastStepSaysResetFirstBug) {
  auto& ins = c.prepare("INSERT INTO t(i) VALUES (?1)");
  ins.bind(1, 1);
  ASSERT_FALSE(ins.step());
  const auto e = thrown([&] { ins.bind(1, 2); });
  EXPECT_EQ(e.code().value(), SQLITE_MISUSE);
  EXPECT_NE(std::string(e.what()).find("bind 1 on a statement that has run (step() returned false or failed): "
                                       "reset() it first"),
            std::string::npos)
      << e.what();
  ins.reset();
  ins.bind(1, 2);
  EXPECT_FALSE(ins.step());
}

// SQLite stores a bound NaN as NULL without a word (d5a77a9 passed it on):
// a nullable column silently held NULL, a NOT NULL one failed with a
// constraint error that did not name the NaN.
TEST_P(StatementTest, BindingNanIsRefusedNotStoredAsNullBug) {
  auto& ins = c.prepare("INSERT INTO t(r) VALUES (?1)");
  const auto e = thrown([&] { ins.bind(1, std::numeric_limits<double>::quiet_NaN()); });
  EXPECT_EQ(e.code().value(), SQLITE_MISMATCH);
  EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  ins.bind(1, std::numeric_limits<double>::infinity());  // infinities are stored as they are
  EXPECT_FALSE(ins.step());
  auto& sel = c.prepare("SELECT r FROM t");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<double>(0), std::numeric_limits<double>::infinity());
}

// ---- hand-out from the cache: prepare() skips a reset or a clear that
// berth saw has nothing to do. These tests take no native handle (that
// turns the skipping off) and watch the state through berth alone.

TEST_P(StatementTest, ACachedStatementLeftMidResultIsHandedOutFromItsFirstRow) {
  c.execute("INSERT INTO t(i) VALUES (1), (2), (3)");
  const char* sql = "SELECT i FROM t ORDER BY i";
  auto& st = c.prepare(sql);
  ASSERT_TRUE(st.step());
  ASSERT_TRUE(st.step());  // left on row 2
  EXPECT_TRUE(c.has_active_statements());
  auto& again = c.prepare(sql);
  ASSERT_EQ(&again, &st);
  EXPECT_FALSE(c.has_active_statements()) << "reset on hand-out";
  ASSERT_TRUE(again.step());
  EXPECT_EQ(again.get<std::int64_t>(0), 1);
  again.reset();  // the user's own reset: the next hand-out has nothing to do
  auto& clean = c.prepare(sql);
  ASSERT_TRUE(clean.step());
  EXPECT_EQ(clean.get<std::int64_t>(0), 1);
  EXPECT_TRUE(c.has_active_statements());
  while (clean.step()) {
  }
  EXPECT_FALSE(c.has_active_statements()) << "done";
  auto& after_done = c.prepare(sql);  // stepped to its end, never reset
  ASSERT_TRUE(after_done.step());
  EXPECT_EQ(after_done.get<std::int64_t>(0), 1);
}

// SQLite refuses a bind on a statement that has run (SQLITE_MISUSE) until it
// is reset, whether it returned SQLITE_DONE or failed: the usual INSERT
// that is stepped once and never reset must still be handed out bindable.
TEST_P(StatementTest, ACachedStatementThatRanOrFailedIsHandedOutBindable) {
  c.execute("CREATE TABLE u(x NOT NULL)");
  const char* sql = "INSERT INTO u VALUES (?1)";
  auto& ins = c.prepare(sql);
  ins.bind(1, 1);
  EXPECT_FALSE(ins.step());  // done, not reset
  c.prepare(sql).bind(1, 2);
  EXPECT_FALSE(ins.step());
  ins.reset();
  ins.bind(1, nullptr);
  EXPECT_EQ(thrown([&] { (void)ins.step(); }).code().value(), SQLITE_CONSTRAINT_NOTNULL);
  c.prepare(sql).bind(1, 3);  // failed, not reset
  EXPECT_FALSE(ins.step());
  auto& sum = c.prepare("SELECT sum(x) FROM u");
  ASSERT_TRUE(sum.step());
  EXPECT_EQ(sum.get<std::int64_t>(0), 6);
}

TEST_P(StatementTest, ACachedStatementLeftBoundIsHandedOutCleared) {
  const char* sql = "SELECT ?1";
  auto& st = c.prepare(sql);
  st.bind(1, 5);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get<std::int64_t>(0), 5);
  st.reset();  // rewound, the binding kept
  auto& again = c.prepare(sql);
  ASSERT_TRUE(again.step());
  EXPECT_TRUE(again.is_null(0)) << "cleared on hand-out";
  again.reset();
  again.bind(1, 6);  // bound, never stepped
  auto& third = c.prepare(sql);
  ASSERT_TRUE(third.step());
  EXPECT_TRUE(third.is_null(0));
  third.reset();
  third.bind(1, 7);
  third.clear_bindings();  // the user's own clear
  third.bind(1, 8);        // and a bind after it
  auto& fourth = c.prepare(sql);
  ASSERT_TRUE(fourth.step());
  EXPECT_TRUE(fourth.is_null(0));
}

// reset_statements() (the adapter's reset at a pool release) skips what
// prepare() skips: what was left mid-result or bound is still rewound, and
// the read lock of a statement left mid-result is released.
TEST_P(StatementTest, ResetStatementsStillRewindsWhatWasLeftMidResultOrBound) {
  c.execute("INSERT INTO t(i) VALUES (1), (2)");
  auto& sel = c.prepare("SELECT i FROM t ORDER BY i");
  ASSERT_TRUE(sel.step());
  auto& param = c.prepare("SELECT ?1");
  param.bind(1, 3);
  auto& untouched = c.prepare("SELECT 2");
  c.reset_statements();
  EXPECT_FALSE(c.has_active_statements());
  auto writer = connection::open(dir.file("t.db"));
  EXPECT_NO_THROW(writer.execute("BEGIN EXCLUSIVE; COMMIT")) << "sel's shared lock is gone";
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<std::int64_t>(0), 1);
  sel.reset();
  ASSERT_TRUE(param.step());
  EXPECT_TRUE(param.is_null(0));
  param.reset();
  ASSERT_TRUE(untouched.step());
  EXPECT_EQ(untouched.get<std::int64_t>(0), 2);
}

// A native handle lets a statement be stepped and bound where berth does not
// see it: from then on every hand-out resets and clears, whichever handle
// it was (a statement's, or the connection's, which reaches every cached
// statement through sqlite3_next_stmt).
TEST_P(StatementTest, AStatementUsedThroughANativeHandleIsAlwaysHandedOutResetAndCleared) {
  c.execute("INSERT INTO t(i) VALUES (1), (2)");
  const char* sql = "SELECT i, ?1 FROM t ORDER BY i";
  for (const bool through_connection : {false, true}) {
    SCOPED_TRACE(through_connection ? "the connection's handle" : "the statement's handle");
    connection own = connection::open(dir.file("t.db"));
    auto& st = own.prepare(sql);
    sqlite3_stmt* h = through_connection ? sqlite3_next_stmt(own.native_handle(), nullptr) : st.native_handle();
    ASSERT_NE(h, nullptr);
    for (int round = 0; round < 2; ++round) {
      ASSERT_EQ(sqlite3_bind_int64(h, 1, 9), SQLITE_OK);
      ASSERT_EQ(sqlite3_step(h), SQLITE_ROW);  // row 1, unseen
      auto& again = own.prepare(sql);
      ASSERT_TRUE(again.step());
      EXPECT_EQ(again.get<std::int64_t>(0), 1) << "reset on hand-out";
      EXPECT_TRUE(again.is_null(1)) << "cleared on hand-out";
      again.reset();  // berth sees a clean statement; round 1 steps it unseen again
      again.clear_bindings();
    }
    ASSERT_EQ(sqlite3_bind_int64(h, 1, 9), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(h), SQLITE_ROW);
    own.reset_statements();
    EXPECT_EQ(sqlite3_stmt_busy(h), 0) << "reset_statements() rewinds it too";
  }
}

// A TEXT value of a UTF-16 database is converted to UTF-8 when read as
// text, which allocates; when that fails SQLite returns a null pointer, and
// get_text() returned an empty view: a 256 KiB string read as "" with no
// error. It throws SQLITE_NOMEM, and the row reads whole again once memory
// is there. The allocation fails under sqlite3_hard_heap_limit64 (process
// wide: restored before the test ends).
TEST_P(StatementTest, TextThatCannotBeConvertedForLackOfMemoryThrowsNomemNotEmptyBug) {
  connection u = connection::open(dir.file("u16.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | GetParam());
  u.execute("PRAGMA encoding = 'UTF-16le'");
  u.execute("CREATE TABLE w(s TEXT)");
  const std::string big(256 * 1024, 'x');
  auto& ins = u.prepare("INSERT INTO w VALUES (?1)");
  ins.bind(1, std::string_view(big));
  EXPECT_FALSE(ins.step());
  auto& sel = u.prepare("SELECT s FROM w");
  ASSERT_TRUE(sel.step());
  if (sqlite3_memory_used() == 0) GTEST_SKIP() << "this SQLite keeps no memory statistics: no heap limit";
  const sqlite3_int64 before = sqlite3_hard_heap_limit64(-1);
  struct restore {
    sqlite3_int64 limit;
    ~restore() { sqlite3_hard_heap_limit64(limit); }
  } guard{before};
  sqlite3_hard_heap_limit64(sqlite3_memory_used() + 16 * 1024);  // far below the 256 KiB conversion
  const sqlite_error e = thrown([&] { (void)sel.get<std::string_view>(0); });
  sqlite3_hard_heap_limit64(before);
  EXPECT_EQ(e.code().value() & 0xff, SQLITE_NOMEM) << e.what();
  EXPECT_NE(std::string(e.what()).find("column 0 as TEXT"), std::string::npos) << e.what();
  // SQLite drops the value it could not convert (the column reads NULL
  // from then on): the row is read again.
  sel.reset();
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<std::string>(0), big) << "the value is read whole once memory is there";
}

INSTANTIATE_TEST_SUITE_P(MutexModes, StatementTest, ::testing::Values(SQLITE_OPEN_NOMUTEX, SQLITE_OPEN_FULLMUTEX),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == SQLITE_OPEN_NOMUTEX ? std::string("NoMutex") : std::string("FullMutex");
                         });

}  // namespace
}  // namespace berth::sqlite
