#include "order_store.hpp"

#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/statement.hpp>

#include <utility>

namespace consumer {

order_store::order_store(berth::sqlite::options db, const berth::pool_options& pool)
    : pool_(berth::sqlite::adapter{std::move(db)}, pool) {}

void order_store::migrate() {
  pool_.with([](berth::sqlite::connection& c) {
    c.execute("CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL, cents INTEGER NOT NULL)");
  });
}

std::int64_t order_store::add(std::string_view item, std::int64_t cents) {
  return pool_.with([&](berth::sqlite::connection& c) {
    auto& insert = c.prepare("INSERT INTO orders(item, cents) VALUES (?1, ?2)");
    insert.bind(1, item);
    insert.bind(2, cents);
    (void)insert.step();
    insert.reset();
    return c.last_insert_rowid();
  });
}

std::int64_t order_store::total_cents() {
  return pool_.with([](berth::sqlite::connection& c) {
    auto& sum = c.prepare("SELECT coalesce(sum(cents), 0) FROM orders");
    (void)sum.step();
    const auto total = sum.get<std::int64_t>(0);
    sum.reset();
    return total;
  });
}

std::string order_store::pool_state() const { return pool_.counts().to_string(); }

}  // namespace consumer
