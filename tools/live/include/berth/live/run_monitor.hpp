// run_monitor.hpp: a thread that samples a run once per interval, keeps the
// samples for a report and draws the live status line.
//
// A harness attaches a probe for each phase (a stress scenario, a benchmark
// case) and detaches it before the pool goes away; the monitor calls the
// probe's callables only in between, on its own thread (and in attach() and
// detach(), on the caller's). Between samples the thread sleeps on the
// clock: it adds nothing to the measured loop but what the harness records.
//
// Synchronization: mutex_ guards the sampler, the status line and the
// writes to the status descriptor (one write() per update, so a status line
// is never split by other output going through the same descriptor),
// stop_ and skipped_. The sampling thread waits on cv_ with the clock's
// wait_until; a fake clock's advance() wakes it through on_clock_advanced().
//
// No exception leaves the sampling thread or the destructor: a probe that
// throws (or std::bad_alloc) skips that sample, counted in samples_skipped()
// and in the record (the report shows it).
#pragma once

#include <berth/clock.hpp>
#include <berth/live/sample.hpp>
#include <berth/live/sampler.hpp>
#include <berth/live/status_line.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace berth::live {

/// A plain struct, read once by the constructor.
struct monitor_options {
  /// Sampling period, which is also the status redraw period. Default
  /// 250 ms (4 redraws a second). Must be > 0.
  std::chrono::milliseconds interval{250};
  /// The live status: nullopt (default) on a terminal only; true: on (plain
  /// lines when status_fd is not a terminal); false: off.
  std::optional<bool> live;
  /// Plain mode: at most one status line per this period. Default 5 s.
  std::chrono::milliseconds plain_every{5000};
  /// Where the status goes. Default 2 (stderr), so a program's stdout
  /// (Google Benchmark's tables and JSON) stays clean.
  int status_fd = 2;
  /// What the latency figures time, for the report's titles.
  std::string latency_label = "acquire latency";
  /// The time source. Default steady_clock. Must outlive the monitor.
  clock_source* clock = &clock_source::steady();
};

/// Distinct objects: safe. Shared objects: attach, detach, print_above and
/// samples_taken are thread-safe; stop and destruction are not (one thread,
/// after the last attach/detach).
class run_monitor final : private clock_listener {
 public:
  /// Starts the sampling thread. Throws std::invalid_argument for a
  /// non-positive interval, std::system_error if no thread starts.
  explicit run_monitor(monitor_options o);
  run_monitor(const run_monitor&) = delete;
  run_monitor& operator=(const run_monitor&) = delete;
  /// Stops and joins the thread unless stop() ran. Never throws.
  ~run_monitor();

  /// Starts (or continues, same name) a phase watching `p`. Thread-safe.
  /// Blocks while a sample is being taken.
  void attach(probe p);
  /// Takes the phase's final sample, erases the status line, and never
  /// calls the probe again. A probe's exception from the final sample
  /// propagates, after detaching. Thread-safe. Blocks while a sample is
  /// taken.
  void detach();
  /// Runs f (which writes to stdout/stderr) with the status line erased and
  /// not redrawn until f returns. Thread-safe. Blocks.
  void print_above(const std::function<void()>& f);

  /// The status mode chosen for status_fd. Never blocks.
  status_mode mode() const noexcept { return mode_; }
  /// Samples so far. Thread-safe.
  std::size_t samples_taken() const;
  /// Samples skipped so far because a probe's callable (or an allocation)
  /// threw on the sampling thread or in stop()'s final sample. Thread-safe.
  std::size_t samples_skipped() const;

  /// Detaches, stops and joins the thread, and returns the record. A probe
  /// that throws in the final sample skips it (counted); only building the
  /// record may throw (std::bad_alloc), with the thread already stopped.
  /// Not thread-safe: call once, from the owner. Blocks.
  run_record stop();

 private:
  void on_clock_advanced() noexcept override;
  void loop();
  /// stop() but the record: detaches (a throwing final sample is counted
  /// as skipped), stops and joins the thread.
  void halt() noexcept;
  void write_locked(const std::string& bytes);  // requires mutex_

  const std::chrono::nanoseconds interval_;
  const std::string latency_label_;
  clock_source& clock_;
  const int fd_;
  const status_mode mode_;
  const clock_source::time_point start_;
  // ---- guarded by mutex_ ----
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  sampler sampler_;
  status_line status_;
  bool stop_ = false;
  std::size_t skipped_ = 0;  // samples a throwing probe (or std::bad_alloc) skipped
  bool stopped_ = false;  // halt() ran (owner thread only after the join)
  // ---- last: starts after the members above exist ----
  std::thread thread_;
};

}  // namespace berth::live
