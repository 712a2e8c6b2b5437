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
#include <utility>
#include <vector>

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

// libpq echoes parts of a malformed conninfo in its message, and the
// example's connect passed it on word for word: `libpqxx_pool
// "postgresql://u:hunter2@[::1/db"` printed the password in its start-up
// error (found by a review of issue 8). The callables' redact now blanks it.
TEST(LibpqxxExample, ProgramNeverPrintsThePasswordOfAMalformedConninfoBug) {
  for (const auto& [conninfo, secret] : std::vector<std::pair<std::string, std::string>>{
           {"postgresql://u:hunter2@[::1/db", "hunter2"},
           {"postgresql://u:s%zzecret@localhost/db", "zzecret"},
           {"host=127.0.0.1 user=u password=hun ter2", "ter2"},
           {"host=127.0.0.1 user=u password='hunter2", "hunter2"},
       }) {
    const auto [status, output] = run_program(conninfo);
    EXPECT_EQ(status, 2) << conninfo << "\n" << output;
    EXPECT_EQ(output.find(secret), std::string::npos) << conninfo << " leaked:\n" << output;
  }
}

// The check is bounded by the time the pool allows: validate_for runs it
// under that statement timeout, local to its transaction, so the session's
// own setting (a lessee's SET) is what it was.
TEST(LibpqxxExample, ValidateForBoundsTheCheckAndKeepsTheSessionsSetting) {
  auto c = callables_for(shared_pg_server().conninfo());
  connection_ptr conn = c.connect();
  {
    pqxx::nontransaction tx(*conn);
    tx.exec0("SET statement_timeout = 7000");
  }
  ASSERT_TRUE(c.validate_for(conn, std::chrono::milliseconds(250)));
  pqxx::nontransaction tx(*conn);
  EXPECT_EQ(tx.exec1("SHOW statement_timeout")[0].as<std::string>(), "7s") << "the session's own setting";
}

}  // namespace
}  // namespace berth_examples::libpqxx
