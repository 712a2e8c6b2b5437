// postgres_url_fuzzer.cpp: berth::postgres::config_from_url (berth/postgres/url.hpp)
// on arbitrary text, checked against libpq's own reading of the URI.
//
// Invariants, beyond "no crash, no sanitizer report" (inputs that are no URL
// are url_parse_fuzzer's):
//   success  both overloads (text, parsed url) agree; the adapter's and the
//            pool's options validate; the conninfo is the URL without berth's
//            parameters (text_without), the others kept in order, and its
//            scheme lowercased (libpq knows no other);
//            libpq (PQconninfoParse) reads from it the user, password,
//            database and hosts berth read: above all, a password libpq sees
//            is one berth knows as a password (so redacted() hides it);
//   failure  a url_error naming no parameter or one of the URL's at its
//            offset, whole, free of control characters; an options_error
//            only for a field no parameter sets;
//   markers  a password holding "QZJX" never shows it, libpq's messages
//            (redact_password) included (fuzz_support.hpp).
#include "config_fuzz.hpp"
#include "fuzz_support.hpp"

#include <berth/postgres/adapter.hpp>
#include <berth/postgres/url.hpp>
#include <berth/url.hpp>
#include <berth/url_options.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace {

using berth::url;
using berth::url_param;
namespace postgres = berth::postgres;

bool is_berth_key(std::string_view k) {
  if (k == "connect_timeout" || k == "statement_timeout" || k == "reset_query" || k == "on_event") return true;
  const auto keys = berth::pool_option_keys();
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

/// libpq's keyword -> value for a conninfo (values libpq set), or nothing.
std::map<std::string, std::string> libpq_reading(const std::string& conninfo) {
  std::map<std::string, std::string> out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  BERTH_FUZZ_CHECK(opts != nullptr, "libpq cannot parse a conninfo that validated");
  for (const PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
    if (o->val != nullptr) out.emplace(o->keyword, o->val);
  PQconninfoFree(opts);
  return out;
}

/// The URI's own value for keyword k as berth read it, compared with libpq's
/// (only when no query parameter sets k: libpq lets one override the URI).
void agree(const url& u, const std::map<std::string, std::string>& pq, const std::string& k,
           const std::optional<std::string>& berth_value, bool per_host = false) {
  if (u.param(k) != nullptr) return;
  const auto it = pq.find(k);
  // Empty, or for host and port one empty entry per host (","): none.
  const bool none = it == pq.end() || it->second.empty() ||
                    (per_host && it->second.find_first_not_of(',') == std::string::npos);
  std::optional<std::string> libpq_value = none ? std::nullopt : std::optional<std::string>(it->second);
  if (libpq_value && k == "port") {  // as written ("0096"); berth keeps the number
    std::string numbers;
    std::size_t b = 0;
    while (true) {
      const std::size_t e = std::min(libpq_value->find(',', b), libpq_value->size());
      std::string entry = libpq_value->substr(b, e - b);
      entry.erase(0, std::min(entry.find_first_not_of('0'), entry.size()));
      numbers += (b ? "," : "") + entry;
      if (e == libpq_value->size()) break;
      b = e + 1;
    }
    libpq_value = numbers;
  }
  BERTH_FUZZ_CHECK(libpq_value == berth_value,
                   "berth and libpq read " + k + " differently: berth " + berth_value.value_or("(none)") +
                       ", libpq " + libpq_value.value_or("(none)"));
}

void check_success(const url& u, const postgres::url_config& cfg) {
  BERTH_FUZZ_CHECK(!postgres::validate(cfg.adapter).has_value(), "the adapter's options do not validate");
  BERTH_FUZZ_CHECK(!berth::validate(cfg.pool).has_value(), "the pool options do not validate");
  const std::string& conninfo = cfg.adapter.conninfo;
  std::string expected = u.text_without([](const url_param& p) { return is_berth_key(p.key); });
  expected.replace(0, u.scheme().size(), u.scheme());  // lowercase, as libpq needs it
  BERTH_FUZZ_CHECK(conninfo == expected, "the conninfo is not the URL without berth's parameters: " + conninfo);
  const url c = url::parse(conninfo);
  std::size_t kept = 0;
  for (const url_param& p : u.params()) {
    if (is_berth_key(p.key)) continue;
    BERTH_FUZZ_CHECK(kept < c.params().size() && c.params()[kept].raw == p.raw, "a libpq parameter is lost");
    ++kept;
  }
  BERTH_FUZZ_CHECK(kept == c.params().size(), "a berth parameter reaches libpq");

  const auto pq = libpq_reading(conninfo);
  // Passwords: whatever libpq takes for one, berth must know as one.
  if (const auto it = pq.find("password"); it != pq.end() && !it->second.empty()) {
    bool known = u.password() == it->second;
    for (const url_param& p : u.params())
      if (berth_fuzz::key_is_secret(p.key) && p.value == it->second) known = true;
    BERTH_FUZZ_CHECK(known, "libpq reads a password berth does not hide");
  }
  agree(u, pq, "user", u.user() && !u.user()->empty() ? u.user() : std::nullopt);
  agree(u, pq, "password", u.password() && !u.password()->empty() ? u.password() : std::nullopt);
  const std::string db = u.path().empty() ? std::string() : u.path().substr(1);
  agree(u, pq, "dbname", db.empty() ? std::nullopt : std::optional<std::string>(db));
  std::string hosts, ports;
  bool any_host = false, any_port = false;
  for (std::size_t i = 0; i < u.hosts().size(); ++i) {
    const berth::url_host& h = u.hosts()[i];
    hosts += (i ? "," : "") + h.name;
    ports += (i ? "," : "") + (h.port ? std::to_string(*h.port) : std::string());
    any_host = any_host || !h.name.empty();
    any_port = any_port || h.port.has_value();
  }
  agree(u, pq, "host", any_host ? std::optional<std::string>(hosts) : std::nullopt, true);
  agree(u, pq, "port", any_port ? std::optional<std::string>(ports) : std::nullopt, true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return berth_fuzz::run_config_target(
      std::string_view(reinterpret_cast<const char*>(data), size),
      [](const url& u) { return postgres::config_from_url(u); },
      [](std::string_view text) { return postgres::config_from_url(text); }, check_success, "postgres::config_from_url");
}
