// pgbouncer.cpp: see pgbouncer.hpp.
#include "support/pgbouncer.hpp"

#include <libpq-fe.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace berth::testing {
namespace {

constexpr const char* who = "pgbouncer";

std::runtime_error failure(const std::string& what, const std::string& log) {
  return std::runtime_error(std::string(who) + ": " + what + "; log tail:\n" + detail::tail_of(log));
}

void sleep_10ms() noexcept {
  timespec ts{0, 10'000'000};
  ::nanosleep(&ts, nullptr);
}

/// s as a field of PgBouncer's auth file: in double quotes, inner ones doubled.
std::string auth_field(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

/// Logs in with conninfo and runs SELECT 1: "" on success, else libpq's
/// message (which never contains the password).
std::string try_select1(const std::string& conninfo) {
  PGconn* c = PQconnectdb((conninfo + " connect_timeout=10").c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, "SELECT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) err = PQerrorMessage(c);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

}  // namespace

bool pgbouncer::available() noexcept { return ::access(binary, X_OK) == 0; }

pgbouncer::pgbouncer(pgbouncer&& o) noexcept
    : dir_(std::move(o.dir_)),
      port_(o.port_),
      dbname_(std::move(o.dbname_)),
      user_(std::move(o.user_)),
      password_(std::move(o.password_)),
      settings_(o.settings_),
      child_(std::exchange(o.child_, -1)),
      watchdog_(std::move(o.watchdog_)) {
  o.dir_.clear();
}

pgbouncer::~pgbouncer() { stop(); }

pgbouncer pgbouncer::start(const pg_server& server, const pgbouncer_settings& settings) {
  if (!available())
    throw std::runtime_error(std::string(who) + ": " + binary + " is not installed (Debian package pgbouncer)");
  if (settings.default_pool_size < 1)
    throw std::runtime_error(std::string(who) + ": default_pool_size must be >= 1");
  if (settings.query_wait_timeout < std::chrono::seconds{1})
    throw std::runtime_error(std::string(who) + ": query_wait_timeout must be >= 1 s");
  pgbouncer b;
  b.settings_ = settings;
  b.dbname_ = server.dbname();
  b.user_ = server.user();
  b.password_ = server.password();
  b.dir_ = detail::make_private_directory("berth-pgbouncer", who);
  const std::string ini = b.dir_ + "/pgbouncer.ini", users = b.dir_ + "/users.txt",
                    log = b.dir_ + "/pgbouncer.log", pidfile = b.dir_ + "/pgbouncer.pid";
  // The watchdog first, so that even a failed start leaves nothing behind.
  // SIGTERM: PgBouncer's immediate shutdown.
  b.watchdog_ = detail::watchdog(pidfile, b.dir_, SIGTERM, who);

  {
    std::ofstream u(users, std::ios::trunc);
    u << auth_field(b.user_) << ' ' << auth_field(b.password_) << '\n';
  }
  ::chmod(users.c_str(), 0600);
  detail::give_to_postgres_user(users, who);
  // The port may be taken between our probe and PgBouncer's bind: retry.
  for (int attempt = 1;; ++attempt) {
    b.port_ = detail::free_loopback_port(who);
    {
      std::ofstream conf(ini, std::ios::trunc);
      conf << "[databases]\n"
           << b.dbname_ << " = host=" << server.host() << " port=" << server.port() << " dbname=" << b.dbname_
           << "\n\n[pgbouncer]\n"
           << "listen_addr = 127.0.0.1\nlisten_port = " << b.port_ << "\nunix_socket_dir =\n"
           << "pidfile = " << pidfile << "\n"
           << "auth_type = scram-sha-256\nauth_file = " << users << "\nstats_users = " << b.user_ << "\n"
           << "pool_mode = "
           << (settings.pool_mode == pgbouncer_settings::mode::session ? "session" : "transaction")
           << "\ndefault_pool_size = " << settings.default_pool_size
           << "\nquery_wait_timeout = " << settings.query_wait_timeout.count() << "\nmax_client_conn = 200\n"
           << "log_connections = 0\nlog_disconnections = 0\n";
    }
    detail::give_to_postgres_user(ini, who);
    std::vector<std::string> args{binary};
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "postgres"});
    args.push_back(ini);
    b.child_ = detail::spawn(args, b.dir_, log, who);
    if (b.wait_listening()) break;
    if (attempt == 3) throw failure("exited at start three times", log);
  }
  if (const std::string err = try_select1(b.conninfo()); !err.empty())
    throw failure("SELECT 1 through it failed: " + err, log);
  return b;
}

bool pgbouncer::wait_listening() {
  const std::string pidfile = dir_ + "/pgbouncer.pid";
  for (int i = 0; i < 2000; ++i) {  // 20 s
    int status = 0;
    if (::waitpid(child_, &status, WNOHANG) == child_) {
      child_ = -1;
      return false;
    }
    // PgBouncer writes the pid file after it has bound its listening socket.
    if (detail::read_pid_file(pidfile.c_str()) == child_) return true;
    sleep_10ms();
  }
  throw failure("no pid file 20 s after start", dir_ + "/pgbouncer.log");
}

std::string pgbouncer::conninfo_for(const std::string& dbname) const {
  return "host=" + host_ + " port=" + std::to_string(port_) + " dbname=" + dbname + " user=" + user_ +
         " password=" + password_;
}

std::string pgbouncer::conninfo() const { return conninfo_for(dbname_); }

std::string pgbouncer::console_conninfo() const { return conninfo_for("pgbouncer"); }

void pgbouncer::stop() noexcept {
  detail::stop_child(child_, SIGTERM);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
  watchdog_.release();
}

}  // namespace berth::testing
