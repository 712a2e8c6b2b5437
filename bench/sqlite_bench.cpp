// sqlite_bench.cpp: what berth costs on a real embedded database.
//
// The statement cycle of issue 8 on two databases, each iteration one query
// and its result:
//   file     a WAL file database in a temporary directory
//   memory   berth's shared in-memory database (sqlite::options::in_memory:
//            the memdb VFS, one database for all of an adapter's
//            connections, kept alive by the adapter's keeper connection)
// Benchmarks (BM_sqlite_* on the file, BM_sqlite_mem_* in memory; the names
// are parsed by bench/sqlite_report.py):
//   *_select1_berth       pool.acquire() + cached prepared SELECT 1 + step +
//                         read + reset + release
//   *_select1_dedicated   the same on one connection per thread that the
//                         thread opened once (no pool at all): the floor
//                         berth's overhead is measured against; in memory,
//                         a second connection that joins the shared database
//                         through the same adapter's connect()
//   *_select1_raw         SQLite's C API alone: a SELECT 1 prepared once on a
//                         connection per thread (the adapter's connect(),
//                         so the same pragmas), then sqlite3_step +
//                         sqlite3_column_int64 + sqlite3_reset: the floor
//                         under *_select1_dedicated, whose difference from
//                         it is the adapter's own cost (statement cache,
//                         checks), as berth's minus dedicated is the pool's
//   *_select1_new_conn    a new connection per query (open with the
//                         adapter's pragmas, prepare, step, close): what a
//                         service without a pool pays; in memory it joins
//                         the database that the keeper connection holds open
//   *_select1_cas_floor   the dedicated handle plus one seq_cst CAS before
//                         and one after each query on a word of the
//                         thread's own: what any pool whose acquire and
//                         release each make one atomic read-modify-write
//                         (berth's fast path, a CAS each) costs at least
//   *_select1_busy_floor  the dedicated handle plus private busy work of
//                         about one pool cycle (BM_busy_work says how long)
//   *_select1_jitter_floor the same busy work on average, but of a random
//                         length each time (0 to twice the argument): what
//                         a cycle whose length varies costs beside SQLite
//   *_select1_nullpool    the dedicated handle plus a cycle on a second pool
//                         of null connections (the pool alone, untied to
//                         the query)
//   *_select1_ownpool     the same with a null pool of each thread's own
//                         (no pool memory shared between threads): with
//                         busy_floor and nullpool, the controls for the
//                         2-thread gap of issue 8
//   *_point_read_*        a small indexed read (SELECT v FROM kv WHERE k =
//                         ?1, 10,000 rows, random keys), berth vs a
//                         dedicated handle
// Thread sweeps use wall-clock time (run_wall_clock.hpp). Release preset only.
#include "null_adapter.hpp"
#include "run_wall_clock.hpp"
#include "sqlite_kv.hpp"
#include "sqlite_select1.hpp"

#include <berth/pool.hpp>
#include <berth/sqlite/adapter.hpp>

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unistd.h>

