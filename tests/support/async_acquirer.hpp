// async_acquirer.hpp: an acquirer on a thread of its own, for tests that
// interleave it with releases on others.
#pragma once

#include <berth/acquire_error.hpp>

#include <chrono>
#include <future>

namespace berth::testing {

/// How an acquirer thread's acquire ended.
struct acquire_outcome {
  bool served = false;
  acquire_error error;  ///< when not served
};

/// Starts a thread that runs setup() (e.g. sets a thread-local role), then
/// p.acquire_for(timeout); a lease it gets is released at once, so the next
/// waiter can be served too. Thread-safety: p must outlive the future.
template <class Pool, class Setup>
std::future<acquire_outcome> start_acquirer(Pool& p, std::chrono::nanoseconds timeout, Setup setup) {
  return std::async(std::launch::async, [&p, timeout, setup] {
    setup();
    acquire_outcome out;
    auto r = p.acquire_for(timeout);
    if (r) {
      out.served = true;
      r.value().release();
    } else {
      out.error = r.error();
    }
    return out;
  });
}

/// Whether the acquirer has returned. Never blocks.
inline bool ready(const std::future<acquire_outcome>& f) {
  return f.wait_for(std::chrono::seconds{0}) == std::future_status::ready;
}

}  // namespace berth::testing
