// circuit_breaker.cpp: see circuit_breaker.hpp.
#include <berth/detail/backoff.hpp>
#include <berth/detail/circuit_breaker.hpp>
#include <berth/detail/duration.hpp>

#include <algorithm>
#include <limits>

namespace berth {

const char* to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed: return "closed";
    case breaker_state::open: return "open";
    case breaker_state::half_open: return "half_open";
  }
  return "unknown";
}

}  // namespace berth

namespace berth::detail {

namespace {
std::chrono::nanoseconds non_negative(std::chrono::nanoseconds d) noexcept {
  return std::max(d, std::chrono::nanoseconds::zero());
}
}  // namespace

circuit_breaker::circuit_breaker(const breaker_config& config, std::uint_fast32_t seed)
    : config_{config.threshold, non_negative(config.window), non_negative(config.recovery),
              std::max(non_negative(config.recovery_max), non_negative(config.recovery))},
      failures_(config.threshold),
      jitter_rng_(seed) {}

circuit_breaker::admission circuit_breaker::peek(time_point now) const noexcept {
  switch (state_) {
    case breaker_state::closed: return admission::attempt;
    case breaker_state::open: return now >= probe_at_ ? admission::probe : admission::refuse;
    case breaker_state::half_open: return admission::refuse;
  }
  return admission::refuse;
}

circuit_breaker::admission circuit_breaker::admit(time_point now) noexcept {
  const admission a = peek(now);
  if (a == admission::probe) state_ = breaker_state::half_open;
  return a;
}

bool circuit_breaker::succeeded() noexcept {
  recorded_ = 0;
  next_ = 0;
  failed_probes_ = 0;
  if (state_ == breaker_state::closed) return false;
  state_ = breaker_state::closed;
  return true;
}

bool circuit_breaker::failed(time_point now) noexcept {
  switch (state_) {
    case breaker_state::open:  // a late outcome of an attempt admitted before it opened
      return false;
    case breaker_state::half_open:
      if (failed_probes_ != std::numeric_limits<std::uint32_t>::max()) ++failed_probes_;  // saturates
      open_for(now, next_interval());
      return true;
    case breaker_state::closed:
      break;
  }
  if (!enabled()) return false;
  const std::uint32_t t = config_.threshold;
  failures_[next_] = now;
  next_ = next_ + 1 == t ? 0 : next_ + 1;
  if (recorded_ < t) ++recorded_;
  // Full ring: failures_[next_] is the oldest of the last t failures, and
  // the t-th within the window opens the breaker.
  if (recorded_ < t || saturating_sub(now, failures_[next_]) > config_.window) return false;
  failed_probes_ = 0;
  open_for(now, config_.recovery);
  return true;
}

void circuit_breaker::open_for(time_point now, std::chrono::nanoseconds interval) noexcept {
  state_ = breaker_state::open;
  interval_ = interval;
  probe_at_ = saturating_add(now, interval);
  recorded_ = 0;
  next_ = 0;
  ++times_opened_;
}

std::chrono::nanoseconds circuit_breaker::next_interval() noexcept {
  // failed_probes_ >= 1: d = recovery * 2^failed_probes_, capped, jittered
  // into [d/2, d]; creation_backoff counts its first failure as 2^0, hence +1.
  // It saturates at the cap whatever the count (no overflow).
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(jitter_rng_);
  const std::uint32_t n =
      failed_probes_ == std::numeric_limits<std::uint32_t>::max() ? failed_probes_ : failed_probes_ + 1;
  const auto d = creation_backoff(config_.recovery, config_.recovery_max, n, unit);
  return std::clamp(d, config_.recovery, config_.recovery_max);
}

}  // namespace berth::detail
