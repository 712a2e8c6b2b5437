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
// Never left running: stop() (the destructor, the GoogleTest environment's
// TearDown) stops it with `pg_ctl stop -m fast` and deletes the directory;
// and a watchdog process forked at start holds a pipe to this process, so
// when the test binary dies by any means (abort, signal, SIGKILL by ctest's
// timeout) the watchdog sends the postmaster SIGQUIT and deletes the
// directory.
//
// Thread-safety: restart(), pause(), resume() and stop() are not thread-safe
// with each other; the accessors and admin_execute() are safe once start()
// has returned.
#pragma once

#include "support/server_process.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace berth::testing {

class pg_server {
 public:
  /// Starts a server (see the file comment). Throws std::runtime_error with
  /// the failing step and the tail of the server log. Blocks several seconds.
  static pg_server start();

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
  /// "host=127.0.0.1 port=N dbname=D user=U password=P" (TCP, password auth).
  std::string conninfo() const;
  /// conninfo() with another password.
  std::string conninfo_with_password(const std::string& password) const;

  /// Runs sql as the superuser over the unix socket (trust), in database
  /// `dbname` (the test database is dbname()); returns the
  /// first column of the first row, or "" when there is none. Throws
  /// std::runtime_error with the server's message.
  std::string admin_execute(const std::string& sql, const std::string& dbname = "postgres") const;
  /// Terminates every backend of user() (pg_terminate_backend); returns how many.
  int terminate_user_backends() const;
  /// `pg_ctl restart -m fast`, waiting until it accepts connections again.
  void restart();
  /// `pg_ctl stop -m fast` (backends are terminated), keeping the directory
  /// and the port: connections are refused until resume(). A database
  /// outage. Blocks until the server has stopped.
  void pause();
  /// `pg_ctl start` of a paused server, on the same port, waiting until it
  /// accepts connections.
  void resume();
  /// Stops the server and deletes its directory. Idempotent.
  void stop() noexcept;

 private:
  pg_server() = default;
  void run_pg_ctl(const std::string& action) const;

  std::string dir_;       // the temporary directory (data/, sock/, log)
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::string dbname_ = "berth_test";
  std::string user_ = "berth_user";
  std::string password_;
  detail::watchdog watchdog_;  // stops the server if this process dies first
};

/// The server shared by every test of this binary, started on first use and
/// stopped by a GoogleTest environment registered then (and by the watchdog
/// if the binary dies). Throws as pg_server::start() does.
pg_server& shared_pg_server();

}  // namespace berth::testing
