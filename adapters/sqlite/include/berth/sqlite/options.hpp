// options.hpp: how the SQLite adapter opens and configures connections.
#pragma once

#include <berth/options.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace berth::sqlite {

/// A plain struct: set fields and pass it to berth::sqlite::adapter, which
/// validates it once (throwing options_error naming the field) and copies
/// it; it is never re-read. Exactly one of `path` and `in_memory` selects
/// the database. Every connection gets, in order: busy_timeout, then (files,
/// when `wal`) journal_mode=WAL (unless read_only) and synchronous=NORMAL,
/// foreign_keys, query_only (read_only), then `pragmas`.
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct options {
  /// Database file path, never read as a URI (not even "file:app.db?mode=ro",
  /// which names that file). Created if missing unless read_only.
  /// Default empty. Required (non-empty) unless in_memory; must be empty
  /// when in_memory. Never ":memory:" (SQLite's private in-memory name: one
  /// empty database per connection; in_memory is the pool's shared one) and
  /// never with a NUL byte.
  std::string path{};
  /// Use an in-memory database shared by all of the adapter's connections
  /// (SQLite's memdb VFS: URI file:/<name>?vfs=memdb). Default false.
  /// The adapter keeps one extra connection open for its lifetime, so the
  /// data survives the pool closing all of its connections; it is lost when
  /// the adapter (and every copy of it) is destroyed. memdb locks the whole
  /// database like a rollback-journal file (one writer; no new reader while
  /// a write transaction is open) and reports contention as SQLITE_BUSY,
  /// which busy_timeout waits on. No WAL.
  bool in_memory = false;
  /// Name of the in-memory database. Default empty: a name unique to the
  /// adapter instance is generated, so two adapters (two pools) never share
  /// data; copies of one adapter share it. Adapters given the same name in
  /// one process share one database. Only with in_memory; characters
  /// [A-Za-z0-9._-], at most 64.
  std::string name{};
  /// How long a statement waits for a lock held by another connection
  /// before failing with SQLITE_BUSY (sqlite3_busy_timeout). Default 5 s.
  /// Range [0, 2147483647 ms]; 0 fails at once.
  std::chrono::milliseconds busy_timeout{5'000};
  /// journal_mode=WAL (readers do not block the writer) plus
  /// synchronous=NORMAL (durable across application crashes; the last
  /// transactions may roll back on power loss), for file databases; connect
  /// fails if the file system cannot do WAL. Ignored for in-memory
  /// databases; with read_only only synchronous=NORMAL is set (a read-only
  /// connection cannot change the mode). Default true.
  bool wal = true;
  /// PRAGMA foreign_keys (SQLite's own default is off). Default true.
  bool foreign_keys = true;
  /// Reject writes: files open with SQLITE_OPEN_READONLY (the file must
  /// exist); every connection gets PRAGMA query_only=1. Writes then fail
  /// with SQLITE_READONLY. Default false.
  bool read_only = false;
  /// Extra pragmas run at connect as "PRAGMA <entry>", each "name" or
  /// "name=value", e.g. "cache_size=-16000". Default none. Each non-empty,
  /// without ';' (one pragma per entry), and, when plainly spelled
  /// ("[schema.]name[=value|(value)]"), a name this SQLite knows (PRAGMA
  /// pragma_list: SQLite ignores unknown ones silently). A pragma SQLite
  /// refuses at connect fails it with an error naming `pragmas[i]`.
  std::vector<std::string> pragmas{};
};

/// Thrown for invalid berth::sqlite::options: a berth::options_error whose
/// field() names the field (e.g. "busy_timeout", "pragmas[1]") and whose
/// what() reads "berth: invalid sqlite::options.<field>: <why>".
class options_error : public berth::options_error {
 public:
  options_error(std::string field, const std::string& why);
};

/// Checks every field; the first violation, or nullopt. Thread-safe.
std::optional<options_error> validate(const options& o);

}  // namespace berth::sqlite
