// berth::asio::async_acquire on a real io_context: completion tokens
// (callbacks, use_awaitable, use_future, deferred), the handler's executor,
// outstanding work, cancellation through the handler's slot (a
// cancellation_signal, parallel_group and the awaitable operator || racing a
// timer), timeout and close; a handler that destroys its pool from the
// pool's async thread (in a child process, with a watchdog). A fake adapter
// and, where deadlines matter, a fake clock: no sleeps. Timers that race an
// acquire are set already expired.
#include <berth/asio.hpp>
#include <berth/pool.hpp>

#include "support/eventually.hpp"
#include "support/fake_adapter.hpp"
#include "support/fake_clock.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <variant>
#include <vector>

// Outside namespace berth, where `asio` would name berth::asio.
namespace berth_asio_test {
namespace {

using namespace std::chrono_literals;
using berth::errc;
using berth::testing::eventually;
using berth::testing::fake_adapter;
using berth::testing::fake_clock;
using berth::testing::fake_script;
using fake_pool = berth::pool<fake_adapter>;
using result_type = fake_pool::acquire_result;
constexpr auto no_deadline = fake_pool::time_point::max();

struct AsioAcquireTest : ::testing::Test {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  fake_clock clock;
  // Declared before the io_context, so destroyed after it: a test that ends
  // with a completion still queued has it dropped (the connection returned)
  // before the pool checks for outstanding leases.
  std::unique_ptr<fake_pool> pool;
  asio::io_context ioc;

  berth::pool_options options(std::size_t max, std::size_t min_idle) const {
    berth::pool_options o;
    o.name = "asio";
    o.max_size = max;
    o.min_idle = min_idle;
    o.startup = berth::startup_mode::fail_fast;
    return o;
  }
  fake_pool& make(std::size_t max, std::size_t min_idle) {
    pool = std::make_unique<fake_pool>(fake_adapter{script}, options(max, min_idle), clock);
    return *pool;
  }
  /// A pool owned by shared_ptrs (a handler may hold the last one) that
  /// sets `destroyed` once its destructor has returned.
  std::shared_ptr<fake_pool> make_owned(std::size_t max, std::size_t min_idle, std::promise<void>& destroyed) {
    return std::shared_ptr<fake_pool>(new fake_pool(fake_adapter{script}, options(max, min_idle), clock),
                                      [&destroyed](fake_pool* p) {
                                        delete p;
                                        destroyed.set_value();
                                      });
  }
  fake_pool::time_point in(std::chrono::nanoseconds d) const { return clock.now() + d; }
};

/// Collects one outcome; counts calls so that a second completion shows.
struct outcome {
  std::optional<result_type> r;
  int calls = 0;
  bool on_io_context = false;
  asio::io_context* ioc = nullptr;

