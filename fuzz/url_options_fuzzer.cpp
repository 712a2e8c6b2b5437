// url_options_fuzzer.cpp: pool_options from a URL's query (berth/url_options.hpp)
// and the value parsers the adapters share, on arbitrary text.
//
// Invariants, beyond "no crash, no sanitizer report" (inputs that are no URL
// are url_parse_fuzzer's):
//   pool_options_from_url
//     success        the options validate; written back as a query of all 28
//                    keys (sizes, durations in the field's unit, booleans,
//                    enum names, the name percent-encoded) they parse to the
//                    same options (round-trip);
//     url_error      names one of the URL's parameters (parameter()), at that
//                    parameter's offset; whole, free of control characters;
//     options_error  names a pool_options field the URL does not set (one it
//                    sets is reported as a url_error);
//     anything else  a bug (an uncaught exception aborts the run).
//   parse_duration_ns / parse_duration<ms, us, s> / parse_bool / parse_size,
//   on every parameter: a value or a url_error naming that parameter; a
//   duration is >= 0, whole microseconds, written back as "<n>us" it parses
//   to the same; parse_duration<D> succeeds exactly when D's unit divides it.
//   markers: a password holding "QZJX" never shows it in an error
//   (fuzz_support.hpp).
#include "fuzz_support.hpp"

#include <berth/options.hpp>
#include <berth/url.hpp>
#include <berth/url_options.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using berth::pool_options;
using berth::url;
using berth::url_error;
using berth::url_param;

/// o as a query of every field a URL can set.
std::string to_query(const pool_options& o) {
  auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; };
  auto b = [](bool v) { return v ? std::string("true") : std::string("false"); };
  std::string q = "name=" + berth_fuzz::encode(o.name);
  q += "&max_size=" + std::to_string(o.max_size);
  q += "&min_idle=" + std::to_string(o.min_idle);
  q += "&acquire_timeout=" + ms(o.acquire_timeout);
  q += "&creation_backoff_initial=" + ms(o.creation_backoff_initial);
  q += "&creation_backoff_max=" + ms(o.creation_backoff_max);
  q += "&handoff_after=" + std::to_string(o.handoff_after.count()) + "us";
  q += std::string("&startup=") + (o.startup == berth::startup_mode::degraded ? "degraded" : "fail_fast");
  q += std::string("&on_unwind=") + (o.on_unwind == berth::unwind_policy::discard ? "discard" : "reset");
  q += "&reaper_period=" + ms(o.reaper_period);
  q += "&validation_interval=" + ms(o.validation_interval);
  q += "&validation_timeout=" + ms(o.validation_timeout);
  q += "&validate_on_acquire=" + b(o.validate_on_acquire);
  q += "&validation_bypass=" + ms(o.validation_bypass);
  q += "&idle_timeout=" + ms(o.idle_timeout);
  q += "&max_lifetime=" + ms(o.max_lifetime);
  q += "&lifetime_jitter=" + ms(o.lifetime_jitter);
  q += "&keepalive_interval=" + ms(o.keepalive_interval);
  q += "&leak_threshold=" + ms(o.leak_threshold);
  q += "&max_size_limit=" + std::to_string(o.max_size_limit);
  q += "&adaptive_min_idle=" + b(o.adaptive_min_idle);
  q += "&min_idle_floor=" + std::to_string(o.min_idle_floor);
  q += "&min_idle_ceiling=" + std::to_string(o.min_idle_ceiling);
  q += "&adaptive_window=" + ms(o.adaptive_window);
  q += "&breaker_threshold=" + std::to_string(o.breaker_threshold);
  q += "&breaker_window=" + ms(o.breaker_window);
  q += "&breaker_recovery=" + ms(o.breaker_recovery);
  q += "&breaker_recovery_max=" + ms(o.breaker_recovery_max);
  return q;
}

