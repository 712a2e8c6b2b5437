// replica_router.hpp: one primary pool and its replica pools behind one
// object that sends writes to the primary and spreads reads over the
// replicas (issue 11, "replica router").
//
// Owns: the choice of a replica for each read (the strategy), each replica's
// health (a circuit breaker per replica, detail/circuit_breaker.hpp: a
// replica that fails is ejected and readmitted through a probe read), its
// lag verdict (an optional background check), and counters.
// Never touches: the pools' internals. It calls their public API only
// (acquire_until, counts, lease::discard), so a replica pool's own breaker,
// validation and reaper keep working underneath; an acquire a replica pool
// fails with errc::database_unavailable (its creation breaker is open) is
// one of the failures that eject the replica here.
//
// Routing a read (acquire_read, read):
//   1. candidates: replicas admitted (not ejected) and not lagging;
//   2. the strategy picks among the candidates: round robin, random, least
//      loaded (fewest leased connections, from pool::counts()), or the
//      better of two random choices (Mitzenmacher's power of two choices);
//   3. the chosen replica's acquire fails for a reason that says the
//      replica is unwell (database_unavailable, adapter_failure,
//      pool_closed), or the read's function throws a connection_lost-class
//      error: the replica's breaker records a failure (enough of them eject
//      it), and the read moves on to the next candidate;
//   4. no candidate left: the primary, unless router_options::
//      fallback_to_primary is false (then errc::no_replica).
// A read that times out on a replica (the replica pool is exhausted) is load,
// not failure: it is not held against the replica; the read moves on.
//
// Readmission and lag are the router's own thread's work ("the monitor"),
// so that no read ever waits on a replica that is down: when an ejected
// replica's readmission time comes (the breaker's probe_at), the monitor
// acquires one of its connections within check_timeout (the replica pool
// validates an idle one or opens a new one) and runs the lag probe when
// there is one; success readmits it (the breaker closes), failure ejects it
// again for a longer interval. With max_replica_lag, the monitor also
// measures every replica's lag each lag_check_interval.
//
// Writes (acquire_write, write) always go to the primary. A read-write
// transaction is a write.
//
// Synchronization. The read path takes no lock while every replica is
// admitted: it reads each replica's `health` word (acquire; pairs with the
// release store made under the replica's mutex when the breaker changes
// state) and the `lagging` flag (relaxed: a verdict one check old is fine),
// and bumps a relaxed round-robin counter. A replica's mutex is taken only
// to record a failure, to claim or settle a probe, and by the lag check.
// Counters are relaxed (statistics).
#pragma once

#include <berth/acquire_error.hpp>
#include <berth/breaker_state.hpp>
#include <berth/clock.hpp>
#include <berth/db_errc.hpp>
#include <berth/detail/circuit_breaker.hpp>
#include <berth/detail/duration.hpp>
#include <berth/errc.hpp>
#include <berth/options.hpp>
#include <berth/pool.hpp>
#include <berth/result.hpp>
#include <berth/router_options.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace berth {

