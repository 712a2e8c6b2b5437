// url.cpp: see url.hpp.
#include <berth/postgres/url.hpp>

#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/error.hpp>
#include <berth/url_options.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>

namespace berth::postgres {
namespace {

using std::chrono::milliseconds;

bool is_berth_key(std::string_view k) {
  if (k == "connect_timeout" || k == "statement_timeout" || k == "reset_timeout" || k == "reset_query" ||
      k == "on_event")
    return true;
  const auto keys = pool_option_keys();
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

/// libpq's connection keywords (PQconndefaults), read once.
const std::set<std::string, std::less<>>& libpq_keywords() {
  static const std::set<std::string, std::less<>> keys = [] {
    std::set<std::string, std::less<>> out{"ssl"};  // libpq's URI alias: ssl=true is sslmode=require
    if (PQconninfoOption* d = PQconndefaults()) {
      for (const PQconninfoOption* o = d; o->keyword != nullptr; ++o) out.emplace(o->keyword);
      PQconninfoFree(d);
    }
    return out;
  }();
  return keys;
}

std::string berth_keys_text() {
  std::string k = "connect_timeout, statement_timeout, reset_timeout, reset_query";
  for (const std::string_view p : pool_option_keys()) k.append(", ").append(p);
  return k;
}

/// connect_timeout: a duration, or libpq's bare whole seconds.
milliseconds connect_timeout_of(const berth::url& u, const url_param& p) {
  const std::string& v = p.value;
  if (!v.empty() && v.size() <= 9 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const long s = std::stol(v);
    if (s == 0)
      throw u.error("parameter connect_timeout: 0 (libpq: wait forever) is not allowed: berth bounds every connect; "
                    "give a duration such as 10s",
                    &p);
    return std::chrono::seconds{s};
  }
  return parse_duration<milliseconds>(u, p);
}

std::string why_of(const berth::options_error& e) {
  std::string w = e.what();
  const std::string marker = "." + e.field() + ": ";
  const std::size_t at = w.find(marker);
  return at == std::string::npos ? w : w.substr(at + marker.size());
}

}  // namespace

url_config config_from_url(const berth::url& u, pool_options base) {
  if (u.scheme() != "postgresql" && u.scheme() != "postgres")
    throw u.error("scheme \"" + u.scheme() + "\" is not postgresql or postgres (berth::postgres takes libpq's URIs)");
  if (!u.has_authority())
    throw u.error("a PostgreSQL URL starts with " + u.scheme() + ":// (libpq's URI form; postgresql:///db for the "
                  "default host)");
  // libpq takes a URI's user information up to the first "@" before any
  // "/", even past a "?" (conninfo_uri_parse_options in fe-connect.c):
  // postgresql://h?application_name=a:b@c connects to host c as user
  // "h?application_name=a" with password "b", where berth (RFC 3986) reads
  // host h and a parameter. Refuse it rather than validate, report and
  // redact another URL than libpq uses. The echo hides berth's passwords
  // (redacted()) and what libpq would take for one (redact_url's rule: from
  // the first ":" after "//" to the last "@").
  if (!u.user() && u.path().empty()) {
    for (const url_param& p : u.params()) {
      if (p.raw.find('@') == std::string::npos) continue;
      throw url_error(redact_url(u.redacted()),
                      "parameter " + p.key + ": a raw \"@\" after a \"?\" with no \"/\" before it, which libpq reads "
                      "as the end of a user name and password (postgresql://h?a=b@c connects to host c): write "
                      "\"@\" as %40, or put a \"/\" before the \"?\" (postgresql://h/?a=b@c)",
                      p.offset, p.key);
    }
  }
  url_config cfg;
  cfg.pool = std::move(base);
  for (const url_param& p : u.params()) {
    const std::string& k = p.key;
    if (k == "connect_timeout" || k == "statement_timeout" || k == "reset_timeout" || k == "reset_query")
      require_once(u, p);
    if (k == "connect_timeout") {
      cfg.adapter.connect_timeout = connect_timeout_of(u, p);
    } else if (k == "statement_timeout") {
      cfg.adapter.statement_timeout = parse_duration<milliseconds>(u, p);
    } else if (k == "reset_timeout") {
      cfg.adapter.reset_timeout = parse_duration<milliseconds>(u, p);
    } else if (k == "reset_query") {
      cfg.adapter.reset_query = p.value;
    } else if (!apply_pool_option(cfg.pool, u, p) && !libpq_keywords().contains(k)) {
      throw u.error("unknown parameter " + k + ": neither berth's (" + berth_keys_text() +
                        ") nor a libpq connection parameter",
                    &p);
    }
  }
  cfg.adapter.conninfo = u.text_without([](const url_param& p) { return is_berth_key(p.key); });
  // The scheme as libpq knows it: it takes only lowercase "postgresql://"
  // and "postgres://" for a URI, and reads "POSTGRESQL://u:pw@h/db" as a
  // key=value string it rejects, echoing the text (the password with it)
  // in its message. berth's schemes are case-insensitive (url.hpp).
  cfg.adapter.conninfo.replace(0, u.scheme().size(), u.scheme());
  if (auto e = validate(cfg.adapter)) {
    if (e->field() == "conninfo") throw u.error("libpq rejects it: " + redact_password(why_of(*e)));
    if (const url_param* p = u.param(e->field())) throw u.error("parameter " + p->key + ": " + why_of(*e), p);
    throw *e;
  }
  validate_from_url(cfg.pool, u);
  return cfg;
}

url_config config_from_url(std::string_view text, pool_options base) {
  return config_from_url(berth::url::parse(text), std::move(base));
}

void emplace_from_url(registry& reg, std::string name, const berth::url& u, pool_options base) {
  url_config cfg = config_from_url(u, std::move(base));
  if (u.param("name") == nullptr) cfg.pool.name = name;
  reg.emplace<berth::pool<adapter>>(std::move(name), adapter(std::move(cfg.adapter)), cfg.pool);
}

}  // namespace berth::postgres