bool is_pool_key(std::string_view k) {
  const auto keys = berth::pool_option_keys();
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

/// A url_error about p: names it, at its offset.
void check_names(const url& u, const url_param& p, const url_error& e, bool markers) {
  const std::string what = e.what();
  BERTH_FUZZ_CHECK_MESSAGE(what);
  BERTH_FUZZ_CHECK(e.parameter() == p.key, "the error does not name parameter " + p.key + ": " + what);
  BERTH_FUZZ_CHECK(e.offset() == p.offset, "the error is not at the parameter's offset: " + what);
  if (markers) BERTH_FUZZ_CHECK_NO_MARKER(what, "a value parser's error");
  (void)u;
}

template <class D>
void check_unit(const url& u, const url_param& p, std::chrono::nanoseconds ns, bool markers) {
  const bool divides = ns.count() % std::chrono::duration_cast<std::chrono::nanoseconds>(D{1}).count() == 0;
  try {
    const D d = berth::parse_duration<D>(u, p);
    BERTH_FUZZ_CHECK(divides && std::chrono::duration_cast<std::chrono::nanoseconds>(d) == ns,
                     "parse_duration<D> disagrees with parse_duration_ns on " + p.value);
  } catch (const url_error& e) {
    BERTH_FUZZ_CHECK(!divides, "parse_duration<D> rejects a whole number of its unit: " + std::string(e.what()));
    check_names(u, p, e, markers);
  }
}

void check_value_parsers(const url& u, const url_param& p, bool markers) {
  try {
    const std::chrono::nanoseconds ns = berth::parse_duration_ns(u, p);
    BERTH_FUZZ_CHECK(ns.count() >= 0 && ns.count() % 1000 == 0, "a duration below zero or not whole us: " + p.value);
    const url again = url::parse("x:y?k=" + std::to_string(ns.count() / 1000) + "us");
    BERTH_FUZZ_CHECK(berth::parse_duration_ns(again, again.params()[0]) == ns, "a duration does not round-trip");
    check_unit<std::chrono::microseconds>(u, p, ns, markers);
    check_unit<std::chrono::milliseconds>(u, p, ns, markers);
    check_unit<std::chrono::seconds>(u, p, ns, markers);
  } catch (const url_error& e) {
    check_names(u, p, e, markers);
  }
  try {
    const bool b = berth::parse_bool(u, p);
    std::string v = p.value;
    for (char& c : v) c = berth_fuzz::lower(c);
    BERTH_FUZZ_CHECK(b ? (v == "true" || v == "1" || v == "yes" || v == "on")
                       : (v == "false" || v == "0" || v == "no" || v == "off"),
                     "parse_bool accepts " + p.value);
  } catch (const url_error& e) {
    check_names(u, p, e, markers);
  }
  try {
    const std::size_t n = berth::parse_size(u, p);
    const std::size_t digits = p.value.find_first_not_of('0');
    const std::string bare = digits == std::string::npos ? "0" : p.value.substr(digits);
    BERTH_FUZZ_CHECK(std::to_string(n) == bare, "parse_size(" + p.value + ") = " + std::to_string(n));
  } catch (const url_error& e) {
    check_names(u, p, e, markers);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  url u;
  try {
    u = url::parse(text);
  } catch (const url_error&) {
    return 0;  // url_parse_fuzzer's
  }
  const bool markers = berth_fuzz::marker_only_in_passwords(u);
  for (const url_param& p : u.params()) check_value_parsers(u, p, markers);

  try {
    const pool_options o = berth::pool_options_from_url(u);
    BERTH_FUZZ_CHECK(!berth::validate(o).has_value(), "pool_options_from_url returned invalid options");
    const std::string q = to_query(o);
    pool_options again;
    try {
      again = berth::pool_options_from_url(url::parse("sqlite:a.db?" + q));
    } catch (const std::exception& e) {
      berth_fuzz::fail("the options written back parse", q + ": " + e.what(), __FILE__, __LINE__);
    }
    BERTH_FUZZ_CHECK(to_query(again) == q, "the options do not round-trip: " + q + " -> " + to_query(again));
  } catch (const url_error& e) {
    const std::string what = e.what();
    BERTH_FUZZ_CHECK_MESSAGE(what);
    BERTH_FUZZ_CHECK(!e.parameter().empty(), "an options error names no parameter: " + what);
    const bool found = std::any_of(u.params().begin(), u.params().end(), [&](const url_param& p) {
      return p.key == e.parameter() && p.offset == e.offset();
    });
    BERTH_FUZZ_CHECK(found, "the error names no parameter of the URL at its offset: " + what);
    if (markers) BERTH_FUZZ_CHECK_NO_MARKER(what, "pool_options_from_url");
  } catch (const berth::options_error& e) {
    const std::string what = e.what();
    BERTH_FUZZ_CHECK(is_pool_key(e.field()), "options_error names no pool_options field a URL sets: " + what);
    BERTH_FUZZ_CHECK(u.param(e.field()) == nullptr, "a field the URL sets is reported without it: " + what);
    if (markers) BERTH_FUZZ_CHECK_NO_MARKER(what, "pool_options_from_url");
  }
  return 0;
}
