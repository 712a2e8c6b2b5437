// server_process.hpp: the process plumbing that berth's throwaway test
// servers share (pg_server.hpp, pgbouncer.hpp): a private directory owned by
// the `postgres` OS user when we are root, commands run as that user, a free
// loopback port, a log's tail, and the watchdog that stops a server by its pid
// file and deletes its directory when the test program dies by any means.
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

/// Makes a fresh directory $TMPDIR/<prefix>-XXXXXX (/tmp without TMPDIR)
/// and, when we are root, gives it to the `postgres` OS user. Throws
/// std::runtime_error prefixed with who.
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

}  // namespace berth::testing::detail
