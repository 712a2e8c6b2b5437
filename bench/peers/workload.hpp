// workload.hpp: the one loop every C++ peer driver runs (issue 9's side-by-side
// harness). A driver is a main() that calls run_driver<P>() with its pool
// type P; everything else (command line, threads, warm-up, timing, sampling,
// the JSON line) is here, so every C++ pool is measured by identical code.
// The protocol, which the HikariCP driver follows too, is in README.md beside
// this file.
//
// The pool P (a policy; see peer_pool below) provides:
//   P(const driver_config&)      a pool of cfg.connections connections, all
//                                open and idle before it returns
//   typename P::worker           per-thread state (tokens, a start slot),
//                                built as worker(P&, thread_index) on its
//                                thread before the start barrier
//   w.acquire() -> H             waits up to acquire_timeout for a connection;
//                                H is a move-only handle whose destructor
//                                returns the connection, with explicit
//                                operator bool (false: the acquire failed)
//   P::worker::connection(H&)    the connection's address (const void*)
//
// One cycle, per thread (cycle() below):
//   acquire                      every 64th acquire (per thread) is timed with
//                                std::chrono::steady_clock around the acquire
//                                call alone
//   touch the connection         its address escapes to the optimizer, so the
//                                handle cannot be elided (no memory write)
//   hold                         if hold_ns > 0: spin_for(hold_ns)
//   release                      the handle's destructor
//
// Synchronization: [P1] phase_ (warm_up -> measure -> stop) is written by the
// main thread and read by the workers with relaxed operations: it is a flag
// with no data behind it. A worker's counters and samples are its own until
// it ends; std::thread::join() publishes them to the main thread, which reads
// them only after joining every worker.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <latch>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/resource.h>
#include <time.h>

namespace berth::bench::peers {

/// Every acquire_timeout: the protocol's "large" timeout (30 s).
inline constexpr std::chrono::seconds acquire_timeout{30};
/// One acquire in this many (per thread) is timed.
inline constexpr std::uint64_t sample_every = 64;

/// The protocol's command line. A value type.
struct driver_config {
  std::size_t threads = 1;
  std::size_t connections = 1;
  std::int64_t hold_ns = 0;
  double seconds = 1.0;
  double warmup_seconds = 0.2;
};

/// Busy-waits about ns nanoseconds by reading the steady clock until ns have
/// passed since the call began: the duration is measured, not a calibrated
/// loop count, so it is the same on every machine and in every driver
/// (the Java driver spins on System.nanoTime() the same way). A preempted
/// spinner ends its spin as soon as it runs again. Thread-safe.
inline void spin_for(std::int64_t ns) noexcept {
  using clock = std::chrono::steady_clock;
  const clock::time_point end = clock::now() + std::chrono::nanoseconds{ns};
  while (clock::now() < end) {
  }
}

/// Makes p visible to the optimizer as if used, without a memory clobber.
inline void escape(const void* p) noexcept { asm volatile("" : : "r"(p)); }

/// The handle type a pool's worker returns from acquire().
template <class P>
using handle_t = decltype(std::declval<typename P::worker&>().acquire());

template <class P>
concept peer_pool = std::constructible_from<P, const driver_config&> &&
                    std::constructible_from<typename P::worker, P&, std::size_t> &&
                    requires(handle_t<P>& h) {
                      { static_cast<bool>(h) };
                      { P::worker::connection(h) } -> std::convertible_to<const void*>;
                    };

/// A pool that can say how long its longest wait for a connection was, by
/// its own count over the whole run (every acquire, not the harness's one
/// in 64): printed as "pool_longest_wait_ns". Optional. Beside the
/// per-thread cycles it tells a thread the pool passed over (a long wait
/// inside the pool) from one the scheduler left off the CPU.
template <class P>
concept reports_longest_wait = requires(const P& p) {
  { p.longest_wait_ns() } -> std::convertible_to<std::uint64_t>;
};

namespace detail {

enum class phase : std::uint8_t { warm_up, measure, stop };

/// What one worker thread reports after it ends.
struct thread_result {
  std::uint64_t cycles = 0;   // completed in the measured window
  std::uint64_t errors = 0;   // failed acquires, warm-up included
  std::vector<std::uint64_t> samples;  // timed acquires in the window, ns
  // CPU time the thread ran in the window, and the times it blocked there
  // (voluntary context switches): they tell a thread the scheduler left off
  // the CPU from one the pool made wait.
  std::uint64_t cpu_us = 0;
  std::uint64_t blocks = 0;
};

/// This thread's CPU time (us) and voluntary context switches so far.
inline std::pair<std::uint64_t, std::uint64_t> thread_usage() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return {static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000,
          static_cast<std::uint64_t>(ru.ru_nvcsw)};
}

[[noreturn]] inline void usage(const char* prog, const std::string& why) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s --threads T --connections C --hold-ns H --seconds S "
               "[--warmup-seconds W]\n",
               prog, why.c_str(), prog);
  std::exit(2);
}

