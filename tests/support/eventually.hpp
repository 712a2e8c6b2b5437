// eventually.hpp: wait for another thread's progress without sleeping.
#pragma once

#include <chrono>
#include <thread>

namespace berth::testing {

/// Yields until pred() holds; false after a generous real-time bound (a hung
/// test fails instead of blocking CI). Not a timing assertion.
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds bound = std::chrono::seconds{20}) {
  const auto end = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace berth::testing
