// url_test.cpp: PostgreSQL pools from postgresql:// URLs: what goes to libpq
// and what berth keeps, against the test server (one host and a multi-host
// list), and the errors of bad URLs, none showing the password.
#include <berth/postgres/url.hpp>

#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/registry.hpp>

#include "support/pg_server.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::postgres {
namespace {

using namespace std::chrono_literals;
using berth::testing::shared_pg_server;
using pg_pool = berth::pool<adapter>;

/// postgresql://user:password@127.0.0.1:port/dbname for the test server.
std::string server_url(const std::string& query = {}, const std::string& password = {}) {
  const auto& s = shared_pg_server();
  return "postgresql://" + s.user() + ":" + (password.empty() ? s.password() : password) + "@" + s.host() + ":" +
         std::to_string(s.port()) + "/" + s.dbname() + (query.empty() ? "" : "?" + query);
}

std::string show(connection& c, const std::string& setting) {
  return c.execute("SHOW " + setting).value().get<std::string>(0, 0);
}

TEST(PostgresUrl, BerthsParametersAreTakenOutAndTheRestGoesToLibpqAsWritten) {
  const url_config cfg = config_from_url(
      "postgresql://app:pw@h1:5432,[::1]:6432/orders?sslmode=disable&max_size=4&application_name=my%20app"
      "&connect_timeout=7&statement_timeout=2s&reset_query=DISCARD%20ALL&target_session_attrs=read-write");
  EXPECT_EQ(cfg.adapter.conninfo,
            "postgresql://app:pw@h1:5432,[::1]:6432/orders?sslmode=disable&application_name=my%20app"
            "&target_session_attrs=read-write");
  EXPECT_EQ(cfg.adapter.connect_timeout, 7s) << "a bare number is libpq's seconds";
  EXPECT_EQ(cfg.adapter.statement_timeout, 2s);
  EXPECT_EQ(cfg.adapter.reset_query, "DISCARD ALL");
  EXPECT_EQ(cfg.pool.max_size, 4u);

  EXPECT_EQ(config_from_url("postgres://h/db?connect_timeout=1500ms").adapter.connect_timeout, 1500ms);
  EXPECT_EQ(config_from_url("postgres://h/db?reset_timeout=250ms").adapter.reset_timeout, 250ms);
  EXPECT_EQ(config_from_url("postgres://h/db?reset_timeout=250ms").adapter.conninfo, "postgres://h/db")
      << "berth's, not libpq's";
  EXPECT_EQ(config_from_url("postgresql://").adapter.conninfo, "postgresql://") << "libpq's defaults";
  EXPECT_EQ(config_from_url("postgresql:///db?host=%2Ftmp&ssl=true").adapter.conninfo,
            "postgresql:///db?host=%2Ftmp&ssl=true");
}

TEST(PostgresUrl, APoolFromTheUrlConnectsWithItsSettings) {
  registry reg;
  emplace_from_url(reg, "orders",
                   berth::url::parse(server_url("max_size=2&application_name=berth_url_test&statement_timeout=1500ms")));
  auto p = reg.get<pg_pool>("orders");
  EXPECT_EQ(p->options().name, "orders");
  EXPECT_EQ(p->options().max_size, 2u);
  p->with([](connection& c) {
    EXPECT_EQ(show(c, "application_name"), "berth_url_test") << "libpq's parameter reached the server";
    EXPECT_EQ(show(c, "statement_timeout"), "1500ms") << "berth's parameter set the session";
  });
  EXPECT_EQ(reg.stats().at("orders").counts.max_size, 2u);
}

// libpq's multi-host list passes through: the first host refuses (port 1 on
// loopback), libpq moves on to the second.
TEST(PostgresUrl, AMultiHostListIsLibpqs) {
  const auto& s = shared_pg_server();
  registry reg;
  emplace_from_url(reg, "multi",
                   berth::url::parse("postgresql://" + s.user() + ":" + s.password() + "@127.0.0.1:1," + s.host() +
                                     ":" + std::to_string(s.port()) + "/" + s.dbname() + "?connect_timeout=5s"));
  EXPECT_EQ(reg.get<pg_pool>("multi")->with([](connection& c) {
    return c.execute("SELECT 1").value().get<std::int64_t>(0, 0);
  }),
            1);
}

TEST(PostgresUrl, AWrongPasswordFailsTheEmplaceWithoutShowingIt) {
  registry reg;
  try {
    emplace_from_url(reg, "bad", berth::url::parse(server_url("connect_timeout=3s", "Zx9WrongSecret")));
    ADD_FAILURE() << "connected with a wrong password";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), berth::errc::startup_failed) << e.what();
    EXPECT_EQ(std::string(e.what()).find("Zx9WrongSecret"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(reg.contains("bad"));
}

// Found by fuzz/postgres_url_fuzzer ("Postgres://:QZJX=@"): berth takes the
// scheme in any case, libpq only "postgresql://" and "postgres://"; it read
// the rest as a key=value string, rejected it and echoed the text, password
// included, in its message. The conninfo now has the scheme lowercased.
TEST(PostgresUrl, SchemeInAnyCaseReachesLibpqAsAUriBug) {
  const url_config cfg = config_from_url("POSTGRESQL://app:Zx9Secret@h1:5432/orders?max_size=4");
  EXPECT_EQ(cfg.adapter.conninfo, "postgresql://app:Zx9Secret@h1:5432/orders");
  EXPECT_EQ(config_from_url("Postgres://h/db").adapter.conninfo, "postgres://h/db");
  EXPECT_EQ(config_from_url("Postgres://:Zx9Secret=@").adapter.conninfo, "postgres://:Zx9Secret=@")
      << "libpq's parse error showed \"Postgres://:Zx9Secret\"";
}

// Found by fuzz/postgres_url_fuzzer ("postgres://?options=@"): libpq takes
// the user information up to the first "@" before any "/", past a "?":
// postgresql://h?application_name=a:Zx9Secret@c connects to host c with
// password "Zx9Secret", where berth read host h and a parameter, and showed
// that "parameter" in its echo. Such a URL is refused, its echo redacted.
TEST(PostgresUrl, RawAtAfterAQueryWithNoSlashIsRefusedBug) {
  try {
    (void)config_from_url("postgresql://h?application_name=a:Zx9Secret@c");
    ADD_FAILURE() << "accepted";
  } catch (const url_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.parameter(), "application_name") << what;
    EXPECT_NE(what.find("a raw \"@\" after a \"?\" with no \"/\" before it"), std::string::npos) << what;
    EXPECT_EQ(what.find("Zx9Secret"), std::string::npos) << what;
  }
  // As libpq reads them too: "@" encoded, a "/" before the "?", or user information.
  EXPECT_NO_THROW((void)config_from_url("postgresql://h?application_name=a%40c"));
  EXPECT_NO_THROW((void)config_from_url("postgresql://h/?application_name=a@c"));
  EXPECT_NO_THROW((void)config_from_url("postgresql://u@h?application_name=a@c"));
}

struct bad_pg_url {
  std::string text;
  std::string parameter;
  std::string says;
};

class PostgresUrlBad : public ::testing::TestWithParam<bad_pg_url> {};

TEST_P(PostgresUrlBad, SaysWhatIsWrongAndNeverShowsThePassword) {
  const bad_pg_url& c = GetParam();
  try {
    (void)config_from_url(c.text);
    ADD_FAILURE() << "accepted: " << redact_url(c.text);
  } catch (const url_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.parameter(), c.parameter) << what;
    EXPECT_NE(what.find(c.says), std::string::npos) << what;
    EXPECT_EQ(what.find("Zx9Secret"), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, PostgresUrlBad,
    ::testing::Values(
        bad_pg_url{"mysql://u:Zx9Secret@h/db", "", "scheme \"mysql\" is not postgresql or postgres"},
        bad_pg_url{"postgresql:db", "", "a PostgreSQL URL starts with postgresql://"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?bogus=1", "bogus",
                   "unknown parameter bogus: neither berth's (connect_timeout, statement_timeout, reset_timeout, reset_query, "
                   "name, "
                   "max_size"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?maxsize=4", "maxsize", "nor a libpq connection parameter"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?connect_timeout=0", "connect_timeout",
                   "0 (libpq: wait forever) is not allowed"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?connect_timeout=soon", "connect_timeout", "is not a duration"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?connect_timeout=1s&connect_timeout=2s", "connect_timeout",
                   "is given twice"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?statement_timeout=0", "statement_timeout",
                   "parameter statement_timeout: must be > 0 when set"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?reset_query=", "reset_query",
                   "parameter reset_query: must not be empty when set"},
        bad_pg_url{"postgresql://u:Zx9Secret@h/db?max_size=0", "max_size", "parameter max_size: must be in 1..65536"},
        bad_pg_url{"postgresql://u:Zx9Secret@h:0/db", "", "port \"0\" is not a number in 1..65535"},
        bad_pg_url{"postgresql://h/db?password=Zx9Secret&bogus=1", "bogus", "unknown parameter bogus"}));

}  // namespace
}  // namespace berth::postgres
