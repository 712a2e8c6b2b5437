// events.hpp: typed pool events for the user's logger or metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace berth {

/// What happened.
enum class event_kind : std::uint8_t {
  created,            ///< a connection was opened
  closed,             ///< a connection was closed; see close_reason
  creation_failed,    ///< adapter.connect() failed; error/message say why
  validation_failed,  ///< adapter.validate() failed; the connection is closed next
  leak_suspected,     ///< a lease is held longer than leak_threshold; message: where and stack
  leak_returned,      ///< a suspected leak came back; age: how long it was held
  evicted,            ///< evict_all()/evict(lease) marked or closed this connection;
                      ///< a closed event (reason evicted) follows when it is closed
  resized,            ///< pool::resize() or the adaptive min_idle changed the sizing;
                      ///< max_size/min_idle: the new values (issue 11)
  suspended,          ///< pool::suspend() held acquirers and creation
  resumed,            ///< pool::resume() let them go
                      ///< (resized/suspended/resumed are emitted after the change, without
                      ///< the lock: concurrent resize()/suspend()/resume() calls, or the
                      ///< adaptive min_idle, may deliver them out of order; pool::sizing()
                      ///< and pool::suspended() are authoritative)
  // The circuit breaker on connection creation (pool_options::breaker_*);
  // from the creator thread, slot 0.
  breaker_opened,     ///< creation kept failing, or a probe failed: acquirers that need a new
                      ///< connection fail with errc::database_unavailable; error/message: the
                      ///< last creation error; age: how long until the next probe
  breaker_half_open,  ///< the recovery interval passed: the one probe attempt starts
  breaker_closed,     ///< a connection attempt succeeded: acquirers wait for creations again
};

/// Why a connection was closed.
enum class close_reason : std::uint8_t {
  none,               ///< (not a close event)
  discarded,          ///< lease.discard()
  reset_failed,       ///< adapter.reset() failed (a release during unwinding, or one needs_reset() flagged)
  unwound,            ///< released during unwinding with unwind_policy::discard
  evicted,            ///< evict_all() / evict(lease)
  pool_closed,        ///< close() / drain()
  expired,            ///< max_lifetime reached
  idle_timeout,       ///< idle past idle_timeout above min_idle
  validation_failed,  ///< background or keepalive validation failed
  resized,            ///< above max_size after pool::resize() shrank it
};

/// One event. Views point into pool or adapter state and are valid only
/// during the callback: copy what you keep.
/// Thread-safety: a value type; the hook may receive events from several
/// threads at once (the creator and reaper threads and threads ending leases).
struct pool_event {
  event_kind kind = event_kind::created;
  close_reason reason = close_reason::none;
  std::string_view pool{};         ///< pool_options::name
  std::uint32_t slot = 0;          ///< slot index of the connection
  /// Connection age (closed), lease age (leak_*), the open interval
  /// (breaker_opened), else 0.
  std::chrono::nanoseconds age{0};
  std::error_code error{};         ///< creation_failed / validation_failed / breaker_opened
  std::string_view message{};      ///< the adapter's words for error
  std::size_t max_size = 0;        ///< resized: the max_size now in force
  std::size_t min_idle = 0;        ///< resized: the min_idle now in force
};

/// "closed", "idle_timeout", ... for logs. Thread-safe.
const char* to_string(event_kind k) noexcept;
const char* to_string(close_reason r) noexcept;

}  // namespace berth
