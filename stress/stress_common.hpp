// stress_common.hpp: pieces shared by the berth stress harnesses.
//
//   stress_adapter   an adapter with injected faults (connect failures, throws
//                    and real latency; reset failures and throws). Each
//                    connection carries an owner word that a lessee CASes from
//                    0 to its own id (claim()), so a double hand-out aborts at
//                    once, and a use counter summed at quiescence.
//   rng              a seeded splitmix64 generator. Every random decision of a
//                    run derives from --seed, so a failing run can be replayed
//                    (the decisions are replayed; thread interleavings are not).
//   run_args         --seed N, --seconds N (soak), --threads N, --quick,
//                    --only NAME, --report FILE.html, --live/--no-live
//                    (live_view.hpp).
//   BERTH_STRESS_CHECK / fail()   print the check, the seed and how to replay,
//                    then abort.
//   watchdog         turns a hang into a report and an abort, instead of a
//                    CTest timeout with no output.
//
// Synchronization (stress side; the pool's own pairs are in pool_core.hpp):
//   [O1] claim(): relaxed CAS of owner 0 -> lessee id. Relaxed on purpose: the
//        only happens-before edge between successive lessees of a connection
//        must come from the pool (slot_state.hpp [W1], pool_core.hpp [G4]).
//        RMW atomicity alone catches a second owner (the CAS fails: abort).
//   [O2] unclaim(): relaxed CAS of owner id -> 0, same reason.
//   connection_state::uses/resets are deliberately NOT atomic: since [O1]/[O2]
//   add no ordering, ThreadSanitizer reports a race on them if the pool ever
//   hands a connection to a new owner (lessee, reset, close) without
//   publishing the previous owner's writes.
//   Adapter counters are seq_cst atomics: read only at quiescence (after
//   joins); they are off the pool's hot path.
#pragma once

#include <berth/adapter.hpp>
#include <berth/errc.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>

namespace berth::stress {

// ---- build flavour ----------------------------------------------------------

// Default iterations are divided by iteration_divisor. Measured on the
// 2-core CI box with 136 threads, --quick: plain Debug ~6 s; TSan and ASan
// cost ~2-3x per operation (much of the run is waiting and scheduling, which
// they do not slow down), so halving keeps them near the Debug time.
#if defined(BERTH_TSAN)
inline constexpr std::string_view build_flavour = "tsan";
inline constexpr bool under_sanitizer = true;
inline constexpr std::uint64_t iteration_divisor = 2;
#elif defined(BERTH_ASAN)
inline constexpr std::string_view build_flavour = "asan";
inline constexpr bool under_sanitizer = true;
inline constexpr std::uint64_t iteration_divisor = 2;
#else
inline constexpr std::string_view build_flavour = "plain";
inline constexpr bool under_sanitizer = false;
inline constexpr std::uint64_t iteration_divisor = 1;
#endif

/// How late past its deadline an acquire may return before we call it a
/// stuck waiter. Pure scheduling slack: with 136 mostly-runnable threads on 2
/// cores, a waiter handed a connection (or failed by close) at its deadline
/// may wait for a CPU for a long time; measured in Debug on the 2-core box:
/// up to ~400 ms (typically 50-150 ms). Hence 1 s, and 2 s under sanitizers.
inline constexpr std::chrono::milliseconds lateness_bound{under_sanitizer ? 2000 : 1000};

// ---- small helpers ----------------------------------------------------------

using clock_type = std::chrono::steady_clock;
using nanoseconds = std::chrono::nanoseconds;

inline long long to_us(nanoseconds d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}
inline unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

/// berth::errc's enumerator name, for messages.
inline const char* errc_name(errc c) {
  switch (c) {
    case errc::timeout: return "timeout";
    case errc::would_block: return "would_block";
    case errc::pool_closed: return "pool_closed";
    case errc::startup_failed: return "startup_failed";
    case errc::drain_timeout: return "drain_timeout";
    case errc::adapter_failure: return "adapter_failure";
    case errc::cancelled: return "cancelled";
    case errc::database_unavailable: return "database_unavailable";
    case errc::no_replica: return "no_replica";
    case errc::forked: return "forked";
  }
  return "?";
}

// ---- failure reporting ------------------------------------------------------

/// The run's seed, for failure messages. Written once by main() before any
/// thread starts (the std::thread constructor orders it before their reads).
inline std::uint64_t g_seed = 0;

/// Prints "stress: FAIL ...", the seed and the replay command; aborts.
/// Thread-safe (one fprintf per line; concurrent failures may interleave).
[[noreturn]] inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline void fail(const char* fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "stress: FAIL: %s\nstress: seed=%llu (replay with --seed %llu)\n", msg,
               static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed));
  std::fflush(stderr);
  std::fflush(stdout);
  std::abort();
}

