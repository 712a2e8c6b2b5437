// fork.hpp: fork() awareness. A process that forks while it holds pools or
// database connections gives its child copies of them: the pool's threads do
// not exist there and its mutex may be held by one of them; a connection's
// socket or file is shared with the parent, so a libpq Terminate message or
// an sqlite3_close in the child would end or disturb the parent's session.
//
// Detection is pthread_atfork's child handler, installed once per process
// (install_fork_handlers(), on the first pool or fork_guard): in the child,
// before fork() returns, it bumps fork_count and tells every live
// fork_listener (each pool, which sets its gate's forked bit so that the
// fast path it already runs sends acquirers to the slow path, where they
// fail with errc::forked: the fast path pays nothing more). Children made
// without fork() (a raw clone(2), vfork + exec) run no handler: for those,
// fork_guard::inherited_checked() also compares the process id, on cold
// paths only (getpid() is a system call).
//
// Synchronization: fork_count and the listeners' flags are written only in a
// child, by its only thread, inside fork() (the child handler); every later
// reader there is that thread or a thread it creates afterwards (thread
// creation orders them), and the parent never writes them, so relaxed loads
// and stores suffice. The listener list is guarded by its mutex, which the
// prepare handler takes and the parent and child handlers release, so the
// child never inherits it held by a thread that does not exist there.
#pragma once

#include <atomic>
#include <cstdint>

namespace berth {

namespace detail {

/// fork() calls this process's line has made: incremented in the child of
/// each fork (after install_fork_handlers()). Relaxed: see the file comment.
extern std::atomic<std::uint32_t> fork_count;

/// Installs the pthread_atfork handlers, once per process. Thread-safe.
/// Never blocks after the first call.
void install_fork_handlers() noexcept;

/// Told in the child of a fork() that its object was inherited.
/// Thread-safety: on_forked() runs in the child's only thread, inside fork();
/// it must not lock, allocate or block (the parent's threads may have held
/// any lock at the fork). Registration is thread-safe.
class fork_listener {
 public:
  /// The object now lives in a fork child. Set a flag; nothing else.
  virtual void on_forked() noexcept = 0;

 protected:
  fork_listener() noexcept = default;
  virtual ~fork_listener() = default;
  /// Adds this listener (installs the handlers first). Thread-safe; takes
  /// the listener list's mutex.
  void listen_for_fork() noexcept;
  /// Removes it. Thread-safe; takes the listener list's mutex. Idempotent.
  void stop_listening_for_fork() noexcept;

 private:
  friend struct fork_listeners;
  fork_listener* prev_ = nullptr;
  fork_listener* next_ = nullptr;
  bool listed_ = false;
};

}  // namespace detail

/// Records the process an object (a connection) was made in, so that a fork
/// child can tell it inherited the object and leave it alone.
/// Thread-safety: a value; const members are safe from any thread.
class fork_guard {
 public:
  /// This process, now. Installs the fork handlers (once). Never blocks
  /// after the first call in the process.
  fork_guard() noexcept;

  /// True when the object was made before a fork() and this is the child
  /// (or a later descendant). One relaxed load, no system call: fine on a
  /// per-query path. Never blocks.
  bool inherited() const noexcept {
    return detail::fork_count.load(std::memory_order_relaxed) != forks_;  // see the file comment
  }
  /// inherited(), or this is not the process that made it (a child created
  /// without fork(), which runs no handler). A getpid() system call: cold
  /// paths only (connect, validate, reset, close). Never blocks.
  bool inherited_checked() const noexcept;
  /// The id of the process that made the object.
  int owner_pid() const noexcept { return pid_; }

 private:
  std::uint32_t forks_;
  int pid_;
};

}  // namespace berth
