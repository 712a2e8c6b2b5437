// connection_state.hpp (private): what a connection owns, at a stable address
// so statements can point back to it while the connection object moves.
#pragma once

#include <berth/detail/cache_padded.hpp>
#include <berth/fork.hpp>
#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/error.hpp>
#include <berth/sqlite/statement.hpp>

#include "statement_kind.hpp"

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace berth::sqlite::detail {

/// Beside its access mode, every connection berth opens (adapter::connect,
/// connection::open(path)) carries SQLite's multi-thread mode (one user at a
/// time, as a lease guarantees) and never the shared cache (adapter.hpp).
inline constexpr int open_mode_flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;

/// Transparent hash so the cache is searched with a string_view, no copy.
struct sql_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Thread-safety: that of the owning connection (one user at a time).
/// On its own 128-byte line pair (berth::detail::cache_pair_size): a pool's
/// connections are opened one after another by its creator thread, so their
/// states would otherwise share cache lines, and `stepping` is written on
/// every query by whichever thread holds each connection (2 threads on 2
/// pooled connections lost 18% on a prepared SELECT 1 to that, issue 8).
struct alignas(berth::detail::cache_pair_size) connection_state : connection_flags {
  explicit connection_state(sqlite3* h) noexcept : db(h), unmutexed(h != nullptr && sqlite3_db_mutex(h) == nullptr) {}
  connection_state(const connection_state&) = delete;
  connection_state& operator=(const connection_state&) = delete;
  ~connection_state() { close(); }

  /// Records rc as the last failure (and, if is_fatal, as the connection's
  /// fatal one: sticky). Never throws.
  void record_failure(int rc) noexcept;
  /// Records rc as the last failure and throws it with the engine's message.
  [[noreturn]] void fail(int rc, std::string_view sql);
  /// Records rc and throws berth's own message (mismatch, range).
  [[noreturn]] void fail_with(int rc, std::string message, std::string_view sql);
  /// connection::prepare() on an existing state: the cached statement for
  /// `sql`, rewound (statement::rewind), or a new one prepared and cached.
  statement& prepare_cached(std::string_view sql);
  /// prepare_cached() past the text prepared last (last_prepared): the
  /// checks with their errors, the cache's hash, or a new statement.
  statement& find_or_prepare(std::string_view sql);
  /// Records what a statement about to be prepared or run can do (see the
  /// flags below): once, at prepare time, never per step.
  void note(statement_kind k) noexcept {
    if (controls_transaction(k)) may_open_transactions = true;
    if (changes_session(k)) may_open_transactions = may_change_session = true;
  }
  /// Resets the cached statements that write and are mid-result (INSERT ...
  /// RETURNING stepped once, the usual way to read a new id): they make
  /// COMMIT, RELEASE and ROLLBACK TO fail with SQLITE_BUSY ("SQL statements
  /// in progress"), a code that reads as another process's lock. SQLite
  /// makes all of such a statement's changes at its first step, so the
  /// reset keeps them. Statements that only read may stay mid-result.
  void reset_pending_writes() noexcept;
  /// connection::reset_statements(): every cached statement back to how
  /// prepare() hands it out (statement::rewind).
  void rewind_statements() noexcept;
  /// Finalizes the statements and closes the handle; in a fork child that
  /// inherited them (origin), forgets both instead (see connection::close).
  void close() noexcept;
  /// Throws SQLITE_MISUSE naming the fork when this state was inherited
  /// through fork(). One relaxed load (fork_guard::inherited).
  void check_not_inherited(std::string_view sql) {
    if (origin.inherited()) [[unlikely]]
      fail_inherited(sql);
  }
  [[noreturn]] void fail_inherited(std::string_view sql);
  /// Throws when a transaction guard is live (depth > 0) but no transaction
  /// is open: SQLite rolled it back on its own after an error (SQLITE_FULL,
  /// an I/O error, ...: sqlite.org/lang_transaction.html, "Response To
  /// Errors Within A Transaction"), or a COMMIT/ROLLBACK outside the guards
  /// ended it. Running `sql` now would autocommit it alone, outside the
  /// transaction its guards stand for (TransactionTest.AStatementAfterSqliteRolledBackTheTransactionIsRefusedBug).
  void check_transaction_alive(std::string_view sql) {
    if (depth > 0 && sqlite3_get_autocommit(db) != 0) [[unlikely]]
      fail_transaction_lost(sql);
  }
  [[noreturn]] void fail_transaction_lost(std::string_view sql);
  /// connection::execute on an open state (db not null).
  void execute(std::string_view sql);

  sqlite3* db;  // null once closed
  // db holds no mutex (SQLITE_OPEN_NOMUTEX, every connection berth opens:
  // open_mode_flags): a column's value may then be read through
  // sqlite3_column_value() (statement::type_of), which SQLite calls
  // "unprotected", as if protected. "Protected" means that db's mutex is
  // held (sqlite.org/c3ref/value.html); a connection without one has
  // nothing to hold, which the page says of the multi-thread mode that
  // SQLITE_OPEN_NOMUTEX gives a single connection.
  const bool unmutexed;
  const berth::fork_guard origin;  // the process that opened db
  using statement_cache = std::unordered_map<std::string, std::unique_ptr<statement>, sql_hash, std::equal_to<>>;
  statement_cache cache;
  // The entry prepare() found or made last, compared before the hash (size,
  // then the bytes: the same pointer may hold other text by now): a loop
  // preparing one text skips the hash and the bucket walk (about 70
  // instructions under callgrind). Points into a node of `cache` (stable across rehashes,
  // only an erase moves it): null whenever the cache is cleared, which
  // close() alone does; nothing erases single entries.
  statement_cache::value_type* last_prepared = nullptr;
  int depth = 0;       // live transaction guards
  transaction* guards = nullptr;  // the live guards on this state, innermost first (transaction::outer_)
  int last_error = 0;  // extended code of the last failure thrown, 0 if none
  // The first failure thrown that is_fatal(), 0 if none; set with the
  // `fatal` flag (connection_flags) and, like it, never cleared: a later
  // ordinary error must not make a corrupt connection look reusable.
  int fatal_error = 0;
  // The authorizer action that the read guard (read_guard.hpp) refused
  // last, -1 if none since fail() explained one: the SQLITE_AUTH that
  // follows then says that this is a database's reader.
  int refused_action = -1;
  // Set for good once a native handle (the connection's or a statement's)
  // was handed out: a cached statement may then be stepped or bound behind
  // berth's back (sqlite3_next_stmt reaches every one from the
  // connection's), so its own stepped/bound flags no longer tell its state
  // and prepare() and reset_statements() reset and clear it every time
  // (statement::rewind).
  bool statements_unseen = false;
  // The failure after which SQLite had rolled back the transaction of a live
  // guard (recorded by fail_with; cleared when a guard begins a new
  // transaction): fail_transaction_lost's cause, 0 if none was seen.
  int rollback_cause = 0;
  // From connection_flags: `stepping` (statements between their first row
  // and done/reset: they pin a read snapshot), `may_open_transactions`
  // (set for good once this connection has prepared a transaction-control
  // statement or handed out its native handle: from then on needs_reset()
  // asks sqlite3_get_autocommit, connection.hpp) and `may_change_session`
  // (set for good, with may_open_transactions, once it has prepared a
  // statement that can change its configuration or handed out its native
  // handle: the adapter's reset then discards it).
};

}  // namespace berth::sqlite::detail
