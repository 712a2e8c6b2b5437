// reaper_policy.hpp: the reaper's decisions as pure functions of a slot's
// timestamps, the time and the options (Boost.MySQL's
// num_connections_to_create idea). No atomics, no clock reads: unit-tested
// exhaustively with plain values.
#pragma once

#include <berth/clock.hpp>
#include <berth/options.hpp>

#include <chrono>
#include <cstdint>

namespace berth::detail {

using time_point = clock_source::time_point;

/// What the reaper knows of one connection it has reserved.
struct slot_times {
  time_point created{};         ///< when the connection was opened
  time_point deadline{};        ///< created + max_lifetime - jitter; max() when lifetime is off
  time_point last_used{};       ///< last release (coarse clock)
  time_point last_validated{};  ///< last successful validation (or creation)
};

/// The reaper's verdict on a reserved idle connection.
enum class idle_action : std::uint8_t {
  keep,          ///< unreserve it unchanged
  validate,      ///< validate through the adapter; close on failure
  close_expired, ///< past its max-lifetime deadline
  close_idle,    ///< idle past idle_timeout while above min_idle
};

/// Per-connection retirement deadline, computed once at creation (pgx #1437
/// was the bug of recomputing it): created + max_lifetime - unit *
/// lifetime_jitter, unit in [0, 1). time_point::max() when max_lifetime is 0.
constexpr time_point lifetime_deadline(time_point created, const pool_options& o, double unit) noexcept {
  if (o.max_lifetime.count() == 0) return time_point::max();
  const auto jitter = std::chrono::duration_cast<clock_source::duration>(
      std::chrono::duration<double, std::milli>(static_cast<double>(o.lifetime_jitter.count()) * unit));
  return created + std::chrono::duration_cast<clock_source::duration>(o.max_lifetime) - jitter;
}

/// The reaper's decision for one idle connection. may_shrink: closing it
/// keeps the pool at or above min_idle. Order: lifetime first (an expired
/// connection is closed even at min_idle; the refill replaces it), then idle
/// timeout, then background validation and keepalive.
constexpr idle_action decide_idle(const slot_times& t, time_point now, const pool_options& o,
                                  bool may_shrink) noexcept {
  if (now >= t.deadline) return idle_action::close_expired;
  if (may_shrink && o.idle_timeout.count() > 0 && now - t.last_used >= o.idle_timeout)
    return idle_action::close_idle;
  if (o.validation_interval.count() > 0 && now - t.last_validated >= o.validation_interval)
    return idle_action::validate;
  const time_point touched = t.last_used > t.last_validated ? t.last_used : t.last_validated;
  if (o.keepalive_interval.count() > 0 && now - touched >= o.keepalive_interval)
    return idle_action::validate;
  return idle_action::keep;
}

}  // namespace berth::detail
