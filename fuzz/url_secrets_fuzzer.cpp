// url_secrets_fuzzer.cpp: passwords never shown, across every entry point that
// parses a URL. The input is split (FuzzedDataProvider) into the fields of
//
//   <scheme>:[//]<user>[:<pa>QZJX<pb>]@<hosts><path>[?<query>][&<key>=<sa>QZJX<sb>]
//
// so each password is a distinctive marker ("QZJX", see fuzz_support.hpp)
// wrapped in arbitrary bytes, <key> one that says password (password,
// sslpassword, PASSWORD, pass%77ord, my_password), and the scheme one of
// postgresql, postgres, sqlite, POSTGRESQL, mysql. The marker goes only
// where berth promises to hide it: in a password after "//" (whatever its
// bytes), in a password parameter's value when the query starts at its "?"
// and no raw "&" ends the value; and the check applies when the marker
// appears nowhere else (raw or percent-decoded). Invariants:
//   - url::parse fails: what() never shows the marker, whatever bytes
//     surround it (a raw "/", "?", "#", "@" or space inside the password
//     included); nor does redact_url(text);
//   - url::parse succeeds: when the URL is well formed around the password
//     (no raw ":/?#@[]" in the user, no raw "/?#@" in the password or
//     "/?#@" in the hosts), berth reads the marker inside the password;
//     whenever berth reads it inside a password, redacted(), url::error()
//     and the errors of pool_options_from_url, sqlite::config_from_url,
//     postgres::config_from_url (libpq's messages too) and open_pool (run
//     only where it must fail) never show it;
//   - postgres::redact_password hides the marker in a conninfo's
//     password='...' (quoted as libpq quotes) and in a URI's percent-encoded
//     user:password@.
#include "fuzz_support.hpp"

#include <berth/open.hpp>
#include <berth/postgres/error.hpp>
#include <berth/postgres/url.hpp>
#include <berth/registry.hpp>
#include <berth/sqlite/url.hpp>
#include <berth/url.hpp>
#include <berth/url_options.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using berth::url;
using berth::url_error;
using berth_fuzz::error_of;


bool has_any(std::string_view s, std::string_view chars) { return s.find_first_of(chars) != std::string_view::npos; }

/// The errors of every entry point on u (parsed from text), none showing the marker.
void check_entry_points(std::string_view text, const url& u) {
  BERTH_FUZZ_CHECK_NO_MARKER(u.redacted(), "redacted()");
  BERTH_FUZZ_CHECK_NO_MARKER(std::string(u.error("problem").what()), "url::error()");
  for (const berth::url_param& p : u.params())
    BERTH_FUZZ_CHECK_NO_MARKER(std::string(u.error("problem", &p).what()), "url::error(p)");
  if (auto e = error_of([&] { (void)berth::pool_options_from_url(u); }))
    BERTH_FUZZ_CHECK_NO_MARKER(*e, "pool_options_from_url");
  std::optional<std::string> adapter_error;
  if (u.scheme() == "sqlite") {
    adapter_error = error_of([&] { (void)berth::sqlite::config_from_url(u); });
    if (adapter_error) BERTH_FUZZ_CHECK_NO_MARKER(*adapter_error, "sqlite::config_from_url");
  } else if (u.scheme() == "postgresql" || u.scheme() == "postgres") {
    adapter_error = error_of([&] { (void)berth::postgres::config_from_url(u); });
    if (adapter_error) BERTH_FUZZ_CHECK_NO_MARKER(*adapter_error, "postgres::config_from_url");
  } else {
    adapter_error = "";  // unknown scheme: open_pool fails
  }
  if (adapter_error) {  // open_pool fails too, before opening anything
    berth::registry reg;
    const auto e = error_of([&] { berth::open_pool(reg, "fuzz", text); });
    BERTH_FUZZ_CHECK(e.has_value(), "open_pool accepted a URL its adapter rejects");
    BERTH_FUZZ_CHECK_NO_MARKER(*e, "open_pool");
  }
}

