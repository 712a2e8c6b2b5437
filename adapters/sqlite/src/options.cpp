#include <berth/sqlite/options.hpp>

#include <sqlite3.h>

#include "statement_kind.hpp"

#include <algorithm>
#include <climits>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::sqlite {

options_error::options_error(std::string field, const std::string& why)
    : berth::options_error(std::move(field), why, "sqlite::options") {}

namespace {
bool name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

bool word_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/// The pragma name of a plainly spelled entry ("name", "name=v",
/// "name(v)", "schema.name ...", spaces allowed around '.'), lower-cased;
/// empty for any other spelling (a quoted name, a comment), which is left
/// to SQLite: this is no parser of its grammar.
std::string plain_pragma_name(std::string_view p) {
  const auto word = [&p](std::size_t& i) {
    const std::size_t start = i;
    while (i < p.size() && word_char(p[i])) ++i;
    return p.substr(start, i - start);
  };
  const auto blanks = [&p](std::size_t& i) {
    while (i < p.size() && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) ++i;
  };
  std::size_t i = 0;
  blanks(i);
  std::string_view name = word(i);
  blanks(i);
  if (i < p.size() && p[i] == '.') {
    ++i;
    blanks(i);
    name = word(i);
    blanks(i);
  }
  if (name.empty() || (i < p.size() && p[i] != '=' && p[i] != '(')) return {};
  std::string out(name);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// The pragmas this SQLite knows (PRAGMA pragma_list, in Debian's build
/// without SQLITE_INTROSPECTION_PRAGMAS too), read once from a private
/// in-memory connection; empty if it cannot be read (then nothing is
/// refused for its name). Thread-safe (a function-local static).
const std::vector<std::string>& known_pragmas() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_pragma_list", -1, &st, nullptr) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
          if (const unsigned char* t = sqlite3_column_text(st, 0)) out.emplace_back(reinterpret_cast<const char*>(t));
      }
      sqlite3_finalize(st);
    }
    sqlite3_close_v2(db);
    return out;
  }();
  return names;
}
}  // namespace

std::optional<options_error> validate(const options& o) {
  if (o.in_memory) {
    if (!o.path.empty())
      return options_error("path", "must be empty when in_memory is true (got \"" + o.path + "\")");
  } else {
    if (o.path.empty()) return options_error("path", "required (a file path) unless in_memory is true");
    if (o.path.find('\0') != std::string::npos)
      return options_error("path", "must not contain a NUL byte (SQLite would open the name cut at it)");
    if (o.path == ":memory:")
      return options_error("path",
                           "\":memory:\" is SQLite's private in-memory name, which would give each pooled "
                           "connection its own empty database: set in_memory = true for one database shared "
                           "by the pool's connections");
    if (!o.name.empty())
      return options_error("name", "only used with in_memory = true; use path for a file database");
  }
  if (o.name.size() > 64)
    return options_error("name", "at most 64 characters, got " + std::to_string(o.name.size()));
  for (const char c : o.name)
    if (!name_char(c))
      return options_error("name", "may hold only [A-Za-z0-9._-] (it goes into a URI), got \"" + o.name + "\"");
  if (o.busy_timeout.count() < 0 || o.busy_timeout.count() > INT_MAX)
    return options_error("busy_timeout",
                         "must be in [0, " + std::to_string(INT_MAX) + "] ms, got " +
                             std::to_string(o.busy_timeout.count()) + " ms");
  for (std::size_t i = 0; i < o.pragmas.size(); ++i) {
    const std::string field = "pragmas[" + std::to_string(i) + "]";
    const std::string& p = o.pragmas[i];
    if (p.find_first_not_of(" \t\n\r") == std::string::npos) return options_error(field, "must not be empty");
    if (p.find('\0') != std::string::npos) return options_error(field, "must not contain a NUL byte");
    if (p.find(';') != std::string::npos)
      return options_error(field, "must not contain ';' (one pragma per entry), got \"" + detail::pragma_shown(p) + "\"");
    // SQLite ignores a pragma it does not know, without a word: a typo
    // ("foriegn_keys=ON") would leave the setting as it was.
    if (const std::string name = plain_pragma_name(p); !name.empty()) {
      const auto& known = known_pragmas();
      // A build with an encryption codec (SQLCipher, SQLite3MC) takes its
      // own pragmas (key, rekey, cipher_*) outside pragma_list: no check there.
      static const bool codec = sqlite3_compileoption_used("SQLITE_HAS_CODEC") != 0;
      if (!codec && !known.empty() && std::find(known.begin(), known.end(), name) == known.end())
        return options_error(field, "PRAGMA " + name +
                                        " is not a pragma this SQLite knows (PRAGMA pragma_list), which it would "
                                        "ignore without a word; got \"" + detail::pragma_shown(p) + "\"");
    }
  }
  return std::nullopt;
}

}  // namespace berth::sqlite
