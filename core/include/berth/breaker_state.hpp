// breaker_state.hpp: the states of the circuit breaker on connection
// creation (pool_options::breaker_threshold; detail/circuit_breaker.hpp).
#pragma once

#include <cstdint>

namespace berth {

/// Where the breaker on connection creation stands. Reported by
/// pool_stats::breaker and by the breaker_* events.
enum class breaker_state : std::uint8_t {
  /// Creation works (or is failing, but less than breaker_threshold times
  /// within breaker_window): acquirers wait for new connections as usual.
  closed,
  /// Creation kept failing: no connection attempt is made until the
  /// recovery interval has passed, and an acquire that finds no idle
  /// connection fails at once with errc::database_unavailable (unless every
  /// slot is open: then it waits for a release).
  open,
  /// The recovery interval passed: exactly one probe attempt is in flight.
  /// Acquirers are still refused as when open. Success closes the breaker;
  /// failure opens it again for a longer interval.
  half_open,
};

/// "closed", "open", "half_open", for logs. Thread-safe.
const char* to_string(breaker_state s) noexcept;

}  // namespace berth
