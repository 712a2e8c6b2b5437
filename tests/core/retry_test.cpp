// retry_test.cpp: the retry policy's validation, the verdict table and the
// delays as pure functions, and the runner with a fake engine's errors and a
// fake clock (no sleeps).
#include <berth/retry.hpp>

#include "support/enum_names.hpp"
#include "support/eventually.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using time_point = clock_source::time_point;

/// An engine code of class c (db_category's own codes compare equal to
/// their conditions).
std::error_code code_of(db_errc c) { return {static_cast<int>(c), db_category()}; }
const std::error_code unclassified = std::make_error_code(std::errc::invalid_argument);

[[noreturn]] void fail_with(db_errc c) { throw_db_error(code_of(c), "fake engine failure"); }

// ---- the policy ----------------------------------------------------------------

TEST(RetryPolicy, DefaultsAreValid) { EXPECT_FALSE(validate(retry_policy{}).has_value()); }

TEST(RetryPolicy, EveryBadFieldIsNamed) {
  struct bad_case {
    std::string field;
    std::function<void(retry_policy&)> mutate;
  };
  const std::vector<bad_case> cases = {
      {"max_attempts", [](retry_policy& p) { p.max_attempts = 0; }},
      {"budget", [](retry_policy& p) { p.budget = 0ms; }},
      {"budget", [](retry_policy& p) { p.budget = -1ms; }},
      {"budget", [](retry_policy& p) { p.budget = max_option_duration + 1ms; }},
      {"initial_backoff", [](retry_policy& p) { p.initial_backoff = -1ms; }},
      {"initial_backoff", [](retry_policy& p) { p.initial_backoff = p.max_backoff = std::chrono::milliseconds::max(); }},
      {"max_backoff", [](retry_policy& p) {
         p.initial_backoff = 100ms;
         p.max_backoff = 99ms;
       }},
      {"max_backoff", [](retry_policy& p) { p.max_backoff = max_option_duration + 1ms; }},
  };
  for (const auto& c : cases) {
    retry_policy p;
    c.mutate(p);
    auto e = validate(p);
    ASSERT_TRUE(e.has_value()) << c.field;
    EXPECT_EQ(e->field(), c.field);
    EXPECT_NE(std::string(e->what()).find("berth: invalid retry_policy." + c.field + ": "), std::string::npos)
        << e->what();
  }
}

// ---- the verdict table ----------------------------------------------------------

TEST(RetryDecide, TheWholeTable) {
  retry_policy p;
  p.max_attempts = 3;
  const time_point t0{1h};
  const time_point deadline = t0 + 100ms;
  auto at = [&](std::error_code c, bool commit, std::uint32_t attempt, time_point now = time_point{1h},
                nanoseconds delay = 10ms) { return decide(p, c, commit, attempt, now, delay, deadline); };

  // Retryable, in a statement or in COMMIT: retried while attempts and budget last.
  EXPECT_EQ(at(code_of(db_errc::retryable), false, 1), retry_verdict::retry);
  EXPECT_EQ(at(code_of(db_errc::retryable), true, 2), retry_verdict::retry) << "40001 at COMMIT rolled back";
  EXPECT_EQ(at(code_of(db_errc::retryable), false, 3), retry_verdict::attempts_exhausted);
  EXPECT_EQ(at(code_of(db_errc::retryable), false, 1, t0 + 89ms), retry_verdict::retry);
  EXPECT_EQ(at(code_of(db_errc::retryable), false, 1, t0 + 90ms), retry_verdict::budget_exhausted)
      << "a retry whose delay reaches the deadline is not started";
  EXPECT_EQ(at(code_of(db_errc::retryable), false, 1, t0 + 200ms), retry_verdict::budget_exhausted);

  // Not retryable, whatever is left.
  for (const bool commit : {false, true}) {
    EXPECT_EQ(at(code_of(db_errc::constraint_violation), commit, 1), retry_verdict::not_retryable);
    EXPECT_EQ(at(unclassified, commit, 1), retry_verdict::not_retryable);
  }
  EXPECT_EQ(at(code_of(db_errc::connection_lost), false, 1), retry_verdict::not_retryable);
  EXPECT_EQ(at(code_of(db_errc::timeout), false, 1), retry_verdict::not_retryable);

  // A COMMIT without an answer: unknown, before anything else is looked at.
  EXPECT_EQ(at(code_of(db_errc::connection_lost), true, 1), retry_verdict::outcome_unknown);
  EXPECT_EQ(at(code_of(db_errc::timeout), true, 1), retry_verdict::outcome_unknown);
  EXPECT_EQ(at(code_of(db_errc::connection_lost), true, 3, t0 + 1s), retry_verdict::outcome_unknown);

  // No deadline at all (time_point::max()): the budget never runs out.
  EXPECT_EQ(decide(p, code_of(db_errc::retryable), false, 1, time_point::max() - 1ns, 1h, time_point::max()),
            retry_verdict::budget_exhausted);
  EXPECT_EQ(decide(p, code_of(db_errc::retryable), false, 1, t0, 1h, time_point::max()), retry_verdict::retry);
}