  explicit outcome(asio::io_context& c) : ioc(&c) {}
  auto handler() {
    return [this](result_type res) {
      ++calls;
      on_io_context = ioc->get_executor().running_in_this_thread();
      r.emplace(std::move(res));
    };
  }
  errc code() const { return r->error().code; }
};

// ---- callbacks, executors, outstanding work -----------------------------------------

TEST_F(AsioAcquireTest, CallbackRunsOnItsBoundExecutorNeverInsideTheInitiatingCall) {
  auto& p = make(2, 1);
  outcome o(ioc);
  berth::asio::async_acquire(p, in(1s), asio::bind_executor(ioc, o.handler()));
  EXPECT_EQ(o.calls, 0) << "never inline, even with a connection idle";
  EXPECT_EQ(p.counts().leased, 1u) << "the idle connection is taken at once";
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  EXPECT_TRUE(o.on_io_context);
  ASSERT_TRUE(*o.r);
  o.r.reset();
  EXPECT_EQ(p.counts().idle, 1u);
}

TEST_F(AsioAcquireTest, PlainCallbackRunsOnTheDefaultExecutorGiven) {
  auto& p = make(1, 1);
  outcome o(ioc);
  berth::asio::async_acquire(p, ioc.get_executor(), in(1s), o.handler());
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  EXPECT_TRUE(o.on_io_context);
  EXPECT_TRUE(*o.r);
}

TEST_F(AsioAcquireTest, HandlersAssociatedExecutorWinsOverTheDefault) {
  auto& p = make(1, 1);
  auto strand = asio::make_strand(ioc);
  bool in_strand = false;
  berth::asio::async_acquire(p, ioc.get_executor(), in(1s), asio::bind_executor(strand, [&](result_type r) {
                               in_strand = strand.running_in_this_thread();
                               EXPECT_TRUE(r);
                             }));
  ioc.run();
  EXPECT_TRUE(in_strand);
}

TEST_F(AsioAcquireTest, WaitingRequestIsOutstandingWorkSoRunDoesNotReturn) {
  auto& p = make(1, 1);
  auto held = p.try_acquire();
  outcome o(ioc);
  berth::asio::async_acquire(p, ioc.get_executor(), no_deadline, o.handler());
  EXPECT_EQ(ioc.poll(), 0u);
  EXPECT_FALSE(ioc.stopped()) << "a waiting request counts as work: run() would block, not return";
  std::thread releaser([&] {
    ASSERT_TRUE(eventually([&] { return p.counts().waiting == 1; }));
    (*held).release();
  });
  ioc.run();  // returns once the request completed and its work ended
  releaser.join();
  ASSERT_EQ(o.calls, 1);
  EXPECT_TRUE(o.on_io_context);
  EXPECT_TRUE(*o.r);
  EXPECT_TRUE(ioc.stopped());
}

TEST_F(AsioAcquireTest, AcquireForTimesOutByTheDeadlineTimerWithThePoolsState) {
  auto& p = make(1, 1);
  auto held = p.try_acquire();
  outcome o(ioc);
  berth::asio::async_acquire_for(p, ioc.get_executor(), 50ms, o.handler());
  clock.advance(49ms);
  ioc.poll();
  EXPECT_EQ(o.calls, 0) << "not before the deadline";
  clock.advance(1ms);
  ioc.run();  // the pool's async thread posts the timeout; the request's work keeps run() going
  ASSERT_EQ(o.calls, 1);
  ASSERT_FALSE(*o.r);
  EXPECT_EQ(o.code(), errc::timeout);
  EXPECT_EQ(o.r->error().waited, 50ms);
  EXPECT_EQ(o.r->error().counts.leased, 1u) << "the error carries the pool's counts";
  EXPECT_EQ(berth::asio::to_error_code(o.r->error()), berth::errc::timeout);
  EXPECT_EQ(p.counts().waiting, 0u);
}

TEST_F(AsioAcquireTest, CloseCompletesAWaitingRequestWithPoolClosed) {
  auto& p = make(1, 1);
  auto held = p.try_acquire();
  outcome o(ioc);
  berth::asio::async_acquire(p, ioc.get_executor(), no_deadline, o.handler());
  ioc.poll();
  p.close();
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  EXPECT_EQ(o.code(), errc::pool_closed);
}

// ---- completion tokens ---------------------------------------------------------------

asio::awaitable<void> acquire_in_coroutine(fake_pool* p, fake_pool::time_point deadline,
                                           std::optional<result_type>* out) {
  auto r = co_await berth::asio::async_acquire(*p, deadline, asio::use_awaitable);
  out->emplace(std::move(r));
}

TEST_F(AsioAcquireTest, UseAwaitableYieldsTheAcquireResultWhenAConnectionIsIdle) {
  auto& p = make(1, 1);
  std::optional<result_type> got;
  asio::co_spawn(ioc, acquire_in_coroutine(&p, in(1s), &got), asio::detached);
  ioc.run();
  ASSERT_TRUE(got);
  ASSERT_TRUE(*got);
  EXPECT_EQ(p.counts().leased, 1u);
  got.reset();
  EXPECT_EQ(p.counts().idle, 1u);
}

TEST_F(AsioAcquireTest, UseAwaitableWaitsForAReleaseAndResumesOnTheCoroutinesExecutor) {
  auto& p = make(1, 1);
  auto held = p.try_acquire();
  std::optional<result_type> got;
  asio::co_spawn(ioc, acquire_in_coroutine(&p, no_deadline, &got), asio::detached);
  ioc.poll();
  EXPECT_FALSE(got) << "suspended";
  EXPECT_EQ(p.counts().waiting, 1u);
  (*held).release();  // hands it to the coroutine; its resumption is posted, not run here
  EXPECT_FALSE(got);
  ioc.run();
  ASSERT_TRUE(got);
  ASSERT_TRUE(*got);
  EXPECT_EQ(p.stats().acquired_after_wait, 1u);
}

TEST_F(AsioAcquireTest, UseFutureDeliversTheResultAndTheTimeout) {
  auto& p = make(1, 1);
  {
    auto f = berth::asio::async_acquire(p, in(1s), asio::use_future);  // completes on the system executor
    auto r = f.get();
    ASSERT_TRUE(r);
  }
  auto held = p.try_acquire();
  auto f = berth::asio::async_acquire_for(p, 20ms, asio::use_future);
  clock.advance(20ms);
  auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
}

TEST_F(AsioAcquireTest, DeferredStartsOnlyWhenInvoked) {
  auto& p = make(1, 1);
  auto op = berth::asio::async_acquire(p, in(1s), asio::experimental::deferred);
  EXPECT_EQ(p.counts().idle, 1u) << "nothing happens until the deferred operation is invoked";
  outcome o(ioc);
  std::move(op)(asio::bind_executor(ioc, o.handler()));
  EXPECT_EQ(p.counts().leased, 1u);
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  EXPECT_TRUE(*o.r);
}

// ---- cancellation --------------------------------------------------------------------

/// A pool of one connection, and a request for it (on the io_context) whose
/// handler has `signal`'s cancellation slot.
struct AsioCancelTest : AsioAcquireTest {
  asio::cancellation_signal signal;
  outcome o{ioc};
  std::optional<result_type> held;

