// connection.hpp: a move-only RAII SQLite connection with a statement cache.
//
// Error style: this class, statement and transaction THROW sqlite_error
// (code: the extended result code; engine_message(): sqlite3_errmsg; sql()).
// SQL work is naturally written as a sequence of calls, and pool::with()
// already turns an exception into a reset (or discard) of the connection.
// The pool-facing adapter (adapter.hpp) returns berth::result instead and
// never throws.
#pragma once

#include <berth/sqlite/error.hpp>
#include <berth/sqlite/statement.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

struct sqlite3;

namespace berth::sqlite {

class transaction;
class connection;

namespace detail {
/// berth's own access to the handle (pragmas, busy_timeout): unlike
/// native_handle() it does not mark the connection as used natively.
sqlite3* handle_of(const connection& c) noexcept;
/// adapter::connect has configured c: the PRAGMAs it ran are the
/// connection's own settings, not changes to undo, so
/// session_may_have_changed() is false again (and needs_reset() back on its
/// fast path: nothing before this opened a transaction). Never throws.
void mark_configured(connection& c) noexcept;
/// The connection's state (null when closed), for the adapter's own
/// configuration of a new connection (read_guard.cpp). Never throws.
connection_state* state_of(connection& c) noexcept;

/// The part of a connection's state that needs_reset() reads inline, on
/// the release of every lease (a call into the adapter's library cost about
/// 1 ns of a 100 ns SELECT 1). Internal: connection_state derives from it.
/// Thread-safety: that of the connection.
struct connection_flags {
  int stepping = 0;                     ///< statements between their first row and done/reset
  bool may_open_transactions = false;   ///< see connection::needs_reset()
  /// A statement's native handle was handed out: it may be stepped behind
  /// berth's back, so every release resets (set with may_open_transactions).
  bool raw_statements = false;
  /// See connection::session_may_have_changed() (set with
  /// may_open_transactions, so the fast path reads neither).
  bool may_change_session = false;
  /// Set for good once a failure that makes the connection unusable was
  /// thrown through it (is_fatal(): IOERR*, CORRUPT*, NOTADB, CANTOPEN*);
  /// never cleared by a later, ordinary error. Here, not beside last_error,
  /// so that the four flags fill the 4-byte word that needs_reset() tests
  /// with one load beside `stepping` (all zero: nothing to reset): the
  /// fatal case costs the release fast path nothing.
  bool fatal = false;
};
static_assert(sizeof(connection_flags) == 8 && std::is_trivially_copyable_v<connection_flags> &&
              std::is_standard_layout_v<connection_flags>);
static_assert(offsetof(connection_flags, may_open_transactions) == sizeof(int) &&
              offsetof(connection_flags, fatal) == sizeof(int) + 3);
/// The flags a closed (or moved-from) connection points at: `stepping` 1
/// makes needs_reset() true without a null test of its own on every
/// release (the pool then resets, which fails, and discards).
inline constexpr connection_flags closed_connection_flags{.stepping = 1};
}  // namespace detail

/// One SQLite connection (sqlite3*), closed with sqlite3_close_v2 after its
/// cached statements are finalized. Statements come from a per-connection
/// cache keyed by SQL text (prepare()).
/// Distinct objects: safe (each connection is opened in SQLite's
/// multi-thread mode, SQLITE_OPEN_NOMUTEX by the adapter). Shared objects:
/// unsafe: one thread at a time, as a pool lease guarantees.
class connection {
 public:
  /// Opens `filename` (a path, or a URI when flags include SQLITE_OPEN_URI)
  /// with sqlite3_open_v2 flags `flags` (SQLITE_OPEN_* values), enables
  /// extended result codes. Throws sqlite_error with the engine's message.
  /// Blocks on file I/O.
  static connection open(const std::string& filename, int flags);
  /// open(filename, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
  /// SQLITE_OPEN_PRIVATECACHE): never the shared cache, as the adapter's.
  static connection open(const std::string& filename);

  /// An empty (closed) connection.
  connection() noexcept;
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  /// close(). Never throws.
  ~connection();