inline driver_config parse(int argc, char** argv) {
  driver_config c;
  bool have_t = false, have_c = false, have_h = false, have_s = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage(argv[0], "missing value after " + std::string(a));
    const char* v = argv[++i];
    char* end = nullptr;
    if (a == "--threads" || a == "--connections" || a == "--hold-ns") {
      const long long n = std::strtoll(v, &end, 10);
      if (*end != '\0' || n < 0) usage(argv[0], "bad value for " + std::string(a) + ": " + v);
      if (a == "--threads") c.threads = static_cast<std::size_t>(n), have_t = true;
      else if (a == "--connections") c.connections = static_cast<std::size_t>(n), have_c = true;
      else c.hold_ns = n, have_h = true;
    } else if (a == "--seconds" || a == "--warmup-seconds") {
      const double d = std::strtod(v, &end);
      if (*end != '\0' || !(d >= 0)) usage(argv[0], "bad value for " + std::string(a) + ": " + v);
      if (a == "--seconds") c.seconds = d, have_s = true;
      else c.warmup_seconds = d;
    } else {
      usage(argv[0], "unknown option " + std::string(a));
    }
  }
  if (!have_t || !have_c || !have_h || !have_s) usage(argv[0], "--threads, --connections, --hold-ns and --seconds are required");
  if (c.threads == 0 || c.connections == 0 || c.seconds <= 0) usage(argv[0], "threads, connections and seconds must be > 0");
  return c;
}

/// The median cost of one steady_clock::now() as a timed acquire sees it
/// (the difference of two back-to-back reads), to read the latencies by.
inline std::uint64_t timer_cost_ns() {
  using clock = std::chrono::steady_clock;
  std::vector<std::int64_t> d(1001);
  for (auto& x : d) {
    const clock::time_point a = clock::now();
    x = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - a).count();
  }
  std::nth_element(d.begin(), d.begin() + 500, d.end());
  return static_cast<std::uint64_t>(d[500]);
}

/// The nearest-rank q-quantile of sorted v (0 when empty).
inline std::uint64_t quantile(const std::vector<std::uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size()) + 0.999999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

template <peer_pool P>
void worker_main(P& pool, std::size_t index, std::int64_t hold_ns, std::latch& start,
                 const std::atomic<phase>& ph, thread_result& out) {
  using clock = std::chrono::steady_clock;
  typename P::worker w(pool, index);
  std::vector<std::uint64_t> samples;
  samples.reserve(4096);  // grows during warm-up; cleared, not freed, at the window's start
  std::uint64_t n = 0, cycles = 0, errors = 0;
  phase seen = phase::warm_up;
  std::pair<std::uint64_t, std::uint64_t> usage_at_open{};
  start.arrive_and_wait();
  for (;;) {
    const phase p = ph.load(std::memory_order_relaxed);  // [P1] a flag, no data behind it
    if (p != seen) [[unlikely]] {
      // The window opens (warm-up cycles and samples are not counted), or
      // it closed before this thread saw it open: then it did no cycle in it.
      if (seen == phase::warm_up) {
        cycles = 0;
        samples.clear();
        usage_at_open = thread_usage();
      }
      if (p == phase::stop) {
        if (seen == phase::measure) {
          const auto [cpu, blocks] = thread_usage();
          out.cpu_us = cpu - usage_at_open.first;
          out.blocks = blocks - usage_at_open.second;
        }
        break;
      }
      seen = p;
    }
    const bool timed = (n++ % sample_every) == 0;
    clock::time_point t0;
    if (timed) t0 = clock::now();
    {
      auto h = w.acquire();
      if (timed) {
        const auto dt = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
        samples.push_back(static_cast<std::uint64_t>(dt));
      }
      if (!static_cast<bool>(h)) [[unlikely]] {
        ++errors;
        continue;
      }
      escape(P::worker::connection(h));
      if (hold_ns > 0) spin_for(hold_ns);
    }  // release
    ++cycles;
  }
  out.cycles = cycles;
  out.errors = errors;
  out.samples = std::move(samples);
}

}  // namespace detail

