// fd_count.hpp: the process's open file descriptors, for leak checks.
#pragma once

#include <cstddef>
#include <cstring>

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

}  // namespace berth::testing
