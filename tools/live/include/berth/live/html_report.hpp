// html_report.hpp: a run_record as ONE self-contained HTML file: the run's
// metadata, a summary table per phase, and charts of pool utilisation,
// waiters, acquire latency (per interval, log scale), throughput and
// timeouts over the run.
//
// No CDN and no external file: the samples are embedded as JSON in a
// <script type="application/json"> and a small inline script draws each
// chart as SVG. After drawing, every chart element (figure.chart) carries
// data-drawn="true" and data-points="<points plotted>", or data-error; the
// body carries data-charts-expected (written here) and data-charts-drawn
// (set by the script), so a headless browser can check the page itself.
#pragma once

#include <berth/live/sample.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::live {

/// What the report says about the run. A plain struct; describe_run()
/// fills the usual fields. Thread-safety: a value type.
struct run_metadata {
  std::string program;                ///< the binary's name (argv[0]'s last component)
  std::vector<std::string> args;      ///< the arguments after argv[0], as given
  std::string build_type;             ///< CMAKE_BUILD_TYPE (+ sanitizer) of the tools
  std::string commit;                 ///< git describe of the source tree, or "unknown"
  std::string host;                   ///< hostname and CPU count
  std::string compiler;               ///< compiler and version
  std::string started_at;             ///< local time, ISO 8601
  /// More rows for the metadata table (seed, preset, ...), in order.
  std::vector<std::pair<std::string, std::string>> notes;
};

/// The metadata of this process: program and args from argv, the build
/// type and compiler berth_live was built with, the commit of the source
/// tree it was configured from (git, best effort), the host, the time now.
/// Runs `git` once. Thread-safe.
run_metadata describe_run(int argc, const char* const* argv);

/// `s` with &, <, >, " and ' replaced by entities. Pure.
std::string html_escape(std::string_view s);
/// `s` as a JSON string literal, quotes included; <, >, & and the line
/// separators U+2028/2029 as \u escapes, so that the literal is safe inside
/// a <script> element. Invalid UTF-8 bytes become U+FFFD. Pure.
std::string json_string(std::string_view s);

/// The charts the report of `r` holds (utilisation per pool, waiters,
/// latency, throughput, timeouts): what data-charts-expected says. Pure.
std::size_t report_chart_count(const run_record& r);

/// The HTML page. Pure.
std::string render_html_report(const run_record& r, const run_metadata& m);

/// Writes render_html_report(r, m) to `path` (replacing it). Throws
/// std::system_error when the file cannot be written. Thread-safe for
/// distinct paths. Blocks (file I/O).
void write_html_report(const std::filesystem::path& path, const run_record& r, const run_metadata& m);

}  // namespace berth::live
