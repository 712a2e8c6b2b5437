// transaction.hpp: an RAII transaction guard that nests as savepoints.
//
//   {
//     berth::sqlite::transaction tx(conn, berth::sqlite::transaction_mode::immediate);
//     conn.execute("INSERT ...");
//     {
//       berth::sqlite::transaction inner(conn);   // SAVEPOINT berth_sp_2
//       conn.execute("INSERT ...");
//     }                                            // not committed: ROLLBACK TO + RELEASE
//     tx.commit();                                 // the outer insert stays
//   }
//
// A guard opened while no transaction is open runs BEGIN <mode>. A guard
// opened while one is open (an outer guard, or a plain BEGIN) runs
// SAVEPOINT berth_sp_<depth> and ignores its mode. Destroying a guard that
// was not committed (normally or during unwinding) rolls its work back:
// ROLLBACK, or ROLLBACK TO berth_sp_<depth> + RELEASE berth_sp_<depth>.
#pragma once

#include <cstdint>

namespace berth::sqlite {

class connection;
namespace detail {
struct connection_state;
}

/// How BEGIN takes its locks (SQLite's BEGIN DEFERRED/IMMEDIATE/EXCLUSIVE).
enum class transaction_mode : std::uint8_t {
  /// Locks on first read/write. A reader that later writes can get
  /// SQLITE_BUSY at the write without waiting (retry the transaction).
  deferred,
  /// Takes the write lock at BEGIN (waits up to busy_timeout): the usual
  /// choice for a transaction that writes.
  immediate,
  /// As immediate; in rollback-journal mode also keeps readers out.
  exclusive,
};

/// Guards one transaction or savepoint on a connection, which must outlive
/// it. Guards on one connection must end in reverse order of creation (as
/// scopes do); commit()/rollback() of a guard that is not the innermost live
/// one, or of one already finished, throws sqlite_error (SQLITE_MISUSE)
/// saying so, as does a guard opened on a closed connection.
/// Not copyable or movable. Distinct objects: safe when their connections
/// differ. Shared objects: unsafe.
class transaction {
 public:
  /// BEGIN <mode>, or SAVEPOINT when a transaction is already open. Throws
  /// sqlite_error (e.g. SQLITE_BUSY: retryable) if it cannot start, and
  /// SQLITE_MISUSE on a closed connection.
  explicit transaction(connection& conn, transaction_mode mode = transaction_mode::deferred);
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  /// Rolls back unless committed or rolled back. Never throws: a failing
  /// rollback is swallowed (the adapter's reset() rolls back whatever is
  /// still open before the connection is reused).
  ~transaction();

  /// COMMIT, or RELEASE of the savepoint (its work then commits with the
  /// outer transaction). Throws sqlite_error on failure (e.g. SQLITE_BUSY);
  /// the guard then stays active and its destructor rolls back.
  void commit();
  /// Rolls back now. Throws sqlite_error on failure (the guard is finished
  /// either way).
  void rollback();

  /// True for a savepoint (opened inside another transaction).
  bool is_savepoint() const noexcept { return savepoint_; }
  /// True until commit() or rollback() succeeded.
  bool active() const noexcept { return active_; }

 private:
  void finish_check(const char* what) const;
  void end_rollback();

  friend struct detail::connection_state;
  void unlink() noexcept;

  // The connection's state, not the connection object: the state stays
  // where it is while the object moves (as statements point to it), and a
  // state that closes (close(), a move-assignment onto its connection, a
  // pool's reset that discards it) sets this to null, so the guard never
  // ends another connection's transaction.
  detail::connection_state* s_;
  transaction* outer_ = nullptr;  // the next live guard on s_ (connection_state::guards)
  // Immutable after construction.
  int level_;  // this guard's depth, 1 = outermost
  bool savepoint_;
  // Mutable.
  bool active_ = true;
};

}  // namespace berth::sqlite
