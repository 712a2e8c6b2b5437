// statement_mode.hpp: how connection::execute(sql, params) sends a
// statement with parameters (options::statements, connection::open).
#pragma once

#include <cstdint>

namespace berth::postgres {

/// How a statement with parameters travels (the extended query protocol
/// either way; execute(sql) without parameters always uses the simple one).
enum class statement_mode : std::uint8_t {
  /// Prepared once per connection under a name (berth_<n>), cached by its
  /// SQL text, then Bind+Execute on each call: the server parses and plans
  /// it once per session (and may keep a generic plan). The first call costs
  /// an extra round trip. Needs every call to reach the same server session,
  /// so it fails behind a transaction-pooling PgBouncer (1.18: "prepared
  /// statement \"berth_1\" does not exist", 26000, or "already exists", 42P05).
  named,
  /// Parse+Bind+Execute of the unnamed statement in one round trip on every
  /// call (PQsendQueryParams); nothing is cached on the connection or the
  /// server. The server parses and plans each call anew (a CPU cost per call,
  /// not an extra round trip). Works wherever each call is its own unit:
  /// behind PgBouncer in transaction mode too.
  unnamed,
};

}  // namespace berth::postgres
