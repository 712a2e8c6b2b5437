// adapter.hpp: berth::postgres::adapter, for berth::pool<berth::postgres::adapter>.
#pragma once

#include <berth/adapter.hpp>
#include <berth/postgres/connection.hpp>
#include <berth/postgres/options.hpp>

#include <chrono>

namespace berth::postgres {

/// Opens, checks, cleans and closes PostgreSQL sessions for a berth pool.
///   connect():   connection::open(conninfo, connect_timeout, statements),
///                then SET statement_timeout when configured.
///   validate(c, timeout): fails at once when c is broken or not idle
///                (a transaction or a command left open), else a ping (an
///                empty simple-protocol query, which PgBouncer forwards to a
///                server session) bounded by timeout (cancelled and marked
///                broken on timeout).
///   reset(c):    fails when c is broken or mid-command/COPY (the pool then
///                discards it); ROLLBACK when a transaction is open or
///                failed (live transaction guards then find their
///                transaction gone); then reset_query and the session settings.
///   needs_reset(c): on every ordinary release; true when c is broken, not
///                idle (a transaction open or failed, a command unfinished)
///                or has transaction guards alive, so reset() runs first;
///                always true when options::reset_query is set.
///   close(c):    PQfinish.
/// Errors are adapter_error with a postgres error_category() code and a
/// password-free message. Thread-safety: const after construction; its
/// functions may run concurrently for different connections.
class adapter {
 public:
  using connection_type = connection;

  /// Throws options_error naming the first invalid field.
  explicit adapter(options o);

  result<connection, adapter_error> connect();
  result<void, adapter_error> validate(connection& c);
  result<void, adapter_error> validate(connection& c, std::chrono::milliseconds timeout);
  result<void, adapter_error> reset(connection& c);
  /// berth::adapter's optional release check. No I/O (PQstatus,
  /// PQtransactionStatus, a counter). Thread-safety: the releasing thread owns c.
  bool needs_reset(const connection& c) const noexcept {
    return o_.reset_query.has_value() || c.broken() || c.transaction() != transaction_state::idle ||
           c.transaction_depth() != 0;
  }
  void close(connection& c) noexcept;

  const options& settings() const noexcept { return o_; }

 private:
  result<void, adapter_error> apply_session_settings(connection& c);
  options o_;
};

static_assert(berth::adapter<adapter>);
static_assert(berth::adapter_with_needs_reset<adapter>);

}  // namespace berth::postgres
