#include <berth/sqlite/connection.hpp>

#include "query_int.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <type_traits>
#include <utility>

namespace berth::sqlite {
namespace {

using testing::query_int;
using testing::temp_dir;

static_assert(std::is_nothrow_move_constructible_v<connection>);
static_assert(!std::is_copy_constructible_v<connection>);

TEST(SqliteConnection, ExecuteRunsSeveralStatementsAndReportsChanges) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  c.execute("CREATE TABLE t(x);\n INSERT INTO t VALUES (1); INSERT INTO t VALUES (2), (3);  -- trailing comment\n");
  EXPECT_EQ(c.changes(), 2);
  EXPECT_EQ(c.last_insert_rowid(), 3);
  c.execute("UPDATE t SET x = x + 1");
  EXPECT_EQ(c.changes(), 3);
  c.execute("SELECT * FROM t");  // rows are discarded
  c.execute("");
}

TEST(SqliteConnection, ExecuteFailureNamesTheFailingStatement) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  try {
    c.execute("CREATE TABLE t(x); INSERT INTO nope VALUES (1); INSERT INTO t VALUES (1)");
    FAIL();
  } catch (const sqlite_error& e) {
    EXPECT_EQ(e.engine_message(), "no such table: nope");
    EXPECT_EQ(e.sql().find("INSERT INTO nope"), 0u) << e.sql();
  }
}

// SQLite reads SQL only up to a NUL byte: execute("A;\0B") ran A and
// dropped B without a word.
TEST(SqliteConnection, SqlWithANulByteIsRefusedNotCutBug) {
  using namespace std::string_literals;
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  for (const std::string& sql : {"CREATE TABLE t(x);\0CREATE TABLE u(x)"s, "SELECT 1\0junk"s}) {
    try {
      c.execute(sql);
      ADD_FAILURE() << "execute accepted a NUL byte";
    } catch (const sqlite_error& e) {
      EXPECT_EQ(e.code().value(), SQLITE_MISUSE);
      EXPECT_NE(std::string(e.what()).find("NUL byte at offset"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)c.prepare(sql), sqlite_error);
  }
  auto& st = c.prepare("SELECT count(*) FROM sqlite_schema");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get<std::int64_t>(0), 0) << "nothing of the refused text ran";
  st.reset();
}

// prepare() looks for the NUL byte only when the text misses the cache: a
// hit matched text that was checked when it was cached. Text that begins
// with a cached one and then holds a NUL must still miss, and be refused.
TEST(SqliteConnection, ANulByteAfterCachedTextIsStillRefused) {
  using namespace std::string_literals;
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  auto& cached = c.prepare("SELECT 1");
  for (const std::string& sql : {"SELECT 1\0"s, "SELECT 1\0; DROP TABLE x"s}) {
    try {
      (void)c.prepare(sql);
      ADD_FAILURE() << "prepare accepted a NUL byte after cached text";
    } catch (const sqlite_error& e) {
      EXPECT_EQ(e.code().value(), SQLITE_MISUSE);
      EXPECT_NE(std::string(e.what()).find("NUL byte at offset 8"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(c.cached_statements(), 1u);
  EXPECT_EQ(&c.prepare("SELECT 1"), &cached);
}

TEST(SqliteConnection, CacheReturnsTheSamePreparedStatementForTheSameSql) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  c.execute("CREATE TABLE t(x)");
  auto& a = c.prepare("INSERT INTO t VALUES (?)");
  sqlite3_stmt* handle = a.native_handle();
  a.bind(1, 1);
  (void)a.step();
  auto& b = c.prepare("INSERT INTO t VALUES (?)");
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(b.native_handle(), handle) << "not re-prepared";
  EXPECT_EQ(c.cached_statements(), 1u);
  // Handed out reset with bindings cleared.
  EXPECT_FALSE(b.step());
  auto& sel = c.prepare("SELECT count(*), count(x) FROM t");
  EXPECT_EQ(c.cached_statements(), 2u);
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.get<std::int64_t>(0), 2);
  EXPECT_EQ(sel.get<std::int64_t>(1), 1);
  // The engine agrees: two statements are prepared on this handle.
  int n = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(c.native_handle(), nullptr); s != nullptr;
       s = sqlite3_next_stmt(c.native_handle(), s))
    ++n;
  EXPECT_EQ(n, 2);
}

// prepare() compares the text with the entry it found or made last before
// it hashes (connection_state::last_prepared): by content, never by the
// pointer, which may hold other text by now.
TEST(SqliteConnection, TheLastPreparedTextIsComparedByContentNotPointer) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  std::string sql = "SELECT 1";
  auto& one = c.prepare(sql);
  sql[7] = '2';  // the same buffer and size, other text
  auto& two = c.prepare(sql);
  EXPECT_NE(&two, &one);
  ASSERT_TRUE(two.step());
  EXPECT_EQ(two.get<std::int64_t>(0), 2);
  two.reset();
  sql[7] = '1';
  EXPECT_EQ(&c.prepare(sql), &one);
  sql += ' ';  // a longer text that begins with the last one
  EXPECT_NE(&c.prepare(sql), &one);
  EXPECT_EQ(c.cached_statements(), 3u);
  // Alternating texts find each other through the hash, still rewound.
  c.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
  auto& a = c.prepare("SELECT x FROM t ORDER BY x");
  ASSERT_TRUE(a.step());
  (void)c.prepare("SELECT 1");
  auto& again = c.prepare("SELECT x FROM t ORDER BY x");
  EXPECT_EQ(&again, &a);
  ASSERT_TRUE(again.step());
  EXPECT_EQ(again.get<std::int64_t>(0), 1);
}

