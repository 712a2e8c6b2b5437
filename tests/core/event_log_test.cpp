// event_log_test.cpp: the JSON-lines event log. Options validation (a row
// per bad field), the line format on a fixed wall clock, levels, the three
// sinks, rate limiting on the fake clock (burst, suppression count, the
// summary line before the next line, after summary_interval and at
// flush_suppressed), several threads writing at once (each line whole), and
// a real pool on the fake adapter with the log as its hook. Every line is
// parsed by support/json_parse.hpp.
#include <berth/event_log.hpp>
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"
#include "support/json_parse.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <latch>
#include <mutex>
#include <set>
#include <stdexcept>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::fake_clock;
using testing::json_value;

/// 2024-05-01T12:34:56.789Z
std::chrono::system_clock::time_point fixed_wall() {
  using namespace std::chrono;
  return sys_days{year{2024} / May / 1} + 12h + 34min + 56s + 789ms;
}

/// Every line parsed (the test fails on an invalid one or on a raw newline).
std::vector<json_value> parse_all(const std::vector<std::string>& lines) {
  std::vector<json_value> out;
  for (const auto& l : lines) {
    std::string why;
    auto v = testing::parse_json(l, &why);
    EXPECT_TRUE(v) << why << "\n" << l;
    EXPECT_EQ(l.find('\n'), std::string::npos) << "a raw newline inside a line: " << l;
    if (v) out.push_back(std::move(*v));
  }
  return out;
}

/// Lines whose "event" is `event`.
std::size_t count_events(const std::vector<std::string>& lines, std::string_view event) {
  std::size_t n = 0;
  for (const auto& v : parse_all(lines)) n += v.at("event").as_string() == event ? 1u : 0u;
  return n;
}

/// Lines collected through the function sink, from one thread at a time
/// (the log never calls its sink concurrently; `overlapped` checks that).
struct collected {
  std::vector<std::string> lines;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};

  event_log::line_sink sink() {
    return [this](std::string_view line) {
      if (inside.fetch_add(1) != 0) overlapped = true;
      lines.emplace_back(line);
      inside.fetch_sub(1);
    };
  }
  std::vector<json_value> parsed() const { return parse_all(lines); }
  std::size_t count(std::string_view event) const { return count_events(lines, event); }
};

event_log_options fixed_options() {
  event_log_options o;
  o.wall_clock = fixed_wall;
  return o;
}

pool_event event(event_kind k, std::string_view pool = "orders") {
  return pool_event{.kind = k, .pool = pool};
}

// ---- options ----------------------------------------------------------------

TEST(EventLogOptions, DefaultsAreValid) {
  const event_log_options o;
  EXPECT_FALSE(validate(o));
  EXPECT_EQ(o.burst, 20u);
  EXPECT_EQ(o.lines_per_second, 5u);
  EXPECT_EQ(o.summary_interval, 10s);
  EXPECT_EQ(o.min_level, event_level::info);
}

TEST(EventLogOptions, EachBadFieldIsNamed) {
  struct row {
    const char* field;
    void (*set)(event_log_options&);
  };
  const row rows[] = {
      {"burst", [](event_log_options& o) { o.burst = 0; }},
      {"burst", [](event_log_options& o) { o.burst = 1'000'001; }},
      {"lines_per_second", [](event_log_options& o) { o.lines_per_second = 0; }},
      {"lines_per_second", [](event_log_options& o) { o.lines_per_second = 1'000'001; }},
      {"summary_interval", [](event_log_options& o) { o.summary_interval = 0ms; }},
      {"summary_interval", [](event_log_options& o) { o.summary_interval = -1ms; }},
      {"summary_interval",
       [](event_log_options& o) { o.summary_interval = max_option_duration + std::chrono::hours{1}; }},
      {"min_level", [](event_log_options& o) { o.min_level = static_cast<event_level>(7); }},
  };
  for (const auto& r : rows) {
    event_log_options o;
    r.set(o);
    const auto e = validate(o);
    ASSERT_TRUE(e) << r.field;
    EXPECT_EQ(e->field(), r.field);
    EXPECT_NE(std::string(e->what()).find(std::string("event_log_options.") + r.field), std::string::npos)
        << e->what();
    try {
      event_log log([](std::string_view) {}, o);
      ADD_FAILURE() << "constructed with a bad " << r.field;
    } catch (const options_error& thrown) {
      EXPECT_EQ(thrown.field(), r.field);
    }
  }
  EXPECT_THROW(event_log(event_log::line_sink{}), std::invalid_argument);
  EXPECT_THROW(event_log(static_cast<std::FILE*>(nullptr)), std::invalid_argument);
}

