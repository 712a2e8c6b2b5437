#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/transaction.hpp>

#include "connection_state.hpp"
#include "read_guard.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

namespace berth::sqlite {

namespace {
/// Text longer than an int can count is refused before it is read:
/// sqlite3_prepare takes the length as an int, and a negative one means
/// "read up to a NUL" past the end of the view; the cache's hash would read
/// it all too (SqliteConnection.SqlLongerThanAnIntIsRefusedUnreadBug). A
/// compare, on every prepare() and execute().
[[noreturn, gnu::cold]] void fail_too_long(std::size_t size) {
  throw_sqlite_error(to_error_code(SQLITE_TOOBIG),
                     "the SQL text is " + std::to_string(size) + " bytes, more than SQLite can prepare (" +
                         std::to_string(std::numeric_limits<int>::max()) + "); not shown");
}
void refuse_too_long(std::string_view sql) {
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) [[unlikely]]
    fail_too_long(sql.size());
}

/// A call on a closed (or moved-from) connection. Out of line and cold, so
/// that the callers' fast paths build no string.
[[noreturn, gnu::cold]] void fail_closed(std::string_view sql) {
  throw_sqlite_error(to_error_code(SQLITE_MISUSE), "connection is closed", std::string(sql));
}

/// SQLite reads SQL text only up to a NUL byte: what follows would be
/// dropped without a word (the second statement of "A;\0B"). A memchr: on
/// every execute(), and on a prepare() that misses the cache only (a hit
/// matched text that was checked when it was cached).
void refuse_nul(std::string_view sql) {
  if (const std::size_t at = sql.find('\0'); at != std::string_view::npos)
    throw_sqlite_error(to_error_code(SQLITE_MISUSE),
                       "the SQL text holds a NUL byte at offset " + std::to_string(at) +
                           " (SQLite would ignore everything after it)",
                       std::string(sql.substr(0, at)));
}
}  // namespace

namespace detail {

void connection_state::fail(int rc, std::string_view sql) {
  // sqlite3_errmsg describes the most recent failed call on this handle,
  // which is the one that returned rc.
  std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (refused_action >= 0 && (rc == SQLITE_AUTH || rc == SQLITE_SCHEMA)) [[unlikely]] {
    // A refusal inside a transaction after another connection changed the
    // schema comes back as SQLITE_SCHEMA (SQLite cannot reload the schema
    // there to tell "refused" from "stale"): the refusal is the cause.
    rc = SQLITE_AUTH;
    // SQLite's own words are "not authorized": say whose refusal it was.
    message += read_guard_explanation(std::exchange(refused_action, -1));
  }
  fail_with(rc, std::move(message), sql);
}

void connection_state::record_failure(int rc) noexcept {
  last_error = rc;
  // Sticky: SELECT 1 still works on a file with a corrupt page elsewhere,
  // and a later ordinary error (a typo) used to replace the code that
  // validate() and reset() looked at, so a corrupt connection went back to
  // idle and was handed out again
  // (SqliteAdapter.AConnectionThatReportedCorruptionIsDiscardedAtItsReleaseBug).
  if (fatal_error == 0 && is_fatal(to_error_code(rc))) {
    fatal_error = rc;
    fatal = true;
  }
}

void connection_state::fail_with(int rc, std::string message, std::string_view sql) {
  record_failure(rc);
  // This failure ended the transaction of a live guard (SQLite rolled it
  // back on its own): the cause a later refused statement names.
  if (depth > 0 && rollback_cause == 0 && db != nullptr && sqlite3_get_autocommit(db) != 0) rollback_cause = rc;
  throw_sqlite_error(to_error_code(rc), std::move(message), std::string(sql));
}

statement& connection_state::prepare_cached(std::string_view sql) {
  // The repeated text, apart so that it pays no stack frame for the rest:
  // open, not inherited, and the text prepared last.
  if (db != nullptr && !origin.inherited() && last_prepared != nullptr &&
      std::string_view(last_prepared->first) == sql) [[likely]] {
    statement& st = *last_prepared->second;
    st.rewind(statements_unseen);
    return st;
  }
  return find_or_prepare(sql);
}

statement& connection_state::find_or_prepare(std::string_view sql) {
  if (db == nullptr) fail_with(SQLITE_MISUSE, "connection is closed", sql);
  check_not_inherited(sql);
  if (auto it = cache.find(sql); it != cache.end()) {
    last_prepared = &*it;
    it->second->rewind(statements_unseen);
    return *it->second;
  }
  refuse_nul(sql);
  sqlite3_stmt* st = nullptr;
  const char* tail = nullptr;
  refused_action = -1;  // set by the read guard during this prepare only
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &st,
                                    &tail);
  if (rc != SQLITE_OK) fail(rc, sql);
  const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
  // A tail of whitespace, ';' and comments is no second statement
  // (SqliteConnection.PrepareAcceptsATrailingCommentBug).
  if (st == nullptr || !only_blanks(rest)) {
    sqlite3_finalize(st);
    fail_with(SQLITE_MISUSE,
              st == nullptr ? "prepare: the SQL holds no statement"
                            : "prepare: the SQL must hold exactly one statement (use execute() for several)",
              sql);
  }
  note(classify(sql));
  auto owned = std::unique_ptr<statement>(new statement(*this, st));
  last_prepared = &*cache.emplace(std::string(sql), std::move(owned)).first;
  return *last_prepared->second;
}

