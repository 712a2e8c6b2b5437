// pg_pair.cpp: see pg_pair.hpp.
#include "support/pg_pair.hpp"

#include <stdexcept>
#include <thread>
#include <utility>

namespace berth::testing {

pg_pair pg_pair::start() {
  pg_server primary = pg_server::start();
  // Commits flush their WAL (a write(): fsync is off), so the walsender has
  // a commit to stream as soon as it returns, not up to 3 wal_writer_delay
  // later; the standby is asynchronous.
  primary.admin_execute("ALTER SYSTEM SET synchronous_commit = on");
  primary.admin_execute("SELECT pg_reload_conf()");
  pg_server standby = pg_server::start_standby(primary);
  pg_pair pair(std::move(primary), std::move(standby));
  pair.wait_for_streaming();
  return pair;
}

void pg_pair::wait_for_streaming(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (primary_.admin_execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "0") {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("pg_pair: the standby is not streaming from the primary after " +
                               std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string pg_pair::conninfo(std::initializer_list<const pg_server*> order, std::string_view extra) const {
  std::string hosts, ports;
  for (const pg_server* s : order) {
    if (!hosts.empty()) {
      hosts += ',';
      ports += ',';
    }
    hosts += s->host();
    ports += std::to_string(s->port());
  }
  std::string ci = "host=" + hosts + " port=" + ports + " dbname=" + primary_.dbname() + " user=" + primary_.user() +
                   " password=" + primary_.password();
  if (!extra.empty()) ci.append(" ").append(extra);
  return ci;
}

void pg_pair::wait_for_replay(std::chrono::milliseconds timeout) const {
  const std::string lsn = primary_.admin_execute("SELECT pg_current_wal_flush_lsn()");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (standby_.admin_execute("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn") != "t") {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("pg_pair: the standby has not replayed up to " + lsn + " within " +
                               std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void pg_pair::stop() noexcept {
  standby_.stop();
  primary_.stop();
}

}  // namespace berth::testing
