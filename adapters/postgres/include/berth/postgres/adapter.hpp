// adapter.hpp: berth::postgres::adapter, for berth::pool<berth::postgres::adapter>.
#pragma once

#include <berth/adapter.hpp>
#include <berth/postgres/connection.hpp>
#include <berth/postgres/options.hpp>

#include <chrono>
#include <memory>

namespace berth::postgres {

/// Opens, checks, cleans and closes PostgreSQL sessions for a berth pool.
///   connect():   connection::open(conninfo, connect_timeout, statements) with
///                target_session_attrs when set (libpq picks the server),
///                then SET statement_timeout when configured.
///   validate(c, timeout): fails at once when c is broken, superseded (see
///                failover below) or not idle (a transaction or a command
///                left open), else a ping bounded by timeout (marked broken
///                on timeout, no cancel sent; an empty simple-protocol query, which
///                PgBouncer forwards to a server session), which also brings the server's
///                current role; then fails if c turned out superseded. (A
///                server that reports no in_hot_standby is asked its role
///                instead of pinged, unless the target is any.)
///   reset(c):    fails when c is broken, superseded, mid-command/COPY or
///                left in libpq's pipeline mode (the pool then discards it);
///                ROLLBACK when a transaction is open or failed (live
///                transaction guards then find their transaction gone); then
///                reset_query and the session settings, or the session
///                settings alone when a SET, RESET or DISCARD ALL ran on c
///                (connection::settings_touched(): it may have changed or
///                reset statement_timeout).
///   needs_reset(c): on every ordinary release; true when c is broken,
///                superseded, not idle (a transaction open or failed, a
///                command unfinished), in pipeline mode, has transaction
///                guards alive, or (with options::statement_timeout) ran a
///                SET, RESET or DISCARD ALL, so reset() runs first; always
///                true when options::reset_query is set.
///   close(c):    PQfinish.
///
/// Failover (issue 11). The adapter knows the role each connection's server
/// reports (connection::role()) and the role it wants (target(): options::
/// target_session_attrs, libpq's vocabulary). A connection is superseded,
/// and discarded by the pool, when
///   - a statement on it fails with 25006 on a standby while the target is
///     any, read-write or primary (the server it writes to was demoted), or
///     its server's role stops satisfying the target (a standby promoted
///     under a standby pool; a primary found in recovery): then so is every
///     connection of this adapter to the same host:port opened before;
///   - its own session stops satisfying the target (read-write, but
///     default_transaction_read_only became on): that connection only.
/// A session its server closes while it sits idle in the pool (a backend
/// terminated by pg_terminate_backend, a server shutting down) is found
/// without a round trip: each session's socket is watched, by one thread
/// per adapter, for the server's end of the connection (epoll, EPOLLRDHUP;
/// src/peer_watcher.hpp), and the pool sweeps its idle connections at once,
/// closing it within a thread wake-up of the server's goodbye, not after
/// validation_bypass. An acquire inside that wake-up still gets it, and its
/// first statement fails as connection_lost (then it is discarded).
///
/// When a whole server is superseded the adapter has its pool sweep
/// (berth::adapter_with_sweep) in the thread that found out, before the
/// failing call returns: idle connections to that server are closed at once,
/// those in use are validated (and so discarded) by their next acquirer, so
/// none is handed out again. New connections go where libpq's target sends
/// them: with "host=a,b target_session_attrs=read-write" to the new primary.
///
/// Errors are adapter_error with a postgres error_category() code and a
/// password-free message. Thread-safety: its functions may run concurrently
/// for different connections; failover bookkeeping is shared by the
/// adapter and its connections and thread-safe. A copy starts its own
/// bookkeeping (its connections and the original's are not related); a pool
/// owns its adapter.
class adapter {
 public:
  using connection_type = connection;

  /// Throws options_error naming the first invalid field.
  explicit adapter(options o);
  adapter(const adapter& o);
  adapter& operator=(const adapter& o);
  adapter(adapter&&) noexcept = default;
  adapter& operator=(adapter&&) noexcept = default;
  ~adapter();

  result<connection, adapter_error> connect();
  result<void, adapter_error> validate(connection& c);
  result<void, adapter_error> validate(connection& c, std::chrono::milliseconds timeout);
  result<void, adapter_error> reset(connection& c);
  /// berth::adapter's optional release check. No I/O (PQstatus,
  /// PQtransactionStatus, counters, an atomic load). Thread-safety: the
  /// releasing thread owns c.
  bool needs_reset(const connection& c) const noexcept {
    return o_.reset_query.has_value() || c.broken() || c.transaction() != transaction_state::idle ||
           c.transaction_depth() != 0 || c.superseded() || c.peer_closed() || c.pipelined() ||
           (o_.statement_timeout.has_value() && c.settings_touched());
  }
  void close(connection& c) noexcept;

  /// berth::adapter_with_sweep: a sweep closes superseded idle connections,
  /// and ones whose server closed them (connection::peer_closed). No I/O.
  /// Thread-safety: the sweep owns c.
  bool should_evict(const connection& c) const noexcept { return c.superseded() || c.peer_closed(); }
  /// berth::adapter_with_sweep: the pool to sweep when a server is
  /// superseded (nullptr: none). Waits for a sweep in progress. Thread-safe.
  void attach(sweep_target* t) noexcept;

  /// The role connections must reach: options::target_session_attrs, else
  /// the conninfo's, else PGTARGETSESSIONATTRS, else any.
  session_target target() const noexcept { return target_; }
  const options& settings() const noexcept { return o_; }

 private:
  result<void, adapter_error> apply_session_settings(connection& c, std::chrono::milliseconds bound);
  options o_;
  session_target target_ = session_target::any;
  /// Failover bookkeeping shared with the connections (null once moved from).
  std::shared_ptr<detail::failover_tracker> tracker_;
};

static_assert(berth::adapter<adapter>);
static_assert(berth::adapter_with_needs_reset<adapter>);
static_assert(berth::adapter_with_sweep<adapter>);

}  // namespace berth::postgres
