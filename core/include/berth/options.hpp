// options.hpp: pool_options, a plain struct validated once at construction.
#pragma once

#include <berth/events.hpp>

#include <chrono>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace berth {

/// What a pool does at construction when the database cannot be reached.
enum class startup_mode {
  /// Open min_idle connections in the constructing thread; the first failure
  /// fails construction (errc::startup_failed) with the adapter's message.
  fail_fast,
  /// Return at once; the creator thread opens min_idle connections in the
  /// background with backoff. Acquires wait (up to their deadline) meanwhile.
  degraded,
};

/// What happens to a connection whose lease is destroyed during stack
/// unwinding (user code threw while holding it).
enum class unwind_policy {
  /// Reset it if its session state may be dirty: with an adapter that has
  /// needs_reset(), when that check says so (as on any release); with one
  /// that has not, always (its state is unknown). reset() runs in the
  /// releasing thread; the connection is discarded if reset fails.
  reset,
  /// Close the connection; the pool replaces it as demand requires.
  discard,
};

/// Upper bound of every pool_options duration field except acquire_timeout:
/// 10 years (87600 h). Every duration field except acquire_timeout must be
/// <= this; larger values would overflow deadline arithmetic (the pool adds
/// them to clock readings and compares them with differences of readings, in
/// nanoseconds, whose range is about 292 years). validate() rejects larger
/// values, naming the field.
inline constexpr std::chrono::hours max_option_duration{24 * 365 * 10};

