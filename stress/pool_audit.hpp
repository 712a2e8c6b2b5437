// pool_audit.hpp: setting up a stress pool and auditing it, shared by the
// stress harnesses (stress_pool.cpp, stress_async.cpp).
//
//   make_pool          builds a pool on a fresh stress_script, retrying a
//                      fail-fast start that injected faults made fail (and
//                      checking that the failed start left nothing open)
//   event_books        the pool's events counted by kind; check_events()
//   settle             waits for creations and closes in flight to finish
//   check_books        what the threads and the adapter counted == stats()
//   check_all_closed   after close(): nothing open, in the pool or adapter
//   check_closed_acquires   acquires on a closed pool fail at once
//   lost_wakeup_watch  an idle connection beside a waiting acquirer, seen in
//                      every sample for too long, is a lost wake-up (issue 6)
//
// Every check aborts through fail() with the seed. Call the audits at
// quiescence (every worker joined) unless a comment says otherwise.
#pragma once

#include "blocking_worker.hpp"
#include "stress_common.hpp"

#include <berth/pool.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <system_error>
#include <thread>

namespace berth::stress {

/// Events the pool emitted, counted by kind (pool_options::on_event). Each
/// is checked against the pool's own statistics at the audit: every
/// leak_suspected lease ends with exactly one leak_returned (issue 6: the
/// hand-off, discard, unwinding, eviction and close paths lost theirs).
struct event_books {
  static constexpr std::size_t kinds = static_cast<std::size_t>(event_kind::breaker_closed) + 1;  // the last kind
  std::array<std::atomic<std::uint64_t>, kinds> by_kind{};
  std::uint64_t count(event_kind k) const { return by_kind[static_cast<std::size_t>(k)].load(); }
};

struct pool_box {
  std::shared_ptr<stress_script> script;
  std::shared_ptr<event_books> events;
  std::unique_ptr<stress_pool> pool;
  std::uint64_t startup_failures = 0;
};

/// The events tell the same story as the statistics: one created per
/// connection opened, one closed per connection closed, and (all leases
/// having ended) one leak_returned per leak_suspected.
inline void check_events(const event_books& ev, const pool_stats& st, const char* name) {
  BERTH_STRESS_CHECK(ev.count(event_kind::created) == st.created, "%s: %llu created events, stats().created=%llu",
                     name, ull(ev.count(event_kind::created)), ull(st.created));
  BERTH_STRESS_CHECK(ev.count(event_kind::closed) == st.destroyed, "%s: %llu closed events, stats().destroyed=%llu",
                     name, ull(ev.count(event_kind::closed)), ull(st.destroyed));
  BERTH_STRESS_CHECK(ev.count(event_kind::leak_suspected) == st.leaks_suspected,
                     "%s: %llu leak_suspected events, stats().leaks_suspected=%llu", name,
                     ull(ev.count(event_kind::leak_suspected)), ull(st.leaks_suspected));
  BERTH_STRESS_CHECK(ev.count(event_kind::leak_returned) == ev.count(event_kind::leak_suspected),
                     "%s: %llu leak_returned events for %llu leak_suspected: a reported lease ended unreported",
                     name, ull(ev.count(event_kind::leak_returned)), ull(ev.count(event_kind::leak_suspected)));
}

/// The options every stress pool starts from: acquire() and with() wait
/// acquire_timeout (the blocking worker's lateness checks assume it), and
/// creation retries back off from 1 ms to 16 ms, so that a short run sees
/// failed connects retried.
inline pool_options stress_options(const char* name, std::size_t max_size, std::size_t min_idle) {
  pool_options o;
  o.name = name;
  o.max_size = max_size;
  o.min_idle = min_idle;
  o.acquire_timeout = acquire_timeout;
  o.creation_backoff_initial = std::chrono::milliseconds{1};
  o.creation_backoff_max = std::chrono::milliseconds{16};
  // The circuit breaker off: the fault plans fail up to 30% of connects at
  // random, so five in a row happen in a long run, and the audits here do
  // not model errc::database_unavailable. The breaker has its own tests
  // (tests/core/pool_breaker_test.cpp, PostgresBreaker).
  o.breaker_threshold = 0;
  return o;
}

/// Builds the pool; with fail_fast and connect faults a start can fail: check
/// that the failed start left nothing open, and retry with a fresh script.
inline pool_box make_pool(const char* name, pool_options opts, const fault_plan& faults, std::uint64_t seed,
                          clock_source& clock = clock_source::steady()) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    auto script = std::make_shared<stress_script>(faults, derive_seed(seed, attempt));
    auto events = std::make_shared<event_books>();
    opts.on_event = [events](const pool_event& e) {
      events->by_kind[static_cast<std::size_t>(e.kind)].fetch_add(1);
    };
    try {
      auto p = std::make_unique<stress_pool>(stress_adapter{script}, opts, clock);
      return pool_box{std::move(script), std::move(events), std::move(p), attempt};
    } catch (const std::system_error& e) {
      BERTH_STRESS_CHECK(e.code() == make_error_code(errc::startup_failed), "%s: pool construction threw %s",
                         name, e.what());
      BERTH_STRESS_CHECK(script->live.load() == 0 && script->open_count() == 0,
                         "%s: failed fail-fast start left %lld connections open", name,
                         static_cast<long long>(script->live.load()));
      BERTH_STRESS_CHECK(script->dropped_unclosed.load() == 0, "%s: failed start dropped connections unclosed",
                         name);
      BERTH_STRESS_CHECK(attempt < 1000, "%s: 1000 fail-fast starts failed in a row", name);
    }
  }
}

