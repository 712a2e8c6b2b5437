// database.hpp: berth::sqlite::database, SQLite's single-writer rule as a
// design: one writer connection (a berth pool of max_size 1) and a pool of
// read-only readers.
//
//   berth::sqlite::database db({.path = "/var/lib/app/app.db", .readers = 4});
//   db.write([](berth::sqlite::connection& c) { c.execute("INSERT ..."); });
//   auto n = db.read([](berth::sqlite::connection& c) { return count(c); });
//
// The shape is GRDB's DatabasePool (one writer, N readers, WAL) and the
// single-writer pools sqlx users converged on; the code is berth's own.
//
// Why it holds its promise (no SQLITE_BUSY/LOCKED from another connection
// or process reaches the caller while the deadline allows, no lost write,
// readers see committed data only; a plain SQLITE_LOCKED, fn's conflict with
// its own connection, is not contention and fails at once):
// - Writers queue FIFO in the writer pool's waiter queue (berth), never in
//   SQLite's sleeping busy handler: at most one connection of this object
//   ever asks for the write lock.
// - Files use WAL: readers take no lock the writer waits on, the writer
//   takes none readers wait on. Only another process (or another object on
//   the same file) can make BEGIN IMMEDIATE wait; busy_timeout waits for
//   it, capped by the caller's deadline, and write() restarts the whole
//   transaction on any BUSY/LOCKED left over (SQLITE_BUSY_SNAPSHOT included,
//   which busy_timeout does not retry) until the deadline passes.
// - In-memory databases use the adapter's memdb form: whole-database locks
//   reported as SQLITE_BUSY (busy_timeout applies). Readers are query_only
//   and never ask for more than a shared lock, so the writer's commit waits
//   only for readers to finish: no deadlock, no LOCKED. Without WAL, reads
//   and writes do wait for each other there: a write transaction, from its
//   BEGIN IMMEDIATE (memdb's write lock refuses new shared locks) to its
//   end, keeps new reads out, whether or not it writes, and a commit waits
//   for the reads running. A wait that outlasts the caller's deadline fails saying
//   which.
#pragma once

#include <berth/pool.hpp>
#include <berth/registry.hpp>
#include <berth/sqlite/adapter.hpp>
#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/retry.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace berth::sqlite {

