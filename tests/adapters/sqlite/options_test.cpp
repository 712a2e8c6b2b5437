#include <berth/sqlite/adapter.hpp>
#include <berth/sqlite/options.hpp>

#include <gtest/gtest.h>

#include <string>

namespace berth::sqlite {
namespace {

TEST(SqliteOptions, DefaultsAreDocumentedValues) {
  const options o;
  EXPECT_TRUE(o.path.empty());
  EXPECT_FALSE(o.in_memory);
  EXPECT_EQ(o.busy_timeout, std::chrono::seconds(5));
  EXPECT_TRUE(o.wal);
  EXPECT_TRUE(o.foreign_keys);
  EXPECT_FALSE(o.read_only);
  EXPECT_TRUE(o.pragmas.empty());
  EXPECT_TRUE(validate(options{.path = "x.db"}) == std::nullopt);
  EXPECT_TRUE(validate(options{.in_memory = true}) == std::nullopt);
}

// ":memory:" gave each pooled connection its own empty database (or, with
// WAL, a misleading "the file system may not support WAL"), and a path or
// pragma with a NUL byte was silently cut there.
TEST(SqliteOptions, MemoryNameAndNulBytesAreRefusedByFieldBug) {
  using namespace std::string_literals;
  const auto memory = validate(options{.path = ":memory:"});
  ASSERT_TRUE(memory);
  EXPECT_EQ(memory->field(), "path");
  EXPECT_NE(std::string(memory->what()).find("in_memory = true"), std::string::npos) << memory->what();
  const auto nul = validate(options{.path = "a.db\0zzz"s});
  ASSERT_TRUE(nul);
  EXPECT_EQ(nul->field(), "path");
  EXPECT_NE(std::string(nul->what()).find("NUL"), std::string::npos) << nul->what();
  const auto pragma = validate(options{.path = "a.db", .pragmas = {"cache_size=10\0x"s}});
  ASSERT_TRUE(pragma);
  EXPECT_EQ(pragma->field(), "pragmas[0]");
  EXPECT_TRUE(validate(options{.path = "./:memory:"}) == std::nullopt) << "a file of that name is still a path";
}

TEST(SqliteOptions, EachBadFieldIsNamed) {
  struct row {
    const char* label;
    options o;
    const char* field;
    const char* says;
  };
  const row rows[] = {
      {"no database", {}, "path", "required"},
      {"both", {.path = "x.db", .in_memory = true}, "path", "must be empty when in_memory"},
      {"name on a file", {.path = "x.db", .name = "n"}, "name", "only used with in_memory"},
      {"name not URI-safe", {.in_memory = true, .name = "a&b"}, "name", "[A-Za-z0-9._-]"},
      {"name too long", {.in_memory = true, .name = std::string(65, 'n')}, "name", "at most 64"},
      {"negative busy", {.path = "x.db", .busy_timeout = std::chrono::milliseconds(-1)}, "busy_timeout", "-1 ms"},
      {"huge busy", {.path = "x.db", .busy_timeout = std::chrono::hours(1000)}, "busy_timeout", "2147483647"},
      {"empty pragma", {.path = "x.db", .pragmas = {"cache_size=10", " "}}, "pragmas[1]", "must not be empty"},
      {"two pragmas", {.path = "x.db", .pragmas = {"a=1; DROP TABLE t"}}, "pragmas[0]", "must not contain ';'"},
  };
  for (const auto& r : rows) {
    const auto e = validate(r.o);
    ASSERT_TRUE(e.has_value()) << r.label;
    EXPECT_EQ(e->field(), r.field) << r.label;
    const std::string what = e->what();
    EXPECT_EQ(what.rfind(std::string("berth: invalid sqlite::options.") + r.field + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(r.says), std::string::npos) << r.label << ": " << what;
    // The adapter refuses the same options, with the same exception type as
    // the pool's own options (berth::options_error).
    try {
      adapter a(r.o);
      ADD_FAILURE() << r.label << ": adapter accepted bad options";
    } catch (const berth::options_error& ae) {
      EXPECT_EQ(ae.field(), r.field) << r.label;
      EXPECT_STREQ(ae.what(), what.c_str());
    }
  }
}

// SQLite ignores a pragma it does not know, without a word: a typo in
// options.pragmas ("foriegn_keys=ON") left the setting as it was. Pass:
// plainly spelled unknown names are refused naming pragmas[i]; known names
// in any case, with a schema, and spellings left to SQLite (quoted) pass.
TEST(SqliteOptions, UnknownPragmaNamesAreRefusedByFieldBug) {
  for (const char* bad : {"foriegn_keys=ON", " main . no_such_pragma(1)", "NO_SUCH", "query_only_not_a_pragma"}) {
    SCOPED_TRACE(bad);
    const auto e = validate(options{.path = "x.db", .pragmas = {"cache_size=-2000", bad}});
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->field(), "pragmas[1]");
    EXPECT_NE(std::string(e->what()).find("is not a pragma this SQLite knows"), std::string::npos) << e->what();
  }
  for (const char* good : {"cache_size=-2000", "MAIN . Cache_Size = 10", "foreign_keys", "temp_store(2)",
                           "\"journal_size_limit\"=1"}) {
    SCOPED_TRACE(good);
    EXPECT_FALSE(validate(options{.path = "x.db", .pragmas = {good}}).has_value());
  }
}

}  // namespace
}  // namespace berth::sqlite
