// url_options.cpp: see url_options.hpp.
#include <berth/url_options.hpp>

#include <array>
#include <cstdint>
#include <limits>

namespace berth {
namespace {

using namespace std::string_view_literals;

constexpr std::array<std::string_view, 29> keys = {
    "name"sv,          "max_size"sv,         "min_idle"sv,           "acquire_timeout"sv,
    "creation_backoff_initial"sv, "creation_backoff_max"sv, "handoff_after"sv, "startup"sv,
    "on_unwind"sv,     "reaper_period"sv,    "validation_interval"sv, "validation_timeout"sv,
    "validate_on_acquire"sv, "validation_bypass"sv, "idle_timeout"sv, "max_lifetime"sv,
    "lifetime_jitter"sv, "keepalive_interval"sv, "leak_threshold"sv, "hold_time_sampling"sv,
    "max_size_limit"sv, "adaptive_min_idle"sv, "min_idle_floor"sv, "min_idle_ceiling"sv, "adaptive_window"sv,
    "breaker_threshold"sv, "breaker_window"sv, "breaker_recovery"sv, "breaker_recovery_max"sv,
};

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// Whether p's key says password: its value is never shown (see url.hpp).
bool is_secret(const url_param& p) { return lowered(p.key).find("password") != std::string::npos; }

/// The value, quoted, for messages ("its value" for a password).
std::string shown(const url_param& p) {
  if (is_secret(p)) return "its value";
  return "\"" + p.value + "\"";
}

[[noreturn]] void bad_value(const url& u, const url_param& p, const std::string& why) {
  throw u.error("parameter " + p.key + ": " + shown(p) + " " + why, &p);
}

template <class E>
E parse_enum(const url& u, const url_param& p, std::initializer_list<std::pair<std::string_view, E>> names) {
  std::string list;
  for (const auto& [n, v] : names) {
    if (p.value == n) return v;
    list += list.empty() ? "" : " or ";
    list += n;
  }
  bad_value(u, p, "is not one of " + list);
}

}  // namespace

std::span<const std::string_view> pool_option_keys() noexcept { return keys; }

void require_once(const url& u, const url_param& p) {
  for (const url_param& q : u.params()) {
    if (&q == &p) return;
    if (q.key == p.key) throw u.error("parameter " + p.key + " is given twice", &p);
  }
}

void throw_unknown_param(const url& u, const url_param& p, const std::string& known) {
  throw u.error("unknown parameter " + p.key + " (known: " + known + ")", &p);
}

void throw_inexact_duration(const url& u, const url_param& p, const char* unit) {
  bad_value(u, p, std::string("is not a whole number of ") + unit + ", this field's unit");
}

std::chrono::nanoseconds parse_duration_ns(const url& u, const url_param& p) {
  const std::string_view v = p.value;
  if (v == "0") return std::chrono::nanoseconds{0};
  std::size_t i = 0;
  std::uint64_t n = 0;
  bool overflow = false;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
    const auto d = static_cast<std::uint64_t>(v[i] - '0');
    if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10) overflow = true;
    if (!overflow) n = n * 10 + d;
    ++i;
  }
  const std::string_view unit = v.substr(i);
  // The hints below quote the value or its tail: never a password's.
  if (i == 0 || unit.empty()) {
    if (i == v.size() && i > 0) {
      if (is_secret(p)) bad_value(u, p, "has no unit (units: us, ms, s, min, h)");
      bad_value(u, p, "has no unit: write, e.g., " + std::string(v) + "ms or " + std::string(v) + "s (units: us, ms, "
                      "s, min, h)");
    }
    if (!v.empty() && (v[0] == '-' || v[0] == '+')) bad_value(u, p, "is not a duration: no sign is allowed");
    bad_value(u, p, "is not a duration such as 500ms, 30s or 2min (units: us, ms, s, min, h)");
  }
  std::uint64_t scale = 0;
  if (unit == "us") scale = 1'000;
  else if (unit == "ms") scale = 1'000'000;
  else if (unit == "s") scale = 1'000'000'000;
  else if (unit == "min") scale = 60'000'000'000;
  else if (unit == "h") scale = 3'600'000'000'000;
  else if (unit == "m")
    bad_value(u, p, "has the ambiguous unit m: write min for minutes or ms for milliseconds");
  else if (unit.front() == '.' || unit.front() == ',')
    bad_value(u, p, "is not a whole number: write 1500ms rather than 1.5s");
  else if (is_secret(p))
    bad_value(u, p, "has an unknown unit (units: us, ms, s, min, h)");
  else
    bad_value(u, p, "has the unknown unit \"" + std::string(unit) + "\" (units: us, ms, s, min, h)");
  constexpr auto max_ns = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (overflow || n > max_ns / scale) bad_value(u, p, "is too large (at most about 292 years)");
  return std::chrono::nanoseconds{static_cast<std::int64_t>(n * scale)};
}

bool parse_bool(const url& u, const url_param& p) {
  const std::string v = lowered(p.value);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  bad_value(u, p, "is not a boolean (true/false, 1/0, yes/no, on/off)");
}

