// postgres_bench.cpp: what berth costs on a real PostgreSQL server, on
// loopback and through a local PgBouncer (issue 8's statement cycle, issue 9).
//
// The binary starts its own throwaway server (tests/support/pg_server.hpp:
// initdb into a temporary directory, a free loopback port; stopped and
// deleted at exit). Each iteration is one round trip and its one-row result:
//   BM_pg_select1_dedicated   one connection per thread, opened once: the floor
//   BM_pg_select1_berth       pool.acquire() + the same + release
//   BM_pg_select1_new_conn    a new connection per query (connect with
//                             password authentication, run, close)
// On loopback the query is the prepared statement `SELECT $1::int8` (cached
// per connection by connection::execute(sql, params); a new connection
// prepares it first).
//
// The same three through PgBouncer in transaction pooling mode
// (tests/support/pgbouncer.hpp, started on first use in front of the same
// server, SCRAM logins; skipped with an error naming the package when
// /usr/sbin/pgbouncer is missing):
//   BM_pg_select1_pgbouncer_dedicated, _berth, _new_conn
// Through PgBouncer the query is the same `SELECT $1::int8`, sent with
// statement_mode::unnamed (and the pool's adapter has pooler_mode::transaction,
// the options README recommends there): in transaction mode a client's next
// transaction may run on another server connection, where a named prepared
// statement does not exist (PgBouncer 1.18 cannot track them; that came with
// max_prepared_statements in 1.21). So the loopback and PgBouncer rows also
// differ by protocol (Bind+Execute of a prepared statement against
// Parse+Bind+Execute, parsed and planned on every call, in the same one round
// trip): compare berth with dedicated within a route, and the routes with each
// other only roughly.
// Thread sweeps use wall-clock time (run_wall_clock.hpp). Release preset only.
// bench/postgres_report.py runs this binary and prints one table.
#include "run_wall_clock.hpp"

#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>

#include "support/pg_server.hpp"
#include "support/pgbouncer.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

