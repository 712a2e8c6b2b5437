// role.hpp: a server's role (primary or standby) and the role a pool wants,
// in libpq's target_session_attrs vocabulary, with the pure decisions the
// adapter takes on them.
//
// libpq (14+) chooses the server at connect: with target_session_attrs and a
// multi-host conninfo ("host=a,b port=5432,5433") it tries the hosts in
// order and keeps the first that satisfies the target, reading the server's
// in_hot_standby and default_transaction_read_only reports (14+ servers) or
// asking it (older ones). berth passes the target to libpq and re-applies
// the same rule to a connection it already holds (session_accepts()), since
// a server's role can change under an open session: a standby is promoted.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace berth::postgres {

/// What a server is, as far as a session can tell.
enum class server_role : std::uint8_t {
  /// Not known: the server reports no in_hot_standby (before PostgreSQL 14,
  /// or a proxy that does not forward it) and was not asked.
  unknown,
  /// Not in recovery: accepts writes (unless read-only by configuration).
  primary,
  /// In hot standby (recovery): read-only; writes fail with 25006.
  standby,
};

/// libpq's target_session_attrs values (PostgreSQL 14+ client library).
enum class session_target : std::uint8_t {
  any,             ///< "any": the first server that accepts the connection
  read_write,      ///< "read-write": not in hot standby and default_transaction_read_only off
  read_only,       ///< "read-only": in hot standby, or default_transaction_read_only on
  primary,         ///< "primary": not in hot standby
  standby,         ///< "standby": in hot standby
  prefer_standby,  ///< "prefer-standby": a standby if one accepts, else any
};

/// "unknown", "primary", "standby". Thread-safe.
std::string_view to_string(server_role r) noexcept;
/// libpq's spelling: "any", "read-write", "read-only", "primary", "standby",
/// "prefer-standby". Thread-safe.
std::string_view to_string(session_target t) noexcept;
/// The target libpq spells s, or nullopt when s is none of them. Thread-safe.
std::optional<session_target> parse_session_target(std::string_view s) noexcept;

/// Whether an open session on a server with role r (and
/// default_transaction_read_only = read_only) still satisfies target, by
/// libpq's rule at connect. any and prefer_standby accept every session (a
/// prefer-standby pool settles for a primary); an unknown role is accepted
/// where the role alone decides. Thread-safe. Pure.
bool session_accepts(session_target target, server_role r, bool read_only) noexcept;

/// Whether a write refused with 25006 (read_only_sql_transaction) on a
/// server with role r means a failover for a pool with this target: the
/// server is a standby and the pool expects to write there (any, read-write,
/// primary). A 25006 from a READ ONLY transaction on a primary, or on a
/// standby a read-only/standby/prefer-standby pool chose on purpose, is the
/// caller's own. Thread-safe. Pure.
bool write_refusal_means_failover(session_target target, server_role r) noexcept;

}  // namespace berth::postgres
