// server_process.cpp: see server_process.hpp.
#include "support/server_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <pwd.h>
#include <random>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace berth::testing::detail {
namespace {

std::runtime_error failure(const char* who, const std::string& what) {
  return std::runtime_error(std::string(who) + ": " + what);
}

/// Waits for the watchdog's pipe to close, then stops the server unless it
/// stopped cleanly, and removes dir. System calls only (runs after fork()).
[[noreturn]] void watchdog_main(int fd, const char* pidfile, const char* dir, int sig) noexcept {
  ::signal(SIGINT, SIG_IGN);  // Ctrl-C hits the whole process group: outlive it
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  char b = 0;
  for (;;) {
    const ssize_t r = ::read(fd, &b, 1);
    if (r == 0 || (r < 0 && errno != EINTR)) break;
  }
  if (read_pid_file(pidfile) <= 0 && ::access(dir, F_OK) != 0) ::_exit(0);  // stopped cleanly
  kill_by_pid_file(pidfile, sig);
  const char* argv[] = {"/bin/rm", "-rf", dir, nullptr};
  ::execv(argv[0], const_cast<char* const*>(argv));
  ::_exit(1);
}

}  // namespace

std::string tail_of(const std::string& path, std::size_t max_chars) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_chars ? s.substr(s.size() - max_chars) : s;
}

std::string random_hex(std::size_t n) {
  std::random_device rd;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += "0123456789abcdef"[rd() % 16];
  return s;
}

std::uint16_t free_loopback_port(const char* who) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw failure(who, "socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw failure(who, "cannot bind a loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

void give_to_postgres_user(const std::string& path, const char* who) {
  if (::geteuid() != 0) return;
  const passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) throw failure(who, "running as root but there is no `postgres` user");
  if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw failure(who, "chown " + path);
}

std::string make_temp_directory(const std::string& prefix, const char* who) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw failure(who, "mkdtemp failed: " + tmpl);
  return tmpl;
}

std::string make_private_directory(const std::string& prefix, const char* who) {
  const std::string tmpl = make_temp_directory(prefix, who);
  try {
    give_to_postgres_user(tmpl, who);
  } catch (...) {
    ::rmdir(tmpl.c_str());
    throw;
  }
  return tmpl;
}

std::vector<std::string> as_postgres_user(const std::vector<std::string>& args) {
  std::vector<std::string> full;
  if (::geteuid() == 0) full = {"/usr/sbin/runuser", "-u", "postgres", "--"};
  full.insert(full.end(), args.begin(), args.end());
  return full;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& dir, const std::string& log, const char* who) {
  std::vector<std::string> full = args;
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
  if (rc != 0) throw failure(who, "cannot spawn " + full[0] + ": " + std::strerror(rc));
  return pid;
}

void run(const std::vector<std::string>& args, const std::string& dir, const std::string& log, const char* who) {
  const pid_t pid = spawn(as_postgres_user(args), dir, log, who);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    throw failure(who, "`" + cmd + "` failed (status " + std::to_string(status) + "); log tail:\n" + tail_of(log));
  }
}

pid_t read_pid_file(const char* pidfile) noexcept {
  const int fd = ::open(pidfile, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  pid_t pid = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid = pid * 10 + (buf[i] - '0');
  return pid;
}

void kill_by_pid_file(const char* pidfile, int sig) noexcept {
  const pid_t pid = read_pid_file(pidfile);
  if (pid <= 0) return;
  ::kill(pid, sig);
  for (int i = 0; i < 1000 && ::kill(pid, 0) == 0; ++i) {
    timespec ts{0, 10'000'000};
    ::nanosleep(&ts, nullptr);
  }
  ::kill(pid, SIGKILL);
}

void stop_child(pid_t& pid, int sig) noexcept {
  if (pid <= 0) return;
  ::kill(pid, sig);
  int status = 0;
  bool reaped = false;
  for (int i = 0; i < 1000 && !reaped; ++i) {  // 10 s
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    reaped = r == pid || (r < 0 && errno != EINTR);
    if (!reaped) {
      timespec ts{0, 10'000'000};
      ::nanosleep(&ts, nullptr);
    }
  }
  if (!reaped) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid = -1;
}

bool child_exited(pid_t& pid) noexcept {
  if (pid <= 0) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid || (r < 0 && errno == ECHILD)) {
    pid = -1;
    return true;
  }
  return false;
}

watchdog::watchdog(const std::string& pidfile, const std::string& dir, int sig, const char* who) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw failure(who, "pipe2 failed");
  const pid_t w = ::fork();
  if (w < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw failure(who, "fork failed");
  }
  if (w == 0) {
    ::close(fds[1]);
    watchdog_main(fds[0], pidfile.c_str(), dir.c_str(), sig);
  }
  ::close(fds[0]);
  pid_ = w;
  fd_ = fds[1];
}

watchdog::watchdog(watchdog&& o) noexcept : pid_(std::exchange(o.pid_, -1)), fd_(std::exchange(o.fd_, -1)) {}

watchdog& watchdog::operator=(watchdog&& o) noexcept {
  if (this != &o) {
    release();
    pid_ = std::exchange(o.pid_, -1);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void watchdog::release() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (pid_ > 0) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

watched_child::watched_child(const std::vector<std::string>& args, const std::string& cwd, const std::string& log,
                             std::string own_dir, int sig, const char* who)
    : sig_(sig), own_dir_(std::move(own_dir)) {
  if (::mkdir(own_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    const std::string what = "mkdir " + own_dir_ + ": " + std::strerror(errno);
    own_dir_.clear();
    throw failure(who, what);
  }
  const std::string pidfile = own_dir_ + "/pid";
  try {
    watchdog_ = watchdog(pidfile, own_dir_, sig, who);  // before the child: nothing outlives a failed start
    pid_ = spawn(args, cwd, log, who);
    std::ofstream(pidfile) << pid_ << "\n";
  } catch (...) {
    stop();
    throw;
  }
}

watched_child::watched_child(watched_child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      sig_(o.sig_),
      own_dir_(std::exchange(o.own_dir_, {})),
      watchdog_(std::move(o.watchdog_)) {}

watched_child& watched_child::operator=(watched_child&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = std::exchange(o.pid_, -1);
    sig_ = o.sig_;
    own_dir_ = std::exchange(o.own_dir_, {});
    watchdog_ = std::move(o.watchdog_);
  }
  return *this;
}

void watched_child::stop() noexcept {
  stop_child(pid_, sig_);
  if (!own_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(own_dir_, ec);
    own_dir_.clear();
  }
  watchdog_.release();  // finds no pid file and no directory: exits at once
}

}  // namespace berth::testing::detail
