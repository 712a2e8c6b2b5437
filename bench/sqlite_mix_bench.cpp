// sqlite_mix_bench.cpp: SQLite's single-writer limit under 100 threads.
//
// BM_sqlite_database_mix: 100 threads on one berth::sqlite::database (one
// writer connection, 4 read-only readers, WAL file in a temporary directory).
// Each operation is a write (30%: one INSERT in BEGIN IMMEDIATE) or a read
// (70%: a point read of a random key). Reported: operations/s of the whole
// database, reads/s, writes/s, and busy_escapes: SQLITE_BUSY/SQLITE_LOCKED
// (or any other error) that reached the caller, which must be 0.
// Wall-clock time per run (run_wall_clock.hpp). Release preset only.
//
// Live view (live_bench.hpp): both pools (writer, readers) on the status
// line and in --berth_report=FILE.html; with a report asked for, every
// operation is timed (two steady_clock reads beside a transaction of tens
// of microseconds or more) for the latency chart: the whole write() or
// read() call, the wait for its connection included, since the database
// does not show its acquire apart.
#include "live_bench.hpp"
#include "run_wall_clock.hpp"
#include "sqlite_kv.hpp"

#include <berth/sqlite/database.hpp>
#include <berth/sqlite/statement.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>

namespace {

using berth::bench::run_wall_clock;
using berth::sqlite::connection;

constexpr std::int64_t initial_rows = 10'000;

std::filesystem::path mix_dir() {
  return std::filesystem::temp_directory_path() /
         ("berth-sqlite-mix-" + std::to_string(static_cast<long long>(::getpid())));
}

berth::sqlite::database& shared_database() {
  static berth::sqlite::database db{[] {
    std::filesystem::create_directories(mix_dir());
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(mix_dir(), ec);
    });
    return berth::sqlite::database_options{.path = (mix_dir() / "mix.db").string(), .readers = 4};
  }()};
  static const bool filled = [] {
    db.write([](connection& c) { berth::bench::fill_kv(c, initial_rows); });
    return true;
  }();
  (void)filled;
  return db;
}

std::atomic<std::int64_t> next_key{initial_rows};  // relaxed: unique keys only
std::atomic<std::uint64_t> escapes{0};             // relaxed: a counter read after the run

/// One operation: a write (30%) or a point read (70%). False when an error
/// reached the caller (counted in escapes).
bool one_op(berth::sqlite::database& db, std::minstd_rand& rng, std::uint64_t& reads, std::uint64_t& writes) {
  try {
    if (rng() % 10 < 3) {
      const std::int64_t k = next_key.fetch_add(1, std::memory_order_relaxed);
      db.write([k](connection& c) {
        auto& ins = c.prepare("INSERT INTO kv(k, v) VALUES (?1, 'w')");
        ins.bind(1, k);
        (void)ins.step();
        ins.reset();
      });
      ++writes;
      return true;
    }
    const auto key = static_cast<std::int64_t>(rng() % initial_rows);
    const bool found = db.read([key](connection& c) {
      auto& st = c.prepare("SELECT v FROM kv WHERE k = ?1");
      st.bind(1, key);
      const bool f = st.step();
      st.reset();
      return f;
    });
    ++reads;
    return found;
  } catch (...) {  // BUSY/LOCKED or anything else reaching the caller
    escapes.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
}

/// Timed: every operation goes to the report's latency chart (live_bench.hpp).
template <bool Timed>
void mix_loop(benchmark::State& state, berth::sqlite::database& db, std::uint64_t& reads, std::uint64_t& writes) {
  std::minstd_rand rng(static_cast<std::uint_fast32_t>(state.thread_index() * 7919 + 1));
  berth::live::latency_recorder* const lat = berth::bench::live_latency();
  std::uint32_t k = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(
        berth::bench::timed_every<Timed>(lat, 1, k, [&] { return one_op(db, rng, reads, writes); }));
}

void BM_sqlite_database_mix(benchmark::State& state) {
  static run_wall_clock wall;
  berth::sqlite::database& db = shared_database();
  const berth::bench::live_watch watch(state, "BM_sqlite_database_mix",
                                       {berth::live::watch_pool("writer", db.writer_pool()),
                                        berth::live::watch_pool("readers", db.reader_pool())});
  std::uint64_t reads = 0, writes = 0;
  if (state.thread_index() == 0) escapes.store(0, std::memory_order_relaxed);
  wall.arrive();
  if (berth::bench::live_latency() != nullptr)
    mix_loop<true>(state, db, reads, writes);
  else
    mix_loop<false>(state, db, reads, writes);
  wall.depart(state);
  state.SetItemsProcessed(state.iterations());
  state.counters["reads"] = benchmark::Counter(static_cast<double>(reads), benchmark::Counter::kIsRate);
  state.counters["writes"] = benchmark::Counter(static_cast<double>(writes), benchmark::Counter::kIsRate);
  state.counters["busy_escapes"] =
      benchmark::Counter(static_cast<double>(escapes.load(std::memory_order_relaxed)) /
                         static_cast<double>(state.threads()));  // summed over threads: the total
}
BENCHMARK(BM_sqlite_database_mix)->Threads(100)->UseManualTime();

}  // namespace

int main(int argc, char** argv) {
  return berth::bench::live_main(
      argc, argv, {.latency_label = "operation latency (each write() or read() call: its wait for a connection and "
                                    "its transaction)"});
}
