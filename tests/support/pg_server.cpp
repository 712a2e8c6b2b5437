// pg_server.cpp: see pg_server.hpp.
#include "support/pg_server.hpp"

#include <libpq-fe.h>

#include "support/server_process.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
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
      replication_user_(std::move(o.replication_user_)),
      owner_pid_(o.owner_pid_),
      watchdog_(std::move(o.watchdog_)) {
  o.dir_.clear();
}

pg_server::~pg_server() { stop(); }

pg_server pg_server::prepare(const std::string& prefix) {
  pg_server s;
  s.password_ = "pw_" + detail::random_hex(24);
  s.dir_ = detail::make_private_directory(prefix, who);
  const std::string sock = s.dir_ + "/sock";
  std::filesystem::create_directory(sock);
  detail::give_to_postgres_user(sock, who);
  // The watchdog first, so that even a failed start leaves nothing behind.
  // SIGQUIT: the postmaster's immediate shutdown.
  s.watchdog_ = detail::watchdog(s.dir_ + "/data/postmaster.pid", s.dir_, SIGQUIT, who);
  return s;
}

void pg_server::configure_and_start() {
  const std::string data = dir_ + "/data", log = dir_ + "/server.log";
  // The port may be taken between our probe and postgres's bind: retry.
  for (int attempt = 1;; ++attempt) {
    port_ = detail::free_loopback_port(who);
    {
      std::ofstream conf(data + "/postgresql.conf", std::ios::app);
      conf << "\nlisten_addresses = '127.0.0.1'\nport = " << port_ << "\nunix_socket_directories = '" << dir_
           << "/sock'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
           << "max_connections = 60\npassword_encryption = 'scram-sha-256'\n"
           << "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n";
    }
    try {
      run({std::string(pg_bin) + "pg_ctl", "start", "-D", data, "-l", log, "-w", "-t", "30"}, dir_,
          dir_ + "/pg_ctl.log", who);
      return;
    } catch (const std::runtime_error& e) {
      if (attempt == 3)
        throw std::runtime_error(std::string(e.what()) + "\nserver log tail:\n" + tail_of(log));
    }
  }
}

pg_server pg_server::start() {
  pg_server s = prepare("berth-pg");
  const std::string data = s.dir_ + "/data";
  run({std::string(pg_bin) + "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync",
       "--no-instructions", "-E", "UTF8", "--locale=C"},
      s.dir_, s.dir_ + "/initdb.log", who);
  {
    std::ofstream hba(data + "/pg_hba.conf", std::ios::trunc);
    hba << "local all all trust\n"
        << "host all all 127.0.0.1/32 scram-sha-256\n"
        << "host replication " << s.replication_user_ << " 127.0.0.1/32 scram-sha-256\n";
  }
  s.configure_and_start();
  s.admin_execute("CREATE ROLE " + s.user_ + " LOGIN PASSWORD '" + s.password_ + "'");
  s.admin_execute("CREATE DATABASE " + s.dbname_ + " OWNER " + s.user_);
  s.admin_execute("CREATE ROLE " + s.replication_user_ + " REPLICATION LOGIN PASSWORD '" + s.password_ + "'");
  return s;
}

pg_server pg_server::start_standby(const pg_server& primary) {
  pg_server s = prepare("berth-pg-standby");
  // The roles and the database are replicated: the standby's are primary's.
  s.password_ = primary.password_;
  s.dbname_ = primary.dbname_;
  s.user_ = primary.user_;
  s.replication_user_ = primary.replication_user_;
  // -R writes standby.signal and primary_conninfo (this conninfo, password
  // included) into the copy; -c fast: an immediate checkpoint instead of a
  // spread one; -N and no manifest: nothing to make durable or verify.
  run({std::string(pg_bin) + "pg_basebackup", "-D", s.dir_ + "/data", "-R", "-X", "stream", "-c", "fast", "-N",
       "--no-manifest", "-d",
       "host=" + primary.host_ + " port=" + std::to_string(primary.port_) + " user=" + primary.replication_user_ +
           " password=" + primary.password_ + " application_name=berth_standby"},
      s.dir_, s.dir_ + "/basebackup.log", who);
  // The copied postgresql.conf names primary's port and socket directory:
  // configure_and_start() appends this server's, which win.
  s.configure_and_start();
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

int pg_server::terminate_user_backends(bool wait) const {
  return std::stoi(admin_execute(std::string("SELECT count(pg_terminate_backend(pid") + (wait ? ", 5000" : "") +
                                 ")) FROM pg_stat_activity WHERE usename = '" + user_ + "'"));
}

void pg_server::run_pg_ctl(const std::string& action) const {
  run({std::string(pg_bin) + "pg_ctl", action, "-D", dir_ + "/data", "-m", "fast", "-l", dir_ + "/server.log",
       "-w", "-t", "30"},
      dir_, dir_ + "/pg_ctl.log", who);
}

void pg_server::restart() { run_pg_ctl("restart"); }

void pg_server::stop_keeping_data(const std::string& mode) {
  run({std::string(pg_bin) + "pg_ctl", "stop", "-D", dir_ + "/data", "-m", mode, "-w", "-t", "30"}, dir_,
      dir_ + "/pg_ctl.log", who);
}

void pg_server::start_again() {
  run({std::string(pg_bin) + "pg_ctl", "start", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "30"},
      dir_, dir_ + "/pg_ctl.log", who);
}

void pg_server::promote() {
  run({std::string(pg_bin) + "pg_ctl", "promote", "-D", dir_ + "/data", "-w", "-t", "30"}, dir_,
      dir_ + "/pg_ctl.log", who);
  // pg_ctl -w returns once the control file says "in production"; check
  // that sessions see it too.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (in_recovery()) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("pg_server: still in recovery 30 s after pg_ctl promote; log tail:\n" +
                               tail_of(dir_ + "/server.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool pg_server::in_recovery() const { return admin_execute("SELECT pg_is_in_recovery()") == "t"; }

void pg_server::stop() noexcept {
  // A fork child of the test (fault_test.cpp) that leaves through exit()
  // runs the shared server's static destructor: the server is the parent's.
  if (dir_.empty() || ::getpid() != owner_pid_) return;
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