  /// Starts the request; with hold, the test holds the connection first,
  /// so that the request waits.
  fake_pool& start_request(bool hold) {
    auto& p = make(1, 1);
    if (hold) held.emplace(p.try_acquire());
    berth::asio::async_acquire(p, ioc.get_executor(), no_deadline,
                               asio::bind_cancellation_slot(signal.slot(), o.handler()));
    return p;
  }
};

struct AsioCancelTypeTest : AsioCancelTest, ::testing::WithParamInterface<asio::cancellation_type> {};

TEST_P(AsioCancelTypeTest, SignalCancelsAWaitingRequestAndNothingLeaks) {
  auto& p = start_request(true);
  ioc.poll();
  ASSERT_EQ(p.counts().waiting, 1u);
  signal.emit(GetParam());
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  ASSERT_FALSE(*o.r);
  EXPECT_EQ(o.code(), errc::cancelled);
  EXPECT_EQ(berth::asio::to_error_code(o.r->error()), asio::error::operation_aborted);
  EXPECT_TRUE(o.on_io_context);
  EXPECT_FALSE(signal.slot().has_handler()) << "the slot is cleared when the operation completes";
  EXPECT_EQ(p.counts().waiting, 0u);
  (**held).release();
  EXPECT_EQ(p.counts().idle, 1u) << "the release found no waiter";
  EXPECT_EQ(p.counts().leased, 0u);
  EXPECT_EQ(ioc.poll(), 0u) << "exactly one completion";
}

INSTANTIATE_TEST_SUITE_P(EachCancellationType, AsioCancelTypeTest,
                         ::testing::Values(asio::cancellation_type::terminal, asio::cancellation_type::partial,
                                           asio::cancellation_type::total),
                         [](const ::testing::TestParamInfo<asio::cancellation_type>& param_info) {
                           switch (param_info.param) {
                             case asio::cancellation_type::terminal: return "terminal";
                             case asio::cancellation_type::partial: return "partial";
                             default: return "total";
                           }
                         });

TEST_F(AsioCancelTest, EmissionOfTypeNoneIsIgnored) {
  auto& p = start_request(true);
  signal.emit(asio::cancellation_type::none);
  ioc.poll();
  EXPECT_EQ(o.calls, 0);
  EXPECT_EQ(p.counts().waiting, 1u);
  (**held).release();
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  EXPECT_TRUE(*o.r);
}

TEST_F(AsioCancelTest, ConnectionHandedAtTheMomentOfCancellationGoesBackToThePool) {
  auto& p = start_request(true);
  (**held).release();  // handed to the request; its run is queued on the io_context, not yet run
  signal.emit(asio::cancellation_type::terminal);
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  EXPECT_EQ(o.code(), errc::cancelled);
  EXPECT_EQ(p.counts().idle, 1u);
  EXPECT_EQ(p.counts().leased, 0u);
}

TEST_F(AsioCancelTest, EmissionAfterCompletionReachesNothing) {
  auto& p = start_request(false);
  ioc.run();
  ASSERT_EQ(o.calls, 1);
  ASSERT_TRUE(*o.r);
  EXPECT_FALSE(signal.slot().has_handler());
  signal.emit(asio::cancellation_type::terminal);
  EXPECT_TRUE(*o.r) << "the lease stays";
  EXPECT_EQ(p.counts().leased, 1u);
}

TEST_F(AsioAcquireTest, ParallelGroupWithAnExpiredTimerCancelsThePendingAcquire) {
  auto& p = make(1, 1);
  auto held = p.try_acquire();
  asio::steady_timer timer(ioc, asio::steady_timer::time_point::min());  // already expired
  std::optional<std::array<std::size_t, 2>> order;
  std::optional<result_type> acquired;
  std::error_code timer_error;
  asio::experimental::make_parallel_group(
      berth::asio::async_acquire(p, ioc.get_executor(), no_deadline, asio::experimental::deferred),
      timer.async_wait(asio::experimental::deferred))
      .async_wait(asio::experimental::wait_for_one(),
                  asio::bind_executor(ioc, [&](std::array<std::size_t, 2> o, result_type r, std::error_code ec) {
                    order = o;
                    acquired.emplace(std::move(r));
                    timer_error = ec;
                  }));
  ioc.run();
  ASSERT_TRUE(order);
  EXPECT_EQ((*order)[0], 1u) << "the timer finished first";
  ASSERT_FALSE(*acquired);
  EXPECT_EQ(acquired->error().code, errc::cancelled);
  EXPECT_FALSE(timer_error);
  EXPECT_EQ(p.counts().waiting, 0u);
  (*held).release();
  EXPECT_EQ(p.counts().idle, 1u);
  EXPECT_EQ(p.counts().leased, 0u);
}

using asio::experimental::awaitable_operators::operator||;

/// Races an acquire against a timer that expires after `patience`; stores
/// which won (0: the acquire, with its result) in *out.
asio::awaitable<void> acquire_or_give_up(fake_pool* p, asio::steady_timer::duration patience,
                                         std::optional<std::variant<result_type, std::monostate>>* out) {
  asio::steady_timer timer(co_await asio::this_coro::executor, patience);
  out->emplace(co_await (berth::asio::async_acquire(*p, no_deadline, asio::use_awaitable) ||
                         timer.async_wait(asio::use_awaitable)));
}

TEST_F(AsioAcquireTest, AwaitableOrOperatorAgainstATimerCancelsThePendingAcquire) {
  auto& p = make(1, 1);
  auto held = p.try_acquire();
  std::optional<std::variant<result_type, std::monostate>> got;
  asio::co_spawn(ioc, acquire_or_give_up(&p, asio::steady_timer::duration::zero(), &got), asio::detached);
  ioc.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->index(), 1u) << "the timer won";
  EXPECT_EQ(p.counts().waiting, 0u);
  (*held).release();
  EXPECT_EQ(p.counts().idle, 1u);
}

TEST_F(AsioAcquireTest, AwaitableOrOperatorReturnsTheLeaseWhenTheAcquireWins) {
  auto& p = make(1, 1);
  std::optional<std::variant<result_type, std::monostate>> got;
  asio::co_spawn(ioc, acquire_or_give_up(&p, std::chrono::hours(1), &got), asio::detached);
  ioc.run();  // the timer is cancelled by the group, so run() returns without waiting an hour
  ASSERT_TRUE(got);
  ASSERT_EQ(got->index(), 0u);
  EXPECT_TRUE(std::get<0>(*got));
  EXPECT_EQ(p.counts().leased, 1u);
}

// ---- many coroutines, two io threads, blocking acquirers, random cancellation --------

struct race_totals {
  std::atomic<int> finished{0}, leased{0}, gave_up{0};
};

/// One client: races an acquire against a timer of random patience (the
/// timer cancels the acquire at a random point of its life: queued, handed
/// a connection, or completing), holds a lease it got across a suspension,
/// and counts what happened. The coroutine runs on its own strand (the
/// awaitable operators' children share its executor).
asio::awaitable<void> racing_client(fake_pool* p, std::chrono::microseconds patience, race_totals* t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, patience);
  auto v = co_await (berth::asio::async_acquire(*p, no_deadline, asio::use_awaitable) ||
                     timer.async_wait(asio::use_awaitable));
  if (v.index() == 0) {
    // No deadline and no close: an acquire that wins the race has a lease
    // (a cancelled one completes only after the timer won).
    EXPECT_TRUE(std::get<0>(v)) << std::get<0>(v).error().message();
    t->leased.fetch_add(1, std::memory_order_relaxed);
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);  // hold it a moment
  } else {
    t->gave_up.fetch_add(1, std::memory_order_relaxed);
  }
  t->finished.fetch_add(1, std::memory_order_relaxed);
}