// The last prepared entry points into the cache: nothing may reach a
// statement through it once close() finalized the cache (ASan sees a use
// after free), and reset_statements() keeps the cache, and so the entry.
TEST(SqliteConnection, NoFinalizedStatementIsReachedThroughTheLastPreparedEntry) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  auto& st = c.prepare("SELECT 1");
  ASSERT_TRUE(st.step());
  c.reset_statements();
  EXPECT_EQ(&c.prepare("SELECT 1"), &st) << "reset_statements() keeps the cache";
  c.close();
  EXPECT_THROW((void)c.prepare("SELECT 1"), sqlite_error);
  c = connection::open(dir.file("t.db"));
  EXPECT_EQ(query_int(c, "SELECT 1"), 1);
  const statement* fresh = &c.prepare("SELECT 1");
  auto other = connection::open(dir.file("t.db"));
  (void)other.prepare("SELECT 1");
  other = std::move(c);  // other's own state and cache go
  EXPECT_EQ(query_int(other, "SELECT 1"), 1);
  EXPECT_EQ(&other.prepare("SELECT 1"), fresh);
}

TEST(SqliteConnection, PrepareRejectsSeveralStatementsAndBadSql) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  EXPECT_THROW(c.prepare("SELECT 1; SELECT 2"), sqlite_error);
  (void)c.prepare("SELECT 1;  ");  // trailing separators are fine
  try {
    (void)c.prepare("SELEC 1");
    FAIL();
  } catch (const sqlite_error& e) {
    EXPECT_NE(e.engine_message().find("syntax error"), std::string::npos) << e.engine_message();
    EXPECT_EQ(e.sql(), "SELEC 1");
  }
  EXPECT_EQ(c.cached_statements(), 1u);
}

// prepare() refused "SELECT 1; -- c" and "SELECT 1; /* x */" as holding more
// than one statement: a tail of whitespace and comments is none. Pass: both
// are prepared; a second statement after a comment is still refused.
TEST(SqliteConnection, PrepareAcceptsATrailingCommentBug) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  for (const char* sql : {"SELECT 1; -- c", "SELECT 1; /* x */", "SELECT 1 -- c\n;\n/* a */ ; -- b", "SELECT 1; /* open"}) {
    SCOPED_TRACE(sql);
    try {
      auto& st = c.prepare(sql);
      ASSERT_TRUE(st.step());
      EXPECT_EQ(st.get<std::int64_t>(0), 1);
      st.reset();
    } catch (const sqlite_error& e) {
      ADD_FAILURE() << e.what();
    }
  }
  EXPECT_THROW(c.prepare("SELECT 1; /* x */ SELECT 2"), sqlite_error);
  EXPECT_THROW(c.prepare("SELECT 1; -- c\nSELECT 2"), sqlite_error);
}

