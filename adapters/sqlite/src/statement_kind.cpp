// statement_kind.cpp: see statement_kind.hpp.
#include "statement_kind.hpp"

#include <cstddef>

namespace berth::sqlite::detail {

namespace {

constexpr std::size_t npos = std::string_view::npos;

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/// Where the next token starts at or after i: past whitespace, comments and,
/// when `semicolons`, empty statements. npos inside an unterminated block
/// comment; sql.size() when only a line comment is left.
std::size_t skip_blanks(std::string_view sql, std::size_t i, bool semicolons) noexcept {
  const std::size_t n = sql.size();
  for (;;) {
    while (i < n && (is_space(sql[i]) || (semicolons && sql[i] == ';'))) ++i;
    if (i + 1 < n && sql[i] == '-' && sql[i + 1] == '-') {
      const std::size_t eol = sql.find('\n', i);
      if (eol == npos) return n;
      i = eol + 1;
    } else if (i + 1 < n && sql[i] == '/' && sql[i + 1] == '*') {
      const std::size_t end = sql.find("*/", i + 2);
      if (end == npos) return npos;
      i = end + 2;
    } else {
      return i;
    }
  }
}

/// ASCII case-insensitive comparison with an upper-case word.
bool same_word(std::string_view word, std::string_view upper) noexcept {
  if (word.size() != upper.size()) return false;
  for (std::size_t x = 0; x < word.size(); ++x) {
    const char c = word[x];
    if ((c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c) != upper[x]) return false;
  }
  return true;
}

/// The name starting at sql[i] (a bare identifier, or one quoted in "", '',
/// `` or []) and the index just past it; an empty name when none starts there.
std::string_view read_name(std::string_view sql, std::size_t& i) noexcept {
  const std::size_t n = sql.size(), start = i;
  if (i >= n) return {};
  const char open = sql[i];
  if (open == '"' || open == '\'' || open == '`' || open == '[') {
    const std::size_t end = sql.find(open == '[' ? ']' : open, i + 1);
    if (end == npos) return {};
    i = end + 1;
    return sql.substr(start + 1, end - start - 1);
  }
  while (i < n && ((sql[i] >= 'a' && sql[i] <= 'z') || (sql[i] >= 'A' && sql[i] <= 'Z') ||
                   (sql[i] >= '0' && sql[i] <= '9') || sql[i] == '_' || sql[i] == '$' ||
                   static_cast<unsigned char>(sql[i]) >= 0x80))
    ++i;
  return sql.substr(start, i - start);
}

/// Pragmas whose value names what to inspect (table_info(t)), or which act
/// on the database file and leave no setting on the connection: given a
/// value, they are still `other`.
constexpr std::string_view inspecting_pragmas[] = {
    "TABLE_INFO",        "TABLE_XINFO",     "TABLE_LIST",  "INDEX_INFO",     "INDEX_XINFO",
    "INDEX_LIST",        "FOREIGN_KEY_LIST", "FOREIGN_KEY_CHECK", "INTEGRITY_CHECK", "QUICK_CHECK",
    "WAL_CHECKPOINT",    "INCREMENTAL_VACUUM", "OPTIMIZE",
};

/// The kind of "PRAGMA ..." whose name starts at or after i.
statement_kind classify_pragma(std::string_view sql, std::size_t i) noexcept {
  const std::size_t n = sql.size();
  if ((i = skip_blanks(sql, i, false)) == npos) return statement_kind::unreadable;
  std::string_view name = read_name(sql, i);
  if ((i = skip_blanks(sql, i, false)) == npos) return statement_kind::unreadable;
  if (i < n && sql[i] == '.') {  // schema.name
    if ((i = skip_blanks(sql, i + 1, false)) == npos) return statement_kind::unreadable;
    name = read_name(sql, i);
    if ((i = skip_blanks(sql, i, false)) == npos) return statement_kind::unreadable;
  }
  if (i >= n || (sql[i] != '=' && sql[i] != '(')) return statement_kind::other;  // reads the setting
  for (const std::string_view p : inspecting_pragmas)
    if (same_word(name, p)) return statement_kind::other;
  return statement_kind::session;
}

/// The keyword (letters only) at or after i, past blanks; i moves past it.
/// Empty when none starts there; i = npos inside an unterminated comment.
std::string_view read_keyword(std::string_view sql, std::size_t& i, bool semicolons) noexcept {
  if ((i = skip_blanks(sql, i, semicolons)) == npos) return {};
  const std::size_t start = i;
  while (i < sql.size() && ((sql[i] >= 'a' && sql[i] <= 'z') || (sql[i] >= 'A' && sql[i] <= 'Z'))) ++i;
  return sql.substr(start, i - start);
}

}  // namespace

bool only_blanks(std::string_view sql) noexcept {
  const std::size_t end = skip_blanks(sql, 0, true);
  return end == npos || end == sql.size();
}

statement_kind classify(std::string_view sql) noexcept {
  std::size_t j = 0;
  const std::string_view word = read_keyword(sql, j, true);
  if (j == npos) return statement_kind::unreadable;
  if (same_word(word, "EXPLAIN")) {
    // SQLite applies a flag pragma (foreign_keys, query_only, ...),
    // busy_timeout or cache_size while it compiles the statement, so
    // EXPLAIN [QUERY PLAN] PRAGMA x=v sets it too. Other statements under
    // EXPLAIN do not run (an EXPLAIN ATTACH attaches nothing).
    std::string_view next = read_keyword(sql, j, false);
    if (j != npos && same_word(next, "QUERY")) {
      (void)read_keyword(sql, j, false);  // PLAN
      if (j != npos) next = read_keyword(sql, j, false);
    }
    if (j == npos) return statement_kind::unreadable;
    return same_word(next, "PRAGMA") ? classify_pragma(sql, j) : statement_kind::other;
  }
  if (same_word(word, "BEGIN")) return statement_kind::begin;
  if (same_word(word, "COMMIT") || same_word(word, "END")) return statement_kind::commit;
  if (same_word(word, "ROLLBACK") || same_word(word, "SAVEPOINT") || same_word(word, "RELEASE"))
    return statement_kind::transaction;
  if (same_word(word, "ATTACH") || same_word(word, "DETACH")) return statement_kind::session;
  if (same_word(word, "PRAGMA")) return classify_pragma(sql, j);
  return statement_kind::other;
}

std::string pragma_shown(std::string_view entry) {
  const std::size_t v = entry.find_first_of("=(");
  if (v == std::string_view::npos) return std::string(entry);
  std::string out(entry.substr(0, v));
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
  return out + (entry[v] == '=' ? "=\u2026" : "(\u2026)");
}

std::string pragma_message_shown(std::string_view message, std::string_view entry) {
  const std::size_t v = entry.find_first_of("=(");
  if (v == std::string_view::npos) return std::string(message);
  const std::string_view value = entry.substr(v + 1);
  std::string out;
  std::size_t i = 0;
  while (i < message.size()) {
    const std::size_t open = message.find('"', i);
    const std::size_t close = open == std::string_view::npos ? open : message.find('"', open + 1);
    if (close == std::string_view::npos) {
      out.append(message.substr(i));
      break;
    }
    const std::string_view quoted = message.substr(open + 1, close - open - 1);
    out.append(message.substr(i, open + 1 - i));
    const bool from_value = !quoted.empty() && (value.find(quoted) != std::string_view::npos ||
                                                quoted.find(value) != std::string_view::npos);
    out.append(from_value ? std::string_view("\u2026") : quoted);
    out.push_back('"');
    i = close + 1;
  }
  return out;
}

}  // namespace berth::sqlite::detail
