// peer_watcher (adapters/postgres/src/peer_watcher.hpp): the server's end of
// a session seen without a round trip. Sockets here are socketpairs: the
// watcher only asks the kernel, whatever the peer is; the pool-level
// behaviour against a real server is in adapter_test.cpp
// (PostgresPool.ABackendKilledWhileIdleIsNeverHandedOut...).
#include "peer_watcher.hpp"

#include "support/eventually.hpp"
#include "support/fork_child.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <stdexcept>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace berth::postgres::detail {
namespace {

/// A connected pair of stream sockets: ours (watched) and the "server's".
struct socket_pair {
  socket_pair() {
    std::array<int, 2> fds{};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()) != 0) throw std::runtime_error("socketpair");
    ours = fds[0];
    theirs = fds[1];
  }
  ~socket_pair() {
    if (ours >= 0) ::close(ours);
    if (theirs >= 0) ::close(theirs);
  }
  socket_pair(const socket_pair&) = delete;
  socket_pair& operator=(const socket_pair&) = delete;
  void close_theirs() {
    ::close(theirs);
    theirs = -1;
  }
  int ours = -1, theirs = -1;
};

TEST(PeerWatcher, TheServerClosingASessionSetsItsFlagAndCallsBack) {
  std::atomic<int> calls{0};
  peer_watcher w([&] { calls.fetch_add(1); });
  socket_pair s;
  std::atomic<bool> closed{false};
  w.watch(s.ours, &closed);
  EXPECT_EQ(w.watched(), 1u);
  s.close_theirs();
  ASSERT_TRUE(berth::testing::eventually([&] { return closed.load(); })) << "the FIN was not seen";
  EXPECT_TRUE(berth::testing::eventually([&] { return calls.load() >= 1; }));
  w.unwatch(s.ours, &closed);
  EXPECT_EQ(w.watched(), 0u);
}

// Ordinary traffic (a result arriving) never wakes the watcher: only the
// end of the session does. Ordered by a second session whose end is seen
// after the data was written.
TEST(PeerWatcher, DataFromTheServerIsNotAnEnd) {
  peer_watcher w([] {});
  socket_pair a, b;
  std::atomic<bool> a_closed{false}, b_closed{false};
  w.watch(a.ours, &a_closed);
  w.watch(b.ours, &b_closed);
  ASSERT_EQ(::write(a.theirs, "Z", 1), 1);
  b.close_theirs();
  ASSERT_TRUE(berth::testing::eventually([&] { return b_closed.load(); }));
  EXPECT_FALSE(a_closed.load()) << "data is not the end of the session";
  w.unwatch(a.ours, &a_closed);
  w.unwatch(b.ours, &b_closed);
}

// After unwatch() the flag is never touched (the session's state may be
// freed right after), whatever the socket does next.
TEST(PeerWatcher, AnUnwatchedSessionIsNeverFlagged) {
  std::atomic<int> calls{0};
  peer_watcher w([&] { calls.fetch_add(1); });
  socket_pair a, b;
  std::atomic<bool> a_closed{false}, b_closed{false};
  w.watch(a.ours, &a_closed);
  w.watch(b.ours, &b_closed);
  w.unwatch(a.ours, &a_closed);
  a.close_theirs();
  b.close_theirs();
  ASSERT_TRUE(berth::testing::eventually([&] { return b_closed.load(); }));
  EXPECT_FALSE(a_closed.load());
  w.unwatch(b.ours, &b_closed);
}

// A session whose server had already closed it when it was registered
// (killed between connect and watch) is flagged too.
TEST(PeerWatcher, ASessionAlreadyEndedWhenWatchedIsFlagged) {
  peer_watcher w([] {});
  socket_pair s;
  s.close_theirs();
  std::atomic<bool> closed{false};
  w.watch(s.ours, &closed);
  ASSERT_TRUE(berth::testing::eventually([&] { return closed.load(); }));
  w.unwatch(s.ours, &closed);
}

// Our own socket closed before unwatch (libpq closes it after a failed
// call): the kernel already dropped it from the set; unwatch still forgets
// the flag, and the descriptor number, reused by the next session (and the
// same flag address reused too), names only that session. Ordered by the
// second session's end, which is seen after the first's peer closed.
TEST(PeerWatcher, UnwatchAfterOurSocketClosedForgetsTheFlagAndAReusedNumberIsNotConfused) {
  peer_watcher w([] {});
  auto s = std::make_unique<socket_pair>();
  std::atomic<bool> first{false};
  w.watch(s->ours, &first);
  const int fd = s->ours;
  ::close(s->ours);
  s->ours = -1;
  w.unwatch(fd, &first);
  EXPECT_EQ(w.watched(), 0u);
  s->close_theirs();  // the first session's peer: nothing watches it
  socket_pair next;  // takes the lowest free numbers: the first's, here
  EXPECT_EQ(next.ours, fd) << "the descriptor number is reused (what this test is about)";
  std::atomic<bool> second{false};
  w.watch(next.ours, &second);
  next.close_theirs();
  ASSERT_TRUE(berth::testing::eventually([&] { return second.load(); }));
  EXPECT_FALSE(first.load()) << "an unwatched session's flag was touched";
  w.unwatch(next.ours, &second);
}

// A descriptor epoll cannot watch (a regular file) is not registered, and
// the watcher forgets it at once instead of keeping a flag nothing sets.
TEST(PeerWatcher, ADescriptorEpollRefusesIsNotWatched) {
  peer_watcher w([] {});
  socket_pair s;
  std::atomic<bool> started{false};
  w.watch(s.ours, &started);  // starts the watcher
  const int file = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  std::atomic<bool> closed{false};
  w.watch(file, &closed);  // epoll_ctl: EPERM for a regular file
  EXPECT_EQ(w.watched(), 1u) << "only the socket";
  w.unwatch(file, &closed);  // harmless
  ::close(file);
  w.unwatch(s.ours, &started);
  EXPECT_EQ(w.watched(), 0u);
}

// A fork child destroys its copy of a watcher whose thread is the parent's:
// it neither joins a thread that is not there (a hang) nor terminates.
TEST(PeerWatcher, AForkChildDestroysItsCopyWithoutTheThread) {
  auto w = std::make_unique<peer_watcher>([] {});
  socket_pair s;
  std::atomic<bool> closed{false};
  w->watch(s.ours, &closed);  // starts the thread
  const auto out = berth::testing::run_in_child([&] { w.reset(); return 0; }, berth::testing::child_exit::quick);
  EXPECT_TRUE(out.ok()) << out.to_string();
  s.close_theirs();
  ASSERT_TRUE(berth::testing::eventually([&] { return closed.load(); })) << "the parent's watcher still works";
  w->unwatch(s.ours, &closed);
}

}  // namespace
}  // namespace berth::postgres::detail