/// Aborts with the condition, the location and a printf-style explanation.
#define BERTH_STRESS_CHECK(cond, fmt, ...)                                                     \
  do {                                                                                         \
    if (!(cond)) [[unlikely]]                                                                  \
      ::berth::stress::fail("%s:%d: check `%s` failed: " fmt, __FILE__, __LINE__, #cond        \
                            __VA_OPT__(, ) __VA_ARGS__);                                       \
  } while (false)

// ---- random numbers ---------------------------------------------------------

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, good enough to drive
/// decisions. Distinct objects: safe. Shared objects: unsafe.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}

  /// The splitmix64 finalizer: a bijective 64-bit mix.
  static constexpr std::uint64_t mix(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t next() noexcept { return mix(state_ += 0x9e3779b97f4a7c15ULL); }
  /// Uniform in [0, n) (modulo bias is irrelevant here); 0 when n == 0.
  std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }
  /// Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept { return lo + below(hi - lo + 1); }
  /// Uniform in [0, 1).
  double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// True with probability p.
  bool chance(double p) noexcept { return unit() < p; }

 private:
  std::uint64_t state_;
};

/// An independent stream for (seed, stream): threads, scenarios and adapter
/// calls each get their own, so adding one does not shift the others.
constexpr std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  return rng::mix(seed ^ rng::mix(stream + 0x632be59bd9b4e019ULL));
}

// ---- arguments --------------------------------------------------------------

struct run_args {
  std::uint64_t seed = 0;
  /// Soak mode: run each scenario for this long instead of a fixed iteration
  /// count. 0: iteration mode.
  unsigned seconds = 0;
  /// Worker threads per scenario. Default 136: more than 128, so that any
  /// 7-bit counter or 128-entry table would overflow.
  unsigned threads = 136;
  /// Short iteration counts (the CTest run).
  bool quick = false;
  /// Run only the scenario with this name, or with a trailing '*' those
  /// whose name starts with it (replay one scenario: scenario seeds do not
  /// depend on which scenarios run).
  std::string only;
  /// Write an HTML report of the run (charts of every scenario's pool) to
  /// this file at the end; empty: none.
  std::string report;
  /// The live status line on stderr: --live (on; plain lines every 5 s when
  /// stderr is not a terminal), --no-live (off); nullopt: BERTH_LIVE=0/1,
  /// else on only when stderr is a terminal.
  std::optional<bool> live;
};

[[noreturn]] inline void usage(const char* argv0, const char* why) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s [--quick] [--seed N] [--seconds N] [--threads N] [--only NAME]\n"
               "       [--report FILE.html] [--live | --no-live]\n"
               "  --quick      short run (CTest)\n"
               "  --seed N     replay a run (the seed is printed at start)\n"
               "  --seconds N  soak: run each scenario for N seconds\n"
               "  --threads N  worker threads per scenario (default 136)\n"
               "  --only NAME  run only scenario NAME (NAME* : every name starting with NAME)\n"
               "  --report F   write an HTML report with charts of the run to F\n"
               "  --live       live status on stderr (default: when stderr is a terminal;\n"
               "               plain lines every 5 s when it is not); --no-live: none.\n"
               "               BERTH_LIVE=0/1 sets the default\n",
               argv0, why, argv0);
  std::exit(2);
}

