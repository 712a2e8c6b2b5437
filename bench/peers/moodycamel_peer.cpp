// moodycamel_peer.cpp: the moodycamel driver of the peer harness (README.md
// beside this file): a pool that is a moodycamel::BlockingConcurrentQueue of
// connection indices, the pool many C++ services build from that queue.
// acquire = wait_dequeue_timed (its lightweight semaphore spins briefly,
// then sleeps), release = enqueue.
//
// Written to be fair to it: each thread holds a ProducerToken and a
// ConsumerToken (its fastest mode), and the queue is sized at construction
// for the run's threads as explicit producers, so enqueue does not allocate
// blocks once warm. It is not FIFO across producers: a released index goes
// into the releasing thread's sub-queue.
//
// Synchronization: the queue publishes conns_[i] from a releaser's enqueue to
// the next dequeuer of i (moodycamel's own release/acquire pairs); conns_[i]
// is touched only by the holder of index i.
#include "null_adapter.hpp"
#include "workload.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>  // SYSTEM include: see CMakeLists.txt

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace {

using berth::bench::null_connection;
using berth::bench::peers::driver_config;
using queue = moodycamel::BlockingConcurrentQueue<std::uint32_t>;

/// Distinct objects: safe. Shared objects: safe for worker use; unsafe for
/// destruction (after every worker).
class moodycamel_peer {
 public:
  explicit moodycamel_peer(const driver_config& cfg)
      : queue_(cfg.connections, cfg.threads, 1), conns_(cfg.connections) {
    for (std::size_t i = 0; i < cfg.connections; ++i) queue_.enqueue(static_cast<std::uint32_t>(i));
  }

  /// One thread's tokens. Distinct objects: safe. Shared objects: unsafe.
  class worker;

  /// Holds index i; returns it through its worker's producer token.
  /// Distinct objects: safe. Shared objects: unsafe.
  class handle {
   public:
    handle() noexcept = default;
    handle(worker* w, std::uint32_t i) noexcept : w_(w), index_(i) {}
    handle(handle&& o) noexcept : w_(std::exchange(o.w_, nullptr)), index_(o.index_) {}
    handle& operator=(handle&&) = delete;
    ~handle();
    explicit operator bool() const noexcept { return w_ != nullptr; }

   private:
    friend class worker;
    worker* w_ = nullptr;
    std::uint32_t index_ = 0;
  };

  class worker {
   public:
    worker(moodycamel_peer& p, std::size_t) : pool_(&p), producer_(p.queue_), consumer_(p.queue_) {}
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    handle acquire() {
      std::uint32_t i = 0;
      if (pool_->queue_.wait_dequeue_timed(consumer_, i, berth::bench::peers::acquire_timeout)) return handle(this, i);
      return handle();
    }
    static const void* connection(handle& h) noexcept { return &h.w_->pool_->conns_[h.index_]; }

   private:
    friend class handle;
    moodycamel_peer* pool_;
    moodycamel::ProducerToken producer_;
    moodycamel::ConsumerToken consumer_;
  };

 private:
  queue queue_;
  // ---- immutable size; element i touched only by the holder of index i ----
  std::vector<null_connection> conns_;
};

moodycamel_peer::handle::~handle() {
  if (w_ != nullptr) w_->pool_->queue_.enqueue(w_->producer_, index_);
}

}  // namespace

int main(int argc, char** argv) {
  return berth::bench::peers::run_driver<moodycamel_peer>(argc, argv, "moodycamel", BERTH_PEER_BUILD);
}