TEST(RetryDelay, DoublesUpToTheCapWithEqualJitter) {
  retry_policy p;
  p.initial_backoff = 10ms;
  p.max_backoff = 70ms;
  p.jitter = false;
  EXPECT_EQ(retry_delay(p, 1, 0.0), 10ms);
  EXPECT_EQ(retry_delay(p, 2, 0.0), 20ms);
  EXPECT_EQ(retry_delay(p, 3, 0.0), 40ms);
  EXPECT_EQ(retry_delay(p, 4, 0.0), 70ms);
  EXPECT_EQ(retry_delay(p, 1000, 0.0), 70ms);
  p.jitter = true;
  EXPECT_EQ(retry_delay(p, 3, 0.0), 20ms) << "half of 40 ms";
  EXPECT_EQ(retry_delay(p, 3, 1.0), 40ms);
  EXPECT_EQ(retry_delay(p, 3, 0.5), 30ms);
  p.initial_backoff = p.max_backoff = 0ms;
  EXPECT_EQ(retry_delay(p, 5, 0.7), 0ms);
}

// ---- the runner -----------------------------------------------------------------

/// A policy without delays, recording every event.
struct recorder {
  std::mutex m;
  std::vector<retry_event> events;
  std::vector<std::string> messages;
  retry_policy policy(std::uint32_t attempts = 5) {
    retry_policy p;
    p.max_attempts = attempts;
    p.initial_backoff = p.max_backoff = 0ms;
    p.on_retry = [this](const retry_event& e) {
      std::lock_guard lk(m);
      events.push_back(e);
      messages.emplace_back(e.message);
    };
    return p;
  }
};

TEST(RetryRunner, RetriesRetryableFailuresUntilSuccess) {
  recorder rec;
  int calls = 0;
  const int r = run_with_retry(rec.policy(), [&](attempt_context& ctx) {
    ++calls;
    EXPECT_EQ(ctx.attempt(), static_cast<std::uint32_t>(calls));
    if (calls == 2) ctx.committing();  // a 40001 at COMMIT is retried too
    if (calls < 3) fail_with(db_errc::retryable);
    return 42;
  });
  EXPECT_EQ(r, 42);
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[0].attempt, 1u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::retry);
  EXPECT_FALSE(rec.events[0].in_commit);
  EXPECT_TRUE(rec.events[1].in_commit);
  EXPECT_EQ(rec.events[1].code, code_of(db_errc::retryable));
  EXPECT_NE(rec.messages[1].find("fake engine failure"), std::string::npos);
}

TEST(RetryRunner, VoidFunctions) {
  int calls = 0;
  run_with_retry(recorder{}.policy(), [&](attempt_context&) {
    if (++calls == 1) fail_with(db_errc::retryable);
  });
  EXPECT_EQ(calls, 2);
}

TEST(RetryRunner, ExceptionsThatAreNotDatabaseErrorsPropagateAtOnce) {
  recorder rec;
  int calls = 0;
  EXPECT_THROW(run_with_retry(rec.policy(),
                              [&](attempt_context&) -> int {
                                ++calls;
                                throw std::runtime_error("the caller's own failure");
                              }),
               std::runtime_error);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(rec.events.empty());
}

TEST(RetryRunner, NonRetryableErrorsAreRethrownAsTheyWere) {
  recorder rec;
  int calls = 0;
  EXPECT_THROW(run_with_retry(rec.policy(),
                              [&](attempt_context&) {
                                ++calls;
                                fail_with(db_errc::constraint_violation);
                              }),
               constraint_error);
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::not_retryable);

  calls = 0;
  EXPECT_THROW(run_with_retry(rec.policy(),
                              [&](attempt_context&) {
                                ++calls;
                                fail_with(db_errc::connection_lost);  // before COMMIT: nothing committed, still not retried
                              }),
               connection_lost_error);
  EXPECT_EQ(calls, 1);
}

TEST(RetryRunner, GivesUpAfterMaxAttemptsWithTheLastError) {
  recorder rec;
  int calls = 0;
  EXPECT_THROW(run_with_retry(rec.policy(3),
                              [&](attempt_context&) {
                                ++calls;
                                fail_with(db_errc::retryable);
                              }),
               retryable_error);
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_EQ(rec.events[0].verdict, retry_verdict::retry);
  EXPECT_EQ(rec.events[1].verdict, retry_verdict::retry);
  EXPECT_EQ(rec.events[2].verdict, retry_verdict::attempts_exhausted);
}