/// Parses the options above; prints usage and exits 2 on a bad one.
inline run_args parse_args(int argc, char** argv) {
  run_args a;
  bool seeded = false;
  auto number = [&](int& i, const char* name) -> std::uint64_t {
    if (i + 1 >= argc) usage(argv[0], (std::string(name) + " needs a value").c_str());
    const char* s = argv[++i];
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
      usage(argv[0], (std::string("bad value for ") + name + ": " + s).c_str());
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quick") {
      a.quick = true;
    } else if (arg == "--seed") {
      a.seed = number(i, "--seed");
      seeded = true;
    } else if (arg == "--seconds") {
      const std::uint64_t v = number(i, "--seconds");
      if (v == 0 || v > 86'400) usage(argv[0], "--seconds must be in 1..86400");
      a.seconds = static_cast<unsigned>(v);
    } else if (arg == "--threads") {
      const std::uint64_t v = number(i, "--threads");
      if (v == 0 || v > 4096) usage(argv[0], "--threads must be in 1..4096");
      a.threads = static_cast<unsigned>(v);
    } else if (arg == "--only") {
      if (i + 1 >= argc) usage(argv[0], "--only needs a value");
      a.only = argv[++i];
    } else if (arg == "--report" || arg.starts_with("--report=")) {
      if (arg == "--report" && i + 1 >= argc) usage(argv[0], "--report needs a file name");
      a.report = arg == "--report" ? argv[++i] : std::string(arg.substr(9));
      if (a.report.empty()) usage(argv[0], "--report needs a file name");
    } else if (arg == "--live") {
      a.live = true;
    } else if (arg == "--no-live") {
      a.live = false;
    } else if (arg == "--help" || arg == "-h") {
      usage(argv[0], "help");
    } else {
      usage(argv[0], (std::string("unknown argument ") + argv[i]).c_str());
    }
  }
  if (!seeded) {
    std::random_device rd;
    const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    a.seed = rng::mix((std::uint64_t{rd()} << 32) ^ rd() ^ t);
  }
  return a;
}

/// True when the scenario called `name` should run (see run_args::only).
inline bool selected(const run_args& a, std::string_view name) {
  const std::string_view only = a.only;
  if (only.empty()) return true;
  if (only.back() == '*') return name.substr(0, only.size() - 1) == only.substr(0, only.size() - 1);
  return name == only;
}

/// Prints the banner with the seed; call before any work so that a crash
/// still leaves the seed in the log.
inline void print_banner(const char* program, const run_args& a) {
  g_seed = a.seed;
  std::printf("%s: seed=%llu threads=%u mode=%s build=%.*s (replay with --seed %llu)\n", program,
              static_cast<unsigned long long>(a.seed), a.threads,
              a.seconds ? "soak" : (a.quick ? "quick" : "full"), static_cast<int>(build_flavour.size()),
              build_flavour.data(), static_cast<unsigned long long>(a.seed));
  if (a.seconds) std::printf("%s: soak: %u s per scenario\n", program, a.seconds);
  std::fflush(stdout);
}

// ---- the stress adapter -----------------------------------------------------

/// Fault probabilities and latency of a stress_adapter. A value type.
struct fault_plan {
  /// The first N connect() calls fail (makes "failures happened" certain).
  std::uint32_t fail_first_connects = 0;
  /// Probability that connect() returns a failure.
  double connect_fail = 0;
  /// Probability that connect() throws std::runtime_error.
  double connect_throw = 0;
  /// Probability that connect() sleeps, and for how long at most.
  double connect_delay = 0;
  std::chrono::microseconds max_connect_delay{0};
  /// Probability that reset() returns a failure, or throws.
  double reset_fail = 0;
  double reset_throw = 0;
  /// Probability that validate() (the reaper's keepalive/background
  /// validation) returns a failure.
  double validate_fail = 0;
};

/// Owner word values besides 0 (free) and lessee ids (1..2^32).
inline constexpr std::uint64_t adapter_owner = ~std::uint64_t{0} - 1;  // inside reset/validate
inline constexpr std::uint64_t closed_owner = ~std::uint64_t{0};       // close() ran: dead

struct stress_script;

/// The heap part of a connection; stable address for the registry.
struct connection_state {
  /// 0 when free; a lessee's id while it uses the connection; adapter_owner
  /// during reset/validate; closed_owner after close(). See [O1]/[O2].
  std::atomic<std::uint64_t> owner{0};
  /// Unique per script, from 1. Immutable.
  std::uint64_t id = 0;
  /// Leases that used this connection. Plain on purpose, see the header.
  std::uint64_t uses = 0;
  /// Adapter resets performed on it. Plain: accessed by the slot's owner.
  std::uint64_t resets = 0;
  stress_script* script = nullptr;
};

/// Shared by copies of a stress_adapter (the pool owns one, the harness keeps
/// the script). Thread-safe.
struct stress_script {
  stress_script(fault_plan f, std::uint64_t s) : faults(f), seed(s) {}

