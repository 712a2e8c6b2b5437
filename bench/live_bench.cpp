// live_bench.cpp: see live_bench.hpp.
#include "live_bench.hpp"

#include <berth/live/html_report.hpp>
#include <berth/live/run_monitor.hpp>
#include <berth/live/status_line.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>

namespace berth::bench {

namespace {

// See the header's Synchronization: written by live_main() only while no
// benchmark thread runs.
live::run_monitor* g_monitor = nullptr;
live::latency_recorder* g_latency = nullptr;

/// Erases the status line around each of another reporter's outputs, so a
/// table row never lands after a half-drawn status.
class status_clearing_reporter final : public benchmark::BenchmarkReporter {
 public:
  status_clearing_reporter(benchmark::BenchmarkReporter* inner, live::run_monitor& m) : inner_(inner), monitor_(m) {}

  bool ReportContext(const Context& c) override {
    bool ok = false;
    around([&] { ok = inner_->ReportContext(c); });
    return ok;
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    around([&] { inner_->ReportRuns(runs); });
  }
  void Finalize() override {
    around([&] { inner_->Finalize(); });
  }

 private:
  template <class F>
  void around(F f) {
    monitor_.print_above([&] {
      f();
      std::cout.flush();
      std::cerr.flush();
    });
  }

  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  live::run_monitor& monitor_;
};

}  // namespace

live::latency_recorder* live_latency() noexcept { return g_latency; }

live_watch::live_watch(const benchmark::State& state, const char* family, std::vector<live::pool_probe> pools) {
  if (g_monitor == nullptr || state.thread_index() != 0) return;
  live::probe p;
  p.phase = std::string(family) + "/threads:" + std::to_string(state.threads());
  p.pools = std::move(pools);
  p.latency = g_latency;
  g_monitor->attach(std::move(p));
  attached_ = true;
}

live_watch::~live_watch() {
  if (attached_) g_monitor->detach();
}

int live_main(int argc, char** argv, const live_options& o) {
  // Our flags out, the rest to Google Benchmark (which rejects unknown ones).
  std::string report;
  std::optional<bool> live;
  const live::run_metadata meta = live::describe_run(argc, argv);
  try {
    live = live::live_from_env();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 2;
  }
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.starts_with("--berth_report=")) {
      report = a.substr(std::strlen("--berth_report="));
    } else if (a == "--berth_live=0" || a == "--berth_live=1") {
      live = a.back() == '1';
    } else if (a.starts_with("--berth_")) {
      std::fprintf(stderr, "%s: unknown flag %s (berth's: --berth_report=FILE.html, --berth_live=0|1)\n", argv[0],
                   argv[i]);
      return 2;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  live::latency_recorder latency;
  std::unique_ptr<live::run_monitor> monitor;
  live::monitor_options mo;
  mo.live = live;
  mo.latency_label = o.latency_label;
  if (!report.empty() || live::choose_status_mode(live, ::isatty(mo.status_fd) == 1) != live::status_mode::off) {
    monitor = std::make_unique<live::run_monitor>(std::move(mo));
    g_monitor = monitor.get();
    if (!report.empty()) g_latency = &latency;
  }
  if (monitor) {
    status_clearing_reporter display(benchmark::CreateDefaultDisplayReporter(), *monitor);
    benchmark::RunSpecifiedBenchmarks(&display);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  g_monitor = nullptr;
  g_latency = nullptr;
  int rc = 0;
  if (monitor) {
    const live::run_record r = monitor->stop();
    if (!report.empty()) {
      try {
        live::write_html_report(report, r, meta);
        std::fprintf(stderr, "berth: report: %s (%zu samples, %zu cases)\n", report.c_str(), r.samples.size(),
                     r.phases.size());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "berth: %s\n", e.what());
        rc = 1;
      }
    }
  }
  benchmark::Shutdown();
  return rc;
}

}  // namespace berth::bench
