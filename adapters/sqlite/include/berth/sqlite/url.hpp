// url.hpp: a SQLite pool, or a berth::sqlite::database, from a sqlite: URL.
//
//   sqlite:app.db                      a file, relative to the working directory
//   sqlite:/var/lib/app.db             an absolute path (also sqlite:///var/lib/app.db)
//   sqlite::memory:                    a private in-memory database (one per pool or database)
//   sqlite::memory:cache               the in-memory database named "cache", shared by name
//                                      within the process ([A-Za-z0-9._-], at most 64)
//   ...?<parameters>
//
// No host: "sqlite://x/..." is an error (write sqlite:///abs/path for an
// absolute path). Parameters:
//   busy_timeout=5s          sqlite::options::busy_timeout (duration)
//   wal=true                 sqlite::options::wal (boolean)
//   foreign_keys=true        sqlite::options::foreign_keys (boolean)
//   read_only=false          sqlite::options::read_only (boolean)
//   pragma=cache_size%3D-16000   one sqlite::options::pragmas entry; repeat for more
//   readers=4                make a berth::sqlite::database (one writer, this many
//                            read-only readers) instead of one pool; it then takes
//                            busy_timeout, foreign_keys, pragma, name (its pool_name)
//                            and default_timeout=30s, and no pool option
//   every pool_options field (berth/url_options.hpp), for a pool
// Values are parsed as berth/url_options.hpp describes; each of these but
// pragma may appear once; anything else is an error naming the parameter.
#pragma once

#include <berth/options.hpp>
#include <berth/registry.hpp>
#include <berth/sqlite/database.hpp>
#include <berth/sqlite/options.hpp>
#include <berth/url.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace berth::sqlite {

/// What a sqlite: URL describes. Thread-safety: a value type.
struct url_config {
  /// The connections' options (path or in_memory and name, and the
  /// adapter's parameters). Validated.
  options adapter;
  /// The pool's options: the base given to config_from_url with the URL's
  /// pool parameters applied. Validated. Unused when database is set.
  pool_options pool;
  /// Set when the URL has readers=N: the URL describes a
  /// berth::sqlite::database rather than a pool. Validated.
  std::optional<database_options> database;
};

/// Parses a sqlite: URL (see the file comment) over `base`. Throws url_error
/// naming the problem (a scheme other than sqlite, a host, no database, an
/// unknown parameter, a bad value, a value out of range) or options_error
/// when base itself is invalid. Allocates.
url_config config_from_url(const berth::url& u, pool_options base = {});
/// config_from_url(berth::url::parse(text), base). Allocates.
url_config config_from_url(std::string_view text, pool_options base = {});

/// Adds what the URL describes to reg under `name`: a
/// berth::pool<sqlite::adapter>, or a sqlite::database with readers=N (look
/// it up with reg.get<...>(name)). The pool's name, or the database's
/// pool_name, is `name` unless the URL sets name=. Throws as
/// config_from_url, registry_error as registry::emplace, and what the
/// constructor throws (e.g. errc::startup_failed when the file cannot be
/// opened). Thread-safe as registry::emplace. Blocks (opens connections).
void emplace_from_url(registry& reg, std::string name, const berth::url& u, pool_options base = {});

}  // namespace berth::sqlite