namespace detail {

/// One replica's routing state. Its mutex guards the breaker and the lag
/// value; `health` and `lagging` are readable without it (see the
/// synchronization note in replica_router.hpp's file comment).
struct replica_state {
  explicit replica_state(const breaker_config& c, std::uint_fast32_t seed) : breaker(c, seed) {}
  std::mutex mutex;
  circuit_breaker breaker;                     // under mutex
  std::optional<std::chrono::nanoseconds> lag; // under mutex
  /// replica_health; written under mutex with release, read with acquire.
  std::atomic<std::uint8_t> health{static_cast<std::uint8_t>(replica_health::admitted)};
  /// steady-clock ns of the readmission probe while ejected; written under
  /// mutex before the release store of health, read after its acquire load.
  std::atomic<std::int64_t> probe_at_ns{0};
  /// Relaxed both ways: a verdict one check old is as good.
  std::atomic<bool> lagging{false};
  /// A lag check runs (check_lag): one at a time per replica.
  std::atomic<bool> checking{false};
  /// The breaker remembers failures (closed, below the threshold): a read's
  /// success must tell it. Written under mutex; relaxed, a hint.
  std::atomic<bool> remembers_failures{false};
  std::atomic<std::uint64_t> reads{0}, failures{0};  // relaxed: statistics
};

/// Picks the strategy's choice among `n` candidates whose loads are given
/// by load(k) (only called by the load-aware strategies). `ticket` is the
/// round-robin counter's value, `rng` a per-thread generator. Pure apart
/// from rng. Returns an index in [0, n); n must be > 0.
template <class Load, class Rng>
std::size_t pick_candidate(read_strategy s, std::size_t n, std::uint64_t ticket, Rng& rng, Load&& load) {
  if (n == 1) return 0;
  switch (s) {
    case read_strategy::round_robin:
      return static_cast<std::size_t>(ticket % n);
    case read_strategy::random:
      return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    case read_strategy::least_loaded: {
      // Ties go to the one after the ticket, so equal loads still rotate.
      std::size_t best = static_cast<std::size_t>(ticket % n);
      std::size_t best_load = load(best);
      for (std::size_t j = 1; j < n && best_load != 0; ++j) {
        const std::size_t k = (best + j) % n;
        if (const std::size_t l = load(k); l < best_load) best = k, best_load = l;
      }
      return best;
    }
    case read_strategy::power_of_two_choices: {
      const std::size_t a = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
      std::size_t b = std::uniform_int_distribution<std::size_t>(0, n - 2)(rng);
      if (b >= a) ++b;  // two distinct
      return load(b) < load(a) ? b : a;
    }
  }
  return 0;
}

/// A per-thread generator for the random strategies. Thread-safe (one per
/// thread).
std::minstd_rand& router_rng() noexcept;

}  // namespace detail

/// A primary pool and its replica pools. The pools are shared with the
/// caller (a registry may hold them too) and must be pools of one adapter
/// type; the router keeps them alive.
/// Thread-safety: every member may be called from any number of threads at
/// once, except the destructor. A routed lease must end before its pool is
/// destroyed (the pool's own rule); the router holds its pools, so a lease
/// may outlive the router only while the caller holds that pool too.
template <adapter A>
class replica_router {
 public:
  using pool_type = pool<A>;
  using lease_type = typename pool_type::lease_type;
  using connection_type = typename pool_type::connection_type;
  using time_point = clock_source::time_point;
  /// A lease and where it came from.
  struct routed_lease {
    lease_type lease;
    route where;
  };
  using acquire_result = result<routed_lease, acquire_error>;
  /// Measures a replica's lag on one of its connections; nullopt when it
  /// cannot tell (then the verdict stays as it was). May throw: a
  /// connection_lost-class error counts as the replica's failure, others
  /// leave the verdict as it was. Called from the router's monitor thread
  /// (or check_now()'s caller), one replica at a time.
  using lag_probe = std::function<std::optional<std::chrono::nanoseconds>(connection_type&)>;

  /// Throws options_error for invalid options, for a null pool, for more
  /// than 64 replicas, and when max_replica_lag is set without a probe
  /// ("router_options.max_replica_lag: is set but no lag probe was given").
  /// A router with no replicas is allowed: every read goes to the primary
  /// (or fails with errc::no_replica when fallback_to_primary is off).
  /// Starts the monitor thread when there are replicas. clock must outlive
  /// the router.
  replica_router(std::shared_ptr<pool_type> primary, std::vector<std::shared_ptr<pool_type>> replicas,
                 const router_options& opts = {}, lag_probe probe = {},
                 clock_source& clock = clock_source::steady())
      : opts_(checked(opts, primary, replicas, probe)),
        primary_(std::move(primary)),
        replicas_(std::move(replicas)),
        probe_(std::move(probe)),
        clock_(clock) {
    const detail::breaker_config c{.threshold = opts_.eject_threshold,
                                   .window = opts_.eject_window,
                                   .recovery = opts_.readmit_after,
                                   .recovery_max = opts_.readmit_after_max};
    std::random_device rd;
    state_.reserve(replicas_.size());
    for (std::size_t k = 0; k < replicas_.size(); ++k)
      state_.push_back(std::make_unique<detail::replica_state>(c, rd()));
    if (!replicas_.empty()) {
      clock_.subscribe(listener_);
      try {
        monitor_ = std::thread([this] { monitor_loop(); });
      } catch (...) {
        clock_.unsubscribe(listener_);
        throw;
      }
    }
  }

