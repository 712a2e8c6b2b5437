// sqlite_interleave.cpp: issue 8's overhead (a pooled prepared SELECT 1
// against a dedicated handle) measured inside one process, in blocks that
// alternate every few hundred microseconds.
//
// Why: this VM's speed drifts by 10 to 20% over seconds, so two runs of
// berth_sqlite_bench taken apart (even sqlite_ab.py's paired 0.1 s runs in
// separate processes) leave 95% intervals 10 to 20 points wide around a
// target of 5%. Here every variant runs a block of `--block` queries in
// turn (the order rotating from round to round), on the same warm
// connections and caches, and the overhead is the median over rounds of
// each round's ratio variant / dedicated, with a distribution-free 95%
// interval (order statistics of the binomial). Drift slower than one round
// (a few milliseconds) cancels.
//
// Variants, each on a connection of its own to the same database:
//   dedicated   select1() on a connection opened once (no pool)
//   berth       acquire() from a berth pool of the same adapter, select1(),
//               release (the lease's end)
//   cas_floor   dedicated plus one seq_cst CAS before and one after each
//               query on a word of the thread's own: what any pool whose
//               acquire and release each make one atomic read-modify-write
//               costs at least
//   nullpool    dedicated plus an acquire/release cycle on a pool of null
//               connections: berth's core cycle without the SQLite adapter
//   raw         SQLite's C API alone (sqlite3_step, sqlite3_column_int64,
//               sqlite3_reset on a statement prepared once): the floor
//   held        select1() on a connection of berth's pool, leased once and
//               held (no acquire per query): the pool's connection without
//               the pool's cycle, the control for berth - nullpool
//
// With --threads N, N threads run the same rounds, meeting at a barrier
// between rounds so that they run the same variant at the same time.
//
// Usage: berth_sqlite_interleave [--db file|mem] [--threads N]
//                                [--rounds R] [--block B]
// Release preset (or the user's own flags) only; prints one table.
#include <berth/pool.hpp>
#include <berth/sqlite/adapter.hpp>

#include <sqlite3.h>

#include "null_adapter.hpp"
#include "sqlite_select1.hpp"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using berth::sqlite::connection;
using sqlite_pool = berth::pool<berth::sqlite::adapter>;
using null_pool = berth::pool<berth::bench::null_adapter>;
using clock_type = std::chrono::steady_clock;
using berth::bench::select1;

enum variant { dedicated, berth_pool, cas_floor, nullpool, raw, held, variant_count };
constexpr const char* variant_names[variant_count] = {"dedicated", "berth", "cas_floor", "nullpool", "raw", "held"};

struct config {
  bool memory = false;
  int threads = 1;
  int rounds = 400;
  long block = 1000;
};

[[noreturn]] void usage(const char* argv0, const char* why) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s [--db file|mem] [--threads N (1..64)] [--rounds R (>= 20)] [--block B (>= 1)]\n",
               argv0, why, argv0);
  std::exit(2);
}

config parse(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(argv[0], ("missing value after " + a).c_str());
    const std::string v = argv[++i];
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    const bool number = !v.empty() && *end == '\0';
    if (a == "--db") {
      if (v != "file" && v != "mem") usage(argv[0], "--db takes file or mem");
      c.memory = v == "mem";
    } else if (a == "--threads") {
      if (!number || n < 1 || n > 64) usage(argv[0], "--threads takes 1 to 64");
      c.threads = static_cast<int>(n);
    } else if (a == "--rounds") {
      if (!number || n < 20 || n > 1000000) usage(argv[0], "--rounds takes 20 to 1000000");
      c.rounds = static_cast<int>(n);
    } else if (a == "--block") {
      if (!number || n < 1 || n > 100000000) usage(argv[0], "--block takes 1 to 100000000");
      c.block = n;
    } else {
      usage(argv[0], ("unknown option " + a).c_str());
    }
  }
  return c;
}

