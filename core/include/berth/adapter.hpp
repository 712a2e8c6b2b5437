// adapter.hpp: what a connection type must provide to be pooled.
#pragma once

#include <berth/result.hpp>

#include <concepts>
#include <string>
#include <system_error>
#include <type_traits>

namespace berth {

struct adapter_error;

/// Thrown by result<T, adapter_error>::value().
class adapter_exception : public std::system_error {
 public:
  explicit adapter_exception(const adapter_error& e);
};

/// An adapter call's failure: a code plus the adapter's own words (libpq's
/// PQerrorMessage, sqlite3_errmsg, ...). Thread-safety: a value type.
struct adapter_error {
  using exception_type = adapter_exception;
  std::error_code code;
  std::string message;
};

inline adapter_exception::adapter_exception(const adapter_error& e)
    : std::system_error(e.code, e.message) {}

/// The adapter contract. An adapter is an object the pool owns; it opens,
/// checks, cleans and closes connections of type A::connection_type.
///   connect():   open a new connection (may block: runs on the pool's
///                creator thread, or the constructing thread at fail-fast
///                start-up, never in an acquirer's call).
///   validate(c): is c still usable? (a cheap round trip). An adapter may
///                also provide validate(c, std::chrono::milliseconds timeout);
///                the pool then passes pool_options::validation_timeout.
///   reset(c):    bring c back to a clean session state (roll back, discard
///                temporary state); called on connections released during
///                stack unwinding, and on any release that needs_reset()
///                flags. A failure discards the connection.
///   close(c):    release c's resources. noexcept.
/// Optional:
///   bool needs_reset(const connection_type& c) const noexcept: called on
///                every ordinary release, in the releasing thread, before
///                the connection can reach anyone else; true makes the pool
///                call reset(c) first (an open transaction, an unfinished
///                statement). It must be cheap and do no I/O (a flag or a
///                library's status call): it is on the release path.
/// Optional timeouts: validate(c, std::chrono::milliseconds timeout).
/// Thread-safety the adapter must give: its functions may run concurrently on
/// different threads for different connections; never concurrently on the
/// same connection. A thrown exception is treated as a failure with what().
template <class A>
concept adapter = requires(A& a, typename A::connection_type& c) {
  typename A::connection_type;
  { a.connect() } -> std::same_as<result<typename A::connection_type, adapter_error>>;
  { a.validate(c) } -> std::same_as<result<void, adapter_error>>;
  { a.reset(c) } -> std::same_as<result<void, adapter_error>>;
  { a.close(c) } noexcept;
} && std::is_nothrow_move_constructible_v<typename A::connection_type>;

/// True when A declares the optional needs_reset() check (see adapter).
template <class A>
concept adapter_with_needs_reset = adapter<A> && requires(const A& a, const typename A::connection_type& c) {
  { a.needs_reset(c) } noexcept -> std::convertible_to<bool>;
};

}  // namespace berth
