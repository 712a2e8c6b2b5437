// families_test.cpp: berth::prometheus::families() in the text format, as
// prometheus-cpp's TextSerializer writes it: a pool driven to known values
// on the fake clock and fake adapter (exact lines for counts, counters and
// histograms), the histograms' shape, and odd pool names.
#include <berth/pool.hpp>
#include <berth/prometheus.hpp>

#include "support/eventually.hpp"
#include "support/timed_pool_fixture.hpp"

#include <prometheus/text_serializer.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace berth::prometheus {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using testing::eventually;

std::string text_of(const stats_by_name& pools) { return ::prometheus::TextSerializer{}.Serialize(families(pools)); }

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.insert(line);
  return out;
}

/// The `le` values and counts of one series' buckets, in output order, and
/// its _count.
struct parsed_histogram {
  std::vector<std::string> le;
  std::vector<std::uint64_t> cumulative;
  std::uint64_t count = 0;
};

/// Reads `<family>_bucket{<labels>,le="..."} N` and `<family>_count{<labels>} N`.
parsed_histogram parse_histogram(const std::string& text, const std::string& family, const std::string& labels) {
  parsed_histogram h;
  std::istringstream in(text);
  const std::string bucket = family + "_bucket{" + labels + ",le=\"";
  const std::string count = family + "_count{" + labels + "} ";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(bucket, 0) == 0) {
      const std::size_t end = line.find('"', bucket.size());
      h.le.push_back(line.substr(bucket.size(), end - bucket.size()));
      h.cumulative.push_back(std::stoull(line.substr(line.rfind(' ') + 1)));
    } else if (line.rfind(count, 0) == 0) {
      h.count = std::stoull(line.substr(count.size()));
    }
  }
  return h;
}

// One connection, opened at start; no reaper; every lease timed (make(opts(1))).
struct FamiliesTest : testing::timed_pool_fixture {};