// ---- the line format --------------------------------------------------------

TEST(EventLog, LineFormat) {
  collected out;
  event_log log(out.sink(), fixed_options());
  log(pool_event{.kind = event_kind::created, .pool = "orders", .slot = 3});
  log(pool_event{.kind = event_kind::closed, .reason = close_reason::idle_timeout, .pool = "orders", .slot = 3,
                 .age = 1500ms});
  log(pool_event{.kind = event_kind::creation_failed,
                 .pool = "orders",
                 .slot = 4,
                 .error = std::make_error_code(std::errc::connection_refused),
                 .message = "fake: connection refused (127.0.0.1:5432)"});
  log(pool_event{.kind = event_kind::resized, .pool = "orders", .max_size = 8, .min_idle = 2});
  log(pool_event{.kind = event_kind::breaker_opened,
                 .pool = "orders",
                 .age = 250ms,
                 .error = std::make_error_code(std::errc::connection_refused)});
  log(event(event_kind::suspended));
  ASSERT_EQ(out.lines.size(), 6u);
  const std::string head = R"({"ts":"2024-05-01T12:34:56.789Z",)";
  const std::string refused = R"("error":{"value":)" + std::to_string(ECONNREFUSED) + R"(,"category":"generic","message":")" +
                              std::make_error_code(std::errc::connection_refused).message() + R"("})";
  EXPECT_EQ(out.lines[0], head + R"("level":"info","pool":"orders","event":"created","slot":3})");
  EXPECT_EQ(out.lines[1],
            head + R"("level":"info","pool":"orders","event":"closed","slot":3,"reason":"idle_timeout",)"
                   R"("age_ns":1500000000})");
  EXPECT_EQ(out.lines[2], head + R"("level":"warn","pool":"orders","event":"creation_failed","slot":4,)" + refused +
                              R"j(,"message":"fake: connection refused (127.0.0.1:5432)"})j");
  EXPECT_EQ(out.lines[3],
            head + R"("level":"info","pool":"orders","event":"resized","max_size":8,"min_idle":2})");
  EXPECT_EQ(out.lines[4],
            head + R"("level":"warn","pool":"orders","event":"breaker_opened","age_ns":250000000,)" + refused + "}");
  EXPECT_EQ(out.lines[5], head + R"("level":"info","pool":"orders","event":"suspended"})");
  out.parsed();
}

// A leak report's stack is multi-line and an adapter's message may hold
// anything: each line stays one valid JSON object.
TEST(EventLog, EscapesMessagesAndPoolNames) {
  collected out;
  event_log log(out.sink(), fixed_options());
  const std::string nasty = "at main.cpp:12\n#0 f() \"quoted\" \\ \t\x01 bad: \xC3\x28 \xFF end";
  log(pool_event{.kind = event_kind::leak_suspected, .pool = "p\"1\n", .age = 2s, .message = nasty});
  const auto v = out.parsed();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].at("pool").as_string(), "p\"1\n");
  EXPECT_EQ(v[0].at("message").as_string(),
            "at main.cpp:12\n#0 f() \"quoted\" \\ \t\x01 bad: \xEF\xBF\xBD( \xEF\xBF\xBD end");
  EXPECT_EQ(v[0].at("age_ns").as_uint(), 2'000'000'000u);
  EXPECT_EQ(v[0].at("level").as_string(), "warn");
}

TEST(EventLog, TimestampsAreRfc3339Utc) {
  collected out;
  std::chrono::system_clock::time_point wall{};  // 1970-01-01T00:00:00.000Z
  event_log_options o;
  o.wall_clock = [&wall] { return wall; };
  event_log log(out.sink(), o);
  log(event(event_kind::created));
  wall = std::chrono::sys_days{std::chrono::year{2000} / 2 / 29} + 23h + 59min + 59s + 999ms + 999us;
  log(event(event_kind::created, "other"));
  o.wall_clock = {};  // the system clock
  event_log real(out.sink(), o);
  real(event(event_kind::created));
  const auto v = out.parsed();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].at("ts").as_string(), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(v[1].at("ts").as_string(), "2000-02-29T23:59:59.999Z") << "truncated to milliseconds";
  const std::string& now = v[2].at("ts").as_string();
  ASSERT_EQ(now.size(), 24u) << now;
  for (std::size_t i : {4u, 7u}) EXPECT_EQ(now[i], '-') << now;
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now[23], 'Z');
  EXPECT_GE(now.substr(0, 4), "2024") << now;
}

