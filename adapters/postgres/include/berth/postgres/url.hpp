// url.hpp: a PostgreSQL pool from a postgresql:// (or postgres://) URL.
//
//   postgresql://app:secret@db1:5432,db2:5432/orders?sslmode=require&target_session_attrs=read-write
//       &max_size=16&acquire_timeout=250ms&connect_timeout=3s&statement_timeout=30s
//
// The URL is libpq's connection URI (its hosts, user, password, database
// and parameters, https://www.postgresql.org/docs/current/libpq-connect.html)
// plus berth's parameters, which are taken out before the rest goes to
// libpq as it was written:
//   every pool_options field (berth/url_options.hpp)
//   connect_timeout=5s     postgres::options::connect_timeout: bounds each
//                          connect (libpq's own is not applied to the
//                          non-blocking connect berth drives). A bare number
//                          is seconds, as libpq reads it; "0" (libpq: wait
//                          forever) is an error
//   statement_timeout=30s  postgres::options::statement_timeout (SET per session)
//   reset_query=DISCARD%20ALL   postgres::options::reset_query
// Any other parameter must be one libpq knows (PQconndefaults(), and its URI
// alias ssl=true); an unknown one is an error naming it. The password never
// appears in an error.
#pragma once

#include <berth/options.hpp>
#include <berth/postgres/options.hpp>
#include <berth/registry.hpp>
#include <berth/url.hpp>

#include <string>
#include <string_view>

namespace berth::postgres {

/// What a postgresql:// URL describes. Thread-safety: a value type.
struct url_config {
  /// conninfo: the URI without berth's parameters; connect_timeout,
  /// statement_timeout, reset_query from the URL. Validated (libpq parses
  /// the conninfo). Holds the password: never log it.
  options adapter;
  /// The base given to config_from_url with the URL's pool parameters. Validated.
  pool_options pool;
};

/// Parses a postgresql:// or postgres:// URL (see the file comment) over
/// `base`. Throws url_error naming the problem (another scheme, no "//", an
/// unknown parameter, a bad value, a conninfo libpq rejects) or options_error
/// when base itself is invalid. Allocates.
url_config config_from_url(const berth::url& u, pool_options base = {});
/// config_from_url(berth::url::parse(text), base). Allocates.
url_config config_from_url(std::string_view text, pool_options base = {});

/// Adds a berth::pool<postgres::adapter> for the URL to reg under `name`
/// (reg.get<berth::pool<postgres::adapter>>(name)); the pool is named
/// `name` unless the URL sets name=. Throws as config_from_url,
/// registry_error as registry::emplace, std::system_error
/// (errc::startup_failed) when a fail_fast pool cannot connect (nothing is
/// added). Thread-safe as registry::emplace. Blocks (connects).
void emplace_from_url(registry& reg, std::string name, const berth::url& u, pool_options base = {});

}  // namespace berth::postgres
