// statement.hpp: a prepared statement, owned by its connection's cache.
//
//   auto& st = conn.prepare("SELECT id, name FROM users WHERE age > ?1");
//   st.bind(1, 30);
//   while (st.step()) use(st.get<std::int64_t>(0), st.get<std::string>(1));
//
// Reads are strict: get<T> checks the stored type first and throws
// sqlite_error (SQLITE_MISMATCH) naming the column, the SQL, the type asked
// for and the type stored, instead of converting as sqlite3_column_int64 and
// friends do (TEXT "abc" read as 0). One widening is allowed: an INTEGER read
// as double when the double holds it exactly. NULL is never read as a value:
// check is_null(col) or read std::optional<T>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

struct sqlite3_stmt;
struct sqlite3_value;

namespace berth::sqlite {

namespace detail {
struct connection_state;
}

/// A prepared statement from connection::prepare(). Not copyable or movable:
/// the connection owns it and finalizes it when the connection closes.
/// Indices: bind() takes SQLite's 1-based parameter index, column reads take
/// 0-based column indices; either out of range throws sqlite_error
/// (SQLITE_RANGE) naming the index and the SQL.
/// Distinct objects: safe when their connections differ. Shared objects:
/// unsafe (a statement belongs to its connection's single user).
/// Aligned to 128 bytes: statements of different pooled connections are
/// often allocated side by side (the first validation prepares them on the
/// reaper thread), and each step writes to its statement; see
/// connection_state.
class alignas(128) statement {
 public:
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  /// Finalizes the statement. Never blocks.
  ~statement();

  // ---- binding (1-based). Text and blobs are copied (SQLITE_TRANSIENT).
  // Each throws sqlite_error on a bad index. Unsafe for concurrent use.