  /// Stops the monitor thread (waiting for a check in progress). The pools
  /// live on while the caller holds them.
  ~replica_router() {
    {
      std::lock_guard lk(monitor_mutex_);
      stopping_ = true;
    }
    monitor_cv_.notify_all();
    if (monitor_.joinable()) {
      monitor_.join();
      clock_.unsubscribe(listener_);
    }
  }

  replica_router(const replica_router&) = delete;
  replica_router& operator=(const replica_router&) = delete;

  /// A primary connection, for writes and read-write transactions: the
  /// primary pool's acquire_until. Thread-safe.
  acquire_result acquire_write(time_point deadline) noexcept {
    auto r = primary_->acquire_until(deadline);
    if (!r) return failure{std::move(r).error()};
    writes_.fetch_add(1, std::memory_order_relaxed);  // statistics
    return routed_lease{std::move(*r), route{}};
  }
  template <class Rep, class Period>
  acquire_result acquire_write_for(std::chrono::duration<Rep, Period> timeout) noexcept {
    return acquire_write(detail::saturating_add(clock_.now(), detail::saturating_ns(timeout)));
  }

  /// A connection for a read: a replica by the strategy, else the primary
  /// (see the file comment). A caller that then sees a connection_lost-class
  /// error on it should call failed(where) (read() does). Thread-safe.
  acquire_result acquire_read(time_point deadline) noexcept {
    std::uint64_t tried = 0;
    return route_read(deadline, tried);
  }
  template <class Rep, class Period>
  acquire_result acquire_read_for(std::chrono::duration<Rep, Period> timeout) noexcept {
    return acquire_read(detail::saturating_add(clock_.now(), detail::saturating_ns(timeout)));
  }

  /// Runs f(connection&) on a primary connection from acquire_write(now +
  /// the primary's acquire_timeout) and returns its result. Throws
  /// acquire_exception when none could be had; f's exceptions propagate.
  template <class F>
    requires std::is_invocable_v<F&, connection_type&>
  std::invoke_result_t<F&, connection_type&> write(F&& f) {
    auto r = acquire_write_for(primary_->options().acquire_timeout);
    routed_lease rl = std::move(r).value();
    return f(*rl.lease);
  }

  /// Runs f(connection&) for a read: on a replica (or the primary, see
  /// acquire_read) within the primary's acquire_timeout. If f throws a
  /// connection_lost-class error (std::system_error whose code is equivalent
  /// to db_errc::connection_lost) the connection is discarded, the failure
  /// is recorded against the replica, and f runs again on the next
  /// candidate, at most once per replica and once on the primary: f must be
  /// safe to re-run (a read is). Other exceptions propagate at once.
  /// Throws acquire_exception when no target could serve.
  template <class F>
    requires std::is_invocable_v<F&, connection_type&>
  std::invoke_result_t<F&, connection_type&> read(F&& f) {
    const time_point deadline =
        detail::saturating_add(clock_.now(), detail::saturating_ns(primary_->options().acquire_timeout));
    std::uint64_t tried = 0;  // replicas this read ran on: each at most once
    for (;;) {
      routed_lease rl = route_read(deadline, tried).value();
      const route where = rl.where;
      try {
        if constexpr (std::is_void_v<std::invoke_result_t<F&, connection_type&>>) {
          f(*rl.lease);
          succeeded(where);
          return;
        } else {
          auto v = f(*rl.lease);
          succeeded(where);
          return v;
        }
      } catch (const std::system_error& e) {
        // A code of berth's own (an acquire inside f from another pool:
        // errc::database_unavailable compares equal to connection_lost) is
        // not this replica's connection failing.
        if (e.code() != db_errc::connection_lost || e.code().category() == error_category() || where.is_primary()) {
          succeeded(where);  // the replica answered; the error is the read's own
          throw;
        }
        rl.lease.discard();
        failed(where);
        retries_.fetch_add(1, std::memory_order_relaxed);  // statistics
      } catch (...) {
        succeeded(where);  // not the replica's failure
        throw;
      }
    }
  }

