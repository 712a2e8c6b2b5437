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

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace berth::sqlite {

class database;

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
  /// the path: connection::file_moved()), it ever reported a fatal error
  /// (connection::fatal_error(): IOERR, CORRUPT, NOTADB, CANTOPEN; later
  /// errors do not clear it) or a cached "SELECT 1" fails. Never blocks on
  /// locks (SELECT 1 reads no table).
  result<void, adapter_error> validate(connection& c);
  /// Fails for a fatal error (connection::fatal_error()), a fork-inherited connection, a moved
  /// database file (as validate()) and a connection whose session
  /// configuration may have changed (SQLITE_ABORT,
  /// connection::session_may_have_changed(): a PRAGMA given a value,
  /// ATTACH, DETACH, or its native_handle() handed out); otherwise resets
  /// every cached statement and, if a transaction is open, rolls it back
  /// (ROLLBACK). A failure makes the pool close the connection (and open a
  /// configured one when it needs one).
  result<void, adapter_error> reset(connection& c);
  /// On every release (berth::adapter's optional check): a connection left
  /// in a transaction, with a statement mid-result, with its session
  /// configuration possibly changed or after a fatal error is reset (or
  /// discarded) before reuse.
  /// No I/O. Thread-safety: the releasing thread owns c.
  bool needs_reset(const connection& c) const noexcept { return c.needs_reset(); }
  /// A connection that can write a file database (not read_only, not
  /// in_memory, not after a fatal error, not inherited through fork()) first
  /// runs a PASSIVE WAL checkpoint: it copies what it can into the database
  /// file without waiting for readers or writers and without calling the
  /// busy handler, so a pool closed while another connection (another
  /// process's) keeps the file open leaves its commits in the main file, not
  /// only in the -wal. Then finalizes the statements and closes the handle.
  /// Never throws. Blocks on file I/O (the checkpoint's writes and sync).
  void close(connection& c) noexcept;

  /// The validated options, with the generated in-memory name filled in.
  const options& opts() const noexcept { return opts_; }
  /// The filename passed to sqlite3_open_v2 (path or the file: URI).
  const std::string& filename() const noexcept { return filename_; }

 private:
  friend class database;
  /// What connect() adds for the connections of a berth::sqlite::database
  /// (database.cpp), which hands no such adapter out.
  enum class role : std::uint8_t {
    plain,
    /// After each of opts.pragmas, connect() reads journal_mode (wal for a
    /// file), locking_mode (normal) and query_only (0) back and fails
    /// naming the pragma when one changed.
    database_writer,
    /// As database_writer, query_only 1; then an authorizer refuses every
    /// statement that would write (SQLITE_AUTH naming read()).
    database_reader,
  };
  adapter(options opts, role r);
  /// "sqlite::options.pragmas[i]" (or database_options.): the field a
  /// pragma's error names.
  std::string pragma_field(std::size_t i) const;
  /// Not role::plain: after opts_.pragmas[i] ran, journal_mode (wal;
  /// files only), locking_mode (normal) and query_only (1 on readers, 0 on
  /// the writer) still hold, or the error naming pragmas[i]. Throws
  /// sqlite_error when one cannot be read.
  std::optional<adapter_error> check_database_settings(connection& c, std::size_t i) const;

  // Immutable after construction.
  role role_ = role::plain;
  options opts_;
  std::string filename_;
  int flags_ = 0;
  std::shared_ptr<const connection> keeper_;  // in_memory: keeps the database alive
};

static_assert(berth::adapter<adapter>);

}  // namespace berth::sqlite
