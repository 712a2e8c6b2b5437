// db_error.hpp: the exceptions the adapters' throwing APIs raise, classified
// by the engine-neutral conditions of db_errc.hpp.
//
//   std::system_error
//     berth::db_error                    code() (the engine's category), engine_message(), sql()
//       berth::retryable_error           code() == db_errc::retryable
//       berth::connection_lost_error     code() == db_errc::connection_lost
//       berth::constraint_error          code() == db_errc::constraint_violation
//       berth::timeout_error             code() == db_errc::timeout
//       berth::sqlite::sqlite_error      every failure of the SQLite adapter
//       berth::postgres::postgres_error  every failure of the PostgreSQL adapter
//
// db_error is a VIRTUAL base, so an engine throws one object that is both its
// engine error and its class: a SQLite BUSY is an
// engine_error<sqlite::sqlite_error, retryable_error>, caught by
//   catch (const berth::retryable_error& e)        // any engine: run it again
//   catch (const berth::sqlite::sqlite_error& e)   // SQLite-specific handling
//   catch (const berth::db_error& e)               // any database failure
//   catch (const std::system_error& e)
// A failure of none of the four classes (a syntax error, say) is the engine
// error alone. throw_db_error<Engine>() picks the class from the code.
//
// Outside this tree, both std::system_errors as well:
//   berth::acquire_exception      the pool gave no connection (acquire's
//                                 value(), database::write/read, with()):
//                                 code() in berth's category (berth::errc);
//                                 errc::timeout compares equal to
//                                 db_errc::timeout and errc::database_unavailable
//                                 (creation keeps failing, the breaker is
//                                 open) to db_errc::connection_lost, so one
//                                 test of e.code() covers both kinds of
//                                 failure; a catch of timeout_error or
//                                 connection_lost_error does not catch it
//   berth::commit_unknown_error   (retry.hpp) a db_error whose COMMIT's
//                                 outcome is unknown: never retried, and
//                                 deliberately not a connection_lost_error
//                                 even when its code compares equal to one
//
// what() is "<source>: <engine message> (in \"<sql>\"): <code's message>".
// A password never appears in it or in sql(): the engines hand over messages
// that never contain one (the PostgreSQL adapter redacts conninfo passwords
// and drops the server's echo of the statement), and the SQL text has the
// literal after any PASSWORD keyword replaced by *** (CREATE ROLE r
// PASSWORD 'x'), in sql() as in what(). The caller still has the original.
#pragma once

#include <berth/db_errc.hpp>

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace berth {

/// A failed database operation. code() is in the engine's category (compare
/// it with db_errc conditions); engine_message() is the engine's own text;
/// sql() is the statement being run, or empty.
/// Thread-safety: a value type; const members safe.
class db_error : public std::system_error {
 public:
  /// source prefixes what() ("berth::sqlite"); empty: no prefix. Allocates.
  db_error(std::error_code code, std::string engine_message, std::string sql = {},
           std::string_view source = "berth");

  /// The engine's (or the adapter's) message for this failure. Never blocks.
  const std::string& engine_message() const noexcept { return engine_message_; }
  /// The SQL being run (password literals redacted), or empty. Never blocks.
  const std::string& sql() const noexcept { return sql_; }

 private:
  struct redacted {};
  db_error(std::error_code code, std::string engine_message, std::string redacted_sql, std::string_view source,
           redacted);
  std::string engine_message_;
  std::string sql_;
};

/// Contention: serialization failure, deadlock, a lock held elsewhere. Run
/// the statement (in a transaction: the whole transaction) again.
class retryable_error : public virtual db_error {
 public:
  using db_error::db_error;
};
/// The connection is gone or unusable: discard the lease.
class connection_lost_error : public virtual db_error {
 public:
  using db_error::db_error;
};
/// A constraint rejected the change: retrying the same input fails again.
class constraint_error : public virtual db_error {
 public:
  using db_error::db_error;
};
/// A deadline or cancel cut the operation short.
class timeout_error : public virtual db_error {
 public:
  using db_error::db_error;
};

/// One thrown object that is both an engine's error (Engine, itself deriving
/// virtually from db_error) and a class of failure (Class). Built only by
/// throw_db_error(). Thread-safety: a value type.
template <class Engine, class Class>
class engine_error final : public Engine, public Class {
 public:
  engine_error(std::error_code code, std::string engine_message, std::string sql)
      // Engine(...) and Class(...) skip their own db_error initializer: only
      // the most derived class initializes a virtual base.
      : db_error(code, std::move(engine_message), std::move(sql), Engine::what_source),
        Engine(code, std::string(), std::string()),
        Class(code, std::string(), std::string()) {}
};

/// sql with the string constant after each PASSWORD keyword
/// (case-insensitive; after whitespace, '=' and comments, nested /* */
/// included) replaced by ***: '...', "...", E'...', U&'...', B'...',
/// X'...', N'...', $$...$$ and $tag$...$tag$, to the end of the text when
/// not closed, together with every '...' that continues it (PostgreSQL
/// joins constants separated by whitespace holding a line break). A
/// backslash escapes a quote in any '...' (standard_conforming_strings
/// off), which can only redact more. A bare word (NULL) or a parameter ($1)
/// is left. Thread-safe. Allocates.
std::string redact_sql_password(std::string_view sql);

/// Throws the most specific exception for code: Engine combined with the
/// class of code's db_errc condition, or Engine alone when code is in none.
/// Engine = db_error throws the core classes themselves (retryable_error,
/// ..., or db_error). Engine needs a constructor (code, message, sql) and a
/// `static constexpr std::string_view what_source`. Thread-safe.
template <class Engine = db_error>
[[noreturn]] void throw_db_error(std::error_code code, std::string engine_message, std::string sql = {}) {
  auto raise = [&]<class Class>() {
    if constexpr (std::is_same_v<Engine, db_error>)
      throw Class(code, std::move(engine_message), std::move(sql));
    else
      throw engine_error<Engine, Class>(code, std::move(engine_message), std::move(sql));
  };
  if (code == db_errc::retryable) raise.template operator()<retryable_error>();
  if (code == db_errc::connection_lost) raise.template operator()<connection_lost_error>();
  if (code == db_errc::constraint_violation) raise.template operator()<constraint_error>();
  if (code == db_errc::timeout) raise.template operator()<timeout_error>();
  if constexpr (std::is_same_v<Engine, db_error>)
    throw db_error(code, std::move(engine_message), std::move(sql));
  else
    throw Engine(code, std::move(engine_message), std::move(sql));
}

}  // namespace berth
