// json_test.cpp: the JSON writer (escaping, ill-formed UTF-8, numbers,
// commas) and the statistics snapshot (every field of pool_stats, by name,
// of a registry). Output is parsed by support/json_parse.hpp, a strict
// parser written apart from the writer.
#include <berth/detail/json_writer.hpp>
#include <berth/json.hpp>
#include <berth/pool.hpp>
#include <berth/registry.hpp>

#include "support/fake_adapter.hpp"
#include "support/json_parse.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;
using testing::json_value;
using testing::parse_json;

/// The JSON string literal for s.
std::string json_quoted(std::string_view s) {
  std::string out;
  detail::append_json_string(out, s);
  return out;
}

/// Parses text, failing the test (with the reason) if it is not valid JSON.
json_value parsed(std::string_view text) {
  std::string why;
  auto v = parse_json(text, &why);
  EXPECT_TRUE(v) << why << "\n" << text;
  return v ? *v : json_value{};
}

// ---- the test's parser: strict, or the tests below would prove nothing -----

TEST(JsonParse, RejectsWhatRfc8259Rejects) {
  const std::string_view bad[] = {
      "",          "{",        R"({"a":1,})", "[1,]",       R"({"a" 1})",  R"({a:1})",         "01",
      "1.",        "+1",       ".5",          "1e",         "NaN",         "Infinity",         "nul",
      R"("a)",     "\"a\nb\"", R"("\x")",     R"("\u12")",  R"("\ud800")", R"("\udc00x")",     "\"\xC3\"",
      "\"\xC0\xAF\"",          "\"\xED\xA0\x80\"",          "\"\xF4\x90\x80\x80\"",            "1 2",
      R"({"a":1,"a":2})",      "[1]]",
  };
  for (const auto text : bad) EXPECT_FALSE(parse_json(text)) << ::testing::PrintToString(std::string(text));
  const std::string_view good[] = {
      "0", "-0.5e+3", " [ ] ", R"({"a":[true,false,null],"b":{}})", R"("\ud83d\ude00 \u00e9 \/")",
      "\"\xF0\x9F\x98\x80\"",
  };
  for (const auto text : good) EXPECT_TRUE(parse_json(text)) << ::testing::PrintToString(std::string(text));
  EXPECT_EQ(parse_json(R"("\ud83d\ude00")")->text, "\xF0\x9F\x98\x80");
}

// ---- the writer -------------------------------------------------------------

TEST(JsonWriter, EscapesQuotesBackslashAndControlCharacters) {
  EXPECT_EQ(json_quoted(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(json_quoted("a\nb\tc\rd"), R"("a\u000ab\u0009c\u000dd")");
  EXPECT_EQ(json_quoted("nul\0!"sv), R"("nul\u0000!")");
  EXPECT_EQ(json_quoted("\x1f\x7f"), R"("\u001f\u007f")");
  EXPECT_EQ(json_quoted(""), R"("")");
  EXPECT_EQ(json_quoted("/ is fine"), R"("/ is fine")");
  std::string all_controls;
  for (char c = 0; c < 0x20; ++c) all_controls += c;
  const json_value v = parsed(json_quoted(all_controls));
  EXPECT_EQ(v.as_string(), all_controls);
}

TEST(JsonWriter, PassesWellFormedUtf8Through) {
  const std::string s = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";  // é € 😀 U+FFFF U+10FFFF
  EXPECT_EQ(json_quoted(s), '"' + s + '"');
}

// Each maximal ill-formed subpart becomes one U+FFFD (Unicode ch. 3).
TEST(JsonWriter, ReplacesIllFormedUtf8) {
  const std::string r = "\xEF\xBF\xBD";
  struct row {
    std::string_view in;
    std::string out;
  };
  const row rows[] = {
      {"\x80", r},                              // a stray continuation byte
      {"a\xBF" "b", "a" + r + "b"},
      {"\xC0\xAF", r + r},                      // overlong '/': C0 is never valid, AF is stray
      {"\xC1\xBF", r + r},
      {"\xE0\x80\xAF", r + r + r},              // overlong 3-byte: E0 needs A0..BF next
      {"\xED\xA0\x80", r + r + r},              // a surrogate (U+D800)
      {"\xF4\x90\x80\x80", r + r + r + r},      // above U+10FFFF
      {"\xF5\x80", r + r},
      {"\xFF", r},
      {"\xE2\x82", r},                          // truncated at the end: one U+FFFD
      {"\xE2\x82" "A", r + "A"},                // truncated before ASCII
      {"\xF0\x9F\x98", r},
      {"\xF0\x9F\x98\"", r + "\\\""},           // truncated before a quote: the quote is still escaped
      {"\xC3", r},
      {"\xC3\xC3\xA9", r + "\xC3\xA9"},         // a lone lead, then a good sequence
  };
  for (const auto& [in, out] : rows) {
    EXPECT_EQ(json_quoted(in), '"' + out + '"') << "input bytes: " << ::testing::PrintToString(std::string(in));
    parsed(json_quoted(in));
  }
}

// Random bytes (seeded: the seed is printed) always give valid JSON, and
// well-formed UTF-8 comes back unchanged.
TEST(JsonWriter, RandomBytesAlwaysGiveValidJson) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 16);
  for (int n = 0; n < 5000; ++n) {
    std::string s;
    for (int k = len(gen); k > 0; --k) s += static_cast<char>(byte(gen));
    std::string why;
    const auto v = parse_json(json_quoted(s), &why);
    ASSERT_TRUE(v) << why << " for " << ::testing::PrintToString(s);
    if (v->text.find("\xEF\xBF\xBD") == std::string::npos) {
      EXPECT_EQ(v->text, s);
    }
  }
}

