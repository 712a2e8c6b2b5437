// pg_pair.hpp: a throwaway PostgreSQL primary and a streaming standby of it
// on loopback (issue 11's topology rig), for failover and routing tests.
//
// start() starts a pg_server as the primary, then pg_server::start_standby()
// makes the standby with `pg_basebackup -R` into its own directory, on its
// own port, streaming from the primary over loopback (replication role,
// scram-sha-256; asynchronous, but the primary's commits flush their WAL at
// once: synchronous_commit = on, fsync still off). Both are ordinary pg_servers: stop_keeping_data(),
// start_again(), restart(), promote(), admin_execute(), and they are never
// left running (each has its own watchdog).
//
// primary() and standby() name the servers by the role they started with;
// after standby().promote() ask a server for its role (in_recovery()).
//
// Thread-safety: as pg_server: the accessors and const members are safe
// once start() has returned; the rest belongs to one thread.
#pragma once

#include "support/pg_server.hpp"

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>

namespace berth::testing {

class pg_pair {
 public:
  /// Starts the primary, then its standby. Throws std::runtime_error (the
  /// failing step, the log's tail). Blocks a few seconds.
  static pg_pair start();

  pg_server& primary() noexcept { return primary_; }
  pg_server& standby() noexcept { return standby_; }
  const pg_server& primary() const noexcept { return primary_; }
  const pg_server& standby() const noexcept { return standby_; }

  /// A multi-host conninfo listing servers in this order:
  /// "host=127.0.0.1,127.0.0.1 port=A,B dbname=D user=U password=P" followed
  /// by extra (e.g. "target_session_attrs=read-write") when not empty.
  std::string conninfo(std::initializer_list<const pg_server*> order, std::string_view extra = {}) const;

  /// Waits until the standby has replayed all the WAL the primary had
  /// flushed when this was called, every commit that had returned included
  /// (pg_current_wal_flush_lsn() against
  /// pg_last_wal_replay_lsn()). Throws std::runtime_error after timeout.
  void wait_for_replay(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  /// Blocks until the primary reports the standby's walsender streaming
  /// (pg_stat_replication). start() calls it: a standby in recovery may
  /// still be starting its walreceiver, as it was under the TSan stage's
  /// load (PgPair.TheStandbyReplaysThePrimarysWritesAndRefusesItsOwn saw no
  /// streaming walsender). Throws std::runtime_error after timeout.
  void wait_for_streaming(std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

  /// Stops both servers and deletes their directories. Idempotent.
  void stop() noexcept;

 private:
  pg_pair(pg_server primary, pg_server standby) noexcept
      : primary_(std::move(primary)), standby_(std::move(standby)) {}

  pg_server primary_;
  pg_server standby_;
};

/// The pair shared by every test of this binary, started on first use and
/// stopped by the GoogleTest environment (pg_environment.cpp). Tests that
/// promote or stop a server start a pair of their own instead. Throws as
/// pg_pair::start() does.
pg_pair& shared_pg_pair();

}  // namespace berth::testing
