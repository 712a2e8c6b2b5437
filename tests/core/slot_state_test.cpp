#include <berth/detail/slot_state.hpp>
#include <berth/events.hpp>

#include "support/enum_names.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>

namespace berth::detail {
namespace {

using S = slot_state;
using E = slot_event;

// The table at the top of slot_state.hpp, written out independently.
const std::map<std::pair<S, E>, S> table = {
    {{S::empty, E::begin_connect}, S::connecting}, {{S::connecting, E::connected}, S::idle},
    {{S::connecting, E::hand_off}, S::leased},     {{S::connecting, E::connect_failed}, S::empty},
    {{S::idle, E::lease}, S::leased},              {{S::idle, E::reserve}, S::reserved},
    {{S::leased, E::release}, S::idle},            {{S::leased, E::retire}, S::closing},
    {{S::reserved, E::unreserve}, S::idle},        {{S::reserved, E::hand_off}, S::leased},
    {{S::reserved, E::retire}, S::closing},        {{S::closing, E::closed}, S::empty},
};

TEST(SlotStateTest, NextMatchesTableForEveryStateAndEvent) {
  for (int s = 0; s < slot_state_count; ++s)
    for (int e = 0; e < slot_event_count; ++e) {
      const auto st = static_cast<S>(s);
      const auto ev = static_cast<E>(e);
      const auto it = table.find({st, ev});
      const auto got = next(st, ev);
      if (it == table.end())
        EXPECT_FALSE(got.has_value()) << to_string(st) << " + " << to_string(ev);
      else
        EXPECT_EQ(got, it->second) << to_string(st) << " + " << to_string(ev);
    }
}

TEST(SlotStateTest, EveryStateReachableFromEmptyAndBackToEmpty) {
  std::set<S> seen{S::empty};
  for (bool grew = true; grew;) {
    grew = false;
    for (S s : std::set<S>(seen))
      for (int e = 0; e < slot_event_count; ++e)
        if (auto n = next(s, static_cast<E>(e)); n && seen.insert(*n).second) grew = true;
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(slot_state_count));
  // Every state can get back to empty (no state traps a slot forever).
  for (int s = 0; s < slot_state_count; ++s) {
    std::set<S> r{static_cast<S>(s)};
    for (bool grew = true; grew;) {
      grew = false;
      for (S x : std::set<S>(r))
        for (int e = 0; e < slot_event_count; ++e)
          if (auto n = next(x, static_cast<E>(e)); n && r.insert(*n).second) grew = true;
    }
    EXPECT_TRUE(r.count(S::empty)) << to_string(static_cast<S>(s));
  }
}

// The named CASes on slot_atomic follow the table.
TEST(SlotAtomicTest, NamedTransitionsFollowTheTable) {
  slot_atomic a;
  EXPECT_EQ(a.state(), S::empty);
  EXPECT_FALSE(a.try_lease());
  EXPECT_FALSE(a.try_reserve());
  EXPECT_TRUE(a.try_begin_connect());
  EXPECT_FALSE(a.try_begin_connect());
  auto before = a.publish_idle(S::connecting);
  EXPECT_FALSE(before & slot_word::in_ring) << "first publication must push";
  EXPECT_EQ(a.state(), S::idle);
  EXPECT_TRUE(a.try_lease());
  EXPECT_FALSE(a.try_lease());
  EXPECT_FALSE(a.try_reserve());
  before = a.publish_idle(S::leased);
  EXPECT_TRUE(before & slot_word::in_ring) << "still in ring: must not push twice";
  EXPECT_TRUE(a.try_reserve());
  EXPECT_FALSE(a.try_lease());
  EXPECT_TRUE(a.transition(S::reserved, S::closing));
  EXPECT_TRUE(a.transition(S::closing, S::empty));
  EXPECT_TRUE(a.flags() & slot_word::in_ring) << "in_ring survives until a popper clears it";
}

TEST(SlotAtomicTest, LeaseFromRingClearsInRingWhetherOrNotIdle) {
  slot_atomic a;
  ASSERT_TRUE(a.try_begin_connect());
  (void)a.publish_idle(S::connecting);
  ASSERT_TRUE(a.try_lease());  // taken through a thread hint while still in the ring
  EXPECT_FALSE(a.lease_from_ring());
  EXPECT_FALSE(a.flags() & slot_word::in_ring);
  auto before = a.publish_idle(S::leased);
  EXPECT_FALSE(before & slot_word::in_ring) << "popper cleared it, so the releaser pushes again";
  EXPECT_TRUE(a.lease_from_ring());
  EXPECT_EQ(a.state(), S::leased);
}

TEST(SlotAtomicTest, EvictFlagOnlyOnOwnedSlotsAndSeenByPublish) {
  slot_atomic a;
  EXPECT_FALSE(a.mark_evict_if_owned()) << "empty";
  ASSERT_TRUE(a.try_begin_connect());
  EXPECT_TRUE(a.mark_evict_if_owned()) << "connecting";
  EXPECT_TRUE(a.publish_idle(S::connecting) & slot_word::evict);
  a.clear_flags(slot_word::evict);
  (void)a.publish_idle(S::connecting);
  EXPECT_FALSE(a.mark_evict_if_owned()) << "idle: evict_all reserves and closes it instead";
  EXPECT_FALSE(a.mark_evict_if_owned());
  ASSERT_TRUE(a.try_lease());
  EXPECT_TRUE(a.mark_evict_if_owned());
  auto before = a.publish_idle(S::leased);
  EXPECT_TRUE(before & slot_word::evict);
  EXPECT_EQ(a.state(), S::leased) << "publish refuses an evicted slot";
  a.clear_flags(slot_word::evict);
  EXPECT_FALSE(a.flags() & slot_word::evict);
}

TEST(SlotAtomicTest, ExpiredAndStaleFlagsAreStickyUntilTheOwnerClearsThem) {
  slot_atomic a;
  ASSERT_TRUE(a.try_begin_connect());
  (void)a.publish_idle(S::connecting);
  EXPECT_TRUE(a.mark_if(slot_word::stale, slot_atomic::state_bit(S::idle)));
  EXPECT_FALSE(a.mark_if(slot_word::stale, slot_atomic::state_bit(S::idle))) << "already set";
  ASSERT_TRUE(a.try_lease());
  EXPECT_TRUE(a.flags() & slot_word::stale) << "the acquirer sees it";
  EXPECT_FALSE(a.mark_if(slot_word::expired, slot_atomic::state_bit(S::idle))) << "not idle any more";
  EXPECT_TRUE(a.mark_if(slot_word::expired, slot_atomic::state_bit(S::leased)));
  a.clear_flags(slot_word::stale | slot_word::in_ring);
  EXPECT_TRUE(a.flags() & slot_word::in_ring) << "clear_flags never touches in_ring";
  EXPECT_TRUE(a.publish_idle(S::leased) & slot_word::expired) << "an expired slot is not published";
  EXPECT_EQ(a.state(), S::leased);
}

// The names the debug checks and event logs print (slot_state.cpp), in
// declaration order; "?" for a value out of range.
TEST(SlotStateTest, EveryStateAndEventHasItsOwnName) {
  testing::expect_enum_names<slot_state>({"empty", "connecting", "idle", "leased", "reserved", "closing"}, "?");
  EXPECT_EQ(slot_state_count, 6);
  testing::expect_enum_names<slot_event>({"begin_connect", "connected", "hand_off", "connect_failed", "lease",
                                          "reserve", "release", "retire", "unreserve", "closed"},
                                         "?");
  EXPECT_EQ(slot_event_count, 10);
}

// pool_event's kind and reason as event_log and the Prometheus labels print them.
TEST(SlotStateTest, EveryEventKindAndCloseReasonHasItsOwnName) {
  testing::expect_enum_names<event_kind>({"created", "closed", "creation_failed", "validation_failed",
                                          "leak_suspected", "leak_returned", "evicted", "resized", "suspended",
                                          "resumed", "breaker_opened", "breaker_half_open", "breaker_closed"},
                                         "?");
  testing::expect_enum_names<close_reason>({"none", "discarded", "reset_failed", "unwound", "evicted", "pool_closed",
                                            "expired", "idle_timeout", "validation_failed", "resized"},
                                           "?");
}

}  // namespace
}  // namespace berth::detail
