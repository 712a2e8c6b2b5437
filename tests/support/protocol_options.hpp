// protocol_options.hpp: pool options with every lifecycle policy off, for
// tests of acquire, release, creation and the hand-off protocol alone.
#pragma once

#include <berth/options.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace berth::testing {

/// max_size `max`, min_idle `min_idle`; no idle timeout, lifetime, keepalive,
/// background validation or validation at acquire, so the reaper never acts.
/// Everything else at its default (handoff_after 1 ms, fail-fast start-up).
inline pool_options protocol_options(std::string name, std::size_t max, std::size_t min_idle) {
  pool_options o;
  o.name = std::move(name);
  o.max_size = max;
  o.min_idle = min_idle;
  o.idle_timeout = o.max_lifetime = o.keepalive_interval = o.validation_interval = std::chrono::milliseconds{0};
  o.lifetime_jitter = std::chrono::milliseconds{0};
  o.validate_on_acquire = false;
  return o;
}

}  // namespace berth::testing
