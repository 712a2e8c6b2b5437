// prometheus_server.cpp: see prometheus_server.hpp.
#include "support/prometheus_server.hpp"

#include "support/http_get.hpp"

#include <chrono>
#include <csignal>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>
#include <utility>

namespace berth::testing {
namespace {

constexpr const char* who = "prometheus_server";

std::runtime_error failure(const std::string& what, const std::string& log) {
  return std::runtime_error(std::string(who) + ": " + what + "; log tail:\n" + detail::tail_of(log));
}

/// The values in a /api/v1/query answer: the second element of each
/// "value":[<time>,"<value>"] (vector and scalar results alike).
std::vector<double> values_of(const std::string& body) {
  std::vector<double> out;
  const std::string key = "\"value\":[";
  for (std::size_t at = body.find(key); at != std::string::npos; at = body.find(key, at + 1)) {
    const std::size_t open = body.find(",\"", at + key.size());
    const std::size_t close = body.find('"', open + 2);
    if (open == std::string::npos || close == std::string::npos) break;
    out.push_back(std::strtod(body.substr(open + 2, close - open - 2).c_str(), nullptr));
  }
  return out;
}

}  // namespace

prometheus_server::prometheus_server(prometheus_server&& o) noexcept
    : dir_(std::exchange(o.dir_, {})), port_(o.port_), child_(std::move(o.child_)) {}

bool prometheus_server::available() noexcept { return ::access(binary, X_OK) == 0; }

prometheus_server prometheus_server::start(const std::string& job, const std::vector<std::string>& targets) {
  if (!available())
    throw std::runtime_error(std::string(who) + ": " + binary + " is not installed (Debian package prometheus)");
  prometheus_server p;
  // The port may be taken between our probe and the server's bind: retry
  // (each attempt in a fresh directory: a stopped attempt deletes its own).
  for (int attempt = 1;; ++attempt) {
    p.dir_ = detail::make_temp_directory("berth-prometheus", who);
    const std::string config = p.dir_ + "/prometheus.yml", log = p.dir_ + "/prometheus.log";
    {
      std::ofstream c(config, std::ios::trunc);
      c << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        << "scrape_configs:\n  - job_name: " << job << "\n    static_configs:\n      - targets: [";
      for (std::size_t i = 0; i < targets.size(); ++i) c << (i ? ", '" : "'") << targets[i] << "'";
      c << "]\n";
    }
    p.port_ = detail::free_loopback_port(who);
    p.child_ = detail::watched_child({binary, "--config.file=" + config, "--storage.tsdb.path=" + p.dir_ + "/data",
                                      "--web.listen-address=127.0.0.1:" + std::to_string(p.port_)},
                                     p.dir_, log, p.dir_, SIGTERM, who);
    if (p.wait_ready()) break;
    if (attempt == 3) throw failure("exited at start three times", log);
  }
  return p;
}

bool prometheus_server::wait_ready() {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  while (std::chrono::steady_clock::now() < end) {
    if (child_.exited()) return false;
    try {
      if (http_get(port_, "/-/ready", std::chrono::seconds{2}).status == 200) return true;
    } catch (const std::runtime_error&) {  // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  throw failure("not ready 60 s after start", dir_ + "/prometheus.log");
}

std::vector<double> prometheus_server::query(const std::string& promql) const {
  const http_response r = http_get(port_, "/api/v1/query?query=" + url_encode(promql));
  if (r.status != 200 || r.body.find("\"status\":\"success\"") == std::string::npos)
    throw std::runtime_error(std::string(who) + ": query " + promql + " answered " + std::to_string(r.status) +
                             ": " + r.body);
  return values_of(r.body);
}

std::string prometheus_server::log_tail() const { return detail::tail_of(dir_ + "/prometheus.log"); }

void prometheus_server::stop() noexcept {
  child_.stop();  // deletes dir_
  dir_.clear();
}

}  // namespace berth::testing
