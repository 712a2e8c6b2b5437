// scrape_test.cpp: a real scrape. examples/prometheus_exporter drives its
// two pools for 2 s and serves berth::prometheus on a loopback port; a real
// Prometheus server (Debian prometheus, support/prometheus_server.hpp)
// scrapes it every second; the series read back through Prometheus' HTTP
// API carry the values the exporter printed when its load stopped, and
// every query of the Grafana dashboard (dashboards/berth.json) runs. Both
// processes are stopped at the end, also when a check fails (and by their
// watchdogs if this program dies).
#include "support/prometheus_server.hpp"
#include "support/server_process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if !defined(BERTH_PROMETHEUS_EXPORTER) || !defined(BERTH_DASHBOARD)
#error "BERTH_PROMETHEUS_EXPORTER, BERTH_DASHBOARD: examples/prometheus_exporter, dashboards/berth.json (tests/CMakeLists.txt)"
#endif

namespace berth::testing {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
constexpr const char* who = "scrape_test";

/// The log's first line starting with prefix, waiting up to 30 s; nullopt if
/// none came or the process exited first.
std::optional<std::string> wait_for_line(const std::string& log, const std::string& prefix,
                                         detail::watched_child& process) {
  const auto end = clock_type::now() + 30s;
  for (;;) {
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(prefix, 0) == 0) return line;
    if (clock_type::now() > end || process.exited()) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

/// "pool NAME k=v k=v ...": the values by key.
std::map<std::string, std::uint64_t> fields_of(const std::string& line) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(line);
  std::string word;
  in >> word >> word;  // "pool", NAME
  while (in >> word) {
    const std::size_t eq = word.find('=');
    out[word.substr(0, eq)] = std::stoull(word.substr(eq + 1));
  }
  return out;
}

/// The "expr" strings of a Grafana dashboard's JSON (the escapes a
/// PromQL expression uses: \" and \\).
std::vector<std::string> exprs_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string json = ss.str();
  std::vector<std::string> out;
  const std::string key = "\"expr\": \"";
  for (std::size_t at = json.find(key); at != std::string::npos; at = json.find(key, at)) {
    std::string e;
    for (at += key.size(); at < json.size() && json[at] != '"'; ++at) {
      if (json[at] == '\\' && at + 1 < json.size()) ++at;
      e += json[at];
    }
    out.push_back(e);
  }
  return out;
}

/// The value of a query that must select one series (nullopt when it
/// selects none or several).
std::optional<double> one(const prometheus_server& server, const std::string& promql) {
  const std::vector<double> v = server.query(promql);
  if (v.size() != 1) return std::nullopt;
  return v.front();
}

