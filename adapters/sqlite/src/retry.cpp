// retry.cpp: see retry.hpp.
#include <berth/detail/duration.hpp>
#include <berth/sqlite/retry.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <iterator>
#include <thread>

namespace berth::sqlite::detail {
namespace {

/// For one attempt: a busy handler that waits for a lock held elsewhere as
/// busy_timeout does (up to `configured` per wait, in SQLite's growing
/// steps), but never past the run's deadline, at every wait of the attempt
/// (BEGIN, a deferred transaction's first read or its upgrade to a write,
/// COMMIT). A busy_timeout set once before BEGIN to the time then left let
/// each later wait take that much again, so a run overran its deadline by
/// as long as its function ran
/// (SqliteDatabase.NoLockWaitOfAWriteOrReadOverrunsItsDeadlineBug).
/// The configured busy_timeout comes back at scope exit (before the
/// connection goes back to the pool).
class busy_cap {
 public:
  busy_cap(connection& c, std::chrono::milliseconds configured, clock_source::time_point deadline) noexcept
      : c_(c), configured_(configured), deadline_(deadline) {
    if (sqlite3* h = handle_of(c_); h != nullptr) (void)sqlite3_busy_handler(h, &busy_cap::on_busy, this);
  }
  busy_cap(const busy_cap&) = delete;
  busy_cap& operator=(const busy_cap&) = delete;
  ~busy_cap() {
    // The body may have closed the connection (handle_of is then null: the
    // release discards it). Cannot fail for an open handle with a
    // non-negative value; it replaces our handler.
    if (sqlite3* h = handle_of(c_); h != nullptr) (void)sqlite3_busy_timeout(h, static_cast<int>(configured_.count()));
  }

 private:
  /// SQLite's busy handler: 1 to try again after sleeping, 0 to give up
  /// (SQLITE_BUSY). `count` is 0 at the first call of each wait.
  static int on_busy(void* self, int count) noexcept {
    auto& b = *static_cast<busy_cap*>(self);
    const auto now = clock_source::steady().now();
    if (count == 0) b.wait_began_ = now;
    const auto limit = std::min(b.deadline_, berth::detail::saturating_add(b.wait_began_, berth::detail::saturating_ns(b.configured_)));
    if (now >= limit) return 0;
    // SQLite's own steps (sqliteDefaultBusyCallback), then 100 ms each.
    static constexpr int steps_ms[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    const std::chrono::milliseconds step{steps_ms[std::min<std::size_t>(static_cast<std::size_t>(count), std::size(steps_ms) - 1)]};
    std::this_thread::sleep_for(std::min<clock_source::duration>(step, limit - now));
    return 1;
  }

  connection& c_;
  std::chrono::milliseconds configured_;
  clock_source::time_point deadline_;
  clock_source::time_point wait_began_{};
};

}  // namespace

void run_transaction_erased(berth::pool<adapter>& p, transaction_mode mode, clock_source::time_point deadline,
                            std::chrono::nanoseconds acquire_timeout, const retry_policy& r, body_ref body) {
  const std::chrono::milliseconds configured = p.adapter().opts().busy_timeout;
  berth::run_with_retry_until(deadline, r, [&](attempt_context& ctx) {
    // acquire_exception (timeout, pool_closed) is no db_error: not retried.
    auto l = p.acquire_until(ctx.deadline_within(acquire_timeout)).value();
    connection& c = *l;
    const busy_cap cap(c, configured, ctx.deadline());  // lock waits end by the run's deadline
    transaction tx(c, mode);
    body.call(body.fn, c);
    ctx.committing();
    tx.commit();  // BUSY here leaves the transaction open: tx's destructor rolls it back
  });
}

}  // namespace berth::sqlite::detail
