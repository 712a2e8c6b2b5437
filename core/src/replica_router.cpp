#include <berth/replica_router.hpp>

namespace berth {

const char* to_string(read_strategy s) noexcept {
  switch (s) {
    case read_strategy::round_robin: return "round_robin";
    case read_strategy::random: return "random";
    case read_strategy::least_loaded: return "least_loaded";
    case read_strategy::power_of_two_choices: return "power_of_two_choices";
  }
  return "unknown";
}

const char* to_string(replica_health h) noexcept {
  switch (h) {
    case replica_health::admitted: return "admitted";
    case replica_health::ejected: return "ejected";
    case replica_health::probing: return "probing";
  }
  return "unknown";
}

namespace detail {

std::minstd_rand& router_rng() noexcept {
  // Seeded per thread from the thread's identity and the time, cheaply:
  // the random strategies need spread, not unpredictability.
  thread_local std::minstd_rand rng(static_cast<std::uint_fast32_t>(
      std::hash<std::thread::id>{}(std::this_thread::get_id()) ^
      static_cast<std::size_t>(std::chrono::steady_clock::now().time_since_epoch().count())));
  return rng;
}

}  // namespace detail
}  // namespace berth
