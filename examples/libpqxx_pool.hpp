// libpqxx_pool.hpp: pooling libpqxx's pqxx::connection with
// berth::function_adapter, the example's logic (run by libpqxx_pool.cpp's
// main and by tests/examples/libpqxx_example_test.cpp against a real server).
//
// pqxx::connection is neither copyable nor movable (libpqxx 6: transactions
// and other objects point at it), so the pool holds
// std::unique_ptr<pqxx::connection>. The four callables, and two optional
// ones:
//   connect   std::make_unique<pqxx::connection>(conninfo); its constructor
//             throws pqxx::broken_connection with libpq's message on failure;
//   validate_for  SELECT 1 in a pqxx::nontransaction, under a statement
//             timeout of the time the pool allows (validation_timeout, capped
//             by the acquire's deadline): it bounds a server that stalls. A
//             peer that goes silent is bounded only by the socket: libpq's
//             tcp_user_timeout and keepalives conninfo parameters (libpqxx
//             6's calls block), so put them in a production conninfo;
//   reset     nothing (see below);
//   close     nothing: the pool destroys the unique_ptr right after close(),
//             and ~connection closes the session;
//   redact    berth::postgres::redact_conninfo_message: libpq echoes parts
//             of a malformed conninfo in its message (a URI's password, a
//             token after a bad quote), which the pool would otherwise keep
//             in its start-up error, creation errors and events.
//
// Why reset has nothing to do: libpqxx lets a connection have at most one
// open transaction object at a time, and a dbtransaction (pqxx::work,
// read_transaction, ...) that is destroyed without commit() aborts: its
// destructor sends ROLLBACK (libpqxx's dbtransaction.hxx: "If you do
// neither, an implicit abort() is executed at destruction time").
// Transactions live inside pool.with() or a lease's scope, so they are
// destroyed, and rolled back unless committed, before the lease returns the
// connection, whether the scope ends normally or by an exception. The only
// way to leave a server-side transaction open is to send BEGIN yourself
// through a nontransaction; don't (or make reset run ROLLBACK, which costs a
// round trip on every unwound lease and a server WARNING when nothing is
// open). There is no query to cancel either: libpqxx 6's exec() calls are
// synchronous, so none is in flight when a lease ends. (function_adapter's
// optional needs_reset callable could flag such a connection; a libpqxx 6
// connection exposes no cheap "transaction open" status to check, so this
// example sets none, and the pool calls reset only for leases released
// during stack unwinding.)
//
// libpqxx 6 also restores a broken connection by itself outside a
// transaction ("reactivation", connection_base.hxx), so validate can pass on
// a fresh session: session state (SET, temporary tables) would be gone. This
// example keeps none; code that does can call c->inhibit_reactivation(true)
// (deprecated in libpqxx 6.4) in connect, so a broken connection fails
// validate and the pool replaces it.
//
// Thread-safety: run_example() uses the table berth_libpqxx_example, which
// it drops and recreates: one run at a time per database.
#pragma once

