// html_report.cpp: see html_report.hpp. The page's stylesheet and script
// are in report_page.cpp.
#include <berth/live/html_report.hpp>

#include "report_page.hpp"

#include <berth/live/status_line.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <system_error>
#include <thread>

#include <unistd.h>

#ifndef BERTH_LIVE_BUILD_TYPE
#define BERTH_LIVE_BUILD_TYPE "unknown"
#endif
#ifndef BERTH_LIVE_SOURCE_DIR
#define BERTH_LIVE_SOURCE_DIR ""
#endif

namespace berth::live {

namespace {

/// The first line `command` prints, or "" (best effort, for metadata).
std::string first_line_of(const std::string& command) {
  std::FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) return {};
  char buf[256];
  std::string out;
  if (std::fgets(buf, sizeof buf, f) != nullptr) out = buf;
  ::pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string shell_quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// ---- JSON -------------------------------------------------------------------

void put_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out += buf;
}

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

/// "name":[v0,v1,...] from f(sample) (nullopt: null), after a comma unless
/// it opens an object.
template <class F>
void put_column(std::string& out, std::string_view name, const std::vector<sample>& samples, F f) {
  if (!out.empty() && out.back() != '{') out += ',';
  out += json_string(name);
  out += ":[";
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (i != 0) out += ',';
    const auto v = f(samples[i]);
    if (v)
      put_number(out, static_cast<double>(*v));
    else
      out += "null";
  }
  out += ']';
}

/// Every pool name, in order of first appearance.
std::vector<std::string> all_pools(const run_record& r) {
  std::vector<std::string> names;
  for (const phase_info& ph : r.phases)
    for (const std::string& n : ph.pools)
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  return names;
}

std::string data_json(const run_record& r, const std::vector<std::string>& pools) {
  std::string out = "{";
  out += "\"interval_s\":";
  put_number(out, seconds(r.interval));
  out += ",\"duration_s\":";
  put_number(out, seconds(r.duration));
  out += ",\"latency_label\":" + json_string(r.latency_label);
  out += ",\"pools\":[";
  for (std::size_t i = 0; i < pools.size(); ++i) {
    // Appended piece by piece: GCC 12's -Wrestrict misfires on
    // operator+(const char*, std::string&&) (see url.cpp).
    if (i != 0) out += ',';
    out += json_string(pools[i]);
  }
  out += "],\"phases\":[";
  for (std::size_t i = 0; i < r.phases.size(); ++i) {
    const phase_info& ph = r.phases[i];
    out += i ? ",{" : "{";
    out += "\"name\":" + json_string(ph.name) + ",\"start\":";
    put_number(out, seconds(ph.start));
    out += ",\"end\":";
    put_number(out, seconds(ph.end));
    out += '}';
  }
  out += "]";
  const auto& s = r.samples;
  using opt = std::optional<double>;
  put_column(out, "t", s, [](const sample& x) { return opt{seconds(x.elapsed)}; });
  put_column(out, "phase", s, [](const sample& x) { return opt{static_cast<double>(x.phase)}; });
  put_column(out, "ops_per_s", s, [](const sample& x) { return opt{x.ops_per_second()}; });
  put_column(out, "timeouts_per_s", s, [](const sample& x) {
    const double w = seconds(x.window);
    return w > 0 ? opt{static_cast<double>(x.timeouts) / w} : opt{};
  });
  const auto lat = [](auto field) {
    return [field](const sample& x) {
      return x.latency.count != 0 ? opt{static_cast<double>(field(x.latency).count())} : opt{};
    };
  };
  put_column(out, "lat_p50", s, lat([](const latency_summary& l) { return l.p50; }));
  put_column(out, "lat_p99", s, lat([](const latency_summary& l) { return l.p99; }));
  put_column(out, "lat_max", s, lat([](const latency_summary& l) { return l.max; }));
  put_column(out, "lat_n", s, [](const sample& x) { return opt{static_cast<double>(x.latency.count)}; });
  out += ",\"pool_data\":{";
  for (std::size_t p = 0; p < pools.size(); ++p) {
    if (p != 0) out += ',';
    out += json_string(pools[p]);
    out += ":{";
    // The sample's counts of pool `p`, if its phase watched that pool.
    const auto counts_of = [&](const sample& x) -> const pool_counts* {
      const std::vector<std::string>& names = r.phases[x.phase].pools;
      const auto it = std::find(names.begin(), names.end(), pools[p]);
      const auto k = static_cast<std::size_t>(it - names.begin());
      return it != names.end() && k < x.pools.size() ? &x.pools[k] : nullptr;
    };
    const auto field = [&](std::size_t pool_counts::*m) {
      return [&, m](const sample& x) {
        const pool_counts* c = counts_of(x);
        return c ? opt{static_cast<double>(c->*m)} : opt{};
      };
    };
    put_column(out, "leased", s, field(&pool_counts::leased));
    put_column(out, "idle", s, field(&pool_counts::idle));
    put_column(out, "total", s, field(&pool_counts::total));
    put_column(out, "connecting", s, field(&pool_counts::connecting));
    put_column(out, "waiting", s, field(&pool_counts::waiting));
    put_column(out, "max_size", s, field(&pool_counts::max_size));
    out += '}';
  }
  out += "}}";
  return out;
}

