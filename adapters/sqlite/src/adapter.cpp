#include <berth/sqlite/adapter.hpp>

#include <sqlite3.h>

#include "connection_state.hpp"
#include "statement_kind.hpp"
#include "read_guard.hpp"

#include <atomic>
#include <new>
#include <optional>
#include <random>
#include <string>

namespace berth::sqlite {

namespace {

/// A name no other adapter in this process generates: memdb databases whose
/// name starts with '/' are process-wide, keyed by name.
std::string unique_memory_name() {
  static std::atomic<std::uint64_t> counter{0};
  std::random_device rd;
  const std::uint64_t r = (std::uint64_t{rd()} << 32) ^ rd();
  // relaxed: only uniqueness of the returned values matters, no ordering.
  return "berth-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed)) + "-" + std::to_string(r);
}

result<void, adapter_error> fail(int rc, std::string message) {
  return failure{adapter_error{to_error_code(rc), "berth::sqlite: " + std::move(message)}};
}

/// The first column of the first row of `sql`, as text (empty if none).
/// Not cached: used once per connection.
std::string query_text(connection& c, const char* sql) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(detail::handle_of(c), sql, -1, &st, nullptr);
  if (rc != SQLITE_OK) throw_sqlite_error(to_error_code(rc), sqlite3_errmsg(detail::handle_of(c)), sql);
  std::string out;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    if (const unsigned char* t = sqlite3_column_text(st, 0)) out = reinterpret_cast<const char*>(t);
  } else if (rc != SQLITE_DONE) {
    std::string msg = sqlite3_errmsg(detail::handle_of(c));
    sqlite3_finalize(st);
    throw_sqlite_error(to_error_code(rc), std::move(msg), sql);
  }
  sqlite3_finalize(st);
  return out;
}

}  // namespace

adapter::adapter(options opts) : adapter(std::move(opts), role::plain) {}

