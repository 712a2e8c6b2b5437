// reaper.cpp: see reaper.hpp.
#include <berth/detail/duration.hpp>
#include <berth/detail/reaper.hpp>
#include <berth/detail/reaper_policy.hpp>

#include <algorithm>
#include <vector>

namespace berth::detail {

reaper::reaper(const pool_options& opts, slot_table& slots, reaper_host& host, leak_tracker* leaks)
    : opts_(opts),
      slots_(slots),
      host_(host),
      leaks_(leaks),
      view_(std::make_unique<slot_view[]>(slots.size())),
      // Saturating: adaptive_window is validated only while adaptive_min_idle
      // is on, and any value may come in while it is off (unused then)
      // (MatrixPoolTest.AdaptiveWindowOutOfRangeWhileTheModeIsOffOverflowsBug).
      demand_(saturating_ns(opts.adaptive_window)) {}

void reaper::pass(clock_source::time_point now) noexcept {
  // Leaks first: a long validation below must not make a report late.
  if (leaks_ != nullptr) leaks_->check(now);
  std::size_t open = host_.open_connections();
  // Lifetime retirements per pass are capped at a quarter of the open
  // connections (at least one): jitter normally spreads them, and after a
  // stalled reaper or with lifetime_jitter 0 this keeps the reconnects of
  // connections opened together from landing in one burst.
  std::size_t expiry_budget = std::max<std::size_t>(1, open / 4);
  const std::size_t min_idle = host_.min_idle_now();  // resize() or the adaptive step may change it
  std::size_t idle = 0;    // left idle after this pass's own decisions
  std::size_t leased = 0;  // seen leased: the adaptive step's demand sample
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    slot_meta& m = slots_[i];
    slot_view& r = view_[i];
    // acquire: pairs with the [W1] CAS chain, so created/deadline/generation
    // read below are at least those of the connection in this state.
    const slot_state st = m.word.state(std::memory_order_acquire);
    const std::uint32_t gen = m.generation.load(std::memory_order_relaxed);
    if (gen != r.generation) {  // a connection opened since the last look
      const auto created = m.created.load(std::memory_order_relaxed);
      r = slot_view{gen, m.leases_at_open.load(std::memory_order_relaxed), created, created};
    }
    // "Used since the last pass" is read off the lessee's per-slot lease
    // counter: no clock read or store is added to acquire/release.
    if (const auto n = m.leases.load(std::memory_order_relaxed); n != r.seen_leases) {
      r.seen_leases = n;
      r.last_used = now;
    }
    if (st == slot_state::leased) {
      ++leased;
      r.last_used = now;
      // A hot connection is rarely idle when the reaper looks: flag it, and
      // its lessee retires it at release (pgx #2560: hot pools age too).
      // Known narrow race, harmless: if between the state load above and
      // mark_if the slot is retired, refilled and leased again, a fresh
      // connection may be flagged with the old one's deadline and retire
      // early (it is simply reopened).
      if (now >= m.deadline.load(std::memory_order_relaxed) && expiry_budget > 0 &&
          m.word.mark_if(slot_word::expired, slot_atomic::state_bit(slot_state::leased)))
        --expiry_budget;
      continue;
    }
    if (st != slot_state::idle) continue;
    const slot_times t{m.created.load(std::memory_order_relaxed), m.deadline.load(std::memory_order_relaxed),
                       r.last_used, r.last_validated};
    idle_action act = decide_idle(t, now, opts_, open > min_idle);
    if (act == idle_action::keep) {
      ++idle;
      if (opts_.validate_on_acquire && now - r.last_used > opts_.validation_bypass)
        m.word.mark_if(slot_word::stale, slot_atomic::state_bit(slot_state::idle));  // validated at next acquire
      continue;
    }
    if (act == idle_action::close_expired && expiry_budget == 0) continue;
    if (!m.word.try_reserve()) {  // reserve-then-act: a borrower got there first
      if (act == idle_action::close_expired &&
          m.word.mark_if(slot_word::expired, slot_atomic::state_bit(slot_state::leased)))
        --expiry_budget;
      continue;
    }
    // Ours now. Judged on another connection (the slot was refilled since
    // the look above)? Put it back; the next pass judges the new one.
    if (m.generation.load(std::memory_order_relaxed) != gen) {
      host_.publish_reserved(i);
      continue;
    }
    if (m.leases.load(std::memory_order_relaxed) != r.seen_leases) {  // leased and returned meanwhile
      r.seen_leases = m.leases.load(std::memory_order_relaxed);
      r.last_used = now;
      if (act != idle_action::close_expired) {
        host_.publish_reserved(i);
        continue;
      }
    }
    switch (act) {
      case idle_action::close_expired:
        host_.retire_reserved(i, close_reason::expired);
        --open;
        --expiry_budget;
        break;
      case idle_action::close_idle:
        host_.retire_reserved(i, close_reason::idle_timeout);
        --open;
        break;
      case idle_action::validate:
        if (!host_.validate_reserved(i)) {
          --open;
        } else {
          r.last_validated = now;
          host_.publish_reserved(i);  // hands it to a waiter if one is queued
          ++idle;
        }
        break;
      case idle_action::keep:
        break;
    }
  }
  if (opts_.idle_timeout.count() > 0) close_idle_surplus(now, idle, open, min_idle);
  if (opts_.adaptive_min_idle) adapt(now, leased);
}

