// pg_server.hpp: a throwaway PostgreSQL server for integration tests.
//
// start() runs initdb into a fresh directory under $TMPDIR, picks a free
// loopback port, starts postgres listening on 127.0.0.1 only (its unix socket
// inside that directory, fsync off, small shared_buffers), waits (bounded)
// until it accepts connections, and creates a database and a login role with
// a password. TCP logins use scram-sha-256; the unix socket trusts the
// superuser bootstrap role. Run as root, initdb and postgres run as the
// `postgres` OS user (runuser).
//
// Streaming replication (pg_pair.hpp): every server also has a replication
// role (replication_user(), scram-sha-256 over loopback) and wal_level =
// replica, so start_standby(primary) can make a standby of it with
// `pg_basebackup -R` into its own directory, on its own port.
//
// Never left running: stop() (the destructor, the GoogleTest environment's
// TearDown) stops it with `pg_ctl stop -m fast` and deletes the directory;
// and a watchdog process forked at start holds a pipe to this process, so
// when the test binary dies by any means (abort, signal, SIGKILL by ctest's
// timeout) the watchdog sends the postmaster SIGQUIT and deletes the
// directory.
//
// Thread-safety: restart(), stop_keeping_data(), start_again(), promote()
// and stop() are not thread-safe with each other; the accessors and
// admin_execute() are safe once start() has returned.
#pragma once

#include "support/server_process.hpp"

#include <chrono>
#include <cstdint>
#include <string>

#include <unistd.h>

namespace berth::testing {

class pg_server {
 public:
  /// Starts a server (see the file comment). Throws std::runtime_error with
  /// the failing step and the tail of the server log. Blocks several seconds.
  static pg_server start();

  /// Starts a streaming standby of primary: `pg_basebackup -R -X stream -c
  /// fast` as primary's replication_user() into a fresh directory, then
  /// postgres on a free loopback port of its own (hot_standby on), waiting
  /// until it accepts connections. Its database, login role and password are
  /// primary's (replicated). Throws std::runtime_error as start() does.
  /// Blocks about a second.
  static pg_server start_standby(const pg_server& primary);

  pg_server(pg_server&& o) noexcept;
  pg_server& operator=(pg_server&&) = delete;
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;
  ~pg_server();

  const std::string& host() const noexcept { return host_; }  ///< "127.0.0.1"
  std::uint16_t port() const noexcept { return port_; }
  const std::string& dbname() const noexcept { return dbname_; }
  const std::string& user() const noexcept { return user_; }
  const std::string& password() const noexcept { return password_; }
  /// The role that may stream WAL from this server over loopback.
  const std::string& replication_user() const noexcept { return replication_user_; }
  /// "host=127.0.0.1 port=N dbname=D user=U password=P" (TCP, password auth).
  std::string conninfo() const;
  /// conninfo() with another password.
  std::string conninfo_with_password(const std::string& password) const;

  /// Runs sql as the superuser over the unix socket (trust), in database
  /// `dbname` (the test database is dbname()); returns the
  /// first column of the first row, or "" when there is none. Throws
  /// std::runtime_error with the server's message.
  std::string admin_execute(const std::string& sql, const std::string& dbname = "postgres") const;
  /// Terminates every backend of user() (pg_terminate_backend); returns how
  /// many. wait: each termination is waited for (up to 5 s; the server's
  /// pg_terminate_backend(pid, timeout)), so the sessions are gone on return.
  int terminate_user_backends(bool wait = false) const;
  /// `pg_ctl restart -m fast`, waiting until it accepts connections again.
  void restart();
  /// `pg_ctl stop -m <mode>` ("fast", "immediate" or "smart"), waiting until
  /// the server is down; its directory and port stay for start_again().
  void stop_keeping_data(const std::string& mode = "fast");
  /// `pg_ctl start` after stop_keeping_data(), on the same port, waiting
  /// until it accepts connections.
  void start_again();
  /// `pg_ctl promote` on a standby, then waits (bounded, 30 s) until it is
  /// out of recovery, so it accepts writes when this returns. Throws
  /// std::runtime_error when it is not a standby or does not get there.
  void promote();
  /// SELECT pg_is_in_recovery(): true on a standby.
  bool in_recovery() const;
  /// Stops the server and deletes its directory. Idempotent. Does nothing
  /// in a process other than the one that started it (a fork child).
  void stop() noexcept;

 private:
  pg_server() = default;
  /// A fresh directory (data/, sock/, logs) and its watchdog; password_ set.
  static pg_server prepare(const std::string& prefix);
  /// Appends the settings berth's test servers share (port, socket
  /// directory, fsync off, ...) to data/postgresql.conf, later lines
  /// winning, and starts postgres, trying another free port when the chosen
  /// one was taken meanwhile.
  void configure_and_start();
  void run_pg_ctl(const std::string& action) const;

  std::string dir_;       // the temporary directory (data/, sock/, log)
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::string dbname_ = "berth_test";
  std::string user_ = "berth_user";
  std::string password_;
  std::string replication_user_ = "berth_replicator";  // its password is password_
  int owner_pid_ = static_cast<int>(::getpid());  // stop() does nothing in another process (a fork child)
  detail::watchdog watchdog_;  // stops the server if this process dies first
};

/// The server shared by every test of this binary, started on first use and
/// stopped by a GoogleTest environment registered then (and by the watchdog
/// if the binary dies). Throws as pg_server::start() does.
pg_server& shared_pg_server();

}  // namespace berth::testing
