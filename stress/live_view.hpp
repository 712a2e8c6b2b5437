// live_view.hpp: the stress harnesses' live status line and HTML run report
// (issue 12), over berth_live (tools/live).
//
//   live_view    made by main() from run_args: a run_monitor when the
//                status is on (--live, or stderr is a terminal; --no-live
//                or BERTH_LIVE=0 turn it off) or --report FILE.html is
//                given; nothing at all otherwise (the CTest runs). finish()
//                writes the report.
//   live_phase   run_workers() watches the scenario's pool while its
//                workers run: counts and timeouts from stats(), ops from
//                the workers' progress counters (already per thread and
//                relaxed: nothing shared is added to the loop), and the
//                latency of every successful blocking acquire, which the
//                worker timed anyway (steady clock only: the fake clock's
//                jumps are no latency).
//
// Synchronization: g_live is written by main() before any scenario starts
// and cleared after the last ends (thread creation and join order it for
// the workers); the monitor's own pairs are in run_monitor.hpp.
#pragma once

#include "stress_common.hpp"

#include <berth/live/html_report.hpp>
#include <berth/live/latency_recorder.hpp>
#include <berth/live/run_monitor.hpp>
#include <berth/live/sampler.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <unistd.h>

namespace berth::stress {

/// Distinct objects: safe. Shared objects: attach/detach/latency are
/// thread-safe; finish() and destruction are not (main() only).
class live_view {
 public:
  live_view(const run_args& a, int argc, char** argv) : report_(a.report) {
    std::optional<bool> live = a.live;
    if (!live) {
      try {
        live = live::live_from_env();
      } catch (const std::exception& e) {
        usage(argv[0], e.what());
      }
    }
    live::monitor_options o;
    o.live = live;
    o.latency_label = "acquire latency (successful blocking acquires, every one timed)";
    if (live::choose_status_mode(live, ::isatty(o.status_fd) == 1) == live::status_mode::off && report_.empty())
      return;
    meta_ = live::describe_run(argc, argv);
    meta_.notes = {{"seed", std::to_string(a.seed)},
                   {"mode", a.seconds ? "soak, " + std::to_string(a.seconds) + " s" : a.quick ? "quick" : "full"},
                   {"threads", std::to_string(a.threads)},
                   {"build flavour", std::string(build_flavour)}};
    monitor_ = std::make_unique<live::run_monitor>(std::move(o));
  }
  live_view(const live_view&) = delete;
  live_view& operator=(const live_view&) = delete;

  /// Whether a monitor runs (status on, or a report asked for). Never blocks.
  bool active() const noexcept { return monitor_ != nullptr; }
  /// Where workers record acquire latency; nullptr when inactive. Never blocks.
  live::latency_recorder* latency() noexcept { return monitor_ ? &latency_ : nullptr; }
  /// The monitor, or nullptr. Never blocks.
  live::run_monitor* monitor() noexcept { return monitor_.get(); }

  /// Stops the monitor and writes the report if --report was given; says
  /// where on stdout. A report that cannot be written fails the run. Not
  /// thread-safe (main() only, after the last scenario). Blocks.
  void finish() {
    if (!monitor_) return;
    const live::run_record r = monitor_->stop();
    monitor_.reset();
    if (report_.empty()) return;
    try {
      live::write_html_report(report_, r, meta_);
    } catch (const std::exception& e) {
      fail("%s", e.what());
    }
    std::printf("stress: report: %s (%zu samples, %zu phases)\n", report_.c_str(), r.samples.size(),
                r.phases.size());
    std::fflush(stdout);
  }

 private:
  std::string report_;
  live::run_metadata meta_;
  live::latency_recorder latency_;
  std::unique_ptr<live::run_monitor> monitor_;  // last: stopped before the recorder goes
};

/// The run's live view, or nullptr. See the header's Synchronization.
inline live_view* g_live = nullptr;

/// Watches one pool for a scenario (no-op without a live view); detaches at
/// end() or destruction, before the pool may go. Distinct objects: safe.
/// Shared objects: unsafe.
class live_phase {
 public:
  /// Attaches `p` as phase `name`, ops counted by `ops`. Blocks while the
  /// monitor samples.
  template <class Pool>
  live_phase(const char* name, const Pool& p, std::function<std::uint64_t()> ops) {
    if (g_live == nullptr || !g_live->active()) return;
    monitor_ = g_live->monitor();
    live::probe pr;
    pr.phase = name;
    pr.pools.push_back(live::watch_pool("pool", p));
    pr.ops = std::move(ops);
    pr.latency = g_live->latency();
    monitor_->attach(std::move(pr));
  }
  live_phase(const live_phase&) = delete;
  live_phase& operator=(const live_phase&) = delete;
  ~live_phase() { end(); }

  /// Detaches (idempotent). Blocks while the monitor samples.
  void end() {
    if (monitor_ != nullptr) monitor_->detach();
    monitor_ = nullptr;
  }

 private:
  live::run_monitor* monitor_ = nullptr;
};

}  // namespace berth::stress
