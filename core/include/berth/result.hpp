// result.hpp: a small std::expected stand-in (GCC 12 has no <expected>).
//
// Same surface as std::expected where used: has_value(), operator bool,
// operator*, operator->, value() (throws), error(). Switching to
// std::expected later is an alias change plus the exception type.
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

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
 public:
  using value_type = T;
  using error_type = E;

  template <class U = T>
    requires std::is_constructible_v<T, U&&>
  result(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)  // NOLINT(implicit)
      : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  template <class G>
  result(failure<G> f) noexcept(std::is_nothrow_constructible_v<E, G&&>)  // NOLINT(implicit)
      : v_(std::in_place_index<1>, std::move(f.error)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
  T* operator->() noexcept { return std::get_if<0>(&v_); }
  const T* operator->() const noexcept { return std::get_if<0>(&v_); }

  T& value() & {
    throw_if_error();
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    throw_if_error();
    return std::move(*std::get_if<0>(&v_));
  }
  const E& error() const& noexcept { return *std::get_if<1>(&v_); }
  E&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

 private:
  void throw_if_error() const {
    if (!has_value()) detail::throw_error(error());
  }
  std::variant<T, E> v_;
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
