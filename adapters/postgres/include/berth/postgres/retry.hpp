// retry.hpp: berth::postgres::run_transaction, a transaction on a pooled
// connection re-run after a serialization failure (40001) or a deadlock
// (40P01), on berth/retry.hpp's runner.
//
//   berth::pool<berth::postgres::adapter> db{...};
//   auto balance = berth::postgres::run_transaction(
//       db, {.isolation = berth::postgres::isolation_level::serializable},
//       [&](berth::postgres::connection& c) {
//         auto r = c.execute("SELECT balance FROM accounts WHERE id = $1", id).value();
//         ...
//         return r.get<std::int64_t>(0, 0);
//       },
//       {.max_attempts = 10, .budget = 5s});
//
// Each attempt takes a connection (waiting until the earlier of the budget's
// end and the pool's acquire_timeout), runs BEGIN with `t`, fn, COMMIT, and
// hands the connection back. PostgreSQL has rolled back a transaction that
// failed with 40001 or 40P01 (at a statement or at COMMIT), so the runner
// starts it again on a fresh lease. A COMMIT that gets no answer (the
// connection lost, 08xxx/57P0x) may have committed: never retried, thrown as
// berth::commit_unknown_error. Any other failure propagates untouched.
#pragma once

#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/connection.hpp>
#include <berth/postgres/transaction.hpp>
#include <berth/retry.hpp>

#include <type_traits>

namespace berth::postgres {

/// Runs fn(connection&) inside a transaction begun with `t` on a connection
/// from p, re-running the whole transaction after 40001 or 40P01 as r
/// allows (berth/retry.hpp), and returns fn's result. fn may run more than
/// once: only its last run's effects commit; keep other side effects out of
/// it. fn must not COMMIT or ROLLBACK the transaction itself (nested
/// berth::postgres::transaction guards become savepoints). Throws
/// options_error for an invalid r, acquire_exception when no connection is
/// free by an attempt's deadline (not retried), postgres_error (a
/// retryable_error) when r's attempts or budget run out,
/// commit_unknown_error when COMMIT got no answer, and whatever else fn or
/// the server throws (not retried). Thread-safe. Blocks.
template <class F>
  requires std::is_invocable_v<F&, connection&>
std::invoke_result_t<F&, connection&> run_transaction(berth::pool<adapter>& p, const transaction_options& t, F&& fn,
                                                      const retry_policy& r = {}) {
  using R = std::invoke_result_t<F&, connection&>;
  static_assert(!berth::detail::borrows_v<R>,
                "berth::postgres::run_transaction: fn may not return a reference, std::string_view or std::span (nor a pointer or "
                "std::reference_wrapper, nor one inside an optional, pair, tuple, variant or container: it would "
                "refer into a connection that is back in its pool); return an owning value (std::string, std::vector)");
  return berth::run_with_retry(r, [&](attempt_context& ctx) -> R {
    // acquire_exception (timeout, pool_closed) is no db_error: not retried.
    auto l = p.acquire_until(ctx.deadline_within(p.options().acquire_timeout)).value();
    connection& c = *l;
    transaction tx(c, t);
    if constexpr (std::is_void_v<R>) {
      fn(c);
      ctx.committing();
      tx.commit();
    } else {
      R v = fn(c);
      ctx.committing();
      tx.commit();
      return v;
    }
  });
}

}  // namespace berth::postgres
