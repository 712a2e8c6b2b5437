// soci_peer.cpp: the SOCI driver of the peer harness (README.md beside this
// file): soci::connection_pool from Debian's libsoci-dev (4.0.3), a real
// peer. Its pool holds `size` soci::session objects; the sessions are never
// opened (a null connection: the pool's own cost only). acquire = lease(),
// release = give_back(pos).
//
// SOCI's pool (connection-pool.cpp): one pthread mutex and one condition
// variable; lease() scans the sessions for a free one from index 0 and waits
// on the condition variable while none is free; give_back() marks the slot
// free and signals. lease() waits without a deadline: try_lease(pos, ms)
// would read the wall clock on every call even when a session is free, which
// is not the cost users of lease() pay, so the protocol's 30 s timeout does
// not apply to SOCI (as to the mutex pool). lease() throws soci_error on
// failure: counted as an error. The library is Debian's build (its own
// flags), not this project's.
#include "workload.hpp"

#include <soci/connection-pool.h>  // SYSTEM include: see CMakeLists.txt
#include <soci/error.h>
#include <soci/session.h>

#include <cstddef>
#include <utility>

namespace {

using berth::bench::peers::driver_config;

/// Distinct objects: safe. Shared objects: safe for worker use (SOCI's pool
/// is thread-safe); unsafe for destruction.
class soci_peer {
 public:
  explicit soci_peer(const driver_config& cfg) : pool_(cfg.connections) {}

  /// Holds session `pos`; gives it back when destroyed.
  /// Distinct objects: safe. Shared objects: unsafe.
  class handle {
   public:
    handle() noexcept = default;
    handle(soci::connection_pool* p, std::size_t pos) noexcept : pool_(p), pos_(pos) {}
    handle(handle&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), pos_(o.pos_) {}
    handle& operator=(handle&&) = delete;
    ~handle() {
      if (pool_ != nullptr) pool_->give_back(pos_);
    }
    explicit operator bool() const noexcept { return pool_ != nullptr; }

   private:
    friend class soci_peer;
    soci::connection_pool* pool_ = nullptr;
    std::size_t pos_ = 0;
  };

  /// One thread's view: nothing but the pool. Distinct objects: safe.
  class worker {
   public:
    worker(soci_peer& p, std::size_t) noexcept : pool_(&p.pool_) {}
    handle acquire() {
      try {
        return handle(pool_, pool_->lease());
      } catch (const soci::soci_error&) {
        return handle();
      }
    }
    static const void* connection(handle& h) { return &h.pool_->at(h.pos_); }

   private:
    soci::connection_pool* pool_;
  };

 private:
  soci::connection_pool pool_;
};

}  // namespace

int main(int argc, char** argv) {
  return berth::bench::peers::run_driver<soci_peer>(argc, argv, "soci", BERTH_PEER_BUILD);
}
