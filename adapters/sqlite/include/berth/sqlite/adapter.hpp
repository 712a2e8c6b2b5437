// adapter.hpp: berth::sqlite::adapter, which lets berth::pool hand out
// SQLite connections.
//
//   berth::pool<berth::sqlite::adapter> pool{
//       berth::sqlite::adapter{{.path = "/var/lib/app/app.db"}}, {.max_size = 8}};
//   pool.with([](berth::sqlite::connection& c) { c.execute("..."); });
#pragma once

#include <berth/adapter.hpp>
#include <berth/result.hpp>
#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/options.hpp>

#include <memory>
#include <string>

namespace berth::sqlite {

/// Satisfies berth::adapter. Never throws from connect/validate/reset/close:
/// failures come back as adapter_error{extended result code in
/// error_category(), message}.
/// Connections are opened with SQLITE_OPEN_NOMUTEX (SQLite's multi-thread
/// mode: no per-connection mutex), which is right because the pool gives a
/// connection to one thread at a time and calls the adapter on it only when
/// no lease holds it, and SQLITE_OPEN_PRIVATECACHE: never SQLite's shared
/// cache, even in a process that enabled it (sqlite3_enable_shared_cache),
/// whose table locks fail at once with SQLITE_LOCKED_SHAREDCACHE where WAL
/// readers would read their snapshot, and which busy_timeout does not wait on.
/// Distinct objects: safe. Shared objects: connect/validate/reset/close are
/// safe concurrently for different connections (the pool's contract);
/// copies share the in-memory database.
class adapter {
 public:
  using connection_type = connection;

  /// Validates `opts` (throws sqlite::options_error, a berth::options_error,
  /// naming the field). For in_memory, generates the database name when
  /// none is given and opens the connection that keeps the database alive
  /// (throws sqlite_error if that fails).
  explicit adapter(options opts);

  /// Opens and configures a connection (see options). Blocks on file I/O.
  result<connection, adapter_error> connect();
  /// Fails if the connection is closed, inherited through fork(), its
  /// database file was removed or replaced (SQLITE_READONLY_DBMOVED naming
  /// the path: connection::file_moved()), its last error was fatal
  /// (is_fatal: IOERR, CORRUPT, NOTADB, CANTOPEN) or a cached "SELECT 1"
  /// fails. Never blocks on locks (SELECT 1 reads no table).
  result<void, adapter_error> validate(connection& c);
  /// Fails for a fatal last error, a fork-inherited connection, a moved
  /// database file (as validate()) and a connection whose session
  /// configuration may have changed (SQLITE_ABORT,
  /// connection::session_may_have_changed(): a PRAGMA given a value,
  /// ATTACH, DETACH, or its native_handle() handed out); otherwise resets
  /// every cached statement and, if a transaction is open, rolls it back
  /// (ROLLBACK). A failure makes the pool close the connection (and open a
  /// configured one when it needs one).
  result<void, adapter_error> reset(connection& c);
  /// On every release (berth::adapter's optional check): a connection left
  /// in a transaction, with a statement mid-result or with its session
  /// configuration possibly changed is reset (or discarded) before reuse.
  /// No I/O. Thread-safety: the releasing thread owns c.
  bool needs_reset(const connection& c) const noexcept { return c.needs_reset(); }
  /// Finalizes the statements and closes the handle. Never throws.
  void close(connection& c) noexcept;

  /// The validated options, with the generated in-memory name filled in.
  const options& opts() const noexcept { return opts_; }
  /// The filename passed to sqlite3_open_v2 (path or the file: URI).
  const std::string& filename() const noexcept { return filename_; }

 private:
  // Immutable after construction.
  options opts_;
  std::string filename_;
  int flags_ = 0;
  std::shared_ptr<const connection> keeper_;  // in_memory: keeps the database alive
};

static_assert(berth::adapter<adapter>);

}  // namespace berth::sqlite