/// Runs the protocol with pool P and prints its JSON line on stdout. pool
/// and variant name the line's "pool" and "variant". Returns main()'s exit
/// code. Call once, from main().
template <peer_pool P>
int run_driver(int argc, char** argv, std::string_view pool_name, std::string_view variant) {
  using clock = std::chrono::steady_clock;
  const driver_config cfg = detail::parse(argc, argv);
  try {
    const std::uint64_t timer_ns = detail::timer_cost_ns();
    P pool(cfg);
    // Read by every worker before every cycle: alone on its line pair, away
    // from the main thread's stack writes.
    alignas(128) std::atomic<detail::phase> ph{detail::phase::warm_up};
    std::vector<detail::thread_result> results(cfg.threads);
    std::latch start(static_cast<std::ptrdiff_t>(cfg.threads) + 1);
    std::vector<std::thread> threads;
    threads.reserve(cfg.threads);
    for (std::size_t t = 0; t < cfg.threads; ++t)
      threads.emplace_back([&, t] { detail::worker_main(pool, t, cfg.hold_ns, start, ph, results[t]); });
    start.arrive_and_wait();
    std::this_thread::sleep_for(std::chrono::duration<double>(cfg.warmup_seconds));
    const clock::time_point t0 = clock::now();
    ph.store(detail::phase::measure, std::memory_order_relaxed);  // [P1]
    std::this_thread::sleep_for(std::chrono::duration<double>(cfg.seconds));
    ph.store(detail::phase::stop, std::memory_order_relaxed);  // [P1]
    const clock::time_point t1 = clock::now();
    for (auto& th : threads) th.join();  // publishes results[]
    const double wall = std::chrono::duration<double>(t1 - t0).count();

    std::uint64_t cycles = 0, errors = 0;
    std::size_t nsamples = 0;
    for (const auto& r : results) {
      cycles += r.cycles;
      errors += r.errors;
      nsamples += r.samples.size();
    }
    std::vector<std::uint64_t> all;
    all.reserve(nsamples);
    for (auto& r : results) all.insert(all.end(), r.samples.begin(), r.samples.end());
    std::sort(all.begin(), all.end());

    // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict) on
    // `"literal" + std::to_string(...)`.
    std::string j;
    auto key = [&j](const char* k) {
      j += j.empty() ? "{\"" : ",\"";
      j += k;
      j += "\":";
    };
    auto str = [&](const char* k, std::string_view v) {
      key(k);
      j += '"';
      j += v;
      j += '"';
    };
    auto num = [&](const char* k, std::uint64_t v) {
      key(k);
      j += std::to_string(v);
    };
    auto real = [&](const char* k, double v, int decimals) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
      key(k);
      j += buf;
    };
    str("pool", pool_name);
    str("variant", variant);
    num("threads", cfg.threads);
    num("connections", cfg.connections);
    num("hold_ns", static_cast<std::uint64_t>(cfg.hold_ns));
    real("seconds", wall, 6);
    num("cycles", cycles);
    real("cycles_per_s", static_cast<double>(cycles) / wall, 1);
    key("latency_ns");
    j += "{\"p50\":";
    j += std::to_string(detail::quantile(all, 0.5));
    j += ",\"p99\":";
    j += std::to_string(detail::quantile(all, 0.99));
    j += ",\"p999\":";
    j += std::to_string(detail::quantile(all, 0.999));
    j += ",\"max\":";
    j += std::to_string(all.empty() ? 0 : all.back());
    j += '}';
    num("samples", all.size());
    key("per_thread_cycles");
    for (std::size_t t = 0; t < results.size(); ++t) {
      j += t == 0 ? '[' : ',';
      j += std::to_string(results[t].cycles);
    }
    j += ']';
    key("per_thread_cpu_us");
    for (std::size_t t = 0; t < results.size(); ++t) {
      j += t == 0 ? '[' : ',';
      j += std::to_string(results[t].cpu_us);
    }
    j += ']';
    key("per_thread_blocks");
    for (std::size_t t = 0; t < results.size(); ++t) {
      j += t == 0 ? '[' : ',';
      j += std::to_string(results[t].blocks);
    }
    j += ']';
    num("errors", errors);
    if constexpr (reports_longest_wait<P>) num("pool_longest_wait_ns", pool.longest_wait_ns());
    num("timer_ns", timer_ns);
    key("assertions");  // whether assert() is compiled in (NDEBUG undefined)
#ifdef NDEBUG
    j += "false";
#else
    j += "true";
#endif
    j += "}\n";
    std::fputs(j.c_str(), stdout);
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(pool_name.size()), pool_name.data(), e.what());
    return 1;
  }
}

}  // namespace berth::bench::peers