TEST_F(AsioAcquireTest, ManyRacingCoroutinesAndBlockingAcquirersLeaveThePoolWhole) {
  berth::pool_options o;
  o.name = "asio-race";
  o.max_size = 2;
  o.min_idle = 2;
  // The real clock: the timers race real releases.
  pool = std::make_unique<fake_pool>(fake_adapter{script}, o);
  auto& p = *pool;
  constexpr int clients = 200;
#if defined(BERTH_TSAN)
  constexpr int blocking_rounds = 50;
#else
  constexpr int blocking_rounds = 200;
#endif
  race_totals totals;
  std::mt19937 rng(20240610);
  std::uniform_int_distribution<int> patience_us(0, 20000);
  for (int i = 0; i < clients; ++i)
    asio::co_spawn(asio::make_strand(ioc),
                   racing_client(&p, std::chrono::microseconds(patience_us(rng)), &totals), asio::detached);
  std::atomic<int> blocking_ok{0};
  std::vector<std::thread> threads;
  for (int b = 0; b < 2; ++b)
    threads.emplace_back([&] {
      for (int i = 0; i < blocking_rounds; ++i)
        if (auto l = p.acquire_for(10s)) blocking_ok.fetch_add(1, std::memory_order_relaxed);
    });
  threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  EXPECT_EQ(totals.finished.load(), clients) << "every client completed exactly once";
  EXPECT_EQ(totals.leased.load() + totals.gave_up.load(), clients);
  EXPECT_EQ(blocking_ok.load(), 2 * blocking_rounds);
  const auto c = p.counts();
  EXPECT_EQ(c.leased, 0u);
  EXPECT_EQ(c.waiting, 0u);
  EXPECT_EQ(c.idle, c.total) << "every connection came back";
  EXPECT_LE(c.total, 2u);
  std::printf("racing clients: %d leased, %d gave up (their acquire cancelled)\n", totals.leased.load(),
              totals.gave_up.load());
}