std::size_t parse_size(const url& u, const url_param& p) {
  const std::string_view v = p.value;
  if (v.empty()) bad_value(u, p, "is not a whole number");
  std::size_t n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9') bad_value(u, p, "is not a whole number");
    const auto d = static_cast<std::size_t>(c - '0');
    if (n > (std::numeric_limits<std::size_t>::max() - d) / 10) bad_value(u, p, "is too large");
    n = n * 10 + d;
  }
  return n;
}

bool apply_pool_option(pool_options& o, const url& u, const url_param& p) {
  using std::chrono::milliseconds;
  const std::string& k = p.key;
  auto ms = [&](milliseconds& field) { field = parse_duration<milliseconds>(u, p); };
  if (k == "on_event")
    throw u.error("parameter on_event: a function, set in pool_options, not in a URL", &p);
  if (k == "name") {
    if (p.value.empty()) bad_value(u, p, "is empty");
    o.name = p.value;
  } else if (k == "max_size") {
    o.max_size = parse_size(u, p);
  } else if (k == "min_idle") {
    o.min_idle = parse_size(u, p);
  } else if (k == "acquire_timeout") {
    ms(o.acquire_timeout);
  } else if (k == "creation_backoff_initial") {
    ms(o.creation_backoff_initial);
  } else if (k == "creation_backoff_max") {
    ms(o.creation_backoff_max);
  } else if (k == "handoff_after") {
    o.handoff_after = parse_duration<std::chrono::microseconds>(u, p);
  } else if (k == "startup") {
    o.startup = parse_enum<startup_mode>(u, p, {{"fail_fast", startup_mode::fail_fast},
                                                {"degraded", startup_mode::degraded}});
  } else if (k == "on_unwind") {
    o.on_unwind = parse_enum<unwind_policy>(u, p, {{"reset", unwind_policy::reset},
                                                   {"discard", unwind_policy::discard}});
  } else if (k == "reaper_period") {
    ms(o.reaper_period);
  } else if (k == "validation_interval") {
    ms(o.validation_interval);
  } else if (k == "validation_timeout") {
    ms(o.validation_timeout);
  } else if (k == "validate_on_acquire") {
    o.validate_on_acquire = parse_bool(u, p);
  } else if (k == "validation_bypass") {
    ms(o.validation_bypass);
  } else if (k == "idle_timeout") {
    ms(o.idle_timeout);
  } else if (k == "max_lifetime") {
    ms(o.max_lifetime);
  } else if (k == "lifetime_jitter") {
    ms(o.lifetime_jitter);
  } else if (k == "keepalive_interval") {
    ms(o.keepalive_interval);
  } else if (k == "leak_threshold") {
    ms(o.leak_threshold);
  } else if (k == "hold_time_sampling") {
    // Range and power of two: validate() (validate_from_url names this parameter).
    const std::size_t n = parse_size(u, p);
    if (n > std::numeric_limits<std::uint32_t>::max()) bad_value(u, p, "is above 4294967295");
    o.hold_time_sampling = static_cast<std::uint32_t>(n);
  } else if (k == "max_size_limit") {
    o.max_size_limit = parse_size(u, p);
  } else if (k == "adaptive_min_idle") {
    o.adaptive_min_idle = parse_bool(u, p);
  } else if (k == "min_idle_floor") {
    o.min_idle_floor = parse_size(u, p);
  } else if (k == "min_idle_ceiling") {
    o.min_idle_ceiling = parse_size(u, p);
  } else if (k == "adaptive_window") {
    ms(o.adaptive_window);
  } else if (k == "breaker_threshold") {
    const std::size_t n = parse_size(u, p);
    if (n > max_breaker_threshold) bad_value(u, p, "is above " + std::to_string(max_breaker_threshold));
    o.breaker_threshold = static_cast<std::uint32_t>(n);
  } else if (k == "breaker_window") {
    ms(o.breaker_window);
  } else if (k == "breaker_recovery") {
    ms(o.breaker_recovery);
  } else if (k == "breaker_recovery_max") {
    ms(o.breaker_recovery_max);
  } else {
    return false;
  }
  require_once(u, p);
  return true;
}

void validate_from_url(const pool_options& o, const url& u) {
  auto e = validate(o);
  if (!e) return;
  const url_param* p = u.param(e->field());
  if (p == nullptr) throw *e;
  std::string why = e->what();
  const std::string prefix = "berth: invalid pool_options." + e->field() + ": ";
  if (why.starts_with(prefix)) why.erase(0, prefix.size());
  throw u.error("parameter " + p->key + ": " + why, p);
}

pool_options pool_options_from_url(const url& u, pool_options base) {
  std::string known;
  for (const std::string_view k : keys) known.append(known.empty() ? "" : ", ").append(k);
  for (const url_param& p : u.params())
    if (!apply_pool_option(base, u, p)) throw_unknown_param(u, p, known);
  validate_from_url(base, u);
  return base;
}

}  // namespace berth