// ---- HTML -------------------------------------------------------------------

void row(std::string& out, std::string_view key, std::string_view value) {
  out += "<dt>" + html_escape(key) + "</dt><dd>" + html_escape(value) + "</dd>\n";
}

std::string latency_cell(const latency_summary& l, std::chrono::nanoseconds latency_summary::*m) {
  return l.count != 0 ? format_duration(l.*m) : "&ndash;";
}

void phase_row(std::string& out, const std::string& number, const std::string& name, std::chrono::nanoseconds watched, std::uint64_t ops,
               double ops_per_s, std::size_t peak_leased, std::size_t peak_waiting, std::uint64_t timeouts,
               const latency_summary& lat, std::size_t samples, bool total) {
  char buf[64];
  out += total ? "<tr class=\"total\">" : "<tr>";
  out += "<td class=\"num\">" + number + "</td><th>" + html_escape(name) + "</th>";
  std::snprintf(buf, sizeof buf, "%.2f s", seconds(watched));
  out += "<td>" + std::string(buf) + "</td>";
  out += "<td>" + std::to_string(samples) + "</td>";
  out += "<td>" + std::to_string(ops) + "</td>";
  out += "<td>" + format_rate(ops_per_s) + "</td>";
  out += "<td>" + std::to_string(peak_leased) + "</td>";
  out += "<td>" + std::to_string(peak_waiting) + "</td>";
  out += "<td>" + std::to_string(timeouts) + "</td>";
  out += "<td>" + latency_cell(lat, &latency_summary::p50) + "</td>";
  out += "<td>" + latency_cell(lat, &latency_summary::p99) + "</td>";
  out += "<td>" + latency_cell(lat, &latency_summary::max) + "</td></tr>\n";
}

void summary_table(std::string& out, const run_record& r) {
  out +=
      "<table class=\"summary\"><thead><tr><th>#</th><th>phase</th><th>watched</th><th>samples</th><th>operations</th>"
      "<th>ops/s</th><th>peak leased</th><th>peak waiting</th><th>timeouts</th><th>latency p50</th>"
      "<th>p99</th><th>max</th></tr></thead><tbody>\n";
  phase_info all;
  all.name = "whole run";
  for (std::size_t i = 0; i < r.phases.size(); ++i) {
    const phase_info& ph = r.phases[i];
    phase_row(out, std::to_string(i + 1), ph.name, ph.watched, ph.ops, ph.ops_per_second(), ph.peak_leased, ph.peak_waiting, ph.timeouts,
              ph.latency, ph.samples, false);
    all.watched += ph.watched;
    all.ops += ph.ops;
    all.timeouts += ph.timeouts;
    all.samples += ph.samples;
    all.peak_leased = std::max(all.peak_leased, ph.peak_leased);
    all.peak_waiting = std::max(all.peak_waiting, ph.peak_waiting);
    for (std::size_t b = 0; b < all.latency_buckets.size(); ++b) all.latency_buckets[b] += ph.latency_buckets[b];
    all.latency.max = std::max(all.latency.max, ph.latency.max);
  }
  if (r.phases.size() > 1) {
    const latency_summary lat = summarize(all.latency_buckets, all.latency.max);
    phase_row(out, "", all.name, all.watched, all.ops, all.ops_per_second(), all.peak_leased, all.peak_waiting,
              all.timeouts, lat, all.samples, true);
  }
  out += "</tbody></table>\n";
}

void figure(std::string& out, std::string_view kind, std::string_view pool, std::string_view title,
            std::string_view caption, bool wide = false) {
  out += wide ? "<figure class=\"chart wide\"" : "<figure class=\"chart\"";
  out += " data-chart=\"" + html_escape(kind) + "\"";
  if (!pool.empty()) out += " data-pool=\"" + html_escape(pool) + "\"";
  out += "><figcaption><h3>" + html_escape(title) + "</h3><div class=\"legend\"></div></figcaption>";
  out += "<svg class=\"plot\" role=\"img\" aria-label=\"" + html_escape(title) + "\"></svg>";
  out += "<p class=\"note\">" + html_escape(caption) + "</p></figure>\n";
}

}  // namespace

