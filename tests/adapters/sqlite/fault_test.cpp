// fault_test.cpp: SQLite faults on the database side (issue 13's fault
// catalogue): descriptors after failed opens, disk full, a database file
// removed or replaced under a live pool, and fork() with live pools.
#include <berth/pool.hpp>
#include <berth/sqlite/adapter.hpp>
#include <berth/sqlite/database.hpp>

#include "support/eventually.hpp"
#include "support/fd_count.hpp"
#include "support/fork_child.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace berth::sqlite {
namespace {

using namespace std::chrono_literals;
using berth::testing::child_exit;
using berth::testing::eventually;
using berth::testing::open_fds;
using berth::testing::fork_and_check;
using testing::temp_dir;
using sqlite_pool = berth::pool<adapter>;

std::int64_t count_rows(connection& c, const std::string& table = "t") {
  auto& st = c.prepare("SELECT count(*) FROM " + table);
  EXPECT_TRUE(st.step());
  const auto n = st.get<std::int64_t>(0);
  st.reset();
  return n;
}

/// Extended result code of a sqlite_error thrown by f, or 0.
template <class F>
int sqlite_code_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const sqlite_error& e) {
    if (message != nullptr) *message = e.what();
    return e.code().value();
  }
  return 0;
}

// ---- file descriptors ---------------------------------------------------------

// Opens that fail after sqlite3_open_v2 allocated a handle (a missing
// directory), after it opened the file (a directory, a file that is not a
// database: both fail at connect's first read) leave no descriptor behind.
// Pass: /proc/self/fd holds exactly as many entries after 3 x 1,000 failed
// connects as before.
TEST(SqliteFault, FailedOpensLeaveNoDescriptorOpen) {
  temp_dir dir;
  const std::string junk = dir.file("junk.db");
  std::ofstream(junk) << std::string(8192, 'x');  // not a database: SQLITE_NOTADB
  std::filesystem::create_directory(dir.file("a-directory"));
  struct kind {
    std::string path;
    int primary;  // the expected primary result code
  };
  const std::vector<kind> kinds = {{dir.file("missing/app.db"), SQLITE_CANTOPEN},
                                   {dir.file("a-directory"), SQLITE_CANTOPEN},
                                   {junk, SQLITE_NOTADB}};
  std::vector<adapter> adapters;
  for (const kind& k : kinds) adapters.emplace_back(options{.path = k.path});
  const std::size_t before = open_fds();
  ASSERT_GT(before, 0u) << "/proc/self/fd is not readable";
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    for (int n = 0; n < 1000; ++n) {
      auto c = adapters[k].connect();
      ASSERT_FALSE(c) << kinds[k].path;
      ASSERT_EQ(c.error().code.value() & 0xff, kinds[k].primary) << kinds[k].path << ": " << c.error().message;
      ASSERT_NE(c.error().message.find(kinds[k].path), std::string::npos) << c.error().message;
    }
    EXPECT_EQ(open_fds(), before) << "after 1,000 failed opens of " << kinds[k].path;
  }
}

// A file that is not a database failed connect with SQLite's words alone
// ("file is not a database"), so a pool's last creation error did not say
// which file. Pass: the message names it.
TEST(SqliteFault, NotADatabaseErrorNamesTheFileBug) {
  temp_dir dir;
  const std::string junk = dir.file("junk.db");
  std::ofstream(junk) << std::string(8192, 'x');
  auto c = adapter({.path = junk}).connect();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code.value(), SQLITE_NOTADB);
  EXPECT_NE(c.error().message.find("'" + junk + "'"), std::string::npos) << c.error().message;
}

// A pool whose creator thread keeps failing (breaker off, then on), then is
// destroyed. Pass: at least 50 failed creations each, an acquire in the
// meantime fails naming the path, and the descriptors are back to the count
// before the pool.
TEST(SqliteFault, PoolWhoseCreatorKeepsFailingLeavesNoDescriptorOpen) {
  temp_dir dir;
  const std::string path = dir.file("missing/app.db");
  for (const std::uint32_t breaker : {0u, 3u}) {
    const std::size_t before = open_fds();
    {
      sqlite_pool p(adapter({.path = path}), berth::testing::retrying_at_once("failing", breaker));
      ASSERT_TRUE(eventually([&] { return p.stats().creation_failures >= 50; }))
          << "breaker_threshold " << breaker << ": " << p.stats().creation_failures << " failures";
      auto l = p.acquire_for(20ms);
      ASSERT_FALSE(l);
      EXPECT_NE(l.error().message().find(path), std::string::npos) << l.error().message();
    }
    EXPECT_EQ(open_fds(), before) << "breaker_threshold " << breaker;
  }
}

// ---- disk full -------------------------------------------------------------------

