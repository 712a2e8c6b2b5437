#include <berth/sqlite/transaction.hpp>

#include <berth/sqlite/connection.hpp>

#include "connection_state.hpp"

#include <sqlite3.h>

#include <stdexcept>
#include <string>

namespace berth::sqlite {

namespace {
std::string savepoint_name(int level) { return "berth_sp_" + std::to_string(level); }

const char* begin_sql(transaction_mode m) noexcept {
  switch (m) {
    case transaction_mode::deferred: return "BEGIN DEFERRED";
    case transaction_mode::immediate: return "BEGIN IMMEDIATE";
    case transaction_mode::exclusive: return "BEGIN EXCLUSIVE";
  }
  return "BEGIN";
}
}  // namespace

transaction::transaction(connection& conn, transaction_mode mode)
    : conn_(conn), level_(conn.transaction_depth() + 1), savepoint_(conn.in_transaction()) {
  if (!conn_.s_) throw std::logic_error("berth::sqlite::transaction: the connection is closed");
  if (!savepoint_ && level_ == 1) conn_.s_->rollback_cause = 0;  // a new transaction: no cause from an earlier one
  conn_.execute(savepoint_ ? "SAVEPOINT " + savepoint_name(level_) : std::string(begin_sql(mode)));
  conn_.s_->depth = level_;
}

transaction::~transaction() {
  if (!active_) return;
  try {
    end_rollback();
  } catch (...) {
    // Nothing to report from a destructor; the adapter's reset() rolls back
    // what is still open before the connection is reused.
  }
}

void transaction::finish_check(const char* what) const {
  if (!conn_) {  // closed under the guard: nothing to commit or roll back on
    const std::string sql = std::string(what) == "commit" ? (savepoint_ ? "RELEASE" : "COMMIT") : "ROLLBACK";
    throw_sqlite_error(to_error_code(SQLITE_MISUSE),
                       std::string("berth::sqlite::transaction::") + what +
                           ": the connection was closed while the guard was live (its transaction ended with it)",
                       sql);
  }
  if (!active_)
    throw std::logic_error(std::string("berth::sqlite::transaction::") + what + ": already finished");
  if (conn_.transaction_depth() != level_)
    throw std::logic_error(std::string("berth::sqlite::transaction::") + what +
                           ": not the innermost live guard on its connection (depth " +
                           std::to_string(conn_.transaction_depth()) + ", this guard " + std::to_string(level_) +
                           ")");
}

void transaction::commit() {
  finish_check("commit");
  // A writing statement left mid-result would make COMMIT fail with
  // SQLITE_BUSY, which write() retries until its deadline (reset_pending_writes).
  conn_.s_->reset_pending_writes();
  conn_.execute(savepoint_ ? "RELEASE " + savepoint_name(level_) : std::string("COMMIT"));
  active_ = false;
  conn_.s_->depth = level_ - 1;
}

void transaction::rollback() {
  finish_check("rollback");
  end_rollback();
}

void transaction::end_rollback() {
  // Finished whatever happens: a failed rollback leaves nothing to retry
  // through this guard.
  active_ = false;
  if (conn_.s_) conn_.s_->depth = level_ - 1;
  // SQLite may already have rolled the whole transaction back on its own
  // (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY in some cases, ...): then there
  // is nothing to undo, and ROLLBACK would fail with "no transaction".
  if (!conn_.in_transaction()) return;
  if (savepoint_) {
    // A writing statement left mid-result would make RELEASE fail with
    // SQLITE_BUSY (reset_pending_writes; SavepointRollbackAfterInsertReturningSteppedOnceBug).
    conn_.s_->reset_pending_writes();
    const std::string name = savepoint_name(level_);
    conn_.execute("ROLLBACK TO " + name + "; RELEASE " + name);
  } else {
    conn_.execute("ROLLBACK");
  }
}

}  // namespace berth::sqlite