namespace {

using namespace std::chrono_literals;
using berth::bench::run_wall_clock;
using berth::postgres::connection;
using pg_pool = berth::pool<berth::postgres::adapter>;

/// How the client reaches the server.
enum class route : std::uint8_t { loopback, pgbouncer };

berth::testing::pg_server& server() {
  static berth::testing::pg_server s = berth::testing::pg_server::start();
  return s;
}

/// The PgBouncer in front of server(), or why there is none.
struct bouncer_state {
  std::optional<berth::testing::pgbouncer> bouncer;
  std::string error;  // when !bouncer: the SkipWithError message
};

/// Started on first use (once, even when it fails); stopped at exit before
/// the server, which was constructed first.
const bouncer_state& bouncer() {
  static const bouncer_state s = [] {
    bouncer_state b;
    if (!berth::testing::pgbouncer::available()) {
      b.error = std::string("skipped: ") + berth::testing::pgbouncer::binary +
                " is not installed (Debian package pgbouncer; scripts/deps.sh installs it)";
      return b;
    }
    try {
      b.bouncer.emplace(berth::testing::pgbouncer::start(server()));
    } catch (const std::exception& e) {
      b.error = std::string("pgbouncer did not start: ") + e.what();
    }
    return b;
  }();
  return s;
}

/// True when route R can run; otherwise marks the run skipped, with why.
template <route R>
bool ready(benchmark::State& state) {
  if (R == route::loopback || bouncer().bouncer) return true;
  state.SkipWithError(bouncer().error.c_str());
  return false;
}

/// Where route R connects (after ready<R>()).
template <route R>
std::string conninfo() {
  return R == route::loopback ? server().conninfo() : bouncer().bouncer->conninfo();
}

/// How route R sends statements with parameters, and what the adapter is
/// told sits in front of the server (see the file comment).
template <route R>
constexpr berth::postgres::statement_mode statements =
    R == route::loopback ? berth::postgres::statement_mode::named : berth::postgres::statement_mode::unnamed;
template <route R>
constexpr berth::postgres::pooler_mode pooler =
    R == route::loopback ? berth::postgres::pooler_mode::none : berth::postgres::pooler_mode::transaction;

/// The pool for route R (after ready<R>()).
template <route R>
pg_pool& shared_pool() {
  static pg_pool p{berth::postgres::adapter{
                       {.conninfo = conninfo<R>(), .statements = statements<R>, .pooler = pooler<R>}},
                   {.name = R == route::loopback ? "pg-bench" : "pg-bouncer-bench",
                    .max_size = 8,
                    .min_idle = 8,
                    .validate_on_acquire = false}};
  return p;
}

/// One round trip, 1 on success: named on loopback, unnamed through
/// PgBouncer (the connection's statement_mode; see the file comment).
std::int64_t select1(connection& c) {
  auto r = c.execute("SELECT $1::int8", std::int64_t{1});
  return r ? r->get<std::int64_t>(0, 0) : -1;
}

/// One connection per thread over route R, opened once: no pool.
template <route R>
connection& dedicated() {
  thread_local connection c = connection::open(conninfo<R>(), 5s, statements<R>).value();
  return c;
}

template <route R>
void select1_dedicated(benchmark::State& state) {
  static run_wall_clock wall;
  if (!ready<R>(state)) return;
  connection& c = dedicated<R>();
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

template <route R>
void select1_berth(benchmark::State& state) {
  static run_wall_clock wall;
  if (!ready<R>(state)) return;
  pg_pool& p = shared_pool<R>();
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

/// The pool's share of a pooled round trip, measured inside the loop rather
/// than as the difference of two noisy runs: each iteration reads the
/// steady clock around acquire() and around the lease's release, and around
/// the query. Reports pool_ns (acquire + release per operation, the clock
/// reads' own cost subtracted), query_ns and pool_pct = pool_ns / query_ns
/// (issue 8's target: under 1% on loopback). Single-threaded runs only.
template <route R>
void select1_berth_split(benchmark::State& state) {
  if (!ready<R>(state)) return;
  pg_pool& p = shared_pool<R>();
  using clk = std::chrono::steady_clock;
  // The cost of one clock read, as the timed spans include it.
  const auto c0 = clk::now();
  for (int k = 0; k < 1000; ++k) benchmark::DoNotOptimize(clk::now());
  const double clock_ns = std::chrono::duration<double, std::nano>(clk::now() - c0).count() / 1001.0;
  double pool_ns = 0, query_ns = 0;
  for (auto _ : state) {
    const auto t0 = clk::now();
    auto l = p.acquire();
    const auto t1 = clk::now();
    const bool ok = l && select1(**l) == 1;
    const auto t2 = clk::now();
    if (l) l->release();
    const auto t3 = clk::now();
    if (!ok) [[unlikely]] {
      state.SkipWithError("acquire or query failed");
      break;
    }
    pool_ns += std::chrono::duration<double, std::nano>((t1 - t0) + (t3 - t2)).count() - 2 * clock_ns;
    query_ns += std::chrono::duration<double, std::nano>(t2 - t1).count() - clock_ns;
  }
  const auto n = static_cast<double>(state.iterations());
  state.counters["pool_ns"] = pool_ns / n;
  state.counters["query_ns"] = query_ns / n;
  state.counters["pool_pct"] = 100.0 * pool_ns / query_ns;
  state.counters["clock_ns"] = clock_ns;
}

template <route R>
void select1_new_conn(benchmark::State& state) {
  static run_wall_clock wall;
  if (!ready<R>(state)) return;
  const std::string ci = conninfo<R>();
  wall.arrive();
  for (auto _ : state) {
    auto c = connection::open(ci, 5s, statements<R>);
    if (!c || select1(*c) != 1) [[unlikely]] {
      state.SkipWithError("connect or query failed");
      break;
    }
  }
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
}

// Named wrappers: a benchmark's name is its function's, and bench/postgres_report.py keys on it.
void BM_pg_select1_dedicated(benchmark::State& s) { select1_dedicated<route::loopback>(s); }
void BM_pg_select1_berth(benchmark::State& s) { select1_berth<route::loopback>(s); }
void BM_pg_select1_new_conn(benchmark::State& s) { select1_new_conn<route::loopback>(s); }
void BM_pg_select1_berth_split(benchmark::State& s) { select1_berth_split<route::loopback>(s); }
void BM_pg_select1_pgbouncer_dedicated(benchmark::State& s) { select1_dedicated<route::pgbouncer>(s); }
void BM_pg_select1_pgbouncer_berth(benchmark::State& s) { select1_berth<route::pgbouncer>(s); }
void BM_pg_select1_pgbouncer_new_conn(benchmark::State& s) { select1_new_conn<route::pgbouncer>(s); }

BENCHMARK(BM_pg_select1_dedicated)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_pg_select1_berth)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_pg_select1_new_conn)->Threads(1)->Threads(2)->UseManualTime();
BENCHMARK(BM_pg_select1_berth_split);
BENCHMARK(BM_pg_select1_pgbouncer_dedicated)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_pg_select1_pgbouncer_berth)->Threads(1)->Threads(2)->Threads(8)->UseManualTime();
BENCHMARK(BM_pg_select1_pgbouncer_new_conn)->Threads(1)->Threads(2)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
