#include <berth/detail/slot_state.hpp>

namespace berth::detail {

const char* to_string(slot_state s) noexcept {
  switch (s) {
    case slot_state::empty: return "empty";
    case slot_state::connecting: return "connecting";
    case slot_state::idle: return "idle";
    case slot_state::leased: return "leased";
    case slot_state::reserved: return "reserved";
    case slot_state::closing: return "closing";
  }
  return "?";
}

const char* to_string(slot_event e) noexcept {
  switch (e) {
    case slot_event::begin_connect: return "begin_connect";
    case slot_event::connected: return "connected";
    case slot_event::hand_off: return "hand_off";
    case slot_event::connect_failed: return "connect_failed";
    case slot_event::lease: return "lease";
    case slot_event::reserve: return "reserve";
    case slot_event::release: return "release";
    case slot_event::retire: return "retire";
    case slot_event::unreserve: return "unreserve";
    case slot_event::closed: return "closed";
  }
  return "?";
}

}  // namespace berth::detail

#include <berth/events.hpp>

namespace berth {

const char* to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::created: return "created";
    case event_kind::closed: return "closed";
    case event_kind::creation_failed: return "creation_failed";
    case event_kind::validation_failed: return "validation_failed";
    case event_kind::leak_suspected: return "leak_suspected";
    case event_kind::leak_returned: return "leak_returned";
    case event_kind::evicted: return "evicted";
    case event_kind::resized: return "resized";
    case event_kind::suspended: return "suspended";
    case event_kind::resumed: return "resumed";
    case event_kind::breaker_opened: return "breaker_opened";
    case event_kind::breaker_half_open: return "breaker_half_open";
    case event_kind::breaker_closed: return "breaker_closed";
  }
  return "?";
}

const char* to_string(close_reason r) noexcept {
  switch (r) {
    case close_reason::none: return "none";
    case close_reason::discarded: return "discarded";
    case close_reason::reset_failed: return "reset_failed";
    case close_reason::unwound: return "unwound";
    case close_reason::evicted: return "evicted";
    case close_reason::pool_closed: return "pool_closed";
    case close_reason::expired: return "expired";
    case close_reason::idle_timeout: return "idle_timeout";
    case close_reason::validation_failed: return "validation_failed";
    case close_reason::resized: return "resized";
  }
  return "?";
}

}  // namespace berth
