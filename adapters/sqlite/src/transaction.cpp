#include <berth/sqlite/transaction.hpp>

#include <berth/sqlite/connection.hpp>

#include "connection_state.hpp"

#include <sqlite3.h>

#include <string>
#include <utility>

namespace berth::sqlite {

namespace {
std::string savepoint_name(int level) { return "berth_sp_" + std::to_string(level); }

/// A guard used against its contract: SQLITE_MISUSE, as the connection's
/// own misuse errors (a closed connection, a NUL byte), so that the throwing
/// API's exceptions all derive from std::system_error (issue 8); these were
/// std::logic_error. Not recorded as the connection's last error: the
/// connection did nothing wrong.
[[noreturn, gnu::cold]] void fail_misuse(std::string message, std::string sql) {
  throw_sqlite_error(to_error_code(SQLITE_MISUSE), std::move(message), std::move(sql));
}

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
    : s_(conn.s_.get()), level_(conn.transaction_depth() + 1), savepoint_(conn.in_transaction()) {
  if (s_ == nullptr || s_->db == nullptr) fail_misuse("berth::sqlite::transaction: the connection is closed", begin_sql(mode));
  if (!savepoint_ && level_ == 1) s_->rollback_cause = 0;  // a new transaction: no cause from an earlier one
  s_->execute(savepoint_ ? "SAVEPOINT " + savepoint_name(level_) : std::string(begin_sql(mode)));
  s_->depth = level_;
  outer_ = std::exchange(s_->guards, this);
}

transaction::~transaction() {
  if (active_) {
    try {
      end_rollback();
    } catch (...) {
      // Nothing to report from a destructor; the adapter's reset() rolls back
      // what is still open before the connection is reused.
    }
  }
  unlink();
}

void transaction::unlink() noexcept {
  if (s_ == nullptr) return;
  for (transaction** g = &s_->guards; *g != nullptr; g = &(*g)->outer_)
    if (*g == this) {
      *g = outer_;
      break;
    }
  outer_ = nullptr;
}

void transaction::finish_check(const char* what) const {
  if (s_ == nullptr || s_->db == nullptr) {  // closed under the guard: nothing to commit or roll back on
    const std::string sql = std::string(what) == "commit" ? (savepoint_ ? "RELEASE" : "COMMIT") : "ROLLBACK";
    throw_sqlite_error(to_error_code(SQLITE_MISUSE),
                       std::string("berth::sqlite::transaction::") + what +
                           ": the connection was closed while the guard was live (its transaction ended with it)",
                       sql);
  }
  if (!active_) fail_misuse(std::string("berth::sqlite::transaction::") + what + ": already finished", {});
  if (s_->depth != level_)
    fail_misuse(std::string("berth::sqlite::transaction::") + what +
                    ": not the innermost live guard on its connection (depth " + std::to_string(s_->depth) +
                    ", this guard " + std::to_string(level_) + ")",
                {});
}

void transaction::commit() {
  finish_check("commit");
  // A writing statement left mid-result would make COMMIT fail with
  // SQLITE_BUSY, which write() retries until its deadline (reset_pending_writes).
  s_->reset_pending_writes();
  s_->execute(savepoint_ ? "RELEASE " + savepoint_name(level_) : std::string("COMMIT"));
  active_ = false;
  s_->depth = level_ - 1;
}

void transaction::rollback() {
  finish_check("rollback");
  end_rollback();
}

void transaction::end_rollback() {
  // Finished whatever happens: a failed rollback leaves nothing to retry
  // through this guard.
  active_ = false;
  if (s_ == nullptr || s_->db == nullptr) return;  // its connection closed: the transaction went with it
  s_->depth = level_ - 1;
  // SQLite may already have rolled the whole transaction back on its own
  // (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY in some cases, ...): then there
  // is nothing to undo, and ROLLBACK would fail with "no transaction".
  if (sqlite3_get_autocommit(s_->db) != 0) return;
  if (savepoint_) {
    // A writing statement left mid-result would make RELEASE fail with
    // SQLITE_BUSY (reset_pending_writes; SavepointRollbackAfterInsertReturningSteppedOnceBug).
    s_->reset_pending_writes();
    const std::string name = savepoint_name(level_);
    s_->execute("ROLLBACK TO " + name + "; RELEASE " + name);
  } else {
    s_->execute("ROLLBACK");
  }
}

}  // namespace berth::sqlite
