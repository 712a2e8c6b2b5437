// registry.hpp: berth::registry, named pools for a service that talks to
// several databases.
//
//   berth::registry reg;
//   auto orders = reg.emplace<berth::pool<pg_adapter>>("orders", pg_adapter{...}, berth::pool_options{.max_size = 8});
//   auto cache = reg.get<berth::pool<berth::sqlite::adapter>>("cache");  // a shared handle: keep it
//   for (const auto& [name, s] : reg.stats()) report(name, s);
//   reg.close_all();                                                     // at shutdown
//
// An entry is any pool<A>, or any type T for which registry_traits<T> says
// how to close it, drain it and report its pools' statistics (the SQLite
// adapter's database, which owns a writer and a reader pool, reports them
// as "<name>/writer" and "<name>/readers"). Entries are held by shared_ptr:
// a handle from get() keeps its object alive after the registry is gone.
//
// Lifetime, in order:
// - emplace()/insert() add entries (names are unique, non-empty, without "/").
// - get<T>() looks one up by name and type. It takes the registry's mutex:
//   it is meant for start-up and wiring, not for each request. Look a pool
//   up once and keep the handle.
// - close_all() closes every entry: new acquires fail with
//   errc::pool_closed, idle connections close now, leased ones when their
//   lease ends. It does not wait for leases (a sqlite::database's close()
//   does wait for its running calls: see its registry_traits). Entries stay
//   registered, so stats() still reports them; adding entries afterwards
//   fails (registry_errc::closed). Safe while leases are out.
// - ~registry() runs close_all(), then waits (drain) up to drain_timeout
//   (constructor) for every entry's leases to come back, then drops its
//   references. A pool whose last reference goes while a lease is still out
//   aborts the process, naming the lease (berth::pool's destructor): keep a
//   handle for as long as you hold leases of its pool, or return them within
//   drain_timeout.
//
// Thread-safety: distinct objects: safe. Shared objects: safe for every
// member except destruction; members take one mutex (never while an entry
// is being constructed, closed or drained), so lookups never wait for a
// pool's start-up. Each member's doc ends with its contract.
#pragma once

#include <berth/stats.hpp>

#include <chrono>
#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>
#include <utility>
#include <vector>

namespace berth {

/// Why a registry operation failed.
enum class registry_errc : int {
  /// emplace/insert: an entry already has this name. Pick another name, or
  /// get() the existing entry.
  duplicate_name = 1,
  /// get: no entry has this name. The message lists the names there are.
  unknown_name,
  /// get<T>: the entry is not a T. The message names both types.
  wrong_type,
  /// emplace/insert after close_all() (or during the destructor).
  closed,
  /// emplace/insert: the name is empty, is not valid UTF-8 (a JSON key and
  /// a Prometheus label), or contains "/" (which separates an entry's name
  /// from its pools' in stats()).
  invalid_name,
};

/// The category of registry_errc, named "berth.registry". Thread-safe.
const std::error_category& registry_category() noexcept;

/// Thread-safe. Never blocks.
inline std::error_code make_error_code(registry_errc e) noexcept { return {static_cast<int>(e), registry_category()}; }

/// Thrown by registry members; code() is a registry_errc, name() the entry's
/// name. Thread-safety: a value type.
class registry_error : public std::system_error {
 public:
  registry_error(registry_errc e, std::string name, const std::string& what)
      : std::system_error(make_error_code(e), what), name_(std::move(name)) {}
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
};

/// Statistics by pool name: an entry's own name, or "<entry>/<pool>" for an
/// entry that owns several pools. Thread-safety: a value type.
using stats_by_name = std::map<std::string, pool_stats, std::less<>>;

/// A type with a pool's close(), drain(timeout) and stats(): berth::pool<A>.
template <class T>
concept pool_like = requires(T& t, const T& ct, std::chrono::nanoseconds d) {
  { t.close() } noexcept;
  t.drain(d);
  { ct.stats() } -> std::same_as<pool_stats>;
};

/// How the registry closes, drains and reports an entry of type T: defined
/// for pool_like types (berth::pool<A>); specialize it for others
/// (berth/sqlite/database.hpp does). close and drain must be noexcept and
/// thread-safe; stats must be thread-safe.
template <class T>
struct registry_traits;

template <class T>
  requires pool_like<T>
struct registry_traits<T> {
  static void close(T& t) noexcept { t.close(); }
  static void drain(T& t, std::chrono::nanoseconds timeout) noexcept { (void)t.drain(timeout); }
  static void stats(const T& t, const std::string& name, stats_by_name& out) { out.insert_or_assign(name, t.stats()); }
};

/// A type the registry can hold: registry_traits<T> works for it.
template <class T>
concept registrable = requires(T& t, const T& ct, std::chrono::nanoseconds d, const std::string& n, stats_by_name& out) {
  { registry_traits<T>::close(t) } noexcept;
  { registry_traits<T>::drain(t, d) } noexcept;
  registry_traits<T>::stats(ct, n, out);
};

/// Named pools (see the file comment).
/// Distinct objects: safe. Shared objects: safe for emplace, insert, get,
/// contains, names, close_all, closed, stats; unsafe for destruction.
class registry {
 public:
  /// drain_timeout bounds the destructor's wait for outstanding leases (one
  /// deadline for all entries). Default 30 s. Never blocks.
  explicit registry(std::chrono::milliseconds drain_timeout = std::chrono::seconds{30}) noexcept
      : drain_timeout_(drain_timeout) {}
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;
  /// close_all(), then waits up to drain_timeout for every entry's leases,
  /// then releases its references (see the file comment). Not thread-safe
  /// with other members. Blocks.
  ~registry();

