// waiter_queue.cpp: see waiter_queue.hpp for the protocol and its tags.
#include <berth/detail/test_hooks.hpp>
#include <berth/detail/waiter_queue.hpp>

namespace berth::detail {

waiter_queue::waiter_queue(std::mutex& mutex, std::atomic<std::uint64_t>& gate, idle_source& idle,
                           std::chrono::nanoseconds handoff_after) noexcept
    : mutex_(mutex),
      gate_(gate),
      idle_(idle),
      always_strict_(handoff_after.count() == 0),
      handoff_after_(handoff_after) {}

std::uint32_t waiter_queue::register_locked() noexcept {
  const std::uint64_t g = gate_.fetch_add(1, std::memory_order_seq_cst);  // [G2] register, then look again
  if (g & gate_suspended) return no_slot;  // [G7] nothing is handed out while suspended
  BERTH_TEST_HOOK(waiter_registered, nullptr);  // test builds only (test_hooks.hpp)
  const std::uint32_t i = idle_.pop_idle_for_waiter();
  if (i != no_slot) {
    gate_.fetch_sub(1, std::memory_order_seq_cst);  // [G6] the count changed
    settle_locked();
  }
  return i;
}

void waiter_queue::withdraw_locked() noexcept {
  // [G2] deregister; [G6] a seq_cst RMW before the settle: a releaser that
  // saw our registration and published while we were deciding left its
  // connection idle, and a queued head may take it now.
  gate_.fetch_sub(1, std::memory_order_seq_cst);
  settle_locked();
}

void waiter_queue::enqueue_locked(waiter& w, bool front) noexcept {
  if (front && head_ != nullptr) {  // keep our place
    w.next_ = head_;
    head_->prev_ = &w;
    head_ = &w;
    // [G5] woken referred to the old head; the new head has not been told.
    gate_.fetch_and(~gate_woken, std::memory_order_seq_cst);
  } else {
    w.prev_ = tail_;
    (tail_ ? tail_->next_ : head_) = &w;
    tail_ = &w;
  }
  ++queued_;
  w.queued = true;
  BERTH_TEST_HOOK(waiter_enqueued, &w);
  settle_locked();  // [G6]
}

std::uint32_t waiter_queue::after_wake_locked(waiter& w) noexcept {
  const bool head = head_ == &w;
  if (head) gate_.fetch_and(~gate_woken, std::memory_order_seq_cst);  // [G5] the head ran
  if (suspended_locked()) return no_slot;                                      // [G7]
  // The head takes an idle connection in either mode (in strict mode it is
  // its due); others compete only in throughput mode.
  if (head || !must_queue(gate_.load(std::memory_order_seq_cst))) {
    if (const std::uint32_t i = idle_.pop_idle_for_waiter(); i != no_slot) {
      BERTH_TEST_HOOK(waiter_given, &w);
      unlink_locked(w);
      settle_locked();  // [G6]
      return i;
    }
  }
  return no_slot;
}

void waiter_queue::starving_locked(std::chrono::nanoseconds waited) noexcept { owe_head_locked(waited); }

void waiter_queue::owe_head_locked(std::chrono::nanoseconds waited) noexcept {
  if (handoff_after_.count() > 0 && waited >= handoff_after_ && in_flight_ == 0 &&
      !(gate_.load(std::memory_order_relaxed) & gate_handoff)) {  // relaxed: the bit changes only under mutex_
    gate_.fetch_or(gate_handoff, std::memory_order_seq_cst);  // owed the next release
    settle_locked();                                                // [G6]
  }
}

void waiter_queue::served_locked(clock_source::time_point now) noexcept {
  if (in_flight_ > 0) --in_flight_;
  if (head_ == nullptr) {  // nobody left to owe: towards throughput, no settle
    gate_.fetch_and(~gate_handoff, std::memory_order_seq_cst);
    return;
  }
  // The next head's turn: owed a release once it has waited handoff_after.
  // A head that waits less is left to compete (throughput).
  owe_head_locked(now - head_->since);
}

void waiter_queue::leave_locked(waiter& w) noexcept {
  unlink_locked(w);
  settle_locked();  // [G6]
}

bool waiter_queue::hand_locked(std::uint32_t i) noexcept {
  if (head_ == nullptr || suspended_locked()) return false;  // [G7] the caller publishes
  give_locked(*head_, i);
  settle_locked();  // the queue changed [G6]
  return true;
}

void waiter_queue::settle_locked() noexcept {
  // [G6] After a change of the queue or the mode: nobody may sleep while a
  // connection is idle. A popped slot that carries flags is checked by the
  // waiter. While suspended, everyone sleeps until resume [G7].
  if (suspended_locked()) return;
  pour_locked();
}

void waiter_queue::suspend_locked() noexcept {
  gate_.fetch_or(gate_suspended, std::memory_order_seq_cst);  // [G7]
}

void waiter_queue::resume_locked() noexcept {
  if (!suspended_locked()) return;
  pour_locked();  // [G7] FIFO first: newcomers and releasers still stand back
  gate_.fetch_and(~gate_suspended, std::memory_order_seq_cst);  // [G7] pairs with [G3]
  pour_locked();  // [G6]: what was published after the first pour, before the clear
}

void waiter_queue::pour_locked() noexcept {
  while (head_ != nullptr) {
    const std::uint32_t i = idle_.pop_idle_for_waiter();
    if (i == no_slot) return;
    give_locked(*head_, i);
  }
}

void waiter_queue::fail_all_locked() noexcept {
  while (waiter* w = head_) {
    unlink_locked(*w);
    w->closed = true;
    w->wake();
  }
}

void waiter_queue::reject_all_locked() noexcept {
  while (waiter* w = head_) {
    unlink_locked(*w);  // [G2] deregisters; the last unlink clears woken and handoff
    w->rejected = true;
    w->wake();  // under the lock: once unlocked the waiter may return and be gone
  }
}

void waiter_queue::wake_all_locked() noexcept {
  for (waiter* w = head_; w; w = w->next_) w->wake();
}

void waiter_queue::wake_head() noexcept {
  std::uint64_t g = gate_.load(std::memory_order_relaxed);  // seeds the CAS
  while ((g & gate_waiters) != 0 && !(g & gate_woken)) {
    // [G5] one releaser wins the right to wake.
    if (gate_.compare_exchange_weak(g, g | gate_woken, std::memory_order_seq_cst,
                                          std::memory_order_relaxed)) {
      std::lock_guard lk(mutex_);
      if (head_ != nullptr)
        head_->wake();
      else
        gate_.fetch_and(~gate_woken, std::memory_order_seq_cst);  // it left meanwhile
      return;
    }
  }
}

void waiter_queue::give_locked(waiter& w, std::uint32_t i) noexcept {
  ++in_flight_;
  // One hand-off per mark (see "Fairness"). Towards throughput: no settle.
  if (gate_.load(std::memory_order_relaxed) & gate_handoff)  // relaxed: changes only under mutex_
    gate_.fetch_and(~gate_handoff, std::memory_order_seq_cst);
  BERTH_TEST_HOOK(waiter_given, &w);
  unlink_locked(w);
  w.slot = i;  // [G4] read by the waiter under the mutex
  // Wake under the lock: once unlocked the waiter may return and be gone.
  w.wake();
}

void waiter_queue::unlink_locked(waiter& w) noexcept {
  const bool was_head = head_ == &w;
  (w.prev_ ? w.prev_->next_ : head_) = w.next_;
  (w.next_ ? w.next_->prev_ : tail_) = w.prev_;
  w.prev_ = w.next_ = nullptr;
  w.queued = false;
  --queued_;
  // [G2] deregister; [G6] a seq_cst RMW before the caller's settle.
  gate_.fetch_sub(1, std::memory_order_seq_cst);
  if (was_head) {
    // [G5] the woken head is gone: the next publication wakes the new one.
    std::uint64_t clear = gate_woken;
    if (head_ == nullptr) clear |= gate_handoff;  // no waiter left to starve
    gate_.fetch_and(~clear, std::memory_order_seq_cst);
  }
}

}  // namespace berth::detail
