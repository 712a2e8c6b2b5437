#include <berth/options.hpp>

namespace berth {

std::optional<options_error> validate(const pool_options& o) {
  using std::to_string;
  if (o.name.empty()) return options_error("name", "must not be empty");
  if (o.max_size < 1 || o.max_size > max_pool_size)
    return options_error("max_size", "must be in 1.." + to_string(max_pool_size) + ", got " +
                                         to_string(o.max_size));
  if (o.min_idle > o.max_size)
    return options_error("min_idle", "must be <= max_size (" + to_string(o.max_size) + "), got " +
                                         to_string(o.min_idle));
  if (o.acquire_timeout.count() <= 0)
    return options_error("acquire_timeout", "must be > 0 ms, got " + to_string(o.acquire_timeout.count()));
  if (o.creation_backoff_initial.count() <= 0)
    return options_error("creation_backoff_initial",
                         "must be > 0 ms, got " + to_string(o.creation_backoff_initial.count()));
  if (o.creation_backoff_max < o.creation_backoff_initial)
    return options_error("creation_backoff_max", "must be >= creation_backoff_initial (" +
                                                     to_string(o.creation_backoff_initial.count()) +
                                                     " ms), got " +
                                                     to_string(o.creation_backoff_max.count()) + " ms");
  if (o.handoff_after.count() < 0)
    return options_error("handoff_after", "must be >= 0 us (0: always strict), got " +
                                              to_string(o.handoff_after.count()));
  if (o.startup != startup_mode::fail_fast && o.startup != startup_mode::degraded)
    return options_error("startup", "not a startup_mode value");
  if (o.on_unwind != unwind_policy::reset && o.on_unwind != unwind_policy::discard)
    return options_error("on_unwind", "not an unwind_policy value");
  auto non_negative = [](std::chrono::milliseconds d) { return d.count() >= 0; };
  if (o.reaper_period.count() <= 0)
    return options_error("reaper_period", "must be > 0 ms, got " + to_string(o.reaper_period.count()));
  if (!non_negative(o.validation_interval))
    return options_error("validation_interval", "must be >= 0 ms (0 disables), got " +
                                                    to_string(o.validation_interval.count()));
  if (o.validation_timeout.count() <= 0)
    return options_error("validation_timeout", "must be > 0 ms, got " + to_string(o.validation_timeout.count()));
  if (!non_negative(o.validation_bypass))
    return options_error("validation_bypass", "must be >= 0 ms, got " + to_string(o.validation_bypass.count()));
  if (!non_negative(o.idle_timeout))
    return options_error("idle_timeout", "must be >= 0 ms (0 disables), got " + to_string(o.idle_timeout.count()));
  if (!non_negative(o.max_lifetime))
    return options_error("max_lifetime", "must be >= 0 ms (0 disables), got " + to_string(o.max_lifetime.count()));
  if (!non_negative(o.lifetime_jitter))
    return options_error("lifetime_jitter", "must be >= 0 ms, got " + to_string(o.lifetime_jitter.count()));
  if (o.max_lifetime.count() > 0 && o.lifetime_jitter >= o.max_lifetime)
    return options_error("lifetime_jitter", "must be < max_lifetime (" + to_string(o.max_lifetime.count()) +
                                                " ms), got " + to_string(o.lifetime_jitter.count()) + " ms");
  if (!non_negative(o.keepalive_interval))
    return options_error("keepalive_interval", "must be >= 0 ms (0 disables), got " +
                                                   to_string(o.keepalive_interval.count()));
  if (!non_negative(o.leak_threshold))
    return options_error("leak_threshold", "must be >= 0 ms (0 disables), got " +
                                               to_string(o.leak_threshold.count()));
  return std::nullopt;
}

}  // namespace berth