// Three leases held 5 ms, 5 ms and 1 us; one acquire that waits 7 ms; one
// that times out after 10 ms; one lease still held at the snapshot.
TEST_F(FamiliesTest, APoolDrivenToKnownValuesGivesTheseLines) {
  auto p = make(opts(1));
  cycle(*p, 5ms);
  cycle(*p, 5ms);
  cycle(*p, 1us);
  wait_for_hand_over(*p, 7ms);
  auto again = p->try_acquire();  // held 0 ns so far: not in hold_time until released
  ASSERT_TRUE(again.has_value());
  auto timing_out = std::async(std::launch::async, [&] { return p->acquire_for(10ms).has_value(); });
  ASSERT_TRUE(eventually([&] { return p->counts().waiting == 1; }));
  clock.advance(10ms);
  ASSERT_FALSE(timing_out.get());

  const std::string text = text_of({{"orders", p->stats()}});
  const auto lines = lines_of(text);
  for (const char* want : {
           "# TYPE berth_pool_connections gauge",
           R"(berth_pool_connections{pool="orders",state="idle"} 0)",
           R"(berth_pool_connections{pool="orders",state="active"} 1)",
           R"(berth_pool_connections{pool="orders",state="reserved"} 0)",
           R"(berth_pool_connections{pool="orders",state="connecting"} 0)",
           R"(berth_pool_connections{pool="orders",state="closing"} 0)",
           R"(berth_pool_connections_pending{pool="orders"} 0)",
           R"(berth_pool_connections_max{pool="orders"} 1)",
           R"(berth_pool_connections_min{pool="orders"} 1)",
           R"(berth_pool_connections_retiring{pool="orders"} 0)",
           R"(berth_pool_suspended{pool="orders"} 0)",
           "# TYPE berth_pool_acquires_total counter",
           R"(berth_pool_acquires_total{pool="orders"} 6)",
           R"(berth_pool_acquires_waited_total{pool="orders"} 1)",
           R"(berth_pool_acquire_timeouts_total{pool="orders"} 1)",
           R"(berth_pool_connections_created_total{pool="orders"} 1)",
           R"(berth_pool_connections_closed_total{pool="orders"} 0)",
           R"(berth_pool_connection_creation_failures_total{pool="orders"} 0)",
           R"(berth_pool_validation_failures_total{pool="orders"} 0)",
           R"(berth_pool_leaks_suspected_total{pool="orders"} 0)",
           R"(berth_pool_breaker_rejected_total{pool="orders"} 0)",
           R"(berth_pool_breaker_opened_total{pool="orders"} 0)",
           R"(berth_pool_breaker_state{pool="orders",state="closed"} 1)",
           R"(berth_pool_breaker_state{pool="orders",state="open"} 0)",
           R"(berth_pool_breaker_state{pool="orders",state="half_open"} 0)",
           // Held 5 ms, 5 ms, 1 us, 7 ms (while the waiter waited) and 0 ns
           // (the waiter's, released at once); the last lease is still out.
           "# TYPE berth_pool_lease_hold_seconds histogram",
           R"(berth_pool_lease_hold_seconds_count{pool="orders"} 5)",
           R"(berth_pool_lease_hold_seconds_sum{pool="orders"} 0.017001)",
           R"(berth_pool_lease_hold_seconds_bucket{pool="orders",le="1.024e-06"} 2)",
           R"(berth_pool_lease_hold_seconds_bucket{pool="orders",le="0.004194304"} 2)",
           R"(berth_pool_lease_hold_seconds_bucket{pool="orders",le="0.016777216"} 5)",
           R"(berth_pool_lease_hold_seconds_bucket{pool="orders",le="+Inf"} 5)",
           // Six acquires: five on the fast path (0 ns), one waited 7 ms.
           R"(berth_pool_acquire_wait_seconds_count{pool="orders"} 6)",
           R"(berth_pool_acquire_wait_seconds_sum{pool="orders"} 0.007)",
           R"(berth_pool_acquire_wait_seconds_bucket{pool="orders",le="1.024e-06"} 5)",
           R"(berth_pool_acquire_wait_seconds_bucket{pool="orders",le="0.004194304"} 5)",
           R"(berth_pool_acquire_wait_seconds_bucket{pool="orders",le="0.016777216"} 6)",
           // The connection opened in the constructor, in no time on the fake clock.
           R"(berth_pool_connection_creation_seconds_count{pool="orders"} 1)",
           R"(berth_pool_connection_creation_seconds_sum{pool="orders"} 0)",
           R"(berth_pool_connection_creation_seconds_bucket{pool="orders",le="1.024e-06"} 1)",
       }) {
    EXPECT_TRUE(lines.contains(want)) << "missing: " << want << "\nin:\n" << text;
  }
}

TEST_F(FamiliesTest, HistogramBucketsAreTheDocumentedBoundsCumulativeWithInfEqualToCount) {
  auto p = make(opts(1));
  for (nanoseconds hold : std::vector<nanoseconds>{0ns, 1ns, 1023ns, 1024ns, 1025ns, 3ms, 1s, 2min, 1h}) cycle(*p, hold);
  const std::string text = text_of({{"orders", p->stats()}});
  const parsed_histogram h = parse_histogram(text, "berth_pool_lease_hold_seconds", R"(pool="orders")");
  const std::vector<std::string> want_le = {"1.024e-06",   "4.096e-06",   "1.6384e-05",   "6.5536e-05", "0.000262144",
                                            "0.001048576", "0.004194304", "0.016777216",  "0.067108864", "0.268435456",
                                            "1.073741824", "4.294967296", "17.179869184", "68.719476736", "+Inf"};
  EXPECT_EQ(h.le, want_le) << text;
  // 1024 ns is in [2^10, 2^11): counted from le = 2^12 ns up (documented).
  const std::vector<std::uint64_t> want = {3, 5, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 9};
  EXPECT_EQ(h.cumulative, want) << text;
  EXPECT_EQ(h.count, 9u);
  EXPECT_TRUE(lines_of(text).contains(R"(berth_pool_lease_hold_seconds_sum{pool="orders"} 3721.003003073)")) << text;
}

