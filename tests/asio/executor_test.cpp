// berth::asio::posting_executor: an Asio executor as a berth executor that
// never runs a task inline and holds outstanding work while it exists.
#include <berth/asio/executor.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/io_context_strand.hpp>
#include <asio/strand.hpp>

#include <gtest/gtest.h>

#include <memory>

// Outside namespace berth, where `asio` would name berth::asio.
namespace berth_asio_test {
namespace {

using io_executor = asio::io_context::executor_type;

static_assert(berth::executor<berth::asio::posting_executor<io_executor>>);
static_assert(berth::executor<berth::asio::posting_executor<asio::strand<io_executor>>>);
static_assert(berth::executor<berth::asio::posting_executor<asio::any_io_executor>>);
static_assert(berth::executor<berth::asio::posting_executor<asio::io_context::strand>>, "a legacy executor");

TEST(AsioPostingExecutor, PostFromInsideTheContextQueuesInsteadOfRunningInline) {
  asio::io_context ioc;
  auto ex = std::make_unique<berth::asio::posting_executor<io_executor>>(ioc.get_executor());
  int step = 0;
  asio::post(ioc, [&] {
    ex->post(berth::unique_task([&] { step = 2; }));
    EXPECT_EQ(step, 0) << "berth posts under its mutex: an inline run would deadlock";
    step = 1;
    ex.reset();  // its work ends: run() returns once the task ran
  });
  ioc.run();
  EXPECT_EQ(step, 2);
}

TEST(AsioPostingExecutor, HoldsOutstandingWorkWhileItExists) {
  asio::io_context ioc;
  auto ex = std::make_unique<berth::asio::posting_executor<io_executor>>(ioc.get_executor());
  ioc.poll();
  EXPECT_FALSE(ioc.stopped()) << "run() would wait for the request that holds it";
  auto copy = *ex;  // a request's copy holds work too
  ex.reset();
  ioc.poll();
  EXPECT_FALSE(ioc.stopped());
  bool ran = false;
  copy.post(berth::unique_task([&] { ran = true; }));
  {
    auto gone = std::move(copy);
  }
  ioc.run();  // the queued task is work of its own; then none is left
  EXPECT_TRUE(ran);
  EXPECT_TRUE(ioc.stopped());
}

TEST(AsioPostingExecutor, LegacyExecutorHoldsWorkThroughAWorkGuard) {
  asio::io_context ioc;
  asio::io_context::strand strand(ioc);
  auto ex = std::make_unique<berth::asio::posting_executor<asio::io_context::strand>>(strand);
  bool in_strand = false;
  ex->post(berth::unique_task([&] { in_strand = strand.running_in_this_thread(); }));
  ioc.poll();
  EXPECT_TRUE(in_strand);
  EXPECT_FALSE(ioc.stopped());
  ex.reset();
  ioc.run();
  EXPECT_TRUE(ioc.stopped());
}

}  // namespace
}  // namespace berth_asio_test