// max_page_count caps the file (SQLite's SQLITE_FULL, as a full disk gives).
// Pass: the write that overflows fails with SQLITE_FULL, classified
// db_errc::resource_exhausted, naming the condition; its rows are rolled
// back and every earlier commit is there (exact count); after rows are
// deleted (free pages) writes succeed again, through the same database.
TEST(SqliteFault, DiskFullRollsBackKeepsEveryCommitAndRecovers) {
  temp_dir dir;
  database db({.path = dir.file("full.db"), .readers = 2, .pragmas = {"max_page_count=40"}});
  db.write([](connection& c) { c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)"); });
  std::int64_t committed = 0;
  std::string message;
  int code = 0;
  for (int batch = 0; batch < 1000 && code == 0; ++batch) {
    code = sqlite_code_of(
        [&] {
          db.write([&](connection& c) {
            auto& ins = c.prepare("INSERT INTO t (pad) VALUES (zeroblob(1000))");
            for (int k = 0; k < 10; ++k) {
              (void)ins.step();
              ins.reset();
            }
          });
        },
        &message);
    if (code == 0) committed += 10;
  }
  ASSERT_EQ(code & 0xff, SQLITE_FULL) << message;
  EXPECT_EQ(to_error_code(code), db_errc::resource_exhausted);
  EXPECT_NE(message.find("full"), std::string::npos) << message;
  ASSERT_GT(committed, 0);
  EXPECT_EQ(db.read([](connection& c) { return count_rows(c); }), committed) << "the failed batch rolled back";
  // Free space: the deleted rows' pages are reused.
  db.write([](connection& c) { c.execute("DELETE FROM t WHERE id % 2 = 0"); });
  const std::int64_t kept = db.read([](connection& c) { return count_rows(c); });
  db.write([](connection& c) { c.execute("INSERT INTO t (pad) VALUES (zeroblob(1000))"); });
  EXPECT_EQ(db.read([](connection& c) { return count_rows(c); }), kept + 1);
}

// ---- the database file removed or replaced --------------------------------------

void remove_database_files(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

// Removed under a sqlite::database: SQLite in WAL mode would accept the next
// commit into the removed file and lose it at close. Pass: the first write
// after the removal fails with SQLITE_READONLY_DBMOVED naming the file
// without running fn; the next write and read work on the new file at the
// path (the readers were replaced too: they see it, not the removed one).
TEST(SqliteFault, DatabaseFileRemovedUnderADatabaseFailsTheNextWriteAndReopensBug) {
  temp_dir dir;
  const std::string path = dir.file("app.db");
  database db({.path = path, .readers = 2});
  db.write([](connection& c) { c.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3)"); });
  ASSERT_EQ(db.read([](connection& c) { return count_rows(c); }), 3);
  remove_database_files(path);
  bool ran = false;
  std::string message;
  const int code = sqlite_code_of(
      [&] { db.write([&](connection& c) { ran = true, c.execute("INSERT INTO t VALUES (4)"); }); }, &message);
  EXPECT_EQ(code, SQLITE_READONLY_DBMOVED) << message;
  EXPECT_FALSE(ran) << "nothing may run (and commit) on the removed file";
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("removed or replaced"), std::string::npos) << message;
  db.write([](connection& c) { c.execute("CREATE TABLE t (x); INSERT INTO t VALUES (10)"); });
  EXPECT_EQ(db.read([](connection& c) { return count_rows(c); }), 1) << "the readers see the new file";
  EXPECT_TRUE(std::filesystem::exists(path));
}

// Replaced (renamed over) under a plain pool that validates every acquire
// (validation_bypass 0). Pass: the acquire discards the connection to the
// old file (a validation_failed event, SQLITE_READONLY_DBMOVED naming the
// path) and hands out one on the replacement (its 7 rows, not the old 3).
TEST(SqliteFault, DatabaseFileReplacedUnderAPoolIsDetectedAtValidationBug) {
  temp_dir dir;
  const std::string path = dir.file("app.db");
  const std::string replacement = dir.file("replacement.db");
  std::mutex m;
  std::vector<std::string> failures;
  berth::pool_options o;
  o.name = "replaced";
  o.max_size = 1;
  o.min_idle = 1;
  o.validation_bypass = 0ms;
  o.on_event = [&](const pool_event& e) {
    if (e.kind != event_kind::validation_failed) return;
    std::lock_guard lk(m);
    failures.push_back(std::to_string(e.error.value()) + " " + std::string(e.message));
  };
  sqlite_pool p(adapter({.path = path}), o);
  p.acquire().value()->execute("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3)");
  {
    connection r = connection::open(replacement);
    r.execute("PRAGMA journal_mode=DELETE; CREATE TABLE t (x)");
    for (int k = 0; k < 7; ++k) r.execute("INSERT INTO t VALUES (0)");
  }
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  std::filesystem::rename(replacement, path);
  auto l = p.acquire_for(5s);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(count_rows(**l), 7) << "a connection to the replacement";
  std::lock_guard lk(m);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].substr(0, failures[0].find(' ')), std::to_string(SQLITE_READONLY_DBMOVED)) << failures[0];
  EXPECT_NE(failures[0].find(path), std::string::npos) << failures[0];
}

// ---- fork() ---------------------------------------------------------------------

