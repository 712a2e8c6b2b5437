#include <berth/sqlite/options.hpp>

#include <climits>
#include <utility>

namespace berth::sqlite {

options_error::options_error(std::string field, const std::string& why)
    : berth::options_error(std::move(field), why, "sqlite::options") {}

namespace {
bool name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
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
      return options_error(field, "must not contain ';' (one pragma per entry), got \"" + p + "\"");
  }
  return std::nullopt;
}

}  // namespace berth::sqlite
