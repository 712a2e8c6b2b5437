// error.hpp: SQLite result codes as std::error_code, and the exception the
// adapter's throwing API raises.
//
// Codes are SQLite's EXTENDED result codes (every connection opened by berth
// enables them with sqlite3_extended_result_codes), e.g. 2067
// (SQLITE_CONSTRAINT_UNIQUE) rather than 19 (SQLITE_CONSTRAINT). They compare
// equal to the engine-neutral berth::db_errc conditions:
//   catch (const berth::sqlite::sqlite_error& e) {
//     if (e.code() == berth::db_errc::retryable) ...      // BUSY*, LOCKED*
//     log(e.engine_message());                            // sqlite3_errmsg text
//   }
#pragma once

#include <berth/adapter.hpp>
#include <berth/db_errc.hpp>

#include <string>
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

/// Thrown by connection, statement and transaction. code() is the extended
/// result code in error_category(); engine_message() is the engine's own
/// text for this failure (sqlite3_errmsg, e.g. "UNIQUE constraint failed:
/// users.email"), or berth's text for a failure berth detects itself (type
/// mismatch: SQLITE_MISMATCH; bad index: SQLITE_RANGE); sql() is the
/// statement's text when one was involved. what() holds all three.
/// Thread-safety: a value type; const members safe.
class sqlite_error : public std::system_error {
 public:
  sqlite_error(std::error_code code, std::string engine_message, std::string sql = {});

  /// The engine's (or berth's) message for this failure. Never blocks.
  const std::string& engine_message() const noexcept { return engine_message_; }
  /// The SQL being run, or empty. Never blocks.
  const std::string& sql() const noexcept { return sql_; }
  /// The same failure as the pool's adapter_error (code + what()). Allocates.
  adapter_error to_adapter_error() const { return adapter_error{code(), what()}; }

 private:
  std::string engine_message_;
  std::string sql_;
};

}  // namespace berth::sqlite
