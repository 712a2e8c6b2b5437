// icount_driver.cpp: a fixed number of cycles of each fast path, for an
// instruction count under callgrind, which on a VM is exact where a timed
// A/B moves by +-5 ns between runs (bench/icount.sh runs it and divides).
//
//   cycles_blocking      acquire() + release
//   cycles_callback      async_acquire(deadline, ex, handler) + running the
//                        one task it posted (the handler drops the lease)
//   cycles_post_only     posting and running an empty task on the same
//                        executor: the executor's own share of the above
//
// Usage: berth_icount_driver [cycles]   (default 100000)
#include <berth/pool.hpp>

#include "null_adapter.hpp"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using pool_t = berth::pool<berth::bench::null_adapter>;

/// A vector of tasks, run by the loop that posted them: one thread.
struct queue_executor {
  std::vector<berth::unique_task>* q;
  void post(berth::unique_task t) const { q->push_back(std::move(t)); }
};

struct drop_lease {
  void operator()(pool_t::acquire_result r) const { (void)r; }
};

void run_all(std::vector<berth::unique_task>& q) {
  for (auto& t : q) t();
  q.clear();
}

}  // namespace

// extern "C", not inlined: callgrind names them, and counts each inclusively.
extern "C" __attribute__((noinline)) void cycles_blocking(pool_t& p, long n) {
  for (long i = 0; i < n; ++i) {
    auto l = p.acquire();
  }
}

extern "C" __attribute__((noinline)) void cycles_callback(pool_t& p, std::vector<berth::unique_task>& q, long n) {
  for (long i = 0; i < n; ++i) {
    p.async_acquire(pool_t::time_point::max(), queue_executor{&q}, drop_lease{});
    run_all(q);
  }
}

extern "C" __attribute__((noinline)) void cycles_post_only(std::vector<berth::unique_task>& q, long n) {
  for (long i = 0; i < n; ++i) {
    q.push_back(berth::unique_task([] {}));
    run_all(q);
  }
}

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 100000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: %s [cycles > 0]\n", argv[0]);
    return 2;
  }
  berth::pool_options o;
  o.name = "icount";
  o.max_size = 4;
  o.min_idle = 4;
  pool_t p(berth::bench::null_adapter{}, o);
  std::vector<berth::unique_task> q;
  q.reserve(16);
  cycles_blocking(p, n);
  cycles_callback(p, q, n);
  cycles_post_only(q, n);
  std::printf("%ld cycles of each\n", n);
  return 0;
}
