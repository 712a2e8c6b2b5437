// retry.hpp: berth::sqlite::run_transaction, a transaction on a pooled
// connection re-run after SQLITE_BUSY/LOCKED_* (berth/retry.hpp's runner).
//
//   berth::pool<berth::sqlite::adapter> db{berth::sqlite::adapter{{.path = "app.db"}}, {.max_size = 4}};
//   auto id = berth::sqlite::run_transaction(db, berth::sqlite::transaction_mode::immediate,
//       [&](berth::sqlite::connection& c) { ...; return id; },
//       {.max_attempts = 5, .budget = 2s});
//
// Each attempt takes a connection (acquire deadline: the earlier of the
// budget's end and the pool's acquire_timeout), caps its busy_timeout to the
// time left in the budget, runs BEGIN <mode>, fn, COMMIT, and returns the
// connection. BUSY and LOCKED (another connection or process holds the lock;
// SQLITE_BUSY_SNAPSHOT, which busy_timeout never retries) are retried: the
// attempt's transaction guard has rolled back. Plain SQLITE_LOCKED, a
// conflict inside the connection itself, is not: another run meets it
// again. berth::sqlite::database's write() and read() run on the same code.
#pragma once

#include <berth/pool.hpp>
#include <berth/retry.hpp>
#include <berth/sqlite/adapter.hpp>
#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/transaction.hpp>

#include <memory>
#include <optional>
#include <type_traits>

namespace berth::sqlite {

namespace detail {

/// A non-owning callable reference to the body of a transaction.
struct body_ref {
  void (*call)(void*, connection&);
  void* fn;
};

/// Calls run(body_ref) with fn erased, and returns fn's result from the last
/// run (an earlier attempt's result is discarded).
template <class F, class Run>
std::invoke_result_t<F&, connection&> with_body(F& fn, Run&& run) {
  using R = std::invoke_result_t<F&, connection&>;
  static_assert(!berth::detail::borrows_v<R>,
                "berth::sqlite: fn may not return a reference, std::string_view or std::span (nor a pointer or "
                "std::reference_wrapper, nor one inside an optional, pair, tuple, variant or container: it would "
                "refer into a connection that is back in its pool); return an owning value (std::string, std::vector)");
  if constexpr (std::is_void_v<R>) {
    // F may be const (a const lambda passed by reference): erase constness
    // for body_ref and restore it in call.
    auto call = [](void* f, connection& c) { (*static_cast<F*>(f))(c); };
    run(body_ref{call, const_cast<void*>(static_cast<const void*>(std::addressof(fn)))});
  } else {
    struct ctx {
      F* fn;
      std::optional<R> out;
    } x{&fn, std::nullopt};
    auto call = [](void* p, connection& c) {
      auto& cx = *static_cast<ctx*>(p);
      cx.out.reset();
      cx.out.emplace((*cx.fn)(c));
    };
    run(body_ref{call, &x});
    return std::move(*x.out);
  }
}

/// The runner behind run_transaction and database: see the file comment.
/// The run ends at the earlier of deadline and the policy's budget; each
/// attempt waits for a connection until the earlier of that and
/// acquire_timeout from its start (nanoseconds::max(): no such cap).
void run_transaction_erased(berth::pool<adapter>& p, transaction_mode mode, clock_source::time_point deadline,
                            std::chrono::nanoseconds acquire_timeout, const retry_policy& r, body_ref body);

}  // namespace detail

/// Runs fn(connection&) in a transaction (BEGIN <mode> ... COMMIT) on a
/// connection from p, re-running the whole transaction after SQLITE_BUSY*
/// or SQLITE_LOCKED_* as r allows (berth/retry.hpp), and returns fn's result.
/// fn may run more than once; only its last run's effects commit. Throws
/// options_error for an invalid r, acquire_exception when no connection is
/// free by the attempt's deadline (not retried), sqlite_error (retryable)
/// when r's attempts or budget run out, commit_unknown_error when COMMIT
/// fails with an I/O error, and whatever else fn or SQLite throws (not
/// retried). Use transaction_mode::immediate for transactions that write:
/// deferred ones can fail with BUSY at their first write, and be retried.
/// Thread-safe. Blocks.
template <class F>
  requires std::is_invocable_v<F&, connection&>
std::invoke_result_t<F&, connection&> run_transaction(berth::pool<adapter>& p, transaction_mode mode, F&& fn,
                                                      const retry_policy& r = {}) {
  return detail::with_body(fn, [&](detail::body_ref body) {
    detail::run_transaction_erased(p, mode, clock_source::time_point::max(), p.options().acquire_timeout, r, body);
  });
}

}  // namespace berth::sqlite
