// db_error.cpp: see db_error.hpp.
#include <berth/db_error.hpp>

#include <cctype>
#include <cstddef>

namespace berth {
namespace {

std::string describe(std::string_view source, const std::string& engine_message, const std::string& redacted_sql) {
  std::string w;
  if (!source.empty()) w.append(source).append(": ");
  w += engine_message;
  if (!redacted_sql.empty()) w += " (in \"" + redacted_sql + "\")";
  return w;
}

bool is_word_char(char c) noexcept { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

}  // namespace

db_error::db_error(std::error_code code, std::string engine_message, std::string sql, std::string_view source)
    : db_error(code, std::move(engine_message), redact_sql_password(sql), source, redacted{}) {}

db_error::db_error(std::error_code code, std::string engine_message, std::string redacted_sql,
                   std::string_view source, redacted)
    : std::system_error(code, describe(source, engine_message, redacted_sql)),
      engine_message_(std::move(engine_message)),
      sql_(std::move(redacted_sql)) {}

std::string redact_sql_password(std::string_view sql) {
  std::string out(sql);
  constexpr std::string_view keyword = "password";
  for (std::size_t i = 0; i + keyword.size() <= out.size(); ++i) {
    bool match = (i == 0 || !is_word_char(out[i - 1]));
    for (std::size_t j = 0; j < keyword.size() && match; ++j)
      match = std::tolower(static_cast<unsigned char>(out[i + j])) == keyword[j];
    if (!match || (i + keyword.size() < out.size() && is_word_char(out[i + keyword.size()]))) continue;
    std::size_t b = i + keyword.size();
    while (b < out.size() && (std::isspace(static_cast<unsigned char>(out[b])) != 0 || out[b] == '=')) ++b;
    if (b >= out.size()) break;
    std::size_t e = b;
    if (out[b] == '\'' || out[b] == '"') {  // a quoted literal; '' inside is an escaped quote
      const char q = out[b];
      for (e = b + 1; e < out.size(); ++e) {
        if (out[e] != q) continue;
        if (e + 1 < out.size() && out[e + 1] == q) {
          ++e;
          continue;
        }
        break;
      }
      e = e < out.size() ? e + 1 : out.size();
    } else {
      // A bare word (NULL, a parameter such as $1) is no secret.
      continue;
    }
    out.replace(b, e - b, "***");
    i = b + 2;
  }
  return out;
}

}  // namespace berth
