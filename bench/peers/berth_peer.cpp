// berth_peer.cpp: the berth driver of the peer harness (README.md beside this
// file): berth::pool<null_adapter>, used through its public API only, as a
// user writes it: `if (auto r = p.acquire_for(30s)) use(**r);` and the
// lease's destructor returns the connection.
//
// Built three times from this one file (CMakeLists.txt): "release" links
// berth::core built with the release preset's flags; "O2" and "O2-NDEBUG"
// (user_flags/CMakeLists.txt) compile berth's core sources into the driver
// with only those flags, as a service that vendors berth would.
// BERTH_PEER_VARIANT names the build in the JSON line (for the linked one,
// the build type: "release" in the release preset).
#include "berth_options.hpp"
#include "null_adapter.hpp"
#include "workload.hpp"

#include <berth/pool.hpp>

#include <cstddef>

#ifndef BERTH_PEER_VARIANT
#error "BERTH_PEER_VARIANT (the build's name) must be defined"
#endif

namespace {

using berth::bench::null_adapter;
using berth::bench::peers::driver_config;

/// berth with the user's defaults except its size (prefilled_options).
/// Distinct objects: safe. Shared objects: safe for worker use (berth::pool's
/// contract); unsafe for destruction.
class berth_peer {
 public:
  explicit berth_peer(const driver_config& cfg)
      : pool_{null_adapter{}, berth::bench::peers::prefilled_options("peers", cfg.connections)} {}

  /// The longest acquire wait berth recorded (pool_stats::wait_time, every
  /// acquire; its bucket's upper bound, so within 2x). Thread-safe.
  std::uint64_t longest_wait_ns() const {
    return static_cast<std::uint64_t>(pool_.stats().wait_time.max().count());
  }

  /// One thread's view: nothing but the pool. Distinct objects: safe.
  class worker {
   public:
    worker(berth_peer& p, std::size_t) noexcept : pool_(&p.pool_) {}
    auto acquire() noexcept { return pool_->acquire_for(berth::bench::peers::acquire_timeout); }
    template <class H>
    static const void* connection(H& h) noexcept { return &**h; }

   private:
    berth::pool<null_adapter>* pool_;
  };

 private:
  berth::pool<null_adapter> pool_;
};

}  // namespace

int main(int argc, char** argv) {
  return berth::bench::peers::run_driver<berth_peer>(argc, argv, "berth", BERTH_PEER_VARIANT);
}