TEST(SqliteConnection, CloseFinalizesCachedStatementsAndMovesKeepThem) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  auto& st = c.prepare("SELECT 1");
  ASSERT_TRUE(st.step());  // left mid-iteration: close must still succeed
  connection moved = std::move(c);
  EXPECT_FALSE(c);  // NOLINT(bugprone-use-after-move): moved-from is closed
  EXPECT_EQ(moved.cached_statements(), 1u);
  EXPECT_EQ(&moved.prepare("SELECT 1"), &st) << "statements survive a move of the connection";
  moved.close();
  EXPECT_FALSE(moved);
  EXPECT_EQ(moved.cached_statements(), 0u);
  moved.close();  // idempotent
  // Leaks of statements or handles would show under ASan's leak checker.
}

TEST(SqliteConnection, ResetStatementsReleasesReadersAndInTransactionTracksAutocommit) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  c.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
  EXPECT_FALSE(c.in_transaction());
  c.execute("BEGIN");
  EXPECT_TRUE(c.in_transaction());
  auto& sel = c.prepare("SELECT x FROM t");
  ASSERT_TRUE(sel.step());
  EXPECT_NE(sqlite3_stmt_busy(sel.native_handle()), 0);
  c.reset_statements();
  EXPECT_EQ(sqlite3_stmt_busy(sel.native_handle()), 0);
  c.execute("ROLLBACK");
  EXPECT_FALSE(c.in_transaction());
}

