// json_parse.hpp: a small, strict JSON parser (RFC 8259) for tests that
// check berth's JSON output (json.hpp, event_log.hpp).
//
// Strict where a lenient parser would hide a writer's bug: exactly one value
// with optional surrounding whitespace; no raw control characters in strings;
// only the escapes RFC 8259 lists; \u escapes with paired surrogates only;
// raw bytes must be well-formed UTF-8 (decoded and checked against the
// shortest-form, surrogate and U+10FFFF rules, independently of the writer's
// table-driven check); numbers by the RFC grammar (no leading zeros, no "+",
// no "."-ended fractions); duplicate keys in an object are rejected (RFC 8259
// only says SHOULD be unique; berth never writes any).
// Strings are decoded to UTF-8; numbers are kept as their text.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::testing {

struct json_value {
  enum class type { null, boolean, number, string, array, object };
  type t = type::null;
  bool b = false;
  std::string text;  ///< a string's decoded value, or a number's literal
  std::vector<json_value> items;
  std::vector<std::pair<std::string, json_value>> members;  ///< in document order

  bool is_object() const { return t == type::object; }
  /// The member named k, or nullptr.
  const json_value* find(std::string_view k) const {
    for (const auto& [name, v] : members)
      if (name == k) return &v;
    return nullptr;
  }
  /// The member named k; throws std::out_of_range when absent.
  const json_value& at(std::string_view k) const {
    if (const json_value* v = find(k)) return *v;
    throw std::out_of_range("no JSON member '" + std::string(k) + "'");
  }
  /// A number that is an integer in T's range; throws otherwise.
  template <class T>
  T as_integer() const {
    T v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (t != type::number || r.ec != std::errc{} || r.ptr != text.data() + text.size())
      throw std::invalid_argument("not an integer of the type asked for: " + text);
    return v;
  }
  std::uint64_t as_uint() const { return as_integer<std::uint64_t>(); }
  std::int64_t as_int() const { return as_integer<std::int64_t>(); }
  const std::string& as_string() const {
    if (t != type::string) throw std::invalid_argument("not a string");
    return text;
  }
};

namespace detail_json {

class parser {
 public:
  explicit parser(std::string_view s) : s_(s) {}

  std::optional<json_value> document(std::string* error) {
    try {
      skip_ws();
      json_value v = value(0);
      skip_ws();
      if (i_ != s_.size()) fail("trailing characters");
      return v;
    } catch (const std::runtime_error& e) {
      if (error != nullptr) *error = e.what();
      return std::nullopt;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error(why + " at offset " + std::to_string(i_));
  }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  void skip_ws() {
    while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) fail("bad literal");
    i_ += word.size();
  }

  json_value value(int depth) {
    if (depth > 64) fail("nesting too deep");
    json_value v;
    switch (peek()) {
      case '{': v.t = json_value::type::object; object(v, depth); break;
      case '[': v.t = json_value::type::array; array(v, depth); break;
      case '"': v.t = json_value::type::string; v.text = string(); break;
      case 't': literal("true"); v.t = json_value::type::boolean; v.b = true; break;
      case 'f': literal("false"); v.t = json_value::type::boolean; break;
      case 'n': literal("null"); break;
      default: v.t = json_value::type::number; v.text = number(); break;
    }
    return v;
  }

  /// open, then element() for each comma-separated element, then close.
  template <class F>
  void sequence(char open, char close, F element) {
    expect(open);
    skip_ws();
    if (peek() == close) {
      ++i_;
      return;
    }
    for (;;) {
      skip_ws();
      element();
      skip_ws();
      if (peek() != ',') break;
      ++i_;
    }
    expect(close);
  }

  void object(json_value& v, int depth) {
    sequence('{', '}', [&] {
      std::string k = string();
      if (v.find(k) != nullptr) fail("duplicate key '" + k + "'");
      skip_ws();
      expect(':');
      skip_ws();
      v.members.emplace_back(std::move(k), value(depth + 1));
    });
  }

  void array(json_value& v, int depth) {
    sequence('[', ']', [&] { v.items.push_back(value(depth + 1)); });
  }

  std::string number() {
    const std::size_t start = i_;
    const auto digits = [&] {
      const std::size_t from = i_;
      while (!at_end() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == from) fail("digit expected");
    };
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
    } else {
      if (peek() < '1' || peek() > '9') fail("bad number");
      digits();
    }
    if (peek() == '.') {
      ++i_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      digits();
    }
    return std::string(s_.substr(start, i_ - start));
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::uint32_t hex4() {
    if (i_ + 4 > s_.size()) fail("short \\u escape");
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else fail("bad hex digit");
    }
    return v;
  }

  /// One raw UTF-8 character at i_, decoded and checked, appended to out.
  void raw_utf8(std::string& out) {
    const auto lead = static_cast<unsigned char>(s_[i_]);
    int extra = 0;
    std::uint32_t cp = 0;
    if (lead >= 0xF0 && lead <= 0xF7) { extra = 3; cp = lead & 0x07u; }
    else if (lead >= 0xE0 && lead <= 0xEF) { extra = 2; cp = lead & 0x0Fu; }
    else if (lead >= 0xC0 && lead <= 0xDF) { extra = 1; cp = lead & 0x1Fu; }
    else fail("invalid UTF-8 lead byte");
    if (i_ + 1 + static_cast<std::size_t>(extra) > s_.size()) fail("truncated UTF-8");
    for (int k = 1; k <= extra; ++k) {
      const auto c = static_cast<unsigned char>(s_[i_ + static_cast<std::size_t>(k)]);
      if ((c & 0xC0) != 0x80) fail("invalid UTF-8 continuation byte");
      cp = (cp << 6) | (c & 0x3Fu);
    }
    static constexpr std::uint32_t min_for[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for[extra]) fail("overlong UTF-8");
    if (cp >= 0xD800 && cp <= 0xDFFF) fail("UTF-8 surrogate");
    if (cp > 0x10FFFF) fail("UTF-8 above U+10FFFF");
    out.append(s_.substr(i_, 1 + static_cast<std::size_t>(extra)));
    i_ += 1 + static_cast<std::size_t>(extra);
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("raw control character in string");
      if (c >= 0x80) {
        raw_utf8(out);
        continue;
      }
      ++i_;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (at_end()) fail("unterminated escape");
      switch (s_[i_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.substr(i_, 2) != "\\u") fail("lone high surrogate");
            i_ += 2;
            const std::uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace detail_json

/// The value text holds, or nullopt (and *error says why and where).
inline std::optional<json_value> parse_json(std::string_view text, std::string* error = nullptr) {
  return detail_json::parser(text).document(error);
}

}  // namespace berth::testing