TEST(PrometheusScrapeTest, APrometheusServerStoresTheExportersSeriesWithTheirValues) {
  const auto start = clock_type::now();
  // The exporter's directory (its log) goes with it. --seconds 120: it exits
  // by itself should both this program and its watchdog be killed.
  const std::string dir = detail::make_temp_directory("berth-scrape", who);
  const std::string exporter_log = dir + "/exporter.log";
  detail::watched_child exporter({BERTH_PROMETHEUS_EXPORTER, "--listen", "127.0.0.1:0", "--load-seconds", "2",
                                  "--seconds", "120"},
                                 dir, exporter_log, dir, SIGTERM, who);
  const auto listening = wait_for_line(exporter_log, "listening ", exporter);
  ASSERT_TRUE(listening) << "the exporter did not say where it listens:\n" << detail::tail_of(exporter_log);
  const std::string target = listening->substr(std::string("listening ").size());

  prometheus_server server = prometheus_server::start("berth", {target});
  const auto ready = clock_type::now();

  // The exporter's statistics once its load stopped: they stay put from then on.
  std::map<std::string, std::map<std::string, std::uint64_t>> pools;
  for (const std::string name : {"orders", "reports"}) {
    const auto line = wait_for_line(exporter_log, "pool " + name + " ", exporter);
    ASSERT_TRUE(line) << "no statistics for " << name << ":\n" << detail::tail_of(exporter_log);
    pools[name] = fields_of(*line);
  }
  // The exporter prints them after its load threads have joined, so a scrape
  // that starts after now reads only final values. Prometheus' sample
  // timestamps are the scrape's start on the wall clock (milliseconds,
  // aligned by up to 2 ms: --scrape.timestamp-tolerance): 10 ms of margin.
  const double load_stopped_s =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() + 0.010;
  const auto& orders = pools["orders"];
  const auto& reports = pools["reports"];
  ASSERT_GT(orders.at("acquired"), 0u);
  ASSERT_GT(reports.at("timeouts"), 0u) << "the reports pool is sized to time out";

  // Until a scrape that started after the load stopped has been stored.
  // (Waiting for orders' final acquires_total was not enough: a scrape
  // could see it while the last orders lease was still out, for up to 2 ms,
  // and while the reports threads still waited and timed out.)
  const std::string acquires = R"(berth_pool_acquires_total{job="berth",pool="orders"})";
  const auto scraped_until = clock_type::now() + 30s;
  std::optional<double> scraped_at;
  while (!((scraped_at = one(server, "timestamp(" + acquires + ")")) && *scraped_at > load_stopped_s) &&
         clock_type::now() < scraped_until)
    std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(scraped_at && *scraped_at > load_stopped_s)
      << "no scrape after the load stopped (" << std::fixed << load_stopped_s << " s): " << scraped_at.value_or(0)
      << "\nexporter:\n"
      << detail::tail_of(exporter_log) << "\nprometheus:\n"
      << server.log_tail();
  const auto stored = clock_type::now();
  ASSERT_EQ(one(server, acquires), static_cast<double>(orders.at("acquired"))) << acquires;

  const auto as_double = [](std::uint64_t v) { return static_cast<double>(v); };
  EXPECT_EQ(one(server, R"(up{job="berth"})"), 1.0);
  EXPECT_EQ(one(server, R"(berth_pool_connections_max{pool="orders"})"), 8.0);
  EXPECT_EQ(one(server, R"(berth_pool_connections_max{pool="reports"})"), 2.0);
  EXPECT_EQ(one(server, R"(berth_pool_connections_min{pool="orders"})"), 2.0);
  EXPECT_EQ(one(server, R"(berth_pool_acquires_total{pool="reports"})"), as_double(reports.at("acquired")));
  EXPECT_EQ(one(server, R"(berth_pool_acquires_waited_total{pool="reports"})"), as_double(reports.at("waited")));
  EXPECT_EQ(one(server, R"(berth_pool_acquire_timeouts_total{pool="reports"})"), as_double(reports.at("timeouts")));
  EXPECT_EQ(one(server, R"(berth_pool_acquire_timeouts_total{pool="orders"})"), as_double(orders.at("timeouts")));
  EXPECT_EQ(one(server, R"(berth_pool_connections_pending{pool="reports"})"), 0.0) << "the load has stopped";
  EXPECT_EQ(one(server, R"(sum(berth_pool_connections{pool="orders",state="active"}))"), 0.0);
  EXPECT_EQ(one(server, R"(count(berth_pool_connections{pool="orders"}))"), 5.0) << "five states";
  EXPECT_EQ(one(server, R"(berth_pool_breaker_state{pool="orders",state="closed"})"), 1.0);
  EXPECT_EQ(one(server, R"(berth_pool_breaker_state{pool="orders",state="open"})"), 0.0);
  // The histograms: _count, +Inf and the exporter's own counts agree.
  EXPECT_EQ(one(server, R"(berth_pool_acquire_wait_seconds_count{pool="orders"})"), as_double(orders.at("wait_count")));
  EXPECT_EQ(one(server, R"(berth_pool_acquire_wait_seconds_bucket{pool="orders",le="+Inf"})"),
            as_double(orders.at("wait_count")));
  EXPECT_EQ(one(server, R"(berth_pool_lease_hold_seconds_count{pool="orders"})"), as_double(orders.at("hold_count")));
  EXPECT_GT(orders.at("hold_count"), 0u) << "one lease in pool_options::hold_time_sampling (default 128) is timed";
  EXPECT_EQ(one(server, R"(count(berth_pool_acquire_wait_seconds_bucket{pool="orders"}))"), 15.0)
      << "14 bounds and +Inf";
  // Connects take 2 ms (a sleep; longer on a busy machine): the median is
  // interpolated within a bucket above 1 ms.
  const auto creation_median =
      one(server, R"(histogram_quantile(0.5, berth_pool_connection_creation_seconds_bucket{pool="orders"}))");
  ASSERT_TRUE(creation_median);
  EXPECT_GT(*creation_median, 0.001);
  EXPECT_LT(*creation_median, 1.0);
  const auto hold_sum = one(server, R"(berth_pool_lease_hold_seconds_sum{pool="orders"})");
  ASSERT_TRUE(hold_sum);
  EXPECT_GT(*hold_sum, 0.0002 * as_double(orders.at("hold_count"))) << "each sampled hold is >= 0.2 ms";

  // Every query of the shipped Grafana dashboard is valid PromQL and finds
  // series (all pools for $pool). rate() needs two samples: up to a few
  // scrapes more.
  const std::vector<std::string> exprs = exprs_of(BERTH_DASHBOARD);
  EXPECT_GE(exprs.size(), 10u) << BERTH_DASHBOARD;
  const auto two_samples_until = clock_type::now() + 20s;
  for (std::string e : exprs) {
    for (std::size_t at; (at = e.find("$pool")) != std::string::npos;) e.replace(at, 5, ".*");
    bool found = false;
    while (!(found = !server.query(e).empty()) && clock_type::now() < two_samples_until)
      std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(found) << "no series for the dashboard's " << e;
  }
  const auto dashboard_checked = clock_type::now();

  server.stop();
  exporter.stop();
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cout << "[ timing   ] Prometheus ready after " << ms(ready - start)
            << " ms; the exporter's final values stored after " << ms(stored - start)
            << " ms (Prometheus applies new targets after 5 s); the dashboard's queries answered after "
            << ms(dashboard_checked - start) << " ms; all stopped after " << ms(clock_type::now() - start) << " ms\n";
}

}  // namespace
}  // namespace berth::testing
