// error.hpp: PostgreSQL errors as std::error_code, classified.
//
// A code of error_category() ("postgres") is a SQLSTATE packed into 30 bits
// the way PostgreSQL packs it (MAKE_SQLSTATE: six bits per character,
// character - '0', first character lowest), so "00000" is 0 (no error) and
// message() decodes it back ("SQLSTATE 23505 unique_violation"). Failures the
// client detects itself use the SQLSTATE the situation corresponds to:
// 08001 (could not connect, the server having sent no SQLSTATE: refused,
// unreachable; a server's refusal at connect keeps its own: 28P01, 53300,
// 57P03, ...), 08003 (connection broken and remembered as such), 08006
// (connection lost during a command), 57014 (a round trip or a connect ran
// out of time; a statement was cancelled).
//
// Classification: the category's equivalent() maps codes onto the
// engine-neutral berth::db_errc conditions (berth/db_errc.hpp), the same ones
// the SQLite adapter uses, so ec == berth::db_errc::retryable works for both
// engines; the is_...() helpers are shorthands.
//   retryable:            40001 serialization_failure, 40P01 deadlock_detected,
//                         55P03 lock_not_available (lock_timeout, NOWAIT)
//                         -> run the whole transaction again.
//   connection_lost:      class 08 (but 08P01 protocol_violation, the server's
//                         plain error for a malformed call such as a wrong
//                         parameter count, unless the session ended with it:
//                         then the adapter reports 08006), 57P01
//                         admin_shutdown, 57P02 crash_shutdown, 57P03
//                         cannot_connect_now -> discard the connection.
//   constraint_violation: class 23 -> the data is wrong; retrying will not help.
//   timeout:              57014 query_canceled (statement_timeout, a cancel,
//                         berth's round-trip or connect timeout).
//   resource_exhausted:   class 53 (53300 too_many_connections, also at connect).
//
// Messages never contain a password: every message built here goes through
// redact_password().
#pragma once

#include <berth/db_errc.hpp>
#include <berth/db_error.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace berth::postgres {

/// The "postgres" category: values are packed SQLSTATEs. Thread-safe.
const std::error_category& error_category() noexcept;

/// Packs a 5-character SQLSTATE ("23505"); 0 when s is not one (wrong length,
/// a character other than 0-9 A-Z). Thread-safe. Never allocates.
int encode_sqlstate(std::string_view s) noexcept;
/// Unpacks; "" when v is not a packed SQLSTATE. Thread-safe.
std::string decode_sqlstate(int v);
/// {encode_sqlstate(s), error_category()}. Thread-safe. Never allocates.
std::error_code make_sqlstate_error(std::string_view s) noexcept;

/// ec == berth::db_errc::retryable. Thread-safe. Never allocates.
bool is_retryable(const std::error_code& ec) noexcept;
/// ec == berth::db_errc::connection_lost. Thread-safe. Never allocates.
bool is_connection_lost(const std::error_code& ec) noexcept;
/// ec == berth::db_errc::constraint_violation. Thread-safe. Never allocates.
bool is_constraint_violation(const std::error_code& ec) noexcept;
/// ec == berth::db_errc::timeout (57014 query_canceled). Thread-safe. Never allocates.
bool is_canceled(const std::error_code& ec) noexcept;

/// text with the value of every `password=...` (quoted or not) and the
/// password of every URI `scheme://user:password@host` replaced by "***".
/// Thread-safe.
std::string redact_password(std::string_view text);

/// libpq's message about `conninfo` that it could not parse, with nothing
/// of a password left in it. libpq quotes the token it stumbled on (for a
/// URI often the whole string), and the password may be that token, or a
/// piece of it cut where redact_password() cannot recognise it (a password
/// holding a space, '?', '#' or a bad %-escape). So when conninfo may carry
/// a password at all (a "password" keyword anywhere, or a URI with
/// user:password@), every quoted token of two or more characters in the
/// message becomes "***", and so does every piece of the password that
/// still appears unquoted. With blank_quoted false (messages of a connect
/// that got past parsing: libpq and the server quote user and database
/// names there, which stay readable) only those pieces go. Thread-safe.
std::string redact_conninfo_message(std::string_view message, std::string_view conninfo, bool blank_quoted = true);

/// The server's message about a statement, with nothing of a password in
/// it: when sql carries a password literal (redact_sql_password() changes
/// it), the server may quote a piece of it ("syntax error at or near
/// "'secret'"", "unterminated quoted string at or near "'secr""), so every
/// quoted token of two or more characters, in double or single quotes,
/// becomes "***", and everything after a quote that is not closed.
/// Otherwise message unchanged. Thread-safe.
std::string redact_statement_message(std::string_view message, std::string_view sql);

class postgres_error;

/// A failed PostgreSQL call: a code (usually of error_category()) and the
/// server's or libpq's message, password-free. Thread-safety: a value type.
struct error {
  using exception_type = postgres_error;
  std::error_code code;
  std::string message;
  /// The 5-character SQLSTATE, or "" when code is not of error_category().
  std::string sqlstate() const;
};

/// Thrown by result<T, error>::value() and by transaction, always through
/// throw_exception(), so the object is also the retryable_error,
/// connection_lost_error, constraint_error or timeout_error its SQLSTATE maps
/// to (berth/db_error.hpp): catch (const berth::retryable_error&) catches a
/// 40001. what() is the message, then the code's text; code() the code.
/// Thread-safety: a value type; const members safe.
class postgres_error : public virtual db_error {
 public:
  /// what() starts with the message itself (no prefix).
  static constexpr std::string_view what_source = "";

  /// Constructs the engine error alone (no class); throw_exception() throws the classified one.
  postgres_error(std::error_code code, std::string message, std::string sql = {});
  explicit postgres_error(const error& e) : postgres_error(e.code, e.message) {}
  /// The SQLSTATE ("23505"), or "" when the code is not a SQLSTATE.
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  /// The message without the category's text appended (= engine_message()).
  const std::string& server_message() const noexcept { return engine_message(); }

 private:
  std::string sqlstate_;
};

/// Throws a postgres_error that is also the class of e.code's db_errc
/// condition (berth::throw_db_error<postgres_error>). result<T, error>::value()
/// finds it by ADL. Thread-safe.
[[noreturn]] void throw_exception(const error& e);

}  // namespace berth::postgres