  /// Records a failure of the target (a connection_lost-class error on a
  /// connection routed there). For the primary: nothing (the primary pool's
  /// own validation and breaker deal with it). Thread-safe.
  void failed(route where) noexcept {
    if (where.is_primary() || where.target >= state_.size()) return;
    record_failure(where.target);
  }
  /// Records that work on the target succeeded (a round trip, not a
  /// hand-out): an admitted replica's breaker forgets the failures it
  /// remembered below eject_threshold. Never readmits an ejected replica
  /// (only the monitor's probe does). read() calls it when its function
  /// returns. Thread-safe.
  void succeeded(route where) noexcept {
    if (where.is_primary() || where.target >= state_.size()) return;
    record_success(where.target);
  }

  /// Runs, in the caller's thread, what the monitor does when it wakes:
  /// probes every ejected replica whose readmission time has come, and, with
  /// a lag probe, measures every admitted replica's lag. For tests and for
  /// callers that want a verdict now. Thread-safe (a replica being probed by
  /// the monitor is skipped).
  void check_now() noexcept {
    const time_point now = clock_.now();
    for (std::size_t k = 0; k < replicas_.size(); ++k) {
      if (health(k) == replica_health::ejected) {
        if (claim_probe(k, now)) probe_replica(k);
      } else if (probe_ && health(k) == replica_health::admitted) {
        check_lag(k);
      }
    }
  }

  /// The number of replicas.
  std::size_t replica_count() const noexcept { return replicas_.size(); }
  pool_type& primary() const noexcept { return *primary_; }
  pool_type& replica(std::size_t k) const noexcept { return *replicas_[k]; }
  const router_options& options() const noexcept { return opts_; }

  /// A snapshot (each figure read on its own). Thread-safe. Allocates.
  router_stats stats() const {
    router_stats s;
    s.name = opts_.name;
    s.writes = writes_.load(std::memory_order_relaxed);
    s.primary_reads = primary_reads_.load(std::memory_order_relaxed);
    s.reads_refused = refused_.load(std::memory_order_relaxed);
    s.read_retries = retries_.load(std::memory_order_relaxed);
    for (std::size_t k = 0; k < replicas_.size(); ++k) {
      detail::replica_state& st = *state_[k];
      replica_stats r;
      r.name = replicas_[k]->options().name;
      r.health = static_cast<replica_health>(st.health.load(std::memory_order_acquire));
      r.lagging = st.lagging.load(std::memory_order_relaxed);
      r.reads = st.reads.load(std::memory_order_relaxed);
      r.failures = st.failures.load(std::memory_order_relaxed);
      {
        std::lock_guard lk(st.mutex);
        r.lag = st.lag;
        r.ejections = st.breaker.times_opened();
      }
      r.leased = replicas_[k]->counts().leased;
      s.replicas.push_back(std::move(r));
    }
    return s;
  }

 private:
  static constexpr std::size_t no_skip = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_replicas = 64;  // candidate list on the stack

  static const router_options& checked(const router_options& o, const std::shared_ptr<pool_type>& primary,
                                       const std::vector<std::shared_ptr<pool_type>>& replicas,
                                       const lag_probe& probe) {
    if (auto e = validate(o)) throw *e;
    if (!primary) throw options_error("primary", "is null", "replica_router");
    if (replicas.size() > max_replicas)
      throw options_error("replicas", "at most " + std::to_string(max_replicas) + " replicas", "replica_router");
    for (std::size_t k = 0; k < replicas.size(); ++k)
      if (!replicas[k]) throw options_error("replicas", "replica " + std::to_string(k) + " is null", "replica_router");
    if (o.max_replica_lag.count() > 0 && !probe)
      throw options_error("max_replica_lag", "is set but no lag probe was given", "router_options");
    return o;
  }

  replica_health health(std::size_t k) const noexcept {
    // acquire: pairs with the release store in settle_locked(); makes
    // probe_at_ns, written before it, visible.
    return static_cast<replica_health>(state_[k]->health.load(std::memory_order_acquire));
  }