  /// Runs `sql`, which may hold several statements separated by ';'; rows
  /// they return are discarded. Not cached. Throws sqlite_error naming the
  /// failing statement, and SQLITE_MISUSE for text holding a NUL byte
  /// (SQLite would silently stop reading there). Blocks (I/O, busy_timeout).
  void execute(std::string_view sql);

  /// The cached prepared statement for exactly this SQL text (one
  /// statement; trailing text other than whitespace, comments and ';' throws),
  /// preparing it on first use. The same text returns the same statement
  /// object, reset and with bindings cleared, so do not interleave two uses
  /// of one SQL text. Each of the reset and the clear is skipped when berth
  /// saw that it has nothing to do (no step since the last reset(), no bind
  /// since the last clear); after a native_handle() of the connection or of
  /// a statement, never. The reference is valid until close(). Throws
  /// sqlite_error on a syntax error, and SQLITE_MISUSE for text holding a
  /// NUL byte. Allocates on first use of a text.
  statement& prepare(std::string_view sql);

  /// Rows changed by the last INSERT/UPDATE/DELETE (sqlite3_changes64).
  std::int64_t changes() const noexcept;
  /// Rowid of the last successful INSERT on this connection.
  std::int64_t last_insert_rowid() const noexcept;
  /// True while a transaction is open (!sqlite3_get_autocommit), whoever
  /// opened it (a transaction guard or a plain BEGIN).
  bool in_transaction() const noexcept;
  /// True while a statement has returned a row and is not yet done or reset
  /// (it pins a read snapshot: in WAL mode it holds back checkpoints).
  /// A counter read, no I/O. Thread-safety: that of the connection.
  bool has_active_statements() const noexcept;
  /// True when the connection must be cleaned up before another user gets
  /// it: a transaction is open or a statement is mid-result, its session
  /// configuration may have changed (session_may_have_changed(): the
  /// adapter's reset then fails, so the pool discards it), it reported a
  /// fatal error (fatal_error(): likewise), or it was closed (likewise). Exact for transactions, and cheap enough for every pool
  /// release: sqlite3_get_autocommit is asked only on a connection that has
  /// prepared transaction control (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT,
  /// RELEASE) or handed out native_handle(), the only ways a transaction
  /// can open; a connection that handed out a statement's native_handle()
  /// (which may be stepped without berth seeing it) is reset on every
  /// release; otherwise it reads two fields (issue 8: the call cost 3 to
  /// 5 ns, half of berth's overhead on a prepared SELECT 1). Statements are
  /// classified when prepared, never per step. Thread-safety: that of the
  /// connection.
  bool needs_reset() const noexcept {
    // A closed connection's flags_ is closed_connection_flags, never null.
    // `stepping` and the four flags as two 4-byte loads, not the whole
    // struct as one 8-byte load: the statement::reset() that usually ends a
    // lease has just stored `stepping`, and a load wider than a store still
    // in the store buffer cannot take its value from it; it waits until the
    // store reaches the cache (a store-forwarding stall). Measured with
    // bench/sqlite_interleave.cpp: berth's overhead on a SELECT 1 fell by
    // about 0.4 point (fast VM state) to 0.9 point (slow), BENCHMARKS.md.
    std::uint32_t flags;
    const auto* bytes = reinterpret_cast<const unsigned char*>(flags_);
    std::memcpy(&flags, bytes + offsetof(detail::connection_flags, may_open_transactions), sizeof flags);
    if ((static_cast<std::uint32_t>(flags_->stepping) | flags) == 0) [[likely]]
      return false;
    return flags_->stepping > 0 || flags_->fatal ||
           (flags_->may_open_transactions &&
            (flags_->raw_statements || flags_->may_change_session || transaction_open()));
  }
  /// True once this connection has prepared (or run through execute()) a
  /// statement that can change its session configuration: ATTACH, DETACH,
  /// or a PRAGMA given a value ("PRAGMA foreign_keys=OFF",
  /// "PRAGMA busy_timeout(0)"; not one that only reads, "PRAGMA
  /// foreign_keys", nor the few whose value names what to inspect or act on
  /// the file: table_info(t), index_list(t), integrity_check(n),
  /// wal_checkpoint(m), ...). Such a connection cannot be brought back to its
  /// connect-time configuration with certainty, so the adapter's reset()
  /// fails for it and the pool discards it at its release (a new one gets
  /// the configured settings). False after the adapter's connect. A field
  /// read. Thread-safety: that of the connection.
  bool session_may_have_changed() const noexcept { return flags_->may_change_session; }
  /// Nesting depth of live transaction guards (0: none).
  int transaction_depth() const noexcept;