/// Pool configuration. A plain struct: set fields, pass it to the pool, which
/// validates it once (validate()) and copies it; it is never re-read.
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct pool_options {
  /// Name used in error messages and reports. Default "berth". Non-empty.
  std::string name = "berth";
  /// Upper bound on open connections (idle + leased + being opened or closed).
  /// Default 10. Range 1..65536.
  std::size_t max_size = 10;
  /// Connections kept open even when unused; opened at start and refilled in
  /// the background. Default 1. Range 0..max_size. With adaptive_min_idle,
  /// the starting value, in [min_idle_floor, min_idle_ceiling].
  std::size_t min_idle = 1;
  /// The largest max_size that pool::resize() may set later: it sizes the
  /// slot array and the idle ring once, whether the slots are ever used or
  /// not (about 200 to 260 bytes per slot, bench/peers/memory.cpp, plus one
  /// std::optional<connection_type> each), so set it only as high as you
  /// mean to grow. Default 0: the same as max_size (the pool cannot grow,
  /// only shrink and grow back). Range 0, or max_size..max_pool_size.
  std::size_t max_size_limit = 0;
  /// Deadline used by acquire() (acquire_for/acquire_until take their own).
  /// Default 30 s. Must be > 0; no upper bound: any larger value, up to
  /// milliseconds::max(), means "wait that long", and a wait whose deadline
  /// would overflow the clock waits with no deadline (forever).
  std::chrono::milliseconds acquire_timeout{30'000};
  /// First delay after a failed connection attempt; doubled per consecutive
  /// failure, with jitter, up to creation_backoff_max. Default 50 ms.
  /// Range (0, max_option_duration].
  std::chrono::milliseconds creation_backoff_initial{50};
  /// Cap of the creation backoff. Default 10 s.
  /// Range [creation_backoff_initial, max_option_duration].
  std::chrono::milliseconds creation_backoff_max{10'000};

  // ---- circuit breaker on connection creation (detail/circuit_breaker.hpp):
  // while the database is down, acquirers fail at once instead of each
  // waiting out its deadline. Consulted by the creator thread and the
  // acquire slow path, never on the fast path.
  //
  // When breaker_threshold creation failures happen within breaker_window
  // with no success in between, the breaker opens (event breaker_opened):
  // - an acquire (blocking or asynchronous) that finds no idle connection
  //   fails at once with errc::database_unavailable, carrying the last
  //   creation error; so do the queued acquirers when it opens. Idle
  //   connections are still served. An acquire when every slot is open
  //   (max_size connections, leased or being opened) waits for a release as
  //   usual: it does not need a creation. try_acquire() is unchanged (it
  //   never waits for a creation; would_block).
  // - the creator makes no connection attempt (min_idle refill included)
  //   until the recovery interval has passed; then exactly one probe
  //   (breaker_half_open), made only if a connection is wanted (min_idle,
  //   or an acquire was refused since the last attempt). Acquirers are
  //   still refused while it is in flight. Success closes the breaker
  //   (breaker_closed) and the pool fills as usual; failure opens it again
  //   for the next interval: breaker_recovery doubled per failed probe,
  //   with equal jitter, capped at breaker_recovery_max, never below
  //   breaker_recovery.
  // Startup: fail_fast still throws startup_failed on the first failure
  // (the breaker plays no part); degraded pools start closed and open after
  // breaker_threshold background failures like any other.
  // Defaults: with the default creation backoff (50 ms doubling), 5
  // consecutive failures take about 0.4 to 0.75 s, so a database that is
  // down is detected within a second, while a single refused connection (a
  // restart blip) does not open the breaker. The 10 s window forgets
  // sporadic failures; raise it with creation_backoff_* (failures spaced
  // more than breaker_window / breaker_threshold apart never open it). 250 ms
  // recovery: a database that comes back (a restart, a failover) is used
  // again within a quarter of a second; 5 s cap: after a long outage the
  // pool serves at most 5 s after the database returns (the creation
  // backoff, uncapped by a breaker, waits up to creation_backoff_max, 10 s),
  // and the outage costs one connection attempt per 2.5 to 5 s per pool.

  /// Creation failures within breaker_window that open the breaker; 0
  /// disables it (acquirers then wait for creations until their deadline,
  /// errc::timeout). Default 5. Range 0..max_breaker_threshold.
  std::uint32_t breaker_threshold = 5;
  /// See breaker_threshold. Default 10 s. Range (0, max_option_duration].
  std::chrono::milliseconds breaker_window{10'000};
  /// How long the breaker stays open before its first probe. Default 250 ms.
  /// Range (0, max_option_duration].
  std::chrono::milliseconds breaker_recovery{250};
  /// Cap of the open interval after failed probes. Default 5 s.
  /// Range [breaker_recovery, max_option_duration].
  std::chrono::milliseconds breaker_recovery_max{5'000};
  /// Fairness bound. Running threads may take idle connections ahead of
  /// sleeping waiters, which avoids a context switch per cycle; waiters are
  /// woken in FIFO order, and a head waiter that has waited this long is
  /// handed the next release (one such hand-off at a time) from a holder
  /// that has had its connection at least this long (a connection a waiter
  /// just got is not taken from it at once). 0: always strict FIFO (every
  /// release is handed over and newcomers queue).
  /// Default 1 ms. Range [0, max_option_duration].
  std::chrono::microseconds handoff_after{1000};
  /// Start-up behaviour when the database is unreachable. Default fail_fast.
  startup_mode startup = startup_mode::fail_fast;
  /// Fate of a connection released during stack unwinding. Default reset.
  /// discard costs a std::uncaught_exceptions() call on every release.
  unwind_policy on_unwind = unwind_policy::reset;

  // ---- lifecycle policy, applied by the pool's reaper (its own
  // thread), never on the acquire/release path. A zero duration disables
  // the policy it names.

  /// How often the reaper wakes to apply the policies below (only when one
  /// is enabled). Its notion of "last used" has this resolution: it sees a
  /// connection as used in a period when its lease count changed.
  /// Default 1 s. Range (0, max_option_duration].
  std::chrono::milliseconds reaper_period{1'000};
  /// Validate every idle connection this often. Default 0 (off; keepalive
  /// covers idle connections). Range [0, max_option_duration].
  std::chrono::milliseconds validation_interval{0};
  /// Passed to the adapter's validate(conn, timeout) when it has that
  /// overload. Default 5 s. Range (0, max_option_duration].
  std::chrono::milliseconds validation_timeout{5'000};
  /// Validate a connection in the acquiring thread before handing it out
  /// when it has not been used for longer than validation_bypass (HikariCP
  /// 500 ms, pgxpool 1 s): a stale connection is never handed out after long
  /// idleness, and a hot pool pays nothing (the reaper flags stale
  /// connections; the acquirer reads the flag from the word it CASes).
  /// A connection that fails is closed and the acquire tries another. The
  /// validation gets at most the acquire's time left (as the adapter's
  /// timeout, capped by validation_timeout) and none starts after the
  /// deadline. try_acquire() never validates: it leaves such a connection
  /// for a blocking acquire and wakes the reaper, which validates it at once.
  /// Default true.
  bool validate_on_acquire = true;
  /// See validate_on_acquire. Measured by the reaper, so its resolution is
  /// reaper_period; 0 means every blocking acquire validates (HikariCP's
  /// aliveBypassWindowMs = 0), whatever the reaper has seen. Default 500 ms. Range [0, max_option_duration].
  std::chrono::milliseconds validation_bypass{500};
  /// Close connections idle longer than this while more than min_idle are
  /// open. Default 10 min. 0 disables. Range [0, max_option_duration].
  std::chrono::milliseconds idle_timeout{600'000};
  /// Retire connections this long after creation, minus a per-connection
  /// random part of up to lifetime_jitter drawn once at creation, so
  /// connections opened together do not reconnect together. The reaper
  /// retires expired idle connections and flags leased ones, which are
  /// retired when they come back (or by an acquirer that claims one).
  /// Default 30 min. 0 disables. Range [0, max_option_duration].
  std::chrono::milliseconds max_lifetime{1'800'000};
  /// See max_lifetime. Default 30 s. Range [0, max_option_duration], and
  /// < max_lifetime when that is set.
  std::chrono::milliseconds lifetime_jitter{30'000};
  /// Validate idle connections untouched this long, so firewalls and servers
  /// do not cut them silently. Default 2 min. 0 disables.
  /// Range [0, max_option_duration].
  std::chrono::milliseconds keepalive_interval{120'000};
  /// Report a lease held longer than this, once, through on_event
  /// (leak_suspected, with where it was acquired and the stack captured at
  /// acquire), and again when it ends, however it ends (leak_returned,
  /// "returned after N ms"); counted in pool_stats::leaks_suspected. The
  /// report comes at most one reaper_period (plus the duration of the
  /// reaper's pass) after the lease crossed the threshold. The stack is
  /// captured (Boost.Stacktrace, a few microseconds) and each lease's start
  /// and end are recorded under a per-slot mutex only while this is on;
  /// off, the acquire path does not even read the clock.
  /// On, the constructor waits for the reaper thread to load the debug
  /// information for stacks (~100 ms), so that the first report is on time.
  /// Default 0 (off). Range [0, max_option_duration].
  std::chrono::milliseconds leak_threshold{0};
  /// Time one lease in this many (pool_stats::hold_time, and the size hint
  /// derived from it): the lease that makes a slot's lease count a multiple
  /// of it reads the clock when acquired and again when released, and
  /// records the difference in a histogram shared by the pool (relaxed
  /// atomic adds, on the release's cold branch). Other leases pay one
  /// relaxed load and a branch on release, on a line the releaser already
  /// owns. 1 times every lease; 0 turns hold-time accounting off.
  /// Default 128 (at 64 the two clock reads cost the null-connection cycle
  /// about 10%, bench/metrics_bench.cpp). A power of two, or 0; <= 2^30.
  std::uint32_t hold_time_sampling = 128;
  // ---- adaptive min_idle (issue 11), applied by the reaper ----

  /// Let the reaper move min_idle, once per reaper_period, towards the
  /// concurrent demand it observes: the peak over adaptive_window of its
  /// samples of leased + waiting connections (all connections open when
  /// acquires had to wait since the last pass), clamped to
  /// [min_idle_floor, min_idle_ceiling] and to the current max_size. It rises
  /// at once and falls by half the distance per pass once the peak has left
  /// the window. No samples are taken while the pool is suspended. Turns the
  /// reaper on. Default false.
  bool adaptive_min_idle = false;
  /// Lowest min_idle the adaptive mode sets. Default 0. Range
  /// 0..min_idle_ceiling; <= max_size.
  std::size_t min_idle_floor = 0;
  /// Highest min_idle the adaptive mode sets (it is also kept <= the current
  /// max_size). Default 0 (read as max_size_limit, or max_size when that is
  /// 0). Range min_idle_floor..max_size_limit (max_size when that is 0).
  std::size_t min_idle_ceiling = 0;
  /// How long a demand peak holds min_idle up before it starts to fall.
  /// Default 60 s. Range [reaper_period, max_option_duration] when
  /// adaptive_min_idle is on.
  std::chrono::milliseconds adaptive_window{60'000};

  /// Receives pool events (created, closed with reason, validation failed,
  /// creation failed, leak suspected, leak returned, evicted, resized,
  /// suspended, resumed, breaker opened / half-open / closed). Called from
  /// the pool's creator or reaper thread, from a thread ending a lease, or
  /// from the thread calling evict_all, resize, suspend or resume, with no
  /// pool lock held; must be
  /// thread-safe, should be quick, and must not close or destroy the pool.
  /// Default: none. Never called on the acquire/release fast path.
  std::function<void(const pool_event&)> on_event{};
};

/// Largest max_size: slot indices and the idle ring are sized for it.
inline constexpr std::size_t max_pool_size = 65536;

/// The number of slots a pool with these options allocates: max_size_limit,
/// or max_size when that is 0. Thread-safe. Pure.
constexpr std::size_t slot_capacity(const pool_options& o) noexcept {
  return o.max_size_limit != 0 ? o.max_size_limit : o.max_size;
}

/// The adaptive mode's upper bound: min_idle_ceiling, or the slot capacity
/// when that is 0. Thread-safe. Pure.
constexpr std::size_t effective_min_idle_ceiling(const pool_options& o) noexcept {
  return o.min_idle_ceiling != 0 ? o.min_idle_ceiling : slot_capacity(o);
}

/// What pool::resize() changes while the pool serves (issue 11), and what
/// pool::sizing() reports. Fields as in pool_options.
/// Thread-safety: a value type.
struct pool_sizing {
  /// Range 1..slot_capacity(options) (max_size_limit, or the constructed
  /// max_size when that is 0).
  std::size_t max_size = 0;
  /// Range 0..max_size; with adaptive_min_idle also
  /// [min_idle_floor, min_idle_ceiling].
  std::size_t min_idle = 0;

  friend bool operator==(const pool_sizing&, const pool_sizing&) = default;
};

/// Largest breaker_threshold: the breaker remembers that many failure times.
inline constexpr std::uint32_t max_breaker_threshold = 65536;

/// Thrown by a pool constructor for invalid options; field() names the field.
class options_error : public std::invalid_argument {
 public:
  /// what(): "berth: invalid <options_struct>.<field>: <why>". Adapters pass
  /// their own struct's name (e.g. "sqlite::options").
  options_error(std::string field, const std::string& why, const std::string& options_struct = "pool_options")
      : std::invalid_argument("berth: invalid " + options_struct + "." + field + ": " + why),
        field_(std::move(field)) {}
  /// The offending field's name, e.g. "max_size". Thread-safe.
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

/// Checks every field; returns the first violation, or nullopt when valid.
/// Thread-safe. Allocates only to build the error.
std::optional<options_error> validate(const pool_options& o);

/// Checks a resize of a pool built with (valid) options o; the error's
/// what() reads "berth: invalid pool_sizing.<field>: ...". Thread-safe.
/// Allocates only to build the error.
std::optional<options_error> validate(const pool_sizing& s, const pool_options& o);

}  // namespace berth