TEST(JsonWriter, NumbersAreExactAndFiniteOnly) {
  std::string out;
  detail::json_writer w(out);
  w.begin_array();
  w.uint(std::numeric_limits<std::uint64_t>::max());
  w.integer(std::numeric_limits<std::int64_t>::min());
  w.uint(0);
  w.number(0.1);
  w.number(-2.5e300);
  w.number(std::numeric_limits<double>::quiet_NaN());
  w.number(std::numeric_limits<double>::infinity());
  w.number(-std::numeric_limits<double>::infinity());
  w.number(1e21);
  w.end_array();
  EXPECT_EQ(out, "[18446744073709551615,-9223372036854775808,0,0.1,-2.5e+300,null,null,null,1e+21]");
  parsed(out);
}

TEST(JsonWriter, SeparatesMembersAndElements) {
  std::string out;
  detail::json_writer w(out);
  w.begin_object();
  w.key("a").begin_array().uint(1).boolean(true).begin_object().key("b").null().end_object().end_array();
  w.key("c").begin_object().end_object();
  w.key("d").begin_array().end_array();
  w.key("e").string("x");
  w.end_object();
  EXPECT_EQ(out, R"({"a":[1,true,{"b":null}],"c":{},"d":[],"e":"x"})");
  parsed(out);
}

TEST(JsonWriter, EscapesKeys) {
  std::string out;
  detail::json_writer w(out);
  w.begin_object().key("a\"b\x01").uint(1).end_object();
  EXPECT_EQ(out, R"({"a\"b\u0001":1})");
}

// ---- the statistics snapshot ------------------------------------------------

/// Converts to anything: counts an aggregate's fields (T{f, f, ...} compiles
/// up to the number of fields; a field of class type takes one f, no brace
/// elision, since f converts to it). Never defined: unevaluated only.
struct any_field {
  template <class T>
  operator T() const;  // NOLINT: implicit on purpose
};

template <class T, class... F>
constexpr std::size_t field_count() {
  if constexpr (requires { T{F{}..., any_field{}}; })
    return field_count<T, F..., any_field>();
  else
    return sizeof...(F);
}

static_assert(field_count<wait_percentiles>() == 5);  // the counter itself works

