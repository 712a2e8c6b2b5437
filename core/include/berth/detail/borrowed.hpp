// borrowed.hpp: result types that would refer into a pooled connection.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <ranges>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace berth::detail {

template <class T>
struct is_view : std::false_type {};
/// string_view and span are ranges too: they are views themselves, not
/// containers of views.
template <class T>
inline constexpr bool is_view_exact = false;
template <class C, class Traits>
inline constexpr bool is_view_exact<std::basic_string_view<C, Traits>> = true;
template <class E, std::size_t N>
inline constexpr bool is_view_exact<std::span<E, N>> = true;
template <class C, class Traits>
struct is_view<std::basic_string_view<C, Traits>> : std::true_type {};
template <class E, std::size_t N>
struct is_view<std::span<E, N>> : std::true_type {};
/// A pointer to an object: a row's text or blob, the connection itself
/// (`&conn`), one of its statements. (A function pointer is no view.)
template <class T>
  requires std::is_pointer_v<T>
struct is_view<T> : std::bool_constant<std::is_object_v<std::remove_pointer_t<T>>> {};
template <class T>
struct is_view<std::reference_wrapper<T>> : std::true_type {};
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
/// Any container of views (vector, array, deque, list, set, map: a map's
/// value_type is a pair): its elements dangle as much.
template <class T>
  requires std::ranges::range<T> && (!is_view_exact<T>)
struct is_view<T> : is_view<std::remove_cv_t<std::ranges::range_value_t<T>>> {};

/// True for what a function run on a pooled connection (pool::with, the
/// adapters' transaction runners) may not return: a reference, a
/// std::reference_wrapper, a std::string_view, a std::span, a pointer to an
/// object, or one of these inside a std::optional, pair, tuple, variant or
/// any container (vector, array, deque, list, set, map, ...).
/// Each would point into the connection (a row's text or blob, say) after
/// it went back to its pool, where the next user overwrites it
/// (sqlite_read_returning_a_view_does_not_compile: a heap-use-after-free
/// under ASan). Return an owning value (std::string, std::vector) instead.
/// Pure, compile time.
template <class T>
inline constexpr bool borrows_v = std::is_reference_v<T> || is_view<std::remove_cv_t<T>>::value;

}  // namespace berth::detail
