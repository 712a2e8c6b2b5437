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

constexpr std::size_t npos = std::string::npos;

/// One past the comment that starts at b: -- to the end of the line, or
/// /* to its */, nested as PostgreSQL nests them; the end of s if it is not
/// closed. b itself when no comment starts there.
std::size_t comment_end(const std::string& s, std::size_t b) noexcept {
  if (s.compare(b, 2, "--") == 0) {  // to a line break: PostgreSQL's scanner takes \r as one too
    const std::size_t nl = s.find_first_of("\r\n", b);
    return nl == npos ? s.size() : nl + 1;
  }
  if (s.compare(b, 2, "/*") != 0) return b;
  std::size_t depth = 1;
  for (std::size_t e = b + 2; e + 1 < s.size(); ++e) {
    if (s.compare(e, 2, "/*") == 0) {
      ++depth;
      ++e;
    } else if (s.compare(e, 2, "*/") == 0) {
      ++e;
      if (--depth == 0) return e + 1;
    }
  }
  return s.size();
}

/// The first position from b that is not whitespace, a comment, or (with
/// `equals`) '='. *newline, when given, is set when what was skipped holds
/// a line break (a -- comment ends with one).
std::size_t skip_blank(const std::string& s, std::size_t b, bool equals, bool* newline = nullptr) noexcept {
  for (;;) {
    while (b < s.size() && (std::isspace(static_cast<unsigned char>(s[b])) != 0 || (equals && s[b] == '='))) {
      if (newline != nullptr && (s[b] == '\n' || s[b] == '\r')) *newline = true;
      ++b;
    }
    const std::size_t e = comment_end(s, b);
    if (e == b) return b;
    if (newline != nullptr && s.find_first_of("\r\n", b) < e) *newline = true;
    b = e;
  }
}

/// One past the quoted literal whose opening quote is at q (a doubled
/// quote inside is an escaped one; with `backslash`, as in PostgreSQL's
/// E'...', so is a backslash-escaped one), or the end of s if it is not
/// closed.
std::size_t quoted_end(const std::string& s, std::size_t q, bool backslash) noexcept {
  const char quote = s[q];
  for (std::size_t e = q + 1; e < s.size(); ++e) {
    if (backslash && s[e] == '\\') {
      ++e;
      continue;
    }
    if (s[e] != quote) continue;
    if (e + 1 < s.size() && s[e + 1] == quote) {
      ++e;
      continue;
    }
    return e + 1;
  }
  return s.size();
}

/// One past the dollar-quoted literal at b ($$...$$ or $tag$...$tag$), the
/// end of s if it is not closed, or npos when s[b...] is no such literal (a
/// parameter such as $1).
std::size_t dollar_end(const std::string& s, std::size_t b) noexcept {
  std::size_t t = b + 1;
  if (t < s.size() && (std::isalpha(static_cast<unsigned char>(s[t])) != 0 || s[t] == '_'))
    while (t < s.size() && is_word_char(s[t])) ++t;
  if (t >= s.size() || s[t] != '$') return npos;
  const std::size_t close = s.find(s.substr(b, t - b + 1), t + 1);
  return close == npos ? s.size() : close + (t - b + 1);
}

/// One past the string constant that starts at b, or npos when none does
/// (a bare word such as NULL, a parameter such as $1): 'x', "x", E'x' (with
/// backslash escapes), U&'x', B'x', X'x', N'x', $$x$$, $tag$x$tag$.
std::size_t literal_end(const std::string& s, std::size_t b) noexcept {
  // A backslash is an escape in every '...' here: with
  // standard_conforming_strings off PostgreSQL reads 'a\'b' as one literal,
  // and where it does not, reading it so only redacts more.
  if (s[b] == '\'') return quoted_end(s, b, true);
  if (s[b] == '"') return quoted_end(s, b, false);
  if (s[b] == '$') return dollar_end(s, b);
  std::size_t q = b;  // a prefix of one or two characters (U&) before the quote
  while (q < s.size() && q - b < 2 && (std::isalpha(static_cast<unsigned char>(s[q])) != 0 || s[q] == '&')) ++q;
  if (q == b || q >= s.size() || s[q] != '\'') return npos;
  return quoted_end(s, q, true);
}

/// One past the string constant that starts at b and every '...' that
/// continues it: PostgreSQL joins constants separated only by whitespace
/// (comments included) that holds a line break ('a'<newline>'b' is "ab").
/// npos when no constant starts at b.
std::size_t continued_literal_end(const std::string& s, std::size_t b) noexcept {
  std::size_t e = literal_end(s, b);
  while (e != npos && e < s.size()) {
    bool newline = false;
    const std::size_t n = skip_blank(s, e, false, &newline);
    if (!newline || n >= s.size() || s[n] != '\'') break;
    e = quoted_end(s, n, true);
  }
  return e;
}

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
    const std::size_t b = skip_blank(out, i + keyword.size(), true);
    if (b >= out.size()) break;
    const std::size_t e = continued_literal_end(out, b);
    if (e == npos) continue;  // a bare word (NULL) or a parameter ($1) is no secret
    out.replace(b, e - b, "***");
    i = b + 2;
  }
  return out;
}

}  // namespace berth