/// Configuration of a database. A plain struct, validated once by the
/// constructor (throws berth::options_error naming the field, what()
/// "berth: invalid sqlite::database_options.<field>: <why>") and copied;
/// never re-read. Exactly one of `path` and `in_memory` selects the database.
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct database_options {
  /// Database file path (created if missing). Opened in WAL mode with
  /// synchronous=NORMAL on every connection (readers too). Default empty;
  /// required unless in_memory.
  std::string path{};
  /// An in-memory database (memdb) private to this object unless `name`
  /// is given. Lost when the database object is destroyed. Default false.
  bool in_memory = false;
  /// In-memory only: name shared with other adapters/databases of the
  /// process that use it. Default empty (a unique name). [A-Za-z0-9._-], <= 64.
  std::string name{};
  /// Reader connections (SQLITE_OPEN_READONLY for files, PRAGMA query_only=1
  /// on all, and an authorizer that refuses every statement that would
  /// write: see read()). Default 4. Range 1..1024.
  std::size_t readers = 4;
  /// SQLite's busy_timeout on every connection, readers too. Inside read()
  /// and write() a busy handler of their own replaces it on purpose (it
  /// waits as busy_timeout does, but never past the call's deadline), so
  /// `PRAGMA busy_timeout` read inside fn says 0; the configured value comes
  /// back before the connection returns to its pool. Default 5 s. Range
  /// [0, 2147483647 ms].
  std::chrono::milliseconds busy_timeout{5'000};
  /// Deadline of read()/write() called without one: bounds waiting for a
  /// connection, for locks and restarts. Default 30 s. Must be > 0.
  std::chrono::milliseconds default_timeout{30'000};
  /// PRAGMA foreign_keys on every connection. Default true.
  bool foreign_keys = true;
  /// Extra "PRAGMA <entry>" run on every connection (readers too, so only
  /// pragmas a read-only connection accepts). Default none. Each non-empty,
  /// no ';', a pragma this SQLite knows (sqlite::options.pragmas), and not
  /// journal_mode, locking_mode or query_only (the database sets those
  /// itself: WAL, shared locking, read-only readers): the plain spellings
  /// are refused here; any spelling that changes one of the three fails
  /// the connect (and so the constructor), naming `pragmas[i]`, as does a
  /// pragma SQLite refuses.
  std::vector<std::string> pragmas{};
  /// Prefix of the two pools' names ("<pool_name>.writer", ".readers"), as
  /// they appear in acquire errors. Default "sqlite". Non-empty.
  std::string pool_name = "sqlite";
  /// Receives both pools' events (see berth::pool_options::on_event).
  /// Default none.
  std::function<void(const pool_event&)> on_event{};
};

/// The first invalid field of `o`, or nullopt. Thread-safe.
std::optional<berth::options_error> validate(const database_options& o);

/// One writer connection and a pool of read-only readers on one SQLite
/// database. See the file comment for the design.
/// Distinct objects: safe. Shared objects: read, write and close are safe
/// from any thread; destruction is not (no read or write may be running).
class database {
 public:
  using clock = std::chrono::steady_clock;

  /// Validates `opts`, opens the writer (creates the file, turns WAL on),
  /// then the readers. Throws berth::options_error for a bad field, or
  /// std::system_error (errc::startup_failed) with SQLite's message when a
  /// connection cannot be opened.
  explicit database(database_options opts);
  database(const database&) = delete;
  database& operator=(const database&) = delete;
  /// close(). Never throws.
  ~database();

  /// Runs fn(connection&) on the writer inside BEGIN IMMEDIATE, commits and
  /// returns fn's result; if fn throws, rolls back and rethrows. On
  /// SQLITE_BUSY/LOCKED_* (another process holds the lock; BUSY_SNAPSHOT)
  /// the transaction is rolled back and fn called again, with backoff, until
  /// `deadline`: fn may run more than once, only its last run's database
  /// effects commit (keep other side effects out of it, or idempotent).
  /// Throws berth::acquire_exception when the writer is not free by the
  /// deadline, sqlite_error (retryable, naming the lock and the path) when
  /// the lock is not, sqlite_error SQLITE_LOCKED (not retryable, at fn's
  /// first run, saying so) when fn conflicted with its own connection (a
  /// checkpoint inside its transaction, a DROP while its own statement
  /// reads the table), which no re-run ends, sqlite_error
  /// SQLITE_READONLY_DBMOVED naming the file when the database file was removed or replaced since the writer opened
  /// it (fn does not run, nothing commits, and every connection is replaced
  /// so the next call opens the file now at the path), and whatever fn
  /// throws. Thread-safe. Blocks.
  template <class F>
  std::invoke_result_t<F&, connection&> write_until(clock::time_point deadline, F&& fn) {
    return run(role::writer, deadline, fn);
  }
  /// write_until(now + timeout, fn). Thread-safe. Blocks.
  template <class F>
  std::invoke_result_t<F&, connection&> write_for(std::chrono::milliseconds timeout, F&& fn) {
    return run(role::writer, deadline_after(timeout), fn);
  }
  /// write_for(options().default_timeout, fn). Thread-safe. Blocks.
  template <class F>
  std::invoke_result_t<F&, connection&> write(F&& fn) {
    return run(role::writer, deadline_after(opts_.default_timeout), fn);
  }

  /// Runs fn(connection&) on a reader inside a read transaction
  /// (BEGIN DEFERRED: one snapshot from fn's first read to its end) and
  /// returns fn's result. A statement in fn that would write fails when
  /// prepared with sqlite_error SQLITE_AUTH saying that this is a reader of
  /// a berth::sqlite::database and writes go through write(): INSERT,
  /// UPDATE, DELETE (temp tables too), CREATE, DROP, ALTER, REINDEX,
  /// ANALYZE, ATTACH, DETACH, and a PRAGMA given a value other than one
  /// naming what to inspect (table_info(t), ...; PRAGMA query_only=0 among
  /// the refused). Reads, functions, recursive CTEs, savepoints and pragma
  /// reads pass. What the authorizer lets through and still writes fails
  /// with SQLITE_READONLY, also saying so. BUSY/LOCKED (on a
  /// file, only from another process's recovery; in memory, while a write
  /// transaction, this object's included, has begun and not ended)
  /// restarts fn until the deadline, as in write(); a plain SQLITE_LOCKED
  /// (fn's conflict with its own connection) fails at once, as in write().
  /// Throws berth::acquire_exception when no reader is free by the deadline.
  /// Thread-safe. Blocks.
  template <class F>
  std::invoke_result_t<F&, connection&> read_until(clock::time_point deadline, F&& fn) {
    return run(role::reader, deadline, fn);
  }
  /// read_until(now + timeout, fn). Thread-safe. Blocks.
  template <class F>
  std::invoke_result_t<F&, connection&> read_for(std::chrono::milliseconds timeout, F&& fn) {
    return run(role::reader, deadline_after(timeout), fn);
  }
  /// read_for(options().default_timeout, fn). Thread-safe. Blocks.
  template <class F>
  std::invoke_result_t<F&, connection&> read(F&& fn) {
    return run(role::reader, deadline_after(opts_.default_timeout), fn);
  }

  /// Closes the readers, then (files) checkpoints the WAL into the database
  /// file with PRAGMA wal_checkpoint(TRUNCATE) on the writer, then closes the
  /// writer. Later read/write calls fail with acquire_exception
  /// (errc::pool_closed). Waits up to default_timeout for running calls.
  /// Idempotent. Never throws (a failed checkpoint leaves the WAL, which the
  /// next open replays). Thread-safe. Blocks.
  void close() noexcept;

  /// The validated options (with the generated in-memory name). Never blocks.
  const database_options& options() const noexcept { return opts_; }
  /// The writer and reader pools, for stats(). Thread-safe.
  const berth::pool<adapter>& writer_pool() const noexcept { return writer_; }
  const berth::pool<adapter>& reader_pool() const noexcept { return readers_; }

 private:
  enum class role : std::uint8_t { writer, reader };

  static clock::time_point deadline_after(std::chrono::milliseconds timeout) noexcept;

  template <class F>
  std::invoke_result_t<F&, connection&> run(role r, clock::time_point deadline, F& fn) {
    return detail::with_body(fn, [&](detail::body_ref body) { run_erased(r, deadline, body); });
  }

  /// sqlite::detail::run_transaction_erased (berth::run_with_retry) until
  /// the deadline; its give-up and read-only errors reworded to name this
  /// database; see write_until/read_until.
  void run_erased(role r, clock::time_point deadline, detail::body_ref body);
  /// Why a read or write gave up at its deadline on BUSY/LOCKED_*, or
  /// failed at once on a plain SQLITE_LOCKED, for its error: the lock that
  /// the statement which failed last (e.sql(): BEGIN, COMMIT or one of
  /// fn's) waited for, read from it and its extended code.
  std::string busy_cause(role r, const sqlite_error& e) const;
  /// A write found its file removed or replaced (connection::file_moved):
  /// evicts every connection and throws SQLITE_READONLY_DBMOVED naming the
  /// file. Thread-safe.
  [[noreturn]] void file_moved_under_writer();

  // Immutable after construction.
  database_options opts_;
  // The pools are thread-safe; the writer is declared first so it is
  // destroyed last (readers of a file must not outlive the WAL's owner).
  berth::pool<adapter> writer_;
  berth::pool<adapter> readers_;
  // Guarded by being idempotent: close() runs its steps at most once.
  std::once_flag closed_;
};

}  // namespace berth::sqlite

/// A database in a berth::registry: its pools are reported as
/// "<name>/writer" and "<name>/readers"; close_all() runs close(), which
/// waits up to default_timeout for running calls and checkpoints the WAL.
template <>
struct berth::registry_traits<berth::sqlite::database> {
  static void close(berth::sqlite::database& d) noexcept { d.close(); }
  /// close() has waited already (idempotent).
  static void drain(berth::sqlite::database& d, std::chrono::nanoseconds) noexcept { d.close(); }
  static void stats(const berth::sqlite::database& d, const std::string& name, stats_by_name& out) {
    out.insert_or_assign(name + "/writer", d.writer_pool().stats());
    out.insert_or_assign(name + "/readers", d.reader_pool().stats());
  }
};
