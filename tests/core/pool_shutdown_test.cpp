#include <berth/pool.hpp>

#include "support/fake_adapter.hpp"

#include <gtest/gtest.h>

namespace berth {
namespace {

using testing::fake_adapter;

void destroy_pool_with_lease_out() {
  auto p = std::make_unique<pool<fake_adapter>>(fake_adapter{}, pool_options{.name = "orders"});
  auto l = p->try_acquire();  // this line is named in the report
  p.reset();
}

TEST(PoolShutdownDeathTest, DestroyingAPoolWithLeasesOutReportsWhichAndWhere) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(destroy_pool_with_lease_out(),
               "pool 'orders' destroyed with 1 lease\\(s\\) still outstanding(.|\n)*"
               "slot 0: acquired at .*pool_shutdown_test.cpp:[0-9]+ in .*destroy_pool_with_lease_out");
}

TEST(PoolShutdownTest, DestroyAfterAllLeasesReturnedIsQuiet) {
  auto s = std::make_shared<testing::fake_script>();
  {
    pool<fake_adapter> p(fake_adapter{s}, pool_options{.max_size = 3, .min_idle = 3});
    auto a = p.try_acquire();
    auto b = p.try_acquire();
  }
  EXPECT_EQ(s->live.load(), 0);
  EXPECT_EQ(s->closes.load(), 3u);
}

}  // namespace
}  // namespace berth
