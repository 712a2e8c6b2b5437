// sqlite_kv.hpp: the kv table that the SQLite benchmarks read, created and
// filled the same way by each (sqlite_bench.cpp, sqlite_mix_bench.cpp).
#pragma once

#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/statement.hpp>

#include <cstdint>
#include <string>

namespace berth::bench {

/// Creates kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL) if missing and inserts
/// (or replaces) the rows k = 0..rows-1, v = "value-<k>", on c, inside the
/// caller's transaction if one is open. Throws berth::sqlite::sqlite_error.
inline void fill_kv(berth::sqlite::connection& c, std::int64_t rows) {
  c.execute("CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  auto& ins = c.prepare("INSERT OR REPLACE INTO kv(k, v) VALUES (?1, ?2)");
  for (std::int64_t k = 0; k < rows; ++k) {
    ins.bind(1, k);
    ins.bind(2, "value-" + std::to_string(k));
    (void)ins.step();
    ins.reset();
  }
}

}  // namespace berth::bench
