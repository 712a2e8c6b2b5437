// pg_environment.cpp: the one server (shared_pg_server()) and the one
// primary/standby pair (shared_pg_pair()) a GoogleTest binary shares, each
// started on first use and stopped by a GoogleTest environment at the end.
// Kept apart from pg_server.cpp so that programs without GoogleTest
// (benchmarks) can start a pg_server or pg_pair of their own.
#include "support/pg_pair.hpp"
#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>

namespace berth::testing {

namespace {

/// One lazily started fixture; a failed start is not retried by every test.
template <class T>
struct shared_state {
  std::optional<T> value;
  std::string start_error;
  bool tried = false;

  template <class Start>
  T& get(Start start, const char* what) {
    if (!tried) {
      tried = true;
      try {
        value.emplace(start());
      } catch (const std::exception& e) {
        start_error = e.what();
      }
    }
    if (!value) throw std::runtime_error(std::string(what) + " unavailable: " + start_error);
    return *value;
  }
};
shared_state<pg_server>& shared_server() {
  static shared_state<pg_server> s;
  return s;
}
shared_state<pg_pair>& shared_pair() {
  static shared_state<pg_pair> s;
  return s;
}

/// Stops the shared servers when the test program ends normally.
class pg_environment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (shared_pair().value) shared_pair().value->stop();
    if (shared_server().value) shared_server().value->stop();
  }
};
[[maybe_unused]] ::testing::Environment* const registered_environment =
    ::testing::AddGlobalTestEnvironment(new pg_environment);

}  // namespace

pg_server& shared_pg_server() { return shared_server().get(pg_server::start, "shared PostgreSQL server"); }

pg_pair& shared_pg_pair() { return shared_pair().get(pg_pair::start, "shared PostgreSQL primary/standby pair"); }

}  // namespace berth::testing