run_metadata describe_run(int argc, const char* const* argv) {
  run_metadata m;
  if (argc > 0 && argv[0] != nullptr) m.program = std::filesystem::path(argv[0]).filename().string();
  for (int i = 1; i < argc; ++i) m.args.emplace_back(argv[i]);
  m.build_type = BERTH_LIVE_BUILD_TYPE;
  const std::string src = BERTH_LIVE_SOURCE_DIR;
  if (!src.empty())
    m.commit = first_line_of("git -C " + shell_quote(src) + " describe --always --dirty --abbrev=12 2>/dev/null");
  if (m.commit.empty()) m.commit = "unknown";
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  m.host = std::string(host) + " (" + std::to_string(std::thread::hardware_concurrency()) + " CPUs)";
#if defined(__clang__)
  m.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.compiler = "GCC " __VERSION__;
#else
  m.compiler = "unknown";
#endif
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  char when[64] = "unknown";
  if (::localtime_r(&now, &local) != nullptr) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S%z", &local);
  m.started_at = when;
  return m;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  char buf[8];
  const auto u = [&](unsigned cp) {
    std::snprintf(buf, sizeof buf, "\\u%04x", cp);
    out += buf;
  };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '<': case '>': case '&': u(c); break;
        default:
          if (c < 0x20)
            u(c);
          else
            out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A UTF-8 sequence: copied when well-formed, else U+FFFD for the byte.
    const std::size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = len != 0 && i + len <= s.size();
    unsigned cp = len == 4 ? c & 0x07u : len == 3 ? c & 0x0fu : c & 0x1fu;
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    // Overlong forms and surrogates are not well-formed either.
    ok = ok && !(len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) &&
         !(len == 4 && (cp < 0x10000 || cp > 0x10ffff));
    if (!ok) {
      u(0xfffd);
      ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      u(cp);
      i += len;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out + "\"";
}

std::size_t report_chart_count(const run_record& r) { return all_pools(r).size() + 4; }

std::string render_html_report(const run_record& r, const run_metadata& m) {
  const std::vector<std::string> pools = all_pools(r);
  std::string args;
  for (const std::string& a : m.args) args += (args.empty() ? "" : " ") + a;
  const std::string command = m.program + (args.empty() ? "" : " ") + args;
  const std::string title = "berth run report: " + (m.program.empty() ? std::string("run") : m.program);

  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(title) + "</title>\n<style>\n";
  out += report_page::stylesheet;
  out += "</style></head>\n";
  out += "<body data-charts-expected=\"" + std::to_string(report_chart_count(r)) + "\" data-charts-drawn=\"0\">\n";
  out += "<header><h1>" + html_escape(title) + "</h1><p class=\"command\"><code>" + html_escape(command) +
         "</code></p></header>\n<main>\n";

  out += "<section class=\"meta\"><h2>Run</h2><dl class=\"kv\">\n";
  char buf[96];
  row(out, "program", m.program);
  row(out, "arguments", args.empty() ? "(none)" : args);
  row(out, "build", m.build_type);
  row(out, "commit", m.commit);
  row(out, "host", m.host);
  row(out, "compiler", m.compiler);
  row(out, "started", m.started_at);
  std::snprintf(buf, sizeof buf, "%.2f s", seconds(r.duration));
  row(out, "duration", buf);
  std::snprintf(buf, sizeof buf, "%zu, every %.0f ms", r.samples.size(),
                std::chrono::duration<double, std::milli>(r.interval).count());
  std::string samples = buf;
  if (r.samples_skipped != 0)
    samples += "; " + std::to_string(r.samples_skipped) + " skipped (a probe threw; the next sample covers them)";
  row(out, "samples", samples);
  row(out, "latency", r.latency_label.empty() ? "none recorded" : r.latency_label);
  for (const auto& [k, v] : m.notes) row(out, k, v);
  out += "</dl></section>\n";

  out += "<section class=\"phases\"><h2>Summary</h2>\n";
  summary_table(out, r);
  out +=
      "<p class=\"note\">Watched: time the phase's pools were sampled. Latency: per-phase percentiles of every "
      "recorded latency (bucket upper bounds, at most 12.5% over). Peak figures are the largest seen in one "
      "sample, all pools together.</p></section>\n";

  out += "<section class=\"charts\"><h2>Over the run</h2><div class=\"grid\">\n";
  for (const std::string& p : pools)
    figure(out, "utilisation", p, "Pool utilisation: " + p,
           "Connections by state at each sample: leased (filled), idle, open in total and the max_size in force. "
           "Shaded bands are phases, numbered as in the summary.",
           pools.size() % 2 == 1 && p == pools.front());  // the rest pair up beside each other
  figure(out, "waiters", "", "Waiting acquirers",
         "Acquirers blocked for a connection at each sample, per pool.");
  figure(out, "latency", "", "Latency per interval (log scale)",
         "p50, p99 and max of " + (r.latency_label.empty() ? std::string("the latencies") : r.latency_label) +
             " recorded in each interval; gaps: none recorded.");
  figure(out, "throughput", "", "Throughput",
         "Operations per second in each interval (the harness's operations).");
  figure(out, "timeouts", "", "Acquire timeouts",
         "Acquires that hit their deadline, per second in each interval, all pools.");
  out += "</div></section>\n</main>\n";
  out += "<div id=\"tooltip\" hidden></div>\n";
  out += "<script id=\"berth-data\" type=\"application/json\">" + data_json(r, pools) + "</script>\n<script>\n";
  out += report_page::script;
  out += "</script>\n</body></html>\n";
  return out;
}

void write_html_report(const std::filesystem::path& path, const run_record& r, const run_metadata& m) {
  const std::string page = render_html_report(r, m);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (f) f.write(page.data(), static_cast<std::streamsize>(page.size()));
  f.close();
  if (!f)
    throw std::system_error(errno ? errno : EIO, std::generic_category(),
                            "berth::live: cannot write the report " + path.string());
}

}  // namespace berth::live