namespace {

using berth::bench::run_wall_clock;
using berth::sqlite::connection;
using sqlite_pool = berth::pool<berth::sqlite::adapter>;

constexpr std::int64_t table_rows = 10'000;

/// Which database a benchmark runs on.
enum class database : std::uint8_t { file, memory };

/// Creates and fills the kv table through one connection of a.
void fill_table(berth::sqlite::adapter& a) {
  auto c = a.connect().value();
  c.execute("BEGIN");
  berth::bench::fill_kv(c, table_rows);
  c.execute("COMMIT");
  a.close(c);
}

/// One database file for the whole run, created and filled once, removed at
/// exit.
const std::string& database_path() {
  static const std::string path = [] {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("berth-sqlite-bench-" + std::to_string(static_cast<long long>(::getpid())));
    std::filesystem::create_directories(dir);
    std::string p = (dir / "bench.db").string();
    berth::sqlite::adapter a({.path = p});
    fill_table(a);
    std::atexit([] { std::filesystem::remove_all(std::filesystem::path(database_path()).parent_path()); });
    return p;
  }();
  return path;
}

/// The adapter every connection to database D comes from: connect() is safe
/// concurrently (adapter.hpp), and for memory it is what makes a connection
/// join the one shared database. Created (and the table filled) on first use.
template <database D>
berth::sqlite::adapter& shared_adapter() {
  static berth::sqlite::adapter a = [] {
    if constexpr (D == database::file) {
      return berth::sqlite::adapter{{.path = database_path()}};
    } else {
      berth::sqlite::adapter m{{.in_memory = true}};
      fill_table(m);
      return m;
    }
  }();
  return a;
}

/// The pool over database D. A copy of the shared adapter: copies share the
/// in-memory database.
template <database D>
sqlite_pool& shared_pool() {
  static sqlite_pool p{shared_adapter<D>(),
                       {.name = D == database::file ? "sqlite-bench" : "sqlite-mem-bench",
                        .max_size = 8,
                        .min_idle = 8,
                        .validate_on_acquire = false}};
  return p;
}

using berth::bench::select1;

std::size_t point_read(connection& c, std::int64_t key) {
  auto& st = c.prepare("SELECT v FROM kv WHERE k = ?1");
  st.bind(1, key);
  std::size_t n = 0;
  if (st.step()) n = st.get<std::string_view>(0).size();
  st.reset();
  return n;
}

/// One connection to database D per thread, opened once: no pool.
template <database D>
connection& dedicated() {
  thread_local connection c = shared_adapter<D>().connect().value();
  return c;
}

template <database D>
void select1_berth(benchmark::State& state) {
  static run_wall_clock wall;
  sqlite_pool& p = shared_pool<D>();
  wall.arrive();
  for (auto _ : state) {
    auto l = p.acquire();
    if (!l) [[unlikely]] {
      state.SkipWithError("acquire failed");
      break;
    }
    benchmark::DoNotOptimize(select1(**l));
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

template <database D>
void select1_dedicated(benchmark::State& state) {
  static run_wall_clock wall;
  connection& c = dedicated<D>();
  wall.arrive();
  for (auto _ : state) benchmark::DoNotOptimize(select1(c));
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

/// A SELECT 1 prepared once through SQLite's C API, on a connection to
/// database D of this thread's own (not dedicated<D>(): once a connection's
/// native_handle() is out, its prepare() resets and clears every statement
/// it hands out, connection.hpp, which would move the dedicated rows). Null
/// if it cannot be prepared. Finalized at thread exit, before its
/// connection closes.
template <database D>
sqlite3_stmt* raw_select1() {
  thread_local connection c = shared_adapter<D>().connect().value();
  thread_local std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st{[] {
    sqlite3_stmt* s = nullptr;
    (void)sqlite3_prepare_v3(c.native_handle(), "SELECT 1", -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    return s;
  }(), &sqlite3_finalize};
  return st.get();
}

template <database D>
void select1_raw(benchmark::State& state) {
  static run_wall_clock wall;
  sqlite3_stmt* st = raw_select1<D>();
  wall.arrive();
  for (auto _ : state) {
    if (st == nullptr || sqlite3_step(st) != SQLITE_ROW) [[unlikely]] {
      state.SkipWithError("raw SELECT 1 failed");
      break;
    }
    benchmark::DoNotOptimize(sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

/// The dedicated handle with a pool's minimum cost around each query: one
/// seq_cst CAS to acquire and one to release, on a cache line of this
/// thread's own (no sharing, so this is the lower bound of the CASes alone).
template <database D>
void select1_cas_floor(benchmark::State& state) {
  static run_wall_clock wall;
  connection& c = dedicated<D>();
  alignas(128) std::atomic<std::uint32_t> word{0};
  wall.arrive();
  for (auto _ : state) {
    std::uint32_t idle = 0;
    word.compare_exchange_strong(idle, 1, std::memory_order_seq_cst);  // "acquire"
    benchmark::DoNotOptimize(select1(c));
    std::uint32_t leased = 1;
    word.compare_exchange_strong(leased, 0, std::memory_order_seq_cst);  // "release"
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

/// Spins for `n` dependent additions (about n cycles) that touch no shared
/// memory: the control for select1_busy_floor.
void busy_work(std::int64_t n) {
  std::int64_t x = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    x += k;
    benchmark::DoNotOptimize(x);
  }
}

/// The dedicated handle plus state.range(0) iterations of busy_work() after
/// each query: private work of about the pool cycle's length, no atomics and
/// no shared memory. At 2 threads it shows what any extra work between two
/// queries does to contention on SQLite's process-wide mutex (BENCHMARKS.md).
template <database D>
void select1_busy_floor(benchmark::State& state) {
  static run_wall_clock wall;
  connection& c = dedicated<D>();
  const std::int64_t n = state.range(0);
  wall.arrive();
  for (auto _ : state) {
    benchmark::DoNotOptimize(select1(c));
    busy_work(n);
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

/// The dedicated handle plus busy work of a random length after each query,
/// uniform in 0..2 x state.range(0) iterations: on average what
/// select1_busy_floor adds, but never twice the same. At 2 threads it shows
/// that variation in the work between two queries, not only its length,
/// makes the two threads meet on SQLite's process-wide mutex
/// (BENCHMARKS.md, issue 8).
template <database D>
void select1_jitter_floor(benchmark::State& state) {
  static run_wall_clock wall;
  connection& c = dedicated<D>();
  const auto span = static_cast<std::uint_fast32_t>(2 * state.range(0) + 1);
  std::minstd_rand rng(static_cast<std::uint_fast32_t>(state.thread_index() + 1));
  wall.arrive();
  for (auto _ : state) {
    benchmark::DoNotOptimize(select1(c));
    busy_work(static_cast<std::int64_t>(rng() % span));
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

using null_pool = berth::pool<berth::bench::null_adapter>;

/// Which null pool select1_beside_null_pool cycles on.
enum class null_pool_of : std::uint8_t { all_threads, each_thread };

/// The dedicated handle plus a berth pool cycle around each query on a
/// second pool of null connections: the pool's acquire and release without
/// any tie to the SQLite connection. all_threads: one pool the threads
/// share; each_thread: a pool of the thread's own (its own slots, ring, gate
/// and threads: no memory the threads' pool code shares). Beside
/// select1_busy_floor they tell whether a gap at 2 threads comes from the
/// cycle itself or from the work's length (BENCHMARKS.md, issue 8).
template <database D, null_pool_of Which>
void select1_beside_null_pool(benchmark::State& state) {
  static run_wall_clock wall;
  static const berth::pool_options opts{
      .name = "null-beside-sqlite", .max_size = 8, .min_idle = 8, .validate_on_acquire = false};
  null_pool* np;
  if constexpr (Which == null_pool_of::all_threads) {
    static null_pool shared{berth::bench::null_adapter{}, opts};
    np = &shared;
  } else {
    thread_local null_pool own{berth::bench::null_adapter{}, opts};
    np = &own;
  }
  connection& c = dedicated<D>();
  wall.arrive();
  for (auto _ : state) {
    auto l = np->acquire();
    benchmark::DoNotOptimize(select1(c));
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

/// busy_work() alone: what select1_busy_floor adds, in ns.
void BM_busy_work(benchmark::State& state) {
  for (auto _ : state) busy_work(state.range(0));
}

template <database D>
void select1_new_conn(benchmark::State& state) {
  static run_wall_clock wall;
  berth::sqlite::adapter& a = shared_adapter<D>();
  wall.arrive();
  for (auto _ : state) {
    auto c = a.connect();
    if (!c) [[unlikely]] {
      state.SkipWithError("connect failed");
      break;
    }
    benchmark::DoNotOptimize(select1(*c));
    a.close(*c);
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

template <database D>
void point_read_berth(benchmark::State& state) {
  static run_wall_clock wall;
  sqlite_pool& p = shared_pool<D>();
  std::minstd_rand rng(static_cast<std::uint_fast32_t>(state.thread_index() + 1));
  wall.arrive();
  for (auto _ : state) {
    auto l = p.acquire();
    if (!l) [[unlikely]] {
      state.SkipWithError("acquire failed");
      break;
    }
    benchmark::DoNotOptimize(point_read(**l, static_cast<std::int64_t>(rng() % table_rows)));
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

template <database D>
void point_read_dedicated(benchmark::State& state) {
  static run_wall_clock wall;
  connection& c = dedicated<D>();
  std::minstd_rand rng(static_cast<std::uint_fast32_t>(state.thread_index() + 1));
  wall.arrive();
  for (auto _ : state) benchmark::DoNotOptimize(point_read(c, static_cast<std::int64_t>(rng() % table_rows)));
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

// Named wrappers: a benchmark's name is its function's, and the report keys on it.
void BM_sqlite_select1_dedicated(benchmark::State& s) { select1_dedicated<database::file>(s); }
void BM_sqlite_select1_berth(benchmark::State& s) { select1_berth<database::file>(s); }
void BM_sqlite_select1_raw(benchmark::State& s) { select1_raw<database::file>(s); }
void BM_sqlite_select1_new_conn(benchmark::State& s) { select1_new_conn<database::file>(s); }
void BM_sqlite_select1_cas_floor(benchmark::State& s) { select1_cas_floor<database::file>(s); }
void BM_sqlite_select1_busy_floor(benchmark::State& s) { select1_busy_floor<database::file>(s); }
void BM_sqlite_select1_jitter_floor(benchmark::State& s) { select1_jitter_floor<database::file>(s); }
void BM_sqlite_select1_nullpool(benchmark::State& s) {
  select1_beside_null_pool<database::file, null_pool_of::all_threads>(s);
}
void BM_sqlite_select1_ownpool(benchmark::State& s) {
  select1_beside_null_pool<database::file, null_pool_of::each_thread>(s);
}
void BM_sqlite_point_read_dedicated(benchmark::State& s) { point_read_dedicated<database::file>(s); }
void BM_sqlite_point_read_berth(benchmark::State& s) { point_read_berth<database::file>(s); }
void BM_sqlite_mem_select1_dedicated(benchmark::State& s) { select1_dedicated<database::memory>(s); }
void BM_sqlite_mem_select1_berth(benchmark::State& s) { select1_berth<database::memory>(s); }
void BM_sqlite_mem_select1_raw(benchmark::State& s) { select1_raw<database::memory>(s); }
void BM_sqlite_mem_select1_new_conn(benchmark::State& s) { select1_new_conn<database::memory>(s); }
void BM_sqlite_mem_select1_cas_floor(benchmark::State& s) { select1_cas_floor<database::memory>(s); }
void BM_sqlite_mem_point_read_dedicated(benchmark::State& s) { point_read_dedicated<database::memory>(s); }
void BM_sqlite_mem_point_read_berth(benchmark::State& s) { point_read_berth<database::memory>(s); }

BENCHMARK(BM_sqlite_select1_dedicated)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_select1_berth)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_select1_raw)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_select1_new_conn)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_sqlite_select1_cas_floor)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_sqlite_select1_busy_floor)->Arg(10)->Arg(30)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_sqlite_select1_jitter_floor)->Arg(30)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_sqlite_select1_nullpool)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_sqlite_select1_ownpool)->Threads(2)->UseManualTime();
BENCHMARK(BM_busy_work)->Arg(10)->Arg(30);
BENCHMARK(BM_sqlite_point_read_dedicated)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_point_read_berth)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_mem_select1_dedicated)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_mem_select1_berth)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_mem_select1_raw)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_mem_select1_new_conn)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_sqlite_mem_select1_cas_floor)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_sqlite_mem_point_read_dedicated)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_sqlite_mem_point_read_berth)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
