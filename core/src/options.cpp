#include <berth/event_log.hpp>
#include <berth/options.hpp>
#include <berth/router_options.hpp>
#include <berth/detail/json_writer.hpp>

#include <ratio>
#include <type_traits>

namespace berth {

namespace {

/// "ms" or "us", the unit suffix of a duration field in messages.
template <class Period>
constexpr const char* unit_suffix() noexcept {
  if constexpr (std::is_same_v<Period, std::micro>)
    return "us";
  else
    return "ms";
}

/// The upper-bound check shared by every duration field but acquire_timeout:
/// an error naming the field when d > max_option_duration. Compared in d's
/// own unit, into which 10 years converts without overflow.
template <class Rep, class Period>
std::optional<options_error> above_max(const char* field, std::chrono::duration<Rep, Period> d,
                                       const char* options_struct = "pool_options") {
  using D = std::chrono::duration<Rep, Period>;
  static_assert(std::is_same_v<Period, std::milli> || std::is_same_v<Period, std::micro>);
  if (d <= std::chrono::duration_cast<D>(max_option_duration)) return std::nullopt;
  return options_error(field, "must be <= " + std::to_string(max_option_duration.count()) + " h, got " +
                                  std::to_string(d.count()) + " " + unit_suffix<Period>(),
                       options_struct);
}

/// The adaptive min_idle fields (issue 11); the others are valid.
std::optional<options_error> validate_adaptive(const pool_options& o) {
  using std::to_string;
  if (!o.adaptive_min_idle) return std::nullopt;
  const std::size_t capacity = slot_capacity(o);
  const std::size_t ceiling = effective_min_idle_ceiling(o);
  if (ceiling > capacity)
    return options_error("min_idle_ceiling", "must be <= max_size_limit (or max_size when that is 0: " +
                                                 to_string(capacity) + "), got " + to_string(o.min_idle_ceiling));
  if (o.min_idle_floor > ceiling)
    return options_error("min_idle_floor", "must be <= min_idle_ceiling (" + to_string(ceiling) + "), got " +
                                               to_string(o.min_idle_floor));
  if (o.min_idle < o.min_idle_floor || o.min_idle > ceiling)
    return options_error("min_idle", "must be in min_idle_floor..min_idle_ceiling (" + to_string(o.min_idle_floor) +
                                         ".." + to_string(ceiling) + ") with adaptive_min_idle, got " +
                                         to_string(o.min_idle));
  if (o.adaptive_window < o.reaper_period)
    return options_error("adaptive_window", "must be >= reaper_period (" + to_string(o.reaper_period.count()) +
                                                " ms), got " + to_string(o.adaptive_window.count()) + " ms");
  if (auto e = above_max("adaptive_window", o.adaptive_window)) return e;
  return std::nullopt;
}

}  // namespace

std::optional<options_error> validate(const pool_options& o) {
  using std::to_string;
  if (o.name.empty()) return options_error("name", "must not be empty");
  // Exported as a JSON key and a Prometheus label, which hold UTF-8 only:
  // two names differing in an invalid byte would become one
  // (OptionsTest.APoolNameThatIsNotUtf8IsRefusedBug).
  if (const std::size_t at = detail::first_invalid_utf8(o.name); at != std::string_view::npos)
    return options_error("name", "must be UTF-8 (it is exported as a JSON key and a Prometheus label); byte " +
                                     to_string(at) + " is not");
  if (o.max_size < 1 || o.max_size > max_pool_size)
    return options_error("max_size", "must be in 1.." + to_string(max_pool_size) + ", got " +
                                         to_string(o.max_size));
  if (o.min_idle > o.max_size)
    return options_error("min_idle", "must be <= max_size (" + to_string(o.max_size) + "), got " +
                                         to_string(o.min_idle));
  if (o.max_size_limit != 0 && (o.max_size_limit < o.max_size || o.max_size_limit > max_pool_size))
    return options_error("max_size_limit", "must be 0 (= max_size) or in max_size.." + to_string(max_pool_size) +
                                               " (" + to_string(o.max_size) + ".." + to_string(max_pool_size) +
                                               "), got " + to_string(o.max_size_limit));
  if (o.acquire_timeout.count() <= 0)
    return options_error("acquire_timeout", "must be > 0 ms, got " + to_string(o.acquire_timeout.count()));
  if (o.creation_backoff_initial.count() <= 0)
    return options_error("creation_backoff_initial",
                         "must be > 0 ms, got " + to_string(o.creation_backoff_initial.count()));
  // Before the comparison with creation_backoff_max, so a huge initial value
  // is blamed on its own field.
  if (auto e = above_max("creation_backoff_initial", o.creation_backoff_initial)) return e;
  if (o.creation_backoff_max < o.creation_backoff_initial)
    return options_error("creation_backoff_max", "must be >= creation_backoff_initial (" +
                                                     to_string(o.creation_backoff_initial.count()) +
                                                     " ms), got " +
                                                     to_string(o.creation_backoff_max.count()) + " ms");
  if (auto e = above_max("creation_backoff_max", o.creation_backoff_max)) return e;
  if (o.breaker_threshold > max_breaker_threshold)
    return options_error("breaker_threshold", "must be in 0.." + to_string(max_breaker_threshold) +
                                                  " (0 disables), got " + to_string(o.breaker_threshold));
  if (o.breaker_window.count() <= 0)
    return options_error("breaker_window", "must be > 0 ms, got " + to_string(o.breaker_window.count()));
  if (auto e = above_max("breaker_window", o.breaker_window)) return e;
  if (o.breaker_recovery.count() <= 0)
    return options_error("breaker_recovery", "must be > 0 ms, got " + to_string(o.breaker_recovery.count()));
  // Before the comparison with breaker_recovery_max, as for the backoff.
  if (auto e = above_max("breaker_recovery", o.breaker_recovery)) return e;
  if (o.breaker_recovery_max < o.breaker_recovery)
    return options_error("breaker_recovery_max", "must be >= breaker_recovery (" +
                                                     to_string(o.breaker_recovery.count()) + " ms), got " +
                                                     to_string(o.breaker_recovery_max.count()) + " ms");
  if (auto e = above_max("breaker_recovery_max", o.breaker_recovery_max)) return e;
  if (o.handoff_after.count() < 0)
    return options_error("handoff_after", "must be >= 0 us (0: always strict), got " +
                                              to_string(o.handoff_after.count()));
  if (auto e = above_max("handoff_after", o.handoff_after)) return e;
  if (o.startup != startup_mode::fail_fast && o.startup != startup_mode::degraded)
    return options_error("startup", "not a startup_mode value");
  if (o.on_unwind != unwind_policy::reset && o.on_unwind != unwind_policy::discard)
    return options_error("on_unwind", "not an unwind_policy value");
  auto non_negative = [](std::chrono::milliseconds d) { return d.count() >= 0; };
  if (o.reaper_period.count() <= 0)
    return options_error("reaper_period", "must be > 0 ms, got " + to_string(o.reaper_period.count()));
  if (auto e = above_max("reaper_period", o.reaper_period)) return e;
  if (!non_negative(o.validation_interval))
    return options_error("validation_interval", "must be >= 0 ms (0 disables), got " +
                                                    to_string(o.validation_interval.count()));
  if (auto e = above_max("validation_interval", o.validation_interval)) return e;
  if (o.validation_timeout.count() <= 0)
    return options_error("validation_timeout", "must be > 0 ms, got " + to_string(o.validation_timeout.count()));
  if (auto e = above_max("validation_timeout", o.validation_timeout)) return e;
  if (!non_negative(o.validation_bypass))
    return options_error("validation_bypass", "must be >= 0 ms, got " + to_string(o.validation_bypass.count()));
  if (auto e = above_max("validation_bypass", o.validation_bypass)) return e;
  if (!non_negative(o.idle_timeout))
    return options_error("idle_timeout", "must be >= 0 ms (0 disables), got " + to_string(o.idle_timeout.count()));
  if (auto e = above_max("idle_timeout", o.idle_timeout)) return e;
  if (!non_negative(o.max_lifetime))
    return options_error("max_lifetime", "must be >= 0 ms (0 disables), got " + to_string(o.max_lifetime.count()));
  if (auto e = above_max("max_lifetime", o.max_lifetime)) return e;
  if (!non_negative(o.lifetime_jitter))
    return options_error("lifetime_jitter", "must be >= 0 ms, got " + to_string(o.lifetime_jitter.count()));
  if (auto e = above_max("lifetime_jitter", o.lifetime_jitter)) return e;
  if (o.max_lifetime.count() > 0 && o.lifetime_jitter >= o.max_lifetime)
    return options_error("lifetime_jitter", "must be < max_lifetime (" + to_string(o.max_lifetime.count()) +
                                                " ms), got " + to_string(o.lifetime_jitter.count()) + " ms");
  if (!non_negative(o.keepalive_interval))
    return options_error("keepalive_interval", "must be >= 0 ms (0 disables), got " +
                                                   to_string(o.keepalive_interval.count()));
  if (auto e = above_max("keepalive_interval", o.keepalive_interval)) return e;
  if (!non_negative(o.leak_threshold))
    return options_error("leak_threshold", "must be >= 0 ms (0 disables), got " +
                                               to_string(o.leak_threshold.count()));
  if (auto e = above_max("leak_threshold", o.leak_threshold)) return e;
  if (o.hold_time_sampling > (1u << 30) || (o.hold_time_sampling & (o.hold_time_sampling - 1)) != 0)
    return options_error("hold_time_sampling", "must be 0 (off) or a power of two <= 2^30 (1073741824), got " +
                                                   to_string(o.hold_time_sampling));
  if (auto e = validate_adaptive(o)) return e;
  return std::nullopt;
}

std::optional<options_error> validate(const pool_sizing& s, const pool_options& o) {
  using std::to_string;
  const std::size_t capacity = slot_capacity(o);
  if (s.max_size < 1 || s.max_size > capacity)
    return options_error("max_size",
                         "must be in 1.." + to_string(capacity) +
                             (o.max_size_limit != 0 ? " (pool_options::max_size_limit)"
                                                    : " (the pool's max_size: set pool_options::max_size_limit "
                                                      "to let it grow)") +
                             ", got " + to_string(s.max_size),
                         "pool_sizing");
  if (s.min_idle > s.max_size)
    return options_error("min_idle", "must be <= max_size (" + to_string(s.max_size) + "), got " +
                                         to_string(s.min_idle),
                         "pool_sizing");
  if (o.adaptive_min_idle) {
    const std::size_t ceiling = effective_min_idle_ceiling(o);
    if (s.min_idle < o.min_idle_floor || s.min_idle > ceiling)
      return options_error("min_idle",
                           "must be in min_idle_floor..min_idle_ceiling (" + to_string(o.min_idle_floor) + ".." +
                               to_string(ceiling) + ") with adaptive_min_idle, got " + to_string(s.min_idle),
                           "pool_sizing");
  }
  return std::nullopt;
}

// ---- router_options (replica_router.hpp) -------------------------------------

std::optional<options_error> validate(const router_options& o) {
  using std::to_string;
  constexpr const char* s = "router_options";
  const auto err = [&](const char* field, const std::string& why) { return options_error(field, why, s); };
  const auto too_big = [&](const char* field, std::chrono::milliseconds d) { return above_max(field, d, s); };
  if (o.name.empty()) return err("name", "must not be empty");
  if (const std::size_t at = detail::first_invalid_utf8(o.name); at != std::string_view::npos)
    return err("name", "must be UTF-8 (it is exported as a JSON key and a Prometheus label); byte " +
                           to_string(at) + " is not");
  switch (o.strategy) {
    case read_strategy::round_robin:
    case read_strategy::random:
    case read_strategy::least_loaded:
    case read_strategy::power_of_two_choices:
      break;
    default:
      return err("strategy", "unknown value " + to_string(static_cast<int>(o.strategy)));
  }
  if (o.replica_acquire_timeout.count() < 0)
    return err("replica_acquire_timeout", "must be >= 0 ms (0: the read's deadline), got " +
                                              to_string(o.replica_acquire_timeout.count()));
  if (auto e = too_big("replica_acquire_timeout", o.replica_acquire_timeout)) return e;
  if (o.eject_threshold < 1 || o.eject_threshold > 1'000'000)
    return err("eject_threshold", "must be in 1..1000000, got " + to_string(o.eject_threshold));
  if (o.eject_window.count() <= 0) return err("eject_window", "must be > 0 ms, got " + to_string(o.eject_window.count()));
  if (auto e = too_big("eject_window", o.eject_window)) return e;
  if (o.readmit_after.count() <= 0)
    return err("readmit_after", "must be > 0 ms, got " + to_string(o.readmit_after.count()));
  if (auto e = too_big("readmit_after", o.readmit_after)) return e;
  if (o.readmit_after_max < o.readmit_after)
    return err("readmit_after_max", "must be >= readmit_after (" + to_string(o.readmit_after.count()) +
                                        " ms), got " + to_string(o.readmit_after_max.count()) + " ms");
  if (auto e = too_big("readmit_after_max", o.readmit_after_max)) return e;
  if (o.max_replica_lag.count() < 0)
    return err("max_replica_lag", "must be >= 0 ms (0: no lag check), got " + to_string(o.max_replica_lag.count()));
  if (auto e = too_big("max_replica_lag", o.max_replica_lag)) return e;
  if (o.lag_check_interval.count() < 0)
    return err("lag_check_interval", "must be >= 0 ms (0: only check_now()), got " +
                                         to_string(o.lag_check_interval.count()));
  if (auto e = too_big("lag_check_interval", o.lag_check_interval)) return e;
  if (o.check_timeout.count() <= 0)
    return err("check_timeout", "must be > 0 ms, got " + to_string(o.check_timeout.count()));
  if (auto e = too_big("check_timeout", o.check_timeout)) return e;
  return std::nullopt;
}

// ---- event_log_options (event_log.hpp) ---------------------------------------

std::optional<options_error> validate(const event_log_options& o) {
  using std::to_string;
  constexpr const char* s = "event_log_options";
  const auto err = [&](const char* field, const std::string& why) { return options_error(field, why, s); };
  if (o.burst < 1 || o.burst > 1'000'000) return err("burst", "must be in 1..1000000, got " + to_string(o.burst));
  if (o.lines_per_second < 1 || o.lines_per_second > 1'000'000)
    return err("lines_per_second", "must be in 1..1000000, got " + to_string(o.lines_per_second));
  if (o.summary_interval.count() <= 0)
    return err("summary_interval", "must be > 0 ms, got " + to_string(o.summary_interval.count()));
  if (auto e = above_max("summary_interval", o.summary_interval, s)) return e;
  switch (o.min_level) {
    case event_level::info:
    case event_level::warn:
      break;
    default:
      return err("min_level", "unknown value " + to_string(static_cast<int>(o.min_level)));
  }
  return std::nullopt;
}

}  // namespace berth