/// A pool_stats with every field distinct (and counts.suspended set), so a
/// value written under the wrong key is caught.
pool_stats sample_stats() {
  pool_stats s;
  s.counts = pool_counts{.total = 1, .idle = 2, .leased = 3, .reserved = 4, .connecting = 5, .closing = 6,
                         .retiring = 7, .waiting = 8, .max_size = 9, .min_idle = 10, .suspended = true,
                         .strict_handoff = false};
  s.created = 11;
  s.destroyed = 12;
  s.acquired = std::numeric_limits<std::uint64_t>::max();  // exact, not rounded through a double
  s.acquired_after_wait = 14;
  s.timeouts = 15;
  s.creation_failures = 16;
  s.discarded = 17;
  s.unwound = 18;
  s.reaper_passes = 19;
  s.validation_failures = 20;
  s.leaks_suspected = 21;
  s.acquire_validations = 22;
  s.breaker = breaker_state::half_open;
  s.breaker_opened = 23;
  s.breaker_rejected = 24;
  s.wait = wait_percentiles{.p50 = 25ns, .p90 = 26ns, .p99 = 27ns, .p999 = 28ns, .max = 29ns};
  s.wait_time.buckets[0] = 30;
  s.wait_time.buckets[5] = 31;
  s.wait_time.count = 61;
  s.wait_time.sum = 32ns;
  s.hold_time.buckets[63] = 33;
  s.hold_time.count = 33;
  s.hold_time.sum = std::chrono::nanoseconds::max();
  s.creation_time.count = 0;
  s.size_hint = pool_size_hint{.acquire_rate = 34.5, .rate_window = 35ns, .mean_hold = 36ns, .busy = 0.25,
                               .suggested_max_size = 37};
  return s;
}

TEST(JsonSnapshot, WritesEveryFieldOfPoolStats) {
  const json_value v = parsed(to_json(sample_stats(), "orders"));
  ASSERT_TRUE(v.is_object());
  ASSERT_FALSE(v.members.empty());
  EXPECT_EQ(v.members.front().first, "name");
  EXPECT_EQ(v.at("name").as_string(), "orders");

  const json_value& c = v.at("counts");
  const char* const count_keys[] = {"total",   "idle",    "leased",   "reserved", "connecting", "closing",
                                    "retiring", "waiting", "max_size", "min_idle"};
  std::uint64_t expected = 1;
  for (const char* k : count_keys) EXPECT_EQ(c.at(k).as_uint(), expected++) << k;
  EXPECT_TRUE(c.at("suspended").b);
  EXPECT_EQ(c.at("suspended").t, json_value::type::boolean);
  EXPECT_FALSE(c.at("strict_handoff").b);
  EXPECT_EQ(c.at("strict_handoff").t, json_value::type::boolean);

  EXPECT_EQ(v.at("created").as_uint(), 11u);
  EXPECT_EQ(v.at("destroyed").as_uint(), 12u);
  EXPECT_EQ(v.at("acquired").as_uint(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(v.at("acquired_after_wait").as_uint(), 14u);
  EXPECT_EQ(v.at("timeouts").as_uint(), 15u);
  EXPECT_EQ(v.at("creation_failures").as_uint(), 16u);
  EXPECT_EQ(v.at("discarded").as_uint(), 17u);
  EXPECT_EQ(v.at("unwound").as_uint(), 18u);
  EXPECT_EQ(v.at("reaper_passes").as_uint(), 19u);
  EXPECT_EQ(v.at("validation_failures").as_uint(), 20u);
  EXPECT_EQ(v.at("leaks_suspected").as_uint(), 21u);
  EXPECT_EQ(v.at("acquire_validations").as_uint(), 22u);
  EXPECT_EQ(v.at("breaker").as_string(), "half_open");
  EXPECT_EQ(v.at("breaker_opened").as_uint(), 23u);
  EXPECT_EQ(v.at("breaker_rejected").as_uint(), 24u);

  const json_value& w = v.at("wait");
  EXPECT_EQ(w.at("p50_ns").as_uint(), 25u);
  EXPECT_EQ(w.at("p90_ns").as_uint(), 26u);
  EXPECT_EQ(w.at("p99_ns").as_uint(), 27u);
  EXPECT_EQ(w.at("p999_ns").as_uint(), 28u);
  EXPECT_EQ(w.at("max_ns").as_uint(), 29u);

  const json_value& wt = v.at("wait_time");
  EXPECT_EQ(wt.at("count").as_uint(), 61u);
  EXPECT_EQ(wt.at("sum_ns").as_uint(), 32u);
  const json_value& wb = wt.at("buckets");
  ASSERT_EQ(wb.items.size(), 2u) << "the non-empty buckets only";
  EXPECT_EQ(wb.items[0].items.at(0).as_uint(), 0u);
  EXPECT_EQ(wb.items[0].items.at(1).as_uint(), 30u);
  EXPECT_EQ(wb.items[1].items.at(0).as_uint(), 32u) << "bucket 5's bound, 2^5 ns";
  EXPECT_EQ(wb.items[1].items.at(1).as_uint(), 31u);
  const json_value& ht = v.at("hold_time");
  EXPECT_EQ(ht.at("sum_ns").as_uint(), static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count()));
  ASSERT_EQ(ht.at("buckets").items.size(), 1u);
  EXPECT_EQ(ht.at("buckets").items[0].items.at(0).as_uint(),
            static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count()));
  EXPECT_TRUE(v.at("creation_time").at("buckets").items.empty());

  const json_value& h = v.at("size_hint");
  EXPECT_DOUBLE_EQ(std::stod(h.at("acquire_rate").text), 34.5);
  EXPECT_EQ(h.at("rate_window_ns").as_uint(), 35u);
  EXPECT_EQ(h.at("mean_hold_ns").as_uint(), 36u);
  EXPECT_DOUBLE_EQ(std::stod(h.at("busy").text), 0.25);
  EXPECT_EQ(h.at("suggested_max_size").as_uint(), 37u);
}

