// router.hpp: berth::replica_router (core) over PostgreSQL pools: the type
// and a lag probe that measures a standby's replay lag.
#pragma once

#include <berth/postgres/adapter.hpp>
#include <berth/postgres/connection.hpp>
#include <berth/replica_router.hpp>

#include <chrono>
#include <optional>

namespace berth::postgres {

/// A primary pool and its standby pools (replica_router.hpp).
using router = replica_router<adapter>;

/// The lag probe for router (router_options::max_replica_lag):
/// connection::replay_lag within timeout; a failure throws the classified
/// postgres_error (a connection_lost one counts against the replica).
/// Thread-safe (a value; the router calls it on one connection at a time).
inline router::lag_probe replay_lag_probe(std::chrono::milliseconds timeout = std::chrono::seconds(1)) {
  return [timeout](connection& c) -> std::optional<std::chrono::nanoseconds> {
    auto lag = c.replay_lag(timeout);
    if (!lag) throw_exception(lag.error());
    if (!*lag) return std::nullopt;
    return std::chrono::nanoseconds(**lag);
  };
}

}  // namespace berth::postgres
