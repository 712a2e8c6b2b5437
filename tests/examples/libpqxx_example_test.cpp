// libpqxx_example_test.cpp: runs examples/libpqxx_pool against the test
// suite's throwaway PostgreSQL server (support/pg_server.hpp), so CI runs the
// example: its logic in-process, then the program itself as a child process.
#include "libpqxx_pool.hpp"
#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <sys/wait.h>

namespace berth_examples::libpqxx {
namespace {

using berth::testing::shared_pg_server;

/// Runs the example program with BERTH_PG_CONNINFO=conninfo; returns its exit
/// status (-1 if it did not exit normally) and its combined output.
std::pair<int, std::string> run_program(const std::string& conninfo) {
  if (setenv("BERTH_PG_CONNINFO", conninfo.c_str(), 1) != 0) return {-1, "setenv failed"};
  FILE* p = popen(BERTH_EXAMPLE_LIBPQXX " 2>&1", "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string output;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) output += buf.data();
  const int status = pclose(p);
  unsetenv("BERTH_PG_CONNINFO");
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(LibpqxxExample, CountIsExactAndAbandonedTransactionsRollBack) {
  const outcome r = run_example(shared_pg_server().conninfo(), std::cout);
  EXPECT_TRUE(r.reads_consistent);
  EXPECT_EQ(r.counted, r.expected);
  EXPECT_EQ(r.expected, 8 * 100);
  EXPECT_EQ(r.rolled_back, 4) << "thread 7 abandons rows 0, 25, 50, 75";
  // function_adapter without a needs_reset callable resets each lease
  // released during unwinding (the rolled_back count above shows it); the
  // pool's `unwound` counter counts them only when it looks (stats.hpp).
  EXPECT_LE(r.stats.counts.total, 4u) << "max_size";
  EXPECT_EQ(r.stats.discarded, 0u);
  EXPECT_EQ(r.stats.timeouts, 0u);
}

TEST(LibpqxxExample, ProgramExitsZeroWithTheConninfoFromTheEnvironment) {
  const auto [status, output] = run_program(shared_pg_server().conninfo());
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("libpqxx: 800 rows (expected 800)"), std::string::npos) << output;
  EXPECT_NE(output.find("pool stats: total="), std::string::npos) << output;
}

TEST(LibpqxxExample, ProgramExitsTwoWhenItCannotConnect) {
  const auto [status, output] = run_program(shared_pg_server().conninfo_with_password("not-the-password"));
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("start-up failed"), std::string::npos) << output;
  EXPECT_EQ(output.find("not-the-password"), std::string::npos) << "libpq does not echo the password:\n" << output;
}

}  // namespace
}  // namespace berth_examples::libpqxx