  /// Usable now for a read: admitted, not lagging, and its pool not
  /// suspended (a planned failover: its acquirers would wait for resume()).
  bool admitted(std::size_t k) const noexcept {
    return health(k) == replica_health::admitted && !state_[k]->lagging.load(std::memory_order_relaxed) &&
           !replicas_[k]->suspended();
  }

  /// An ejected replica whose probe time has come: the caller (the monitor,
  /// or check_now()) tries to become its probe. True if it did (the replica
  /// is now `probing` until probe_replica reports).
  bool claim_probe(std::size_t k, time_point now) noexcept {
    detail::replica_state& st = *state_[k];
    if (health(k) != replica_health::ejected) return false;
    if (now.time_since_epoch().count() < st.probe_at_ns.load(std::memory_order_relaxed)) return false;
    std::lock_guard lk(st.mutex);
    if (st.breaker.admit(now) != detail::circuit_breaker::admission::probe) return false;
    settle_locked(st);
    return true;
  }

  /// Publishes the breaker's state as `health` (release: pairs with
  /// health()'s acquire load). Under st.mutex.
  static void settle_locked(detail::replica_state& st) noexcept {
    replica_health h = replica_health::admitted;
    switch (st.breaker.state()) {
      case breaker_state::closed: h = replica_health::admitted; break;
      case breaker_state::open: h = replica_health::ejected; break;
      case breaker_state::half_open: h = replica_health::probing; break;
    }
    st.probe_at_ns.store(st.breaker.probe_at().time_since_epoch().count(), std::memory_order_relaxed);
    st.remembers_failures.store(st.breaker.recent_failures() != 0, std::memory_order_relaxed);
    st.health.store(static_cast<std::uint8_t>(h), std::memory_order_release);
  }

  void record_failure(std::size_t k) noexcept {
    detail::replica_state& st = *state_[k];
    st.failures.fetch_add(1, std::memory_order_relaxed);  // statistics
    bool ejected;
    {
      std::lock_guard lk(st.mutex);
      ejected = st.breaker.failed(clock_.now());
      settle_locked(st);
    }
    if (ejected) kick();  // the monitor schedules the readmission probe
  }

  void record_success(std::size_t k) noexcept {
    detail::replica_state& st = *state_[k];
    // Only a replica whose breaker remembers failures needs the mutex: a
    // healthy replica's read takes no lock. remembers_failures
    // is relaxed: a stale false only delays forgetting a failure (the
    // breaker's window forgets it anyway); a stale true costs one lock.
    if (health(k) != replica_health::admitted || !st.remembers_failures.load(std::memory_order_relaxed)) return;
    std::lock_guard lk(st.mutex);
    if (st.breaker.state() != breaker_state::closed) return;  // ejected meanwhile: the probe decides
    st.breaker.succeeded();
    settle_locked(st);
  }

