// leak_tracker.cpp: see leak_tracker.hpp.
#include <berth/detail/duration.hpp>
#include <berth/detail/leak_tracker.hpp>

#include <boost/stacktrace.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <utility>

namespace berth::detail {

namespace {
std::atomic<std::uint64_t> warm_up_count{0};

std::string to_ms(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}
}  // namespace

struct leak_tracker::record {
  std::mutex mutex;
  bool active = false;    // a lease is out and watched
  bool reported = false;  // leak_suspected is decided for it (check)
  // check() is emitting leak_suspected for the lease (outside the lock): a
  // return meanwhile is held back until it has (return_pending), so that
  // leak_returned never precedes its leak_suspected.
  bool announcing = false;
  bool return_pending = false;
  std::chrono::nanoseconds returned_after{};
  clock_source::time_point acquired{};
  std::source_location site{};
  boost::stacktrace::stacktrace trace{0, 0};  // empty until the first lease
};

leak_tracker::leak_tracker(std::size_t slots, std::chrono::milliseconds threshold, const event_sink& events)
    : records_(std::make_unique<record[]>(slots)), size_(slots), threshold_(threshold), events_(events) {}

leak_tracker::~leak_tracker() = default;

void leak_tracker::began(std::uint32_t i, clock_source::time_point now, std::source_location site) noexcept {
  boost::stacktrace::stacktrace trace;  // captured outside the lock; empty if out of memory
  record& r = records_[i];
  std::lock_guard lk(r.mutex);
  r.active = true;
  r.reported = false;
  r.acquired = now;
  r.site = site;
  r.trace = std::move(trace);
}

void leak_tracker::ended(std::uint32_t i, clock_source::time_point now) noexcept {
  record& r = records_[i];
  std::chrono::nanoseconds held{};
  {
    std::lock_guard lk(r.mutex);
    if (!r.active) return;
    r.active = false;
    if (!r.reported) return;
    r.reported = false;
    held = saturating_sub(now, r.acquired);
    if (r.announcing) {  // check() emits it after its leak_suspected (LeakTest.LeakReturnedNeverPrecedesItsSuspectedBug)
      r.return_pending = true;
      r.returned_after = held;
      return;
    }
  }
  emit_returned(i, held);
}

void leak_tracker::emit_returned(std::uint32_t i, std::chrono::nanoseconds held) const noexcept {
  std::string msg;
  try {
    msg = "lease on slot " + std::to_string(i) + " returned after " + to_ms(held) + " ms";
  } catch (...) {  // out of memory: the event still says it
  }
  events_.emit({.kind = event_kind::leak_returned, .slot = i, .age = held, .message = msg});
}

void leak_tracker::check(clock_source::time_point now) noexcept {
  for (std::uint32_t i = 0; i < size_; ++i) {
    record& r = records_[i];
    std::chrono::nanoseconds held{};
    std::source_location at{};
    boost::stacktrace::stacktrace trace{0, 0};
    {
      std::lock_guard lk(r.mutex);
      if (!r.active || r.reported) continue;
      held = saturating_sub(now, r.acquired);
      if (held < threshold_) continue;
      r.reported = true;
      r.announcing = true;
      at = r.site;
      trace = std::move(r.trace);  // reported once: the record needs it no more
    }
    suspected_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    std::string report;
    try {  // symbolized here, with no lock held
      report = "lease on slot " + std::to_string(i) + " held " + to_ms(held) + " ms (leak_threshold " +
               std::to_string(threshold_.count()) + " ms), acquired at " + at.file_name() + ":" +
               std::to_string(at.line()) + " in " + at.function_name() + "\nstack at acquire:\n" +
               boost::stacktrace::to_string(trace);
    } catch (...) {
    }
    events_.emit({.kind = event_kind::leak_suspected, .slot = i, .age = held, .message = report});
    std::chrono::nanoseconds returned_after{-1};
    {
      std::lock_guard lk(r.mutex);
      r.announcing = false;
      if (std::exchange(r.return_pending, false)) returned_after = r.returned_after;
    }
    if (returned_after.count() >= 0) emit_returned(i, returned_after);  // it ended while we announced it
  }
}

void leak_tracker::warm_up() noexcept {
  try {
    (void)boost::stacktrace::to_string(boost::stacktrace::stacktrace(0, 1));
  } catch (...) {
  }
  warm_up_count.fetch_add(1, std::memory_order_release);  // pairs with warm_ups()'s acquire
}

std::uint64_t leak_tracker::warm_ups() noexcept {
  return warm_up_count.load(std::memory_order_acquire);  // pairs with warm_up()'s release increment
}

}  // namespace berth::detail