/// An Asio executor (an io_context's, or the system executor) whose
/// execute() throws while *fail is positive (bad_alloc), which berth's
/// executor contract allows: berth then runs the completion on the pool's
/// async thread. Otherwise it forwards to `inner`, so a dispatch (blocking
/// possibly) runs inline where `inner`'s does: always for the system
/// executor, never off an io_context's threads.
template <class Inner>
struct flaky_executor {
  Inner inner;
  std::atomic<int>* fail;
  bool never = false;
  template <class F>
  void execute(F&& f) const {
    if (fail->load() > 0) {
      fail->fetch_sub(1);
      throw std::bad_alloc();
    }
    if (never)
      asio::execution::execute(asio::require(inner, asio::execution::blocking.never), std::forward<F>(f));
    else
      asio::execution::execute(inner, std::forward<F>(f));
  }
  asio::execution_context& query(asio::execution::context_t) const noexcept {
    return asio::query(inner, asio::execution::context);
  }
  flaky_executor require(asio::execution::blocking_t::never_t) const {
    flaky_executor e = *this;
    e.never = true;
    return e;
  }
  flaky_executor require(asio::execution::blocking_t::possibly_t) const {
    flaky_executor e = *this;
    e.never = false;
    return e;
  }
  friend bool operator==(const flaky_executor& a, const flaky_executor& b) noexcept {
    return a.inner == b.inner && a.fail == b.fail && a.never == b.never;
  }
  friend bool operator!=(const flaky_executor& a, const flaky_executor& b) noexcept { return !(a == b); }
};
using flaky_io_executor = flaky_executor<asio::io_context::executor_type>;
using flaky_system_executor = flaky_executor<asio::system_executor>;

