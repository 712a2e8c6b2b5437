// run_monitor.cpp: see run_monitor.hpp.
#include <berth/live/run_monitor.hpp>

#include <cerrno>
#include <stdexcept>

#include <sys/ioctl.h>
#include <unistd.h>

namespace berth::live {

namespace {

/// Columns of the terminal on fd; 0 when unknown.
std::size_t terminal_width(int fd) noexcept {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_col;
}

std::chrono::nanoseconds checked_interval(std::chrono::milliseconds i) {
  if (i.count() <= 0) throw std::invalid_argument("berth::live: monitor_options.interval must be > 0");
  return i;
}

}  // namespace

run_monitor::run_monitor(monitor_options o)
    : interval_(checked_interval(o.interval)),
      latency_label_(std::move(o.latency_label)),
      clock_(*o.clock),
      fd_(o.status_fd),
      mode_(choose_status_mode(o.live, ::isatty(o.status_fd) == 1)),
      start_(o.clock->now()),
      sampler_(start_, interval_ / 4),
      status_(mode_, o.plain_every) {
  clock_.subscribe(*this);
  try {
    thread_ = std::thread([this] { loop(); });
  } catch (...) {
    clock_.unsubscribe(*this);
    throw;
  }
}

run_monitor::~run_monitor() {
  if (!stopped_) halt();
}

void run_monitor::on_clock_advanced() noexcept {
  std::lock_guard lk(mutex_);
  cv_.notify_all();
}

void run_monitor::write_locked(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed or full descriptor: the status is best effort
    done += static_cast<std::size_t>(n);
  }
}

void run_monitor::loop() {
  std::unique_lock lk(mutex_);
  auto next = start_ + interval_;  // not the thread's start time: it may start late
  while (!stop_) {
    if (clock_.now() < next) {
      clock_.wait_until(cv_, lk, next);
      continue;  // re-check stop_ and the time
    }
    const auto now = clock_.now();
    // Fell behind (a long stall, a big clock jump): the next tick is one
    // interval from now, not a burst of catch-up samples.
    next = now - next >= interval_ ? now + interval_ : next + interval_;
    // An exception must not leave this thread (std::terminate): a probe
    // that throws, or std::bad_alloc, skips the sample (the sampler is left
    // as it was: the next one covers this window) and is counted.
    const sample* s = nullptr;
    try {
      s = sampler_.take(now);
    } catch (...) {
      ++skipped_;
      continue;
    }
    if (s == nullptr) continue;
    try {
      const phase_info* ph = sampler_.current_phase();
      write_locked(status_.render(*s, *ph, mode_ == status_mode::terminal ? terminal_width(fd_) : 0));
    } catch (...) {
      // std::bad_alloc building the line: the status is best effort (as its writes).
    }
  }
}

void run_monitor::attach(probe p) {
  std::lock_guard lk(mutex_);
  sampler_.attach(std::move(p), clock_.now());
}

void run_monitor::detach() {
  std::lock_guard lk(mutex_);
  write_locked(status_.clear());
  sampler_.detach(clock_.now());  // when the final sample throws: detached all the same, then rethrows
}

void run_monitor::print_above(const std::function<void()>& f) {
  std::lock_guard lk(mutex_);
  write_locked(status_.clear());
  f();
}

std::size_t run_monitor::samples_taken() const {
  std::lock_guard lk(mutex_);
  return sampler_.sample_count();
}

std::size_t run_monitor::samples_skipped() const {
  std::lock_guard lk(mutex_);
  return skipped_;
}

void run_monitor::halt() noexcept {
  {
    std::lock_guard lk(mutex_);
    try {
      write_locked(status_.clear());
    } catch (...) {
      // std::bad_alloc: the status line stays on screen; nothing else depends on it.
    }
    try {
      sampler_.detach(clock_.now());  // detaches even when its final sample throws
    } catch (...) {
      ++skipped_;
    }
    stop_ = true;
    cv_.notify_all();
  }
  thread_.join();
  clock_.unsubscribe(*this);
  stopped_ = true;
}

run_record run_monitor::stop() {
  halt();
  run_record r = sampler_.record(clock_.now());
  r.interval = interval_;
  r.latency_label = latency_label_;
  r.samples_skipped = skipped_;
  return r;
}

}  // namespace berth::live