  const fault_plan faults;
  const std::uint64_t seed;

  std::atomic<std::uint64_t> calls{0};    // draws a fresh random stream per adapter call
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::uint64_t> connects{0}, connect_failures{0}, connect_throws{0};
  std::atomic<std::uint64_t> created{0}, closed{0};
  std::atomic<std::uint64_t> resets{0}, reset_failures{0}, validates{0}, validate_failures{0};
  std::atomic<std::int64_t> live{0};
  std::atomic<int> in_connect{0};
  /// Connections destroyed by the pool without close(): an adapter contract
  /// violation (leaked session).
  std::atomic<std::uint64_t> dropped_unclosed{0};

  /// A fresh random stream for one adapter call. Thread-safe.
  rng call_rng() noexcept { return rng(derive_seed(seed, calls.fetch_add(1))); }

  void enrol(connection_state* s) {
    std::lock_guard lk(mutex_);
    open_.insert(s);
  }
  void retire(connection_state* s) {
    std::lock_guard lk(mutex_);
    if (open_.erase(s) != 1) fail("close() of connection %llu that is not open", static_cast<unsigned long long>(s->id));
    retired_uses_ += s->uses;
  }
  /// Sum of use counters of every connection ever made (open and closed).
  /// Call at quiescence: reads the open connections' plain counters.
  std::uint64_t total_uses() const {
    std::lock_guard lk(mutex_);
    std::uint64_t n = retired_uses_;
    for (const connection_state* s : open_) n += s->uses;
    return n;
  }
  std::size_t open_count() const {
    std::lock_guard lk(mutex_);
    return open_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_set<connection_state*> open_;  // guarded by mutex_
  std::uint64_t retired_uses_ = 0;              // guarded by mutex_
};

/// A connection: a small move-only handle (the adapter concept requires a
/// nothrow move; the atomic owner word lives on the heap).
class stress_connection {
 public:
  explicit stress_connection(std::unique_ptr<connection_state> s) noexcept : s_(std::move(s)) {}
  stress_connection(stress_connection&&) noexcept = default;
  stress_connection& operator=(stress_connection&&) = delete;
  ~stress_connection() {
    if (s_ && s_->owner.load(std::memory_order_relaxed) != closed_owner)
      s_->script->dropped_unclosed.fetch_add(1);
  }

  connection_state& state() const noexcept { return *s_; }

