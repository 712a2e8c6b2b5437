// creator.cpp: see creator.hpp.
#include <berth/detail/backoff.hpp>
#include <berth/detail/creator.hpp>
#include <berth/detail/duration.hpp>

#include <utility>

namespace berth::detail {

void creator::succeeded_locked() noexcept {
  --in_flight_;
  consecutive_failures_ = 0;
  retry_at_ = {};  // with one attempt at a time it has passed already; say so
  last_error_ = {};
}

void creator::failed_locked(adapter_error error, clock_source::time_point now) noexcept {
  --in_flight_;
  ++consecutive_failures_;
  try {
    last_failure_ = error;
  } catch (...) {  // out of memory: last_error_ below still says it while it lasts
  }
  last_error_ = std::move(error);
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(jitter_rng_);
  retry_at_ = saturating_add(now, creation_backoff(opts_.creation_backoff_initial, opts_.creation_backoff_max,
                                                   consecutive_failures_, unit));
}

}  // namespace berth::detail
