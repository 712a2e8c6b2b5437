// mutex_peer.cpp: the mutex driver of the peer harness (README.md beside this
// file): bench/mutex_pool.hpp, the in-tree std::mutex + condition-variable
// pool (a LIFO stack of free indices; waits without a deadline, so the
// protocol's 30 s timeout never applies to it).
#include "mutex_pool.hpp"
#include "workload.hpp"

#include <cstddef>

namespace {

using berth::bench::mutex_pool;
using berth::bench::peers::driver_config;

/// Distinct objects: safe. Shared objects: safe for worker use; unsafe for
/// destruction.
class mutex_peer {
 public:
  explicit mutex_peer(const driver_config& cfg) : pool_(cfg.connections) {}

  /// One thread's view: nothing but the pool. Distinct objects: safe.
  class worker {
   public:
    worker(mutex_peer& p, std::size_t) noexcept : pool_(&p.pool_) {}
    mutex_pool::lease acquire() { return pool_->acquire(); }
    static const void* connection(mutex_pool::lease& l) noexcept { return &*l; }

   private:
    mutex_pool* pool_;
  };

 private:
  mutex_pool pool_;
};

}  // namespace

int main(int argc, char** argv) {
  return berth::bench::peers::run_driver<mutex_peer>(argc, argv, "mutex", BERTH_PEER_BUILD);
}
