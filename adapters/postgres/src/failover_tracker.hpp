// failover_tracker.hpp: what one postgres::adapter knows about role changes
// of the servers its connections reach, shared by the adapter and its
// connections (private to the adapter).
//
// Each server (host:port as libpq names the one a session reached) has an
// entry with the epoch of the last role change reported for it. The tracker
// counts epochs; a connection keeps the epoch current when it began
// connecting, and is superseded once its server's entry has a later one.
// report() (a connection saw its server demoted, or promoted against the
// pool's target) starts a new epoch for that server, then has the attached
// pool sweep (berth::sweep_target): idle connections to that server are
// closed at once, the ones in use are validated by their next acquirer.
//
// Synchronization:
//   [F1] report()'s epoch increment and changed_at update are seq_cst, and
//        so are the epoch read a connection takes before it connects and
//        superseded()'s read of changed_at: with the sweep's seq_cst slot
//        loads ([S1], core/src/pool_core.cpp) they sit in one total order,
//        so a connection that read the epoch before a report is found by
//        that report's sweep (its slot was connecting or later), and one
//        that read it after is not superseded by it.
//   sweep_mutex_ orders attach() against report(): attach(nullptr) returns
//   only after a sweep in progress has finished, and no sweep starts after.
//   hosts_mutex_ guards the map; entries are never removed, so a reference
//   to one stays valid for the tracker's life (connections hold the tracker).
#pragma once

#include <berth/adapter.hpp>

#include "peer_watcher.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace berth::postgres::detail {

/// One server's role history, as far as this adapter learnt it.
struct host_entry {
  /// The epoch of the last role change reported for this server (0: none).
  std::atomic<std::uint64_t> changed_at{0};
};

/// Distinct objects: safe. Shared objects: safe (every member).
class failover_tracker {
 public:
  /// The current epoch; a connection reads it before connecting [F1].
  /// Thread-safe. Never blocks.
  std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_seq_cst); }

  /// The entry for host:port, made on first use. Thread-safe; takes a
  /// mutex (at connect only). Throws std::bad_alloc.
  host_entry& entry(std::string_view host, std::string_view port);

  /// A connection opened at epoch `opened` to h is superseded once h's role
  /// changed after that. Thread-safe. Never blocks.
  static bool superseded(const host_entry& h, std::uint64_t opened) noexcept {
    return h.changed_at.load(std::memory_order_seq_cst) > opened;  // [F1]
  }

  /// h's role changed: every connection to it opened before now is
  /// superseded; then the attached pool sweeps. Thread-safe. Blocks while
  /// the pool closes idle connections (and while another report sweeps).
  void report(host_entry& h) noexcept;

  /// The pool to sweep (nullptr: none). Waits for a sweep in progress.
  /// Thread-safe.
  void attach(sweep_target* t) noexcept;

  /// The server closed a session the watcher watched (peer_watcher.hpp):
  /// the attached pool sweeps, closing idle connections whose server closed
  /// them (adapter::should_evict). Thread-safe. Blocks while it closes them.
  void peer_closed() noexcept;
  /// The pool is being destroyed (attach(nullptr)): connects in progress
  /// give up within connection::stop_slice instead of waiting out
  /// connect_timeout. attach(t) clears it. Thread-safe.
  const std::atomic<bool>* stop_flag() const noexcept { return &stopping_; }
  /// The sessions' watcher (connection::track registers each session).
  peer_watcher& watcher() noexcept { return watcher_; }

 private:
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<bool> stopping_{false};  // relaxed: see stop_flag()

  std::mutex hosts_mutex_;
  std::unordered_map<std::string, std::unique_ptr<host_entry>> hosts_;  // guarded by hosts_mutex_

  std::mutex sweep_mutex_;
  sweep_target* target_ = nullptr;  // guarded by sweep_mutex_

  // Declared last, so destroyed first: its thread (which calls
  // peer_closed()) is joined while the rest is intact.
  peer_watcher watcher_{[this] { peer_closed(); }};
};

}  // namespace berth::postgres::detail