/// A file pool with a lease out across the fork and an idle connection, a
/// database, and an in-memory pool (its adapter's keeper connection).
struct live_pools {
  temp_dir dir;
  std::optional<sqlite_pool> file;
  std::optional<sqlite_pool::lease_type> held;
  std::optional<database> db;
  std::optional<sqlite_pool> memory;

  live_pools() {
    berth::pool_options o;
    o.name = "file";
    o.max_size = 2;
    o.min_idle = 2;
    file.emplace(adapter({.path = dir.file("file.db")}), o);
    held.emplace(file->acquire().value());
    (*held)->execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    db.emplace(database_options{.path = dir.file("db.db"), .readers = 2});
    db->write([](connection& c) { c.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)"); });
    o.name = "memory";
    memory.emplace(adapter({.in_memory = true}), o);
    memory->acquire().value()->execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    if (!berth::testing::settled_for_fork(*file) || !berth::testing::settled_for_fork(*memory))
      ADD_FAILURE() << "the pools did not open min_idle connections before the fork";
  }

  /// The child's checks: every acquire fails with errc::forked, the
  /// inherited lease's connection refuses SQL naming the fork. 0 when all
  /// hold, else the number of the first that failed.
  int child_checks() {
    for (sqlite_pool* p : {&*file, &*memory}) {
      auto l = p->acquire_for(5s);
      if (l || l.error().code != errc::forked) return 10;
    }
    std::string message;
    if (sqlite_code_of([&] { (*held)->execute("INSERT INTO t VALUES (2)"); }, &message) != SQLITE_MISUSE) return 11;
    if (message.find("fork()") == std::string::npos) return 12;
    if (sqlite_code_of([&] { (*held)->prepare("SELECT 1"); }) != SQLITE_MISUSE) return 13;
    if (!(*held)->inherited()) return 14;
    try {
      db->read([](connection& c) { return count_rows(c); });
      return 15;
    } catch (const acquire_exception& e) {
      if (e.code() != errc::forked) return 16;
    }
    return 0;
  }

  /// The child, before _exit: destroys every inherited object.
  void destroy() {
    held.reset();
    memory.reset();
    db.reset();
    file.reset();
  }

  /// The parent, after the child: everything still works, nothing lost.
  void parent_checks() {
    ASSERT_TRUE(held);
    EXPECT_FALSE((*held)->inherited());
    (*held)->execute("INSERT INTO t VALUES (2)");
    EXPECT_EQ(count_rows(**held), 2);
    held.reset();
    auto a = file->acquire_for(1s);
    auto b = file->acquire_for(1s);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(count_rows(**b), 2);
    db->write([](connection& c) { c.execute("INSERT INTO t VALUES (2)"); });
    EXPECT_EQ(db->read([](connection& c) { return count_rows(c); }), 2);
    EXPECT_EQ(count_rows(*memory->acquire_for(1s).value()), 1) << "the in-memory database outlived the child";
  }
};

// The child destroys every inherited object (then _exit): no hang, no
// abort, nothing closed that the parent uses. Pass: the child exits 0 and
// the parent's pools, lease and databases work afterwards with every row.
TEST(SqliteFault, ForkChildFailsAcquiresAndDestroysInheritedPoolsSafely) {
  live_pools live;
  fork_and_check(live, child_exit::quick);
}

// The child leaves through exit() with everything still alive. Pass: as above.
TEST(SqliteFault, ForkChildThatExitsNormallyLeavesThePoolsToTheParent) {
  live_pools live;
  fork_and_check(live, child_exit::normal);
}

/// A connection, no pool, with a statement prepared before the fork.
struct prepared_before_fork {
  temp_dir dir;
  adapter a{{.path = dir.file("prepared.db")}};
  std::optional<connection> c;
  statement* st = nullptr;

  prepared_before_fork() {
    c.emplace(a.connect().value());
    c->execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    st = &c->prepare("SELECT x FROM t");
  }
  int child_checks() {
    std::string message;
    if (sqlite_code_of([&] { (void)st->step(); }, &message) != SQLITE_MISUSE) return 1;
    if (message.find("fork()") == std::string::npos) return 2;
    return 0;
  }
  void destroy() { c.reset(); }  // leaves the parent's handle alone
  void parent_checks() {
    st->reset();
    ASSERT_TRUE(st->step()) << "the statement still runs in the parent";
    EXPECT_EQ(st->get<std::int64_t>(0), 1);
    st->reset();
  }
};

// A statement prepared before a fork() ran in the child: execute() and
// prepare() refused SQL on an inherited connection, but step() on a
// statement the caller kept was not checked, so the child ran the parent's
// handle. Pass: the child's step() throws SQLITE_MISUSE naming the fork;
// the parent's statement still runs.
TEST(SqliteFault, StepOfAStatementPreparedBeforeTheForkRefusesInTheChildBug) {
  prepared_before_fork live;
  fork_and_check(live, child_exit::quick);
}

}  // namespace
}  // namespace berth::sqlite
