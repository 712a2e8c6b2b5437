// url_parse_fuzzer.cpp: berth::url::parse and redact_url on arbitrary text.
//
// Invariants, beyond "no crash, no sanitizer report":
//   failure  a url_error whose what() is `berth: bad URL "<redact_url(text)>": ...`
//            (control characters written %XX; none left raw in what()),
//            whose offset is npos or inside the text, naming no parameter;
//   success  - canonical(u) (every part written back, percent-encoded) parses to
//              the same parts (round-trip), and so does canonical of that;
//            - text_without(keep all) is the text; text_without(drop all) parses
//              to the same parts without the query;
//            - each parameter's raw text is at its offset, and param(key) is the
//              first with that key;
//            - redacted() parses to the same parts with "***" for the password
//              and for the value of each parameter whose key says password;
//   markers  a password holding "QZJX" (fuzz_support.hpp) never shows it in
//            redacted(), redact_url(), url::error(), or a parse error (when
//            redact_url() hides it).
#include "fuzz_support.hpp"

#include <berth/url.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using berth::url;
using berth::url_error;
using berth::url_param;

void check_success(std::string_view text, const url& u) {
  const std::string c = berth_fuzz::canonical(u);
  url again;
  try {
    again = url::parse(c);
  } catch (const url_error& e) {
    berth_fuzz::fail("canonical form parses", std::string(e.what()), __FILE__, __LINE__);
  }
  const std::string diff = berth_fuzz::difference(u, again);
  BERTH_FUZZ_CHECK(diff.empty(), "round-trip through " + berth_fuzz::encode(c, "/:@?&=,[]%") + " changes the " + diff);
  BERTH_FUZZ_CHECK(berth_fuzz::canonical(again) == c, "canonical form is not a fixed point");

  BERTH_FUZZ_CHECK(u.text_without([](const url_param&) { return false; }) == text, "text_without(keep all)");
  const url bare = url::parse(u.text_without([](const url_param&) { return true; }));
  BERTH_FUZZ_CHECK(bare.params().empty(), "text_without(drop all) leaves a parameter");
  BERTH_FUZZ_CHECK(bare.path() == u.path() && bare.hosts().size() == u.hosts().size() && bare.user() == u.user() &&
                       bare.password() == u.password(),
                   "text_without(drop all) changes a part other than the query");

  for (std::size_t i = 0; i < u.params().size(); ++i) {
    const url_param& p = u.params()[i];
    BERTH_FUZZ_CHECK(!p.key.empty(), "an empty key");
    BERTH_FUZZ_CHECK(text.substr(p.offset, p.raw.size()) == p.raw, "raw text not at its offset");
    const url_param* first = u.param(p.key);
    BERTH_FUZZ_CHECK(first != nullptr && first <= &p && first->key == p.key, "param(key) is not the first");
  }
  for (const berth::url_host& h : u.hosts())
    if (h.ipv6) BERTH_FUZZ_CHECK(h.name.find(':') != std::string::npos, "an IPv6 host without \":\"");

  const std::string r = u.redacted();
  url shown;
  try {
    shown = url::parse(r);
  } catch (const url_error& e) {
    berth_fuzz::fail("redacted() parses", std::string(e.what()), __FILE__, __LINE__);
  }
  BERTH_FUZZ_CHECK(shown.password() == (u.password() ? std::optional<std::string>("***") : std::nullopt),
                   "redacted() keeps a password: " + r);
  BERTH_FUZZ_CHECK(shown.params().size() == u.params().size(), "redacted() changes the parameters: " + r);
  for (std::size_t i = 0; i < u.params().size(); ++i) {
    const url_param &p = u.params()[i], &q = shown.params()[i];
    BERTH_FUZZ_CHECK(q.key == p.key, "redacted() changes a key: " + r);
    BERTH_FUZZ_CHECK(q.value == (berth_fuzz::key_is_secret(p.key) ? "***" : p.value),
                     "redacted() keeps a password parameter, or hides another: " + r);
  }
  BERTH_FUZZ_CHECK(shown.user() == u.user() && shown.path() == u.path() && shown.hosts().size() == u.hosts().size(),
                   "redacted() changes a part other than passwords: " + r);

  if (berth_fuzz::marker_only_in_passwords(u)) {
    BERTH_FUZZ_CHECK_NO_MARKER(r, "redacted()");
    BERTH_FUZZ_CHECK_NO_MARKER(berth::redact_url(text), "redact_url()");
    BERTH_FUZZ_CHECK_NO_MARKER(std::string(u.error("problem").what()), "url::error()");
    for (const url_param& p : u.params())
      BERTH_FUZZ_CHECK_NO_MARKER(std::string(u.error("problem", &p).what()), "url::error(p)");
  }
}

void check_failure(std::string_view text, const url_error& e) {
  const std::string what = e.what();
  BERTH_FUZZ_CHECK_MESSAGE(what);
  const std::string echo = berth::redact_url(text);
  const std::string head = "berth: bad URL \"" + berth_fuzz::escaped_controls(echo) + "\": ";
  BERTH_FUZZ_CHECK(what.starts_with(head), "the error does not echo redact_url(text): " + what);
  BERTH_FUZZ_CHECK(e.offset() == url_error::npos || e.offset() <= text.size(), "offset past the end: " + what);
  BERTH_FUZZ_CHECK(e.parameter().empty(), "a parse error names a parameter: " + what);
  if (!berth_fuzz::shows_marker(echo)) BERTH_FUZZ_CHECK_NO_MARKER(what, "a parse error");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  url u;
  try {
    u = url::parse(text);
  } catch (const url_error& e) {
    check_failure(text, e);
    return 0;
  }
  check_success(text, u);
  return 0;
}