/// needs_reset() skips sqlite3_get_autocommit until the connection has
/// prepared transaction control or handed out its handle; every way to open
/// a transaction must still be seen.
TEST(SqliteConnection, NeedsResetSeesATransactionOpenedByEveryPath) {
  temp_dir dir;
  const std::string path = dir.file("t.db");
  connection::open(path).execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");

  const char* const begins[] = {"BEGIN",       "begin immediate",  "  /* note */ Begin Deferred",
                                "-- a comment\nBEGIN EXCLUSIVE", "SAVEPOINT sp", "\n\tsavepoint \"x\""};
  for (const char* sql : begins) {
    SCOPED_TRACE(sql);
    {  // through a cached prepared statement
      auto c = connection::open(path);
      EXPECT_TRUE(c.prepare("SELECT 1").step());
      c.reset_statements();
      EXPECT_FALSE(c.needs_reset());
      EXPECT_FALSE(c.prepare(sql).step());
      EXPECT_TRUE(c.in_transaction());
      EXPECT_TRUE(c.needs_reset());
      c.execute("ROLLBACK");
      EXPECT_FALSE(c.needs_reset());
    }
    {  // through execute(), after other statements in the same text
      auto c = connection::open(path);
      c.execute(std::string("SELECT 1; ") + sql);
      EXPECT_TRUE(c.needs_reset());
    }
  }
  {  // through the native handle
    auto c = connection::open(path);
    ASSERT_EQ(sqlite3_exec(c.native_handle(), "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
    EXPECT_TRUE(c.needs_reset());
    ASSERT_EQ(sqlite3_exec(c.native_handle(), "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    EXPECT_FALSE(c.session_may_have_changed()) << "handing out the handle does not discard the connection";
    EXPECT_FALSE(c.needs_reset());
  }
  {  // a statement mid-result, with no transaction control ever prepared
    auto c = connection::open(path);
    auto& st = c.prepare("SELECT x FROM t");
    ASSERT_TRUE(st.step());
    EXPECT_TRUE(c.needs_reset());
    st.reset();
    EXPECT_FALSE(c.needs_reset());
  }
  {  // words that only start like a keyword do not count, and cost nothing
    auto c = connection::open(path);
    c.execute("CREATE TABLE beginning(x); INSERT INTO beginning VALUES (1)");
    EXPECT_TRUE(c.prepare("SELECT x FROM beginning").step());
    c.reset_statements();
    EXPECT_FALSE(c.needs_reset());
  }
  EXPECT_TRUE(connection{}.needs_reset()) << "a closed connection needs a reset, which fails: the pool discards it";
  {  // closed by close(), or moved from: the same (their flags are closed_connection_flags, not null)
    auto c = connection::open(path);
    ASSERT_FALSE(c.needs_reset());
    connection d = std::move(c);
    EXPECT_TRUE(c.needs_reset()) << "moved from";  // NOLINT(bugprone-use-after-move): the moved-from state is the test
    EXPECT_FALSE(c.session_may_have_changed());
    EXPECT_FALSE(d.needs_reset());
    connection e = connection::open(path);
    e = std::move(d);
    EXPECT_TRUE(d.needs_reset()) << "moved from by assignment";  // NOLINT(bugprone-use-after-move)
    EXPECT_FALSE(e.needs_reset());
    e.close();
    EXPECT_TRUE(e.needs_reset()) << "closed";
    EXPECT_FALSE(e.session_may_have_changed());
  }
}

/// session_may_have_changed() is decided once per statement, when it is
/// prepared or run, from its first words: settings, ATTACH and DETACH
/// count, whatever the spelling; reading a pragma costs nothing.
TEST(SqliteConnection, SessionChangesAreSeenByEveryPathAndPragmaReadsAreNot) {
  temp_dir dir;
  const std::string path = dir.file("t.db");
  connection::open(path).execute("CREATE TABLE t(x); CREATE INDEX tx ON t(x)");
  const std::string aux = dir.file("aux.db");
  struct row {
    std::string sql;
    bool changes;
  };
  const row rows[] = {
      {"PRAGMA foreign_keys=OFF", true},
      {"pragma Foreign_Keys = off", true},
      {"PRAGMA busy_timeout(0)", true},
      {"PRAGMA main.cache_size = 10", true},
      {"PRAGMA main . query_only=1", true},
      {"/* c */ -- d\n ;PRAGMA\n\tquery_only /* e */ (1)", true},
      {"PRAGMA \"recursive_triggers\" = 1", true},
      {"PRAGMA [synchronous]=OFF", true},
      {"ATTACH '" + aux + "' AS aux", true},
      {"attach database '" + aux + "' as aux2", true},
      {"PRAGMA foreign_keys", false},
      {"PRAGMA main.journal_mode", false},
      {"PRAGMA table_info(t)", false},
      {"PRAGMA main.table_info('t')", false},
      {"PRAGMA index_list = t", false},
      {"PRAGMA INTEGRITY_CHECK(5)", false},
      {"PRAGMA wal_checkpoint(PASSIVE)", false},
      {"SELECT * FROM pragma_table_info('t')", false},
      {"SELECT 'PRAGMA foreign_keys=OFF'", false},
      {"CREATE TEMP TABLE pragmas(attach)", false},
      // SQLite applies a setting pragma while compiling it: EXPLAIN sets it too
      // (SqliteAdapter.AnExplainedPragmaDoesNotOutliveTheLeaseBug).
      {"EXPLAIN PRAGMA foreign_keys=OFF", true},
      {"explain query plan pragma query_only = 0", true},
      {"EXPLAIN PRAGMA foreign_keys", false},
      {"EXPLAIN ATTACH '" + aux + "' AS aux3", false},
      {"EXPLAIN QUERY PLAN SELECT * FROM t", false},
  };
  for (const row& r : rows) {
    SCOPED_TRACE(r.sql);
    {  // through a cached prepared statement
      auto c = connection::open(path);
      auto& st = c.prepare(r.sql);
      while (st.step()) {
      }
      EXPECT_EQ(c.session_may_have_changed(), r.changes);
      EXPECT_EQ(c.needs_reset(), r.changes);
    }
    {  // through execute(), after another statement in the same text
      auto c = connection::open(path);
      c.execute("SELECT 1; " + r.sql);
      EXPECT_EQ(c.session_may_have_changed(), r.changes);
      EXPECT_EQ(c.needs_reset(), r.changes);
    }
  }
  auto d = connection::open(path);  // attached behind berth's back, to see DETACH alone
  ASSERT_EQ(sqlite3_exec(detail::handle_of(d), ("ATTACH '" + aux + "' AS aux").c_str(), nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_FALSE(d.session_may_have_changed());
  d.execute("DETACH aux");
  EXPECT_TRUE(d.session_may_have_changed());
  EXPECT_FALSE(connection{}.session_may_have_changed());
}

// SQLite skips empty statements, so ";BEGIN" and "INSERT ...;; BEGIN" open a
// transaction; needs_reset() read the first word after whitespace and
// comments only, missed it, and the pool handed the open transaction (and
// its write lock) to the next user (d5a77a9).
TEST(SqliteConnection, NeedsResetSeesABeginAfterEmptyStatementsBug) {
  temp_dir dir;
  const std::string path = dir.file("t.db");
  connection::open(path).execute("CREATE TABLE t(x)");
  {
    auto c = connection::open(path);
    c.execute("INSERT INTO t VALUES (1);; BEGIN IMMEDIATE");
    ASSERT_TRUE(c.in_transaction());
    EXPECT_TRUE(c.needs_reset());
  }
  for (const char* sql : {";BEGIN", " ; ;\n BEGIN IMMEDIATE", ";/* c */;savepoint s"}) {
    SCOPED_TRACE(sql);
    auto c = connection::open(path);
    EXPECT_FALSE(c.prepare(sql).step());
    ASSERT_TRUE(c.in_transaction());
    EXPECT_TRUE(c.needs_reset());
  }
}

// Stepping a statement through its native handle is not seen by berth: the
// statement stayed mid-result, pinning a read snapshot for the next user of
// the pooled connection, and needs_reset() said false (d5a77a9).
TEST(SqliteConnection, AStatementsNativeHandleMakesEveryReleaseResetBug) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  c.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
  auto& st = c.prepare("SELECT x FROM t");
  EXPECT_FALSE(c.needs_reset());
  ASSERT_EQ(sqlite3_step(st.native_handle()), SQLITE_ROW);
  EXPECT_TRUE(c.needs_reset()) << "a raw step leaves the statement mid-result";
  c.reset_statements();
  EXPECT_TRUE(c.needs_reset()) << "conservative from then on: every release resets";
}

// prepare() takes the SQL's length as an int: text of 2 GiB or more became
// a negative length, which SQLite reads as "up to a NUL byte", past the end
// of the view. Refused before a byte is read (the view below points at 8
// bytes and claims 3 GB: reading it would fault or trip ASan).
TEST(SqliteConnection, SqlLongerThanAnIntIsRefusedUnreadBug) {
  temp_dir dir;
  auto c = connection::open(dir.file("t.db"));
  const char small[8] = "SELECT ";
  const std::string_view huge(small, std::size_t{3'000'000'000});
  for (int k = 0; k < 2; ++k) {
    try {
      if (k == 0)
        c.execute(huge);
      else
        (void)c.prepare(huge);
      FAIL() << "accepted " << huge.size() << " bytes";
    } catch (const sqlite_error& e) {
      EXPECT_EQ(e.code().value(), SQLITE_TOOBIG);
      EXPECT_NE(std::string(e.what()).find("3000000000 bytes"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(c.cached_statements(), 0u);
}

// Move assignment closes the target's own session first, then takes the
// source's (statements included); the source is left closed.
TEST(SqliteConnection, MoveAssignmentClosesTheTargetAndTakesTheSource) {
  temp_dir dir;
  auto a = connection::open(dir.file("a.db"));
  auto b = connection::open(dir.file("b.db"));
  a.execute("CREATE TABLE only_in_a(x)");
  auto& st = a.prepare("SELECT count(*) FROM only_in_a");
  b.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
  auto& reading = b.prepare("SELECT x FROM t");
  ASSERT_TRUE(reading.step());  // b's session holds a shared lock on b.db
  sqlite3* const a_handle = a.native_handle();
  b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is closed
  ASSERT_TRUE(b);
  EXPECT_EQ(b.native_handle(), a_handle);
  EXPECT_EQ(&b.prepare("SELECT count(*) FROM only_in_a"), &st) << "a's statements came along";
  auto& self = b;
  b = std::move(self);  // self-assignment keeps the session
  ASSERT_TRUE(b);
  EXPECT_EQ(b.native_handle(), a_handle);
  // b's own session was closed, not leaked: its shared lock is gone, so
  // another connection locks b.db exclusively at once.
  auto writer = connection::open(dir.file("b.db"));
  EXPECT_NO_THROW(writer.execute("BEGIN EXCLUSIVE; COMMIT"));
}

}  // namespace
}  // namespace berth::sqlite