TEST(EventLog, Levels) {
  for (auto k : {event_kind::creation_failed, event_kind::validation_failed, event_kind::leak_suspected,
                 event_kind::breaker_opened})
    EXPECT_EQ(level_of(k), event_level::warn) << to_string(k);
  for (auto k : {event_kind::created, event_kind::closed, event_kind::leak_returned, event_kind::evicted,
                 event_kind::resized, event_kind::suspended, event_kind::resumed, event_kind::breaker_half_open,
                 event_kind::breaker_closed})
    EXPECT_EQ(level_of(k), event_level::info) << to_string(k);
  EXPECT_STREQ(to_string(event_level::warn), "warn");

  collected out;
  auto o = fixed_options();
  o.min_level = event_level::warn;
  event_log log(out.sink(), o);
  log(event(event_kind::created));
  log(event(event_kind::creation_failed));
  ASSERT_EQ(out.lines.size(), 1u);
  EXPECT_EQ(out.parsed()[0].at("event").as_string(), "creation_failed");
  EXPECT_EQ(log.suppressed_total(), 0u) << "filtered by level is not suppressed";
}

// ---- sinks ------------------------------------------------------------------

TEST(EventLog, FileSinkWritesNewlineTerminatedLines) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    event_log log(f, fixed_options());
    log(event(event_kind::created));
    log(event(event_kind::resumed));
  }
  std::rewind(f);
  std::string text;
  for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
  std::fclose(f);
  EXPECT_EQ(text, R"({"ts":"2024-05-01T12:34:56.789Z","level":"info","pool":"orders","event":"created","slot":0})"
                  "\n"
                  R"({"ts":"2024-05-01T12:34:56.789Z","level":"info","pool":"orders","event":"resumed"})"
                  "\n");
}

TEST(EventLog, OstreamSinkAndCopiesShareState) {
  std::ostringstream os;
  auto o = fixed_options();
  o.burst = 1;
  event_log log(os, o);
  const event_log copy = log;  // the hook a pool keeps is a copy
  std::function<void(const pool_event&)> hook = copy;
  hook(event(event_kind::created));
  log(event(event_kind::created));  // the same bucket: dropped
  EXPECT_EQ(log.suppressed_total(), 1u);
  EXPECT_EQ(os.str(), R"({"ts":"2024-05-01T12:34:56.789Z","level":"info","pool":"orders","event":"created","slot":0})"
                      "\n");
}

// ---- rate limiting ----------------------------------------------------------

struct EventLogRate : ::testing::Test {
  fake_clock clock;
  collected out;
  event_log log{out.sink(), fixed_options(), clock};

  void emit(event_kind k, int n, std::string_view pool = "orders") {
    for (int i = 0; i < n; ++i) log(event(k, pool));
  }
};