  void bind(int index, std::nullptr_t);
  void bind(int index, std::int64_t value);
  /// Any integral type; an unsigned value above INT64_MAX throws
  /// sqlite_error (SQLITE_RANGE) rather than wrapping.
  template <class I>
    requires std::is_integral_v<I> && (!std::is_same_v<I, std::int64_t>)
  void bind(int index, I value) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (value > static_cast<I>(std::numeric_limits<std::int64_t>::max()))
        bind_value_out_of_range(index, static_cast<std::uint64_t>(value));
    }
    bind(index, static_cast<std::int64_t>(value));
  }
  /// A double. NaN is refused (SQLITE_MISMATCH): SQLite would store it as NULL.
  void bind(int index, double value);
  /// Text (UTF-8). An empty view binds an empty string, never NULL.
  void bind(int index, std::string_view text);
  /// A null pointer binds NULL, as bind(index, nullptr) does.
  void bind(int index, const char* text) {
    if (text == nullptr)
      bind(index, nullptr);
    else
      bind(index, std::string_view(text));
  }
  void bind(int index, const std::string& text) { bind(index, std::string_view(text)); }
  /// A blob. An empty span binds an empty blob, never NULL.
  void bind(int index, std::span<const std::byte> blob);

  /// Sets every parameter back to NULL. Never throws.
  void clear_bindings() noexcept;
  /// Rewinds the statement so step() runs it again; bindings are kept.
  /// Never throws (a failure of the last step() was already thrown by it).
  void reset() noexcept;

  // ---- execution

  /// Runs the statement to its next row: true when a row is available
  /// (read it with get<T>), false when it is done. Throws sqlite_error with
  /// the engine's message and the SQL on failure, and SQLITE_MISUSE naming
  /// the fork in a fork child when the statement was prepared before the
  /// fork (connection::inherited()).
  [[nodiscard]] bool step();

  // ---- reading the current row (0-based columns)

  /// Number of result columns (0 for statements that return no data).
  int column_count() const noexcept;
  /// The column's name (its AS alias when given). Valid until the statement
  /// is finalized. Throws sqlite_error (SQLITE_RANGE) on a bad index.
  std::string_view column_name(int col) const;
  /// True when the column of the current row is NULL. Throws on a bad index,
  /// and (SQLITE_MISUSE) when there is no current row: step() has not
  /// returned true since the statement was prepared or reset, or it returned
  /// false (done).
  bool is_null(int col) const;

  /// The column's value as T, one of: std::int64_t, double, std::string,
  /// std::string_view (valid until the next step/reset), std::vector<std::byte>,
  /// std::span<const std::byte> (valid until the next step/reset), or
  /// std::optional of any of these (nullopt for NULL). Throws sqlite_error
  /// (SQLITE_MISMATCH) when the stored type differs, (SQLITE_RANGE) on a bad
  /// index, (SQLITE_MISUSE) when there is no current row (see is_null); the
  /// message names column, SQL, expected and actual types. A TEXT read that
  /// SQLite cannot convert to UTF-8 for lack of memory (a UTF-16 database)
  /// throws SQLITE_NOMEM, never an empty string.
  template <class T>
  T get(int col) const {
    if constexpr (is_optional<T>::value) {
      if (is_null(col)) return std::nullopt;
      return get<typename T::value_type>(col);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      return get_int64(col);
    } else if constexpr (std::is_same_v<T, double>) {
      return get_double(col);
    } else if constexpr (std::is_same_v<T, std::string_view>) {
      return get_text(col);
    } else if constexpr (std::is_same_v<T, std::string>) {
      return std::string(get_text(col));
    } else if constexpr (std::is_same_v<T, std::span<const std::byte>>) {
      return get_blob(col);
    } else if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
      const auto b = get_blob(col);
      return std::vector<std::byte>(b.begin(), b.end());
    } else {
      static_assert(sizeof(T) == 0,
                    "statement::get<T>: T must be std::int64_t, double, std::string, std::string_view, "
                    "std::vector<std::byte>, std::span<const std::byte> or std::optional of one");
    }
  }

  /// The SQL text as prepared. Never blocks.
  std::string_view sql() const noexcept;
  /// The underlying handle, for SQLite calls berth does not wrap. Once it
  /// has been handed out, the connection is reset on every release to its
  /// pool (a step through it is not seen by connection::needs_reset()), and
  /// prepare() resets and clears every statement it hands out (a step or a
  /// bind through it is not seen either).
  /// Settings changed on its connection (sqlite3_db_handle) are not seen:
  /// take connection::native_handle() for those, so that a pool discards
  /// the connection at its release (connection::session_may_have_changed()).
  sqlite3_stmt* native_handle() const noexcept;

 private:
  friend struct detail::connection_state;
  statement(detail::connection_state& conn, sqlite3_stmt* stmt) noexcept : conn_(&conn), stmt_(stmt) {}

  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};

  std::int64_t get_int64(int col) const;
  double get_double(int col) const;
  std::string_view get_text(int col) const;
  std::span<const std::byte> get_blob(int col) const;
  /// A current row (stepping_) and col in range: the getters' fast path.
  bool readable(int col) const noexcept;
  /// The type of column col of the current row (readable(col) checked);
  /// `v` is its value for the sqlite3_value_* readers, or null when they
  /// may not read it (a connection with a mutex: use sqlite3_column_*).
  int type_of(int col, sqlite3_value*& v) const noexcept;
  void check_column(int col) const;
  /// check_column, and a current row to read (stepping_).
  void check_row(int col) const;
  void check_type(int col, int expected, const char* expected_name) const;
  /// get_text() could not convert a TEXT value for lack of memory: throws
  /// SQLITE_NOMEM naming the column.
  [[noreturn]] void text_failed(int col) const;
  void check_bind(int index, int rc);
  [[noreturn]] void bind_out_of_range(int index) const;
  [[noreturn]] void bind_value_out_of_range(int index, std::uint64_t value) const;

  void set_stepping(bool on) noexcept;
  /// Brings the statement back to how prepare() hands it out (reset, no
  /// bindings), skipping the reset when it has not been stepped since its
  /// last one and the clear when it has not been bound since its last one:
  /// on a cached SELECT whose user reset it, that skips a second
  /// sqlite3_reset and a sqlite3_clear_bindings, about 120 instructions
  /// per prepare() under callgrind. `unseen`: the statement may have been used
  /// through a native handle, which berth does not see; then both always
  /// run. Never throws.
  void rewind(bool unseen) noexcept {
    if (stepped_ || unseen) reset();
    if (bound_ || unseen) clear_bindings();
  }

  // Immutable after construction.
  detail::connection_state* conn_;  // owns this statement; outlives it
  sqlite3_stmt* stmt_;
  // Written by the connection's single user (its thread-safety).
  bool stepping_ = false;  // a row was returned and the statement not yet done or reset
  bool stepped_ = false;   // step() called since the last reset() (whatever it returned); stepping_ implies it
  bool bound_ = false;     // bind() called since the last clear_bindings() (even one that failed)
};

}  // namespace berth::sqlite
