// fuzz_support.hpp: what berth's libFuzzer targets share: a check that
// aborts with a message (so libFuzzer keeps the input as a crasher), a
// canonical writer for berth::url (to round-trip a parse), and the password
// marker rule.
//
// The marker rule: a password (the URL's user-information password, or the
// value of a parameter whose key contains "password") that holds the marker
// "QZJX" (any case) must never show the marker in any text berth produces
// for it: an error's what(), url::redacted(), redact_url(). The marker is
// text no message of berth or libpq holds, so a hit is a leak, never a
// false alarm; the targets check it only when the marker appears nowhere in
// the input but inside passwords (raw and percent-decoded). The corpora
// seed passwords with the marker; url_secrets_fuzzer builds such passwords
// around arbitrary bytes.
#pragma once

#include <berth/url.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace berth_fuzz {

/// s with control characters, DEL and backslashes written as \xNN, to print.
inline std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(b));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

/// Prints the failed check and its detail, then aborts (libFuzzer saves the
/// input as crash-<sha1>).
[[noreturn]] inline void fail(const char* check, const std::string& detail, const char* file, int line) {
  std::fprintf(stderr, "\n*** berth fuzz check failed at %s:%d: %s\n*** %s\n", file, line, check,
               printable(detail).c_str());
  std::abort();
}

#define BERTH_FUZZ_CHECK(cond, detail)                                          \
  do {                                                                          \
    if (!(cond)) ::berth_fuzz::fail(#cond, (detail), __FILE__, __LINE__);       \
  } while (false)

inline constexpr std::string_view marker = "QZJX";

inline char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// Whether hay holds needle, ignoring ASCII case.
inline bool contains_ci(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    std::size_t j = 0;
    while (j < needle.size() && lower(hay[i + j]) == lower(needle[j])) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

inline bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline int hex_value(char c) noexcept { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/// Percent-decodes what decodes; a bad escape stays as written.
inline std::string decode_lenient(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// Whether the marker shows in text, raw or once percent-decoded.
inline bool shows_marker(std::string_view text) {
  return contains_ci(text, marker) || contains_ci(decode_lenient(text), marker);
}

/// Percent-encodes every byte but RFC 3986's unreserved ones and those in keep.
inline std::string encode(std::string_view s, std::string_view keep = {}) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '~' || keep.find(c) != std::string_view::npos;
    if (plain) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

/// u written back from its parts, everything percent-encoded that may be:
/// parsing it must give the same parts (round-trip).
inline std::string canonical(const berth::url& u) {
  std::string out = u.scheme() + ":";
  if (u.has_authority()) {
    out += "//";
    if (u.user()) {
      out += encode(*u.user());
      if (u.password()) out += ":" + encode(*u.password());
      out += "@";
    }
    bool first = true;
    for (const berth::url_host& h : u.hosts()) {
      if (!first) out += ",";
      first = false;
      if (h.ipv6) {
        // name: the address, then "%" and the decoded zone if any.
        const std::size_t zone = h.name.find('%');
        out += "[" + h.name.substr(0, zone);
        if (zone != std::string::npos) out += "%25" + encode(h.name.substr(zone + 1));
        out += "]";
      } else {
        out += encode(h.name);
      }
      if (h.port) out += ":" + std::to_string(*h.port);
    }
    out += encode(u.path(), "/");  // after an authority the path is empty or starts with "/"
  } else {
    out += encode(u.path());  // "/" too: a leading "//" would read as an authority
  }
  bool first = true;
  for (const berth::url_param& p : u.params()) {
    out += first ? "?" : "&";
    first = false;
    out += encode(p.key) + "=" + encode(p.value);
  }
  return out;
}

/// The first part in which a and b differ ("" when they have the same parts;
/// offsets and raw texts are not compared).
inline std::string difference(const berth::url& a, const berth::url& b) {
  if (a.scheme() != b.scheme()) return "scheme";
  if (a.has_authority() != b.has_authority()) return "has_authority";
  if (a.user() != b.user()) return "user";
  if (a.password() != b.password()) return "password";
  if (a.hosts().size() != b.hosts().size()) return "number of hosts";
  for (std::size_t i = 0; i < a.hosts().size(); ++i) {
    const berth::url_host &x = a.hosts()[i], &y = b.hosts()[i];
    if (x.name != y.name || x.port != y.port || x.ipv6 != y.ipv6) return "host " + std::to_string(i);
  }
  if (a.path() != b.path()) return "path";
  if (a.params().size() != b.params().size()) return "number of parameters";
  for (std::size_t i = 0; i < a.params().size(); ++i) {
    const berth::url_param &x = a.params()[i], &y = b.params()[i];
    if (x.key != y.key || x.value != y.value) return "parameter " + std::to_string(i);
  }
  return {};
}

/// text as url_error writes the URL it echoes: control characters and DEL as %XX.
inline std::string escaped_controls(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) {
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    } else {
      out += c;
    }
  }
  return out;
}

/// what() of the std::invalid_argument f threw (berth's parse and
/// validation errors derive from it), or nothing when f returned.
template <class F>
std::optional<std::string> error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

/// An error message berth produced: whole (no NUL cut it short) and free of
/// control characters (none can forge a log line).
#define BERTH_FUZZ_CHECK_MESSAGE(what)                                                                 \
  do {                                                                                                  \
    const std::string_view berth_fuzz_m(what);                                                          \
    for (const char berth_fuzz_c : berth_fuzz_m)                                                        \
      BERTH_FUZZ_CHECK(static_cast<unsigned char>(berth_fuzz_c) >= 0x20 && berth_fuzz_c != 0x7f,        \
                       "a control character in the message: " + std::string(berth_fuzz_m));            \
  } while (false)

/// Whether a parameter key names a password (as berth decides: its
/// lowercased text contains "password").
inline bool key_is_secret(std::string_view key) { return contains_ci(key, "password"); }

/// Whether the marker rule applies to u, parsed from text: the marker sits in
/// a password and nowhere else (u.redacted() is text without its passwords).
inline bool marker_only_in_passwords(const berth::url& u) {
  bool in_password = u.password() && contains_ci(*u.password(), marker);
  for (const berth::url_param& p : u.params())
    if (key_is_secret(p.key) && contains_ci(p.value, marker)) in_password = true;
  return in_password && !shows_marker(u.redacted());
}

/// The check of the marker rule on one text berth produced.
#define BERTH_FUZZ_CHECK_NO_MARKER(text, where) \
  BERTH_FUZZ_CHECK(!::berth_fuzz::shows_marker(text), std::string(where) + " shows a password: " + (text))

}  // namespace berth_fuzz
