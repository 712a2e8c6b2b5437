// fd_count.hpp: the process's open file descriptors, for leak checks, and
// the options of a pool whose creator retries at once (a failing one makes
// many attempts quickly).
#pragma once

#include <berth/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <dirent.h>

namespace berth::testing {

/// Entries of /proc/self/fd, not counting the one this call opens to read
/// it. 0 when /proc is not mounted. Not thread-safe with threads that open
/// or close descriptors meanwhile (the count would be a moving target).
inline std::size_t open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  std::size_t n = 0;
  while (const dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

/// A pool of max_size and min_idle 2, started degraded (the creator opens
/// in the background), whose creator retries after 1 ms, with breaker
/// threshold `breaker` (0: off) and a 1 ms breaker recovery.
inline pool_options retrying_at_once(std::string name, std::uint32_t breaker) {
  using std::chrono::milliseconds;
  pool_options o;
  o.name = std::move(name);
  o.max_size = 2;
  o.min_idle = 2;
  o.startup = startup_mode::degraded;
  o.creation_backoff_initial = o.creation_backoff_max = milliseconds{1};
  o.breaker_threshold = breaker;
  o.breaker_recovery = o.breaker_recovery_max = milliseconds{1};
  return o;
}

}  // namespace berth::testing
