#include <berth/sqlite/statement.hpp>

#include "connection_state.hpp"

#include <sqlite3.h>

#include <cmath>
#include <string>

namespace berth::sqlite {

namespace {

const char* type_name(int t) noexcept {
  switch (t) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    case SQLITE_NULL: return "NULL";
    default: return "unknown";
  }
}

// SQLITE_TRANSIENT without the header macro's C-style cast: SQLite copies
// the bytes before the bind call returns.
sqlite3_destructor_type transient() noexcept {
  return reinterpret_cast<sqlite3_destructor_type>(static_cast<std::intptr_t>(-1));
}

}  // namespace

statement::~statement() { sqlite3_finalize(stmt_); }

// ---- binding

void statement::check_bind(int index, int rc) {
  bound_ = true;  // a failed bind set nothing, but one clear too many costs less than a branch
  if (rc == SQLITE_OK) return;
  if (rc == SQLITE_RANGE) bind_out_of_range(index);
  if (rc == SQLITE_MISUSE && sqlite3_stmt_busy(stmt_) != 0)
    conn_->fail_with(rc,
                     "bind " + std::to_string(index) +
                         " on a statement that is mid-result: reset() it first (or step it to its end)",
                     sql());
  // After its last step (false) or a failed one SQLite still refuses binds
  // until a reset, with only "bad parameter or other API misuse"
  // (StatementTest.BindAfterTheLastStepSaysResetFirstBug).
  if (rc == SQLITE_MISUSE && stepped_)
    conn_->fail_with(rc,
                     "bind " + std::to_string(index) +
                         " on a statement that has run (step() returned false or failed): reset() it first",
                     sql());
  conn_->fail(rc, sql());
}

void statement::bind_out_of_range(int index) const {
  const int n = sqlite3_bind_parameter_count(stmt_);
  std::string why = "bind index " + std::to_string(index) + " out of range: ";
  if (n == 0)
    why += "the statement has no parameters";
  else
    why += "the statement has " + std::to_string(n) + " parameter" + (n == 1 ? "" : "s") + " (valid: 1.." +
           std::to_string(n) + ")";
  conn_->fail_with(SQLITE_RANGE, std::move(why), sql());
}

void statement::bind_value_out_of_range(int index, std::uint64_t value) const {
  conn_->fail_with(SQLITE_RANGE,
                   "bind " + std::to_string(index) + ": the value " + std::to_string(value) +
                       " is above INT64_MAX, the largest integer SQLite stores (bind it as text or a blob)",
                   sql());
}

void statement::bind(int index, std::nullptr_t) { check_bind(index, sqlite3_bind_null(stmt_, index)); }
void statement::bind(int index, std::int64_t value) { check_bind(index, sqlite3_bind_int64(stmt_, index, value)); }
void statement::bind(int index, double value) {
  // SQLite stores a NaN as NULL, without a word: a NOT NULL column then
  // fails with a constraint error, a nullable one silently holds NULL
  // (StatementTest.BindingNanIsRefusedNotStoredAsNullBug).
  if (std::isnan(value))
    conn_->fail_with(SQLITE_MISMATCH,
                     "bind " + std::to_string(index) +
                         ": NaN, which SQLite would store as NULL (bind nullptr for NULL, or store NaN as text)",
                     sql());
  check_bind(index, sqlite3_bind_double(stmt_, index, value));
}
void statement::bind(int index, std::string_view text) {
  // A null pointer would bind NULL; an empty view must bind ''.
  const char* p = text.data() != nullptr ? text.data() : "";
  check_bind(index, sqlite3_bind_text64(stmt_, index, p, text.size(), transient(), SQLITE_UTF8));
}
void statement::bind(int index, std::span<const std::byte> blob) {
  if (blob.empty()) {
    check_bind(index, sqlite3_bind_zeroblob(stmt_, index, 0));  // an empty blob, not NULL
    return;
  }
  check_bind(index, sqlite3_bind_blob64(stmt_, index, blob.data(), blob.size(), transient()));
}

void statement::clear_bindings() noexcept {
  sqlite3_clear_bindings(stmt_);
  bound_ = false;
}
void statement::reset() noexcept {
  sqlite3_reset(stmt_);
  set_stepping(false);
  stepped_ = false;
}

// ---- execution

void statement::set_stepping(bool on) noexcept {
  if (on == stepping_) return;
  stepping_ = on;
  conn_->stepping += on ? 1 : -1;
}

bool statement::step() {
  // A statement prepared before a fork() must not run in the child: it is
  // the parent's handle's (connection::inherited()). One relaxed load.
  if (conn_->origin.inherited()) [[unlikely]]
    conn_->fail_inherited(sql());
  // A first step under a live guard only (sql() is a call: not on the hot path).
  if (!stepping_ && conn_->depth > 0) [[unlikely]]
    conn_->check_transaction_alive(sql());
  stepped_ = true;  // even a step that fails or returns done leaves a reset to do
  const int rc = sqlite3_step(stmt_);
  set_stepping(rc == SQLITE_ROW);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  conn_->fail(rc, sql());
}

// ---- reading

int statement::column_count() const noexcept { return sqlite3_column_count(stmt_); }

void statement::check_column(int col) const {
  const int n = sqlite3_column_count(stmt_);
  if (col >= 0 && col < n) return;
  std::string why = "column index " + std::to_string(col) + " out of range: ";
  if (n == 0)
    why += "the statement returns no columns";
  else
    why += "the result has " + std::to_string(n) + " column" + (n == 1 ? "" : "s") + " (valid: 0.." +
           std::to_string(n - 1) + ")";
  conn_->fail_with(SQLITE_RANGE, std::move(why), sql());
}

