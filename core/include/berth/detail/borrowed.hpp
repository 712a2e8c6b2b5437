// borrowed.hpp: result types that would refer into a pooled connection.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace berth::detail {

template <class T>
struct is_view : std::false_type {};
template <class C, class Traits>
struct is_view<std::basic_string_view<C, Traits>> : std::true_type {};
template <class E, std::size_t N>
struct is_view<std::span<E, N>> : std::true_type {};
/// A pointer to bytes or characters: what a row's text or blob gives.
template <class T>
  requires std::is_pointer_v<T>
struct is_view<T>
    : std::bool_constant<sizeof(std::remove_cvref_t<std::remove_pointer_t<T>>) == 1 &&
                         (std::is_integral_v<std::remove_cv_t<std::remove_pointer_t<T>>> ||
                          std::is_same_v<std::remove_cv_t<std::remove_pointer_t<T>>, std::byte>)> {};
// Wrapped views dangle as much as bare ones (get<std::optional<std::string_view>>).
template <class T>
struct is_view<std::optional<T>> : std::bool_constant<is_view<std::remove_cv_t<T>>::value || std::is_reference_v<T>> {};
template <class A, class B>
struct is_view<std::pair<A, B>>
    : std::bool_constant<is_view<std::remove_cv_t<A>>::value || is_view<std::remove_cv_t<B>>::value ||
                         std::is_reference_v<A> || std::is_reference_v<B>> {};
template <class... T>
struct is_view<std::tuple<T...>>
    : std::bool_constant<((is_view<std::remove_cv_t<T>>::value || std::is_reference_v<T>) || ...)> {};
template <class... T>
struct is_view<std::variant<T...>> : std::bool_constant<(is_view<std::remove_cv_t<T>>::value || ...)> {};
template <class T, class Alloc>
struct is_view<std::vector<T, Alloc>> : is_view<std::remove_cv_t<T>> {};
template <class T, std::size_t N>
struct is_view<std::array<T, N>> : is_view<std::remove_cv_t<T>> {};

/// True for what a function run on a pooled connection (pool::with, the
/// adapters' transaction runners) may not return: a reference, a
/// std::string_view, a std::span, a pointer to bytes or characters, or one
/// of these inside a std::optional, pair, tuple, variant, vector or array.
/// Each would point into the connection (a row's text or blob, say) after
/// it went back to its pool, where the next user overwrites it
/// (sqlite_read_returning_a_view_does_not_compile: a heap-use-after-free
/// under ASan). Return an owning value (std::string, std::vector) instead.
/// Pure, compile time.
template <class T>
inline constexpr bool borrows_v = std::is_reference_v<T> || is_view<std::remove_cv_t<T>>::value;

}  // namespace berth::detail
