// url.hpp: the URLs that name a pool (`sqlite:app.db?max_size=4`,
// `postgresql://app@db1:5432,db2/orders?sslmode=require&max_size=16`), parsed
// strictly, with errors that name the problem and where it is and never show
// a password.
//
// Grammar (RFC 3986, narrowed to what berth's schemes use, plus libpq's
// comma-separated host list):
//
//   url       = scheme ":" ( "//" authority path | path ) [ "?" query ]
//   scheme    = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )     case-insensitive; stored lowercased
//   authority = [ user [ ":" password ] "@" ] [ hostport *( "," hostport ) ]
//   hostport  = host [ ":" port ]                               port: 1..65535
//   host      = "[" IPv6 [ "%25" zone ] "]" / reg-name           reg-name: no ":" "," "@" "/"
//   path      = any characters but "?" and "#"                  ("/orders", "relative.db", ":memory:")
//   query     = param *( "&" param ),  param = key "=" value    key non-empty; duplicates kept, in order
//
// User, password, host, path, keys and values are percent-decoded ("%2F" is
// "/"); a "%" not followed by two hex digits, a decoded NUL, a space or a
// control character anywhere, and a fragment ("#") are errors. Characters
// that end a part ("@", "/", "?", "#", "&", "=") must be percent-encoded
// inside a user name, password, key or value. Bytes >= 0x80 (UTF-8 file
// names) are accepted as they are.
//
// Passwords: url_error::what() and url::redacted() show "***" in place of
// the password and of the value of every parameter whose key contains
// "password" (libpq's password, sslpassword). When parsing fails before the
// user information is known, the echo hides everything from the first ":"
// after "//" to the last "@" (possibly more than the password, never less),
// and no quoted fragment overlaps it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

/// A URL that cannot be parsed, or a query parameter that is unknown or has a
/// bad value. what(): `berth: bad URL "<the URL, password redacted>":
/// <problem> (offset <n>)`, with any control character or DEL in it written
/// %XX (so a NUL cannot cut it short, nor a line feed forge a log line).
/// Thread-safety: a value type.
class url_error : public std::invalid_argument {
 public:
  /// `redacted_url` must already be redacted (url::redacted(), redact_url()).
  url_error(const std::string& redacted_url, const std::string& problem, std::size_t offset = npos,
            std::string parameter = {});

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// Byte offset in the URL text where the problem is, or npos. Never blocks.
  std::size_t offset() const noexcept { return offset_; }
  /// The query parameter's key when a parameter is at fault (unknown, or a
  /// bad value), else empty. Never blocks.
  const std::string& parameter() const noexcept { return parameter_; }

 private:
  std::size_t offset_;
  std::string parameter_;
};

/// One host of the authority. Thread-safety: a value type.
struct url_host {
  /// Percent-decoded; an IPv6 address without its brackets (zone included,
  /// decoded: "fe80::1%eth0"). Empty: the URL names no host ("postgresql:///db").
  std::string name;
  /// Absent: the scheme's default.
  std::optional<std::uint16_t> port;
  /// Written in brackets.
  bool ipv6 = false;
};

/// One query parameter. Thread-safety: a value type.
struct url_param {
  std::string key;    ///< percent-decoded
  std::string value;  ///< percent-decoded (may be a password: see url.hpp)
  std::size_t offset = 0;  ///< where the key starts in the URL text
  std::string raw;    ///< "key=value" exactly as written (still encoded)
};

/// A parsed URL (see the grammar at the top of url.hpp). Holds the original
/// text, password included: nothing in berth prints it; redacted() is the
/// printable form.
/// Thread-safety: a value type; distinct objects safe, shared objects safe
/// for const members.
class url {
 public:
  /// Parses text. Throws url_error naming the problem and its offset.
  /// Allocates.
  static url parse(std::string_view text);

  const std::string& scheme() const noexcept { return scheme_; }  ///< lowercased
  bool has_authority() const noexcept { return has_authority_; }  ///< "//" followed the scheme
  const std::optional<std::string>& user() const noexcept { return user_; }
  const std::optional<std::string>& password() const noexcept { return password_; }
  /// Empty when there is no authority or it names no host.
  const std::vector<url_host>& hosts() const noexcept { return hosts_; }
  const std::string& path() const noexcept { return path_; }
  const std::vector<url_param>& params() const noexcept { return params_; }
  /// The first parameter with this key, or nullptr. Never allocates.
  const url_param* param(std::string_view key) const noexcept;

  /// The text with the password, and the value of every parameter whose key
  /// contains "password", replaced by "***". Allocates.
  std::string redacted() const;
  /// The original text without the query parameters for which drop(p) is
  /// true; the others keep their exact text and order ("?" goes when none
  /// is left). Contains the password: hand it to a driver, never to a log.
  /// Allocates.
  std::string text_without(const std::function<bool(const url_param&)>& drop) const;

  /// An error about this URL (echoing redacted()), at p's offset and naming
  /// its key when p is given. Allocates.
  url_error error(const std::string& problem, const url_param* p = nullptr) const;

 private:
  std::string text_;
  std::string scheme_;
  bool has_authority_ = false;
  std::optional<std::string> user_;
  std::optional<std::string> password_;
  std::vector<url_host> hosts_;
  std::string path_;
  std::vector<url_param> params_;
  std::size_t query_ = std::string::npos;  ///< offset of "?" in text_, or npos
  std::size_t password_begin_ = 0, password_end_ = 0;  ///< the password's span in text_ (empty: none)
};

/// text with anything that may be a password replaced by "***" (see url.hpp),
/// for echoing text that may not parse. Thread-safe. Allocates.
std::string redact_url(std::string_view text);

}  // namespace berth
