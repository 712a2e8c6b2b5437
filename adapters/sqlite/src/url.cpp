// url.cpp: see url.hpp.
#include <berth/sqlite/url.hpp>

#include <berth/url_options.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace berth::sqlite {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view memory_prefix = ":memory:";

/// The adapter's and the database's own parameters, for "known: ...".
constexpr std::string_view own_keys =
    "busy_timeout, wal, foreign_keys, read_only, pragma, readers, default_timeout (with readers)";

std::string known_for_pool() {
  std::string k(own_keys);
  k += ", and the pool options";
  for (const std::string_view p : pool_option_keys()) k.append(" ").append(p).append(",");
  k.pop_back();
  return k;
}

bool is_pool_key(std::string_view k) {
  const auto keys = pool_option_keys();
  return k == "on_event" || std::find(keys.begin(), keys.end(), k) != keys.end();
}

/// The reason of an options_error: its what() after "berth: invalid <struct>.<field>: ".
std::string why_of(const berth::options_error& e) {
  std::string w = e.what();
  const std::string marker = "." + e.field() + ": ";
  const std::size_t at = w.find(marker);
  return at == std::string::npos ? w : w.substr(at + marker.size());
}

/// Throws e as a url_error about the parameter that set its field (the n-th
/// pragma for "pragmas[n]", the path for path and name), else as it is.
[[noreturn]] void rethrow_for_url(const berth::options_error& e, const berth::url& u) {
  const std::string& f = e.field();
  if (f.starts_with("pragmas[")) {
    const std::size_t n = static_cast<std::size_t>(std::strtoul(f.c_str() + 8, nullptr, 10));
    std::size_t seen = 0;
    for (const url_param& p : u.params())
      if (p.key == "pragma" && seen++ == n) throw u.error("parameter pragma: " + why_of(e), &p);
  }
  if (f == "path" || f == "name") throw u.error("the database in the path (" + f + "): " + why_of(e));
  if (f == "pool_name") {
    if (const url_param* p = u.param("name")) throw u.error("parameter name: " + why_of(e), p);
  }
  if (const url_param* p = u.param(f)) throw u.error("parameter " + p->key + ": " + why_of(e), p);
  throw e;
}

}  // namespace

url_config config_from_url(const berth::url& u, pool_options base) {
  if (u.scheme() != "sqlite")
    throw u.error("scheme \"" + u.scheme() + "\" is not sqlite (berth::sqlite takes sqlite: URLs)");
  if (u.has_authority() && (!u.hosts().empty() || u.user()))
    throw u.error("a sqlite URL names no host or user: write sqlite:///abs/path.db (or sqlite:/abs/path.db) for an "
                  "absolute path, sqlite:relative.db for a relative one");
  url_config cfg;
  const std::string& path = u.path();
  if (path.empty())
    throw u.error("no database: write sqlite:app.db, sqlite:///abs/path.db, sqlite::memory: or "
                  "sqlite::memory:<name>");
  if (path.starts_with(memory_prefix)) {
    cfg.adapter.in_memory = true;
    cfg.adapter.name = path.substr(memory_prefix.size());
  } else {
    cfg.adapter.path = path;
  }

  const bool is_database = u.param("readers") != nullptr;
  database_options db;
  cfg.pool = std::move(base);
  for (const url_param& p : u.params()) {
    const std::string& k = p.key;
    if (k == "pragma") {
      cfg.adapter.pragmas.push_back(p.value);
      continue;
    }
    const bool own = k == "busy_timeout" || k == "foreign_keys" || k == "wal" || k == "read_only" || k == "readers" ||
                     k == "default_timeout";
    if (own) require_once(u, p);
    if (k == "busy_timeout") {
      cfg.adapter.busy_timeout = parse_duration<milliseconds>(u, p);
    } else if (k == "foreign_keys") {
      cfg.adapter.foreign_keys = parse_bool(u, p);
    } else if (k == "wal" || k == "read_only") {
      if (is_database)
        throw u.error("parameter " + k + ": not an option of a sqlite::database (readers= makes one), which "
                      "always runs WAL with a read-write writer and read-only readers",
                      &p);
      (k == "wal" ? cfg.adapter.wal : cfg.adapter.read_only) = parse_bool(u, p);
    } else if (k == "readers") {
      db.readers = parse_size(u, p);
    } else if (k == "default_timeout") {
      if (!is_database)
        throw u.error("parameter default_timeout: an option of a sqlite::database (add readers=N); a pool's "
                      "is acquire_timeout",
                      &p);
      db.default_timeout = parse_duration<milliseconds>(u, p);
    } else if (is_database) {
      if (k == "name") {
        require_once(u, p);
        db.pool_name = p.value;
      } else if (is_pool_key(k)) {
        throw u.error("parameter " + k + ": a pool option, but readers= makes a sqlite::database, which sizes "
                      "and configures its two pools itself (writer 1, readers N, acquire by default_timeout)",
                      &p);
      } else {
        throw_unknown_param(u, p, std::string(own_keys) + ", name");
      }
    } else if (!apply_pool_option(cfg.pool, u, p)) {
      throw_unknown_param(u, p, known_for_pool());
    }
  }

  if (auto e = validate(cfg.adapter)) rethrow_for_url(*e, u);
  if (is_database) {
    db.path = cfg.adapter.path;
    db.in_memory = cfg.adapter.in_memory;
    db.name = cfg.adapter.name;
    db.busy_timeout = cfg.adapter.busy_timeout;
    db.foreign_keys = cfg.adapter.foreign_keys;
    db.pragmas = cfg.adapter.pragmas;
    db.on_event = cfg.pool.on_event;
    if (auto e = validate(db)) rethrow_for_url(*e, u);
    cfg.database = std::move(db);
  } else {
    validate_from_url(cfg.pool, u);
  }
  return cfg;
}

url_config config_from_url(std::string_view text, pool_options base) {
  return config_from_url(berth::url::parse(text), std::move(base));
}

void emplace_from_url(registry& reg, std::string name, const berth::url& u, pool_options base) {
  url_config cfg = config_from_url(u, std::move(base));
  const bool named = u.param("name") != nullptr;
  if (cfg.database) {
    if (!named) cfg.database->pool_name = name;
    reg.emplace<database>(std::move(name), std::move(*cfg.database));
  } else {
    if (!named) cfg.pool.name = name;
    reg.emplace<berth::pool<adapter>>(std::move(name), adapter(std::move(cfg.adapter)), cfg.pool);
  }
}

}  // namespace berth::sqlite
