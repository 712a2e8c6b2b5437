// prometheus.hpp: berth's pool statistics as Prometheus metrics, through
// prometheus-cpp (the optional berth::prometheus library; Debian
// prometheus-cpp-dev).
//
//   auto pools = std::make_shared<berth::registry>();
//   pools->emplace<berth::pool<pg_adapter>>("orders", pg_adapter{...}, berth::pool_options{.max_size = 8});
//   auto metrics = std::make_shared<berth::prometheus::collectable>();
//   metrics->add(pools);                        // every pool in it: pool="orders", "cache/writer", ...
//   metrics->add("audit", audit_pool);          // a std::shared_ptr<berth::pool<A>>: pool="audit"
//   prometheus::Exposer exposer{"0.0.0.0:9464"};  // the service's choice: berth starts no thread or server
//   exposer.RegisterCollectable(metrics);       // beside the service's own prometheus::Registry
//
// prometheus-cpp 1.0 serves Collectables through Exposer::RegisterCollectable
// (a prometheus::Registry is itself one); a service with its own HTTP server
// calls Collect() and prometheus::TextSerializer. Register one collectable
// per endpoint and add every pool to it: two collectables on one endpoint
// would both export the berth_pool_* families, which Prometheus rejects.
//
// The metrics (README.md, "Prometheus metrics", has the table): per pool,
// labelled pool="<name>", gauges berth_pool_connections{state}, _pending,
// _max, _min, _retiring, berth_pool_suspended, berth_pool_size_hint,
// berth_pool_breaker_state{state}; counters berth_pool_*_total; histograms
// berth_pool_acquire_wait_seconds, berth_pool_connection_creation_seconds
// and berth_pool_lease_hold_seconds (sampled). Names follow HikariCP's
// (hikaricp_connections_active, _pending, _max, ...) and Prometheus'
// conventions (base units, _total on counters).
//
// Inside namespace berth, `prometheus` names this namespace: spell
// prometheus-cpp's as ::prometheus.
#pragma once

#include <berth/registry.hpp>
#include <berth/stats.hpp>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace berth::prometheus {

/// The duration_histogram buckets exported as Prometheus buckets: every
/// second power of two of nanoseconds from 2^10 ns (1.024 us) to 2^36 ns
/// (68.7 s), as le = 2^b / 1e9 seconds, then +Inf. Bucket le = 2^b counts
/// the values below 2^b ns (berth's buckets are half-open), so a value of
/// exactly 2^b ns is counted from the next bound up.
inline constexpr std::array<std::size_t, 14> exported_buckets{10, 12, 14, 16, 18, 20, 22,
                                                              24, 26, 28, 30, 32, 34, 36};

/// The berth_pool_* metric families of these pools, one series per pool
/// and family, labelled pool="<name>" (invalid UTF-8 in a name is replaced
/// by U+FFFD, which Prometheus requires; prometheus-cpp's TextSerializer
/// escapes backslashes, quotes and newlines). Every family is returned,
/// without series when `pools` is empty. Pure. Allocates.
std::vector<::prometheus::MetricFamily> families(const stats_by_name& pools);

/// A prometheus-cpp Collectable over a set of sources of pool statistics,
/// added and removed at any time: pools and other registry entries (held
/// weakly), registries (held weakly), and callables (held until removed).
///
/// Lifetime: the exposer holds the collectable (weakly, while scraping), and
/// the collectable holds pools and registries weakly, so it never keeps a
/// pool alive: a source whose object is gone is dropped at the next
/// Collect(). A callable source is called until remove() returns; remove()
/// waits for a Collect() in progress, so after it the callable's referents
/// may go.
///
/// A pool name reported by two sources is exported once, from the source
/// added first. A source that throws from Collect() (a callable, or
/// std::bad_alloc) is left out of that scrape.
///
/// Distinct objects: safe. Shared objects: safe for add, remove, size and
/// Collect (from the exposer's threads); unsafe for destruction.
class collectable final : public ::prometheus::Collectable {
 public:
  /// Names a source for remove().
  using source_id = std::uint64_t;

  /// No sources. Never blocks.
  collectable() = default;
  collectable(const collectable&) = delete;
  collectable& operator=(const collectable&) = delete;
  /// Not thread-safe with other members.
  ~collectable() override = default;

  /// Adds a pool (a berth::pool<A>) or another registry entry type (a
  /// berth::sqlite::database: "<name>/writer" and "<name>/readers") under
  /// `name` (the pool label), held weakly. Throws std::invalid_argument for
  /// an empty name, a name that is not UTF-8 (two such names would become
  /// one label value), or a null object. Thread-safe. Takes the collectable's mutex (waits for a
  /// Collect() in progress). Allocates.
  template <registrable T>
  source_id add(std::string name, const std::shared_ptr<T>& object) {
    check_source(&name, object == nullptr);
    source s;
    s.name = std::move(name);
    s.object = object;
    s.read_object = [](const void* p, const std::string& n, stats_by_name& out) {
      registry_traits<T>::stats(*static_cast<const T*>(p), n, out);
    };
    return add_source(std::move(s));
  }

  /// Adds every pool of a registry, as registry::stats() names them
  /// ("orders", "cache/writer"), held weakly; entries added to the registry
  /// later appear at the next Collect(). Throws std::invalid_argument for
  /// null. Thread-safe. Takes the collectable's mutex. Allocates.
  source_id add(const std::shared_ptr<const registry>& pools);

  /// Adds a callable returning statistics by pool name (e.g.
  /// `[&reg] { return reg.stats(); }` for a registry that is not held by a
  /// shared_ptr). It is called from Collect(), in the exposer's threads,
  /// under the collectable's mutex (it must not call this collectable), until
  /// remove(id) returns. Throws std::invalid_argument for an empty callable.
  /// Thread-safe. Takes the collectable's mutex. Allocates.
  source_id add(std::function<stats_by_name()> read);

  /// Removes a source; false when there is none with this id (never added,
  /// removed, or dropped when its object went). When it returns, no
  /// Collect() is reading the source. Thread-safe. Blocks while a Collect()
  /// is in progress.
  bool remove(source_id id);

  /// The sources added and not removed nor dropped (a source whose object
  /// is gone counts until the next Collect()). Thread-safe. Takes the mutex.
  std::size_t size() const;

  /// families() of every source's pools. Thread-safe: concurrent calls
  /// take turns. Blocks while each pool's stats() takes its slow-path mutex
  /// briefly. Allocates.
  std::vector<::prometheus::MetricFamily> Collect() const override;

 private:
  struct source {
    // A weak source: name, object and read_object set. A callable: read.
    std::string name;
    std::weak_ptr<const void> object;
    void (*read_object)(const void*, const std::string&, stats_by_name&) = nullptr;
    std::function<stats_by_name()> read;
  };

  /// Throws std::invalid_argument naming the problem (name: null for a
  /// source whose pools are named by its own checks).
  static void check_source(const std::string* name, bool null_object);
  source_id add_source(source s);

  // Guarded by mutex_, which Collect() holds while it reads the sources (so
  // that remove() can promise no reader is left). Collect() drops the
  // sources whose object is gone.
  mutable std::mutex mutex_;
  mutable std::vector<std::pair<source_id, source>> sources_;
  source_id next_id_ = 1;
};

}  // namespace berth::prometheus
