// lease.hpp: the move-only RAII handle to a pooled connection.
#pragma once

#include <berth/adapter.hpp>
#include <berth/detail/pool_core.hpp>

#include <cstdint>
#include <exception>
#include <utility>

namespace berth {

template <adapter A>
class pool;

namespace detail {
/// Reports "berth::lease: no connection (moved from, released or
/// discarded)" on stderr and aborts: a lease without a connection was
/// dereferenced. Thread-safe.
[[noreturn]] BERTH_COLD void empty_lease_dereferenced() noexcept;
}  // namespace detail

/// Exclusive use of one pooled connection. Destroying the lease returns the
/// connection. If the adapter has a needs_reset() check, that check decides
/// whether the connection is reset first, also when the lease ends during
/// stack unwinding (the user's code threw); an adapter without one gets
/// reset() on every release during unwinding (its session state is
/// unknown). With pool_options::on_unwind = discard a connection released
/// during unwinding is closed instead. discard() closes it in any case (use
/// it when the connection is broken).
/// Distinct objects: safe. Shared objects: unsafe (a lease belongs to one
/// thread at a time; it may be moved to another thread).
/// The pool must outlive its leases: destroying a pool with leases out aborts
/// with a report naming them.
// GCC 12 at -O2/-O3 warns that pool_, conn_ and slot_ "may be used
// uninitialized" where a result<lease, acquire_error> built from an error is
// moved or destroyed: result tests its tag, GCC loses track of it and
// inlines the lease's move or release for the value case that cannot
// happen. A false positive, which a -Werror build of a user's code would
// turn into an error; silenced for this class only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <adapter A>
class lease {
 public:
  using connection_type = typename A::connection_type;

  /// An empty lease. Never blocks.
  lease() noexcept = default;
  lease(lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), conn_(o.conn_), slot_(o.slot_) {}
  lease& operator=(lease&& o) noexcept {
    if (this != &o) {
      release();
      pool_ = std::exchange(o.pool_, nullptr);
      conn_ = o.conn_;
      slot_ = o.slot_;
    }
    return *this;
  }
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;
  /// Returns the connection (see class doc). Never blocks unless acquirers are
  /// queued (brief hand-off) or the connection needs a reset.
  BERTH_HOT ~lease() {
    // As release(), without emptying a lease that is ending anyway (a store
    // on every cycle's path).
    if (pool_ != nullptr) end(pool_, [] { return std::uncaught_exceptions() != 0; });
  }

  /// True while the lease holds a connection. Never blocks.
  explicit operator bool() const noexcept { return pool_ != nullptr; }
  /// The connection. Precondition: *this holds one (not moved from,
  /// released or discarded); every build checks it and aborts with a
  /// message naming the misuse. Never blocks.
  connection_type& operator*() const noexcept { return *get_checked(); }
  connection_type* operator->() const noexcept { return get_checked(); }
  connection_type& get() const noexcept { return *get_checked(); }

  /// Returns the connection to the pool now; the lease becomes empty.
  /// No-op on an empty lease. Never allocates. If the adapter's
  /// needs_reset() says so (an open transaction, say), the connection is
  /// reset first, in this thread (discarded if that fails); see the class
  /// comment for unwinding.
  /// Unwinding is detected as std::uncaught_exceptions() != 0 at release,
  /// and only where it changes the outcome (no needs_reset(), or on_unwind =
  /// discard): the call costs about 1.5 ns (a PLT call and a dynamic-TLS
  /// lookup in libstdc++), 10 to 15% of a cycle. Comparing with the count at
  /// acquire would be exact but costs a second call; the only difference is
  /// a lease acquired and released entirely inside a destructor that runs
  /// during unwinding, which then gets a (harmless) reset.
  BERTH_HOT void release() noexcept {
    release_when([] { return std::uncaught_exceptions() != 0; });
  }

  /// Closes the connection instead of returning it (it is broken or its
  /// session state is unknown); the pool replaces it as demand requires. The
  /// lease becomes empty. No-op on an empty lease.
  void discard() noexcept {
    if (pool_ != nullptr) std::exchange(pool_, nullptr)->release(*slot_, detail::release_mode::discard);
  }

 private:
  friend class pool<A>;
  connection_type* get_checked() const noexcept {
    // In every build, not only with assertions on: an empty lease still
    // holds the pointer of the connection it gave back, which by now may be
    // another thread's (issue 13, handle misuse). One test and branch on a
    // member the access reads anyway.
    if (pool_ == nullptr) [[unlikely]]
      detail::empty_lease_dereferenced();
    return conn_;
  }
  lease(pool<A>* p, connection_type* c, detail::slot_meta* slot) noexcept : pool_(p), conn_(c), slot_(slot) {}

  /// release(), with unwinding() telling whether the user's code threw;
  /// called only where the answer changes the outcome. pool::with() knows
  /// the answer exactly (a throw from its function), where
  /// std::uncaught_exceptions() would also count an exception that is
  /// unwinding through the destructor that calls with().
  template <class Unwinding>
  BERTH_HOT void release_when(Unwinding unwinding) noexcept {
    if (pool_ != nullptr) end(std::exchange(pool_, nullptr), unwinding);
  }
  /// The lease on slot_ ends in pool p (pool_, already cleared unless the
  /// lease is being destroyed).
  template <class Unwinding>
  BERTH_HOT void end(pool<A>* p, Unwinding unwinding) noexcept {
    auto mode = detail::release_mode::normal;
    if constexpr (adapter_with_needs_reset<A>) {
      // The adapter sees its session state: unwinding matters only when
      // the user asked to close such connections.
      // Both unlikely: the code of the usual release (a clean session)
      // then follows in line (GCC 12 placed it away from the loop, behind
      // a taken branch, and laid out the unwinding test in line instead).
      if (p->discard_on_unwind() && unwinding()) [[unlikely]]
        mode = detail::release_mode::unwinding;
      else if (p->adapter().needs_reset(*conn_)) [[unlikely]]
        mode = detail::release_mode::reset;
    } else if (unwinding()) [[unlikely]] {
      mode = detail::release_mode::unwinding;
    }
    p->release(*slot_, mode);
  }

  pool<A>* pool_ = nullptr;
  connection_type* conn_ = nullptr;
  detail::slot_meta* slot_ = nullptr;  // its slot in pool_ (release reads no index: pool_core::slot_at)
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace berth
