// peer_watcher.hpp: learns, while a connection sits idle in the pool, that
// its server closed the session (a backend killed by pg_terminate_backend,
// a server shutting down, a proxy dropping it), so that the pool closes it
// within a thread wake-up of the server's goodbye instead of handing it out
// broken (issue 8). Private to the adapter.
//
// Why a thread and not a check at acquire: asking the socket costs a system
// call (poll or recv(MSG_PEEK): 1.3 to 1.5 us on the reference VM), 2% of a
// loopback round trip, on every acquire; the pool's fast path makes none.
// Here each session's socket is registered once, at connect, in an epoll
// set for EPOLLRDHUP only, edge-triggered: ordinary results never wake the
// thread, a peer's FIN does (a terminated backend sends its FATAL 57P01 and
// closes). The thread sets the session's flag and has the pool sweep its
// idle connections (failover_tracker::peer_closed, sweep_target::
// sweep_idle): those whose flag is set are closed at once; one in use fails
// the adapter's checks at its release. Between the FIN and the sweep the
// window is a thread wake-up (microseconds on an idle machine, longer on a
// loaded one): an acquire inside it still gets the session and its first
// statement fails as connection_lost. The earlier design, HikariCP's,
// validated only connections idle longer than validation_bypass (500 ms by
// default) and handed out, within that window, a session killed a moment
// before.
//
// Synchronization: mutex_ guards the registrations and every dispatch, so
// a flag is set only while its session is registered: unwatch() (the
// session's destructor) returns after any dispatch touching that flag. An
// event names its registration by a number never reused (not the flag's
// address, which a later session may get), so an event of a session that
// is gone never flags its successor. The
// flag itself: a release store here, acquire loads in the adapter
// (connection::peer_closed). The sweep runs outside mutex_ (it closes
// connections, whose destructors call unwatch()).
//
// fork(): the child has no thread; its copy of the watcher (reached through
// an adapter the child destroys) leaks the thread handle and the
// descriptors instead of joining a thread that is not there.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <sys/types.h>

namespace berth::postgres::detail {

/// Distinct objects: safe. Shared objects: safe (every member).
class peer_watcher {
 public:
  /// on_closed: called on the watcher's thread, outside its lock, after one
  /// or more flags were set (the tracker's sweep). Never throws.
  explicit peer_watcher(std::function<void()> on_closed) noexcept;
  ~peer_watcher();
  peer_watcher(const peer_watcher&) = delete;
  peer_watcher& operator=(const peer_watcher&) = delete;

  /// Sets *closed (release) once the peer of socket fd closes it. Best
  /// effort: when epoll or the thread cannot be had, nothing is watched
  /// (the pool's validation_bypass check still applies). The flag must stay
  /// alive until unwatch(closed) returns. Thread-safe.
  void watch(int fd, std::atomic<bool>* closed) noexcept;
  /// Stops watching the socket of `closed`; after return no dispatch
  /// touches it. Call before the socket is closed. Thread-safe. Never
  /// called from on_closed's thread with the lock held (it is not held).
  void unwatch(int fd, std::atomic<bool>* closed) noexcept;

  /// Sessions watched now (tests). Thread-safe.
  std::size_t watched() const noexcept;

 private:
  void run() noexcept;
  bool start_locked() noexcept;

  /// In a fork child (the thread is the parent's; mutex_ may have been held
  /// at the fork): watch nothing.
  bool inherited() const noexcept;

  const std::function<void()> on_closed_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::atomic<bool>*> by_id_;  // registration -> flag; guarded by mutex_
  std::unordered_map<std::atomic<bool>*, std::uint64_t> by_flag_;  // flag -> registration; guarded by mutex_
  std::uint64_t next_id_ = 1;                                       // 0: the stop signal; guarded by mutex_
  int epoll_fd_ = -1;  // guarded by mutex_ until the thread starts
  int wake_fd_ = -1;   // eventfd: the destructor's stop signal
  std::thread thread_;
  /// The process whose thread runs (getpid() at start; 0 before). Relaxed:
  /// written once under mutex_ before the thread starts, read by a fork
  /// child (which inherited its value) or by the writer's process.
  std::atomic<pid_t> owner_{0};
  bool failed_ = false;  // epoll or the thread could not be had: watch nothing (guarded by mutex_)
};

}  // namespace berth::postgres::detail
