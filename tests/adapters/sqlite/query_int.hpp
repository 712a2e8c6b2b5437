// query_int.hpp: the first column of the first row of a query, for tests.
#pragma once

#include <berth/sqlite/connection.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace berth::sqlite::testing {

/// Runs `sql` (cached) and returns its first row's first column as an
/// integer; a test failure when there is no row (get() then throws).
inline std::int64_t query_int(connection& c, const std::string& sql) {
  auto& st = c.prepare(sql);
  EXPECT_TRUE(st.step()) << sql;
  const auto v = st.get<std::int64_t>(0);
  st.reset();
  return v;
}

}  // namespace berth::sqlite::testing
