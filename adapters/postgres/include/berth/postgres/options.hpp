// options.hpp: how berth::postgres::adapter opens and cleans connections.
#pragma once

#include <berth/options.hpp>
#include <berth/postgres/statement_mode.hpp>
#include <berth/postgres/role.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace berth::postgres {

/// What sits between the adapter and the server, as far as sessions go.
enum class pooler_mode : std::uint8_t {
  /// Each connection is one server session for its whole life: a direct
  /// connection, or PgBouncer with pool_mode = session.
  none,
  /// A transaction pooler (PgBouncer pool_mode = transaction): each
  /// transaction, or each statement outside one, may run on another server
  /// session, shared with other clients. Session state does not follow the
  /// connection and leaks to other clients, so validate() then refuses what
  /// relies on it (see options). PgBouncer's statement mode (no
  /// multi-statement transactions) is not supported.
  transaction,
};

/// A plain struct, validated once by adapter's constructor (validate()).
struct options {
  /// libpq conninfo ("host=... port=... dbname=... user=... password=...") or
  /// URI ("postgresql://..."). Required: not blank, no NUL byte, and
  /// parseable by libpq.
  std::string conninfo;
  /// Bound on one connect(), name resolution aside (see connection::open),
  /// session settings (statement_timeout) included.
  /// Default 5 s; > 0 and <= berth::max_option_duration.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{5}};
  /// Bound on each statement the adapter runs to clean a session up: on
  /// return to the pool, in the releasing thread (the ROLLBACK of a
  /// transaction left open, reset_query, the session settings after it:
  /// up to three, each bounded), and a transaction guard's rollback.
  /// Past it the connection is discarded (its state is unknown; a
  /// savepoint's rollback that overruns loses the outer transaction with
  /// it) rather than the thread held on a server gone silent. A slower
  /// legitimate ROLLBACK or reset_query costs a reconnect. Default 5 s; > 0
  /// and <= berth::max_option_duration.
  std::chrono::milliseconds reset_timeout{std::chrono::seconds{5}};
  /// Run on every return of a connection to the pool (as PgBouncer's
  /// server_reset_query), by reset() after the rollback, e.g. "DISCARD ALL":
  /// needs_reset() is then always true, so each release costs this round
  /// trip in the releasing thread. Default none (reset() then runs only when
  /// a transaction or command was left open); when set, non-empty and no
  /// COPY to or from the client, which execute() refuses (validate() refuses
  /// a text that every session would read as one, whatever its
  /// standard_conforming_strings and client encoding). Must be
  /// none with pooler_mode::transaction: there the connection has no session
  /// of its own to reset, and the query would run on whichever server
  /// session the pooler picks, one that other clients share.
  std::optional<std::string> reset_query{};
  /// Applied to each session at connect and after reset_query
  /// (SET statement_timeout), and again at release after a lease ran a
  /// SET, RESET or DISCARD ALL through execute() (which may have changed or
  /// reset it; not seen through native_handle() or set_config()). Default none (the server's); when set, > 0 and
  /// <= 2,147,483,647 ms (PostgreSQL's limit, about 24.8 days). Must be none with
  /// pooler_mode::transaction: the SET would land on one shared server
  /// session and apply to other clients' statements there, not to this
  /// connection's later ones. Set it where the server sessions are made
  /// instead (ALTER ROLE ... SET statement_timeout, or the pooler's
  /// connect_query), or bound calls with connection::execute_for().
  std::optional<std::chrono::milliseconds> statement_timeout{};
  /// How execute(sql, params) sends a statement (statement_mode.hpp): named
  /// (default) prepares once per connection and caches it; unnamed sends it
  /// whole each call, so the server parses and plans it every time, in the
  /// same single round trip. Must be statement_mode::unnamed with
  /// pooler_mode::transaction, where named statements fail (26000 / 42P05).
  statement_mode statements = statement_mode::named;
  /// What sits between the adapter and the server. Default none; set
  /// pooler_mode::transaction behind PgBouncer in transaction mode, and
  /// validate() checks the fields above against it. The adapter's behaviour
  /// is the same either way: rollback of a transaction left open on release
  /// and validation (an empty query) work through PgBouncer.
  pooler_mode pooler = pooler_mode::none;
  /// Which server a connection must reach (role.hpp; libpq's
  /// target_session_attrs). Set: passed to libpq, which picks the server at
  /// connect (with "host=a,b", the first that satisfies it); it must not
  /// contradict a target_session_attrs in conninfo. Default none: the
  /// conninfo's target_session_attrs, else libpq's environment variable
  /// PGTARGETSESSIONATTRS, else any. Either way the adapter re-checks it on
  /// connections it holds and discards those whose server no longer
  /// satisfies it (adapter.hpp: failover).
  std::optional<session_target> target_session_attrs{};
};

/// The first invalid field as an options_error whose field() is
/// the field (what(): "berth: invalid postgres::options.<field>: ..."), or nullopt. Thread-safe.
std::optional<options_error> validate(const options& o);

}  // namespace berth::postgres
