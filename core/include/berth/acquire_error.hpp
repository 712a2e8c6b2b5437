// acquire_error.hpp: why an acquire failed, with the pool's state at that moment.
#pragma once

#include <berth/errc.hpp>
#include <berth/stats.hpp>

#include <chrono>
#include <cstddef>
#include <source_location>
#include <string>
#include <system_error>
#include <vector>

namespace berth {

struct acquire_error;

/// Thrown by result<lease, acquire_error>::value() and pool::with().
class acquire_exception : public std::system_error {
 public:
  explicit acquire_exception(const acquire_error& e);
};

/// An acquire's failure. For errc::timeout it tells "pool exhausted" from
/// "database down": counts.leased == counts.total == max_size means every
/// connection was held; a last_creation_error with a low total means new
/// connections could not be opened. errc::database_unavailable (the circuit
/// breaker on creation refused the acquire) always carries the last creation
/// error.
/// Thread-safety: a value type; distinct objects safe, shared objects unsafe.
struct acquire_error {
  using exception_type = acquire_exception;

  errc code = errc::timeout;
  /// The pool's state when the acquire gave up.
  pool_counts counts;
  /// How long the caller waited.
  std::chrono::nanoseconds waited{0};
  /// Last failed connection attempt, if one failed since the last success
  /// (not filled for errc::would_block, which must stay cheap).
  std::error_code last_creation_error;
  std::string last_creation_message;
  /// The pool's name (not filled for errc::would_block).
  std::string pool_name;
  /// errc::would_block: try_acquire found idle connections but put them
  /// back because they await validation (validate_on_acquire: unused past
  /// validation_bypass); a blocking acquire validates them, and the reaper
  /// is asked to validate them at once. errc::timeout: the deadline had
  /// passed (a zero timeout, say) when the acquire got an idle connection
  /// that must be validated first, so it put it back (and the reaper is
  /// asked to validate a stale one); with validation_bypass = 0 every
  /// connection must, so only an acquire with time left can succeed.
  /// Decided by the call itself, not read off `counts`, in which the reaper
  /// may already hold them.
  bool awaiting_validation = false;
  /// errc::timeout only (blocking or asynchronous): where it was called, and where the
  /// leases still out were acquired (the most frequent sites, at most
  /// max_lease_sites, by count; read off the slots without stopping the
  /// pool, so approximate under load). A lease site in the same function as
  /// `site` on a pool with nothing idle is the mark of a nested acquire: a
  /// thread that holds a connection waits for another, possibly for itself.
  struct lease_site {
    std::source_location where;
    std::size_t count = 0;
  };
  static constexpr std::size_t max_lease_sites = 3;
  std::source_location site{};
  std::vector<lease_site> lease_sites;

  /// One line: what failed, the counts, and the creation failure if any,
  /// e.g. "berth pool 'orders': acquire timed out after 30000 ms (total=10,
  /// idle=0, leased=10, ...); last connection attempt failed: ..."; for a
  /// timeout, also where the leases out were acquired.
  std::string message() const;
};

inline acquire_exception::acquire_exception(const acquire_error& e)
    : std::system_error(make_error_code(e.code), e.message()) {}

}  // namespace berth
