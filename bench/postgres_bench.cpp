// postgres_bench.cpp: what berth costs on a real PostgreSQL server on
// loopback (issue 8's statement cycle).
//
// The binary starts its own throwaway server (tests/support/pg_server.hpp:
// initdb into a temporary directory, a free loopback port; stopped and
// deleted at exit). Each iteration is one round trip: the prepared statement
// `SELECT $1::int8` (cached per connection) and its one-row result:
//   BM_pg_select1_dedicated   one connection per thread, opened once: the floor
//   BM_pg_select1_berth       pool.acquire() + the same + release
//   BM_pg_select1_new_conn    a new connection per query (connect with
//                             password authentication, prepare, run, close)
// Thread sweeps use wall-clock time (run_wall_clock.hpp). Release preset only.
#include "run_wall_clock.hpp"

#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>

#include "support/pg_server.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace {

using namespace std::chrono_literals;
using berth::bench::run_wall_clock;
using berth::postgres::connection;
using pg_pool = berth::pool<berth::postgres::adapter>;

berth::testing::pg_server& server() {
  static berth::testing::pg_server s = berth::testing::pg_server::start();
  return s;
}

pg_pool& shared_pool() {
  static pg_pool p{berth::postgres::adapter{{.conninfo = server().conninfo()}},
                   {.name = "pg-bench", .max_size = 8, .min_idle = 8, .validate_on_acquire = false}};
  return p;
}

std::int64_t select1(connection& c) {
  auto r = c.execute("SELECT $1::int8", std::int64_t{1});
  return r ? r->get<std::int64_t>(0, 0) : -1;
}

connection& dedicated() {
  thread_local connection c = connection::open(server().conninfo(), 5s).value();
  return c;
}

void BM_pg_select1_dedicated(benchmark::State& state) {
  static run_wall_clock wall;
  connection& c = dedicated();
  wall.arrive();
  for (auto _ : state) {
    if (select1(c) != 1) [[unlikely]] {
      state.SkipWithError("query failed");
      break;
    }
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

void BM_pg_select1_berth(benchmark::State& state) {
  static run_wall_clock wall;
  pg_pool& p = shared_pool();
  wall.arrive();
  for (auto _ : state) {
    auto l = p.acquire();
    if (!l || select1(**l) != 1) [[unlikely]] {
      state.SkipWithError("acquire or query failed");
      break;
    }
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

void BM_pg_select1_new_conn(benchmark::State& state) {
  static run_wall_clock wall;
  const std::string ci = server().conninfo();
  wall.arrive();
  for (auto _ : state) {
    auto c = connection::open(ci, 5s);
    if (!c || select1(*c) != 1) [[unlikely]] {
      state.SkipWithError("connect or query failed");
      break;
    }
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_pg_select1_dedicated)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_pg_select1_berth)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_pg_select1_new_conn)->Threads(1)->Threads(2)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
