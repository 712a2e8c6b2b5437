// berth_options.hpp: the pool_options of every berth pool in the peer
// harness (berth_peer.cpp, memory.cpp): the user's defaults except the size,
// with every connection opened before the constructor returns.
#pragma once

#include <berth/options.hpp>

#include <cstddef>
#include <string>
#include <utility>

namespace berth::bench::peers {

/// max_size = min_idle = connections, fail_fast start-up (the constructor
/// opens them all); the reaper, keepalive and validation_bypass stay at their
/// defaults, as a user leaves them. Thread-safe (returns a new value).
inline berth::pool_options prefilled_options(std::string name, std::size_t connections) {
  berth::pool_options o;
  o.name = std::move(name);
  o.max_size = connections;
  o.min_idle = connections;
  o.startup = berth::startup_mode::fail_fast;
  return o;
}

}  // namespace berth::bench::peers
