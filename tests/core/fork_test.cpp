// fork_test.cpp: a pool inherited by a fork() child (berth/fork.hpp, [G8] in
// waiter_queue.hpp). The child cannot report through GoogleTest: each check
// there has its own exit code, and the parent asserts the exit status
// (support/fork_child.hpp).
#include <berth/pool.hpp>

#include "support/fake_adapter.hpp"
#include "support/fork_child.hpp"
#include "support/manual_executor.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::child_exit;
using testing::fake_adapter;
using testing::fake_script;
using testing::run_in_child;
using fake_pool = pool<fake_adapter>;

pool_options two() {
  return {.name = "forked", .max_size = 2, .min_idle = 2, .acquire_timeout = 5s};
}

/// The checks every child makes on an inherited pool: acquires of every
/// kind fail at once with errc::forked, saying what to do; stats() and
/// close()/drain() return. 0 when all hold, else the number of the first
/// that failed.
int child_acquires_fail(fake_pool& p) {
  const auto t0 = std::chrono::steady_clock::now();
  auto blocking = p.acquire_for(5s);
  if (blocking || blocking.error().code != errc::forked) return 10;
  if (std::chrono::steady_clock::now() - t0 > 2s) return 11;  // at once, not at the 5 s deadline
  const std::string m = blocking.error().message();
  if (m.find("fork()") == std::string::npos || m.find("create a new pool") == std::string::npos) return 12;
  if (auto t = p.try_acquire(); t || t.error().code != errc::forked) return 13;
  if (auto u = p.acquire_until(clock_source::time_point::max()); u || u.error().code != errc::forked) return 14;
  testing::manual_executor ex;
  try {
    p.async_acquire(clock_source::time_point::max(), ex.executor(), [](fake_pool::acquire_result) {});
    return 15;
  } catch (const std::system_error& e) {
    if (e.code() != errc::forked) return 16;
  }
  if (!p.forked()) return 17;
  (void)p.stats();  // the lock-free part: must not wait for the parent's mutex
  p.close();
  if (p.drain(1s) != errc::forked) return 18;
  return 0;
}

// The child sees errc::forked for every acquire, releases a lease it
// inherited without handing it out, and destroys the pool (its creator and
// reaper threads are the parent's, blocked on condition variables there)
// without hanging, terminating or closing the parent's connections. Before
// the fork guard the destructor joined threads that do not exist in the
// child and hung.
TEST(PoolForkTest, ChildDestroysAnInheritedPoolWithoutHangingOrClosingBug) {
  auto s = std::make_shared<fake_script>();
  auto p = std::make_unique<fake_pool>(fake_adapter{s}, two());
  std::optional<fake_pool::lease_type> held(p->acquire().value());  // out across the fork
  ASSERT_TRUE(testing::settled_for_fork(*p));
  const auto out = run_in_child(
      [&] {
        if (const int r = child_acquires_fail(*p)) return r;
        held.reset();  // the inherited lease ends: no hand-off, no mutex
        if (auto again = p->acquire_for(1s); again) return 20;  // the released slot was not published
        const auto closes = s->closes.load();
        p.reset();
        return s->closes.load() == closes ? 0 : 21;  // the adapter closed nothing in the child
      },
      child_exit::quick);
  EXPECT_TRUE(out.ok()) << out.to_string();
  // The parent's pool is untouched: the lease still works and both
  // connections serve.
  EXPECT_FALSE(p->forked());
  EXPECT_EQ(s->closes.load(), 0u);
  ASSERT_TRUE(held);
  {
    auto other = p->acquire_for(1s);
    ASSERT_TRUE(other) << other.error().message();
  }
  held.reset();
  p.reset();
  EXPECT_EQ(s->closes.load(), 2u);
}

// A child that leaves through exit() with the pool still alive (static
// destructors and atexit handlers run, the pool's destructor does not).
TEST(PoolForkTest, ChildThatExitsNormallyLeavesThePoolToTheParent) {
  auto s = std::make_shared<fake_script>();
  fake_pool p(fake_adapter{s}, two());
  auto held = p.acquire().value();
  ASSERT_TRUE(testing::settled_for_fork(p));
  const auto out = run_in_child([&] { return child_acquires_fail(p); }, child_exit::normal);
  EXPECT_TRUE(out.ok()) << out.to_string();
  auto other = p.acquire_for(1s);
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_EQ(s->closes.load(), 0u);
}

// A pool created in the child works there: the guard marks inherited pools
// only.
TEST(PoolForkTest, APoolCreatedInTheChildServes) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer stops a child of a multi-threaded fork that starts threads (die_after_fork)";
#endif
  fake_pool inherited(fake_adapter{}, two());
  ASSERT_TRUE(testing::settled_for_fork(inherited));
  const auto out = run_in_child(
      [] {
        auto s = std::make_shared<fake_script>();
        fake_pool fresh(fake_adapter{s}, {.name = "child", .max_size = 1, .min_idle = 1});
        if (fresh.forked()) return 30;
        auto l = fresh.acquire_for(1s);
        return l ? 0 : 31;
      },
      child_exit::quick);
  EXPECT_TRUE(out.ok()) << out.to_string();
  EXPECT_FALSE(inherited.forked());
}

}  // namespace
}  // namespace berth
