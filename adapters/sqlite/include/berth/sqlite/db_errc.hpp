// db_errc.hpp: engine-neutral error conditions for database adapters.
//
// An adapter's error category (berth::sqlite::error_category(), later the
// PostgreSQL one) maps its own codes onto these conditions in its
// equivalent(), so callers classify failures without knowing the engine:
//   if (e.code() == berth::db_errc::retryable) retry();
// Nothing here depends on SQLite; the header lives in the SQLite adapter only
// until a second engine lands, then it moves to core/include/berth/.
#pragma once

#include <system_error>

namespace berth {

/// Classes of database failure. Each says what the caller should do.
enum class db_errc : int {
  /// Lock contention (SQLite: SQLITE_BUSY*, SQLITE_LOCKED*). Nothing is wrong
  /// with the data or the connection: retry the statement or, inside a
  /// transaction, roll back and retry the whole transaction.
  retryable = 1,
  /// A constraint rejected the change (SQLite: SQLITE_CONSTRAINT*: UNIQUE,
  /// NOT NULL, CHECK, FOREIGN KEY, PRIMARY KEY, ...). Retrying the same
  /// statement fails again: fix the input. The connection is fine.
  constraint_violation,
  /// The connection can no longer be trusted (SQLite: SQLITE_IOERR*,
  /// SQLITE_CORRUPT*, SQLITE_NOTADB, SQLITE_CANTOPEN*). Discard the lease
  /// (berth::lease::discard()); the SQLite adapter also fails validate() and
  /// reset() for such a connection so the pool closes it.
  connection_lost,
  /// The operation was cut short by a deadline (SQLite: SQLITE_INTERRUPT,
  /// what sqlite3_interrupt() and a deadline-driven progress handler
  /// produce). Note: SQLITE_BUSY after busy_timeout is `retryable`, not this.
  timeout,
};

/// The category of db_errc conditions, named "berth.db". Thread-safe.
const std::error_category& db_category() noexcept;

/// Thread-safe. Never blocks.
inline std::error_condition make_error_condition(db_errc e) noexcept {
  return {static_cast<int>(e), db_category()};
}

}  // namespace berth

template <>
struct std::is_error_condition_enum<berth::db_errc> : std::true_type {};
