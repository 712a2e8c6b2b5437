// options.hpp: how berth::postgres::adapter opens and cleans connections.
#pragma once

#include <berth/options.hpp>
#include <berth/postgres/role.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace berth::postgres {

/// A plain struct, validated once by adapter's constructor (validate()).
struct options {
  /// libpq conninfo ("host=... port=... dbname=... user=... password=...") or
  /// URI ("postgresql://..."). Required: non-empty and parseable by libpq.
  std::string conninfo;
  /// Bound on one connect(), name resolution aside (see connection::open).
  /// Default 5 s; > 0 and <= berth::max_option_duration.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{5}};
  /// Run on every return of a connection to the pool (as PgBouncer's
  /// server_reset_query), by reset() after the rollback, e.g. "DISCARD ALL":
  /// needs_reset() is then always true, so each release costs this round
  /// trip in the releasing thread. Default none (reset() then runs only when
  /// a transaction or command was left open); when set, non-empty.
  std::optional<std::string> reset_query{};
  /// Applied to each session at connect and after reset_query
  /// (SET statement_timeout). Default none (the server's); when set, > 0 and
  /// <= berth::max_option_duration.
  std::optional<std::chrono::milliseconds> statement_timeout{};
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