/// One thread's connections, statement and private CAS word.
struct worker {
  worker(connection d, connection r, connection s) : ded(std::move(d)), raw_conn(std::move(r)), null_side(std::move(s)) {}
  connection ded;
  connection raw_conn;
  connection null_side;  // the query beside nullpool's cycle
  sqlite3_stmt* raw_stmt = nullptr;
  alignas(128) std::atomic<std::uint32_t> word{0};
  // ns per block: [round][variant]
  std::vector<std::array<double, variant_count>> ns;
};

std::int64_t run_block(variant v, worker& w, sqlite_pool& sp, null_pool& np, long n) {
  std::int64_t sum = 0;
  switch (v) {
    case dedicated:
      for (long i = 0; i < n; ++i) sum += select1(w.ded);
      break;
    case berth_pool:
      for (long i = 0; i < n; ++i) {
        auto l = sp.acquire();
        if (!l) return -1;
        sum += select1(**l);
      }
      break;
    case cas_floor:
      for (long i = 0; i < n; ++i) {
        std::uint32_t idle = 0;
        w.word.compare_exchange_strong(idle, 1, std::memory_order_seq_cst);  // "acquire"; private word
        sum += select1(w.ded);
        std::uint32_t leased = 1;
        w.word.compare_exchange_strong(leased, 0, std::memory_order_seq_cst);  // "release"
      }
      break;
    case nullpool:
      for (long i = 0; i < n; ++i) {
        auto l = np.acquire();
        if (!l) return -1;
        sum += select1(w.null_side);
      }
      break;
    case raw:
      for (long i = 0; i < n; ++i) {
        if (sqlite3_step(w.raw_stmt) != SQLITE_ROW) return -1;
        sum += sqlite3_column_int64(w.raw_stmt, 0);
        sqlite3_reset(w.raw_stmt);
      }
      break;
    case held: {
      auto l = sp.acquire();
      if (!l) return -1;
      for (long i = 0; i < n; ++i) sum += select1(**l);
      break;
    }
    case variant_count:
      break;
  }
  return sum;
}

/// Median and a distribution-free 95% interval of xs (sorted in place):
/// the order statistics whose ranks bound the median with >= 95%
/// confidence (normal approximation of the binomial, fine for n >= 20).
struct summary {
  double median, low, high;
};
summary summarize(std::vector<double>& xs) {
  std::sort(xs.begin(), xs.end());
  const auto n = static_cast<double>(xs.size());
  const double half = 1.96 * std::sqrt(n) / 2;
  const auto lo = static_cast<std::size_t>(std::max(0.0, std::floor(n / 2 - half)));
  const auto hi = static_cast<std::size_t>(std::min(n - 1, std::ceil(n / 2 + half)));
  const std::size_t m = xs.size() / 2;
  const double med = xs.size() % 2 ? xs[m] : (xs[m - 1] + xs[m]) / 2;
  return {med, xs[lo], xs[hi]};
}

}  // namespace

