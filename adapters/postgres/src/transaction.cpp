// transaction.cpp: see transaction.hpp.
#include <berth/postgres/transaction.hpp>

#include <berth/postgres/connection.hpp>

#include <string>

namespace berth::postgres {
namespace {

std::string savepoint_name(int level) { return "berth_sp_" + std::to_string(level); }

std::string begin_sql(const transaction_options& o) {
  std::string sql = "BEGIN ISOLATION LEVEL ";
  switch (o.isolation) {
    case isolation_level::read_committed: sql += "READ COMMITTED"; break;
    case isolation_level::repeatable_read: sql += "REPEATABLE READ"; break;
    case isolation_level::serializable: sql += "SERIALIZABLE"; break;
  }
  sql += o.read_only ? " READ ONLY" : " READ WRITE";
  if (o.deferrable) sql += " DEFERRABLE";
  return sql;
}

/// A guard used out of order: a postgres_error (25000
/// invalid_transaction_state, in no db_errc class), as every exception of
/// the throwing API is a std::system_error.
[[noreturn]] void throw_misuse(const char* what, const std::string& why) {
  throw_exception(
      error{make_sqlstate_error("25000"), std::string("berth::postgres::transaction::") + what + ": " + why});
}

}  // namespace

transaction::transaction(connection& conn, transaction_options o)
    : conn_(conn), level_(1), savepoint_(false), serial_(0) {
  connection::guard_marks* m = conn_.marks();
  if (m == nullptr)
    throw_exception(error{make_sqlstate_error("08003"), "berth postgres: transaction: the connection is closed"});
  // Idle: a new outermost transaction (any remembered depth is stale: its
  // transaction ended outside the guards). Otherwise nest as a savepoint; in
  // a failed transaction the server refuses SAVEPOINT with 25P02.
  savepoint_ = conn_.transaction() != transaction_state::idle;
  level_ = savepoint_ ? m->depth + 1 : 1;
  conn_.execute(savepoint_ ? "SAVEPOINT " + savepoint_name(level_) : begin_sql(o)).value();
  if (level_ == 1) ++m->serial;
  serial_ = m->serial;
  epoch_ = m->epoch;  // after our BEGIN moved it
  m->depth = level_;
}

transaction::~transaction() {
  if (active_) end_rollback(nullptr);
}

bool transaction::live() const noexcept {
  const connection::guard_marks* m = conn_.marks();
  return m != nullptr && m->serial == serial_ && m->epoch == epoch_ && m->depth >= level_ &&
         conn_.transaction() != transaction_state::idle;
}

void transaction::finish_check(const char* what) {
  if (!active_) throw_misuse(what, "this guard already finished");
  if (!live()) {
    // Ended without us (a manual COMMIT/ROLLBACK, the pool's reset): nothing
    // to finish; record it so the destructor sends nothing either.
    connection::guard_marks* m = conn_.marks();
    if (m != nullptr && m->serial == serial_ && m->depth >= level_) m->depth = level_ - 1;  // NOLINT
    active_ = false;
    throw_misuse(what, "its transaction already ended outside the guard (a COMMIT or ROLLBACK it did not "
                       "send, or the pool's reset)");
  }
  const int depth = conn_.transaction_depth();
  if (depth != level_)
    throw_misuse(what, "not the innermost live guard on its connection (depth " + std::to_string(depth) +
                           ", this guard " + std::to_string(level_) + "); finish inner guards first");
}

void transaction::commit() {
  finish_check("commit");
  connection::guard_marks* m = conn_.marks();
  if (savepoint_) {
    // On failure (25P02: the transaction failed after this savepoint) the
    // guard stays active and its destructor rolls back to the savepoint.
    conn_.execute("RELEASE " + savepoint_name(level_)).value();
    active_ = false;
    m->depth = level_ - 1;
    return;
  }
  auto r = conn_.execute("COMMIT");
  // PostgreSQL ends the transaction whether COMMIT succeeds or fails.
  active_ = false;
  m->depth = 0;
  if (!r) throw_exception(r.error());
  if (r->command_tag() == "ROLLBACK")
    throw_exception(error{make_sqlstate_error("25P02"),
                               "berth postgres: commit: the transaction had failed (an earlier statement's "
                               "error), so COMMIT rolled it back"});
}

void transaction::rollback() {
  finish_check("rollback");
  error e;
  if (!end_rollback(&e)) throw_exception(e);
}

bool transaction::end_rollback(error* err) noexcept {
  active_ = false;
  connection::guard_marks* m = conn_.marks();
  // Closed, or the transaction is someone else's now: nothing of ours to undo.
  if (m == nullptr || m->serial != serial_ || m->depth < level_) return true;
  m->depth = level_ - 1;
  // The transaction ended and a new one (the user's own BEGIN) began since:
  // not ours to roll back.
  if (m->epoch != epoch_) return true;
  // Ended already (a failed COMMIT, a manual ROLLBACK): nothing to undo.
  if (conn_.transaction() == transaction_state::idle) return true;
  try {
    const std::string name = savepoint_name(level_);
    // Bounded: this runs in destructors, which must return against a
    // server gone silent (past the bound the session is marked broken).
    auto r = conn_.execute_bounded(conn_.cleanup_timeout(),
                                   savepoint_ ? "ROLLBACK TO " + name + "; RELEASE " + name : std::string("ROLLBACK"));
    if (r) return true;
    if (err != nullptr) *err = std::move(r).error();
  } catch (...) {  // std::bad_alloc building the statement or the error
    if (err != nullptr) *err = error{make_sqlstate_error("53200"), {}};
  }
  // The session's transaction state is unknown now: the pool must not reuse it.
  conn_.mark_broken();
  return false;
}

}  // namespace berth::postgres
