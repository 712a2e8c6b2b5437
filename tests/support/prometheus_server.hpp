// prometheus_server.hpp: a throwaway Prometheus server (Debian prometheus)
// scraping given loopback targets every second, for integration tests of
// berth's metrics (tests/integrations/prometheus/scrape_test.cpp).
//
// start() writes prometheus.yml into a fresh directory under $TMPDIR (one
// job, scrape_interval and scrape_timeout 1 s, static targets), picks a free
// loopback port and starts /usr/bin/prometheus on 127.0.0.1 with its TSDB in
// that directory, then waits (bounded) until GET /-/ready answers 200.
// query() runs an instant query through the HTTP API (/api/v1/query).
//
// Never left running: stop() (the destructor) sends it SIGTERM, reaps it
// and deletes the directory; a watchdog (server_process.hpp) does the same
// when the program dies by any means.
//
// Thread-safety: stop() is not thread-safe with anything else; port(),
// query() and log_tail() are safe once start() has returned.
#pragma once

#include "support/server_process.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace berth::testing {

class prometheus_server {
 public:
  /// The binary start() runs (Debian package prometheus).
  static constexpr const char* binary = "/usr/bin/prometheus";

  /// True when binary is installed and executable. Never throws.
  static bool available() noexcept;

  /// Starts a server scraping targets ("127.0.0.1:PORT", path /metrics) as
  /// job `job` (see the file comment). Throws std::runtime_error naming the
  /// failing step, with the tail of the server's log. Blocks up to about
  /// 60 s (usually 1 to 2 s).
  static prometheus_server start(const std::string& job, const std::vector<std::string>& targets);

  prometheus_server(prometheus_server&& o) noexcept;
  prometheus_server& operator=(prometheus_server&&) = delete;
  prometheus_server(const prometheus_server&) = delete;
  prometheus_server& operator=(const prometheus_server&) = delete;
  ~prometheus_server() { stop(); }

  /// The HTTP port on 127.0.0.1.
  std::uint16_t port() const noexcept { return port_; }

  /// The sample values of an instant query's result, one per series (a
  /// scalar result gives one value). Throws std::runtime_error when the
  /// server answers with an error (the message has its body). Blocks.
  std::vector<double> query(const std::string& promql) const;

  /// The last characters of the server's log, for failure messages.
  std::string log_tail() const;

  /// Stops the server and deletes its directory. Idempotent. Blocks up to
  /// 10 s.
  void stop() noexcept;

 private:
  prometheus_server() = default;
  /// Polls /-/ready: true once it answers 200, false if the server exited.
  bool wait_ready();

  std::string dir_;  // configuration, log, TSDB and pid file; empty once stopped
  std::uint16_t port_ = 0;
  detail::watched_child child_;  // owns dir_: deletes it when it stops
};

}  // namespace berth::testing
