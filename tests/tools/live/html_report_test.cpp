// Tests of the HTML report's text: escaping of metadata and of the embedded
// JSON (nothing a program name or argument holds can end the script or
// inject markup), the chart elements the page promises, and the file.
#include <berth/live/html_report.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <unistd.h>

namespace berth::live {
namespace {

using namespace std::chrono_literals;

std::size_t occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

TEST(HtmlEscapeTest, ReplacesMarkupCharacters) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("plain text"), "plain text");
  EXPECT_EQ(html_escape(""), "");
}

TEST(JsonStringTest, EscapesQuotesControlsAndWhatCouldEndAScript) {
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("line\nnext\ttab\x01"), R"("line\nnext\ttab\u0001")");
  EXPECT_EQ(json_string("</script><!--"), R"("\u003c/script\u003e\u003c!--")");
  EXPECT_EQ(json_string("a&b"), R"("a\u0026b")");
}

TEST(JsonStringTest, KeepsUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x9a\xa2"), "\"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x9a\xa2\"");
  EXPECT_EQ(json_string("\xe2\x80\xa8"), R"("\u2028")") << "a line separator ends a JS line";
  EXPECT_EQ(json_string("x\xffy"), R"("x\ufffdy")");
  EXPECT_EQ(json_string("\xc3"), R"("\ufffd")") << "truncated sequence";
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")") << "overlong '/'";
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")") << "a surrogate";
}

run_record two_phase_record() {
  run_record r;
  r.interval = 250ms;
  r.duration = 2s;
  r.latency_label = "acquire latency <every acquire>";
  phase_info a;
  a.name = "hammer-8</script>";
  a.pools = {"pool"};
  a.end = 1s;
  phase_info b;
  b.name = "mix";
  b.pools = {"writer", "readers"};
  b.start = 1s;
  b.end = 2s;
  r.phases = {a, b};
  sample s;
  s.elapsed = 500ms;
  s.window = 250ms;
  s.pools.resize(1);
  r.samples.push_back(s);
  s.elapsed = 1500ms;
  s.phase = 1;
  s.pools.resize(2);
  r.samples.push_back(s);
  return r;
}

TEST(HtmlReportTest, OneChartPerPoolPlusFourAndTheBodySaysHowMany) {
  const run_record r = two_phase_record();
  EXPECT_EQ(report_chart_count(r), 3u + 4u) << "pool, writer, readers; waiters, latency, throughput, timeouts";
  const std::string page = render_html_report(r, run_metadata{});
  EXPECT_EQ(occurrences(page, "<figure class=\"chart"), 7u);
  EXPECT_EQ(occurrences(page, "<figure class=\"chart wide\""), 1u) << "an odd pool count: the first spans the row";
  EXPECT_NE(page.find("data-charts-expected=\"7\""), std::string::npos);
  EXPECT_EQ(occurrences(page, "data-chart=\"utilisation\""), 3u);
  EXPECT_NE(page.find("data-pool=\"writer\""), std::string::npos);
}

TEST(HtmlReportTest, MetadataAndNamesAreEscaped) {
  run_metadata m;
  m.program = "berth_stress_pool";
  m.args = {"--report", "<img src=x onerror=alert(1)>"};
  m.commit = "abc\"def";
  m.notes = {{"seed", "42 & more"}};
  const std::string page = render_html_report(two_phase_record(), m);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_NE(page.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(page.find("abc&quot;def"), std::string::npos);
  EXPECT_NE(page.find("42 &amp; more"), std::string::npos);
  // The phase name reaches the page in the summary (HTML) and the data (JSON):
  // neither may close the script element.
  EXPECT_EQ(occurrences(page, "</script>"), 2u) << "only the two script elements' own ends";
  EXPECT_NE(page.find("hammer-8&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find(R"("hammer-8\u003c/script\u003e")"), std::string::npos);
}

TEST(HtmlReportTest, ShowsSkippedSamplesOnlyWhenSome) {
  run_record r = two_phase_record();
  EXPECT_EQ(render_html_report(r, run_metadata{}).find("skipped"), std::string::npos);
  r.samples_skipped = 3;
  EXPECT_NE(render_html_report(r, run_metadata{}).find("<dd>2, every 250 ms; 3 skipped (a probe threw"),
            std::string::npos);
}

// The hover tooltip was set with innerHTML from the waiting-acquirers
// series' names (pool names), unescaped: a pool named like markup ran as
// markup. The script builds the tooltip from nodes and text; it assigns no
// markup anywhere (report_render_test hovers a hostile name in Chromium).
TEST(HtmlReportTest, TheScriptNeverParsesNamesAsMarkupBug) {
  run_record r = two_phase_record();
  r.phases[1].pools = {"writer", "<img src=x onerror=alert(1)>"};
  const std::string page = render_html_report(r, run_metadata{});
  EXPECT_EQ(page.find("<img"), std::string::npos);
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "createContextualFragment"})
    EXPECT_EQ(page.find(sink), std::string::npos) << sink;
  EXPECT_NE(page.find("createTextNode"), std::string::npos) << "names go in as text";
}

TEST(HtmlReportTest, SelfContained) {
  const std::string page = render_html_report(two_phase_record(), run_metadata{});
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
}

TEST(HtmlReportTest, DescribeRunTakesArgvAndTheBuild) {
  const char* argv[] = {"/some/dir/berth_cycle_bench", "--benchmark_filter=x", nullptr};
  const run_metadata m = describe_run(2, argv);
  EXPECT_EQ(m.program, "berth_cycle_bench");
  EXPECT_EQ(m.args, (std::vector<std::string>{"--benchmark_filter=x"}));
  EXPECT_FALSE(m.build_type.empty());
  EXPECT_FALSE(m.commit.empty());
  EXPECT_FALSE(m.started_at.empty());
}

TEST(HtmlReportTest, WritesTheFileOrThrows) {
  const auto dir = std::filesystem::temp_directory_path() / ("berth-live-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "report.html";
  write_html_report(path, two_phase_record(), run_metadata{});
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), render_html_report(two_phase_record(), run_metadata{}));
  EXPECT_THROW(write_html_report(dir / "no-such-dir" / "r.html", two_phase_record(), run_metadata{}),
               std::system_error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::live
