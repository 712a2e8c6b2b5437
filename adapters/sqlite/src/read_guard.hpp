// read_guard.hpp (private): the authorizer that keeps the readers of a
// berth::sqlite::database from writing.
//
// SQLITE_OPEN_READONLY (files) and PRAGMA query_only (in memory) keep a
// reader off the main database, but neither covers everything: an
// in-memory reader could run PRAGMA query_only=0 and then write, and a
// read-only file connection could still create and fill TEMP tables. The
// authorizer (sqlite3_set_authorizer) refuses at prepare time what would
// write, whichever database it names. Statements are prepared once per
// connection and cached: the check costs nothing per step.
#pragma once

#include <string>

namespace berth::sqlite::detail {

struct connection_state;

/// Installs the read guard on s (open). Call after connect's own pragmas,
/// which it would refuse. A refusal makes prepare (or a re-prepare at
/// step) fail with SQLITE_AUTH and records the action in
/// s.refused_action, which connection_state::fail() explains with
/// read_guard_explanation(). Never throws.
void install_read_guard(connection_state& s) noexcept;

/// ": <what was refused>; this connection is a reader of a
/// berth::sqlite::database, ... write()" for an action code. Allocates.
std::string read_guard_explanation(int action);

}  // namespace berth::sqlite::detail