adapter::adapter(options opts, role r) : role_(r), opts_(std::move(opts)) {
  if (auto e = sqlite::validate(opts_)) throw *e;
  if (opts_.in_memory) {
    if (opts_.name.empty()) opts_.name = unique_memory_name();
    // SQLite's memdb VFS (>= 3.36), not shared cache: a name starting with
    // '/' is shared by every connection of the process, and memdb locks the
    // whole database as a file would (shared/reserved/exclusive), so
    // contention is SQLITE_BUSY, which busy_timeout waits on. Shared cache
    // (mode=memory&cache=shared) locks per table and reports contention as
    // SQLITE_LOCKED, which busy_timeout does not retry.
    filename_ = "file:/" + opts_.name + "?vfs=memdb";
    flags_ = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | detail::open_mode_flags;
    // The database lives while one connection to it is open: keep one for
    // the adapter's lifetime, read-write so it exists even for read_only
    // pools (their connections get query_only).
    keeper_ = std::make_shared<const connection>(connection::open(filename_, flags_));
  } else {
    // A path, never a URI: SQLite reads a name starting with "file:" as a
    // URI (with its own parameters: mode=memory, vfs=, immutable=...) when
    // built with SQLITE_USE_URI, as Debian's is, even without
    // SQLITE_OPEN_URI. "./" keeps it the file it names (a relative one:
    // an absolute path starts with "/"). SQLite compares "file:" exactly.
    filename_ = opts_.path.starts_with("file:") ? "./" + opts_.path : opts_.path;
    flags_ = (opts_.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
             detail::open_mode_flags;
  }
}

std::string adapter::pragma_field(std::size_t i) const {
  return std::string(role_ == role::plain ? "sqlite::options" : "sqlite::database_options") + ".pragmas[" +
         std::to_string(i) + "]";
}

std::optional<adapter_error> adapter::check_database_settings(connection& c, std::size_t i) const {
  // Read back, not parsed from the pragma's text: SQLite's grammar admits
  // spellings no name check foresees ("MAIN . journal_mode", a quoted name,
  // a comment before '='). journal_mode of files only: on a memdb
  // connection, reading it once made a later prepare that met a writer's
  // lock fail with "no such table" instead of SQLITE_BUSY, which read()
  // retries (SqliteDatabaseMemory.AReadKeptOutByAWriteTransactionSaysSoBug).
  const std::string journal = opts_.in_memory ? std::string("wal") : query_text(c, "PRAGMA journal_mode");
  const std::string locking = query_text(c, "PRAGMA locking_mode");
  const std::string query_only = query_text(c, "PRAGMA query_only");
  const char* const query_only_wanted = role_ == role::database_reader ? "1" : "0";
  std::string changed;
  if (journal != "wal") changed = "journal_mode to '" + journal + "' (the database needs 'wal')";
  else if (locking != "normal") changed = "locking_mode to '" + locking + "' (the database needs 'normal')";
  else if (query_only != query_only_wanted)
    changed = "query_only to " + query_only + " (the database needs " + query_only_wanted + " on its " +
              (role_ == role::database_reader ? "readers" : "writer") + ")";
  if (changed.empty()) return std::nullopt;
  return adapter_error{to_error_code(SQLITE_MISUSE),
                       "berth::sqlite::database: " + pragma_field(i) + " (\"" + detail::pragma_shown(opts_.pragmas[i]) + "\") changed " +
                           changed +
                           "; the database sets journal_mode, locking_mode and query_only itself: remove that "
                           "pragma (database '" + filename_ + "')"};
}

result<connection, adapter_error> adapter::connect() {
  try {
    connection c = connection::open(filename_, flags_);
    const int rc = sqlite3_busy_timeout(detail::handle_of(c), static_cast<int>(opts_.busy_timeout.count()));
    if (rc != SQLITE_OK) throw_sqlite_error(to_error_code(rc), sqlite3_errmsg(detail::handle_of(c)));
    // Read the database header now, so a file that is not a database
    // (SQLITE_NOTADB) or cannot be read fails connect, not the first query.
    (void)query_text(c, "PRAGMA schema_version");
    if (!opts_.in_memory && opts_.wal) {
      if (!opts_.read_only) {
        const std::string mode = query_text(c, "PRAGMA journal_mode=WAL");
        if (mode != "wal")
          return failure{adapter_error{to_error_code(SQLITE_CANTOPEN),
                                       "berth::sqlite: options.wal is set but '" + opts_.path +
                                           "' stays in journal_mode '" + mode +
                                           "' (the file system may not support WAL; set wal = false)"}};
      }
      // synchronous is the connection's own setting, so read-only
      // connections get it too: a database's readers reported FULL where
      // database.hpp promises NORMAL (SqliteDatabaseFile.ReadersRunSynchronousNormalAndBusyTimeoutBug).
      c.execute("PRAGMA synchronous=NORMAL");
    }
    c.execute(opts_.foreign_keys ? "PRAGMA foreign_keys=ON" : "PRAGMA foreign_keys=OFF");
    // Files also open with SQLITE_OPEN_READONLY; query_only on them too, so
    // every read-only connection reports it (a database checks it below).
    if (opts_.read_only) c.execute("PRAGMA query_only=1");
    for (std::size_t i = 0; i < opts_.pragmas.size(); ++i) {
      try {
        c.execute("PRAGMA " + opts_.pragmas[i]);
      } catch (const sqlite_error& e) {
        // Name the field: SQLite's message names only the SQL.
        return failure{adapter_error{e.code(), "berth::sqlite: " + pragma_field(i) + " (\"" + detail::pragma_shown(opts_.pragmas[i]) +
                                                   "\") failed: " + detail::pragma_message_shown(e.engine_message(), opts_.pragmas[i]) + " (database '" +
                                                   filename_ + "')"}};
      }
      if (role_ != role::plain)
        if (auto changed = check_database_settings(c, i)) return failure{std::move(*changed)};
    }
    // Last: it would refuse connect's own pragmas above.
    if (role_ == role::database_reader) detail::install_read_guard(*detail::state_of(c));
    detail::mark_configured(c);  // the settings above are the ones a reset keeps
    return c;
  } catch (const sqlite_error& e) {
    // Name the file: after the open, SQLite's messages do not ("file is
    // not a database"), and a pool's last creation error should say which.
    adapter_error err = e.to_adapter_error();
    if (err.message.find(filename_) == std::string::npos) err.message += " (database '" + filename_ + "')";
    return failure{std::move(err)};
  } catch (const std::bad_alloc&) {
    return failure{adapter_error{to_error_code(SQLITE_NOMEM), "berth::sqlite: out of memory"}};
  }
}

namespace {
result<void, adapter_error> inherited_error(const char* call) {
  return fail(SQLITE_MISUSE, std::string(call) +
                                 ": the connection was opened before fork() and this is the child process; "
                                 "create a new pool (or connection) in the child");
}
}  // namespace

namespace {
/// SQLITE_READONLY_DBMOVED naming the path, for call ("validate", ...).
result<void, adapter_error> moved_error(const char* call, const std::string& path) {
  return fail(SQLITE_READONLY_DBMOVED,
              std::string(call) + ": the database file '" + path +
                  "' was removed or replaced since this connection opened it; discarding the connection (a new "
                  "one opens the file now at that path). Commits made through it since then went to the removed "
                  "file");
}
}  // namespace

result<void, adapter_error> adapter::validate(connection& c) {
  if (!c) return fail(SQLITE_MISUSE, "validate: the connection is closed");
  if (c.inherited()) return inherited_error("validate");
  if (c.file_moved()) return moved_error("validate", opts_.path);
  // fatal_error(), not last_error(): a later ordinary error replaces the latter.
  if (const std::error_code fatal = c.fatal_error())
    return fail(fatal.value(), "validate: the connection failed earlier with '" + fatal.message() + "' (extended code " +
                                   std::to_string(fatal.value()) + "); discarding it");
  try {
    statement& st = c.prepare("SELECT 1");
    const bool row = st.step();
    st.reset();
    if (!row) return fail(SQLITE_ERROR, "validate: SELECT 1 returned no row");
    return {};
  } catch (const sqlite_error& e) {
    return failure{e.to_adapter_error()};
  } catch (const std::bad_alloc&) {
    return fail(SQLITE_NOMEM, "validate: out of memory");
  }
}

result<void, adapter_error> adapter::reset(connection& c) {
  if (!c) return fail(SQLITE_MISUSE, "reset: the connection is closed");
  if (c.inherited()) return inherited_error("reset");
  if (c.file_moved()) return moved_error("reset", opts_.path);
  // fatal_error(), not last_error(): a later ordinary error replaces the latter.
  if (const std::error_code fatal = c.fatal_error())
    return fail(fatal.value(), "reset: the connection failed earlier with '" + fatal.message() + "' (extended code " +
                                   std::to_string(fatal.value()) + "); discarding it");
  if (c.transaction_depth() != 0)
    return fail(SQLITE_MISUSE, "reset: a transaction guard is still alive on the connection (it outlived its lease)");
  // Discarded rather than restored: re-applying what connect set would
  // leave any other setting (recursive_triggers, cache_size, a busy
  // handler, a function or limit set through the handle) with the next
  // user. Statements that only read pragmas do not come here.
  if (c.session_may_have_changed())
    return fail(SQLITE_ABORT,
                "reset: the connection's session configuration may have changed (a PRAGMA given a value, ATTACH or "
                "DETACH ran on it); discarding it, so that the next user gets "
                "a newly configured connection");
  c.reset_statements();
  if (c.in_transaction()) {
    try {
      c.execute("ROLLBACK");
    } catch (const sqlite_error& e) {
      return failure{e.to_adapter_error()};
    } catch (const std::bad_alloc&) {
      return fail(SQLITE_NOMEM, "reset: out of memory");
    }
    if (c.in_transaction()) return fail(SQLITE_ERROR, "reset: a transaction is still open after ROLLBACK");
  }
  return {};
}

void adapter::close(connection& c) noexcept {
  // Only the last connection to close checkpoints on its own (and deletes
  // the -wal): with another one open (another process's, an idle handle),
  // a closed pool left its commits in the -wal alone. PASSIVE: takes no
  // lock a reader or writer holds and never calls the busy handler, so a
  // close never waits; what it cannot copy now stays in the WAL, which the
  // next checkpoint or open replays. Not after a fatal error (no more I/O
  // through a connection that reported corruption or an I/O error), nor in
  // a fork child (the handle is the parent's: connection::close leaves it).
  // SQLITE_OK without a WAL (rollback journal), LOCKED inside a
  // transaction: nothing to do either way.
  if (!opts_.in_memory && !opts_.read_only && c && !c.fatal_error() && !c.inherited())
    (void)sqlite3_wal_checkpoint_v2(detail::handle_of(c), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  c.close();
}

}  // namespace berth::sqlite
