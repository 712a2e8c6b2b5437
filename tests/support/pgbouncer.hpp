// pgbouncer.hpp: a throwaway PgBouncer in transaction pooling mode in front
// of a pg_server, for benchmarks and integration tests.
//
// start(server) writes pgbouncer.ini and an auth file into a fresh directory
// under $TMPDIR, picks a free loopback port and starts /usr/sbin/pgbouncer as
// a child process listening on 127.0.0.1 only (no unix socket). Run as root,
// PgBouncer (which refuses to run as root) switches to the `postgres` OS user
// itself (`-u postgres`, after reading its configuration). start() waits
// (bounded) until the pid file appears (PgBouncer writes it once it listens)
// and a password login through it answers SELECT 1.
//
// Configuration: one database, the server's dbname(), forwarded to the
// server on loopback. By default (pgbouncer_settings) pool_mode =
// transaction: a server connection goes back to PgBouncer's pool at the end
// of each transaction, so session state, named prepared statements
// included, does not follow a client (PgBouncer 1.18, Debian bookworm's, has
// no max_prepared_statements); default_pool_size = 20 server connections
// (PgBouncer's default); query_wait_timeout = 120 s (PgBouncer's default).
// max_client_conn = 200; connection logging off, so a connection per query
// costs PgBouncer no log writes. Clients authenticate with SCRAM-SHA-256
// against the auth file, which holds the server user's plain-text password,
// so that PgBouncer can also log in to the server with SCRAM (the server's
// pg_hba) on the clients' behalf. user() may run SHOW commands on the admin
// console (stats_users): database "pgbouncer", e.g. SHOW CONFIG.
//
// Never left running: stop() (the destructor) sends PgBouncer SIGTERM (its
// immediate shutdown), reaps it and deletes the directory; a watchdog
// (server_process.hpp) does the same when the program dies by any means.
// Stop it before its pg_server.
//
// Thread-safety: stop() is not thread-safe with anything else; the accessors
// are safe once start() has returned.
#pragma once

#include "support/pg_server.hpp"
#include "support/server_process.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>

namespace berth::testing {

/// The PgBouncer settings a test may vary. A plain struct.
struct pgbouncer_settings {
  enum class mode : std::uint8_t {
    session,      ///< a server connection per client connection, for its whole life
    transaction,  ///< a server connection per transaction (or statement outside one)
  };
  /// pool_mode. Default transaction.
  mode pool_mode = mode::transaction;
  /// default_pool_size: server connections for the one database/user pair.
  /// Default 20 (PgBouncer's); >= 1. Fewer than the clients' connections
  /// makes clients share server connections.
  int default_pool_size = 20;
  /// query_wait_timeout: how long a client's query may wait for a server
  /// connection before PgBouncer disconnects the client. Default 120 s
  /// (PgBouncer's); >= 1 s.
  std::chrono::seconds query_wait_timeout{120};
};

class pgbouncer {
 public:
  /// The binary start() runs (Debian package pgbouncer).
  static constexpr const char* binary = "/usr/sbin/pgbouncer";

  /// True when binary is installed and executable. Never throws.
  static bool available() noexcept;

  /// Starts PgBouncer in front of server (see the file comment) with
  /// settings. Throws std::runtime_error naming the failing step (or the
  /// invalid setting), with the tail of PgBouncer's log. Blocks up to about
  /// 30 s (usually well under 1 s).
  static pgbouncer start(const pg_server& server, const pgbouncer_settings& settings = {});

  pgbouncer(pgbouncer&& o) noexcept;
  pgbouncer& operator=(pgbouncer&&) = delete;
  pgbouncer(const pgbouncer&) = delete;
  pgbouncer& operator=(const pgbouncer&) = delete;
  ~pgbouncer();

  const std::string& host() const noexcept { return host_; }  ///< "127.0.0.1"
  std::uint16_t port() const noexcept { return port_; }
  const std::string& dbname() const noexcept { return dbname_; }
  const std::string& user() const noexcept { return user_; }
  const pgbouncer_settings& settings() const noexcept { return settings_; }
  /// "host=127.0.0.1 port=N dbname=D user=U password=P": the server's
  /// database and credentials, through PgBouncer.
  std::string conninfo() const;
  /// conninfo() for PgBouncer's admin console (database "pgbouncer").
  std::string console_conninfo() const;

  /// Stops PgBouncer and deletes its directory. Idempotent. Blocks up to 10 s.
  void stop() noexcept;

 private:
  pgbouncer() = default;
  std::string conninfo_for(const std::string& dbname) const;
  /// Waits until the child wrote its pid file (true) or exited (false).
  bool wait_listening();

  std::string dir_;  // the temporary directory (pgbouncer.ini, users.txt, log, pid file)
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::string dbname_;
  std::string user_;
  std::string password_;
  pgbouncer_settings settings_;
  pid_t child_ = -1;           // PgBouncer, our child; -1 when none
  detail::watchdog watchdog_;  // stops PgBouncer if this process dies first
};

}  // namespace berth::testing
