// url.cpp: see url.hpp.
#include <berth/url.hpp>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace berth {
namespace {

using span = std::pair<std::size_t, std::size_t>;  // [first, second) in the text

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_unreserved(char c) noexcept {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool is_sub_delim(char c) noexcept {
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
      return true;
    default:
      return false;
  }
}
bool is_high(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }

/// Percent-decodes s; on a bad escape or a decoded NUL returns false with
/// `bad` the offset of the "%" in s.
bool decode(std::string_view s, std::string& out, std::size_t& bad) {
  out.clear();
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
      bad = i;
      return false;
    }
    const char c = static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
    if (c == '\0') {
      bad = i;
      return false;
    }
    out += c;
    i += 2;
  }
  return true;
}

/// Lenient decode for redaction: bad escapes stay as written.
std::string decode_lenient(std::string_view s) {
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

bool key_is_secret(std::string_view raw_key) {
  std::string k = decode_lenient(raw_key);
  for (char& c : k) c = lower(c);
  return k.find("password") != std::string::npos;
}

/// Spans of text that may hold a secret, for echoing text that may not parse
/// (see url.hpp): the user information's password, conservatively, and the
/// values of parameters whose key contains "password". Spans may overlap.
std::vector<span> secret_spans(std::string_view t) {
  std::vector<span> out;
  const std::size_t colon = t.find(':');
  if (colon != std::string_view::npos && t.substr(colon + 1, 2) == "//") {
    const std::size_t a = colon + 3;
    // The last "@" of all, as url.hpp says: a password may hold a raw "?"
    // and "@" both ("u:Xy@9?Lm@h": the last "@" before the first "?" would
    // show "9?Lm"). An "@" in a query value hides more than the password.
    const std::size_t at = t.rfind('@');
    if (at != std::string_view::npos && at >= a) {
      const std::size_t c = t.substr(0, at).find(':', a);
      if (c != std::string_view::npos) out.emplace_back(c + 1, at);
    }
  }
  // The parameters as url::parse reads them: from the first "?" after the
  // scheme (not after the last "@", which may lie in the query:
  // "//h?a=b@c&password=x" showed x).
  const std::size_t q = t.find('?', colon == std::string_view::npos ? 0 : colon + 1);
  if (q != std::string_view::npos) {
    std::size_t b = q + 1;
    while (b <= t.size()) {
      const std::size_t e = std::min(t.find('&', b), t.size());
      const std::string_view part = t.substr(b, e - b);
      const std::size_t eq = part.find('=');
      if (eq != std::string_view::npos && key_is_secret(part.substr(0, eq))) out.emplace_back(b + eq + 1, e);
      b = e + 1;
    }
  }
  return out;
}

/// t with each span replaced by "***" (overlapping spans by one "***").
std::string replace_spans(std::string_view t, std::vector<span> spans) {
  std::sort(spans.begin(), spans.end());
  std::string out;
  std::size_t at = 0;
  for (const auto& [b, e] : spans) {
    if (b < at) {  // overlaps the one just hidden: hide to the end of both
      at = std::max(at, e);
      continue;
    }
    out.append(t.substr(at, b - at));
    out += "***";
    at = e;
  }
  out.append(t.substr(std::min(at, t.size())));
  return out;
}

std::string byte_name(char c) {
  if (c == ' ') return "a space";
  char buf[32];
  std::snprintf(buf, sizeof buf, "control character 0x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
  return buf;
}

/// The parse of one URL text: where it is, and how to fail without
/// showing a secret.
class parser {
 public:
  explicit parser(std::string_view t) : t_(t), secrets_(secret_spans(t)), echo_(replace_spans(t, secrets_)) {}

  /// Whether [b, e) (or position b, when empty) overlaps a secret.
  bool overlaps_secret(std::size_t b, std::size_t e) const {
    for (const auto& [sb, se] : secrets_)
      if (b < std::max(se, sb + 1) && sb < std::max(e, b + 1)) return true;
    return false;
  }
  /// A quoted fragment [b, e) of the text, or "***" when it overlaps a secret.
  std::string q(std::size_t b, std::size_t e) const {
    if (overlaps_secret(b, e)) return "***";
    // Built by append, not "\"" + std::string(...): GCC 12 at -O3 warns
    // (-Wrestrict, a false positive) about operator+(const char*, string&&).
    const std::string_view part = t_.substr(b, e - b);
    std::string out;
    out.reserve(part.size() + 2);
    out.push_back('"');
    out.append(part);
    out.push_back('"');
    return out;
  }
  /// Throws url_error; an offset inside a secret is moved to its start.
  [[noreturn]] void fail(const std::string& problem, std::size_t offset) const {
    for (const auto& [sb, se] : secrets_)
      if (offset >= sb && offset < se) offset = sb;
    throw url_error(echo_, problem, offset);
  }
  bool in_secret(std::size_t i) const noexcept {
    return std::any_of(secrets_.begin(), secrets_.end(), [&](const span& s) { return i >= s.first && i < s.second; });
  }
  std::string_view text() const noexcept { return t_; }

  /// Decodes [b, e) or fails naming `what`.
  std::string decoded(std::size_t b, std::size_t e, const char* what, bool secret = false) const {
    std::string out;
    std::size_t bad = 0;
    if (!decode(t_.substr(b, e - b), out, bad)) {
      const std::size_t at = b + bad;
      const std::size_t end = std::min(at + 3, e);
      const bool nul = end - at == 3 && t_.substr(at, 3) == "%00";
      if (secret)
        fail(std::string("the ") + what + (nul ? " decodes to a NUL byte" : " has a bad percent-escape") +
                 " (\"%\" must be followed by two hex digits; write \"%\" itself as %25)",
             b);
      fail(std::string("the ") + what + (nul ? " has %00, a NUL byte, " : " has a bad percent-escape ") + q(at, end) +
               (nul ? " which no database name may hold" : " (\"%\" must be followed by two hex digits; write \"%\" "
                                                           "itself as %25)"),
           at);
    }
    return out;
  }

 private:
  std::string_view t_;
  std::vector<span> secrets_;
  std::string echo_;
};

/// s with each control character and DEL written %XX. what() is a C string,
/// which a NUL (echoed from the text, or decoded from %00 in a value) would
/// cut short before the problem; and messages go to logs, where a raw line
/// feed or escape sequence could forge a line.
std::string printable(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
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

std::string describe(const std::string& redacted, const std::string& problem, std::size_t offset) {
  std::string w = "berth: bad URL \"" + redacted + "\": " + problem;
  if (offset != url_error::npos) w += " (offset " + std::to_string(offset) + ")";
  return printable(w);
}

}  // namespace

url_error::url_error(const std::string& redacted_url, const std::string& problem, std::size_t offset,
                     std::string parameter)
    : std::invalid_argument(describe(redacted_url, problem, offset)),
      offset_(offset),
      parameter_(std::move(parameter)) {}

std::string redact_url(std::string_view text) { return replace_spans(text, secret_spans(text)); }

url url::parse(std::string_view t) {
  parser p(t);
  url u;
  u.text_.assign(t);
  if (t.empty()) p.fail("empty URL (expected, e.g., sqlite:app.db or postgresql://host/db)", url_error::npos);

  // Characters never allowed as they are.
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      if (p.in_secret(i)) p.fail("the password holds a space or a control character: percent-encode it", i);
      p.fail(byte_name(c) + ": percent-encode it (a space is %20)", i);
    }
    if (c == '#') {
      if (p.in_secret(i)) p.fail("the password holds a \"#\": percent-encode it as %23", i);
      p.fail("a fragment (\"#...\") is not supported; a \"#\" in a name or value is written %23", i);
    }
  }

  // scheme ":"
  std::size_t i = 0;
  if (!is_alpha(t[0])) p.fail("no scheme: a URL starts with one, as in sqlite:app.db or postgresql://host/db", 0);
  while (i < t.size() && (is_alpha(t[i]) || is_digit(t[i]) || t[i] == '+' || t[i] == '-' || t[i] == '.')) ++i;
  if (i == t.size() || t[i] != ':')
    p.fail("no scheme: a URL starts with one, as in sqlite:app.db or postgresql://host/db", i == t.size() ? 0 : i);
  for (std::size_t k = 0; k < i; ++k) u.scheme_ += lower(t[k]);
  ++i;

  const std::size_t query = t.find('?', i);
  u.query_ = query;
  const std::size_t end_of_path = query == std::string_view::npos ? t.size() : query;

  // "//" authority
  if (t.substr(i, 2) == "//" && i + 2 <= end_of_path) {
    u.has_authority_ = true;
    const std::size_t a = i + 2;
    std::size_t e = a;
    while (e < end_of_path && t[e] != '/') ++e;
    std::size_t h = a;  // start of the host list
    const std::size_t at = t.substr(0, e).rfind('@');
    if (at != std::string_view::npos && at >= a) {
      const std::size_t colon = t.substr(0, at).find(':', a);
      const std::size_t user_end = colon == std::string_view::npos ? at : colon;
      for (std::size_t k = a; k < at; ++k) {
        const char c = t[k];
        if (c == '@') {
          if (k > user_end) p.fail("the password holds an \"@\": percent-encode it as %40", k);
          p.fail("the user name holds an \"@\": percent-encode it as %40", k);
        }
        if (c == '[' || c == ']') {
          if (k > user_end) p.fail("the password holds a \"[\" or \"]\": percent-encode it (%5B, %5D)", k);
          p.fail("the user name holds a \"[\" or \"]\": percent-encode it (%5B, %5D)", k);
        }
      }
      u.user_ = p.decoded(a, user_end, "user name");
      if (colon != std::string_view::npos) {
        u.password_ = p.decoded(colon + 1, at, "password", true);
        u.password_begin_ = colon + 1;
        u.password_end_ = at;
      }
      h = at + 1;
    }
    // host list: hostport *( "," hostport )
    if (h < e) {
      std::size_t b = h;
      const bool many = t.substr(h, e - h).find(',') != std::string_view::npos;
      while (true) {
        std::size_t c = b;
        if (c < e && t[c] == '[') {
          const std::size_t close = t.substr(0, e).find(']', c);
          if (close == std::string_view::npos)
            p.fail("an IPv6 address opened with \"[\" is not closed with \"]\"", c);
          c = close + 1;
        }
        while (c < e && t[c] != ',') ++c;
        const std::size_t hp_end = c;
        url_host host;
        std::size_t port_at = std::string_view::npos;
        if (b < hp_end && t[b] == '[') {
          const std::size_t close = t.find(']', b);
          const std::string_view addr = t.substr(b + 1, close - b - 1);
          const std::size_t zone = addr.find('%');
          const std::string_view ip = addr.substr(0, zone);
          if (ip.empty() || ip.find(':') == std::string_view::npos ||
              !std::all_of(ip.begin(), ip.end(), [](char ch) { return is_hex(ch) || ch == ':' || ch == '.'; }))
            p.fail("IPv6 address " + p.q(b, close + 1) + " holds characters other than hex digits, \":\" and \".\"",
                   b);
          if (zone != std::string_view::npos) {
            const std::string_view z = addr.substr(zone);
            if (z.size() <= 3 || z.substr(0, 3) != "%25" ||
                !std::all_of(z.begin() + 3, z.end(), [](char ch) { return is_unreserved(ch) || ch == '%'; }))
              p.fail("IPv6 zone " + p.q(b + 1 + zone, close) + " must be written %25<zone>, as in [fe80::1%25eth0]",
                     b + 1 + zone);
          }
          host.name = p.decoded(b + 1, close, "IPv6 zone");
          host.ipv6 = true;
          if (close + 1 < hp_end) {
            if (t[close + 1] != ':')
              p.fail("unexpected " + p.q(close + 1, hp_end) + " after the IPv6 address (expected \":port\")",
                     close + 1);
            port_at = close + 2;
          }
        } else {
          const std::size_t colon = t.substr(0, hp_end).find(':', b);
          const std::size_t name_end = colon == std::string_view::npos ? hp_end : colon;
          if (colon != std::string_view::npos && t.substr(colon + 1, hp_end - colon - 1).find(':') != std::string_view::npos)
            p.fail("host " + p.q(b, hp_end) + " has more than one \":\": an IPv6 address goes in brackets, as in "
                   "[::1]:5432",
                   b);
          for (std::size_t k = b; k < name_end; ++k) {
            const char ch = t[k];
            if (!(is_unreserved(ch) || is_sub_delim(ch) || ch == '%' || is_high(ch)))
              p.fail("host " + p.q(b, name_end) + " holds " + p.q(k, k + 1) +
                         (ch == '@' ? " (in a user name or password, write \"@\" as %40)" : ", which a host name cannot"),
                     k);
          }
          host.name = p.decoded(b, name_end, "host");
          if (colon != std::string_view::npos) port_at = colon + 1;
        }
        if (host.name.empty() && (many || port_at == std::string_view::npos))
          p.fail(many ? "empty host in the host list (hosts are separated by single \",\")" : "empty host", b);
        if (port_at != std::string_view::npos) {
          const std::string_view port = t.substr(port_at, hp_end - port_at);
          if (port.empty()) p.fail("empty port after \":\" (omit the \":\" for the default port)", port_at);
          unsigned long v = 0;
          bool ok = port.size() <= 5;
          for (const char ch : port) {
            ok = ok && is_digit(ch);
            if (ok) v = v * 10 + static_cast<unsigned long>(ch - '0');
          }
          if (!ok || v < 1 || v > 65535) {
            // A "/", "?" or "#" left raw in a password ends the authority early,
            // so its tail is taken for a port: say so when an "@" follows.
            const bool hint = t.find('@', hp_end) != std::string_view::npos;
            p.fail("port " + p.q(port_at, hp_end) + " is not a number in 1..65535" +
                       (hint ? " (if an \"@\" further on ends a user name and password, percent-encode \"/\", "
                               "\"?\" and \"#\" in them)"
                             : ""),
                   port_at);
          }
          host.port = static_cast<std::uint16_t>(v);
        }
        u.hosts_.push_back(std::move(host));
        if (hp_end >= e) break;
        b = hp_end + 1;
        if (b >= e) p.fail("empty host in the host list (hosts are separated by single \",\")", b);
      }
    }
    i = e;
  }

  // path
  u.path_ = p.decoded(i, end_of_path, "path");

  // query
  if (query != std::string_view::npos) {
    std::size_t b = query + 1;
    if (b == t.size()) p.fail("empty query after \"?\" (remove the \"?\")", query);
    while (b <= t.size()) {
      const std::size_t e = std::min(t.find('&', b), t.size());
      if (e == b) p.fail("empty parameter (\"&&\", or \"&\" at an end)", b);
      const std::size_t eq = t.substr(0, e).find('=', b);
      if (eq == std::string_view::npos)
        p.fail("parameter " + p.q(b, e) + " has no value (write key=value)", b);
      if (eq == b) p.fail("parameter " + p.q(b, e) + " has an empty key", b);
      const std::size_t eq2 = t.substr(0, e).find('=', eq + 1);
      if (eq2 != std::string_view::npos)
        p.fail("parameter " + p.q(b, eq) + " has a second \"=\": write \"=\" in a value as %3D", eq2);
      url_param prm;
      prm.key = p.decoded(b, eq, "parameter key");
      // The key is named unless it lies in a secret (a raw "?" in a user
      // name starts the query there, so a password can read as a key).
      const std::string what = p.overlaps_secret(b, eq) ? "value of a parameter" : "value of parameter " + prm.key;
      prm.value = p.decoded(eq + 1, e, what.c_str(), key_is_secret(t.substr(b, eq - b)));
      prm.offset = b;
      prm.raw.assign(t.substr(b, e - b));
      u.params_.push_back(std::move(prm));
      b = e + 1;
    }
  }
  return u;
}

const url_param* url::param(std::string_view key) const noexcept {
  for (const url_param& p : params_)
    if (p.key == key) return &p;
  return nullptr;
}

std::string url::redacted() const {
  std::vector<span> spans;
  if (password_) spans.emplace_back(password_begin_, password_end_);
  for (const url_param& p : params_) {
    const std::size_t eq = p.raw.find('=');
    if (key_is_secret(std::string_view(p.raw).substr(0, eq))) spans.emplace_back(p.offset + eq + 1, p.offset + p.raw.size());
  }
  return replace_spans(text_, std::move(spans));
}

std::string url::text_without(const std::function<bool(const url_param&)>& drop) const {
  std::string out = text_.substr(0, query_);
  bool first = true;
  for (const url_param& p : params_) {
    if (drop(p)) continue;
    out += first ? '?' : '&';
    out += p.raw;
    first = false;
  }
  return out;
}

url_error url::error(const std::string& problem, const url_param* p) const {
  if (p == nullptr) return url_error(redacted(), problem);
  return url_error(redacted(), problem, p->offset, p->key);
}

}  // namespace berth