  /// Constructs a T from args under `name` and returns a handle on it. The
  /// name is checked first (registry_error: invalid_name, duplicate_name,
  /// closed), then T is constructed without the registry's lock held (a
  /// pool's start-up may block and throw: that exception propagates and
  /// nothing is added); if another thread took the name meanwhile, or
  /// close_all() ran, the new object is destroyed and registry_error
  /// thrown. Thread-safe. Blocks as T's constructor does. Allocates.
  template <registrable T, class... Args>
  std::shared_ptr<T> emplace(std::string name, Args&&... args) {
    check_free(name);
    auto object = std::make_shared<T>(std::forward<Args>(args)...);
    add(std::move(name), make_entry<T>(object));
    return object;
  }

  /// Adds an existing object under `name` (registry_error as emplace; a
  /// null object is std::invalid_argument). The registry shares ownership.
  /// Thread-safe. Allocates.
  template <registrable T>
  void insert(std::string name, std::shared_ptr<T> object) {
    if (!object) throw_null(name);
    add(std::move(name), make_entry<T>(std::move(object)));
  }

  /// The entry named `name`, which must be a T (exactly: no base classes).
  /// Throws registry_error: unknown_name (listing the names there are) or
  /// wrong_type (naming both types). Thread-safe. Takes the registry's
  /// mutex: call it at start-up and keep the handle. Never blocks otherwise.
  template <class T>
  std::shared_ptr<T> get(std::string_view name) const {
    return std::static_pointer_cast<T>(lookup(name, typeid(T)));
  }

  /// True if an entry has this name. Thread-safe.
  bool contains(std::string_view name) const;
  /// The entries' names, sorted. Thread-safe. Allocates.
  std::vector<std::string> names() const;

  /// Closes every entry (see the file comment); afterwards emplace/insert
  /// fail with registry_errc::closed. Idempotent. Safe while leases are
  /// out. Thread-safe. Never waits for leases; a pool's close() closes its
  /// idle connections in this thread.
  void close_all() noexcept;
  /// True once close_all() has run. Thread-safe. Never blocks.
  bool closed() const noexcept;

  /// Every entry's pools' statistics, by name (an entry's name, or
  /// "<entry>/<pool>": "cache/writer"). Thread-safe. Holds the registry's
  /// mutex while it asks each pool (each takes its own slow-path mutex
  /// briefly). Allocates.
  stats_by_name stats() const;

 private:
  struct entry {
    std::shared_ptr<void> object;
    const std::type_info* type;
    void (*close)(void*) noexcept;
    void (*drain)(void*, std::chrono::nanoseconds) noexcept;
    void (*stats)(const void*, const std::string&, stats_by_name&);
  };

  template <class T>
  static entry make_entry(std::shared_ptr<T> object) {
    return entry{std::move(object), &typeid(T),
                 [](void* p) noexcept { registry_traits<T>::close(*static_cast<T*>(p)); },
                 [](void* p, std::chrono::nanoseconds d) noexcept { registry_traits<T>::drain(*static_cast<T*>(p), d); },
                 [](const void* p, const std::string& n, stats_by_name& out) {
                   registry_traits<T>::stats(*static_cast<const T*>(p), n, out);
                 }};
  }

  /// Throws registry_error when name is invalid or taken, or after close_all().
  void check_free(const std::string& name) const;
  /// check_free, then inserts; all under the mutex.
  void add(std::string name, entry e);
  std::shared_ptr<void> lookup(std::string_view name, const std::type_info& type) const;
  [[noreturn]] static void throw_null(const std::string& name);
  void check_free_locked(const std::string& name) const;

  // Immutable after construction.
  const std::chrono::milliseconds drain_timeout_;
  // Guarded by mutex_. Entries are never removed, and none is added once
  // closed_ is set: from then on entries_ is immutable, and close_all() and
  // the destructor walk it without the mutex (no allocation, no lock held
  // while an entry closes or drains).
  mutable std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
  bool closed_ = false;
};

}  // namespace berth

template <>
struct std::is_error_code_enum<berth::registry_errc> : std::true_type {};
