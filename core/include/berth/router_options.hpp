// router_options.hpp: replica_router's options and statistics (the router
// itself is replica_router.hpp), apart so that validating them needs no pool.
#pragma once

#include <berth/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth {

/// How a read picks among the usable replicas.
enum class read_strategy : std::uint8_t {
  round_robin,           ///< each in turn (a shared relaxed counter)
  random,                ///< uniformly at random (a per-thread generator)
  least_loaded,          ///< fewest leased connections (scans each candidate's slots: O(max_size))
  power_of_two_choices,  ///< two at random, the one with fewer leased connections
};

/// "round_robin", ... Thread-safe.
const char* to_string(read_strategy s) noexcept;

/// Router configuration. A plain struct, validated by the router's
/// constructor (validate(); an options_error names the field as
/// "router_options.<field>").
/// Thread-safety: a value type.
struct router_options {
  /// Used in error messages and stats. Default "router". Non-empty.
  std::string name = "router";
  /// Default round_robin.
  read_strategy strategy = read_strategy::round_robin;
  /// When no replica is usable, reads go to the primary. false: they fail
  /// with errc::no_replica instead (for a primary that must never carry
  /// read load). Default true.
  bool fallback_to_primary = true;
  /// How long a read waits for one replica's connection before it moves on
  /// to the next candidate (and finally the primary); never longer than the
  /// read's own deadline. A wait that ends this way is load, not a failure
  /// of the replica, unless its pool could not open connections meanwhile.
  /// 0: the read's whole deadline. Default 1 s: a replica that stops
  /// answering before its pool's own breaker opens costs a read at most
  /// this. Range [0, max_option_duration].
  std::chrono::milliseconds replica_acquire_timeout{1'000};
  /// Failures within eject_window that eject a replica. Default 1: the first
  /// failure ejects it (a replica is optional capacity; the primary or the
  /// other replicas serve meanwhile). Range 1..1'000'000.
  std::uint32_t eject_threshold = 1;
  /// See eject_threshold. Default 10 s. Range (0, max_option_duration].
  std::chrono::milliseconds eject_window{10'000};
  /// How long an ejected replica stays out before the router's monitor
  /// thread probes it (a connection within check_timeout); doubled
  /// with jitter after each failed probe up to readmit_after_max. Default 1 s.
  /// Range (0, max_option_duration].
  std::chrono::milliseconds readmit_after{1'000};
  /// Default 30 s. Range [readmit_after, max_option_duration].
  std::chrono::milliseconds readmit_after_max{30'000};
  /// A replica whose lag probe reports more than this takes no reads until a
  /// later check finds it within the limit. 0: no lag check (the probe is
  /// not needed). Default 0. Range [0, max_option_duration]; when set, the
  /// router needs a lag probe.
  std::chrono::milliseconds max_replica_lag{0};
  /// How often the router's monitor thread measures lag (only with
  /// max_replica_lag). 0: never in the background (check_now() measures on
  /// demand). Default 1 s. Range [0, max_option_duration].
  std::chrono::milliseconds lag_check_interval{1'000};
  /// Bound on the monitor's acquire of a replica's connection, for a lag
  /// check or a readmission probe. Default 1 s. Range (0, max_option_duration].
  std::chrono::milliseconds check_timeout{1'000};
};

/// The first invalid field, or nullopt. Thread-safe.
std::optional<options_error> validate(const router_options& o);

/// Where a routed lease came from.
struct route {
  static constexpr std::size_t primary = static_cast<std::size_t>(-1);
  /// The replica's index in the router's list, or route::primary.
  std::size_t target = primary;
  bool is_primary() const noexcept { return target == primary; }
};

/// One replica's state, for stats.
enum class replica_health : std::uint8_t {
  admitted,  ///< takes reads
  ejected,   ///< failed: waits for its readmission probe
  probing,   ///< one read is probing it
};
const char* to_string(replica_health h) noexcept;

struct replica_stats {
  std::string name;                  ///< the replica pool's pool_options::name
  replica_health health = replica_health::admitted;
  bool lagging = false;              ///< the last lag check found it beyond max_replica_lag
  std::optional<std::chrono::nanoseconds> lag;  ///< the last lag measured, if any
  std::uint64_t reads = 0;           ///< reads it served (leases handed out for reads)
  std::uint64_t failures = 0;        ///< failures recorded against it
  std::uint64_t ejections = 0;       ///< times it was ejected (re-ejections after a failed probe included)
  std::size_t leased = 0;            ///< its pool's leased connections now
};

struct router_stats {
  std::string name;
  std::uint64_t writes = 0;            ///< leases handed out for writes
  std::uint64_t primary_reads = 0;     ///< reads the primary served (no replica usable, or fell through)
  std::uint64_t reads_refused = 0;     ///< reads failed because no replica was usable and fallback is off
  std::uint64_t read_retries = 0;      ///< reads re-run on another target after a connection_lost failure
  std::vector<replica_stats> replicas;
};

}  // namespace berth
