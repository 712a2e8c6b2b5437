// failover_tracker.cpp: see failover_tracker.hpp.
#include "failover_tracker.hpp"

namespace berth::postgres::detail {

host_entry& failover_tracker::entry(std::string_view host, std::string_view port) {
  std::string key;
  key.reserve(host.size() + 1 + port.size());
  key.append(host).append(1, ':').append(port);
  std::lock_guard lk(hosts_mutex_);
  auto& e = hosts_[std::move(key)];
  if (!e) e = std::make_unique<host_entry>();
  return *e;
}

void failover_tracker::report(host_entry& h) noexcept {
  // [F1] seq_cst: a new epoch, then h changed at it (the largest wins when
  // reports race).
  const std::uint64_t e = epoch_.fetch_add(1, std::memory_order_seq_cst) + 1;
  std::uint64_t seen = h.changed_at.load(std::memory_order_seq_cst);
  while (seen < e && !h.changed_at.compare_exchange_weak(seen, e, std::memory_order_seq_cst)) {
  }
  std::lock_guard lk(sweep_mutex_);
  if (target_ != nullptr) target_->sweep();
}

void failover_tracker::peer_closed() noexcept {
  // Idle connections only: one in use whose server closed it fails its
  // adapter's checks at its release (peer_closed), and the others in use
  // are healthy; flagging them all would make each next acquirer validate.
  std::lock_guard lk(sweep_mutex_);
  if (target_ != nullptr) target_->sweep_idle();
}

void failover_tracker::attach(sweep_target* t) noexcept {
  // Before the lock: a sweep in progress may take a while, and the pool's
  // creator thread may be inside a connect that should end now.
  stopping_.store(t == nullptr, std::memory_order_relaxed);  // relaxed: see stop_flag()
  std::lock_guard lk(sweep_mutex_);
  target_ = t;
}

}  // namespace berth::postgres::detail
