// Proves the fast path allocates nothing: a counting global operator new.
#include <berth/pool.hpp>

#include "support/fake_adapter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

namespace {
std::atomic<long> allocations{0};
thread_local bool counting = false;
}  // namespace

// GCC 12 pairs the replaced operator delete's free() with operator new at
// -O2 and warns of a mismatch; the replacement pair is malloc/free by design.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  if (counting) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace berth {
namespace {

using testing::fake_adapter;

TEST(NoAllocationTest, AcquireReleaseCyclesAllocateNothing) {
  pool<fake_adapter> p(fake_adapter{}, pool_options{.max_size = 4, .min_idle = 4});
  (void)p.try_acquire();  // warm the thread-local hint
  counting = true;
  for (int k = 0; k < 10000; ++k) {
    auto a = p.try_acquire();
    auto b = p.acquire();  // blocking API, served by the fast path
    auto c = p.acquire_for(std::chrono::seconds(1));
    if (!a || !b || !c) std::abort();
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
}

TEST(NoAllocationTest, ContendedCyclesThroughTheRingAllocateNothing) {
  pool<fake_adapter> p(fake_adapter{}, pool_options{.max_size = 2, .min_idle = 2});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      counting = true;
      for (int k = 0; k < 20000; ++k) {
        auto l = p.try_acquire();  // may miss: that path must not allocate either
      }
      counting = false;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(allocations.load(), 0);
}

TEST(NoAllocationTest, CounterSeesAllocations) {  // the probe itself works
  counting = true;
  auto* v = new std::vector<int>(10);
  counting = false;
  delete v;
  EXPECT_GE(allocations.load(), 2);
  allocations = 0;
}

}  // namespace
}  // namespace berth
