// sqlite_icount_driver.cpp: issue 8's SQLite statement cycle counted in
// instructions under callgrind (bench/icount.sh), which is exact where the
// timed rows of sqlite_bench.cpp move by 10 to 20% between runs on a noisy VM.
//
//   queries_dedicated   a prepared, cached SELECT 1 (prepare from the cache,
//                       step, read, reset) on one connection opened once
//   queries_berth       the same on a connection leased from a berth pool of
//                       the same adapter: acquire + the query + release
//   queries_raw         the floor under both: SQLite's C API alone on a
//                       connection of the same adapter (its native_handle()),
//                       one sqlite3_stmt prepared once, then per query
//                       sqlite3_step + sqlite3_column_int64 + sqlite3_reset
//
// All use one WAL file database in a temporary directory and the adapter's
// pragmas; dedicated and berth run the same query function. berth minus
// dedicated is the pool's cost on the statement, dedicated minus raw the
// adapter's; icount.sh prints both, and each relative to raw.
//
// Usage: berth_sqlite_icount_driver [queries]   (default 100000)
#include <berth/pool.hpp>
#include <berth/sqlite/adapter.hpp>

#include <sqlite3.h>

#include "sqlite_select1.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include <unistd.h>

namespace {

using berth::sqlite::connection;
using pool_t = berth::pool<berth::sqlite::adapter>;

using berth::bench::select1;  // the same statement as sqlite_bench.cpp

}  // namespace

// extern "C", not inlined: callgrind names them, and counts each inclusively.
extern "C" __attribute__((noinline)) std::int64_t queries_dedicated(connection& c, long n) {
  std::int64_t sum = 0;
  for (long i = 0; i < n; ++i) sum += select1(c);
  return sum;
}

extern "C" __attribute__((noinline)) std::int64_t queries_raw(sqlite3_stmt* st, long n) {
  std::int64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    if (sqlite3_step(st) != SQLITE_ROW) return -1;
    sum += sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
  }
  return sum;
}

extern "C" __attribute__((noinline)) std::int64_t queries_berth(pool_t& p, long n) {
  std::int64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    auto l = p.acquire();
    if (!l) return -1;
    sum += select1(**l);
  }
  return sum;
}

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 100000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: %s [queries > 0]\n", argv[0]);
    return 2;
  }
  std::error_code ec;
  const auto dir = std::filesystem::temp_directory_path(ec) / ("berth-sqlite-icount-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "sqlite_icount_driver: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  int rc = 0;
  {
    berth::sqlite::adapter a{{.path = (dir / "icount.db").string()}};
    auto c = a.connect();
    auto raw_conn = a.connect();  // its own: after native_handle(), prepare() on c would always reset
    sqlite3_stmt* raw = nullptr;
    if (!c || !raw_conn) {
      std::fprintf(stderr, "sqlite_icount_driver: connect failed: %s\n",
                   (!c ? c.error() : raw_conn.error()).message.c_str());
      rc = 1;
    } else if (sqlite3_prepare_v3(raw_conn->native_handle(), "SELECT 1", -1, SQLITE_PREPARE_PERSISTENT, &raw,
                                  nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "sqlite_icount_driver: raw prepare failed: %s\n",
                   sqlite3_errmsg(raw_conn->native_handle()));
      rc = 1;
    } else {
      pool_t p(a, {.name = "sqlite-icount", .max_size = 2, .min_idle = 2, .validate_on_acquire = false});
      // Warm all three: statements prepared and cached, pages read.
      const bool ok = queries_raw(raw, 100) == 100 && queries_dedicated(*c, 100) == 100 && queries_berth(p, 100) == 100;
      if (!ok || queries_raw(raw, n) != n || queries_dedicated(*c, n) != n || queries_berth(p, n) != n) {
        std::fprintf(stderr, "sqlite_icount_driver: a query failed\n");
        rc = 1;
      } else {
        std::printf("%ld queries of each\n", n);
      }
    }
    sqlite3_finalize(raw);  // before its connection closes (a no-op on null)
  }
  std::filesystem::remove_all(dir, ec);
  return rc;
}
