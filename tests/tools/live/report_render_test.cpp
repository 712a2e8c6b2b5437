// The HTML report as a person sees it: a short real run writes one, headless
// Chromium renders it, and the page itself says whether every chart drew
// (data-drawn="true" and data-points on each figure.chart, data-charts-drawn
// on the body, set by the report's own script after drawing). A screenshot
// of each report is kept in the build tree as a test artefact:
// <build>/tests/tools/live/artefacts/*.png (next to the HTML and the DOM).
//
// Needs: Chromium (Debian `chromium`, scripts/deps.sh), the stress binary,
// and for the bench case the cycle bench (skipped when not built: the
// sanitizer presets build no benches).
#include <berth/live/html_report.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path artefacts = BERTH_LIVE_ARTEFACT_DIR;

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Runs `command` through the shell, stderr to `log` and stdout to `out`
/// (default: `log` too); its exit status (-1 if it did not exit normally).
int run(const std::string& command, const fs::path& log, const fs::path& out = {}) {
  const std::string redirect = out.empty() ? " >" + quote(log.string()) + " 2>&1"
                                           : " >" + quote(out.string()) + " 2>" + quote(log.string());
  const int rc = std::system((command + redirect).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/// Chromium, headless, on a local file. --no-sandbox: the sandbox cannot
/// start as root (CI containers) and the page is our own; a profile of its
/// own in the build tree keeps the user's untouched.
std::string chromium(const std::string& flags, const fs::path& html) {
  return std::string(BERTH_CHROMIUM) + " --headless=new --no-sandbox --disable-gpu --hide-scrollbars " +
         "--user-data-dir=" + quote((artefacts / "chromium-profile").string()) + " " + flags + " " +
         quote("file://" + fs::absolute(html).string());
}

using attributes = std::map<std::string, std::string>;

attributes attributes_of(const std::string& tag) {
  attributes a;
  static const std::regex attr(R"re(([a-z-]+)="([^"]*)")re");
  for (std::sregex_iterator it(tag.begin(), tag.end(), attr), end; it != end; ++it) a[(*it)[1]] = (*it)[2];
  return a;
}

/// Renders `html`, checks what the page says about its charts, keeps a
/// screenshot. `expected_charts`: how many the report should hold.
void check_rendered(const fs::path& html, std::size_t expected_charts) {
  const std::string stem = html.stem().string();
  const fs::path dom = artefacts / (stem + ".dom.html");
  ASSERT_EQ(run(chromium("--dump-dom", html), artefacts / (stem + ".chromium.log"), dom), 0)
      << slurp(artefacts / (stem + ".chromium.log"));
  const std::string page = slurp(dom);
  ASSERT_FALSE(page.empty()) << "Chromium dumped no DOM";

  std::smatch body;
  ASSERT_TRUE(std::regex_search(page, body, std::regex("<body[^>]*>"))) << page.substr(0, 2000);
  const attributes b = attributes_of(body.str());
  EXPECT_EQ(b.at("data-charts-expected"), std::to_string(expected_charts));
  EXPECT_EQ(b.at("data-charts-drawn"), std::to_string(expected_charts)) << "the page's own count of drawn charts";

  static const std::regex figure(R"re(<figure class="chart[^"]*"[^>]*>)re");
  std::size_t charts = 0;
  for (std::sregex_iterator it(page.begin(), page.end(), figure), end; it != end; ++it) {
    ++charts;
    attributes a = attributes_of(it->str());  // operator[]: a missing attribute reads empty
    const std::string name = a["data-chart"] + (a.count("data-pool") ? ":" + a["data-pool"] : "");
    EXPECT_EQ(a["data-drawn"], "true") << name << " did not draw: " << a["data-error"];
    EXPECT_EQ(a.count("data-error"), 0u) << name << ": " << a["data-error"];
    EXPECT_GT(std::atol(a["data-points"].c_str()), 0) << name << " plotted nothing";
  }
  EXPECT_EQ(charts, expected_charts);

  const fs::path png = artefacts / (stem + ".png");
  fs::remove(png);
  ASSERT_EQ(run(chromium("--screenshot=" + quote(png.string()) + " --window-size=1280,2000", html),
                artefacts / (stem + ".screenshot.log")),
            0)
      << slurp(artefacts / (stem + ".screenshot.log"));
  const std::string shot = slurp(png);
  ASSERT_GT(shot.size(), 20'000u) << "a screenshot of a page with charts is not that small";
  EXPECT_EQ(shot.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

struct ReportRenderTest : ::testing::Test {
  void SetUp() override { fs::create_directories(artefacts); }
};

TEST_F(ReportRenderTest, StressRunReportDrawsEveryChart) {
  const fs::path html = artefacts / "stress_pool_report.html";
  fs::remove(html);
  const fs::path log = artefacts / "stress_pool.log";
  // Three scenarios (one pool each), a second each (soak mode: a fixed
  // time, so the charts have a dozen samples however fast the machine is).
  ASSERT_EQ(run(std::string(BERTH_STRESS_POOL) + " --seconds 1 --threads 16 --only 'hammer*' --no-live --report " +
                    quote(html.string()),
                log),
            0)
      << slurp(log);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("stress: report: " + html.string()), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << "--no-live: no status line";
  check_rendered(html, 1 + 4);  // one pool; waiters, latency, throughput, timeouts
}

TEST_F(ReportRenderTest, CycleBenchReportDrawsEveryChart) {
#ifndef BERTH_CYCLE_BENCH
  GTEST_SKIP() << "berth_cycle_bench is not built in this preset";
#else
  const fs::path html = artefacts / "cycle_bench_report.html";
  fs::remove(html);
  const fs::path log = artefacts / "cycle_bench.log";
  ASSERT_EQ(run(std::string("BERTH_LIVE=0 ") + BERTH_CYCLE_BENCH +
                    " --benchmark_filter='BM_berth_cycle_pool8/manual_time/threads:8$' --benchmark_min_time=0.3"
                    " --berth_report=" + quote(html.string()),
                log),
            0)
      << slurp(log);
  check_rendered(html, 1 + 4);
#endif
}

// The hover tooltip took the waiting-acquirers series' names (pool names)
// as markup (innerHTML): a pool named <img src=x onerror=alert(1)> became an
// img element. A report with such names (pool and phase), plus a script
// that hovers every chart as a mouse would (a mousemove at its centre) and
// counts the img elements after each hover; the waiters chart's tooltip
// must show each pool's name as text. (With the old script this test fails
// on data-images; the dump may come before an onerror runs.)
TEST_F(ReportRenderTest, HoveringShowsMarkupInNamesAsTextBug) {
  using namespace std::chrono_literals;
  berth::live::run_record r;
  r.interval = 250ms;
  r.duration = 2s;
  r.latency_label = "test latency";
  berth::live::phase_info ph;
  ph.name = "phase <img src=y onerror=alert(2)>";
  ph.pools = {"<img src=x onerror=alert(1)>", "plain"};
  ph.end = 2s;
  r.phases = {ph};
  for (int k = 1; k <= 8; ++k) {
    berth::live::sample s;
    s.elapsed = k * 250ms;
    s.window = 250ms;
    s.ops = 100u * static_cast<unsigned>(k);
    s.latency = {.count = 10, .p50 = k * 1000ns, .p99 = k * 5000ns, .max = k * 9000ns};
    berth::pool_counts c;
    c.total = 4;
    c.idle = 1;
    c.leased = 3;
    c.waiting = static_cast<std::size_t>(k % 3);
    c.max_size = 4;
    s.pools = {c, c};
    r.samples.push_back(s);
  }
  std::string page = berth::live::render_html_report(r, berth::live::run_metadata{});
  const std::size_t body_end = page.rfind("</body>");
  ASSERT_NE(body_end, std::string::npos);
  page.insert(body_end, R"js(<script>
(function () {
  // A name run as markup would call alert(), which blocks headless Chromium.
  window.alert = function (m) { document.body.dataset.alerted = String(m); };
  const pools = JSON.parse(document.getElementById('berth-data').textContent).pools;
  const tip = document.getElementById('tooltip');
  let hovered = 0, images = 0, named = false;
  document.querySelectorAll('figure.chart').forEach(function (fig) {
    const hits = fig.querySelectorAll('svg rect[fill="transparent"]');
    if (!hits.length) return;
    const hit = hits[hits.length - 1], box = hit.getBoundingClientRect();
    hit.dispatchEvent(new MouseEvent('mousemove', { clientX: box.left + box.width / 2,
                                                    clientY: box.top + box.height / 2 }));
    ++hovered;
    images += document.getElementsByTagName('img').length;
    if (fig.dataset.chart === 'waiters')
      named = pools.every(function (p) { return tip.textContent.indexOf(p + ': ') >= 0; });
  });
  document.body.dataset.hovered = String(hovered);
  document.body.dataset.images = String(images);
  document.body.dataset.named = String(named);
})();
</script>
)js");
  const fs::path html = artefacts / "markup_names_report.html";
  {
    std::ofstream f(html, std::ios::binary | std::ios::trunc);
    f << page;
    ASSERT_TRUE(f.good()) << html;
  }
  const fs::path dom = artefacts / "markup_names_report.dom.html";
  ASSERT_EQ(run(chromium("--dump-dom", html), artefacts / "markup_names_report.chromium.log", dom), 0)
      << slurp(artefacts / "markup_names_report.chromium.log");
  const std::string out = slurp(dom);
  std::smatch body;
  ASSERT_TRUE(std::regex_search(out, body, std::regex("<body[^>]*>"))) << out.substr(0, 2000);
  attributes b = attributes_of(body.str());
  EXPECT_EQ(b["data-charts-drawn"], "6") << "two pools; waiters, latency, throughput, timeouts";
  EXPECT_EQ(b["data-hovered"], "6");
  EXPECT_EQ(b["data-images"], "0") << "a name became an element";
  EXPECT_EQ(b["data-named"], "true") << "the waiters tooltip shows both pool names as text";
  EXPECT_EQ(b.count("data-alerted"), 0u) << "a name's onerror ran";
}

}  // namespace
