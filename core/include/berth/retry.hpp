// retry.hpp: re-running a whole transaction after a retryable failure, and
// only when that is safe.
//
// The adapters' entry points (berth::postgres::run_transaction,
// berth::sqlite::run_transaction, sqlite::database::write) build on
// run_with_retry(): each attempt takes a connection, opens the transaction,
// runs the caller's function, commits; the runner decides what a failure
// means:
//
//   failure of an attempt                              verdict
//   -------------------------------------------------  ---------------------------------------
//   not a berth::db_error (the caller's own exception,  none: propagates at once, no event
//     acquire_exception, std::logic_error, ...)
//   in COMMIT, db_errc::connection_lost or ::timeout   outcome_unknown: the server may have
//                                                       committed; never retried, thrown as
//                                                       commit_unknown_error (nesting the error)
//   any other than db_errc::retryable                  not_retryable: rethrown
//   retryable, attempts used up                        attempts_exhausted: rethrown
//   retryable, the next delay would reach the deadline budget_exhausted: rethrown
//   retryable (40001, 40P01, SQLITE_BUSY*/LOCKED_*)     retry: after the delay, a new attempt
//
// A retryable failure is safe to retry because the transaction is known to
// have rolled back: PostgreSQL aborts a transaction that fails with 40001 or
// 40P01, at a statement or at COMMIT; SQLite's BUSY leaves it open, and the
// attempt's transaction guard rolls it back as the exception leaves it.
// Each attempt takes a fresh connection from the pool (the failed one goes
// back through the pool's reset, or is discarded if broken), so no attempt
// inherits a previous one's session state.
//
// The caller's function may run more than once: only its last run's database
// effects commit. Keep other side effects out of it, or make them idempotent.
#pragma once

#include <berth/clock.hpp>
#include <berth/db_errc.hpp>
#include <berth/db_error.hpp>
#include <berth/options.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace berth {

/// What the runner does after a failed attempt (see the table in retry.hpp).
enum class retry_verdict : std::uint8_t {
  retry,               ///< run the transaction again after the delay
  not_retryable,       ///< the error is not db_errc::retryable: rethrown
  outcome_unknown,     ///< COMMIT got no answer: commit_unknown_error, never retried
  attempts_exhausted,  ///< retryable, but max_attempts were made: rethrown
  budget_exhausted,    ///< retryable, but the next delay would reach the deadline: rethrown
};

/// "retry", "not_retryable", ... Thread-safe. Never allocates.
const char* to_string(retry_verdict v) noexcept;

/// One failed attempt, as retry_policy::on_retry sees it.
/// Thread-safety: a value type; message is valid during the call only.
struct retry_event {
  std::uint32_t attempt = 0;  ///< the attempt that failed, 1-based
  retry_verdict verdict = retry_verdict::retry;
  std::error_code code;      ///< the error's code (engine category)
  std::string_view message;  ///< the error's what() (password-free, as every berth error)
  bool in_commit = false;    ///< it failed in COMMIT
  std::chrono::nanoseconds delay{0};    ///< before the next attempt (verdict retry), else 0
  std::chrono::nanoseconds elapsed{0};  ///< since the run began
};