  /// Routes one read. `tried`: the replicas this read already went to (one
  /// bit each), which it does not go to again; updated.
  acquire_result route_read(time_point deadline, std::uint64_t& tried) noexcept {
    time_point now{};
    bool have_now = false;
    const auto clock_now = [&] {
      if (!have_now) now = clock_.now(), have_now = true;
      return now;
    };
    for (;;) {
      std::size_t cand[max_replicas];
      std::size_t n = 0;
      for (std::size_t k = 0; k < replicas_.size(); ++k)
        if (!(tried & (std::uint64_t{1} << k)) && admitted(k)) cand[n++] = k;
      if (n == 0) break;
      const std::size_t k =
          cand[detail::pick_candidate(opts_.strategy, n, ticket_.fetch_add(1, std::memory_order_relaxed),
                                      detail::router_rng(),
                                      [&](std::size_t j) { return replicas_[cand[j]]->counts().leased; })];
      tried |= std::uint64_t{1} << k;
      time_point d = deadline;
      if (opts_.replica_acquire_timeout.count() > 0) {
        const time_point cap = detail::saturating_add(clock_now(), detail::saturating_ns(opts_.replica_acquire_timeout));
        if (cap < d) d = cap;
      }
      const std::uint64_t creation_failures = replicas_[k]->creation_failures();
      auto r = replicas_[k]->acquire_until(d);
      if (r) {
        state_[k]->reads.fetch_add(1, std::memory_order_relaxed);  // statistics
        return routed_lease{std::move(*r), route{k}};
      }
      // A timeout is load, not failure, and the read moves on; unless the
      // pool failed to open a connection meanwhile: a replica going down
      // before its pool's breaker opens. Meanwhile, counted: the error's
      // last_creation_error may be a failure from long before, never
      // cleared while the pool needed no new connection
      // (RouterTest.ABusyReplicaWithAnOldCreationFailureIsNotEjectedBug).
      if (r.error().code != errc::timeout || replicas_[k]->creation_failures() != creation_failures)
        record_failure(k);
      have_now = false;
    }
    if (!opts_.fallback_to_primary) {
      refused_.fetch_add(1, std::memory_order_relaxed);  // statistics
      acquire_error e;
      e.code = errc::no_replica;
      e.pool_name = opts_.name;
      e.counts = primary_->counts();
      return failure{std::move(e)};
    }
    auto r = primary_->acquire_until(deadline);
    if (!r) return failure{std::move(r).error()};
    primary_reads_.fetch_add(1, std::memory_order_relaxed);  // statistics
    return routed_lease{std::move(*r), route{}};
  }

  /// The readmission probe of replica k, which claim_probe made `probing`:
  /// a connection within check_timeout, on which the lag probe (when there
  /// is one) runs and records the lag; success readmits the replica (still
  /// excluded while lagging), anything else ejects it again. Without a lag
  /// probe, readmission means only that the replica's pool handed out a
  /// connection (one it validated when idle past validation_bypass, or a
  /// new one): optimistic; a probe makes it a round trip.
  void probe_replica(std::size_t k) noexcept {
    auto r = replicas_[k]->acquire_until(
        detail::saturating_add(clock_.now(), detail::saturating_ns(opts_.check_timeout)));
    if (!r) return record_failure(k);
    // Readmission wants a round trip that worked: any failure of the probe
    // (a timeout from a stopped server too) ejects the replica again
    // (RouterTest.AReadmissionProbeThatTimesOutEjectsAgainBug).
    if (probe_ && measure(k, **r) != measured::ok) {
      r->discard();
      return record_failure(k);
    }
    detail::replica_state& st = *state_[k];
    std::lock_guard lk(st.mutex);
    // A failure reported meanwhile (failed(lease) on a read of this replica)
    // reopened the breaker: it stands (RouterTest.AFailureReportedDuringTheProbeStandsBug).
    if (st.breaker.state() != breaker_state::half_open) return;
    st.breaker.succeeded();
    settle_locked(st);
  }

  /// A lag check of admitted replica k; skipped while another thread
  /// (check_now() beside the monitor) checks it, so the probe runs on one
  /// connection of a replica at a time.
  void check_lag(std::size_t k) noexcept {
    detail::replica_state& st = *state_[k];
    // acquire/release: the verdict and lag written by the previous check
    // happen before this one's.
    if (st.checking.exchange(true, std::memory_order_acquire)) return;
    struct done {
      std::atomic<bool>& f;
      ~done() { f.store(false, std::memory_order_release); }
    } guard{st.checking};
    auto r = replicas_[k]->acquire_until(
        detail::saturating_add(clock_.now(), detail::saturating_ns(opts_.check_timeout)));
    if (!r) {
      if (r.error().code != errc::timeout) record_failure(k);  // a timeout is load
      return;
    }
    if (measure(k, **r) == measured::lost) {  // another failure leaves the verdict as it was
      r->discard();
      record_failure(k);
    }
  }

