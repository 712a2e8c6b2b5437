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
  // A statement that writes and has returned a row without being stepped to
  // its end (INSERT ... RETURNING stepped once, the usual way to read the
  // new id) makes COMMIT fail with SQLITE_BUSY, "SQL statements in
  // progress": a code that reads as another process's lock, retried by
  // write() until its deadline. SQLite makes all of such a statement's
  // changes at its first step, so resetting it keeps them. Read-only
  // statements may stay mid-result: SQLite commits under them.
  if (conn_.s_)
    for (auto& [sql, st] : conn_.s_->cache)
      if (sqlite3_stmt* h = st->native_handle(); sqlite3_stmt_busy(h) != 0 && sqlite3_stmt_readonly(h) == 0)
        st->reset();
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
    const std::string name = savepoint_name(level_);
    conn_.execute("ROLLBACK TO " + name + "; RELEASE " + name);
  } else {
    conn_.execute("ROLLBACK");
  }
}

}  // namespace berth::sqlite
