// prometheus_exporter: berth's pool metrics (berth::prometheus) served by
// prometheus-cpp's Exposer, over pools that threads keep busy. Needs no
// database: the pools' client is simulated (berth::function_adapter; a
// connect takes 2 ms).
//
//   prometheus_exporter [--listen HOST:PORT] [--load-seconds N] [--seconds N] [--stdin]
//   prometheus_exporter --print [--load-seconds N]
//
//   --listen HOST:PORT  where /metrics is served; port 0 picks a free one.
//                       Default 127.0.0.1:0.
//   --load-seconds N    drive the load for N seconds, then stop it and print
//                       each pool's statistics (default: for as long as the
//                       program runs; with --print: no load)
//   --seconds N         exit after N seconds (default: run until SIGTERM or
//                       SIGINT)
//   --stdin             also exit when stdin reaches end of file
//   --print             serve nothing: after the load, print one scrape in
//                       the text format (and nothing else) and exit;
//                       dashboards/check_dashboard.py lists the metric
//                       names berth exports from it
//
// The pools, in a berth::registry (so the metrics carry pool="orders" and
// pool="reports"):
//   orders   max_size 8, min_idle 2; 4 threads acquire (deadline 1 s) and
//            hold the connection 0.2 to 2 ms
//   reports  max_size 2, min_idle 0; 4 threads acquire with a 3 ms deadline
//            and hold 5 ms: acquires wait, and some time out
//
// Output on stdout, one line each, flushed (a test reads them):
//   listening HOST:PORT
//   load stopped after N ms                        (--load-seconds)
//   pool NAME acquired=N waited=N timeouts=N created=N max_size=N min_idle=N
//        wait_count=N hold_count=N creation_count=N   (one line per pool)
//   exiting
// Exit status 0, or 2 on a usage or start-up error (message on stderr).
#include <berth/function_adapter.hpp>
#include <berth/pool.hpp>
#include <berth/prometheus.hpp>
#include <berth/registry.hpp>

#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// A connection of the simulated client.
struct sim_connection {
  std::uint64_t id = 0;
};
using sim_pool = berth::pool<berth::function_adapter<sim_connection>>;

struct arguments {
  std::string listen = "127.0.0.1:0";
  std::optional<std::chrono::milliseconds> load;  // how long to drive the load; none: until exit
  std::optional<std::chrono::milliseconds> run;   // how long to run; none: until a signal
  bool stdin_eof = false;
  bool print = false;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "prometheus_exporter: " << problem << "\n"
            << "usage: prometheus_exporter [--listen HOST:PORT] [--load-seconds N] [--seconds N] [--stdin]\n"
            << "       prometheus_exporter --print [--load-seconds N]\n";
  std::exit(2);
}

std::chrono::milliseconds seconds_arg(std::string_view flag, const char* value) {
  char* end = nullptr;
  errno = 0;
  const double s = std::strtod(value, &end);
  if (errno != 0 || end == value || *end != '\0' || !(s >= 0) || s > 1e6)
    usage(std::string(flag) + " wants a number of seconds in 0..1e6, got '" + value + "'");
  return std::chrono::milliseconds{static_cast<std::int64_t>(s * 1000)};
}

arguments parse(int argc, char** argv) {
  arguments a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (flag == "--listen") {
      a.listen = value();
    } else if (flag == "--load-seconds") {
      a.load = seconds_arg(flag, value());
    } else if (flag == "--seconds") {
      a.run = seconds_arg(flag, value());
    } else if (flag == "--stdin") {
      a.stdin_eof = true;
    } else if (flag == "--print") {
      a.print = true;
    } else {
      usage("unknown argument '" + std::string(flag) + "'");
    }
  }
  if (a.print && !a.load) a.load = 0ms;
  return a;
}

berth::function_adapter<sim_connection> sim_client() {
  auto next = std::make_shared<std::atomic<std::uint64_t>>(1);
  return berth::function_adapter<sim_connection>{{
      .connect =
          [next] {
            std::this_thread::sleep_for(2ms);  // the handshake
            return sim_connection{next->fetch_add(1)};
          },
  }};
}

/// Threads acquiring and holding connections until stop().
/// Thread-safety: start and stop from one thread.
class load {
 public:
  load(std::shared_ptr<sim_pool> orders, std::shared_ptr<sim_pool> reports) {
    for (unsigned t = 0; t < 4; ++t) {
      threads_.emplace_back([this, orders, t] { run(*orders, t, 1s, 200us, 2ms); });
      threads_.emplace_back([this, reports, t] { run(*reports, t + 100, 3ms, 5ms, 5ms); });
    }
  }
  load(const load&) = delete;
  load& operator=(const load&) = delete;
  ~load() { stop(); }

