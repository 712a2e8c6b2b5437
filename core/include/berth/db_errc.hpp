// db_errc.hpp: engine-neutral error conditions for database adapters.
//
// Each adapter's error category (berth::sqlite::error_category(): extended
// result codes; berth::postgres::error_category(): SQLSTATEs) maps its own
// codes onto these conditions in its equivalent(), so callers classify
// failures without knowing the engine:
//   if (e.code() == berth::db_errc::retryable) retry();
// The exceptions of the adapters' throwing APIs are classified the same way
// (berth/db_error.hpp: catch (const berth::retryable_error&)).
#pragma once

#include <system_error>

namespace berth {

/// Classes of database failure. Each says what the caller should do.
enum class db_errc : int {
  /// Contention (SQLite: SQLITE_BUSY*, SQLITE_LOCKED_SHAREDCACHE and
  /// SQLITE_LOCKED_VTAB, not plain SQLITE_LOCKED: on berth's connections
  /// (private cache) a conflict inside one connection that a retry meets
  /// again; PostgreSQL: 40001
  /// serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available). Nothing is wrong with
  /// the data or the connection: retry the statement or, inside a
  /// transaction, roll back and retry the whole transaction.
  retryable = 1,
  /// A constraint rejected the change (SQLite: SQLITE_CONSTRAINT*: UNIQUE,
  /// NOT NULL, CHECK, FOREIGN KEY, PRIMARY KEY, ...; PostgreSQL: class 23
  /// integrity_constraint_violation). Retrying the same
  /// statement fails again: fix the input. The connection is fine.
  constraint_violation,
  /// The connection can no longer be trusted (SQLite: SQLITE_IOERR*,
  /// SQLITE_CORRUPT*, SQLITE_NOTADB, SQLITE_CANTOPEN*; PostgreSQL: class 08
  /// connection_exception, 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
  /// cannot_connect_now). Discard the lease (berth::lease::discard()); the
  /// SQLite adapter also fails validate() and reset() for such a connection,
  /// the PostgreSQL one marks it broken, so the pool closes it.
  connection_lost,
  /// The operation was cut short by a deadline (SQLite: SQLITE_INTERRUPT,
  /// what sqlite3_interrupt() and a deadline-driven progress handler
  /// produce; PostgreSQL: 57014 query_canceled, from statement_timeout, a
  /// cancel request, or berth's own round-trip timeout). Note: SQLITE_BUSY
  /// after busy_timeout is `retryable`, not this.
  timeout,
  /// The server or the file ran out of a resource (SQLite: SQLITE_FULL, the
  /// disk or max_page_count is full; PostgreSQL: class 53
  /// insufficient_resources: 53100 disk_full, 53200 out_of_memory, 53300
  /// too_many_connections). The failed statement or transaction was rolled
  /// back and the connection is fine: free the resource (disk space,
  /// max_page_count, connection slots) and retry later, not at once.
  resource_exhausted,
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
