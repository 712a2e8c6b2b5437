// demand_window.hpp: the adaptive min_idle's memory of recent demand
// (issue 11, pool_options::adaptive_min_idle): the peak of the reaper's
// demand samples over a sliding window, and the step that moves min_idle
// towards it.
//
// Owns: the samples of the window. Never touches: slots, the pool, the clock
// (the reaper passes `now`). Pure policy, unit-tested with plain values
// (tests/core/demand_window_test.cpp).
//
// Why a windowed peak and a halving fall: min_idle is the number of
// connections kept open for the next burst, so it should follow the bursts,
// not the average; and a pool that has just closed what a burst opened
// should not reopen it a moment later. The peak holds min_idle up for the
// window after the burst, then it falls by half the distance per pass, so a
// burst that comes back within a few passes finds most of its connections.
//
// Synchronization: none; reaper thread only.
#pragma once

#include <berth/clock.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <utility>

namespace berth::detail {

/// The largest demand sample over the last `span`.
/// Thread-safety: none (the reaper thread's).
class demand_window {
 public:
  explicit demand_window(std::chrono::nanoseconds span) : span_(span) {}

  /// Adds the sample taken at `now` (not earlier than the previous one) and
  /// returns the largest sample taken in (now - span, now]. Amortized O(1);
  /// holds at most one sample per call within the span. May throw
  /// std::bad_alloc, after which the window is unchanged but for samples
  /// that had left it.
  std::size_t observe(clock_source::time_point now, std::size_t demand) {
    while (!samples_.empty() && samples_.front().first <= now - span_) samples_.pop_front();
    while (!samples_.empty() && samples_.back().second <= demand) samples_.pop_back();
    samples_.emplace_back(now, demand);
    return samples_.front().second;  // decreasing from the front: the front is the peak
  }

 private:
  std::chrono::nanoseconds span_;
  /// Strictly decreasing in demand from front to back, increasing in time.
  std::deque<std::pair<clock_source::time_point, std::size_t>> samples_;
};

/// The min_idle after one adaptive step: the peak clamped to
/// [floor, min(ceiling, max_size)]; reached at once when it is higher than
/// `current`, else approached by half the distance per step, rounded up (a
/// distance of 1 closes in one step). A current value above the upper
/// bound (a resize lowered max_size) drops to it at once. Pure.
constexpr std::size_t next_min_idle(std::size_t current, std::size_t peak, std::size_t floor, std::size_t ceiling,
                                    std::size_t max_size) noexcept {
  const std::size_t high = std::min(ceiling, max_size);
  const std::size_t target = std::min(std::max(peak, floor), high);
  if (target >= current) return target;
  if (current > high) return high;
  return current - (current - target + 1) / 2;
}

}  // namespace berth::detail
