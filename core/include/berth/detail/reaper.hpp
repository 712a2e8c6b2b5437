// reaper.hpp: the lifecycle pass, run on the pool's reaper thread.
//
// Owns: its view of each slot (which connection it last saw there, the lease
// count then, when it was last used and validated), the idle-count window of
// the idle-surplus rule, the demand window of the adaptive min_idle
// (demand_window.hpp), and the pass itself. Its decisions are the pure
// functions of reaper_policy.hpp and demand_window.hpp.
// Never touches: a slot it has not reserved, except to set a flag that the
// slot's owner acts on (expired on a leased slot, stale on an idle one):
// HikariCP's reserve-then-act. Waiters, creation and the adapter are the
// host's (pool_core), reached through reaper_host.
//
// Synchronization: the reaper loads a slot's state with acquire ([W1] CAS
// chain), so the created/deadline/generation it reads after are at least
// those of the connection in that state; after reserving (a seq_cst CAS) it
// re-checks the generation, so it never acts on a connection it did not
// judge. Everything else here is reaper-thread only.
#pragma once

#include <berth/clock.hpp>
#include <berth/detail/demand_window.hpp>
#include <berth/detail/leak_tracker.hpp>
#include <berth/detail/slot.hpp>
#include <berth/events.hpp>
#include <berth/options.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

namespace berth::detail {

/// What the adaptive min_idle step reads of the pool besides the slots.
struct demand_signal {
  std::size_t waiting = 0;       ///< acquirers queued now
  std::uint64_t waited = 0;      ///< acquires that blocked or timed out, ever
  std::size_t open = 0;          ///< slots not empty
  pool_sizing sizing{};          ///< in force now
  bool suspended = false;        ///< the samples would measure the suspension
};

/// What the reaper asks of the pool for a slot it has reserved.
class reaper_host {
 public:
  /// Closes reserved slot i (reserved -> closing -> empty).
  virtual void retire_reserved(std::uint32_t i, close_reason why) noexcept = 0;
  /// Validates reserved slot i with validation_timeout; on failure retires
  /// it (validation_failed) and returns false.
  virtual bool validate_reserved(std::uint32_t i) noexcept = 0;
  /// Makes reserved slot i idle again, or hands it to a waiter.
  virtual void publish_reserved(std::uint32_t i) noexcept = 0;
  /// Slots not empty. Acquire: pairs with the retirements' release.
  virtual std::size_t open_connections() const noexcept = 0;
  /// The min_idle in force (pool::resize, adaptive min_idle).
  virtual std::size_t min_idle_now() const noexcept = 0;
  /// adaptive_min_idle: the queue and the wait counters now.
  virtual demand_signal demand() const noexcept = 0;
  /// adaptive_min_idle: sets min_idle (clamped by the host to the bounds
  /// and the max_size in force) and wakes the creator.
  virtual void adapt_min_idle(std::size_t min_idle) noexcept = 0;

 protected:
  ~reaper_host() = default;
};

/// Thread-safety: reaper thread only (construction before it starts).
class reaper {
 public:
  /// leaks: null when leak_threshold is 0.
  reaper(const pool_options& opts, slot_table& slots, reaper_host& host, leak_tracker* leaks);

  /// One lifecycle pass at `now`: leak reports, then for each slot max
  /// lifetime, idle timeout, keepalive and background validation, the
  /// stale flag for validation at acquire, then the idle-surplus rule, then
  /// (adaptive_min_idle) the adaptive min_idle step.
  void pass(clock_source::time_point now) noexcept;

  /// Between passes: validates the idle connections flagged stale, so that
  /// try_acquire (which never validates) can have them.
  void validate_stale(clock_source::time_point now) noexcept;

 private:
  void close_idle_surplus(clock_source::time_point now, std::size_t idle, std::size_t& open,
                          std::size_t min_idle) noexcept;
  /// adaptive_min_idle: one demand sample (leased: seen by this pass), and
  /// min_idle moved towards the window's peak.
  void adapt(clock_source::time_point now, std::size_t leased) noexcept;

  struct slot_view {
    std::uint32_t generation = 0;          // slot_meta::generation this entry describes
    std::uint64_t seen_leases = 0;         // slot_meta::leases at the last look
    clock_source::time_point last_used{};  // last pass that saw it leased or re-leased
    clock_source::time_point last_validated{};
  };

  const pool_options& opts_;
  slot_table& slots_;
  reaper_host& host_;
  leak_tracker* const leaks_;
  std::unique_ptr<slot_view[]> view_;
  /// Idle-count samples, one per pass, over the last idle_timeout: a
  /// monotonic deque whose front is the window's minimum. Connections that
  /// stayed idle-surplus for the whole window are closed even if a FIFO
  /// rotation (threads without a hint popping the oldest idle connection)
  /// kept each one individually warm.
  std::deque<std::pair<clock_source::time_point, std::size_t>> idle_window_;
  clock_source::time_point idle_window_start_{};
  /// adaptive_min_idle: demand samples over adaptive_window, and the wait
  /// counter (demand_signal::waited) at the previous sample.
  demand_window demand_;
  std::uint64_t waited_seen_ = 0;
};

}  // namespace berth::detail
