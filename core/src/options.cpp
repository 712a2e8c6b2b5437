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
  return std::nullopt;
}

}  // namespace berth
