// open_test.cpp: berth::open_pool dispatching URLs by scheme to the
// adapters, against a real SQLite file, in-memory databases and the test
// PostgreSQL server, and its errors.
#include <berth/open.hpp>

#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/sqlite/adapter.hpp>
#include <berth/sqlite/database.hpp>

#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace berth {
namespace {

using berth::testing::shared_pg_server;

std::string pg_url(const std::string& scheme, const std::string& query) {
  const auto& s = shared_pg_server();
  return scheme + "://" + s.user() + ":" + s.password() + "@" + s.host() + ":" + std::to_string(s.port()) + "/" +
         s.dbname() + "?" + query;
}

TEST(OpenPool, EachSchemeGoesToItsAdapter) {
  const auto dir = std::filesystem::temp_directory_path() / ("berth-open-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    // A service's configuration: names and URLs.
    const std::map<std::string, std::string> config = {
        {"orders", pg_url("postgresql", "max_size=3&application_name=berth_open_test")},
        {"audit", pg_url("postgres", "max_size=1")},
        {"cache", "sqlite::memory:?max_size=2"},
        {"local", "sqlite:" + (dir / "local.db").string() + "?readers=2"},
    };
    registry reg;
    for (const auto& [name, url] : config) open_pool(reg, name, url);

    auto orders = reg.get<pool<postgres::adapter>>("orders");
    EXPECT_EQ(orders->with([](postgres::connection& c) {
      return c.execute("SHOW application_name").value().get<std::string>(0, 0);
    }),
              "berth_open_test");
    EXPECT_EQ(reg.get<pool<postgres::adapter>>("audit")->options().max_size, 1u);
    reg.get<pool<sqlite::adapter>>("cache")->with([](sqlite::connection& c) { c.execute("CREATE TABLE t(x)"); });
    reg.get<sqlite::database>("local")->write([](sqlite::connection& c) { c.execute("CREATE TABLE t(x)"); });

    const stats_by_name s = reg.stats();
    std::vector<std::string> names;
    for (const auto& [n, st] : s) names.push_back(n);
    EXPECT_EQ(names, (std::vector<std::string>{"audit", "cache", "local/readers", "local/writer", "orders"}));
    EXPECT_EQ(s.at("orders").counts.max_size, 3u);
    reg.close_all();
  }
  std::filesystem::remove_all(dir);
}

TEST(OpenPool, SchemesOfThisBuild) {
  const auto s = open_schemes();
  EXPECT_EQ(std::vector<std::string_view>(s.begin(), s.end()),
            (std::vector<std::string_view>{"sqlite", "postgresql", "postgres"}));
}

TEST(OpenPool, ErrorsNameTheProblemAndNeverThePassword) {
  registry reg;
  const std::pair<std::string, std::string> cases[] = {
      {"mysql://u:Zx9Secret@h/db", "unknown scheme \"mysql\" (berth opens: sqlite, postgresql, postgres)"},
      {"postgresql://u:Zx9Secret@h:99999/db", "port \"99999\" is not a number in 1..65535"},
      {"postgresql://u:Zx9Secret@h/db?max_size=lots", "parameter max_size: \"lots\" is not a whole number"},
      {"sqlite:a.db?busy=1", "unknown parameter busy"},
      {"", "empty URL"},
  };
  for (const auto& [url, says] : cases) {
    try {
      open_pool(reg, "x", url);
      ADD_FAILURE() << "opened " << redact_url(url);
    } catch (const url_error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("Zx9Secret"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(reg.names().empty()) << "nothing added";
  open_pool(reg, "x", "sqlite::memory:");
  EXPECT_THROW(open_pool(reg, "x", "sqlite::memory:"), registry_error);
}

}  // namespace
}  // namespace berth
