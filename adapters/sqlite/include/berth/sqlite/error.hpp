// error.hpp: SQLite result codes as std::error_code, and the exception the
// adapter's throwing API raises.
//
// Codes are SQLite's EXTENDED result codes (every connection opened by berth
// enables them with sqlite3_extended_result_codes), e.g. 2067
// (SQLITE_CONSTRAINT_UNIQUE) rather than 19 (SQLITE_CONSTRAINT). They compare
// equal to the engine-neutral berth::db_errc conditions, and the thrown
// sqlite_error is also the matching class of berth/db_error.hpp:
//   catch (const berth::retryable_error& e) { ... }       // BUSY*, LOCKED_SHAREDCACHE/_VTAB
//   catch (const berth::sqlite::sqlite_error& e) {
//     if (e.code() == berth::db_errc::retryable) ...      // the same test by code
//     log(e.engine_message());                            // sqlite3_errmsg text
//   }
#pragma once

#include <berth/adapter.hpp>
#include <berth/db_errc.hpp>
#include <berth/db_error.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace berth::sqlite {

/// The category of SQLite extended result codes, named "sqlite". message()
/// is sqlite3_errstr(code) (generic English text for the code). equivalent()
/// maps codes onto berth::db_errc (see db_errc.hpp for which codes map where).
/// Thread-safe.
const std::error_category& error_category() noexcept;

/// An SQLite (extended) result code as an error_code in error_category().
/// Thread-safe. Never blocks.
std::error_code to_error_code(int extended_result_code) noexcept;

/// True when a connection that produced `ec` must not be reused:
/// ec == db_errc::connection_lost (IOERR*, CORRUPT*, NOTADB, CANTOPEN*).
/// Thread-safe. Never blocks.
bool is_fatal(std::error_code ec) noexcept;

/// Thrown by connection, statement and transaction, always through
/// throw_sqlite_error(), so the object is also the retryable_error,
/// connection_lost_error, constraint_error or timeout_error its code maps to
/// (berth/db_error.hpp). code() is the extended result code in
/// error_category(); engine_message() is the engine's own text for this
/// failure (sqlite3_errmsg, e.g. "UNIQUE constraint failed: users.email"), or
/// berth's text for a failure berth detects itself (type mismatch:
/// SQLITE_MISMATCH; bad index: SQLITE_RANGE); sql() is the statement's text
/// when one was involved. what() holds all three.
/// Thread-safety: a value type; const members safe.
class sqlite_error : public virtual db_error {
 public:
  /// what() starts with this.
  static constexpr std::string_view what_source = "berth::sqlite";

  /// Constructs the engine error alone (no class); throw_sqlite_error() throws the classified one.
  sqlite_error(std::error_code code, std::string engine_message, std::string sql = {})
      : db_error(code, std::move(engine_message), std::move(sql), what_source) {}

  /// The same failure as the pool's adapter_error (code + what()). Allocates.
  adapter_error to_adapter_error() const { return adapter_error{code(), what()}; }
};

/// Throws a sqlite_error that is also the class of `code`'s db_errc condition
/// (berth::throw_db_error<sqlite_error>). Thread-safe.
[[noreturn]] void throw_sqlite_error(std::error_code code, std::string engine_message, std::string sql = {});

}  // namespace berth::sqlite
