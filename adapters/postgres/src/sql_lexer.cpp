// sql_lexer.cpp: see sql_lexer.hpp. The rules cited are scan.l's
// (PostgreSQL 15).
#include "sql_lexer.hpp"

#include <libpq-fe.h>

#include <algorithm>

namespace berth::postgres::detail {
namespace {

bool ascii_letter(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool high_byte(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }
bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
/// ident_start: [A-Za-z\200-\377_].
bool word_start(char c) noexcept { return ascii_letter(c) || high_byte(c) || c == '_'; }
bool newline(char c) noexcept { return c == '\n' || c == '\r'; }
/// space: [ \t\n\r\f\v] (\v from 16 on; before, an error either way).
bool space(char c) noexcept { return c == ' ' || c == '\t' || newline(c) || c == '\f' || c == '\v'; }

}  // namespace

bool keyword(std::string_view word, std::string_view upper) noexcept {
  return std::equal(word.begin(), word.end(), upper.begin(), upper.end(), [](char a, char b) {
    return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
  });
}

token sql_lexer::next() noexcept {
  skip_blank();
  if (i_ >= s_.size()) return {token_kind::end, {}, s_.size()};
  const std::size_t b = i_;
  const char c = s_[i_];
  if (word_start(c)) return word(b);
  if (c == '\'') {
    string_constant(b, !how_.standard_strings, true);
  } else if (c == '"') {
    i_ = closing(b + 1, '"', false, true);
  } else if (c == '$' && dollar_quote(b)) {
    // i_ moved past it
  } else {
    ++i_;
    if (c == ';') return {token_kind::semicolon, {}, b};
    if (c == '(') return {token_kind::open_paren, {}, b};
    if (c == ')') return {token_kind::close_paren, {}, b};
  }
  return {token_kind::other, {}, b};
}

/// One past the character at i: a byte, or a multibyte character whole.
/// PQmblen reads at most one byte past the first (GB18030's second), and
/// only when there is one.
std::size_t sql_lexer::char_end(std::size_t i) const noexcept {
  if (!high_byte(s_[i]) || i + 1 >= s_.size()) return i + 1;
  const int n = PQmblen(s_.data() + i, how_.encoding);
  return std::min(s_.size(), i + static_cast<std::size_t>(std::max(n, 1)));
}

/// Past a -- comment (to its line break, which it leaves) or a nested /*
/// */ one at i_; false when none starts there.
bool sql_lexer::skip_comment() noexcept {
  if (s_.compare(i_, 2, "--") == 0) {
    while (i_ < s_.size() && !newline(s_[i_])) ++i_;
    return true;
  }
  if (s_.compare(i_, 2, "/*") != 0) return false;
  i_ += 2;
  for (int depth = 1; i_ < s_.size() && depth > 0;) {
    if (s_.compare(i_, 2, "/*") == 0) {
      ++depth;
      i_ += 2;
    } else if (s_.compare(i_, 2, "*/") == 0) {
      --depth;
      i_ += 2;
    } else {
      ++i_;
    }
  }
  return true;
}

void sql_lexer::skip_blank() noexcept {
  for (;;) {
    while (i_ < s_.size() && space(s_[i_])) ++i_;
    if (i_ >= s_.size() || !skip_comment()) return;
  }
}

/// An identifier or keyword at b ([A-Za-z\200-\377_0-9$] after its
/// start), or the one-letter prefix of a constant: E'...' (backslash
/// escapes), B'...' and X'...' (no '' inside), U&'...' and U&"...".
token sql_lexer::word(std::size_t b) noexcept {
  i_ = b;
  while (i_ < s_.size() && (word_start(s_[i_]) || digit(s_[i_]) || s_[i_] == '$')) i_ = char_end(i_);
  const std::string_view w = s_.substr(b, i_ - b);
  if (w.size() == 1 && i_ < s_.size()) {
    const char p = static_cast<char>(w[0] | 0x20);
    if (s_[i_] == '\'' && (p == 'e' || p == 'b' || p == 'x')) {
      string_constant(i_, p == 'e', p == 'e');
      return {token_kind::other, {}, b};
    }
    if (p == 'u' && s_.compare(i_, 2, "&'") == 0) {
      string_constant(i_ + 1, false, true);
      return {token_kind::other, {}, b};
    }
    if (p == 'u' && s_.compare(i_, 2, "&\"") == 0) {
      i_ = closing(i_ + 2, '"', false, true);
      return {token_kind::other, {}, b};
    }
  }
  return {token_kind::word, w, b};
}

/// One past the quote that closes a quoted run starting at i (just past
/// its opening quote), or the end of the text: with `backslash`, a
/// backslash escapes the character after it; with `doubled`, a doubled
/// quote is one inside.
std::size_t sql_lexer::closing(std::size_t i, char quote, bool backslash, bool doubled) const noexcept {
  while (i < s_.size()) {
    if (backslash && s_[i] == '\\') {
      i = i + 1 < s_.size() ? char_end(i + 1) : s_.size();
    } else if (s_[i] != quote) {
      i = char_end(i);
    } else if (doubled && i + 1 < s_.size() && s_[i + 1] == quote) {
      i += 2;
    } else {
      return i + 1;
    }
  }
  return s_.size();
}

/// Past the string constant whose opening quote is at q, and past every
/// '...' that continues it (quotecontinue: only whitespace and --
/// comments between, with a line break among them), each read as the
/// first one.
void sql_lexer::string_constant(std::size_t q, bool backslash, bool doubled) noexcept {
  i_ = closing(q + 1, '\'', backslash, doubled);
  for (;;) {
    // horiz_whitespace* newline special_whitespace*: before the line
    // break only [ \t\f], after it any space.
    std::size_t j = i_;
    bool line_break = false;
    while (j < s_.size()) {
      const char c = s_[j];
      if (c == ' ' || c == '\t' || c == '\f' || (line_break && space(c)) || newline(c)) {
        line_break = line_break || newline(c);
        ++j;
      } else if (s_.compare(j, 2, "--") == 0) {
        while (j < s_.size() && !newline(s_[j])) ++j;
      } else {
        break;
      }
    }
    if (!line_break || j >= s_.size() || s_[j] != '\'') return;
    i_ = closing(j + 1, '\'', backslash, doubled);
  }
}

/// Past the dollar-quoted constant at b ($$...$$, $tag$...$tag$, the tag
/// an identifier without '$'), to the end of the text when not closed;
/// false when none starts at b ($1 is a parameter).
bool sql_lexer::dollar_quote(std::size_t b) noexcept {
  std::size_t t = b + 1;
  if (t < s_.size() && word_start(s_[t]))
    while (t < s_.size() && (word_start(s_[t]) || digit(s_[t]))) t = char_end(t);
  if (t >= s_.size() || s_[t] != '$') return false;
  const std::string_view tag = s_.substr(b, t - b + 1);
  const std::size_t close = s_.find(tag, t + 1);
  i_ = close == std::string_view::npos ? s_.size() : close + tag.size();
  return true;
}

}  // namespace berth::postgres::detail