TEST(RetryRunner, ACommitWithoutAnAnswerIsNeverRetried) {
  for (const db_errc c : {db_errc::connection_lost, db_errc::timeout}) {
    recorder rec;
    int calls = 0;
    try {
      run_with_retry(rec.policy(), [&](attempt_context& ctx) {
        ++calls;
        ctx.committing();
        fail_with(c);
      });
      ADD_FAILURE() << "no exception";
    } catch (const commit_unknown_error& e) {
      EXPECT_EQ(e.attempt(), 1u);
      EXPECT_EQ(e.code(), c);
      EXPECT_NE(std::string(e.what()).find("may or may not have committed"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("fake engine failure"), std::string::npos) << e.what();
      try {
        e.rethrow_nested();
      } catch (const db_error& inner) {
        EXPECT_EQ(inner.code(), c) << "the original error is nested";
      }
    }
    EXPECT_EQ(calls, 1);
    ASSERT_EQ(rec.events.size(), 1u);
    EXPECT_EQ(rec.events[0].verdict, retry_verdict::outcome_unknown);
    EXPECT_TRUE(rec.events[0].in_commit);
  }
}

// what() showed the SQL twice: its own (in "...") and the nested error's,
// inside the parentheses (d5a77a9).
TEST(RetryRunner, ACommitWithoutAnAnswerShowsItsSqlOnceBug) {
  const db_error lost(code_of(db_errc::connection_lost), "server closed the connection", "COMMIT");
  const commit_unknown_error e(lost, 2);
  const std::string what = e.what();
  const auto first = what.find("\"COMMIT\"");
  ASSERT_NE(first, std::string::npos) << what;
  EXPECT_EQ(what.find("\"COMMIT\"", first + 1), std::string::npos) << what;
  EXPECT_NE(what.find("server closed the connection"), std::string::npos) << what;
  EXPECT_EQ(e.sql(), "COMMIT");
}

TEST(RetryRunner, AnInvalidPolicyFailsBeforeAnyAttempt) {
  retry_policy p;
  p.max_attempts = 0;
  int calls = 0;
  EXPECT_THROW(run_with_retry(p, [&](attempt_context&) { ++calls; }), options_error);
  EXPECT_EQ(calls, 0);
}

// The budget on a fake clock: 100 ms, a fixed 30 ms delay. Attempts start at
// 0, 30, 60 and 90 ms; after the fourth the next delay would reach the
// deadline, so the run ends there. The test advances the clock only once
// the runner has reported a retry (it then waits, or is about to).
TEST(RetryRunner, TheBudgetBoundsAttemptsAndDelaysOnAFakeClock) {
  testing::fake_clock clock;
  std::atomic<int> events{0};
  std::vector<retry_event> seen(8);
  retry_policy p;
  p.max_attempts = 100;
  p.budget = 100ms;
  p.initial_backoff = p.max_backoff = 30ms;
  p.jitter = false;
  p.on_retry = [&](const retry_event& e) {
    seen[static_cast<std::size_t>(events.load())] = e;
    events.fetch_add(1);
  };
  std::vector<time_point> starts;
  std::vector<time_point> deadlines;
  std::thread runner([&] {
    EXPECT_THROW(run_with_retry(p,
                                [&](attempt_context& ctx) {
                                  starts.push_back(clock.now());
                                  deadlines.push_back(ctx.deadline_within(1h));
                                  EXPECT_EQ(ctx.deadline_within(10ms), clock.now() + 10ms);
                                  fail_with(db_errc::retryable);
                                },
                                clock),
                 retryable_error);
  });
  const time_point t0 = clock.now();
  for (int k = 1; k <= 3; ++k) {
    ASSERT_TRUE(testing::eventually([&] { return events.load() == k; }));
    clock.advance(30ms);
  }
  runner.join();
  ASSERT_EQ(events.load(), 4);
  ASSERT_EQ(starts.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(starts[i], t0 + 30ms * static_cast<int>(i));
    EXPECT_EQ(deadlines[i], t0 + 100ms) << "deadline_within is capped by the budget";
    EXPECT_EQ(seen[i].elapsed, 30ms * static_cast<int>(i));
  }
  EXPECT_EQ(seen[0].delay, 30ms);
  EXPECT_EQ(seen[2].verdict, retry_verdict::retry);
  EXPECT_EQ(seen[3].verdict, retry_verdict::budget_exhausted);
  EXPECT_EQ(seen[3].delay, 0ns);
}

TEST(RetryRunner, AnEarlierDeadlineThanTheBudgetWins) {
  testing::fake_clock clock;
  recorder rec;
  const retry_policy p = rec.policy(100);
  int calls = 0;
  EXPECT_THROW(run_with_retry_until(clock.now(), p,
                                    [&](attempt_context& ctx) {
                                      ++calls;
                                      EXPECT_EQ(ctx.deadline(), clock.now());
                                      fail_with(db_errc::retryable);
                                    },
                                    clock),
               retryable_error);
  EXPECT_EQ(calls, 1) << "a deadline already reached allows one attempt and no retry";
}

// The verdict names on_retry's callers log; "?" out of range.
TEST(RetryTest, EveryVerdictHasItsOwnName) {
  testing::expect_enum_names<retry_verdict>(
      {"retry", "not_retryable", "outcome_unknown", "attempts_exhausted", "budget_exhausted"}, "?");
}

}  // namespace
}  // namespace berth