TEST_F(EventLogRate, BurstThenSuppressedThenSummaryBeforeTheNextLine) {
  emit(event_kind::creation_failed, 25);
  EXPECT_EQ(out.lines.size(), 20u) << "the burst";
  EXPECT_EQ(log.suppressed_total(), 5u);

  emit(event_kind::created, 3);           // another kind: its own bucket
  emit(event_kind::creation_failed, 2, "cache");  // another pool: its own bucket
  EXPECT_EQ(out.lines.size(), 25u);

  clock.advance(199ms);  // one line per 200 ms at 5 lines/s: not yet
  emit(event_kind::creation_failed, 1);
  EXPECT_EQ(out.lines.size(), 25u);
  EXPECT_EQ(log.suppressed_total(), 6u);

  clock.advance(1ms);
  emit(event_kind::creation_failed, 2);  // one token: a summary, the line; the second is dropped
  ASSERT_EQ(out.lines.size(), 27u);
  const auto v = out.parsed();
  const json_value& summary = v[25];
  EXPECT_EQ(summary.at("event").as_string(), "suppressed");
  EXPECT_EQ(summary.at("level").as_string(), "warn");
  EXPECT_EQ(summary.at("pool").as_string(), "orders");
  EXPECT_EQ(summary.at("kind").as_string(), "creation_failed");
  EXPECT_EQ(summary.at("count").as_uint(), 6u);
  EXPECT_EQ(summary.at("since").as_string(), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(v[26].at("event").as_string(), "creation_failed");
  EXPECT_EQ(log.suppressed_total(), 7u) << "the total is not reset by a summary";
}

// A flood at 100 events/s for 10 s: 20 at once, then 5 per second get
// through, and every dropped one is reported.
TEST_F(EventLogRate, SustainedFloodIsHeldToTheRate) {
  for (int i = 0; i < 1000; ++i) {
    log(event(event_kind::creation_failed));
    clock.advance(10ms);
  }
  const std::uint64_t written = out.count("creation_failed");
  EXPECT_GE(written, 20u + 49u);
  EXPECT_LE(written, 20u + 50u);
  EXPECT_EQ(log.suppressed_total(), 1000u - written);
  log.flush_suppressed();
  std::uint64_t reported = 0;
  for (const auto& v : out.parsed())
    if (v.at("event").as_string() == "suppressed") reported += v.at("count").as_uint();
  EXPECT_EQ(written + reported, 1000u);
}

TEST_F(EventLogRate, SummaryAfterTheIntervalWhenTheKindFallsSilent) {
  emit(event_kind::validation_failed, 23);
  ASSERT_EQ(out.lines.size(), 20u);
  clock.advance(9999ms);
  emit(event_kind::created, 1);
  EXPECT_EQ(out.count("suppressed"), 0u) << "not due yet";
  clock.advance(1ms);  // summary_interval since the first dropped one
  emit(event_kind::created, 1);
  const auto v = out.parsed();
  ASSERT_EQ(v.size(), 23u);
  EXPECT_EQ(v[21].at("event").as_string(), "suppressed");
  EXPECT_EQ(v[21].at("kind").as_string(), "validation_failed");
  EXPECT_EQ(v[21].at("count").as_uint(), 3u);
  EXPECT_EQ(v[22].at("event").as_string(), "created");
  emit(event_kind::created, 1);
  EXPECT_EQ(out.count("suppressed"), 1u) << "once";
}

TEST_F(EventLogRate, FlushSuppressedReportsWhatIsPending) {
  log.flush_suppressed();
  EXPECT_TRUE(out.lines.empty()) << "nothing pending";
  emit(event_kind::closed, 21);
  emit(event_kind::closed, 22, "cache");
  log.flush_suppressed();
  const auto v = out.parsed();
  ASSERT_EQ(v.size(), 42u);
  std::set<std::pair<std::string, std::uint64_t>> summaries;
  for (std::size_t i = 40; i < 42; ++i) {
    EXPECT_EQ(v[i].at("kind").as_string(), "closed");
    summaries.emplace(v[i].at("pool").as_string(), v[i].at("count").as_uint());
  }
  EXPECT_EQ(summaries, (std::set<std::pair<std::string, std::uint64_t>>{{"cache", 2}, {"orders", 1}}));
  log.flush_suppressed();
  EXPECT_EQ(out.lines.size(), 42u) << "reported once";
}

// write_summary reset the bucket's count before calling the sink: a sink
// that threw on the summary line lost the dropped events' count.
TEST(EventLog, SummaryCountSurvivesAThrowingSinkBug) {
  fake_clock clock;
  std::vector<std::string> lines;
  bool fail = false;
  event_log log(
      [&](std::string_view line) {
        if (fail) throw std::runtime_error("disk full");
        lines.emplace_back(line);
      },
      fixed_options(), clock);
  for (int i = 0; i < 25; ++i) log(event(event_kind::creation_failed));
  ASSERT_EQ(lines.size(), 20u);
  fail = true;
  EXPECT_THROW(log.flush_suppressed(), std::runtime_error);
  clock.advance(200ms);  // a token: the summary goes first, and throws
  EXPECT_THROW(log(event(event_kind::creation_failed)), std::runtime_error);
  fail = false;
  log.flush_suppressed();
  const auto v = parse_all(lines);
  ASSERT_EQ(v.size(), 21u) << "the summary, once the sink works again";
  EXPECT_EQ(v[20].at("event").as_string(), "suppressed");
  EXPECT_EQ(v[20].at("count").as_uint(), 5u);
  log.flush_suppressed();
  EXPECT_EQ(lines.size(), 21u) << "reported once";
}

// One bucket per (pool name, kind) was kept forever: a service with a pool
// per tenant grew the map without bound. A new tenant's pool every 10 ms,
// each logging once: its bucket refills 200 ms later and is pruned.
TEST_F(EventLogRate, RefilledBucketsArePrunedBug) {
  for (int tenant = 0; tenant < 10'000; ++tenant) {
    log(event(event_kind::created, "tenant-" + std::to_string(tenant)));
    clock.advance(10ms);
  }
  EXPECT_EQ(out.lines.size(), 10'000u);
  EXPECT_LE(log.bucket_count(), 256u) << "about 20 buckets refilling at any time";
}

// Pruning keeps what a new bucket would not reproduce: a bucket with dropped
// events to report (refilled or not), and one whose burst is spent.
TEST_F(EventLogRate, PruningKeepsBucketsWithSomethingToReportBug) {
  const auto tenants = [&](int from, int to) {
    for (int tenant = from; tenant < to; ++tenant) log(event(event_kind::created, "tenant-" + std::to_string(tenant)));
  };
  emit(event_kind::creation_failed, 21, "noisy");  // the burst, one dropped; refilled after 4 s
  clock.advance(5s);
  tenants(0, 1000);  // prunings at 256 and 512 buckets: noisy's stays, refilled as it is
  EXPECT_EQ(log.bucket_count(), 1001u) << "the tenants' buckets refill in 200 ms";
  clock.advance(1s);  // they have (summary_interval, 10 s, has not passed)
  emit(event_kind::creation_failed, 20, "busy");  // the burst: its next token in 200 ms
  tenants(1000, 1100);  // a pruning at 1024 buckets
  EXPECT_LT(log.bucket_count(), 200u) << "pruned";
  EXPECT_EQ(out.count("suppressed"), 0u);
  emit(event_kind::creation_failed, 1, "busy");
  EXPECT_EQ(log.suppressed_total(), 2u) << "busy's bucket is still empty";
  log.flush_suppressed();
  std::set<std::pair<std::string, std::uint64_t>> summaries;
  for (const auto& v : out.parsed())
    if (v.at("event").as_string() == "suppressed")
      summaries.emplace(v.at("pool").as_string(), v.at("count").as_uint());
  EXPECT_EQ(summaries, (std::set<std::pair<std::string, std::uint64_t>>{{"busy", 1}, {"noisy", 1}}));
  EXPECT_EQ(out.lines.size(), 20u + 1100u + 20u + 2u);
}

// ---- threads ----------------------------------------------------------------

// Several threads (as a pool's creator, reaper and releasing threads) write
// long lines at once to a FILE*: every line comes out whole, none lost.
TEST(EventLog, ConcurrentWritersKeepLinesWhole) {
  constexpr int threads = 6, per_thread = 300;
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  event_log_options o;
  o.burst = 1'000'000;  // no rate limit here
  event_log log(f, o);
  const std::string message(3000, 'x');  // longer than a pipe's atomic write
  std::latch start(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      const std::string pool = "t" + std::to_string(t);
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i)
        log(pool_event{.kind = event_kind::created, .pool = pool, .slot = static_cast<std::uint32_t>(i),
                       .message = message});
    });
  for (auto& t : ts) t.join();
  std::rewind(f);
  std::vector<std::set<std::uint64_t>> seen(threads);
  std::string line;
  std::size_t lines = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) {
    if (c != '\n') {
      line += static_cast<char>(c);
      continue;
    }
    ++lines;
    std::string why;
    const auto v = testing::parse_json(line, &why);
    ASSERT_TRUE(v) << why << ": " << line.substr(0, 200);
    EXPECT_EQ(v->at("message").as_string(), message);
    seen.at(std::stoul(v->at("pool").as_string().substr(1))).insert(v->at("slot").as_uint());
    line.clear();
  }
  std::fclose(f);
  EXPECT_TRUE(line.empty()) << "a partial last line";
  EXPECT_EQ(lines, std::size_t{threads} * per_thread);
  for (const auto& s : seen) EXPECT_EQ(s.size(), std::size_t{per_thread});
}

