// config_fuzz.hpp: the body the adapters' URL targets share
// (postgres_url_fuzzer.cpp, sqlite_url_fuzzer.cpp): an adapter's
// config_from_url(url) either succeeds (the target checks the config) or
// fails as its contract says, and config_from_url(text) fails with the same
// message.
#pragma once

#include "fuzz_support.hpp"

#include <berth/options.hpp>
#include <berth/url.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

namespace berth_fuzz {

/// The message of what `where` (config_from_url) threw, checked as its
/// contract says: a url_error names a parameter of the URL at its offset, an
/// options_error a field no parameter sets; neither shows a password. Call
/// inside a catch handler.
inline std::string check_config_failure(const berth::url& u, bool markers, const char* where) {
  try {
    throw;
  } catch (const berth::url_error& e) {
    const std::string what = e.what();
    BERTH_FUZZ_CHECK_MESSAGE(what);
    if (!e.parameter().empty()) {
      const bool found = std::any_of(u.params().begin(), u.params().end(), [&](const berth::url_param& p) {
        return p.key == e.parameter() && p.offset == e.offset();
      });
      BERTH_FUZZ_CHECK(found, "the error names no parameter of the URL at its offset: " + what);
    }
    if (markers) BERTH_FUZZ_CHECK_NO_MARKER(what, where);
    return what;
  } catch (const berth::options_error& e) {
    const std::string what = e.what();
    BERTH_FUZZ_CHECK(u.param(e.field()) == nullptr, "a field a parameter sets is reported without it: " + what);
    if (markers) BERTH_FUZZ_CHECK_NO_MARKER(what, where);
    return what;
  }
}

/// One fuzz input through an adapter's two config_from_url overloads:
/// from_url(const url&) -> config, checked by check_success(u, config);
/// from_text(std::string_view), which must fail exactly as from_url did.
template <class FromUrl, class FromText, class CheckSuccess>
int run_config_target(std::string_view text, FromUrl from_url, FromText from_text, CheckSuccess check_success,
                      const char* where) {
  berth::url u;
  try {
    u = berth::url::parse(text);
  } catch (const berth::url_error&) {
    return 0;  // url_parse_fuzzer's
  }
  const bool markers = marker_only_in_passwords(u);
  std::string failed_from_url, failed_from_text;
  try {
    check_success(u, from_url(u));
  } catch (const std::invalid_argument&) {
    failed_from_url = check_config_failure(u, markers, where);
  }
  try {
    (void)from_text(text);
  } catch (const std::invalid_argument& e) {
    failed_from_text = e.what();
  }
  BERTH_FUZZ_CHECK(failed_from_url == failed_from_text,
                   "the overloads disagree: \"" + failed_from_url + "\" vs \"" + failed_from_text + "\"");
  return 0;
}

}  // namespace berth_fuzz