int main(int argc, char** argv) {
  const config cfg = parse(argc, argv);
  std::error_code ec;
  const auto dir =
      std::filesystem::temp_directory_path(ec) / ("berth-sqlite-interleave-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "sqlite_interleave: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  int rc = 0;
  {
    berth::sqlite::adapter a{cfg.memory ? berth::sqlite::options{.in_memory = true}
                                        : berth::sqlite::options{.path = (dir / "interleave.db").string()}};
    const auto size = static_cast<std::uint32_t>(cfg.threads);
    sqlite_pool sp(a, {.name = "sqlite-interleave", .max_size = size, .min_idle = size, .validate_on_acquire = false});
    null_pool np(berth::bench::null_adapter{},
                 {.name = "null-interleave", .max_size = size, .min_idle = size, .validate_on_acquire = false});
    std::vector<std::unique_ptr<worker>> ws;
    for (int t = 0; t < cfg.threads; ++t) {
      auto d = a.connect(), r = a.connect(), s = a.connect();
      if (!d || !r || !s) {
        std::fprintf(stderr, "sqlite_interleave: connect failed: %s\n", (!d ? d.error() : !r ? r.error() : s.error()).message.c_str());
        return 1;
      }
      auto w = std::make_unique<worker>(std::move(*d), std::move(*r), std::move(*s));
      // raw_conn is a connection of its own: after native_handle(), prepare() on it always resets.
      if (sqlite3_prepare_v3(w->raw_conn.native_handle(), "SELECT 1", -1, SQLITE_PREPARE_PERSISTENT, &w->raw_stmt,
                             nullptr) != SQLITE_OK) {
        std::fprintf(stderr, "sqlite_interleave: raw prepare failed\n");
        return 1;
      }
      w->ns.resize(static_cast<std::size_t>(cfg.rounds));
      ws.push_back(std::move(w));
    }
    std::atomic<bool> failed{false};
    std::barrier sync(cfg.threads);
    auto body = [&](worker& w) {
      for (int v = 0; v < variant_count; ++v)  // warm-up: statements cached, pages read, hints set
        if (run_block(static_cast<variant>(v), w, sp, np, cfg.block) != cfg.block)
          failed.store(true, std::memory_order_relaxed);  // read after join
      for (int r = 0; r < cfg.rounds; ++r) {
        for (int k = 0; k < variant_count; ++k) {
          const auto v = static_cast<variant>((r + k) % variant_count);  // the order rotates
          sync.arrive_and_wait();
          const auto t0 = clock_type::now();
          const auto s = run_block(v, w, sp, np, cfg.block);
          const auto t1 = clock_type::now();
          if (s != cfg.block) failed.store(true, std::memory_order_relaxed);  // read after join
          w.ns[static_cast<std::size_t>(r)][v] =
              static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()) /
              static_cast<double>(cfg.block);
        }
      }
    };
    std::vector<std::thread> ts;
    for (int t = 1; t < cfg.threads; ++t) ts.emplace_back(body, std::ref(*ws[static_cast<std::size_t>(t)]));
    body(*ws[0]);
    for (auto& t : ts) t.join();
    if (failed.load(std::memory_order_relaxed)) {  // after join
      std::fprintf(stderr, "sqlite_interleave: a query failed\n");
      rc = 1;
    } else {
      std::printf("%s database, %d thread(s), %d rounds of %ld queries per variant (order rotating)\n",
                  cfg.memory ? "in-memory" : "WAL file", cfg.threads, cfg.rounds, cfg.block);
      // Debian's libsqlite3 is built with SQLITE_ENABLE_UNLOCK_NOTIFY: then every statement that ends
      // outside an explicit transaction takes the library's process-global mutex
      // (sqlite3ConnectionUnlocked, from sqlite3VdbeHalt), and threads on separate connections queue on
      // it; sqlite_report.py explains the two-thread rows with this line.
      std::printf("SQLite %s%s\n", sqlite3_libversion(),
                  sqlite3_compileoption_used("ENABLE_UNLOCK_NOTIFY")
                      ? ", built with SQLITE_ENABLE_UNLOCK_NOTIFY (a process-global mutex per statement end)"
                      : "");
      std::printf("%-10s %12s %28s\n", "variant", "ns/query", "vs dedicated (95% interval)");
      for (int v = 0; v < variant_count; ++v) {
        std::vector<double> abs, rel;
        for (const auto& w : ws)
          for (const auto& r : w->ns) {
            abs.push_back(r[static_cast<std::size_t>(v)]);
            rel.push_back(r[static_cast<std::size_t>(v)] / r[dedicated]);
          }
        const summary s = summarize(abs), q = summarize(rel);
        if (v == dedicated)
          std::printf("%-10s %12.1f %28s\n", variant_names[v], s.median, "-");
        else
          std::printf("%-10s %12.1f %+9.2f%% (%+.2f%% .. %+.2f%%)\n", variant_names[v], s.median,
                      (q.median - 1) * 100, (q.low - 1) * 100, (q.high - 1) * 100);
      }
    }
    for (auto& w : ws) sqlite3_finalize(w->raw_stmt);  // before its connection closes
  }
  std::filesystem::remove_all(dir, ec);
  return rc;
}
