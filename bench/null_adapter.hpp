// null_adapter.hpp: an adapter whose connection is a trivial struct, so that a
// benchmark measures the pool's own overhead and nothing else.
//
// connect/validate/reset/close do no work and never fail. A real adapter's
// costs (a round trip to validate, a ROLLBACK to reset) belong in the
// per-adapter benchmarks, not here.
#pragma once

#include <berth/adapter.hpp>
#include <berth/result.hpp>

#include <cstdint>
#include <type_traits>

namespace berth::bench {

/// A connection that is a plain value: nothing to open, check or close.
struct null_connection {
  /// Something for a benchmark to touch; the pool never reads it.
  std::uint64_t payload = 0;
};
static_assert(std::is_trivially_copyable_v<null_connection>);

/// Satisfies berth::adapter. Stateless.
/// Distinct objects: safe. Shared objects: safe (no state).
class null_adapter {
 public:
  using connection_type = null_connection;

  /// A new connection. Thread-safe. Never blocks. Never fails.
  result<null_connection, adapter_error> connect() noexcept { return null_connection{}; }
  /// Always usable. Thread-safe. Never blocks.
  result<void, adapter_error> validate(null_connection&) noexcept { return {}; }
  /// Nothing to clean. Thread-safe. Never blocks.
  result<void, adapter_error> reset(null_connection&) noexcept { return {}; }
  /// Nothing to release. Thread-safe. Never blocks.
  void close(null_connection&) noexcept {}
  /// A null connection has no session state, so it never needs a reset;
  /// declaring so spares each release the unwinding check (lease.hpp), as
  /// it does for any adapter that can see its session state.
  bool needs_reset(const null_connection&) const noexcept { return false; }
};

static_assert(adapter<null_adapter>);

}  // namespace berth::bench