// Fails when a field is added to a struct of stats.hpp and not to json.cpp:
// each object has one member per field of its struct (plus "name").
TEST(JsonSnapshot, NoFieldForgotten) {
  const json_value v = parsed(to_json(sample_stats(), "orders"));
  EXPECT_EQ(v.members.size(), field_count<pool_stats>() + 1) << "pool_stats: a field missing from to_json?";
  EXPECT_EQ(v.at("counts").members.size(), field_count<pool_counts>()) << "pool_counts: a field missing?";
  EXPECT_EQ(v.at("wait").members.size(), field_count<wait_percentiles>()) << "wait_percentiles: a field missing?";
  for (const char* h : {"wait_time", "hold_time", "creation_time"})
    EXPECT_EQ(v.at(h).members.size(), field_count<duration_histogram>()) << h << ": a field missing?";
  EXPECT_EQ(v.at("size_hint").members.size(), field_count<pool_size_hint>()) << "pool_size_hint: a field missing?";
  const json_value unnamed = parsed(to_json(sample_stats()));
  EXPECT_EQ(unnamed.find("name"), nullptr);
  EXPECT_EQ(unnamed.members.size(), field_count<pool_stats>());
}

TEST(JsonSnapshot, ByNameEscapesNamesAndNestsUnderPools) {
  stats_by_name by_name;
  by_name["cache/writer"] = sample_stats();
  by_name["odd \"name\"\n\xFF"] = pool_stats{};
  const std::string text = to_json(by_name);
  const json_value v = parsed(text);
  ASSERT_EQ(v.members.size(), 1u);
  const json_value& pools = v.at("pools");
  ASSERT_EQ(pools.members.size(), 2u);
  EXPECT_EQ(pools.members[0].first, "cache/writer");
  EXPECT_EQ(pools.members[1].first, "odd \"name\"\n\xEF\xBF\xBD");
  EXPECT_EQ(pools.at("cache/writer").at("created").as_uint(), 11u);
  EXPECT_EQ(pools.at("cache/writer").find("name"), nullptr) << "the name is the key";
  EXPECT_EQ(pools.at("cache/writer").members.size(), field_count<pool_stats>());
  EXPECT_EQ(to_json(stats_by_name{}), R"({"pools":{}})");
}

TEST(JsonSnapshot, RegistryOfRealPools) {
  using fake_pool = pool<testing::fake_adapter>;
  testing::fake_clock clock;  // still: the size hint's rate window is the same in both snapshots
  registry reg;
  auto orders = reg.emplace<fake_pool>("orders", testing::fake_adapter{},
                                       pool_options{.name = "orders", .max_size = 4, .min_idle = 2}, clock);
  reg.emplace<fake_pool>("cache", testing::fake_adapter{}, pool_options{.name = "cache", .min_idle = 0}, clock);
  {
    auto l = orders->try_acquire();
    ASSERT_TRUE(l);
    const json_value v = parsed(to_json(reg));
    const json_value& o = v.at("pools").at("orders");
    EXPECT_EQ(o.at("created").as_uint(), 2u);
    EXPECT_EQ(o.at("acquired").as_uint(), 1u);
    EXPECT_EQ(o.at("counts").at("leased").as_uint(), 1u);
    EXPECT_EQ(o.at("counts").at("max_size").as_uint(), 4u);
    EXPECT_EQ(o.at("breaker").as_string(), "closed");
    EXPECT_EQ(v.at("pools").at("cache").at("counts").at("total").as_uint(), 0u);
  }
  EXPECT_EQ(to_json(reg), to_json(reg.stats()));
}

}  // namespace
}  // namespace berth
