// event_sink.hpp: delivers pool events to the user's hook.
//
// Owns: nothing but a view of the options (the hook and the pool's name).
// Never touches: pool state. Every part that reports something holds one.
#pragma once

#include <berth/events.hpp>
#include <berth/options.hpp>

namespace berth::detail {

/// Thread-safety: emit() may be called from any thread; the hook itself must
/// be thread-safe (pool_options::on_event). The options must outlive it.
class event_sink {
 public:
  explicit event_sink(const pool_options& o) noexcept : opts_(o) {}

  /// True when a hook is set (callers skip building an event otherwise).
  bool enabled() const noexcept { return static_cast<bool>(opts_.on_event); }

  /// Calls the hook with the pool's name filled in. A throwing hook must not
  /// take the pool down: exceptions are swallowed. Never called with a pool
  /// lock held.
  void emit(pool_event ev) const noexcept {
    if (!opts_.on_event) return;
    ev.pool = opts_.name;
    try {
      opts_.on_event(ev);
    } catch (...) {
    }
  }

 private:
  const pool_options& opts_;
};

}  // namespace berth::detail