/// Waits for the maintenance thread to finish what the last acquirers asked
/// of it (creations in flight, refill to min_idle). Not a check of the
/// counts' values: those follow, strictly, once nothing moves.
inline void settle(const stress_pool& p, std::size_t min_idle, const char* name) {
  const auto limit = clock_type::now() + std::chrono::seconds{under_sanitizer ? 60 : 20};
  for (;;) {
    const pool_counts c = p.counts();
    if (c.connecting == 0 && c.closing == 0 && c.reserved == 0 && c.total >= min_idle) return;
    BERTH_STRESS_CHECK(clock_type::now() < limit, "%s: pool did not settle after the threads joined: %s", name,
                       c.to_string().c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
}

/// Acquires on a closed pool fail with errc::pool_closed, promptly.
inline void check_closed_acquires(stress_pool& p, const char* name) {
  const auto t0 = clock_type::now();
  {
    auto r = p.try_acquire();
    BERTH_STRESS_CHECK(!r && r.error().code == errc::pool_closed, "%s: try_acquire on a closed pool: %s", name,
                       r ? "succeeded" : errc_name(r.error().code));
  }
  {
    auto r = p.acquire_for(std::chrono::milliseconds{10});
    BERTH_STRESS_CHECK(!r && r.error().code == errc::pool_closed, "%s: acquire_for on a closed pool: %s", name,
                       r ? "succeeded" : errc_name(r.error().code));
  }
  {
    auto r = p.acquire();
    BERTH_STRESS_CHECK(!r && r.error().code == errc::pool_closed, "%s: acquire on a closed pool: %s", name,
                       r ? "succeeded" : errc_name(r.error().code));
  }
  bool threw = false;
  try {
    p.with([](stress_connection&) { fail("with() ran its function on a closed pool"); });
  } catch (const acquire_exception& e) {
    threw = e.code() == make_error_code(errc::pool_closed);
  }
  BERTH_STRESS_CHECK(threw, "%s: with() on a closed pool did not throw pool_closed", name);
  BERTH_STRESS_CHECK(clock_type::now() - t0 < lateness_bound, "%s: acquires on a closed pool blocked", name);
}

/// After close(): nothing open, in the pool or in the adapter.
inline void check_all_closed(const stress_pool& p, const stress_script& s, const char* name) {
  const pool_stats st = p.stats();
  const pool_counts& c = st.counts;
  BERTH_STRESS_CHECK(c.total == 0 && c.idle == 0 && c.leased == 0 && c.reserved == 0 && c.connecting == 0 &&
                         c.closing == 0 && c.waiting == 0,
                     "%s: counts after close are not all zero: %s", name, c.to_string().c_str());
  BERTH_STRESS_CHECK(s.live.load() == 0 && s.open_count() == 0, "%s: %lld connections still live after close",
                     name, static_cast<long long>(s.live.load()));
  BERTH_STRESS_CHECK(st.created == st.destroyed, "%s: after close created=%llu destroyed=%llu", name,
                     ull(st.created), ull(st.destroyed));
  BERTH_STRESS_CHECK(s.created.load() == s.closed.load(), "%s: adapter created=%llu closed=%llu", name,
                     ull(s.created.load()), ull(s.closed.load()));
}

/// The books balance: what the threads and the adapter counted vs stats().
/// `unseen_max`: leases the pool may have counted that no thread got (an
/// asynchronous fast path's completion that its executor dropped, or whose
/// post() threw: the pool counted the acquire before posting).
inline void check_books(const pool_stats& st, const stress_script& s, const tally& t, const char* name,
                        std::uint64_t unseen_max = 0) {
  BERTH_STRESS_CHECK(st.created == s.created.load(), "%s: stats().created=%llu, adapter made %llu", name,
                     ull(st.created), ull(s.created.load()));
  BERTH_STRESS_CHECK(st.destroyed == s.closed.load(), "%s: stats().destroyed=%llu, adapter closed %llu", name,
                     ull(st.destroyed), ull(s.closed.load()));
  BERTH_STRESS_CHECK(st.creation_failures == s.connect_failures.load(),
                     "%s: stats().creation_failures=%llu, adapter failed %llu", name, ull(st.creation_failures),
                     ull(s.connect_failures.load()));
  const std::uint64_t uses = s.total_uses();
  BERTH_STRESS_CHECK(uses == t.acquired, "%s: connections were used %llu times, threads acquired %llu", name,
                     ull(uses), ull(t.acquired));
  BERTH_STRESS_CHECK(st.acquired >= t.acquired && st.acquired - t.acquired <= unseen_max,
                     "%s: stats().acquired=%llu, threads acquired %llu (unseen up to %llu)", name, ull(st.acquired),
                     ull(t.acquired), ull(unseen_max));
  BERTH_STRESS_CHECK(st.discarded == t.discards, "%s: stats().discarded=%llu, threads discarded %llu", name,
                     ull(st.discarded), ull(t.discards));
  BERTH_STRESS_CHECK(st.unwound == t.throws, "%s: stats().unwound=%llu, threads threw %llu", name, ull(st.unwound),
                     ull(t.throws));
  BERTH_STRESS_CHECK(st.timeouts == t.timeouts, "%s: stats().timeouts=%llu, threads timed out %llu", name,
                     ull(st.timeouts), ull(t.timeouts));
  BERTH_STRESS_CHECK(st.acquired_after_wait <= st.acquired, "%s: acquired_after_wait=%llu > acquired=%llu", name,
                     ull(st.acquired_after_wait), ull(st.acquired));
  BERTH_STRESS_CHECK(s.dropped_unclosed.load() == 0, "%s: %llu connections destroyed without adapter.close()", name,
                     ull(s.dropped_unclosed.load()));
}

/// The no-lost-wake-up check (issue 6): an idle connection beside a
/// sleeping waiter is transient; seen in every sample for longer than
/// `limit`, it is stranded. Feed it counts() from one monitor thread.
/// Distinct objects: safe. Shared objects: unsafe.
class lost_wakeup_watch {
 public:
  explicit lost_wakeup_watch(const char* name,
                             std::chrono::milliseconds limit = std::chrono::milliseconds{under_sanitizer ? 2000
                                                                                                         : 500})
      : name_(name), limit_(limit) {}

  void sample(const pool_counts& c) {
    // While suspended, idle connections beside waiters are the point
    // (issue 11); resume() settles them.
    if (c.idle == 0 || c.waiting == 0 || c.suspended) {
      stranded_ = false;
      return;
    }
    const auto now = clock_type::now();
    if (!stranded_) {
      stranded_ = true;
      since_ = now;
      return;
    }
    BERTH_STRESS_CHECK(now - since_ < limit_,
                       "%s: an idle connection sat beside sleeping waiters for %lld ms (lost wake-up): %s", name_,
                       static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(now - since_)
                                                  .count()),
                       c.to_string().c_str());
  }

 private:
  const char* name_;
  const std::chrono::milliseconds limit_;
  bool stranded_ = false;  // idle and waiting in every sample since since_
  clock_type::time_point since_{};
};

}  // namespace berth::stress