#include <berth/function_adapter.hpp>
#include <berth/pool.hpp>
#include <berth/postgres/error.hpp>  // redact_conninfo_message

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace berth_examples::libpqxx {

using connection_ptr = std::unique_ptr<pqxx::connection>;
using pg_pool = berth::pool<berth::function_adapter<connection_ptr>>;

/// The callables for a conninfo string ("host=... dbname=... user=...").
inline berth::function_adapter<connection_ptr>::callables callables_for(std::string conninfo) {
  return {
      .connect = [conninfo] { return std::make_unique<pqxx::connection>(conninfo); },
      .validate_for =
          [](connection_ptr& c, std::chrono::milliseconds budget) {
            // One round trip, the bound local to its own transaction, so
            // that a session's own statement_timeout (a lessee's SET) stays.
            const long long ms = std::clamp<long long>(budget.count(), 1, INT_MAX);
            pqxx::nontransaction tx(*c);
            tx.exec("BEGIN; SET LOCAL statement_timeout = " + std::to_string(ms) + "; SELECT 1; COMMIT");
            return true;  // a throw (timeout, broken connection) is a failure: the pool closes it
          },
      .reset = [](connection_ptr&) {},  // see the file comment: libpqxx already rolled back
      .close = [](connection_ptr&) {},  // ~connection closes the session
      .redact = [conninfo](std::string_view text) { return berth::postgres::redact_conninfo_message(text, conninfo); },
  };
}

/// Thrown to abandon a transaction on purpose; not a std::exception, so no
/// real error is mistaken for it.
struct abandoned {};

/// What run_example() did.
struct outcome {
  std::int64_t expected = 0;     ///< rows committed by the writers
  std::int64_t counted = 0;      ///< SELECT count(*) at the end
  std::int64_t rolled_back = 0;  ///< transactions abandoned by a throw (libpqxx rolled them back)
  bool reads_consistent = true;  ///< every count a worker read was possible (see run_example)
  berth::pool_stats stats;       ///< the pool's statistics at the end
  bool ok() const noexcept { return counted == expected && reads_consistent; }
};

/// Recreates table berth_libpqxx_example, then `threads` threads each commit
/// `rows_per_thread` rows through a pool of `max_size` connections (fewer
/// connections than threads, so some acquires wait), count the table every
/// 16 rows, and every 8th thread's every 25th row abandons a pqxx::work by
/// throwing (its destructor rolls back). Prints the count and the pool's
/// statistics to out, then drops the table. Throws on setup failure.
inline outcome run_example(const std::string& conninfo, std::ostream& out, int threads = 8,
                           int rows_per_thread = 100, std::size_t max_size = 4) {
  berth::pool_options opts;
  opts.name = "libpqxx";
  opts.max_size = max_size;
  opts.min_idle = 1;
  pg_pool pool{berth::function_adapter<connection_ptr>{callables_for(conninfo)}, opts};

  pool.with([](connection_ptr& c) {
    pqxx::work tx(*c);
    tx.exec0("DROP TABLE IF EXISTS berth_libpqxx_example");
    tx.exec0("CREATE TABLE berth_libpqxx_example (thread integer NOT NULL, seq integer NOT NULL, "
             "PRIMARY KEY (thread, seq))");
    tx.commit();
  });

  const auto count = [](connection_ptr& c) {
    pqxx::read_transaction tx(*c);
    return tx.exec1("SELECT count(*) FROM berth_libpqxx_example")[0].as<std::int64_t>();
  };

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
              pool.with([&](connection_ptr& c) {
                pqxx::work tx(*c);
                tx.exec_params0("INSERT INTO berth_libpqxx_example (thread, seq) VALUES ($1, $2)", t, -1 - i);
                throw abandoned{};  // never committed: would break the count
              });
            } catch (const abandoned&) {
              rolled_back.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
            }
          }
          pool.with([&](connection_ptr& c) {
            pqxx::work tx(*c);
            tx.exec_params0("INSERT INTO berth_libpqxx_example (thread, seq) VALUES ($1, $2)", t, i);
            tx.commit();
          });
          if (i % 16 == 15) {
            const std::int64_t n = pool.with(count);
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
  r.counted = pool.with(count);
  r.reads_consistent = !read_failed.load(std::memory_order_relaxed);
  r.rolled_back = rolled_back.load(std::memory_order_relaxed);
  pool.with([](connection_ptr& c) {
    pqxx::work tx(*c);
    tx.exec0("DROP TABLE berth_libpqxx_example");
    tx.commit();
  });
  r.stats = pool.stats();
  const auto& s = r.stats;
  out << "libpqxx: " << r.counted << " rows (expected " << r.expected << "), " << r.rolled_back
      << " abandoned transactions rolled back, reads " << (r.reads_consistent ? "consistent" : "INCONSISTENT")
      << "\n"
      << "pool stats: " << s.counts.to_string() << "; created=" << s.created << " destroyed=" << s.destroyed
      << " acquired=" << s.acquired << " acquired_after_wait=" << s.acquired_after_wait
      << " unwound=" << s.unwound << " timeouts=" << s.timeouts << " wait p50=" << s.wait.p50.count()
      << " ns p99=" << s.wait.p99.count() << " ns max=" << s.wait.max.count() << " ns\n";
  return r;
}

}  // namespace berth_examples::libpqxx
