// order_store.hpp: the consumer service's one piece of logic: orders kept in
// a SQLite database whose connections a berth pool hands out.
#pragma once

#include <berth/options.hpp>
#include <berth/pool.hpp>
#include <berth/sqlite/adapter.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace consumer {

/// Orders in one SQLite database, through a pool of its connections.
/// Distinct objects: safe. Shared objects: safe (each call leases its own
/// connection).
class order_store {
 public:
  /// Opens the pool (min_idle connections at once; throws if they fail).
  explicit order_store(berth::sqlite::options db, const berth::pool_options& pool = {.name = "orders"});

  /// Creates the orders table if it is missing.
  void migrate();
  /// Records an order and returns its id.
  std::int64_t add(std::string_view item, std::int64_t cents);
  /// The sum of all orders, in cents.
  std::int64_t total_cents();
  /// The pool's counts, as its timeout errors print them.
  std::string pool_state() const;
  /// The pool, for callers that acquire on their own (asio_probe.cpp).
  berth::pool<berth::sqlite::adapter>& pool() noexcept { return pool_; }

 private:
  berth::pool<berth::sqlite::adapter> pool_;
};

}  // namespace consumer