// When berth ran the completion on its async thread (the executor's post
// threw), berth::asio's dispatch posted the handler, with its lease, to the
// io_context, and the pool stopped waiting for the delivery: destroyed
// meanwhile, it aborted with the lease outstanding (or the lease would have
// used freed memory). The delivery is now held until the handler has run
// (review of 957e949).
TEST_F(AsioAcquireTest, AFallbackDeliveryIsWaitedForByThePoolBug) {
  auto& p = make(1, 1);
  auto held = p.try_acquire();
  std::atomic<int> fail{0};
  std::atomic<bool> handled{false};
  berth::asio::async_acquire(p, no_deadline,
                             asio::bind_executor(flaky_io_executor{ioc.get_executor(), &fail}, [&](result_type r) {
                               EXPECT_TRUE(r);
                               handled = true;
                             }));
  std::promise<void> go;
  asio::post(ioc, [f = go.get_future().share()] { f.wait(); });  // the io_context is busy
  auto guard = asio::make_work_guard(ioc);
  std::thread io([this] { ioc.run(); });
  fail = 1;
  (*held).release();  // handed: the run's post throws, the async thread runs it
  // The run took the connection (not woken to compete and then closed).
  ASSERT_TRUE(eventually([&] { return p.counts().waiting == 0 && p.counts().leased == 1; }));
  std::promise<void> destroyed;
  auto destroyed_f = destroyed.get_future();
  std::thread destroyer([&] {
    pool.reset();
    destroyed.set_value();
  });
  EXPECT_EQ(destroyed_f.wait_for(200ms), std::future_status::timeout) << "the pool went with the lease queued";
  go.set_value();
  destroyer.join();
  EXPECT_TRUE(handled);
  guard.reset();
  io.join();
  EXPECT_EQ(script->live.load(), 0);
}

// ---- a handler that destroys its pool, run from the pool's async thread ----------

/// Runs `scenario` in a child process (a death test) and expects it to
/// return within 5 s. A pool whose destruction waits for a delivery that
/// cannot end waits 10 s and then aborts: in the child, that fails the test
/// in 5 s instead of taking the test binary down. A scenario fails a check
/// with check().
template <class Scenario>
void expect_returns_promptly(Scenario scenario) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the pool runs threads
  EXPECT_EXIT(
      {
        std::thread([] {
          std::this_thread::sleep_for(5s);  // a watchdog, not a wait for progress
          std::fputs("hung for 5 s: the pool's destruction waited for a delivery\n", stderr);
          std::_Exit(2);
        }).detach();
        scenario();
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

/// In expect_returns_promptly's child: ends it with a failure unless ok.
void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "check failed: %s\n", what);
  std::_Exit(3);
}

/// What a pool_owning_handler saw: written before `called` is set.
struct handler_report {
  std::atomic<bool> called{false};
  std::thread::id on;
  errc got{};
};

/// Waits, when destroyed, until `let_go` is ready (unless moved from).
struct gate {
  std::shared_future<void> let_go;
  explicit gate(std::shared_future<void> f) : let_go(std::move(f)) {}
  gate(gate&&) noexcept = default;
  ~gate() {
    if (let_go.valid()) let_go.wait();
  }
};

/// A handler owning a reference to its pool (as a coroutine frame owning
/// it does), the last one once the test has let go of its own (`until`:
/// the test is out of the pool then, so that only the handler destroys
/// it), and optionally the lease that keeps the request waiting. Called,
/// it reports, releases both leases, then the pool; destroyed unrun, it
/// releases the pool.
struct pool_owning_handler {
  std::shared_ptr<fake_pool> pool;
  std::optional<result_type> kept;
  handler_report* report;
  gate until;  // destroyed before `pool`
  void operator()(result_type r) {
    report->on = std::this_thread::get_id();
    report->got = r ? errc{} : r.error().code;
    report->called.store(true, std::memory_order_release);
    if (r) (*r).release();
    if (kept) (**kept).release();
    until.let_go.wait();
    pool.reset();  // the last owner: the pool goes here
  }
};

/// A pool of one connection, leased, that the handler it hands out owns,
/// alone once let_go() is called; its destruction is awaited with
/// wait_destroyed().
struct handler_owned_pool {
  std::promise<void> destroyed;
  std::shared_ptr<fake_pool> owner;  // until let_go()
  fake_pool& pool;
  result_type held;
  std::atomic<int> fail{0};  // for a flaky_executor
  handler_report seen;
  std::promise<void> gone;