 private:
  std::unique_ptr<connection_state> s_;
};

/// [O1] Takes ownership of c for `who` (non-zero); aborts on a second owner.
inline void claim(connection_state& c, std::uint64_t who, const char* how) {
  std::uint64_t prev = 0;
  // [O1] relaxed: see the header; ordering must come from the pool.
  if (!c.owner.compare_exchange_strong(prev, who, std::memory_order_relaxed)) {
    if (prev == closed_owner)
      fail("connection %llu handed out by %s to thread %llu after the adapter closed it (use after close)",
           static_cast<unsigned long long>(c.id), how, static_cast<unsigned long long>(who));
    if (prev == adapter_owner)
      fail("connection %llu handed out by %s to thread %llu while the adapter is resetting it",
           static_cast<unsigned long long>(c.id), how, static_cast<unsigned long long>(who));
    fail("DOUBLE HAND-OUT: connection %llu handed out by %s to thread %llu while thread %llu still owns it",
         static_cast<unsigned long long>(c.id), how, static_cast<unsigned long long>(who),
         static_cast<unsigned long long>(prev));
  }
}

/// [O2] Gives c back; aborts if `who` did not own it.
inline void unclaim(connection_state& c, std::uint64_t who) {
  std::uint64_t prev = who;
  // [O2] relaxed: see the header.
  if (!c.owner.compare_exchange_strong(prev, 0, std::memory_order_relaxed))
    fail("connection %llu: owner changed from %llu to %llu while held",
         static_cast<unsigned long long>(c.id), static_cast<unsigned long long>(who),
         static_cast<unsigned long long>(prev));
}

/// Thrown by connect() (fault injection) and by lessees to unwind a lease.
struct injected_fault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The adapter. Thread-safe as the concept requires (different connections
/// concurrently; one connection never concurrently, which it checks).
class stress_adapter {
 public:
  using connection_type = stress_connection;

  explicit stress_adapter(std::shared_ptr<stress_script> s) : s_(std::move(s)) {}

  result<stress_connection, adapter_error> connect() {
    stress_script& s = *s_;
    s.in_connect.fetch_add(1);
    struct leave {
      stress_script& sc;
      ~leave() { sc.in_connect.fetch_sub(1); }
    } guard{s};
    const std::uint64_t n = s.connects.fetch_add(1);
    rng r = s.call_rng();
    const fault_plan& f = s.faults;
    if (r.chance(f.connect_delay) && f.max_connect_delay.count() > 0)
      std::this_thread::sleep_for(std::chrono::microseconds{
          static_cast<std::int64_t>(r.between(1, static_cast<std::uint64_t>(f.max_connect_delay.count())))});
    if (r.chance(f.connect_throw)) {
      s.connect_failures.fetch_add(1);
      s.connect_throws.fetch_add(1);
      throw injected_fault("stress: injected connect exception");
    }
    if (n < f.fail_first_connects || r.chance(f.connect_fail)) {
      s.connect_failures.fetch_add(1);
      return failure{adapter_error{std::make_error_code(std::errc::connection_refused),
                                   "stress: injected connect failure"}};
    }
    auto st = std::make_unique<connection_state>();
    st->id = s.next_id.fetch_add(1);
    st->script = &s;
    s.enrol(st.get());
    s.created.fetch_add(1);
    s.live.fetch_add(1);
    return stress_connection{std::move(st)};
  }

  // Called by the reaper on connections it has reserved: claiming the owner
  // word proves no lessee holds the connection meanwhile.
  result<void, adapter_error> validate(stress_connection& c) {
    s_->validates.fetch_add(1);
    claim(c.state(), adapter_owner, "the pool (validate)");
    const bool fails = s_->call_rng().chance(s_->faults.validate_fail);
    unclaim(c.state(), adapter_owner);
    if (fails) {
      s_->validate_failures.fetch_add(1);
      return failure{adapter_error{std::make_error_code(std::errc::broken_pipe), "stress: injected validation failure"}};
    }
    return {};
  }

  result<void, adapter_error> reset(stress_connection& c) {
    stress_script& s = *s_;
    s.resets.fetch_add(1);
    connection_state& st = c.state();
    claim(st, adapter_owner, "the pool (reset)");
    ++st.resets;
    rng r = s.call_rng();
    const bool throws = r.chance(s.faults.reset_throw);
    const bool fails = !throws && r.chance(s.faults.reset_fail);
    unclaim(st, adapter_owner);
    if (throws) {
      s.reset_failures.fetch_add(1);
      throw injected_fault("stress: injected reset exception");
    }
    if (fails) {
      s.reset_failures.fetch_add(1);
      return failure{adapter_error{std::make_error_code(std::errc::broken_pipe), "stress: injected reset failure"}};
    }
    return {};
  }

  void close(stress_connection& c) noexcept {
    connection_state& st = c.state();
    std::uint64_t prev = 0;
    // [O1] relaxed: see the header.
    if (!st.owner.compare_exchange_strong(prev, closed_owner, std::memory_order_relaxed))
      fail("close() of connection %llu while owned by %llu%s", static_cast<unsigned long long>(st.id),
           static_cast<unsigned long long>(prev), prev == closed_owner ? " (closed twice)" : "");
    s_->retire(&st);
    s_->closed.fetch_add(1);
    s_->live.fetch_sub(1);
  }

  stress_script& script() const noexcept { return *s_; }

 private:
  std::shared_ptr<stress_script> s_;
};

static_assert(adapter<stress_adapter>);

// ---- watchdog ---------------------------------------------------------------

/// Aborts with a report if not destroyed within `limit`: a hang becomes a
/// diagnosis (report() should print per-thread progress and pool counts).
/// Distinct objects: safe. Shared objects: unsafe.
class watchdog {
 public:
  watchdog(const char* what, std::chrono::seconds limit, std::function<void()> report)
      : thread_([this, what, limit, rep = std::move(report)] {
          std::unique_lock lk(mutex_);
          if (cv_.wait_for(lk, limit, [this] { return done_; })) return;
          std::fprintf(stderr, "stress: HANG: %s did not finish within %lld s; state:\n", what,
                       static_cast<long long>(limit.count()));
          rep();
          fail("%s hung (see state above)", what);
        }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard lk(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mutex_
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace berth::stress
