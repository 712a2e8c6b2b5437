// sqlitecpp_pool.hpp: pooling SQLiteCpp's SQLite::Database with
// berth::function_adapter, the example's logic (run by sqlitecpp_pool.cpp's
// main and by CTest).
//
// The four callables:
//   connect   opens <dir>/example.db read-write (created if missing) with a
//             5 s busy timeout, in WAL mode with synchronous=NORMAL;
//   validate  SELECT 1;
//   reset     ROLLBACK if a transaction is still open
//             (sqlite3_get_autocommit() == 0 on db.getHandle());
//   close     nothing: the pool destroys the Database right after close(),
//             and ~Database closes the handle;
//   and the optional fifth, needs_reset: a transaction still open
//             (sqlite3_get_autocommit() == 0), checked at every release.
//
// SQLite::Database is nothrow-movable (a std::unique_ptr to the sqlite3
// handle and a std::string), so the pool stores it by value; the
// static_assert below keeps that true.
//
// When does the pool call reset? On every release that needs_reset flags (a
// transaction left open, whether the lease ended normally or by an
// exception), and for every lease released during stack unwinding
// (pool_options::on_unwind = reset). One writer in eight deliberately opens a
// raw BEGIN and throws, to show reset at work.
//
// Thread-safety: run_example() may be called from one thread at a time per
// directory (it recreates the table).
#pragma once

#include <berth/function_adapter.hpp>
#include <berth/pool.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace berth_examples::sqlitecpp {

static_assert(std::is_nothrow_move_constructible_v<SQLite::Database>,
              "SQLite::Database must be nothrow-movable to be pooled by value; "
              "otherwise pool std::unique_ptr<SQLite::Database>");

using db_pool = berth::pool<berth::function_adapter<SQLite::Database>>;

/// The callables for a database file at path.
inline berth::function_adapter<SQLite::Database>::callables callables_for(std::string path) {
  return {
      .connect =
          [path = std::move(path)] {
            SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, /*busy timeout ms*/ 5000);
            if (db.execAndGet("PRAGMA journal_mode=WAL").getString() != "wal")
              throw std::runtime_error("could not switch " + path + " to WAL");
            db.exec("PRAGMA synchronous=NORMAL");
            return db;
          },
      .validate = [](SQLite::Database& db) { return db.execAndGet("SELECT 1").getInt() == 1; },
      .reset =
          [](SQLite::Database& db) {
            if (sqlite3_get_autocommit(db.getHandle()) == 0) db.exec("ROLLBACK");
          },
      .close = [](SQLite::Database&) {},  // ~Database closes the handle
      .needs_reset = [](const SQLite::Database& db) { return sqlite3_get_autocommit(db.getHandle()) == 0; },
  };
}

/// Thrown to abandon a transaction on purpose; not a std::exception, so no
/// real error is mistaken for it.
struct abandoned {};

/// What run_example() did.
struct outcome {
  std::int64_t expected = 0;     ///< rows committed by the writers
  std::int64_t counted = 0;      ///< SELECT count(*) at the end
  std::int64_t rolled_back = 0;  ///< transactions abandoned by a throw (reset rolled them back)
  bool reads_consistent = true;  ///< every count a worker read was possible (see run_example)
  berth::pool_stats stats;       ///< the pool's statistics at the end
  bool ok() const noexcept { return counted == expected && reads_consistent; }
};

/// Recreates table `events` in <dir>/example.db, then `threads` threads each
/// commit `rows_per_thread` rows through a pool of `max_size` connections
/// (fewer connections than threads, so some acquires wait), count the table
/// every 16 rows, and every 8th thread's every 25th row abandons a raw
/// BEGIN by throwing (reset rolls it back). Prints the count and the pool's
/// statistics to out. Throws on setup failure.
inline outcome run_example(const std::filesystem::path& dir, std::ostream& out, int threads = 8,
                           int rows_per_thread = 200, std::size_t max_size = 4) {
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "example.db").string();
  berth::pool_options opts;
  opts.name = "sqlitecpp";
  opts.max_size = max_size;
  opts.min_idle = 1;
  db_pool pool{berth::function_adapter<SQLite::Database>{callables_for(path)}, opts};

  pool.with([](SQLite::Database& db) {
    db.exec("DROP TABLE IF EXISTS events");
    db.exec("CREATE TABLE events (thread INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (thread, seq))");
  });

  std::atomic<std::int64_t> rolled_back{0};
  std::atomic<bool> read_failed{false};
  std::mutex error_mutex;
  std::string first_error;  // guarded by error_mutex: a worker's exception, rethrown after join
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        std::int64_t last_seen = 0;
        for (int i = 0; i < rows_per_thread; ++i) {
          if (t % 8 == 7 && i % 25 == 0) {
            try {
              pool.with([&](SQLite::Database& db) {
                db.exec("BEGIN IMMEDIATE");  // raw, no guard: only the pool's reset ends it
                SQLite::Statement ins(db, "INSERT INTO events (thread, seq) VALUES (?, ?)");
                ins.bind(1, t);
                ins.bind(2, -1 - i);  // never committed: would break the count
                ins.exec();
                throw abandoned{};
              });
            } catch (const abandoned&) {
              rolled_back.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
            }
          }
          pool.with([&](SQLite::Database& db) {
            SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);  // rolls back unless committed
            SQLite::Statement ins(db, "INSERT INTO events (thread, seq) VALUES (?, ?)");
            ins.bind(1, t);
            ins.bind(2, i);
            ins.exec();
            tx.commit();
          });
          if (i % 16 == 15) {
            const std::int64_t n = pool.with(
                [](SQLite::Database& db) { return db.execAndGet("SELECT count(*) FROM events").getInt64(); });
            // This thread's own rows are committed, and counts never go down.
            if (n < i + 1 || n < last_seen) read_failed.store(true, std::memory_order_relaxed);
            last_seen = n;
          }
        }
      } catch (const std::exception& e) {
        const std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = "worker " + std::to_string(t) + ": " + e.what();
      }
    });
  }
  for (auto& w : workers) w.join();
  if (!first_error.empty()) throw std::runtime_error(first_error);

  outcome r;
  r.expected = static_cast<std::int64_t>(threads) * rows_per_thread;
  r.counted = pool.with(
      [](SQLite::Database& db) { return db.execAndGet("SELECT count(*) FROM events").getInt64(); });
  r.reads_consistent = !read_failed.load(std::memory_order_relaxed);
  r.rolled_back = rolled_back.load(std::memory_order_relaxed);
  r.stats = pool.stats();
  const auto& s = r.stats;
  out << "sqlitecpp: " << r.counted << " rows (expected " << r.expected << "), " << r.rolled_back
      << " abandoned transactions rolled back by reset, reads "
      << (r.reads_consistent ? "consistent" : "INCONSISTENT") << "\n"
      << "pool stats: " << s.counts.to_string() << "; created=" << s.created << " destroyed=" << s.destroyed
      << " acquired=" << s.acquired << " acquired_after_wait=" << s.acquired_after_wait
      << " unwound=" << s.unwound << " timeouts=" << s.timeouts << " wait p50=" << s.wait.p50.count()
      << " ns p99=" << s.wait.p99.count() << " ns max=" << s.wait.max.count() << " ns\n";
  return r;
}

}  // namespace berth_examples::sqlitecpp
