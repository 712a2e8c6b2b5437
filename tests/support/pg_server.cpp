// pg_server.cpp: see pg_server.hpp.
#include "support/pg_server.hpp"

#include <libpq-fe.h>

#include "support/server_process.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace berth::testing {
namespace {

using detail::run;
using detail::tail_of;

constexpr const char* pg_bin = "/usr/lib/postgresql/15/bin/";
constexpr const char* who = "pg_server";

struct pg_conn_deleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct pg_result_deleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};

}  // namespace

pg_server::pg_server(pg_server&& o) noexcept
    : dir_(std::move(o.dir_)),
      port_(o.port_),
      dbname_(std::move(o.dbname_)),
      user_(std::move(o.user_)),
      password_(std::move(o.password_)),
      watchdog_(std::move(o.watchdog_)) {
  o.dir_.clear();
}

pg_server::~pg_server() { stop(); }

pg_server pg_server::start() {
  pg_server s;
  s.password_ = "pw_" + detail::random_hex(24);
  s.dir_ = detail::make_private_directory("berth-pg", who);
  const std::string data = s.dir_ + "/data", sock = s.dir_ + "/sock", log = s.dir_ + "/server.log";
  std::filesystem::create_directory(sock);
  detail::give_to_postgres_user(sock, who);

  // The watchdog first, so that even a failed start leaves nothing behind.
  // SIGQUIT: the postmaster's immediate shutdown.
  s.watchdog_ = detail::watchdog(data + "/postmaster.pid", s.dir_, SIGQUIT, who);

  run({std::string(pg_bin) + "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync",
       "--no-instructions", "-E", "UTF8", "--locale=C"},
      s.dir_, s.dir_ + "/initdb.log", who);
  {
    std::ofstream hba(data + "/pg_hba.conf", std::ios::trunc);
    hba << "local all all trust\n"
        << "host all all 127.0.0.1/32 scram-sha-256\n";
  }
  // The port may be taken between our probe and postgres's bind: retry.
  for (int attempt = 1;; ++attempt) {
    s.port_ = detail::free_loopback_port(who);
    {
      std::ofstream conf(data + "/postgresql.conf", std::ios::app);
      conf << "\nlisten_addresses = '127.0.0.1'\nport = " << s.port_ << "\nunix_socket_directories = '" << sock
           << "'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
           << "max_connections = 60\npassword_encryption = 'scram-sha-256'\n";
    }
    try {
      run({std::string(pg_bin) + "pg_ctl", "start", "-D", data, "-l", log, "-w", "-t", "30"}, s.dir_,
          s.dir_ + "/pg_ctl.log", who);
      break;
    } catch (const std::runtime_error& e) {
      if (attempt == 3)
        throw std::runtime_error(std::string(e.what()) + "\nserver log tail:\n" + tail_of(log));
    }
  }
  s.admin_execute("CREATE ROLE " + s.user_ + " LOGIN PASSWORD '" + s.password_ + "'");
  s.admin_execute("CREATE DATABASE " + s.dbname_ + " OWNER " + s.user_);
  return s;
}

std::string pg_server::conninfo() const { return conninfo_with_password(password_); }

std::string pg_server::conninfo_with_password(const std::string& password) const {
  return "host=" + host_ + " port=" + std::to_string(port_) + " dbname=" + dbname_ + " user=" + user_ +
         " password=" + password;
}

std::string pg_server::admin_execute(const std::string& sql, const std::string& dbname) const {
  const std::string ci = "host=" + dir_ + "/sock port=" + std::to_string(port_) + " dbname=" + dbname +
                         " user=postgres connect_timeout=10";
  std::unique_ptr<PGconn, pg_conn_deleter> c(PQconnectdb(ci.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("pg_server: admin connect: ") + PQerrorMessage(c.get()));
  std::unique_ptr<PGresult, pg_result_deleter> r(PQexec(c.get(), sql.c_str()));
  const auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    throw std::runtime_error("pg_server: `" + sql + "`: " + PQerrorMessage(c.get()));
  if (st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0 && PQnfields(r.get()) > 0)
    return PQgetvalue(r.get(), 0, 0);
  return {};
}

int pg_server::terminate_user_backends() const {
  return std::stoi(admin_execute(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '" + user_ + "'"));
}

void pg_server::run_pg_ctl(const std::string& action) const {
  run({std::string(pg_bin) + "pg_ctl", action, "-D", dir_ + "/data", "-m", "fast", "-l", dir_ + "/server.log",
       "-w", "-t", "30"},
      dir_, dir_ + "/pg_ctl.log", who);
}

void pg_server::restart() { run_pg_ctl("restart"); }

void pg_server::pause() {
  run({std::string(pg_bin) + "pg_ctl", "stop", "-D", dir_ + "/data", "-m", "fast", "-w", "-t", "30"}, dir_,
      dir_ + "/pg_ctl.log", who);
}

void pg_server::resume() {
  run({std::string(pg_bin) + "pg_ctl", "start", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "30"},
      dir_, dir_ + "/pg_ctl.log", who);
}

void pg_server::stop() noexcept {
  if (dir_.empty()) return;
  try {
    run({std::string(pg_bin) + "pg_ctl", "stop", "-D", dir_ + "/data", "-m", "fast", "-w", "-t", "30"}, dir_,
        dir_ + "/pg_ctl.log", who);
  } catch (const std::exception&) {
    detail::kill_by_pid_file((dir_ + "/data/postmaster.pid").c_str(), SIGQUIT);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
  watchdog_.release();
}

}  // namespace berth::testing