// The function sink is never called concurrently, and the rate limit holds
// across threads: exactly burst lines of one bucket at one instant.
TEST(EventLog, ConcurrentWritersShareTheLimit) {
  constexpr int threads = 4, per_thread = 200;
  fake_clock clock;
  collected out;
  event_log log(out.sink(), fixed_options(), clock);
  std::latch start(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) log(event(event_kind::creation_failed));
    });
  for (auto& t : ts) t.join();
  EXPECT_FALSE(out.overlapped);
  EXPECT_EQ(out.lines.size(), 20u);
  EXPECT_EQ(log.suppressed_total(), std::uint64_t{threads} * per_thread - 20);
  log.flush_suppressed();
  EXPECT_EQ(out.parsed().back().at("count").as_uint(), std::uint64_t{threads} * per_thread - 20);
}

// ---- a real pool ------------------------------------------------------------

TEST(EventLog, RealPoolCreatedFailedClosed) {
  auto script = std::make_shared<testing::fake_script>();
  fake_clock clock;
  script->clock = &clock;
  script->fail_connects = 1;
  std::mutex lines_mutex;  // the test reads while pool threads write
  std::vector<std::string> lines;
  event_log log(
      [&](std::string_view l) {
        std::lock_guard lk(lines_mutex);
        lines.emplace_back(l);
      },
      fixed_options(), clock);
  const auto snapshot = [&] {
    std::lock_guard lk(lines_mutex);
    return lines;
  };
  pool_options o;
  o.name = "orders";
  o.max_size = 3;
  o.min_idle = 2;
  o.startup = startup_mode::degraded;
  o.creation_backoff_initial = o.creation_backoff_max = 20ms;
  o.breaker_threshold = 0;
  o.idle_timeout = o.max_lifetime = o.keepalive_interval = 0ms;
  o.lifetime_jitter = 0ms;
  o.validate_on_acquire = false;
  o.on_event = log;
  {
    pool<testing::fake_adapter> p(testing::fake_adapter{script}, o, clock);
    ASSERT_TRUE(eventually([&] { return p.stats().creation_failures == 1; }));
    clock.advance(20ms);  // the retry is due
    ASSERT_TRUE(eventually([&] { return p.counts().idle == 2; }));
    ASSERT_TRUE(eventually([&] { return count_events(snapshot(), "created") == 2; }));
    auto l = p.try_acquire();
    ASSERT_TRUE(l);
    l->discard();  // closed, reason discarded; the creator refills min_idle
    ASSERT_TRUE(eventually([&] { return count_events(snapshot(), "created") == 3 && p.counts().idle == 2; }));
  }  // closes both: reason pool_closed
  const std::vector<std::string> all = snapshot();
  const auto v = parse_all(all);
  ASSERT_EQ(v.size(), 7u) << ::testing::PrintToString(all);
  EXPECT_EQ(v[0].at("event").as_string(), "creation_failed");
  EXPECT_EQ(v[0].at("level").as_string(), "warn");
  EXPECT_EQ(v[0].at("pool").as_string(), "orders");
  EXPECT_EQ(v[0].at("error").at("value").as_int(), ECONNREFUSED);
  EXPECT_EQ(v[0].at("error").at("category").as_string(), "generic");
  EXPECT_EQ(v[0].at("message").as_string(), "fake: connection refused (127.0.0.1:5432)");
  EXPECT_EQ(count_events(all, "created"), 3u);
  std::multiset<std::string> reasons;
  std::multiset<std::uint64_t> created_slots, closed_slots;
  for (const auto& e : v) {
    if (e.at("event").as_string() == "created") created_slots.insert(e.at("slot").as_uint());
    if (e.at("event").as_string() != "closed") continue;
    reasons.insert(e.at("reason").as_string());
    closed_slots.insert(e.at("slot").as_uint());
    EXPECT_GE(e.at("age_ns").as_int(), 0);
  }
  EXPECT_EQ(reasons, (std::multiset<std::string>{"discarded", "pool_closed", "pool_closed"}));
  EXPECT_EQ(created_slots, closed_slots) << "each connection opened is closed once";
}

}  // namespace
}  // namespace berth
