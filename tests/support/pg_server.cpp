// pg_server.cpp: see pg_server.hpp.
#include "support/pg_server.hpp"

#include <libpq-fe.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <pwd.h>
#include <random>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utility>
#include <vector>

extern char** environ;

namespace berth::testing {
namespace {

constexpr const char* pg_bin = "/usr/lib/postgresql/15/bin/";

std::string tail_of(const std::string& path, std::size_t max_chars = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_chars ? s.substr(s.size() - max_chars) : s;
}

/// Runs argv (as the postgres OS user when we are root) with cwd = dir,
/// stdout and stderr appended to log; throws with the log's tail on failure.
void run(const std::vector<std::string>& args, const std::string& dir, const std::string& log) {
  std::vector<std::string> full;
  if (::geteuid() == 0) full = {"/usr/sbin/runuser", "-u", "postgres", "--"};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("pg_server: cannot spawn " + full[0] + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    throw std::runtime_error("pg_server: `" + cmd + "` failed (status " + std::to_string(status) +
                             "); log tail:\n" + tail_of(log));
  }
}

/// A loopback port nothing listens on right now (bind port 0, read it back).
std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("pg_server: socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("pg_server: cannot bind a loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string random_hex(std::size_t n) {
  std::random_device rd;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += "0123456789abcdef"[rd() % 16];
  return s;
}

/// Reads the postmaster's pid from its pid file with system calls only (the
/// watchdog runs it after fork()); 0 when there is none.
pid_t read_postmaster_pid(const char* pidfile) noexcept {
  const int fd = ::open(pidfile, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  pid_t pid = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid = pid * 10 + (buf[i] - '0');
  return pid;
}

/// Stops the postmaster the hard way: SIGQUIT (immediate shutdown), then
/// SIGKILL after 10 s. System calls only.
void kill_postmaster(const char* pidfile) noexcept {
  const pid_t pid = read_postmaster_pid(pidfile);
  if (pid <= 0) return;
  ::kill(pid, SIGQUIT);
  for (int i = 0; i < 1000 && ::kill(pid, 0) == 0; ++i) {
    timespec ts{0, 10'000'000};
    ::nanosleep(&ts, nullptr);
  }
  ::kill(pid, SIGKILL);
}

/// The watchdog: waits for EOF on fd (our parent closed its end or died),
/// then kills the postmaster if one still runs and removes dir.
[[noreturn]] void watchdog_main(int fd, const char* pidfile, const char* dir) noexcept {
  ::signal(SIGINT, SIG_IGN);  // Ctrl-C hits the whole process group: outlive it
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  char b = 0;
  for (;;) {
    const ssize_t r = ::read(fd, &b, 1);
    if (r == 0 || (r < 0 && errno != EINTR)) break;
  }
  if (read_postmaster_pid(pidfile) <= 0 && ::access(dir, F_OK) != 0) ::_exit(0);  // stopped cleanly
  kill_postmaster(pidfile);
  const char* argv[] = {"/bin/rm", "-rf", dir, nullptr};
  ::execv(argv[0], const_cast<char* const*>(argv));
  ::_exit(1);
}

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
      watchdog_(std::exchange(o.watchdog_, -1)),
      watchdog_fd_(std::exchange(o.watchdog_fd_, -1)) {
  o.dir_.clear();
}

pg_server::~pg_server() { stop(); }

pg_server pg_server::start() {
  pg_server s;
  s.password_ = "pw_" + random_hex(24);
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/berth-pg-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("pg_server: mkdtemp failed: " + tmpl);
  s.dir_ = tmpl;
  const std::string data = s.dir_ + "/data", sock = s.dir_ + "/sock", log = s.dir_ + "/server.log";
  std::filesystem::create_directory(sock);
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("pg_server: running as root but there is no `postgres` user");
    for (const auto& p : {s.dir_, sock})
      if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("pg_server: chown " + p);
  }

  // The watchdog first, so that even a failed start leaves nothing behind.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pg_server: pipe2 failed");
  const std::string pidfile = data + "/postmaster.pid";
  const pid_t w = ::fork();
  if (w < 0) throw std::runtime_error("pg_server: fork failed");
  if (w == 0) {
    ::close(fds[1]);
    watchdog_main(fds[0], pidfile.c_str(), s.dir_.c_str());
  }
  ::close(fds[0]);
  s.watchdog_ = w;
  s.watchdog_fd_ = fds[1];

  run({std::string(pg_bin) + "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync",
       "--no-instructions", "-E", "UTF8", "--locale=C"},
      s.dir_, s.dir_ + "/initdb.log");
  {
    std::ofstream hba(data + "/pg_hba.conf", std::ios::trunc);
    hba << "local all all trust\n"
        << "host all all 127.0.0.1/32 scram-sha-256\n";
  }
  // The port may be taken between our probe and postgres's bind: retry.
  for (int attempt = 1;; ++attempt) {
    s.port_ = free_loopback_port();
    {
      std::ofstream conf(data + "/postgresql.conf", std::ios::app);
      conf << "\nlisten_addresses = '127.0.0.1'\nport = " << s.port_ << "\nunix_socket_directories = '" << sock
           << "'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
           << "max_connections = 60\npassword_encryption = 'scram-sha-256'\n";
    }
    try {
      run({std::string(pg_bin) + "pg_ctl", "start", "-D", data, "-l", log, "-w", "-t", "30"}, s.dir_,
          s.dir_ + "/pg_ctl.log");
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
      dir_, dir_ + "/pg_ctl.log");
}

void pg_server::restart() { run_pg_ctl("restart"); }

void pg_server::stop() noexcept {
  if (dir_.empty()) return;
  try {
    run({std::string(pg_bin) + "pg_ctl", "stop", "-D", dir_ + "/data", "-m", "fast", "-w", "-t", "30"}, dir_,
        dir_ + "/pg_ctl.log");
  } catch (const std::exception&) {
    kill_postmaster((dir_ + "/data/postmaster.pid").c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
  if (watchdog_fd_ >= 0) ::close(std::exchange(watchdog_fd_, -1));
  if (watchdog_ > 0) {
    int status = 0;
    ::waitpid(std::exchange(watchdog_, -1), &status, 0);
  }
}

}  // namespace berth::testing
