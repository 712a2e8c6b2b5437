// status_line.cpp: see status_line.hpp.
#include <berth/live/status_line.hpp>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace berth::live {

status_mode choose_status_mode(std::optional<bool> requested, bool is_terminal) noexcept {
  if (!requested) return is_terminal ? status_mode::terminal : status_mode::off;
  if (!*requested) return status_mode::off;
  return is_terminal ? status_mode::terminal : status_mode::plain;
}

std::optional<bool> live_from_env() {
  const char* v = std::getenv("BERTH_LIVE");
  if (v == nullptr || *v == '\0') return std::nullopt;
  const std::string_view s = v;
  if (s == "1" || s == "on" || s == "yes") return true;
  if (s == "0" || s == "off" || s == "no") return false;
  throw std::invalid_argument("BERTH_LIVE must be 0 or 1 (or on/off, yes/no), not \"" + std::string(s) + "\"");
}

std::string format_duration(std::chrono::nanoseconds d) {
  char buf[32];
  const double ns = static_cast<double>(d.count());
  if (ns < 1e3)
    std::snprintf(buf, sizeof buf, "%.0fns", ns);
  else if (ns < 1e6)
    std::snprintf(buf, sizeof buf, ns < 1e4 ? "%.2fus" : ns < 1e5 ? "%.1fus" : "%.0fus", ns / 1e3);
  else if (ns < 1e9)
    std::snprintf(buf, sizeof buf, ns < 1e7 ? "%.2fms" : ns < 1e8 ? "%.1fms" : "%.0fms", ns / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  return buf;
}

std::string format_rate(double v) {
  char buf[32];
  const char* unit = "";
  if (v >= 1e9) {
    v /= 1e9;
    unit = "G";
  } else if (v >= 1e6) {
    v /= 1e6;
    unit = "M";
  } else if (v >= 1e3) {
    v /= 1e3;
    unit = "k";
  }
  if (*unit == '\0')
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, unit);
  return buf;
}

std::string format_status(const sample& s, const phase_info& phase) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.1fs", std::chrono::duration<double>(s.elapsed).count());
  std::string line = buf;
  line += ' ';
  line += phase.name;
  line += " | ";
  line += format_rate(s.ops_per_second());
  line += " ops/s";
  for (std::size_t i = 0; i < s.pools.size() && i < phase.pools.size(); ++i) {
    const pool_counts& c = s.pools[i];
    std::snprintf(buf, sizeof buf, " | %s %zu/%zu leased, %zu idle, %zu waiting", phase.pools[i].c_str(), c.leased,
                  c.max_size, c.idle, c.waiting);
    line += buf;
    if (c.connecting != 0) {
      std::snprintf(buf, sizeof buf, ", %zu connecting", c.connecting);
      line += buf;
    }
  }
  std::snprintf(buf, sizeof buf, " | %llu timeouts", static_cast<unsigned long long>(phase.timeouts));
  line += buf;
  if (s.latency.count != 0) {
    line += " | p50 " + format_duration(s.latency.p50) + " p99 " + format_duration(s.latency.p99) + " max " +
            format_duration(s.latency.max);
  }
  return line;
}

std::string status_line::render(const sample& s, const phase_info& phase, std::size_t width) {
  switch (mode_) {
    case status_mode::off:
      return {};
    case status_mode::terminal: {
      std::string text = format_status(s, phase);
      // One column spare: writing the last column leaves some terminals
      // in a pending-wrap state.
      if (width > 1 && text.size() > width - 1) text.resize(width - 1);
      drawn_ = true;
      return "\r" + text + "\x1b[K";
    }
    case status_mode::plain:
      if (last_plain_ && s.elapsed - *last_plain_ < plain_every_) return {};
      if (!last_plain_ && s.elapsed < plain_every_) return {};
      last_plain_ = s.elapsed;
      return "live: " + format_status(s, phase) + "\n";
  }
  return {};
}

std::string status_line::clear() {
  if (mode_ != status_mode::terminal || !drawn_) return {};
  drawn_ = false;
  return "\r\x1b[K";
}

}  // namespace berth::live
