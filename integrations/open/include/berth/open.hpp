// open.hpp: berth::open_pool, a pool from a URL whose scheme picks the
// adapter (the berth::open library, built with whichever adapters this build
// of berth has).
//
//   berth::registry reg;
//   berth::open_pool(reg, "orders", "postgresql://app@db1,db2/orders?max_size=16&target_session_attrs=read-write");
//   berth::open_pool(reg, "cache", "sqlite::memory:?max_size=4");
//   berth::open_pool(reg, "local", "sqlite:/var/lib/app/app.db?readers=4");
//   auto orders = reg.get<berth::pool<berth::postgres::adapter>>("orders");
//   auto local = reg.get<berth::sqlite::database>("local");
//
//   scheme                  adds to the registry                              grammar
//   sqlite                  berth::pool<berth::sqlite::adapter>, or           berth/sqlite/url.hpp
//                           berth::sqlite::database with readers=N
//   postgresql, postgres    berth::pool<berth::postgres::adapter>             berth/postgres/url.hpp
//
// Pool parameters common to both: berth/url_options.hpp.
#pragma once

#include <berth/options.hpp>
#include <berth/registry.hpp>
#include <berth/url.hpp>

#include <span>
#include <string>
#include <string_view>

namespace berth {

/// Parses `url` and adds the pool (or database) it describes to reg under
/// `name`, with `base` under the URL's pool parameters; the pool is named
/// `name` unless the URL sets name=. Throws url_error for a malformed URL, a
/// scheme that is unknown or whose adapter this build lacks (both say which
/// schemes it has), and for the adapter's own URL errors; registry_error as
/// registry::emplace; what the pool's constructor throws (options_error for
/// an invalid base, std::system_error errc::startup_failed). Nothing is
/// added on failure. No error shows a password. Thread-safe as
/// registry::emplace. Blocks (opens min_idle connections with fail_fast).
void open_pool(registry& reg, std::string name, std::string_view url, const pool_options& base = {});

/// The schemes open_pool() accepts in this build ("sqlite", "postgresql",
/// "postgres"). Thread-safe. Never allocates.
std::span<const std::string_view> open_schemes() noexcept;

}  // namespace berth
