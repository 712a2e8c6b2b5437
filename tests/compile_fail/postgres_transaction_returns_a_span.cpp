// Must not compile: run_transaction with a function that returns a std::span
// into the connection's result (it would dangle once the connection is back
// in its pool).
#include <berth/postgres/retry.hpp>

#include <cstddef>
#include <span>

std::span<const std::byte> first_blob(berth::pool<berth::postgres::adapter>& p) {
  static std::byte storage[1];
  return berth::postgres::run_transaction(p, {}, [](berth::postgres::connection&) {
    return std::span<const std::byte>(storage, 1);
  });
}
