// pool.hpp: berth::pool<Adapter>, the public pool.
//
// Usage:
//   berth::pool<my_adapter> p{my_adapter{...}, {.max_size = 16}};
//   if (auto l = p.acquire_for(50ms)) use(**l);          // non-throwing
//   auto l = p.acquire().value();                         // throws acquire_exception
//   p.with([](my_conn& c) { ... });                       // scoped
#pragma once

#include <berth/acquire_error.hpp>
#include <berth/adapter.hpp>
#include <berth/clock.hpp>
#include <berth/detail/pool_core.hpp>
#include <berth/lease.hpp>
#include <berth/options.hpp>
#include <berth/result.hpp>
#include <berth/stats.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

namespace berth {

/// A pool of A::connection_type connections made by an adapter A.
///
/// acquire/try_acquire/with/stats/counts/close/drain/evict_all may be called
/// from any number of threads concurrently. The pool is neither copyable nor
/// movable (leases and its maintenance thread point into it).
/// Distinct objects: safe. Shared objects: safe for acquire*, with, stats,
/// counts, close, drain, evict_all; unsafe for destruction.
template <adapter A>
class pool final : public detail::pool_core {
 public:
  using connection_type = typename A::connection_type;
  using lease_type = lease<A>;
  using acquire_result = result<lease_type, acquire_error>;
  using time_point = clock_source::time_point;

  /// Validates opts (throws options_error naming the field), then with
  /// startup_mode::fail_fast opens min_idle connections in this thread
  /// (throws std::system_error(errc::startup_failed) with the adapter's
  /// message on the first failure), then starts the maintenance thread.
  /// clock must outlive the pool; tests pass a fake one.
  explicit pool(A adapter, const pool_options& opts = {},
                clock_source& clock = clock_source::steady())
      : pool_core(opts, clock),
        adapter_(std::move(adapter)),
        conns_(std::make_unique<std::optional<connection_type>[]>(opts.max_size)) {
    start();
  }

  /// Closes the pool and joins its thread. Aborts, naming each lease and
  /// where it was acquired, if leases are still outstanding. Not thread-safe
  /// with other members.
  ~pool() { shutdown(); }

  /// An idle connection now, or errc::would_block (none idle, or acquirers
  /// are queued and fairness sends this one behind them) or
  /// errc::pool_closed. Thread-safe. Never blocks. Never allocates.
  acquire_result try_acquire(std::source_location site = std::source_location::current()) noexcept {
    const std::uint32_t i = try_claim(site);
    if (i != detail::no_slot) [[likely]]
      return lease_type(this, &*conns_[i], i);
    acquire_error err;
    fill_would_block(err);
    return failure{std::move(err)};
  }

  /// Waits until deadline for a connection, FIFO among waiters. On failure:
  /// errc::timeout (with the pool's counts and the last creation error) or
  /// errc::pool_closed. Thread-safe. The fast path (a connection idle, no
  /// queue) never blocks, never allocates and reads no clock.
  acquire_result acquire_until(time_point deadline,
                               std::source_location site = std::source_location::current()) noexcept {
    const std::uint32_t i = try_claim(site);
    if (i != detail::no_slot) [[likely]]
      return lease_type(this, &*conns_[i], i);
    return wait_for_slot(deadline, site);
  }

  /// acquire_until(now + timeout); the clock is read only if it must wait.
  /// Thread-safe.
  template <class Rep, class Period>
  acquire_result acquire_for(std::chrono::duration<Rep, Period> timeout,
                             std::source_location site = std::source_location::current()) noexcept {
    const std::uint32_t i = try_claim(site);
    if (i != detail::no_slot) [[likely]]
      return lease_type(this, &*conns_[i], i);
    return wait_for_slot(deadline_after(timeout), site);
  }

  /// acquire_for(options().acquire_timeout). Thread-safe.
  acquire_result acquire(std::source_location site = std::source_location::current()) noexcept {
    return acquire_for(options().acquire_timeout, site);
  }

  /// Runs f(connection&) with a connection from acquire() and returns its
  /// result. Throws acquire_exception if none could be had; if f throws, the
  /// exception propagates and the connection is reset or discarded (see
  /// pool_options::on_unwind). Thread-safe.
  template <class F>
    requires std::is_invocable_v<F&&, connection_type&>
  decltype(auto) with(F&& f, std::source_location site = std::source_location::current()) {
    lease_type l = acquire(site).value();
    return std::forward<F>(f)(*l);
  }

  /// Soft-evicts the lease's connection (after a failover, or when the
  /// caller knows it is stale): the lease stays usable; the connection is
  /// closed when the lease ends instead of being returned. Thread-safe.
  /// Never blocks.
  void evict(const lease_type& l) noexcept {
    if (l.pool_ == this) evict_slot(l.slot_);
  }

  /// The adapter. Thread-safety: that of A's const members.
  const A& adapter() const noexcept { return adapter_; }

 private:
  friend class lease<A>;

  acquire_result wait_for_slot(time_point deadline, std::source_location site) noexcept {
    acquire_error err;
    const std::uint32_t i = claim_until(deadline, site, err);
    if (i != detail::no_slot) return lease_type(this, &*conns_[i], i);
    return failure{std::move(err)};
  }

  template <class Rep, class Period>
  time_point deadline_after(std::chrono::duration<Rep, Period> timeout) const noexcept {
    return clock_now() + std::chrono::duration_cast<clock_source::duration>(timeout);
  }

  result<void, adapter_error> open_slot(std::uint32_t i) noexcept override {
    try {
      auto r = adapter_.connect();
      if (!r) return failure{std::move(r).error()};
      conns_[i].emplace(std::move(*r));
      return {};
    } catch (const std::exception& e) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), e.what()}};
    } catch (...) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), "connect threw"}};
    }
  }

  result<void, adapter_error> reset_slot(std::uint32_t i) noexcept override {
    try {
      return adapter_.reset(*conns_[i]);
    } catch (const std::exception& e) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), e.what()}};
    } catch (...) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), "reset threw"}};
    }
  }

  result<void, adapter_error> validate_slot(std::uint32_t i) noexcept override {
    try {
      if constexpr (requires(A& a, connection_type& c, std::chrono::milliseconds t) {
                      { a.validate(c, t) } -> std::same_as<result<void, adapter_error>>;
                    })
        return adapter_.validate(*conns_[i], options().validation_timeout);
      else
        return adapter_.validate(*conns_[i]);
    } catch (const std::exception& e) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), e.what()}};
    } catch (...) {
      return failure{adapter_error{make_error_code(errc::adapter_failure), "validate threw"}};
    }
  }

  void close_slot(std::uint32_t i) noexcept override {
    adapter_.close(*conns_[i]);
    conns_[i].reset();
  }

  A adapter_;
  /// Slot i's connection; engaged while slot i is not empty. Accessed only by
  /// the slot's current owner (slot_state.hpp).
  std::unique_ptr<std::optional<connection_type>[]> conns_;
};

}  // namespace berth
