// lock_holder_main.cpp: a second process for database_test. Opens the
// SQLite file argv[1], takes BEGIN EXCLUSIVE, inserts a row into t (so the
// transaction really writes), prints "locked" on stdout, holds the lock for
// argv[2] milliseconds, commits, exits 0. Any failure: message on stderr,
// exit 1.
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {
int fail(sqlite3* db, const char* what) {
  std::fprintf(stderr, "sqlite_lock_holder: %s: %s\n", what, db != nullptr ? sqlite3_errmsg(db) : "no handle");
  sqlite3_close_v2(db);
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: sqlite_lock_holder <db-file> <hold-ms>\n");
    return 2;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) return fail(db, "open");
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_exec(db, "BEGIN EXCLUSIVE; INSERT INTO t VALUES (-1)", nullptr, nullptr, nullptr) != SQLITE_OK)
    return fail(db, "BEGIN EXCLUSIVE");
  std::printf("locked\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(argv[2])));
  if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail(db, "COMMIT");
  sqlite3_close_v2(db);
  return 0;
}
