// release_mark_test.cpp: the release marks and the list of releasing threads
// (core/include/berth/detail/release_mark.hpp). The destruction race they
// close is forced in fault_catalogue_test.cpp (DestructionRaceTest).
#include <berth/detail/release_mark.hpp>

#include "support/fork_child.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <future>
#include <latch>
#include <thread>

namespace berth::detail {
namespace {

/// A thread that arms a mark on `pool`, holds it until `go`, disarms, then
/// lingers until `exit`.
struct marking_thread {
  std::latch marked{1}, go{1}, disarmed{1}, exit{1};
  std::thread t;
  explicit marking_thread(const void* pool) {
    t = std::thread([this, pool] {
      arm_release(pool);
      marked.count_down();
      go.wait();
      disarm_release();
      disarmed.count_down();
      exit.wait();
    });
    marked.wait();
  }
  ~marking_thread() {
    go.count_down();
    exit.count_down();
    t.join();
  }
};

TEST(ReleaseMarkTest, AMarkNamesItsPoolUntilDisarmed) {
  int pool = 0, other = 0;
  marking_thread m(&pool);
  EXPECT_TRUE(releasing(&pool));
  EXPECT_FALSE(releasing(&other));
  m.go.count_down();
  m.disarmed.wait();
  EXPECT_FALSE(releasing(&pool));
}

// The destroyer's own mark never holds it back (a pool destroyed by a
// thread that is itself marked for it would wait for itself forever).
TEST(ReleaseMarkTest, TheCallersOwnMarkIsNotAwaited) {
  int pool = 0;
  arm_release(&pool);
  EXPECT_FALSE(releasing(&pool));
  disarm_release();
}

// publish() inside another pool's window puts the outer mark back.
TEST(ReleaseMarkTest, DisarmingPutsBackTheOuterMark) {
  int outer = 0, inner = 0;
  arm_release(&outer);
  const void* const saved = current_release_mark();
  arm_release(&inner);
  EXPECT_EQ(current_release_mark(), &inner);
  disarm_release(saved);
  EXPECT_EQ(current_release_mark(), &outer);
  disarm_release();
  EXPECT_EQ(current_release_mark(), nullptr);
}

// A thread is listed by its first mark and unlisted when it exits, so that
// the destroyer's scan never reads a thread's storage after it went (the
// pthread key's destructor).
TEST(ReleaseMarkTest, AThreadIsListedOnItsFirstMarkAndUnlistedAtItsExit) {
  arm_release(nullptr);  // this thread listed, whatever ran before
  const std::size_t before = listed_releasers();
  {
    int pool = 0;
    marking_thread m(&pool);
    EXPECT_EQ(listed_releasers(), before + 1);
    m.go.count_down();
    m.disarmed.wait();
    EXPECT_EQ(listed_releasers(), before + 1) << "listed for its life, not per mark";
  }
  EXPECT_EQ(listed_releasers(), before);
}

// A fork child keeps the forking thread's record and drops the others (the
// parent's threads, which will never run, release or exit there), and the
// list's mutex is free in the child: a new thread there lists itself.
TEST(ReleaseMarkTest, AForkChildListsOnlyItsOwnThreads) {
  arm_release(nullptr);
  int pool = 0;
  marking_thread m(&pool);  // marked across the fork: its mark must not hold the child back
  ASSERT_TRUE(releasing(&pool));
  const auto out = testing::run_in_child(
      [&] {
        if (listed_releasers() != 1) return 10;
        if (releasing(&pool)) return 11;  // also: the list's mutex is free here
#if !defined(__SANITIZE_THREAD__)  // TSan stops a child of a multi-threaded fork that starts threads
        std::thread t([&] {
          arm_release(&pool);
          disarm_release();
        });
        t.join();
        if (listed_releasers() != 1) return 12;  // t came and went
#endif
        return 0;
      },
      testing::child_exit::quick);
  EXPECT_TRUE(out.ok()) << out.to_string();
}

}  // namespace
}  // namespace berth::detail