void reaper::validate_stale(clock_source::time_point now) noexcept {
  // Reaper thread, between passes: validate the idle connections flagged
  // stale, so that try_acquire (which never validates) can have them.
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    slot_meta& m = slots_[i];
    if (!(m.word.flags() & slot_word::stale) || !m.word.try_reserve()) continue;  // reserve-then-act
    const bool stale = m.word.flags() & slot_word::stale;  // ours now: exact
    if (stale && !host_.validate_reserved(i)) continue;
    if (slot_view& r = view_[i]; stale && r.generation == m.generation.load(std::memory_order_relaxed))
      r.last_validated = now;
    host_.publish_reserved(i);  // hands it to a waiter if one is queued
  }
}

void reaper::close_idle_surplus(clock_source::time_point now, std::size_t idle, std::size_t& open,
                                std::size_t min_idle) noexcept {
  try {
    if (idle_window_.empty() && idle_window_start_ == clock_source::time_point{}) idle_window_start_ = now;
    while (!idle_window_.empty() && idle_window_.back().second >= idle) idle_window_.pop_back();
    idle_window_.emplace_back(now, idle);
    while (idle_window_.size() > 1 && idle_window_[1].first <= now - opts_.idle_timeout) idle_window_.pop_front();
  } catch (...) {  // out of memory: skip the surplus rule this pass
    return;
  }
  // The window must span a full idle_timeout before it proves anything.
  if (now - idle_window_start_ < opts_.idle_timeout) return;
  const std::size_t surplus = idle_window_.front().second;
  std::size_t closable = std::min(surplus, open > min_idle ? open - min_idle : 0);
  if (closable == 0) return;
  // Least recently used first (slot_view::last_used, pass resolution).
  std::vector<std::uint32_t> order;
  try {
    order.reserve(slots_.size());
    for (std::uint32_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].word.state() == slot_state::idle) order.push_back(i);
  } catch (...) {
    return;
  }
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return view_[a].last_used < view_[b].last_used; });
  for (std::uint32_t i : order) {
    if (closable == 0) break;
    if (!slots_[i].word.try_reserve()) continue;  // reserve-then-act
    host_.retire_reserved(i, close_reason::idle_timeout);
    --open;
    --closable;
  }
  // What the window proved has been acted on: start a new one.
  idle_window_.clear();
  idle_window_start_ = now;
}

// ---- adaptive min_idle (issue 11) ----

void reaper::adapt(clock_source::time_point now, std::size_t leased) noexcept {
  const demand_signal d = host_.demand();
  const bool waited = d.waited != waited_seen_;  // acquires blocked since the last sample
  waited_seen_ = d.waited;
  // A suspension makes everyone wait: that is not demand to size for.
  if (d.suspended) return;
  // Demand now: connections in use plus acquirers queued. If acquires had
  // to wait since the last sample, the pool ran dry in between: every open
  // connection was in use then (the samples alone would miss a short burst
  // between two passes).
  std::size_t sample = leased + d.waiting;
  if (waited) sample = std::max(sample, d.open + d.waiting);
  std::size_t peak;
  try {
    peak = demand_.observe(now, sample);
  } catch (...) {  // out of memory: no step this pass
    return;
  }
  const std::size_t next = next_min_idle(d.sizing.min_idle, peak, opts_.min_idle_floor,
                                         effective_min_idle_ceiling(opts_), d.sizing.max_size);
  if (next != d.sizing.min_idle) host_.adapt_min_idle(next);
}

}  // namespace berth::detail
