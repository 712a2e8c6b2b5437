// read_guard.cpp: see read_guard.hpp.
#include "read_guard.hpp"

#include "connection_state.hpp"

#include <sqlite3.h>

#include <string_view>

namespace berth::sqlite::detail {

namespace {

/// Pragmas whose argument names what to inspect: read-only given a value.
constexpr std::string_view inspecting[] = {
    "table_info",       "table_xinfo",       "table_list",      "index_info",  "index_xinfo",
    "index_list",       "foreign_key_list",  "foreign_key_check", "integrity_check", "quick_check",
};
/// Pragmas that act on the database even without a value: optimize runs
/// ANALYZE, incremental_vacuum frees pages.
constexpr std::string_view writing_without_value[] = {"optimize", "incremental_vacuum"};

bool one_of(const char* name, const auto& list) noexcept {
  if (name == nullptr) return false;
  for (const std::string_view p : list)
    if (sqlite3_strnicmp(name, p.data(), static_cast<int>(p.size())) == 0 && name[p.size()] == '\0') return true;
  return false;
}

/// An allow list, so that an action code a later SQLite adds is refused
/// until someone decides otherwise. Allowed: what a read needs (reading
/// tables and columns, SELECT, functions, recursive CTEs, the read
/// transaction and savepoints of read() and nested guards) and pragmas that
/// only read. Refused: INSERT, UPDATE, DELETE (on any database, temp
/// included), every CREATE_* and DROP_* (tables, indexes, triggers, views,
/// virtual tables; temp ones too), ALTER TABLE, REINDEX, ANALYZE, ATTACH,
/// DETACH, and a PRAGMA given a value (query_only=0 among them; a reader's
/// settings come from database_options.pragmas at connect) other than one
/// whose argument names what to inspect, plus optimize and
/// incremental_vacuum, which write without one.
bool allowed(int action, const char* a1, const char* a2) noexcept {
  switch (action) {
    case SQLITE_READ:
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT: return true;
    case SQLITE_PRAGMA:
      if (one_of(a1, writing_without_value)) return false;
      return a2 == nullptr || one_of(a1, inspecting);
    case SQLITE_UPDATE:
      // Connecting a virtual table (json_each, pragma_table_info, ...) asks
      // this of a column of sqlite_master (sqlite3_declare_vtab parses the
      // table's declaration; "type" for json_each, "name" for
      // pragma_table_info): refusing it refused those reads. A real UPDATE
      // of sqlite_master is refused by SQLite itself unless writable_schema
      // is on, which takes a PRAGMA with a value, refused here (and the
      // connection is read-only or query_only besides).
      return a1 != nullptr && std::string_view(a1) == "sqlite_master";
    default: return false;
  }
}

int authorize(void* state, int action, const char* a1, const char* a2, const char* /*db*/,
              const char* /*trigger*/) noexcept {
  if (allowed(action, a1, a2)) return SQLITE_OK;
  static_cast<connection_state*>(state)->refused_action = action;
  return SQLITE_DENY;
}

/// What each refused action is called in the error.
struct named_action {
  int action;
  const char* name;
};
constexpr named_action action_names[] = {
    {SQLITE_INSERT, "an INSERT"},
    {SQLITE_UPDATE, "an UPDATE"},
    {SQLITE_DELETE, "a DELETE"},
    {SQLITE_CREATE_INDEX, "a CREATE"},
    {SQLITE_CREATE_TABLE, "a CREATE"},
    {SQLITE_CREATE_TRIGGER, "a CREATE"},
    {SQLITE_CREATE_VIEW, "a CREATE"},
    {SQLITE_CREATE_VTABLE, "a CREATE"},
    {SQLITE_CREATE_TEMP_INDEX, "a CREATE TEMP (temporary objects are writes too)"},
    {SQLITE_CREATE_TEMP_TABLE, "a CREATE TEMP (temporary objects are writes too)"},
    {SQLITE_CREATE_TEMP_TRIGGER, "a CREATE TEMP (temporary objects are writes too)"},
    {SQLITE_CREATE_TEMP_VIEW, "a CREATE TEMP (temporary objects are writes too)"},
    {SQLITE_DROP_INDEX, "a DROP"},
    {SQLITE_DROP_TABLE, "a DROP"},
    {SQLITE_DROP_TEMP_INDEX, "a DROP"},
    {SQLITE_DROP_TEMP_TABLE, "a DROP"},
    {SQLITE_DROP_TEMP_TRIGGER, "a DROP"},
    {SQLITE_DROP_TEMP_VIEW, "a DROP"},
    {SQLITE_DROP_TRIGGER, "a DROP"},
    {SQLITE_DROP_VIEW, "a DROP"},
    {SQLITE_DROP_VTABLE, "a DROP"},
    {SQLITE_ALTER_TABLE, "an ALTER TABLE"},
    {SQLITE_REINDEX, "a REINDEX"},
    {SQLITE_ANALYZE, "an ANALYZE"},
    {SQLITE_ATTACH, "an ATTACH"},
    {SQLITE_DETACH, "a DETACH"},
    {SQLITE_PRAGMA, "a PRAGMA that sets a value or writes (a reader's settings come from database_options.pragmas)"},
};
const char* action_name(int action) noexcept {
  for (const named_action& n : action_names)
    if (n.action == action) return n.name;
  return "a statement that is not a read";
}

}  // namespace

void install_read_guard(connection_state& s) noexcept {
  if (s.db != nullptr) (void)sqlite3_set_authorizer(s.db, &authorize, &s);
}

std::string read_guard_explanation(int action) {
  return std::string(": refused ") + action_name(action) +
         ": this connection is a reader of a berth::sqlite::database, which never writes; writes go through "
         "database::write()";
}

}  // namespace berth::sqlite::detail