/// How a transaction is retried. A plain struct, validated at each run
/// (validate(); options_error naming "retry_policy.<field>").
/// Thread-safety: a value type; distinct objects safe, shared objects safe
/// for concurrent runs (on_retry must then be thread-safe).
struct retry_policy {
  /// Attempts in all, the first included. Default 5. Must be >= 1 (1: no retry).
  std::uint32_t max_attempts = 5;
  /// Time for the whole run: every attempt, its wait for a connection (an
  /// attempt's acquire deadline is the earlier of this and the pool's
  /// acquire_timeout) and the delays. No retry is started whose delay would
  /// reach it. Default 30 s. Range (0, max_option_duration].
  std::chrono::milliseconds budget{30'000};
  /// Delay before the second attempt, doubled for each further one up to
  /// max_backoff. Default 10 ms. Range [0, max_option_duration]; 0: none.
  std::chrono::milliseconds initial_backoff{10};
  /// Cap of the delay. Default 1 s. Range [initial_backoff, max_option_duration].
  std::chrono::milliseconds max_backoff{1'000};
  /// Draw each delay uniformly from [d/2, d] ("equal jitter", as the pool's
  /// creation backoff), so transactions that conflicted do not retry in step
  /// and conflict again. Default true.
  bool jitter = true;
  /// Called in the running thread after each attempt that failed with a
  /// berth::db_error, with the verdict (before the delay, for a retry), so
  /// the attempts can be logged or counted. Must not throw. Default none.
  std::function<void(const retry_event&)> on_retry{};
};

/// The first invalid field as options_error ("berth: invalid
/// retry_policy.<field>: ..."), or nullopt. Thread-safe.
std::optional<options_error> validate(const retry_policy& p);

/// Thrown by the runner instead of a connection-lost or timeout error raised
/// by COMMIT: the transaction may or may not have committed, so it was not
/// run again. The original error is nested (std::rethrow_if_nested); code()
/// and engine_message() are its. Check whether the transaction's effects are
/// there before running it again (or make it idempotent).
/// Thread-safety: a value type.
class commit_unknown_error : public virtual db_error, public std::nested_exception {
 public:
  /// Call inside the handler of the error (it is nested). Allocates.
  commit_unknown_error(const db_error& e, std::uint32_t attempt);
  /// The attempt whose COMMIT failed, 1-based.
  std::uint32_t attempt() const noexcept { return attempt_; }

 private:
  std::uint32_t attempt_;
};

/// What an attempt knows about its run: its number, the run's deadline, and
/// whether it has reached COMMIT. Thread-safety: used by the attempt's thread.
class attempt_context {
 public:
  using time_point = clock_source::time_point;

  /// This attempt's number, 1-based. Never blocks.
  std::uint32_t attempt() const noexcept { return attempt_; }
  /// When the run's budget ends (time_point::max(): never). Never blocks.
  time_point deadline() const noexcept { return deadline_; }
  /// The earlier of deadline() and now + timeout: the deadline of a wait
  /// that has its own timeout, such as an acquire with the pool's
  /// acquire_timeout. Reads the clock.
  time_point deadline_within(std::chrono::nanoseconds timeout) const noexcept;
  /// Call right before sending COMMIT: from then on a connection-lost or
  /// timeout failure means the outcome is unknown. Never blocks.
  void committing() noexcept { in_commit_ = true; }
  /// True after committing(). Never blocks.
  bool in_commit() const noexcept { return in_commit_; }

  attempt_context(std::uint32_t attempt, time_point deadline, const clock_source& clock) noexcept
      : attempt_(attempt), deadline_(deadline), clock_(&clock) {}

 private:
  std::uint32_t attempt_;
  time_point deadline_;
  const clock_source* clock_;
  bool in_commit_ = false;
};

/// The verdict for attempt `attempt` failing with `code` (in COMMIT or not)
/// at `now`, when a retry would wait `delay` first and the run ends at
/// `deadline`. Pure: the table in retry.hpp. Thread-safe. Never allocates.
retry_verdict decide(const retry_policy& p, std::error_code code, bool in_commit, std::uint32_t attempt,
                     clock_source::time_point now, std::chrono::nanoseconds delay,
                     clock_source::time_point deadline) noexcept;

/// The delay after `failures` failed attempts (>= 1): initial_backoff *
/// 2^(failures-1), capped at max_backoff, then with jitter uniformly in
/// [d/2, d] by unit in [0, 1] (unit is ignored without jitter). Pure.
/// Thread-safe. Never allocates.
std::chrono::nanoseconds retry_delay(const retry_policy& p, std::uint32_t failures, double unit) noexcept;

namespace detail {

/// The loop's state, out of line. Used by run_with_retry_until only.
class retry_loop {
 public:
  /// Validates p (throws options_error); the run ends at the earlier of
  /// deadline and now + p.budget.
  retry_loop(const retry_policy& p, clock_source& clock, clock_source::time_point deadline);
  /// The next attempt's context.
  attempt_context next() noexcept { return attempt_context(++attempt_, deadline_, clock_); }
  /// Called inside the handler of e: reports the attempt (on_retry) and
  /// returns (the next attempt is to start after the delay), or gives up by
  /// rethrowing the handled exception (or commit_unknown_error nesting it).
  void failed(const attempt_context& ctx, const db_error& e);
  /// Sleeps on the clock until the delay that failed() chose has passed,
  /// counted from the failure (a fake clock's advance() wakes it).
  void wait() const;

 private:
  const retry_policy& p_;
  clock_source& clock_;
  clock_source::time_point start_;
  clock_source::time_point deadline_;
  clock_source::time_point wake_at_{};  ///< when the next attempt may start
  std::uint32_t attempt_ = 0;
};

}  // namespace detail

/// Runs fn(attempt_context&) until it returns, re-running it after a
/// failure that the table in retry.hpp says to retry, and returns its
/// result. The run ends at the earlier of `deadline` and now + p.budget.
/// Throws options_error for an invalid p (before any attempt), what fn
/// throws when not retried (commit_unknown_error for an unknown commit).
/// fn must itself take its connection and open and commit its transaction
/// (calling ctx.committing() right before COMMIT), bounding its waits by
/// ctx.deadline(). Sleeps between attempts on `clock`. Thread-safe (p is
/// only read). Blocks.
template <class F>
  requires std::invocable<F&, attempt_context&>
std::invoke_result_t<F&, attempt_context&> run_with_retry_until(clock_source::time_point deadline,
                                                                 const retry_policy& p, F&& fn,
                                                                 clock_source& clock = clock_source::steady()) {
  detail::retry_loop loop(p, clock, deadline);
  for (;;) {
    attempt_context ctx = loop.next();
    try {
      return fn(ctx);
    } catch (const db_error& e) {
      loop.failed(ctx, e);  // rethrows unless the verdict is retry
    }
    loop.wait();  // outside the handler: the failed attempt's exception is gone
  }
}

/// run_with_retry_until with no deadline but p.budget's. Thread-safe. Blocks.
template <class F>
  requires std::invocable<F&, attempt_context&>
std::invoke_result_t<F&, attempt_context&> run_with_retry(const retry_policy& p, F&& fn,
                                                          clock_source& clock = clock_source::steady()) {
  return run_with_retry_until(clock_source::time_point::max(), p, std::forward<F>(fn), clock);
}

}  // namespace berth