void connection_state::reset_pending_writes() noexcept {
  for (auto& [sql, st] : cache)
    if (sqlite3_stmt_busy(st->stmt_) != 0 && sqlite3_stmt_readonly(st->stmt_) == 0) st->reset();
}

void connection_state::rewind_statements() noexcept {
  for (auto& [sql, st] : cache) st->rewind(statements_unseen);
}

void connection_state::close() noexcept {
  // Guards on this state are left with nothing to end (the transaction ends
  // with the handle) (TransactionTest.AGuardFollowsItsConnectionsStateNotTheObjectBug).
  for (transaction* g = std::exchange(guards, nullptr); g != nullptr; g = std::exchange(g->outer_, nullptr)) g->s_ = nullptr;
  depth = 0;
  if (db != nullptr && origin.inherited_checked()) {
    // A fork child: the handle and its statements are the parent's (the
    // file descriptors are shared). sqlite3_close/finalize here could
    // release locks, roll back or checkpoint behind the parent's back
    // (sqlite.org/howtocorrupt.html, 2.6): forget them, leaking the memory.
    for (auto& [sql, st] : cache) (void)st.release();
    last_prepared = nullptr;
    cache.clear();
    db = nullptr;
    return;
  }
  last_prepared = nullptr;
  cache.clear();  // finalizes every statement before the handle goes
  if (db != nullptr) sqlite3_close_v2(std::exchange(db, nullptr));
}

void connection_state::fail_inherited(std::string_view sql) {
  fail_with(SQLITE_MISUSE,
            "this connection was opened in process " + std::to_string(origin.owner_pid()) +
                " and inherited through fork(): SQLite connections must not be used across fork() "
                "(open a new one in the child)",
            sql);
}

void connection_state::fail_transaction_lost(std::string_view sql) {
  // The failure after which SQLite rolled the transaction back is the cause,
  // and keeps its class (SQLITE_FULL: resource_exhausted; BUSY: retryable,
  // so write() runs the whole function again). None seen (a COMMIT or
  // ROLLBACK outside the guards ended it): SQLITE_ABORT_ROLLBACK, never
  // retried (SqliteDatabaseFile.AWriteWhoseFunctionCommitsItselfIsNotRetriedBug).
  const int cause = rollback_cause;
  std::string why = "the transaction of this connection's live transaction guard (depth " + std::to_string(depth) +
                    ") is no longer open, so the statement was not run (it would have committed on its own): ";
  if (cause != 0)
    why += std::string("SQLite rolled the whole transaction back after ") + sqlite3_errstr(cause) +
           " (extended code " + std::to_string(cause) + ")";
  else
    why += "SQLite rolled it back after an error, or a COMMIT, END or ROLLBACK outside the guards ended it";
  why += "; end the guards (their rollback is then a no-op) and run the transaction again";
  record_failure(cause != 0 ? cause : SQLITE_ABORT_ROLLBACK);  // not fail_with: this is no new cause
  throw_sqlite_error(to_error_code(last_error), std::move(why), std::string(sql));
}

}  // namespace detail

connection connection::open(const std::string& filename, int flags) {
  sqlite3* h = nullptr;
  const int rc = sqlite3_open_v2(filename.c_str(), &h, flags | SQLITE_OPEN_EXRESCODE, nullptr);
  if (rc != SQLITE_OK) {
    // A handle is returned even on failure (unless out of memory); it holds
    // the message and must be closed.
    std::string msg = h != nullptr ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    sqlite3_close_v2(h);
    throw_sqlite_error(to_error_code(rc), "cannot open '" + filename + "': " + msg);
  }
  sqlite3_extended_result_codes(h, 1);
  return connection(std::make_unique<detail::connection_state>(h));
}

connection connection::open(const std::string& filename) {
  return open(filename, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | detail::open_mode_flags);
}

connection::connection() noexcept = default;
connection::connection(std::unique_ptr<detail::connection_state> s) noexcept
    : s_(std::move(s)), flags_(s_.get()) {}
