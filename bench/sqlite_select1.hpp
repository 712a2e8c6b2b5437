// sqlite_select1.hpp: issue 8's statement, shared by sqlite_bench.cpp and
// sqlite_icount_driver.cpp so that the timed and the counted cycle run the
// same code.
#pragma once

#include <berth/sqlite/connection.hpp>

#include <cstdint>

namespace berth::bench {

/// A prepared SELECT 1 from the connection's statement cache: step, read,
/// reset. Not thread-safe (the connection's own contract).
inline std::int64_t select1(berth::sqlite::connection& c) {
  auto& st = c.prepare("SELECT 1");
  (void)st.step();
  const auto v = st.get<std::int64_t>(0);
  st.reset();
  return v;
}

}  // namespace berth::bench
