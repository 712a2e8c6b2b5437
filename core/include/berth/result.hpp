// result.hpp: a small std::expected stand-in (GCC 12 has no <expected>).
//
// Same surface as std::expected where used: has_value(), operator bool,
// operator*, operator->, value() (throws), error(). Switching to
// std::expected later is an alias change plus the exception type.
#pragma once

#include <berth/detail/hot_path.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace berth {

/// Throws the exception for e: throw_exception(e) found by ADL if any, else
/// E::exception_type(e). Used by result::value().
namespace detail {
template <class E>
[[noreturn]] void throw_error(const E& e) {
  if constexpr (requires { throw_exception(e); })
    throw_exception(e);
  else
    throw typename E::exception_type(e);
}
}  // namespace detail

/// Wraps an error for construction of a failed result (std::unexpected).
template <class E>
struct failure {
  E error;
};
template <class E>
failure(E) -> failure<E>;

/// Either a T or an E. Distinct objects: safe. Shared objects: unsafe.
/// value() on an error calls throw_exception(error()) when E's namespace
/// declares one (found by ADL; it throws the most specific exception for the
/// error, e.g. berth::postgres::throw_exception), else throws
/// E::exception_type built from the error.
template <class T, class E>
class [[nodiscard]] result {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_constructible_v<E>,
                "result<T, E>: T and E must be nothrow move constructible");

 public:
  using value_type = T;
  using error_type = E;

  template <class U = T>
    requires std::is_constructible_v<T, U&&>
  result(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)  // NOLINT(implicit)
      : ok_(true) {
    std::construct_at(&val_, std::forward<U>(v));
  }
  template <class G>
  result(failure<G> f) noexcept(std::is_nothrow_constructible_v<E, G&&>)  // NOLINT(implicit)
      : ok_(false) {
    std::construct_at(&err_, std::move(f.error));
  }
  result(const result& o)
    requires std::is_copy_constructible_v<T> && std::is_copy_constructible_v<E>
      : ok_(o.ok_) {
    if (ok_)
      std::construct_at(&val_, o.val_);
    else
      std::construct_at(&err_, o.err_);
  }
  result(result&& o) noexcept : ok_(o.ok_) {
    if (ok_)
      std::construct_at(&val_, std::move(o.val_));
    else
      std::construct_at(&err_, std::move(o.err_));
  }
  result& operator=(const result& o)
    requires std::is_copy_constructible_v<T> && std::is_copy_constructible_v<E>
  {
    if (this != &o) *this = result(o);  // copy first: a throwing copy leaves *this intact
    return *this;
  }
  result& operator=(result&& o) noexcept {
    if (this != &o) {
      destroy();
      ok_ = o.ok_;
      if (ok_)
        std::construct_at(&val_, std::move(o.val_));
      else
        std::construct_at(&err_, std::move(o.err_));
    }
    return *this;
  }
  /// Inlined (BERTH_HOT): for result<lease>, this is where the lease ends,
  /// and the fast path's release must not become a call.
  BERTH_HOT ~result() { destroy(); }

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  T& operator*() & noexcept { return val_; }
  const T& operator*() const& noexcept { return val_; }
  T* operator->() noexcept { return &val_; }
  const T* operator->() const noexcept { return &val_; }

  T& value() & {
    throw_if_error();
    return val_;
  }
  T&& value() && {
    throw_if_error();
    return std::move(val_);
  }
  const E& error() const& noexcept { return err_; }
  E&& error() && noexcept { return std::move(err_); }

 private:
  void throw_if_error() const {
    if (!ok_) detail::throw_error(err_);
  }
  // Direct destructor calls, not std::destroy_at: GCC 12 at -O2 kept
  // destroy_at<lease> out of line even with the lease's destructor inlined.
  BERTH_HOT void destroy() noexcept {
    if (ok_)
      val_.~T();
    else
      err_.~E();
  }

  // A tagged union rather than std::variant: GCC 12 at -O2 kept variant's
  // destructor (through its visitor) out of line, turning every lease's
  // release into a call (issue 9).
  union {
    T val_;
    E err_;
  };
  bool ok_;
};

/// result<void, E>: success or an E.
template <class E>
class [[nodiscard]] result<void, E> {
 public:
  result() noexcept = default;
  template <class G>
  result(failure<G> f) : e_(std::move(f.error)), ok_(false) {}  // NOLINT(implicit)

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) detail::throw_error(e_);
  }
  const E& error() const& noexcept { return e_; }

 private:
  E e_{};
  bool ok_ = true;
};

}  // namespace berth
