// retry.cpp: see retry.hpp.
#include <berth/sqlite/retry.hpp>

#include <sqlite3.h>

#include <algorithm>

namespace berth::sqlite::detail {
namespace {

/// Sets the connection's busy_timeout for one attempt and restores the
/// configured one at scope exit (before the connection goes back).
class busy_cap {
 public:
  busy_cap(connection& c, std::chrono::milliseconds configured) noexcept : c_(c), configured_(configured) {}
  busy_cap(const busy_cap&) = delete;
  busy_cap& operator=(const busy_cap&) = delete;
  ~busy_cap() { set(configured_); }
  void set(std::chrono::milliseconds ms) noexcept {
    // The body may have closed the connection (handle_of is then null: the
    // release discards it). Cannot fail for an open handle with a
    // non-negative value.
    if (sqlite3* h = handle_of(c_); h != nullptr) (void)sqlite3_busy_timeout(h, static_cast<int>(ms.count()));
  }

 private:
  connection& c_;
  std::chrono::milliseconds configured_;
};

}  // namespace

void run_transaction_erased(berth::pool<adapter>& p, transaction_mode mode, clock_source::time_point deadline,
                            std::chrono::nanoseconds acquire_timeout, const retry_policy& r, body_ref body) {
  const std::chrono::milliseconds configured = p.adapter().opts().busy_timeout;
  berth::run_with_retry_until(deadline, r, [&](attempt_context& ctx) {
    // acquire_exception (timeout, pool_closed) is no db_error: not retried.
    auto l = p.acquire_until(ctx.deadline_within(acquire_timeout)).value();
    connection& c = *l;
    busy_cap cap(c, configured);
    // busy_timeout waits for a lock held elsewhere, but never past the run's deadline.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        std::max(ctx.deadline() - clock_source::steady().now(), clock_source::duration{0}));
    cap.set(std::min(left, configured));
    transaction tx(c, mode);
    body.call(body.fn, c);
    ctx.committing();
    tx.commit();  // BUSY here leaves the transaction open: tx's destructor rolls it back
  });
}

}  // namespace berth::sqlite::detail
