// fork.cpp: the pthread_atfork handlers and the fork listeners; see fork.hpp.
#include <berth/fork.hpp>

#include <mutex>

#include <pthread.h>
#include <unistd.h>

namespace berth::detail {

std::atomic<std::uint32_t> fork_count{0};

/// The live listeners, an intrusive list guarded by `mutex`.
struct fork_listeners {
  std::mutex mutex;
  fork_listener* head = nullptr;

  static fork_listeners& get() noexcept {
    static fork_listeners l;  // constructed before any handler can run (install_fork_handlers)
    return l;
  }
  static void prepare() noexcept { get().mutex.lock(); }  // no listener changes across the fork
  static void parent() noexcept { get().mutex.unlock(); }
  static void child() noexcept {
    // The child's only thread, inside fork(): relaxed (fork.hpp).
    fork_count.store(fork_count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    for (fork_listener* l = get().head; l != nullptr; l = l->next_) l->on_forked();
    // Locked by this thread's prepare() before the fork: a normal mutex, so
    // the child (this thread under a new id) may release it.
    get().mutex.unlock();
  }
};

void install_fork_handlers() noexcept {
  static const bool installed = [] {
    (void)fork_listeners::get();
    // Fails only for lack of memory; then forks go unseen (fork_guard's pid
    // check still catches inherited connections on cold paths).
    return ::pthread_atfork(&fork_listeners::prepare, &fork_listeners::parent, &fork_listeners::child) == 0;
  }();
  (void)installed;
}

void fork_listener::listen_for_fork() noexcept {
  install_fork_handlers();
  fork_listeners& l = fork_listeners::get();
  std::lock_guard lk(l.mutex);
  next_ = l.head;
  if (l.head != nullptr) l.head->prev_ = this;
  l.head = this;
  prev_ = nullptr;
  listed_ = true;
}

void fork_listener::stop_listening_for_fork() noexcept {
  fork_listeners& l = fork_listeners::get();
  std::lock_guard lk(l.mutex);
  if (!listed_) return;
  (prev_ != nullptr ? prev_->next_ : l.head) = next_;
  if (next_ != nullptr) next_->prev_ = prev_;
  prev_ = next_ = nullptr;
  listed_ = false;
}

}  // namespace berth::detail

namespace berth {

fork_guard::fork_guard() noexcept
    : forks_((detail::install_fork_handlers(), detail::fork_count.load(std::memory_order_relaxed))),  // fork.hpp
      pid_(static_cast<int>(::getpid())) {}

bool fork_guard::inherited_checked() const noexcept { return inherited() || ::getpid() != pid_; }

}  // namespace berth
