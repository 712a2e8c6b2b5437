// server_process.hpp: the process plumbing that berth's throwaway test
// servers share (pg_server.hpp, pgbouncer.hpp, prometheus_server.hpp): a
// private directory owned by the `postgres` OS user when we are root,
// commands run as that user, a free loopback port, a log's tail, the
// watchdog that stops a server by its pid file and deletes its directory
// when the test program dies by any means, and a child process stopped the
// same way (watched_child).
//
// Thread-safety: every function is safe to call from any thread; a watchdog
// object belongs to the server object that started it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace berth::testing::detail {

/// The last max_chars characters of the file at path ("" when unreadable).
std::string tail_of(const std::string& path, std::size_t max_chars = 2000);

/// n random hexadecimal digits (std::random_device).
std::string random_hex(std::size_t n);

/// A loopback port nothing listens on right now (bind port 0, read it back).
/// Another process may take it before the caller binds it: callers retry.
/// Throws std::runtime_error prefixed with who.
std::uint16_t free_loopback_port(const char* who);

/// Makes a fresh directory $TMPDIR/<prefix>-XXXXXX (/tmp without TMPDIR),
/// mode 0700. Throws std::runtime_error prefixed with who.
std::string make_temp_directory(const std::string& prefix, const char* who);

/// make_temp_directory and, when we are root, gives it to the `postgres` OS
/// user. Throws std::runtime_error prefixed with who.
std::string make_private_directory(const std::string& prefix, const char* who);

/// When we are root, gives path to the `postgres` OS user (a no-op
/// otherwise). Throws std::runtime_error prefixed with who.
void give_to_postgres_user(const std::string& path, const char* who);

/// args with "/usr/sbin/runuser -u postgres --" in front when we are root
/// (PostgreSQL and PgBouncer refuse to run as root), args otherwise.
std::vector<std::string> as_postgres_user(const std::vector<std::string>& args);

/// Starts args (args[0] an absolute path) with cwd = dir, stdin from
/// /dev/null and stdout and stderr appended to log; returns the child's pid
/// without waiting. Throws std::runtime_error prefixed with who when it
/// cannot spawn.
pid_t spawn(const std::vector<std::string>& args, const std::string& dir, const std::string& log, const char* who);

/// spawn(as_postgres_user(args)), then waits for the command; throws
/// std::runtime_error (prefixed with who, with the log's tail) unless it
/// exits with status 0. Blocks.
void run(const std::vector<std::string>& args, const std::string& dir, const std::string& log, const char* who);

/// The pid in a pid file's first line, with system calls only (the watchdog
/// runs it after fork()); 0 when there is none.
pid_t read_pid_file(const char* pidfile) noexcept;

/// Stops the process named by pidfile the hard way: sig, then SIGKILL
/// after 10 s. Returns at once when there is no pid. System calls only.
/// Blocks up to 10 s.
void kill_by_pid_file(const char* pidfile, int sig) noexcept;

/// Stops a child of this process: sig, then SIGKILL after 10 s; reaps it
/// and sets pid to -1. A no-op when pid <= 0. Blocks up to 10 s.
void stop_child(pid_t& pid, int sig) noexcept;

/// True if the child has exited (it is reaped and pid set to -1), or pid
/// <= 0. Never blocks.
bool child_exited(pid_t& pid) noexcept;

/// A forked process that holds one end of a pipe to this one: when this
/// process closes its end (release()) or dies, the watchdog wakes; unless the
/// server stopped cleanly (no pid in pidfile and dir gone), it sends the
/// server sig (kill_by_pid_file) and deletes dir (rm -rf). It ignores
/// SIGINT, SIGTERM and SIGHUP, so it outlives a Ctrl-C on the process group.
class watchdog {
 public:
  watchdog() noexcept = default;
  /// Forks the watchdog. Throws std::runtime_error prefixed with who.
  watchdog(const std::string& pidfile, const std::string& dir, int sig, const char* who);
  watchdog(watchdog&& o) noexcept;
  /// Releases this watchdog (release()), then takes o's.
  watchdog& operator=(watchdog&& o) noexcept;
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() { release(); }

  /// Closes our end of the pipe and reaps the watchdog (which then finds
  /// the server stopped, or stops it). Idempotent. Blocks until it exits.
  void release() noexcept;

 private:
  pid_t pid_ = -1;  // the watchdog process, -1 when none
  int fd_ = -1;     // our end of its pipe: closing it (or dying) wakes it
};

/// A child process (spawn()) that never outlives the test program: stop()
/// and the destructor send it sig (SIGKILL after 10 s), reap it and delete
/// own_dir, which holds its pid file (own_dir/pid) and whatever else should
/// go with it; a watchdog does the same if this program dies first.
/// Thread-safety: one owner; members are not thread-safe.
class watched_child {
 public:
  watched_child() noexcept = default;
  /// Creates own_dir unless it exists (its parent must), starts the
  /// watchdog, then spawn(args, cwd, log, who) and writes the pid file. On
  /// failure, deletes own_dir and throws std::runtime_error prefixed with
  /// who.
  watched_child(const std::vector<std::string>& args, const std::string& cwd, const std::string& log,
                std::string own_dir, int sig, const char* who);
  watched_child(watched_child&& o) noexcept;
  /// stop()s this child, then takes o's.
  watched_child& operator=(watched_child&& o) noexcept;
  watched_child(const watched_child&) = delete;
  watched_child& operator=(const watched_child&) = delete;
  ~watched_child() { stop(); }

  /// The child's pid; -1 once it has exited (see exited()) or stopped.
  pid_t pid() const noexcept { return pid_; }
  /// True once the child has exited by itself (reaps it). Never blocks.
  bool exited() noexcept { return child_exited(pid_); }
  /// Stops the child (if still running), deletes own_dir and releases the
  /// watchdog. Idempotent. Blocks up to 10 s.
  void stop() noexcept;

 private:
  pid_t pid_ = -1;
  int sig_ = 0;
  std::string own_dir_;  // empty once stopped
  watchdog watchdog_;
};

}  // namespace berth::testing::detail
