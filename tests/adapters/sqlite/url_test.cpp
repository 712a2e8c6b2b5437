// url_test.cpp: SQLite pools and databases from sqlite: URLs, against real
// files and in-memory databases, and the errors of bad URLs.
#include <berth/sqlite/url.hpp>

#include <berth/registry.hpp>

#include "query_int.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace berth::sqlite {
namespace {

using namespace std::chrono_literals;
using testing::query_int;
using testing::temp_dir;
using sqlite_pool = berth::pool<adapter>;

TEST(SqliteUrl, FileUrlConfiguresTheAdapterAndThePool) {
  temp_dir dir;
  const std::string path = dir.file("app.db");
  const url_config cfg = config_from_url(
      "sqlite:" + path +
      "?max_size=3&min_idle=2&acquire_timeout=2s&busy_timeout=250ms&foreign_keys=false&wal=false&read_only=false"
      "&pragma=cache_size%3D-4000&pragma=temp_store%3Dmemory");
  EXPECT_EQ(cfg.adapter.path, path);
  EXPECT_FALSE(cfg.adapter.in_memory);
  EXPECT_EQ(cfg.adapter.busy_timeout, 250ms);
  EXPECT_FALSE(cfg.adapter.foreign_keys);
  EXPECT_FALSE(cfg.adapter.wal);
  EXPECT_EQ(cfg.adapter.pragmas, (std::vector<std::string>{"cache_size=-4000", "temp_store=memory"}));
  EXPECT_EQ(cfg.pool.max_size, 3u);
  EXPECT_EQ(cfg.pool.min_idle, 2u);
  EXPECT_EQ(cfg.pool.acquire_timeout, 2s);
  EXPECT_FALSE(cfg.database.has_value());
}

TEST(SqliteUrl, EmplaceOpensTheFileUnderTheEntrysName) {
  temp_dir dir;
  const std::string path = dir.file("app.db");
  registry reg;
  emplace_from_url(reg, "app", berth::url::parse("sqlite://" + path + "?max_size=3&busy_timeout=250ms&pragma=cache_size%3D-4000"));
  auto p = reg.get<sqlite_pool>("app");
  EXPECT_EQ(p->options().name, "app") << "the pool is named after its entry";
  EXPECT_EQ(p->options().max_size, 3u);
  p->with([](connection& c) {
    c.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    EXPECT_EQ(query_int(c, "PRAGMA busy_timeout"), 250);
    EXPECT_EQ(query_int(c, "PRAGMA cache_size"), -4000);
    EXPECT_EQ(query_int(c, "PRAGMA foreign_keys"), 1);
  });
  EXPECT_TRUE(std::filesystem::exists(path));
  // The same file through the other absolute form, as a second entry named by the URL.
  emplace_from_url(reg, "again", berth::url::parse("sqlite:" + path + "?name=orders-ro&read_only=true"));
  auto ro = reg.get<sqlite_pool>("again");
  EXPECT_EQ(ro->options().name, "orders-ro");
  EXPECT_EQ(ro->with([](connection& c) { return query_int(c, "SELECT count(*) FROM t"); }), 1);
  EXPECT_EQ(reg.stats().size(), 2u);
}

TEST(SqliteUrl, RelativePathsAreRelativeToTheWorkingDirectory) {
  EXPECT_EQ(config_from_url("sqlite:data/app.db").adapter.path, "data/app.db");
  EXPECT_EQ(config_from_url("sqlite:app%20v2.db").adapter.path, "app v2.db");
}

TEST(SqliteUrl, PrivateInMemoryDatabasesAreNotShared) {
  registry reg;
  const auto u = berth::url::parse("sqlite::memory:?max_size=2");
  emplace_from_url(reg, "a", u);
  emplace_from_url(reg, "b", u);
  reg.get<sqlite_pool>("a")->with([](connection& c) { c.execute("CREATE TABLE t(x)"); });
  reg.get<sqlite_pool>("b")->with([](connection& c) {
    EXPECT_EQ(query_int(c, "SELECT count(*) FROM sqlite_master WHERE name = 't'"), 0) << "b has its own database";
  });
  EXPECT_TRUE(config_from_url("sqlite::memory:").adapter.in_memory);
  EXPECT_TRUE(config_from_url("sqlite::memory:").adapter.name.empty());
}

TEST(SqliteUrl, NamedInMemoryDatabasesAreSharedByName) {
  registry reg;
  emplace_from_url(reg, "a", berth::url::parse("sqlite::memory:url-test-shared"));
  emplace_from_url(reg, "b", berth::url::parse("sqlite::memory:url-test-shared?max_size=1"));
  reg.get<sqlite_pool>("a")->with([](connection& c) { c.execute("CREATE TABLE t(x); INSERT INTO t VALUES (7)"); });
  EXPECT_EQ(reg.get<sqlite_pool>("b")->with([](connection& c) { return query_int(c, "SELECT x FROM t"); }), 7);
}

TEST(SqliteUrl, ReadersMakeADatabase) {
  temp_dir dir;
  const std::string path = dir.file("app.db");
  registry reg;
  emplace_from_url(reg, "main",
                   berth::url::parse("sqlite:" + path + "?readers=2&default_timeout=3s&busy_timeout=1s&foreign_keys=0"));
  auto db = reg.get<database>("main");
  EXPECT_EQ(db->options().readers, 2u);
  EXPECT_EQ(db->options().default_timeout, 3s);
  EXPECT_EQ(db->options().busy_timeout, 1s);
  EXPECT_FALSE(db->options().foreign_keys);
  EXPECT_EQ(db->options().pool_name, "main");
  db->write([](connection& c) { c.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)"); });
  EXPECT_EQ(db->read([](connection& c) { return query_int(c, "SELECT count(*) FROM t"); }), 2);
  const stats_by_name s = reg.stats();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.at("main/writer").counts.max_size, 1u);
  EXPECT_EQ(s.at("main/readers").counts.max_size, 2u);
  EXPECT_GE(s.at("main/writer").acquired, 1u);

  const url_config named = config_from_url("sqlite::memory:?readers=1&name=cache");
  ASSERT_TRUE(named.database.has_value());
  EXPECT_TRUE(named.database->in_memory);
  EXPECT_EQ(named.database->pool_name, "cache");
}

TEST(SqliteUrl, AFileThatCannotBeOpenedFailsTheEmplaceAndAddsNothing) {
  temp_dir dir;
  registry reg;
  EXPECT_THROW(emplace_from_url(reg, "ro", berth::url::parse("sqlite:" + dir.file("missing.db") + "?read_only=true")),
               std::system_error);
  EXPECT_FALSE(reg.contains("ro"));
}

struct bad_sqlite_url {
  std::string text;
  std::string parameter;  // url_error::parameter(), or empty
  std::string says;
};

class SqliteUrlBad : public ::testing::TestWithParam<bad_sqlite_url> {};

TEST_P(SqliteUrlBad, SaysWhatIsWrong) {
  const bad_sqlite_url& c = GetParam();
  try {
    (void)config_from_url(c.text);
    ADD_FAILURE() << "accepted: " << c.text;
  } catch (const url_error& e) {
    EXPECT_EQ(e.parameter(), c.parameter) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, SqliteUrlBad,
    ::testing::Values(
        bad_sqlite_url{"postgresql://h/db", "", "scheme \"postgresql\" is not sqlite"},
        bad_sqlite_url{"sqlite://host/app.db", "", "a sqlite URL names no host or user: write sqlite:///abs/path.db"},
        bad_sqlite_url{"sqlite://u@/app.db", "", "names no host or user"},
        bad_sqlite_url{"sqlite:", "", "no database: write sqlite:app.db"},
        bad_sqlite_url{"sqlite:?max_size=2", "", "no database"},
        bad_sqlite_url{"sqlite::memory:bad%2Fname", "", "the database in the path (name): may hold only [A-Za-z0-9._-]"},
        bad_sqlite_url{"sqlite:a.db?bogus=1", "bogus",
                       "unknown parameter bogus (known: busy_timeout, wal, foreign_keys, read_only, pragma, readers"},
        bad_sqlite_url{"sqlite:a.db?mode=memory", "mode", "unknown parameter mode"},
        bad_sqlite_url{"sqlite:a.db?wal=maybe", "wal", "is not a boolean"},
        bad_sqlite_url{"sqlite:a.db?busy_timeout=5", "busy_timeout", "has no unit"},
        bad_sqlite_url{"sqlite:a.db?busy_timeout=1000h", "busy_timeout", "parameter busy_timeout: must be in [0, "},
        bad_sqlite_url{"sqlite:a.db?busy_timeout=1s&busy_timeout=2s", "busy_timeout", "is given twice"},
        bad_sqlite_url{"sqlite:a.db?pragma=cache_size%3D1&pragma=b%3Bc", "pragma", "parameter pragma: must not contain ';'"},
        bad_sqlite_url{"sqlite:a.db?pragma=", "pragma", "parameter pragma: must not be empty"},
        bad_sqlite_url{"sqlite:a.db?max_size=0", "max_size", "parameter max_size: must be in 1..65536"},
        bad_sqlite_url{"sqlite:a.db?default_timeout=1s", "default_timeout", "add readers=N"},
        bad_sqlite_url{"sqlite:a.db?readers=0", "readers", "parameter readers: must be in [1, 1024], got 0"},
        // Accepted, then its pools refused "<name>.writer" with an uncaught
        // options_error (the open_url fuzzer, this session).
        bad_sqlite_url{"sqlite::memory:db2?readers=2&name=loc%AF%A6al", "name", "parameter name: must be UTF-8"},
        bad_sqlite_url{"sqlite:a.db?readers=2&max_size=3", "max_size", "readers= makes a sqlite::database"},
        bad_sqlite_url{"sqlite:a.db?readers=2&wal=false", "wal", "not an option of a sqlite::database"},
        bad_sqlite_url{"sqlite:a.db?readers=2&default_timeout=0", "default_timeout",
                       "parameter default_timeout: must be > 0 ms"},
        bad_sqlite_url{"sqlite:a.db?readers=2&name=", "name", "parameter name: must not be empty"},
        bad_sqlite_url{"sqlite:a.db?readers=2&bogus=1", "bogus", "unknown parameter bogus"}));

}  // namespace
}  // namespace berth::sqlite