/// password='...' as libpq quotes a conninfo value.
std::string quoted(std::string_view v) {
  std::string out = "'";
  for (const char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string user = in.ConsumeRandomLengthString(32);
  const std::string pa = in.ConsumeRandomLengthString(32), pb = in.ConsumeRandomLengthString(32);
  const std::string hosts = in.ConsumeRandomLengthString(64);
  const std::string path = in.ConsumeRandomLengthString(64);
  const std::string query = in.ConsumeRandomLengthString(128);
  const std::string sa = in.ConsumeRandomLengthString(32), sb = in.ConsumeRandomLengthString(32);
  const auto flags = in.ConsumeIntegral<std::uint16_t>();
  static constexpr std::string_view schemes[] = {"postgresql", "postgres", "sqlite", "POSTGRESQL", "mysql"};
  static constexpr std::string_view keys[] = {"password", "sslpassword", "PASSWORD", "pass%77ord", "my_password"};
  const std::string_view scheme = schemes[(flags & 7u) % 5];
  const bool authority = (flags & 8u) == 0;
  const bool with_password = (flags & 16u) == 0;
  const bool with_secret_param = (flags & 32u) != 0;
  const bool secret_param_first = (flags & 64u) != 0;
  const std::string_view key = keys[(flags >> 7) % 5];

  // The marker goes where a rule covers it: a password after "//"; a
  // password parameter's value, when the query starts at our "?" (none
  // before it) and no raw "&" ends the value early.
  const bool password_rule = authority && with_password;
  const bool param_rule = with_secret_param && !has_any(sa + sb, "&") &&
                          !has_any(user + (with_password ? pa + pb : "") + hosts + path, "?");
  if (!password_rule && !param_rule) return 0;
  const std::string password = password_rule ? pa + std::string(berth_fuzz::marker) + pb : pa + pb;
  const std::string secret = param_rule ? sa + std::string(berth_fuzz::marker) + sb : sa + sb;
  auto build = [&](const std::string& pw, const std::string& sec) {
    std::string t = std::string(scheme) + ":" + (authority ? "//" : "") + user;
    if (with_password) t += ":" + pw;
    t += "@" + hosts + path;
    std::string q = query;
    if (with_secret_param) {
      const std::string param = std::string(key) + "=" + sec;
      q = secret_param_first ? param + (q.empty() ? "" : "&" + q) : (q.empty() ? param : q + "&" + param);
    }
    if (!q.empty()) t += "?" + q;
    return t;
  };
  if (berth_fuzz::shows_marker(build(password_rule ? "" : password, param_rule ? "" : secret)))
    return 0;  // the marker elsewhere: no rule
  const std::string text = build(password, secret);

  // redact_password's own contract, on the two forms libpq shows.
  const std::string& marked = password_rule ? password : secret;
  BERTH_FUZZ_CHECK_NO_MARKER(berth::postgres::redact_password("host=h password=" + quoted(marked) + " user=u"),
                             "redact_password(password='...')");
  BERTH_FUZZ_CHECK_NO_MARKER(berth::postgres::redact_password("postgresql://u:" + berth_fuzz::encode(marked) + "@h/db"),
                             "redact_password(URI)");

  BERTH_FUZZ_CHECK_NO_MARKER(berth::redact_url(text), "redact_url()");
  url u;
  try {
    u = url::parse(text);
  } catch (const url_error& e) {
    BERTH_FUZZ_CHECK_NO_MARKER(std::string(e.what()), "a parse error");
    return 0;
  }
  const bool well_formed = password_rule && !has_any(user, ":/?#@[]") && !has_any(password, "/?#@") &&
                           !has_any(hosts, "/?#@");
  if (well_formed)
    BERTH_FUZZ_CHECK(u.password() && berth_fuzz::contains_ci(*u.password(), berth_fuzz::marker),
                     "the password of a well-formed URL is not read as one: " + u.redacted());
  if (berth_fuzz::marker_only_in_passwords(u)) check_entry_points(text, u);
  return 0;
}