  /// What a lag probe did.
  enum class measured : std::uint8_t {
    ok,      ///< answered (a lag, or none known): the verdict is recorded
    lost,    ///< its connection was lost
    failed,  ///< any other failure (a timeout, an error): nothing recorded
  };
  /// Runs the lag probe on c (a connection of replica k) and records the
  /// verdict when it answers.
  measured measure(std::size_t k, connection_type& c) noexcept {
    std::optional<std::chrono::nanoseconds> lag;
    try {
      lag = probe_(c);
    } catch (const std::system_error& e) {
      // berth's own codes are not this replica's connection (see read()).
      return e.code() == db_errc::connection_lost && e.code().category() != error_category() ? measured::lost
                                                                                              : measured::failed;
    } catch (...) {
      return measured::failed;
    }
    if (!lag) return measured::ok;
    detail::replica_state& st = *state_[k];
    {
      std::lock_guard lk(st.mutex);
      st.lag = lag;
    }
    const bool over = opts_.max_replica_lag.count() > 0 && *lag > opts_.max_replica_lag;
    st.lagging.store(over, std::memory_order_relaxed);  // a verdict; see the file comment
    return measured::ok;
  }

  /// The monitor: sleeps until the next readmission probe or lag check is
  /// due (or a replica is ejected, or the fake clock moves), then runs
  /// check_now()'s work.
  void monitor_loop() noexcept {
    const bool lag_checks = probe_ && opts_.max_replica_lag.count() > 0 && opts_.lag_check_interval.count() > 0;
    time_point next_lag = clock_.now();
    std::unique_lock lk(monitor_mutex_);
    while (!stopping_) {
      const time_point now = clock_.now();
      time_point wake = time_point::max();
      bool work = false;
      for (std::size_t k = 0; k < replicas_.size(); ++k) {
        if (health(k) != replica_health::ejected) continue;
        // probe_at_ns: read after health's acquire load (settle_locked).
        const time_point at{std::chrono::nanoseconds(state_[k]->probe_at_ns.load(std::memory_order_relaxed))};
        if (at <= now) work = true;
        else if (at < wake) wake = at;
      }
      if (lag_checks) {
        if (next_lag <= now) work = true;
        else if (next_lag < wake) wake = next_lag;
      }
      if (work) {
        lk.unlock();
        // stopping_ between replicas: the destructor waits for one check at
        // most, not for a round of them.
        for (std::size_t k = 0; k < replicas_.size() && !stop_requested(); ++k)
          if (health(k) == replica_health::ejected && claim_probe(k, now)) probe_replica(k);
        if (lag_checks && next_lag <= now) {
          for (std::size_t k = 0; k < replicas_.size() && !stop_requested(); ++k)
            if (health(k) == replica_health::admitted) check_lag(k);
          next_lag = detail::saturating_add(clock_.now(), detail::saturating_ns(opts_.lag_check_interval));
        }
        lk.lock();
        continue;
      }
      if (!stopping_ && !kicked_) clock_.wait_until(monitor_cv_, lk, wake);
      kicked_ = false;
    }
  }

  bool stop_requested() noexcept {
    std::lock_guard lk(monitor_mutex_);
    return stopping_;
  }

  /// Wakes the monitor to recompute its next wake-up (a replica was
  /// ejected; the fake clock moved).
  void kick() noexcept {
    {
      std::lock_guard lk(monitor_mutex_);
      kicked_ = true;
    }
    monitor_cv_.notify_one();
  }

  struct listener final : clock_listener {
    explicit listener(replica_router& r) noexcept : router(r) {}
    void on_clock_advanced() noexcept override { router.kick(); }
    replica_router& router;
  };

  const router_options opts_;
  const std::shared_ptr<pool_type> primary_;
  const std::vector<std::shared_ptr<pool_type>> replicas_;
  const lag_probe probe_;
  clock_source& clock_;
  std::vector<std::unique_ptr<detail::replica_state>> state_;
  std::atomic<std::uint64_t> ticket_{0};  // round robin; relaxed: any interleaving is a fair rotation
  std::atomic<std::uint64_t> writes_{0}, primary_reads_{0}, refused_{0}, retries_{0};  // relaxed: statistics
  std::mutex monitor_mutex_;
  std::condition_variable monitor_cv_;
  bool stopping_ = false;  // under monitor_mutex_
  bool kicked_ = false;    // under monitor_mutex_
  listener listener_{*this};
  std::thread monitor_;
};

}  // namespace berth