  explicit handler_owned_pool(AsioAcquireTest& t)
      : owner(t.make_owned(1, 1, destroyed)), pool(*owner), held(pool.try_acquire()) {}
  /// The handler, which will own the pool.
  pool_owning_handler handler() { return {owner, std::nullopt, &seen, gate(gone.get_future().share())}; }
  /// After this thread's last call on the pool: the handler owns it alone.
  void let_go() {
    owner.reset();
    gone.set_value();
  }
  void wait_destroyed() { destroyed.get_future().wait(); }
};

// A handler whose associated executor runs a dispatch inline (the system
// executor: here one whose post() throws, as the system executor's may
// when memory runs out) ran on the pool's async thread inside berth's
// delivery and inside berth::asio's hold on the pool, which no delivery
// named: a handler destroying the pool there made the destruction wait
// for the handler itself for 10 s and then abort ("1 asynchronous
// acquire(s) have not completed after 10 s"), whether the request was
// handed a connection or timed out.
TEST_F(AsioAcquireTest, AHandlerDispatchedInlineOnTheAsyncThreadMayDestroyItsPoolBug) {
  for (const bool times_out : {false, true}) {
    SCOPED_TRACE(times_out ? "the request times out" : "the request is handed a connection");
    expect_returns_promptly([&] {
      handler_owned_pool s(*this);
      pool_owning_handler h = s.handler();
      if (times_out) h.kept.emplace(std::move(s.held));  // the handler releases it
      berth::asio::async_acquire_for(
          s.pool, 50ms, asio::bind_executor(flaky_system_executor{asio::system_executor(), &s.fail}, std::move(h)));
      s.fail = 1;  // the run's post throws: the async thread runs it, and the handler inline
      if (times_out)
        clock.advance(50ms);
      else
        (*s.held).release();
      s.let_go();
      s.wait_destroyed();
      check(s.seen.called.load(std::memory_order_acquire), "the handler ran");
      check(s.seen.on != std::this_thread::get_id(), "on the async thread");
      check(s.seen.got == (times_out ? errc::timeout : errc{}), "with its outcome");
      check(s.fail.load() == 0, "its dispatch did not post");
    });
  }
}

// The same when the handler's dispatch posts it (to an io_context): it
// ran on the io_context's thread holding berth::asio's hold on the pool,
// which no delivery named, and destroying the pool there waited 10 s for
// the hold, then aborted.
TEST_F(AsioAcquireTest, AHandlerPostedFromTheAsyncThreadMayDestroyItsPoolBug) {
  expect_returns_promptly([&] {
    handler_owned_pool s(*this);
    berth::asio::async_acquire(s.pool, no_deadline,
                               asio::bind_executor(flaky_io_executor{ioc.get_executor(), &s.fail}, s.handler()));
    auto guard = asio::make_work_guard(ioc);
    s.fail = 1;  // the run's post throws: the async thread runs it and posts the handler here
    (*s.held).release();
    s.let_go();
    ioc.run_one();  // the handler: the pool goes
    s.wait_destroyed();
    check(s.seen.called.load(std::memory_order_acquire), "the handler ran");
    check(s.seen.on == std::this_thread::get_id(), "on the io_context's thread");
    check(s.seen.got == errc{}, "with the lease");
  });
}

// The same when the handler's dispatch threw too (out of memory): the
// handler, dropped unrun on the async thread, destroyed the pool, whose
// destruction waited 10 s for berth::asio's hold, then aborted. (The
// async thread then reports the exception, after the pool has gone.)
TEST_F(AsioAcquireTest, AHandlerDroppedOnTheAsyncThreadMayDestroyItsPoolBug) {
  expect_returns_promptly([&] {
    handler_owned_pool s(*this);
    berth::asio::async_acquire(
        s.pool, no_deadline, asio::bind_executor(flaky_system_executor{asio::system_executor(), &s.fail}, s.handler()));
    s.fail = 2;  // the run's post throws, and then the handler's dispatch
    (*s.held).release();
    s.let_go();
    s.wait_destroyed();
    check(!s.seen.called.load(std::memory_order_acquire), "the handler was dropped unrun");
    check(s.fail.load() == 0, "by its dispatch");
    check(script->live.load() == 0, "its connection went back and was closed with the pool");
  });
}

}  // namespace
}  // namespace berth_asio_test