  /// Resets every cached statement and clears its bindings (releases their
  /// read locks), skipping what prepare() would skip. Never throws.
  void reset_statements() noexcept;
  /// Number of cached statements.
  std::size_t cached_statements() const noexcept;

  /// The extended result code of the last failure raised through this
  /// connection or its statements (0 if none); a later failure replaces it.
  /// See fatal_error() for the one that decides the connection's fate.
  std::error_code last_error() const noexcept;
  /// The first failure raised through this connection or its statements
  /// that is_fatal() (IOERR*, CORRUPT*, NOTADB, CANTOPEN*: the connection
  /// or its file cannot be trusted), or an empty code. Sticky: a later
  /// failure, fatal or not, leaves it. While set, needs_reset() is true and
  /// the adapter's validate() and reset() fail, so the pool discards the
  /// connection at its release. A field read. Thread-safety: that of the
  /// connection.
  std::error_code fatal_error() const noexcept;

  /// True while open.
  explicit operator bool() const noexcept;
  /// True when the database file this connection opened was removed,
  /// renamed or replaced at its path since (SQLITE_FCNTL_HAS_MOVED: the
  /// path no longer names the open file). SQLite in WAL mode keeps
  /// committing to a removed file, and those commits are lost when the
  /// connection closes: the adapter checks this at validate() and reset(),
  /// and sqlite::database before every write. False for in-memory
  /// databases and closed connections. A stat() and an fstat(): not for
  /// per-query paths. Never blocks on locks.
  bool file_moved() const noexcept;
  /// True in a fork child when this connection was opened before the fork
  /// (berth/fork.hpp): execute(), prepare() and step() on a statement
  /// prepared before the fork then throw SQLITE_MISUSE naming the fork, and
  /// close()/the destructor leave the handle alone (leaked) instead of
  /// closing what the parent still uses. Of a statement's members only
  /// step() checks: do not reset, bind or read statements from before the
  /// fork in the child either. A getpid() system call: not for per-query
  /// paths. Never blocks.
  bool inherited() const noexcept;
  /// The underlying handle (nullptr when closed), for calls berth does not
  /// wrap. Do not close it. From the first call on, needs_reset() asks
  /// SQLite whether a transaction is open (the caller may run BEGIN
  /// through the handle). What the caller sets through the handle (a busy
  /// handler, limits, functions, sqlite3_db_config) stays with the
  /// connection for its next user: undo it before the lease ends, or run
  /// the PRAGMA through execute(), which makes the pool discard the
  /// connection at its return (session_may_have_changed()). Handing the
  /// handle out does not: it is the way to everything berth does not wrap
  /// (last_insert_rowid, blob I/O, backup), and a reconnect per such lease
  /// would cost 60 us and up. The cached statements can be reached through
  /// the handle (sqlite3_next_stmt), so from the first call on prepare()
  /// resets and clears every statement it hands out, seen used or not.
  sqlite3* native_handle() const noexcept;

  /// Finalizes the cached statements and closes the handle
  /// (sqlite3_close_v2); in a fork child that inherited the connection,
  /// forgets them instead (see inherited()). Idempotent. Never throws.
  void close() noexcept;

 private:
  friend class transaction;
  friend sqlite3* detail::handle_of(const connection& c) noexcept;
  friend void detail::mark_configured(connection& c) noexcept;
  friend detail::connection_state* detail::state_of(connection& c) noexcept;
  explicit connection(std::unique_ptr<detail::connection_state> s) noexcept;
  /// !sqlite3_get_autocommit, for needs_reset (false when closed).
  bool transaction_open() const noexcept;

  std::unique_ptr<detail::connection_state> s_;  // null when closed or moved from
  /// s_'s flags, or detail::closed_connection_flags when s_ is null.
  const detail::connection_flags* flags_ = &detail::closed_connection_flags;
};

}  // namespace berth::sqlite