connection::connection(connection&& o) noexcept : s_(std::move(o.s_)), flags_(std::exchange(o.flags_, &detail::closed_connection_flags)) {}
connection& connection::operator=(connection&& o) noexcept {
  if (this != &o) {
    close();
    s_ = std::move(o.s_);
    flags_ = std::exchange(o.flags_, &detail::closed_connection_flags);
  }
  return *this;
}
connection::~connection() = default;

void connection::execute(std::string_view sql) {
  if (!s_ || s_->db == nullptr) fail_closed(sql);
  s_->execute(sql);
}

void detail::connection_state::execute(std::string_view sql) {
  refuse_too_long(sql);
  refuse_nul(sql);
  check_not_inherited(sql);
  std::string_view rest = sql;
  while (true) {
    // Errors name the statement without the whitespace before it.
    rest.remove_prefix(std::min(rest.size(), rest.find_first_not_of(" \t\r\n")));
    if (rest.empty()) break;
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    refused_action = -1;  // set by the read guard during this prepare only
    int rc = sqlite3_prepare_v2(db, rest.data(), static_cast<int>(rest.size()), &st, &tail);
    if (rc != SQLITE_OK) fail(rc, rest);
    const std::string_view this_sql(rest.data(), static_cast<std::size_t>(tail - rest.data()));
    rest.remove_prefix(this_sql.size());
    if (st == nullptr) {
      if (this_sql.empty()) break;  // nothing consumed: only trailing text left
      continue;                     // whitespace or a comment
    }
    note(classify(this_sql));
    if (depth > 0 && sqlite3_get_autocommit(db) != 0) [[unlikely]] {
      sqlite3_finalize(st);
      fail_transaction_lost(this_sql);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      // Read the message before finalize, which may replace it.
      std::string msg = sqlite3_errmsg(db);
      sqlite3_finalize(st);
      fail_with(rc, std::move(msg), this_sql);
    }
    sqlite3_finalize(st);
  }
}

statement& connection::prepare(std::string_view sql) {
  if (!s_) [[unlikely]]
    fail_closed(sql);
  refuse_too_long(sql);
  return s_->prepare_cached(sql);  // refuses a NUL byte on a cache miss
}

std::int64_t connection::changes() const noexcept { return s_ && s_->db ? sqlite3_changes64(s_->db) : 0; }
std::int64_t connection::last_insert_rowid() const noexcept {
  return s_ && s_->db ? sqlite3_last_insert_rowid(s_->db) : 0;
}
bool connection::in_transaction() const noexcept { return s_ && s_->db && sqlite3_get_autocommit(s_->db) == 0; }
int connection::transaction_depth() const noexcept { return s_ ? s_->depth : 0; }
bool connection::has_active_statements() const noexcept { return s_ && s_->stepping > 0; }
bool connection::transaction_open() const noexcept { return s_ && s_->db && sqlite3_get_autocommit(s_->db) == 0; }

void connection::reset_statements() noexcept {
  if (!s_) return;
  s_->rewind_statements();
}

std::size_t connection::cached_statements() const noexcept { return s_ ? s_->cache.size() : 0; }

std::error_code connection::last_error() const noexcept {
  return s_ && s_->last_error != 0 ? to_error_code(s_->last_error) : std::error_code{};
}

std::error_code connection::fatal_error() const noexcept {
  return s_ && s_->fatal_error != 0 ? to_error_code(s_->fatal_error) : std::error_code{};
}

sqlite3* connection::native_handle() const noexcept {
  if (!s_) return nullptr;
  // The caller may BEGIN through it. Settings made through it are the
  // caller's to undo (connection.hpp): the handle is the everyday escape
  // hatch (last_insert_rowid, blob I/O, backup), and discarding the
  // connection at every such lease would cost a reconnect per use.
  s_->may_open_transactions = true;
  // Cached statements reached through it (sqlite3_next_stmt) may be
  // stepped or bound unseen: prepare() then always resets and clears.
  s_->statements_unseen = true;
  return s_->db;
}
connection::operator bool() const noexcept { return s_ && s_->db != nullptr; }
bool connection::file_moved() const noexcept {
  if (!s_ || s_->db == nullptr) return false;
  int moved = 0;
  // SQLITE_NOTFOUND from VFSes without the check (memdb): not moved.
  return sqlite3_file_control(s_->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved != 0;
}
bool connection::inherited() const noexcept { return s_ && s_->origin.inherited_checked(); }

namespace detail {
sqlite3* handle_of(const connection& c) noexcept { return c.s_ ? c.s_->db : nullptr; }
connection_state* state_of(connection& c) noexcept { return c.s_.get(); }
void mark_configured(connection& c) noexcept {
  if (c.s_) c.s_->may_open_transactions = c.s_->may_change_session = false;
}
}  // namespace detail

void connection::close() noexcept {
  flags_ = &detail::closed_connection_flags;
  s_.reset();
}

}  // namespace berth::sqlite
