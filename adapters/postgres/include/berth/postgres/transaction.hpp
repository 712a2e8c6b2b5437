// transaction.hpp: an RAII transaction guard that nests as savepoints.
//
//   {
//     berth::postgres::transaction tx(conn, {.isolation = berth::postgres::isolation_level::serializable});
//     conn.execute("INSERT ...").value();    // BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE
//     {
//       berth::postgres::transaction inner(conn);  // SAVEPOINT berth_sp_2
//       conn.execute("INSERT ...").value();
//     }                                            // not committed: ROLLBACK TO + RELEASE berth_sp_2
//     tx.commit();                                 // COMMIT: the outer insert stays
//   }
//
// A guard opened while the connection is idle runs
//   BEGIN ISOLATION LEVEL <level> READ ONLY|READ WRITE [DEFERRABLE]
// and is the outermost (depth 1). A guard opened while a transaction is open
// (an outer guard, or a plain BEGIN) runs SAVEPOINT berth_sp_<depth> and
// ignores its options (PostgreSQL fixes them for the whole transaction).
// Destroying a guard that was not committed, normally or during unwinding,
// rolls its work back: ROLLBACK, or ROLLBACK TO berth_sp_<depth> + RELEASE.
//
// The connection counts live guards (connection::transaction_depth()), so a
// guard can tell whether it is the innermost, and the pool adapter's
// needs_reset() sees a transaction left open. A guard whose transaction ended
// without it (a manual COMMIT/ROLLBACK, a failed COMMIT, the adapter's
// reset()) finishes silently: its destructor sends nothing.
#pragma once

#include <berth/postgres/error.hpp>

#include <cstdint>

namespace berth::postgres {

class connection;

/// The SQL isolation levels PostgreSQL implements (READ UNCOMMITTED behaves
/// as READ COMMITTED there, so it is not offered).
enum class isolation_level : std::uint8_t {
  /// Each statement sees data committed before it began (PostgreSQL's default).
  read_committed,
  /// One snapshot for the whole transaction; a write that meets a concurrent
  /// update fails with 40001 (retryable: run the transaction again).
  repeatable_read,
  /// As repeatable_read, plus conflicts that would break a serial order fail
  /// with 40001 (retryable), at a statement or at COMMIT.
  serializable,
};

/// How an outermost guard begins its transaction. A plain struct.
struct transaction_options {
  /// Default read_committed.
  isolation_level isolation = isolation_level::read_committed;
  /// READ ONLY (writes fail with 25006 read_only_sql_transaction) instead of
  /// READ WRITE. Default false. Always spelled out, so a session's
  /// default_transaction_read_only does not decide.
  bool read_only = false;
  /// DEFERRABLE: meaningful with serializable + read_only (waits for a safe
  /// snapshot, then never fails with 40001); PostgreSQL ignores it otherwise.
  /// Default false.
  bool deferrable = false;
};

/// Guards one transaction or savepoint on a connection, which must outlive
/// it. Guards on one connection must finish in reverse order of creation (as
/// scopes do): commit()/rollback() of a guard that is not the innermost live
/// one throws postgres_error 25000 invalid_transaction_state and changes
/// nothing.
/// Keep the guard inside its lease's scope. If the lease is returned first
/// with the transaction still open, the pool's reset rolls it back before
/// reuse (needs_reset()), and the guard finds its transaction gone (even if
/// the connection has begun another one since); its destructor then only
/// reads the connection's guard counters, which is safe as long as no other
/// thread is using that connection meanwhile.
/// Not copyable or movable. Distinct objects: safe when their connections
/// differ. Shared objects: unsafe.
class transaction {
 public:
  /// BEGIN ..., or SAVEPOINT berth_sp_<depth> when a transaction is already
  /// open. Throws postgres_error when it cannot start (e.g. 25P02 inside a
  /// failed transaction, 08003 on a broken connection); no guard exists then.
  /// Blocks (one round trip).
  explicit transaction(connection& conn, transaction_options o = {});
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  /// Rolls back unless finished. Never throws: if the rollback fails, the
  /// connection is marked broken (its session state is unknown), so the pool
  /// discards it. Blocks (one round trip) when it rolls back, for at most
  /// the adapter's reset_timeout (5 s for a connection opened directly):
  /// against a server gone silent the rollback fails there.
  ~transaction();

  /// COMMIT, or RELEASE of the savepoint (its work then commits with the
  /// outer transaction). Throws postgres_error 25000 (nothing sent) when the
  /// guard is finished or not the innermost; postgres_error on failure:
  ///  - outermost: the transaction is over either way (PostgreSQL ends it
  ///    when COMMIT fails, e.g. 40001 under serializable: retryable), so the
  ///    guard is finished. COMMIT of a failed transaction is a rollback:
  ///    it throws 25P02 in_failed_sql_transaction.
  ///  - savepoint: the guard stays active; its destructor rolls it back.
  /// Blocks (one round trip).
  void commit();
  /// Rolls back now. Throws 25000 as commit() does (nothing
  /// sent), postgres_error when the rollback fails (the guard is finished
  /// and the connection marked broken). Blocks (one round trip), for at
  /// most the adapter's reset_timeout, as the destructor.
  void rollback();

  /// True for a savepoint (opened inside another transaction).
  bool is_savepoint() const noexcept { return savepoint_; }
  /// This guard's depth on its connection, 1 = outermost.
  int depth() const noexcept { return level_; }
  /// True until commit() or rollback() finished it (or its transaction ended
  /// without it, as seen at the last call on this guard).
  bool active() const noexcept { return active_; }

 private:
  /// Whether this guard's transaction or savepoint still exists.
  bool live() const noexcept;
  void finish_check(const char* what);
  /// Rolls back, finishing the guard; on failure marks the connection
  /// broken and returns false with *err filled when err is non-null.
  bool end_rollback(error* err) noexcept;

  // Immutable after construction.
  connection& conn_;
  int level_;               // this guard's depth, 1 = outermost
  bool savepoint_;
  std::uint64_t serial_;    // the connection's guard serial when this guard began
  std::uint64_t epoch_ = 0;  // the connection's transaction epoch once this guard began (guard_marks)
  // Mutable.
  bool active_ = true;
};

}  // namespace berth::postgres
