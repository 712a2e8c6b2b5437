// pg_environment.cpp: the one server a GoogleTest binary shares
// (shared_pg_server()), stopped by a GoogleTest environment at the end. Kept
// apart from pg_server.cpp so that programs without GoogleTest (benchmarks)
// can start a pg_server of their own.
#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>

namespace berth::testing {

namespace {

struct shared_state {
  std::optional<pg_server> server;
  std::string start_error;  // a failed start is not retried by every test
  bool tried = false;
};
shared_state& shared() {
  static shared_state s;
  return s;
}

/// Stops the shared server when the test program ends normally.
class pg_environment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (shared().server) shared().server->stop();
  }
};
[[maybe_unused]] ::testing::Environment* const registered_environment =
    ::testing::AddGlobalTestEnvironment(new pg_environment);

}  // namespace

pg_server& shared_pg_server() {
  shared_state& s = shared();
  if (!s.tried) {
    s.tried = true;
    try {
      s.server.emplace(pg_server::start());
    } catch (const std::exception& e) {
      s.start_error = e.what();
    }
  }
  if (!s.server) throw std::runtime_error("shared PostgreSQL server unavailable: " + s.start_error);
  return *s.server;
}

}  // namespace berth::testing