std::string_view statement::column_name(int col) const {
  check_column(col);
  const char* name = sqlite3_column_name(stmt_, col);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

void statement::check_row(int col) const {
  check_column(col);
  if (stepping_) return;  // step() returned a row, and no reset() since
  conn_->fail_with(SQLITE_MISUSE,
                   "reading column " + std::to_string(col) +
                       " with no current row: step() has not returned true since the statement was "
                       "prepared or reset, or it returned false (no more rows)",
                   sql());
}

// The getters' fast path: a row to read and the column in range, in a
// flag read and one cheap call. The column count is asked each time, not
// kept: a schema change makes SQLite re-prepare the statement at its next
// step, which may change it (SELECT * after ALTER TABLE ADD COLUMN).
// When it fails, or the type is not the one asked for, check_row() or
// check_type() run every check again in their order and throw the error.
bool statement::readable(int col) const noexcept {
  return stepping_ && static_cast<unsigned>(col) < static_cast<unsigned>(sqlite3_column_count(stmt_));
}

bool statement::is_null(int col) const {
  if (!readable(col)) [[unlikely]]
    check_row(col);  // throws
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

void statement::check_type(int col, int expected, const char* expected_name) const {
  check_row(col);
  const int actual = sqlite3_column_type(stmt_, col);
  if (actual == expected) return;
  std::string why = "type mismatch reading column " + std::to_string(col) + " (\"" +
                    std::string(column_name(col)) + "\") as " + expected_name + ": the value is " +
                    type_name(actual);
  if (actual == SQLITE_NULL) why += " (check is_null() or read a std::optional)";
  conn_->fail_with(SQLITE_MISMATCH, std::move(why), sql());
}

// One lookup of the column where sqlite3_column_type() and then the
// reader each found it again (columnMem(), with the connection's mutex and
// sqlite3ApiExit() around it): ~28 instructions fewer per integer read,
// 3% of a prepared SELECT 1 (bench/icount.sh). On a connection with a
// mutex (SQLITE_OPEN_FULLMUTEX through connection::open(path, flags)),
// the column_* readers, which take it.
int statement::type_of(int col, sqlite3_value*& v) const noexcept {
  if (conn_->unmutexed) [[likely]] {
    v = sqlite3_column_value(stmt_, col);
    return sqlite3_value_type(v);
  }
  v = nullptr;
  return sqlite3_column_type(stmt_, col);
}

std::int64_t statement::get_int64(int col) const {
  sqlite3_value* v = nullptr;
  if (!readable(col) || type_of(col, v) != SQLITE_INTEGER) [[unlikely]]
    check_type(col, SQLITE_INTEGER, "INTEGER (std::int64_t)");  // throws
  // An INTEGER value converts nothing, so reads nothing that could fail.
  return v != nullptr ? sqlite3_value_int64(v) : sqlite3_column_int64(stmt_, col);
}

double statement::get_double(int col) const {
  if (!readable(col)) [[unlikely]]
    check_row(col);  // throws
  sqlite3_value* v = nullptr;
  const int type = type_of(col, v);
  if (type == SQLITE_FLOAT) [[likely]]
    return v != nullptr ? sqlite3_value_double(v) : sqlite3_column_double(stmt_, col);
  if (type == SQLITE_INTEGER) {
    // The one widening allowed: only when exact.
    const std::int64_t i = v != nullptr ? sqlite3_value_int64(v) : sqlite3_column_int64(stmt_, col);
    const auto d = static_cast<double>(i);
    if (d < 9223372036854775808.0 && static_cast<std::int64_t>(d) == i) return d;
    conn_->fail_with(SQLITE_MISMATCH,
                     "type mismatch reading column " + std::to_string(col) + " (\"" +
                         std::string(column_name(col)) + "\") as REAL (double): the value is INTEGER " +
                         std::to_string(i) + ", which a double cannot hold exactly",
                     sql());
  }
  check_type(col, SQLITE_FLOAT, "REAL (double)");
  return sqlite3_column_double(stmt_, col);
}

std::string_view statement::get_text(int col) const {
  sqlite3_value* v = nullptr;  // not read: text and blob readers may allocate, column_* report a failure
  if (!readable(col) || type_of(col, v) != SQLITE_TEXT) [[unlikely]]
    check_type(col, SQLITE_TEXT, "TEXT (string)");  // throws
  // Pointer first, then the size (SQLite's documented order).
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) [[unlikely]]  // a TEXT value: out of memory converting it (a UTF-16 database)
    text_failed(col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return {p, static_cast<std::size_t>(n)};
}

void statement::text_failed(int col) const {
  // An empty view would pass for "" and lose the value without a word.
  conn_->fail_with(SQLITE_NOMEM,
                   "reading column " + std::to_string(col) + " as TEXT (string): out of memory converting it to UTF-8",
                   sql());
}

std::span<const std::byte> statement::get_blob(int col) const {
  sqlite3_value* v = nullptr;  // not read: text and blob readers may allocate, column_* report a failure
  if (!readable(col) || type_of(col, v) != SQLITE_BLOB) [[unlikely]]
    check_type(col, SQLITE_BLOB, "BLOB (bytes)");  // throws
  const auto* p = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr) return {};  // a zero-length blob
  return {p, static_cast<std::size_t>(n)};
}

sqlite3_stmt* statement::native_handle() const noexcept {
  conn_->may_open_transactions = true;  // needs_reset() then looks further,
  conn_->raw_statements = true;         // and resets on every release,
  conn_->statements_unseen = true;      // and prepare() always rewinds
  return stmt_;
}

std::string_view statement::sql() const noexcept {
  const char* s = sqlite3_sql(stmt_);
  return s != nullptr ? std::string_view(s) : std::string_view();
}

}  // namespace berth::sqlite
