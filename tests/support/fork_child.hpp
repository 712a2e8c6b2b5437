// fork_child.hpp: runs a function in a fork()ed child and reports how the
// child ended, for the fork-guard tests (berth/fork.hpp). A child cannot
// report through GoogleTest (its failures stay in its copy of the process):
// it returns an exit code, 0 for success and a distinct code per check.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <thread>

#include "eventually.hpp"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace berth::testing {

/// The test program's own process id, taken before any fork.
inline const pid_t test_process_pid = ::getpid();

}  // namespace berth::testing

#if defined(__SANITIZE_ADDRESS__)
/// LeakSanitizer's switch, asked when its exit-time check would run: off in
/// a fork child that leaves through exit(). The child's copies of the
/// parent's threads have stacks it does not scan (only the forking thread
/// exists there), so what only they point to (a running std::thread's
/// state, say) would be reported as leaked. The test program itself is
/// checked as usual.
extern "C" inline int __lsan_is_turned_off() { return ::getpid() != berth::testing::test_process_pid; }
#endif

namespace berth::testing {

/// How the child leaves once the function returned.
enum class child_exit {
  quick,   ///< _exit(code): no atexit handlers, no static destructors
  normal,  ///< std::exit(code): atexit handlers and static destructors run
};

/// How a child ended.
struct child_outcome {
  int code = -1;     ///< its exit status when it exited
  int signal = 0;    ///< the signal that killed it, 0 if none
  bool hung = false; ///< still running at the bound: killed with SIGKILL
  bool ok() const noexcept { return !hung && signal == 0 && code == 0; }
  std::string to_string() const {
    if (hung) return "the child hung (killed at the bound)";
    if (signal != 0) return "the child died of signal " + std::to_string(signal);
    return "the child exited with " + std::to_string(code);
  }
};

/// Whether every other thread of this process is asleep (state S in
/// /proc/self/task/TID/stat): none is running, so none is inside the
/// allocator. Linux only; true when /proc cannot be read (nothing to wait on).
inline bool other_threads_asleep() {
  std::error_code ec;
  const std::string self = std::to_string(::gettid());
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    if (task.path().filename() == self) continue;
    std::ifstream stat(task.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // the thread ended
    const auto close = line.rfind(')');      // the name may hold spaces and parentheses
    if (close == std::string::npos || close + 2 >= line.size()) continue;
    if (line[close + 2] != 'S') return false;
  }
  return true;
}

/// Waits until no connection of p is being opened and min_idle are open,
/// so that nothing of the pool's runs at the fork: a creator thread inside
/// the allocator when fork() copies the process leaves a sanitizer
/// runtime's allocator lock held in the child (GCC 12's ASan is not
/// fork-safe there), and a child that allocates then hangs. Real
/// programs meet the same hazard with any allocator that is not fork-safe;
/// the tests fork from a quiet process. True once settled.
template <class Pool>
bool settled_for_fork(const Pool& p) {
  // The counts say the creator has opened min_idle; the thread may still be
  // finishing that step (freeing, recording) inside the allocator, so also
  // wait until every other thread sleeps, twice 2 ms apart (issue 13's CI
  // run and the session of 2026-11-28 each caught an ASan child hung after
  // the counts alone had settled).
  return eventually([&] {
    const auto c = p.counts();
    if (c.connecting != 0 || c.total < p.options().min_idle || !other_threads_asleep()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
    return other_threads_asleep();
  });
}

/// Forks; the child runs body() (an int: its exit code; an exception exits
/// 98) and exits as `how` says. The parent waits for it, up to `bound` of
/// real time (a child that hangs is what these tests look for: it is then
/// killed and reported as hung), polling every millisecond: this waits on a
/// process, it does not time anything. stdout and stderr are flushed first,
/// so the child does not print the parent's buffered output again.
template <class F>
child_outcome run_in_child(F&& body, child_exit how, std::chrono::seconds bound = std::chrono::seconds{30}) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return {.code = -1};
  if (pid == 0) {
    int code = 98;
    try {
      code = body();
    } catch (...) {
    }
    if (how == child_exit::normal) std::exit(code);
    ::_exit(code);
  }
  const auto end = std::chrono::steady_clock::now() + bound;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return {.hung = true};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  if (WIFSIGNALED(status)) return {.signal = WTERMSIG(status)};
  return {.code = WEXITSTATUS(status)};
}

/// The fork-guard scenario on `live`, which holds pools and connections:
/// the child runs live.child_checks() (0 or the failed check's number)
/// and, when it leaves through _exit, first destroys what live holds
/// (live.destroy(): the destructors must be safe there); the parent then
/// asserts the outcome and calls live.parent_checks().
template <class Live>
void fork_and_check(Live& live, child_exit how) {
  const child_outcome out = run_in_child(
      [&] {
        if (const int r = live.child_checks()) return r;
        if (how == child_exit::quick) live.destroy();
        return 0;
      },
      how);
  EXPECT_TRUE(out.ok()) << out.to_string();
  live.parent_checks();
}

}  // namespace berth::testing
