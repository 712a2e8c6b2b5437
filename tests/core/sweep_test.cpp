// The sweep an adapter_with_sweep asks of its pool (adapter.hpp,
// pool_core::sweep_slots): idle connections the adapter picks are closed at
// once, the others stay without a validation; connections in use at the
// sweep are validated by their next acquirer, so none the adapter picked is
// handed out afterwards. Fake clock, no sleeps.
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::fake_adapter;
using testing::fake_clock;
using testing::fake_connection;
using testing::fake_script;

/// fake_adapter plus the sweep hooks: connections whose id is in stale are
/// stale (should_evict, and validate fails for them).
struct sweep_state {
  mutable std::mutex m;
  std::set<std::uint64_t> stale;  // guarded by m
  void make_stale(std::uint64_t id) {
    std::lock_guard lk(m);
    stale.insert(id);
  }
  /// Every id below this is stale too.
  std::atomic<std::uint64_t> stale_below{0};
  bool is_stale(std::uint64_t id) const {
    if (id < stale_below.load()) return true;
    std::lock_guard lk(m);
    return stale.count(id) != 0;
  }
  std::atomic<sweep_target*> target{nullptr};
  std::atomic<int> attaches{0}, detaches{0};
};

class sweeping_adapter {
 public:
  using connection_type = fake_connection;
  sweeping_adapter(std::shared_ptr<fake_script> s, std::shared_ptr<sweep_state> w)
      : fake_(std::move(s)), w_(std::move(w)) {}

  result<fake_connection, adapter_error> connect() { return fake_.connect(); }
  result<void, adapter_error> validate(fake_connection& c) {
    if (should_evict(c)) return failure{adapter_error{std::make_error_code(std::errc::io_error), "stale"}};
    return fake_.validate(c);
  }
  result<void, adapter_error> reset(fake_connection& c) { return fake_.reset(c); }
  void close(fake_connection& c) noexcept { fake_.close(c); }

  bool should_evict(const fake_connection& c) const noexcept { return w_->is_stale(c.id); }
  void attach(sweep_target* t) noexcept {
    (t != nullptr ? w_->attaches : w_->detaches).fetch_add(1);
    w_->target.store(t);
  }

 private:
  fake_adapter fake_;
  std::shared_ptr<sweep_state> w_;
};
static_assert(adapter_with_sweep<sweeping_adapter>);
static_assert(!adapter_with_sweep<fake_adapter>);

using sweep_pool = pool<sweeping_adapter>;

struct SweepTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  std::shared_ptr<sweep_state> state = std::make_shared<sweep_state>();
  fake_clock clock;
  std::mutex events_mutex;
  std::vector<pool_event> events;  // kind, reason, slot only (string_views cleared)

  pool_options opts(std::size_t max, std::size_t min_idle) {
    pool_options o;
    o.name = "sweep";
    o.max_size = max;
    o.min_idle = min_idle;
    o.validate_on_acquire = false;  // only the sweep's flag makes an acquirer validate
    o.on_event = [this](const pool_event& e) {
      std::lock_guard lk(events_mutex);
      events.push_back({.kind = e.kind, .reason = e.reason, .slot = e.slot});
    };
    return o;
  }
  std::unique_ptr<sweep_pool> make(const pool_options& o) {
    return std::make_unique<sweep_pool>(sweeping_adapter{script, state}, o, clock);
  }
  int count(event_kind k, close_reason r = close_reason::none) {
    std::lock_guard lk(events_mutex);
    int n = 0;
    for (const auto& e : events) n += e.kind == k && (r == close_reason::none || e.reason == r);
    return n;
  }
  void sweep() { state->target.load()->sweep(); }
};

TEST_F(SweepTest, ThePoolAttachesItselfForItsLifeAndDetachesFirstOnDestruction) {
  {
    auto p = make(opts(2, 0));
    EXPECT_EQ(state->attaches.load(), 1);
    EXPECT_NE(state->target.load(), nullptr);
  }
  EXPECT_EQ(state->detaches.load(), 1);
  EXPECT_EQ(state->target.load(), nullptr);
}

TEST_F(SweepTest, ClosesTheIdleConnectionsTheAdapterPicksAndLeavesTheOthersUnvalidated) {
  auto p = make(opts(4, 4));  // fail-fast start: ids 1..4, all idle
  ASSERT_EQ(p->counts().idle, 4u);
  state->make_stale(1);
  state->make_stale(2);
  sweep();
  EXPECT_EQ(count(event_kind::evicted), 2);
  EXPECT_EQ(count(event_kind::closed, close_reason::evicted), 2);
  EXPECT_EQ(script->closes.load(), 2u);
  // The two kept are idle and handed out without a validation.
  std::vector<sweep_pool::lease_type> held;
  for (int k = 0; k < 2; ++k) {
    auto l = p->try_acquire();
    ASSERT_TRUE(l);
    EXPECT_GT((*l)->id, 2u);
    held.push_back(std::move(*l));
  }
  EXPECT_EQ(script->validates.load(), 0u);
  EXPECT_EQ(p->stats().validation_failures, 0u);
}