TEST(FamiliesPureTest, EveryFamilyIsThereWithoutPools) {
  const auto fs = families({});
  std::vector<std::string> names;
  for (const auto& f : fs) {
    names.push_back(f.name);
    EXPECT_TRUE(f.metric.empty()) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_EQ(f.help.find_first_of("\\\n"), std::string::npos) << f.name << ": HELP is written unescaped";
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "berth_pool_connections",
                       "berth_pool_connections_pending",
                       "berth_pool_connections_max",
                       "berth_pool_connections_min",
                       "berth_pool_connections_retiring",
                       "berth_pool_suspended",
                       "berth_pool_size_hint",
                       "berth_pool_connections_created_total",
                       "berth_pool_connections_closed_total",
                       "berth_pool_acquires_total",
                       "berth_pool_acquires_waited_total",
                       "berth_pool_acquire_timeouts_total",
                       "berth_pool_connection_creation_failures_total",
                       "berth_pool_validation_failures_total",
                       "berth_pool_acquire_validations_total",
                       "berth_pool_leaks_suspected_total",
                       "berth_pool_leases_discarded_total",
                       "berth_pool_leases_unwound_total",
                       "berth_pool_breaker_opened_total",
                       "berth_pool_breaker_rejected_total",
                       "berth_pool_reaper_passes_total",
                       "berth_pool_breaker_state",
                       "berth_pool_acquire_wait_seconds",
                       "berth_pool_connection_creation_seconds",
                       "berth_pool_lease_hold_seconds",
                   }));
}

// The hold-time HELP said "default 64" after pool_options::hold_time_sampling
// became 128: it must name the option and its actual default.
TEST(FamiliesPureTest, HoldTimeHelpNamesTheSamplingOptionAndItsDefaultBug) {
  const std::string want =
      "pool_options::hold_time_sampling (default " + std::to_string(pool_options{}.hold_time_sampling) + ")";
  bool found = false;
  for (const auto& f : families({})) {
    if (f.name != "berth_pool_lease_hold_seconds") continue;
    found = true;
    EXPECT_NE(f.help.find(want), std::string::npos) << f.help;
  }
  EXPECT_TRUE(found);
}

TEST(FamiliesPureTest, PoolsAreLabelledInNameOrderWithTheSizeHintAndBreakerState) {
  stats_by_name pools;
  pools["b"].size_hint.suggested_max_size = 7;
  pools["b"].breaker = breaker_state::half_open;
  pools["a"].counts.suspended = true;
  pools["db/writer"].counts.max_size = 1;
  const auto lines = lines_of(text_of(pools));
  for (const char* want : {
           R"(berth_pool_size_hint{pool="b"} 7)",
           R"(berth_pool_size_hint{pool="a"} 0)",
           R"(berth_pool_suspended{pool="a"} 1)",
           R"(berth_pool_breaker_state{pool="b",state="half_open"} 1)",
           R"(berth_pool_breaker_state{pool="b",state="closed"} 0)",
           R"(berth_pool_connections_max{pool="db/writer"} 1)",
       }) {
    EXPECT_TRUE(lines.contains(want)) << "missing: " << want;
  }
  const auto fs = families(pools);
  ASSERT_EQ(fs[1].metric.size(), 3u);
  EXPECT_EQ(fs[1].metric[0].label[0].value, "a");
  EXPECT_EQ(fs[1].metric[1].label[0].value, "b");
  EXPECT_EQ(fs[1].metric[2].label[0].value, "db/writer");
}

// Quotes, backslashes and newlines are escaped by the serializer; bytes
// that are not UTF-8 become U+FFFD (Prometheus rejects a scrape with
// invalid UTF-8 in a label value), valid UTF-8 passes as it is.
TEST(FamiliesPureTest, OddPoolNamesAreEscapedAndMadeValidUtf8) {
  const std::map<std::string, std::string> cases = {
      {"a\"b", R"(a\"b)"},
      {"back\\slash", R"(back\\slash)"},
      {"new\nline", R"(new\nline)"},
      {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x98", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x98"},
      {"bad\xFF", "bad\xEF\xBF\xBD"},
      {"overlong\xC0\x80", "overlong\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"surrogate\xED\xA0\x80", "surrogate\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"cut\xE2\x82", "cut\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"above\xF4\x90\x80\x80", "above\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
  };
  for (const auto& [name, escaped] : cases) {
    pool_stats s;
    s.counts.max_size = 3;
    const auto lines = lines_of(text_of({{name, s}}));
    const std::string want = "berth_pool_connections_max{pool=\"" + escaped + "\"} 3";
    EXPECT_TRUE(lines.contains(want)) << "missing: " << want;
  }
}

}  // namespace
}  // namespace berth::prometheus
