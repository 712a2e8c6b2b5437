// json_writer.cpp: see json_writer.hpp.
#include <berth/detail/json_writer.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>

namespace berth::detail {
namespace {

constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

/// The length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0 when
/// it is ill-formed; then *bad is the length of its maximal ill-formed
/// subpart (at least 1), which becomes one U+FFFD. Byte ranges of the
/// Unicode standard's table 3-7 (well-formed UTF-8 byte sequences).
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t* bad) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // no overlong forms
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // no overlong forms
    if (lead == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    *bad = 1;  // a continuation byte, C0, C1, F5..FF
    return 0;
  }
  for (std::size_t k = 1; k < len; ++k) {
    const bool ok = i + k < s.size() && byte(i + k) >= (k == 1 ? lo : 0x80) && byte(i + k) <= (k == 1 ? hi : 0xBF);
    if (!ok) {
      *bad = k;
      return 0;
    }
  }
  return len;
}

/// True for bytes written as \u00XX: control characters and DEL.
constexpr bool needs_unicode_escape(unsigned char c) noexcept { return c < 0x20 || c == 0x7F; }

}  // namespace

std::size_t first_invalid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t bad = 0;
    const std::size_t len = utf8_sequence(s, i, &bad);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet copied (all pass through)
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    std::size_t bad = 0;
    const std::size_t len = c >= 0x80 ? utf8_sequence(s, i, &bad) : 1;
    if (len > 1) {  // well-formed multi-byte sequence: passes through
      i += len;
      continue;
    }
    out.append(s.substr(run, i - run));
    if (len == 0) {
      out += replacement_character;
      i += bad;
    } else {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (needs_unicode_escape(c)) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      }
      ++i;
    }
    run = i;
  }
  out.append(s.substr(run));
  out += '"';
}

json_writer& json_writer::open(char c) {
  separate();
  out_ += c;
  after_value_ = false;
  return *this;
}

json_writer& json_writer::close(char c) {
  out_ += c;
  after_value_ = true;
  return *this;
}

void json_writer::separate() {
  if (after_value_) out_ += ',';
  after_value_ = false;
}

json_writer& json_writer::key(std::string_view k) {
  separate();
  append_json_string(out_, k);
  out_ += ':';
  return *this;  // after_value_ stays false: the value takes no comma
}

json_writer& json_writer::string(std::string_view s) {
  separate();
  append_json_string(out_, s);
  after_value_ = true;
  return *this;
}

json_writer& json_writer::uint(std::uint64_t v) { return raw_number(v); }
json_writer& json_writer::integer(std::int64_t v) { return raw_number(v); }

json_writer& json_writer::number(double v) {
  // Shortest round-trip form (std::to_chars without a format): digits, '.',
  // 'e', '-' and '+' only, all valid in a JSON number ("1e+20", "-0.5").
  return std::isfinite(v) ? raw_number(v) : null();
}

template <class T>
json_writer& json_writer::raw_number(T v) {
  separate();
  char buf[32];  // holds any 64-bit integer or double
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  after_value_ = true;
  return *this;
}

json_writer& json_writer::boolean(bool v) {
  separate();
  out_ += v ? "true" : "false";
  after_value_ = true;
  return *this;
}

json_writer& json_writer::null() {
  separate();
  out_ += "null";
  after_value_ = true;
  return *this;
}

}  // namespace berth::detail
