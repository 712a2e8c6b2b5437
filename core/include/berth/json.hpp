// json.hpp: pool statistics as JSON, for services that do not use
// Prometheus (a status endpoint, a periodic log line, a support dump).
//
//   berth::registry reg;  ...
//   serve("/pools", berth::to_json(reg));  // {"pools":{"orders":{...},"cache/writer":{...}}}
//   log(berth::to_json(orders->stats(), "orders"));
//
// One object per pool_stats, mirroring the struct: the same snake_case
// names, a nested object per sub-struct ("counts", "wait"), the breaker
// state as its to_string() ("closed", "open", "half_open"), durations as
// integer nanoseconds with an "_ns" suffix ("wait":{"p50_ns":1024,...}).
// Counters are exact unsigned integers (a JSON parser that reads numbers as
// doubles, as JavaScript does, rounds those above 2^53). Keys are written in
// the struct's order; every field is always present.
//
// Thread-safety: thread-safe. The stats overloads are pure functions of
// their argument and never block; to_json(const registry&) calls
// registry::stats(), which holds the registry's mutex while each pool takes
// its slow-path mutex briefly, so it blocks on those. All allocate.
#pragma once

#include <berth/registry.hpp>
#include <berth/stats.hpp>

#include <string>
#include <string_view>

namespace berth {

/// One pool's statistics as a JSON object (see the file comment); with a
/// non-empty name, a "name" member comes first. Thread-safe. Allocates.
std::string to_json(const pool_stats& s, std::string_view name = {});

/// {"pools":{"<name>":{...},...}}, by name as stats_by_name orders them
/// (no "name" member inside). Thread-safe. Allocates.
std::string to_json(const stats_by_name& s);

/// to_json(r.stats()): every pool of the registry. Thread-safe. Blocks
/// briefly: holds the registry's mutex while each pool takes its slow-path
/// mutex (registry::stats()). Allocates.
std::string to_json(const registry& r);

}  // namespace berth