  /// Stops the threads and joins them. Idempotent.
  void stop() {
    stop_.store(true, std::memory_order_relaxed);  // relaxed: a flag polled by the loops; join() orders the rest
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void run(sim_pool& p, unsigned seed, std::chrono::milliseconds deadline, std::chrono::microseconds min_hold,
           std::chrono::microseconds max_hold) {
    std::minstd_rand rng(seed + 1);
    std::uniform_int_distribution<std::int64_t> hold(min_hold.count(), max_hold.count());
    while (!stop_.load(std::memory_order_relaxed)) {
      if (auto l = p.acquire_for(deadline)) {
        std::this_thread::sleep_for(std::chrono::microseconds{hold(rng)});
      } else {
        std::this_thread::sleep_for(1ms);  // timed out (or the pool closed): back off a little
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

void print_stats(const berth::registry& pools) {
  for (const auto& [name, s] : pools.stats()) {
    std::cout << "pool " << name << " acquired=" << s.acquired << " waited=" << s.acquired_after_wait
              << " timeouts=" << s.timeouts << " created=" << s.created << " max_size=" << s.counts.max_size
              << " min_idle=" << s.counts.min_idle << " wait_count=" << s.wait_time.count
              << " hold_count=" << s.hold_time.count << " creation_count=" << s.creation_time.count << "\n";
  }
  std::cout.flush();
}

// SIGTERM and SIGINT write a byte here; the main loop polls it.
int signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int) {
  const int saved = errno;
  const char b = 1;
  (void)!::write(signal_pipe[1], &b, 1);
  errno = saved;
}

/// Waits until `until` (if any) for a signal or, with watch_stdin, the end
/// of stdin; true if one came.
bool wait_for_exit(std::optional<clock_type::time_point> until, bool watch_stdin) {
  for (;;) {
    int timeout_ms = -1;
    if (until) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*until - clock_type::now());
      if (left <= 0ms) return false;
      timeout_ms = static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 60'000));
    }
    pollfd fds[2] = {{signal_pipe[0], POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    const int n = ::poll(fds, watch_stdin ? 2 : 1, timeout_ms);
    if (n < 0 && errno != EINTR) return true;
    if (n <= 0) continue;
    if (fds[0].revents != 0) return true;
    if (watch_stdin && fds[1].revents != 0) {
      char buf[256];
      const ssize_t r = ::read(STDIN_FILENO, buf, sizeof buf);
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return true;  // end of file
    }
  }
}

int run(const arguments& args) {
  if (::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  const auto start = clock_type::now();
  auto pools = std::make_shared<berth::registry>(5s);
  auto orders = pools->emplace<sim_pool>("orders", sim_client(),
                                         berth::pool_options{.name = "orders", .max_size = 8, .min_idle = 2});
  auto reports = pools->emplace<sim_pool>("reports", sim_client(),
                                          berth::pool_options{.name = "reports", .max_size = 2, .min_idle = 0});

  // The service's part: one collectable over the registry, on its exposer.
  auto metrics = std::make_shared<berth::prometheus::collectable>();
  metrics->add(pools);
  std::optional<prometheus::Exposer> exposer;
  if (!args.print) {
    exposer.emplace(args.listen);
    exposer->RegisterCollectable(metrics);
    const auto ports = exposer->GetListeningPorts();
    const std::string host = args.listen.substr(0, args.listen.rfind(':'));
    std::cout << "listening " << host << ":" << (ports.empty() ? 0 : ports.front()) << std::endl;
  }

  std::optional<load> busy;
  if (!args.load || *args.load > 0ms) busy.emplace(orders, reports);
  const std::optional<clock_type::time_point> exit_at =
      args.run ? std::optional<clock_type::time_point>(start + *args.run) : std::nullopt;
  bool exit_now = false;
  if (args.load) {
    const auto load_end = start + *args.load;
    exit_now = wait_for_exit(exit_at ? std::min(*exit_at, load_end) : load_end, args.stdin_eof && !args.print);
    if (busy) busy->stop();
    if (!args.print) {
      std::cout << "load stopped after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start).count() << " ms\n";
      print_stats(*pools);
    }
  }
  if (args.print) {
    std::cout << prometheus::TextSerializer{}.Serialize(metrics->Collect()) << std::flush;
    return 0;
  }
  if (!exit_now) (void)wait_for_exit(exit_at, args.stdin_eof);
  if (busy) busy->stop();
  std::cout << "exiting" << std::endl;
  exposer.reset();  // no scrape during the pools' shutdown
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const arguments args = parse(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::cerr << "prometheus_exporter: " << e.what() << "\n";
    return 2;
  }
}
