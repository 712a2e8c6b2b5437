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