// The regression the flag exists for: a connection leased during the sweep
// and released afterwards must not go back to the fast path unexamined.
TEST_F(SweepTest, AConnectionInUseAtTheSweepIsValidatedByItsNextAcquirer) {
  auto p = make(opts(2, 2));
  auto a = p->acquire_for(1s).value();
  auto b = p->acquire_for(1s).value();
  const std::uint64_t stale_id = b->id, fresh_id = a->id;
  state->make_stale(stale_id);
  sweep();
  EXPECT_EQ(script->closes.load(), 0u) << "in use: not closed under its lessee";
  a.release();
  b.release();  // claimed last: this thread's hint, so the next acquire tries it first
  // Both came back flagged. The next acquire validates b (stale: closed),
  // then a (fresh: handed out).
  auto l = p->acquire_for(1s);
  ASSERT_TRUE(l);
  EXPECT_EQ((*l)->id, fresh_id);
  EXPECT_EQ(p->stats().validation_failures, 1u);
  EXPECT_EQ(p->stats().acquire_validations, 1u);
  EXPECT_EQ(script->closes.load(), 1u);
  l->release();
  // Validated once: no flag left, the next acquire is the plain fast path.
  const auto before = script->validates.load();
  EXPECT_TRUE(p->try_acquire());
  EXPECT_EQ(script->validates.load(), before);
}

// sweep_idle (the PostgreSQL adapter's answer to one session its server
// closed): the idle connections the adapter picks are closed, and the ones
// in use are left unflagged: their next acquirers validate nothing (a
// sweep() flagged them all, and a review found every healthy lease then
// paid a round trip after any one backend was terminated).
TEST_F(SweepTest, SweepIdleClosesPickedIdleConnectionsAndLeavesThoseInUseUnflagged) {
  auto p = make(opts(3, 3));
  auto a = p->acquire_for(1s).value();
  state->make_stale(a->id);  // in use: sweep_idle does not touch it
  auto idle_stale = p->acquire_for(1s).value();
  const std::uint64_t idle_stale_id = idle_stale->id;
  state->make_stale(idle_stale_id);
  idle_stale.release();
  state->target.load()->sweep_idle();
  EXPECT_EQ(script->closes.load(), 1u) << "the idle one the adapter picked";
  EXPECT_EQ(count(event_kind::evicted), 1);
  {
    std::lock_guard lk(state->m);
    state->stale.clear();
  }  // a is healthy after all (only its own release would find out otherwise)
  a.release();
  const auto before = script->validates.load();
  for (int k = 0; k < 2; ++k) {
    auto l = p->acquire_for(1s);
    ASSERT_TRUE(l);
    EXPECT_NE((*l)->id, idle_stale_id);
  }
  EXPECT_EQ(script->validates.load(), before) << "nothing was flagged: no acquire validated";
}

TEST_F(SweepTest, TryAcquireNeverHandsOutAFlaggedConnection) {
  pool_options o = opts(1, 1);
  o.validate_on_acquire = true;  // the reaper runs and validates what try_acquire skips
  o.reaper_period = 1h;
  auto p = make(o);
  {
    auto l = p->try_acquire().value();
    state->make_stale(l->id);
    sweep();
  }
  EXPECT_FALSE(p->try_acquire()) << "flagged: put back for a blocking acquirer or the reaper";
  EXPECT_TRUE(testing::eventually([&] { return p->stats().validation_failures == 1; }));
}

TEST_F(SweepTest, NothingStaleMeansNothingClosed) {
  auto p = make(opts(3, 3));
  sweep();
  sweep();  // concurrent or repeated sweeps are harmless
  EXPECT_EQ(count(event_kind::evicted), 0);
  EXPECT_EQ(p->counts().idle, 3u);
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(p->try_acquire());
  EXPECT_EQ(script->validates.load(), 0u);
}

// Real threads and the real clock: acquirers loop while the test makes every
// connection that exists stale and sweeps, over and over. A connection made
// stale by a sweep that had returned before an acquire began is never
// handed out by it, whichever state the sweep found its slot in (idle,
// leased, reserved by another sweep, connecting).
TEST_F(SweepTest, NoConnectionStaleAtAFinishedSweepIsHandedOutAfterIt) {
  pool_options o = opts(4, 4);
  o.creation_backoff_initial = 1ms;
  auto p = std::make_unique<sweep_pool>(sweeping_adapter{script, state}, o);
  std::atomic<std::uint64_t> swept_below{0};  // ids below it were stale when a sweep returned
  std::atomic<bool> stop{false};
  std::atomic<int> handed_stale{0}, served{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      while (!stop.load()) {
        const std::uint64_t bound = swept_below.load();  // seq_cst: after the sweep returned
        auto l = p->acquire_for(1s);
        if (!l) continue;
        if ((*l)->id < bound) handed_stale.fetch_add(1);
        served.fetch_add(1);
      }
    });
  // At least 300 sweeps, and until the acquirers were served 300 times
  // (bounded: a hung pool fails the test instead of blocking CI).
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  for (int round = 0; (round < 300 || served.load() < 300) && std::chrono::steady_clock::now() < give_up; ++round) {
    const std::uint64_t below = script->next_id.load();  // every connection made so far
    state->stale_below.store(below);
    sweep();
    swept_below.store(below);
    if (round % 50 == 0) std::this_thread::yield();
  }
  stop.store(true);
  for (auto& t : ts) t.join();
  EXPECT_EQ(handed_stale.load(), 0);
  EXPECT_GE(served.load(), 300);
  EXPECT_GT(count(event_kind::closed, close_reason::evicted) + static_cast<int>(p->stats().validation_failures), 0);
}

}  // namespace
}  // namespace berth
