// statement_kind.hpp (private): what an SQL statement can do to its
// connection beyond its own result, read from its first keywords. A
// connection classifies each statement once, when it prepares it (a cached
// statement: on its first use), so needs_reset() can stay a few flag reads;
// database.cpp reads the kind of a statement that failed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::sqlite::detail {

enum class statement_kind : std::uint8_t {
  other,        ///< none of the below (SELECT, INSERT, CREATE, a PRAGMA that only reads, ...)
  begin,        ///< BEGIN
  commit,       ///< COMMIT or END
  transaction,  ///< ROLLBACK, SAVEPOINT or RELEASE
  /// Can change the connection's session configuration: ATTACH, DETACH, or
  /// a PRAGMA given a value ("PRAGMA name = v", "PRAGMA name(v)", schema-
  /// qualified or not), except the few whose value only names what to
  /// inspect or acts on the file and leaves no setting behind (table_info,
  /// index_list, integrity_check, wal_checkpoint, ...: statement_kind.cpp).
  session,
  /// Text this reader cannot follow (an unterminated block comment before
  /// the keyword): counted as every kind above.
  unreadable,
};

/// The kind of `sql`'s first statement, after whitespace, comments and
/// empty statements (SQLite skips a leading ";"). Errs towards a kind that
/// costs a reset or a reconnect: a PRAGMA name it does not know, given a
/// value, is `session`. Reads the first few words only. Never allocates.
/// Thread-safe.
statement_kind classify(std::string_view sql) noexcept;

/// True when `sql` holds no statement: only whitespace, ';', and comments
/// ("-- ..." to the end of a line, "/* ... */", an unterminated "/* ..." at
/// the end, which SQLite's tokenizer also takes for a comment). Never
/// allocates. Thread-safe.
bool only_blanks(std::string_view sql) noexcept;

/// A pragma entry as errors show it: the text before its value, and "=…"
/// in place of the value ("key=…"): a value may be a secret (SQLCipher's
/// PRAGMA key='...'), and an error, event or log never holds one.
std::string pragma_shown(std::string_view entry);
/// SQLite's message about a pragma entry with every quoted piece of it
/// ("near \"x\"", "unrecognized token: \"'x\"") that comes from the
/// entry's value shown as \u2026, for the same reason.
std::string pragma_message_shown(std::string_view message, std::string_view entry);

/// True for statements that can open or end a transaction: SQLite changes
/// its autocommit state only through BEGIN, COMMIT, END, ROLLBACK,
/// SAVEPOINT and RELEASE.
constexpr bool controls_transaction(statement_kind k) noexcept {
  return k != statement_kind::other && k != statement_kind::session;
}

/// True for statements that can change the session configuration.
constexpr bool changes_session(statement_kind k) noexcept {
  return k == statement_kind::session || k == statement_kind::unreadable;
}

}  // namespace berth::sqlite::detail
