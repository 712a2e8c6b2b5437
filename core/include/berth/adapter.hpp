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

/// True when A has a needs_reset() member callable on a const connection,
/// whatever its exception specification: pool<A> rejects one that is not
/// the noexcept check above, which the pool would otherwise never call.
template <class A>
concept declares_needs_reset = adapter<A> && requires(const A& a, const typename A::connection_type& c) {
  a.needs_reset(c);
};

/// What a pool hands an adapter_with_sweep: a way for the adapter to have
/// the pool drop, at once, the connections it has learnt are stale (a
/// failover: its server was demoted or promoted), without adding work to
/// acquire or release.
class sweep_target {
 public:
  /// Examines every connection of the pool that exists when the call
  /// begins: each idle one is reserved (no acquirer can take it meanwhile)
  /// and closed (events evicted, then closed with close_reason::evicted)
  /// when adapter.should_evict(c) is true, else put back untouched; each one
  /// owned at that moment (leased, being validated, being opened) is flagged
  /// so that whoever acquires it next validates it first (adapter.validate,
  /// even with validate_on_acquire off). Connections whose connect() begins
  /// after the call are not examined. Thread-safe; concurrent sweeps are
  /// allowed. Never calls validate(); blocks while it closes connections
  /// (adapter.close()). O(max_size).
  virtual void sweep() noexcept = 0;
  /// sweep() for idle connections only: the ones in use are not flagged
  /// (the adapter finds those itself, at their release: needs_reset(),
  /// reset(), validate() fail for them). For news about single connections
  /// (a server closed one session), where flagging every connection in use
  /// would make each one's next acquirer validate it for nothing.
  /// Thread-safe. O(max_size).
  virtual void sweep_idle() noexcept = 0;

 protected:
  ~sweep_target() = default;
};

/// True when A declares the optional sweep hooks:
///   bool should_evict(const connection_type& c) const noexcept: no I/O;
///                called by a sweep on idle connections it reserved (so
///                concurrently for different connections). validate(c) must
///                fail whenever should_evict(c) is true: the connections a
///                sweep finds in use are validated by their next acquirer
///                instead.
///   void attach(sweep_target* t) noexcept: the pool calls it with itself
///                before it opens any connection, and with nullptr first
///                thing in its destructor (or when its constructor fails); the
///                adapter then calls t->sweep() from any thread (typically
///                inside the adapter call or connection call that learnt of
///                the failover) until attach(nullptr) returns, so attach
///                must wait for a sweep in progress to finish.
template <class A>
concept adapter_with_sweep = adapter<A> && requires(A& a, const A& ca, const typename A::connection_type& c,
                                                    sweep_target* t) {
  { ca.should_evict(c) } noexcept -> std::convertible_to<bool>;
  { a.attach(t) } noexcept;
};

}  // namespace berth
