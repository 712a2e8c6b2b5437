// url_options.hpp: pool_options from a URL's query parameters, and the value
// parsers the adapters use for their own parameters.
//
//   sqlite:app.db?max_size=8&min_idle=2&acquire_timeout=250ms&startup=degraded
//
// A parameter named like a pool_options field sets that field (on_event,
// a function, cannot be set from text). Values:
//   sizes      max_size, min_idle: decimal digits
//   durations  <digits><unit>, unit us, ms, s, min or h ("500ms", "30s",
//              "2min"); "0" alone is zero. Integers only, at most about 292
//              years; the field's own unit must divide the value (250us is
//              no acquire_timeout, a millisecond field). Range checks are
//              pool_options' own (validate()), reported for the parameter.
//   booleans   true/false, 1/0, yes/no, on/off (any case)
//   enums      by name: startup=fail_fast|degraded, on_unwind=reset|discard
//   name       any non-empty text
// Each of berth's parameters may appear once. Every error is a url_error
// naming the parameter (and never showing a password: see url.hpp).
#pragma once

#include <berth/options.hpp>
#include <berth/url.hpp>

#include <chrono>
#include <cstddef>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace berth {

/// The pool_options fields that a URL parameter can set, by name (every
/// field but on_event). Thread-safe. Never allocates.
std::span<const std::string_view> pool_option_keys() noexcept;

/// If p's key names a pool_options field, sets that field of o from p's
/// value and returns true; otherwise returns false and changes nothing.
/// Throws url_error naming p for a value that does not parse, for on_event,
/// and for a key given earlier in u (require_once). Does not validate the
/// whole struct (validate_from_url does). Thread-safe on distinct o. Allocates.
bool apply_pool_option(pool_options& o, const url& u, const url_param& p);

/// base with every query parameter of u applied (apply_pool_option), then
/// validated (validate_from_url). Throws url_error for a parameter that is no
/// pool_options field ("unknown parameter", listing the known ones) or that
/// has a bad value; options_error when base itself is invalid. For URLs whose
/// adapter takes parameters too, the adapter's factory applies both.
/// Allocates.
pool_options pool_options_from_url(const url& u, pool_options base = {});

/// validate(o); a violation of a field that u sets is thrown as a url_error
/// naming that parameter ("parameter max_size: must be in 1..65536, got 0"),
/// any other as the options_error itself. Allocates only to throw.
void validate_from_url(const pool_options& o, const url& u);

/// Throws url_error naming p when p's key appeared earlier among u's
/// parameters ("given twice"). Never allocates unless it throws.
void require_once(const url& u, const url_param& p);

/// Throws url_error naming p, "unknown parameter", with `known` listed. For
/// the adapters' factories. Allocates.
[[noreturn]] void throw_unknown_param(const url& u, const url_param& p, const std::string& known);

// ---- value parsers, for the adapters' own parameters. Each throws url_error
// naming p when the value does not parse.

/// A duration as described at the top of this file, exactly in Duration's
/// unit. Allocates only to throw.
std::chrono::nanoseconds parse_duration_ns(const url& u, const url_param& p);
template <class Duration>
Duration parse_duration(const url& u, const url_param& p);
/// true/false, 1/0, yes/no, on/off (any case).
bool parse_bool(const url& u, const url_param& p);
/// Decimal digits, fitting std::size_t.
std::size_t parse_size(const url& u, const url_param& p);

/// Throws url_error naming p: "<value> is not a whole number of <unit>".
[[noreturn]] void throw_inexact_duration(const url& u, const url_param& p, const char* unit);

template <class Duration>
Duration parse_duration(const url& u, const url_param& p) {
  const std::chrono::nanoseconds ns = parse_duration_ns(u, p);
  const auto d = std::chrono::duration_cast<Duration>(ns);
  if (std::chrono::duration_cast<std::chrono::nanoseconds>(d) != ns) {
    if constexpr (std::is_same_v<typename Duration::period, std::milli>)
      throw_inexact_duration(u, p, "milliseconds");
    else if constexpr (std::is_same_v<typename Duration::period, std::micro>)
      throw_inexact_duration(u, p, "microseconds");
    else if constexpr (std::is_same_v<typename Duration::period, std::ratio<1>>)
      throw_inexact_duration(u, p, "seconds");
    else
      throw_inexact_duration(u, p, "the field's unit");
  }
  return d;
}

}  // namespace berth
