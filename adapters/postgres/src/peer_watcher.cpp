// peer_watcher.cpp: see peer_watcher.hpp.
#include "peer_watcher.hpp"

#include <array>
#include <new>
#include <cerrno>
#include <cstdint>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace berth::postgres::detail {

peer_watcher::peer_watcher(std::function<void()> on_closed) noexcept : on_closed_(std::move(on_closed)) {}

bool peer_watcher::inherited() const noexcept {
  const pid_t owner = owner_.load(std::memory_order_relaxed);
  return owner != 0 && owner != ::getpid();
}

peer_watcher::~peer_watcher() {
  if (thread_.joinable()) {
    if (inherited()) {
      // A fork child's copy: the thread is the parent's. Leak its handle
      // (std::thread's destructor would terminate) and the descriptors,
      // which the parent's thread still uses.
      new (&thread_) std::thread();  // forget the handle without joining
      return;
    }
    const std::uint64_t one = 1;
    while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool peer_watcher::start_locked() noexcept {
  if (thread_.joinable()) return true;
  if (failed_) return false;
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // the stop signal
  if (epoll_fd_ < 0 || wake_fd_ < 0 || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    failed_ = true;
    return false;
  }
  try {
    owner_.store(::getpid(), std::memory_order_relaxed);
    thread_ = std::thread([this] { run(); });
  } catch (...) {  // no thread: watch nothing (validation_bypass still applies)
    failed_ = true;
    return false;
  }
  return true;
}

void peer_watcher::watch(int fd, std::atomic<bool>* closed) noexcept {
  if (fd < 0 || closed == nullptr || inherited()) return;
  std::lock_guard lk(mutex_);
  if (!start_locked() || by_flag_.count(closed) != 0) return;
  const std::uint64_t id = next_id_++;
  try {
    by_id_.emplace(id, closed);
    by_flag_.emplace(closed, id);
  } catch (...) {  // out of memory: not watched
    by_id_.erase(id);
    return;
  }
  epoll_event ev{};
  // EPOLLRDHUP alone, edge-triggered: ordinary results (EPOLLIN) never
  // wake the thread; the peer's FIN does, once. EPOLLHUP and EPOLLERR are
  // always reported.
  ev.events = EPOLLRDHUP | EPOLLET;
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    by_id_.erase(id);
    by_flag_.erase(closed);
  }
}

void peer_watcher::unwatch(int fd, std::atomic<bool>* closed) noexcept {
  if (inherited()) return;
  std::lock_guard lk(mutex_);
  const auto it = by_flag_.find(closed);
  if (it == by_flag_.end()) return;
  by_id_.erase(it->second);
  by_flag_.erase(it);
  // The socket may already be closed by libpq (a failed call closes it):
  // then the kernel dropped it from the set, and this fails harmlessly.
  if (fd >= 0) (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

std::size_t peer_watcher::watched() const noexcept {
  std::lock_guard lk(mutex_);
  return by_id_.size();
}

void peer_watcher::run() noexcept {
  std::array<epoll_event, 64> events{};
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the set is gone: nothing more to watch
    }
    bool any = false;
    {
      std::lock_guard lk(mutex_);
      for (int k = 0; k < n; ++k) {
        const std::uint64_t id = events[static_cast<std::size_t>(k)].data.u64;
        if (id == 0) return;  // the destructor's stop signal
        // A live registration only: a flag unwatched after epoll_wait
        // returned may be freed, or its address be another session's now.
        const auto it = by_id_.find(id);
        if (it == by_id_.end()) continue;
        it->second->store(true, std::memory_order_release);  // pairs with connection::peer_closed()'s acquire load
        any = true;
      }
    }
    if (any && on_closed_) on_closed_();
  }
}

}  // namespace berth::postgres::detail
