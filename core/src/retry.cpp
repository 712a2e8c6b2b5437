// retry.cpp: see retry.hpp.
#include <berth/retry.hpp>

#include <berth/detail/backoff.hpp>
#include <berth/detail/duration.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>

namespace berth {
namespace {

constexpr const char* policy_struct = "retry_policy";

/// A uniform draw in [0, 1) for jitter, from a per-thread generator.
double jitter_unit() {
  thread_local std::minstd_rand rng(static_cast<std::uint_fast32_t>(std::random_device{}()));
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

/// Wakes a sleeper when a fake clock jumps (the steady clock never does).
class waker final : public clock_listener {
 public:
  void on_clock_advanced() noexcept override {
    std::lock_guard lk(mutex);
    cv.notify_all();
  }
  std::mutex mutex;
  std::condition_variable cv;
};

std::string commit_unknown_message(const db_error& e, std::uint32_t attempt) {
  return "COMMIT of attempt " + std::to_string(attempt) +
         " got no answer, so the transaction may or may not have committed; it was not run again (" +
         e.engine_message() + ")";  // not what(): the SQL, which this error shows too, would show twice
}

}  // namespace

const char* to_string(retry_verdict v) noexcept {
  switch (v) {
    case retry_verdict::retry: return "retry";
    case retry_verdict::not_retryable: return "not_retryable";
    case retry_verdict::outcome_unknown: return "outcome_unknown";
    case retry_verdict::attempts_exhausted: return "attempts_exhausted";
    case retry_verdict::budget_exhausted: return "budget_exhausted";
  }
  return "?";
}

std::optional<options_error> validate(const retry_policy& p) {
  using std::to_string;
  if (p.max_attempts < 1) return options_error("max_attempts", "must be >= 1 (1: no retry), got 0", policy_struct);
  if (p.budget.count() <= 0)
    return options_error("budget", "must be > 0 ms, got " + to_string(p.budget.count()) + " ms", policy_struct);
  if (p.budget > max_option_duration)
    return options_error("budget", "must be <= " + to_string(max_option_duration.count()) + " h", policy_struct);
  if (p.initial_backoff.count() < 0)
    return options_error("initial_backoff", "must be >= 0 ms, got " + to_string(p.initial_backoff.count()) + " ms",
                         policy_struct);
  if (p.initial_backoff > max_option_duration)
    return options_error("initial_backoff", "must be <= " + to_string(max_option_duration.count()) + " h",
                         policy_struct);
  if (p.max_backoff < p.initial_backoff)
    return options_error("max_backoff",
                         "must be >= initial_backoff (" + to_string(p.initial_backoff.count()) + " ms), got " +
                             to_string(p.max_backoff.count()) + " ms",
                         policy_struct);
  if (p.max_backoff > max_option_duration)
    return options_error("max_backoff", "must be <= " + to_string(max_option_duration.count()) + " h",
                         policy_struct);
  return std::nullopt;
}

commit_unknown_error::commit_unknown_error(const db_error& e, std::uint32_t attempt)
    : db_error(e.code(), commit_unknown_message(e, attempt), e.sql()), attempt_(attempt) {}

attempt_context::time_point attempt_context::deadline_within(std::chrono::nanoseconds timeout) const noexcept {
  return std::min(deadline_, detail::deadline_after(clock_->now(), timeout));
}

retry_verdict decide(const retry_policy& p, std::error_code code, bool in_commit, std::uint32_t attempt,
                     clock_source::time_point now, std::chrono::nanoseconds delay,
                     clock_source::time_point deadline) noexcept {
  if (in_commit && (code == db_errc::connection_lost || code == db_errc::timeout))
    return retry_verdict::outcome_unknown;
  if (code != db_errc::retryable) return retry_verdict::not_retryable;
  if (attempt >= p.max_attempts) return retry_verdict::attempts_exhausted;
  if (detail::saturating_add(now, delay) >= deadline) return retry_verdict::budget_exhausted;
  return retry_verdict::retry;
}

std::chrono::nanoseconds retry_delay(const retry_policy& p, std::uint32_t failures, double unit) noexcept {
  // creation_backoff is the exponential, capped, equal-jitter delay the
  // creator uses; unit 1 is the delay without jitter.
  return detail::creation_backoff(p.initial_backoff, p.max_backoff, failures, p.jitter ? unit : 1.0);
}

namespace detail {

retry_loop::retry_loop(const retry_policy& p, clock_source& clock, clock_source::time_point deadline)
    : p_(p), clock_(clock), start_(clock.now()) {
  if (auto e = validate(p)) throw *e;
  deadline_ = std::min(deadline, deadline_after(start_, p.budget));
}

void retry_loop::failed(const attempt_context& ctx, const db_error& e) {
  const auto now = clock_.now();
  const std::chrono::nanoseconds delay = retry_delay(p_, ctx.attempt(), p_.jitter ? jitter_unit() : 1.0);
  const retry_verdict v = decide(p_, e.code(), ctx.in_commit(), ctx.attempt(), now, delay, deadline_);
  if (p_.on_retry) {
    p_.on_retry(retry_event{.attempt = ctx.attempt(),
                            .verdict = v,
                            .code = e.code(),
                            .message = e.what(),
                            .in_commit = ctx.in_commit(),
                            .delay = v == retry_verdict::retry ? delay : std::chrono::nanoseconds{0},
                            .elapsed = saturating_sub(now, start_)});
  }
  if (v == retry_verdict::retry) {
    // From the failure's clock reading, so that time passing while on_retry
    // runs (or a fake clock advanced meanwhile) counts toward the delay.
    wake_at_ = saturating_add(now, delay);
    return;
  }
  if (v == retry_verdict::outcome_unknown) throw commit_unknown_error(e, ctx.attempt());
  throw;  // the handled exception, as it was
}

void retry_loop::wait() const {
  const auto until = wake_at_;
  if (clock_.now() >= until) return;
  waker w;
  clock_.subscribe(w);
  {
    std::unique_lock lk(w.mutex);
    while (clock_.now() < until) clock_.wait_until(w.cv, lk, until);
  }
  clock_.unsubscribe(w);
}

}  // namespace detail
}  // namespace berth
