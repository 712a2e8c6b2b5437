// errc.hpp: berth's error codes, wired into std::error_code.
#pragma once

#include <string>
#include <system_error>

namespace berth {

/// Why a pool operation failed. Each value says when it occurs and what to do.
enum class errc : int {
  /// acquire_for/acquire_until/acquire: the deadline passed with no connection.
  /// The error carries the pool's counts and the last creation failure: if
  /// total == max_size and leased == total, the pool is exhausted (raise
  /// max_size or find the code holding leases); if a creation error is
  /// present and total is low, the database is unreachable.
  timeout = 1,
  /// try_acquire: no connection was idle at that instant. Retry later or block.
  would_block,
  /// The pool was closed or is draining: no further acquires. Not retryable.
  pool_closed,
  /// Start-up in fail-fast mode could not open min_idle connections. The
  /// adapter's message says why (host, credentials, path).
  startup_failed,
  /// drain(timeout): leases were still outstanding when the timeout passed;
  /// they are closed as they come back.
  drain_timeout,
  /// An adapter call (connect, validate, reset) failed; the message is the
  /// adapter's.
  adapter_failure,
  /// An asynchronous acquire was cancelled before it completed (its
  /// handle's cancel() returned true, or its Asio cancellation slot fired).
  /// Any connection handed to it at that moment went back to the pool.
  cancelled,
  /// An acquire found no idle connection while the circuit breaker on
  /// connection creation was open (or probing): creating connections kept
  /// failing (pool_options::breaker_threshold within breaker_window), so the
  /// acquire failed at once instead of waiting out its deadline; a queued
  /// acquirer gets it when the breaker opens. The error carries the last
  /// creation error (host unreachable, authentication, ...). The database
  /// or the network is down: degrade, shed load or retry later (the pool
  /// probes again after breaker_recovery, and serves as soon as a probe
  /// succeeds).
  database_unavailable,
  /// replica_router::acquire_read()/read(): no replica was usable (all
  /// ejected after failures, or lagging beyond router_options::
  /// max_replica_lag) and router_options::fallback_to_primary is false. The
  /// router's stats() say which replica is in which state. Retry later, or
  /// allow the fallback.
  no_replica,
  /// The pool was inherited from the parent process through fork(): its
  /// threads do not exist in this process and its connections are the
  /// parent's sessions, so it hands out nothing here (berth/fork.hpp). Not
  /// retryable: create a new pool in the child (the inherited one may be
  /// destroyed; it then leaks its connections instead of closing them).
  forked,
};

/// The category of berth::errc. Thread-safe.
const std::error_category& error_category() noexcept;

/// Thread-safe. Never blocks.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace berth

template <>
struct std::is_error_code_enum<berth::errc> : std::true_type {};
