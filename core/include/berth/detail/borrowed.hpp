// borrowed.hpp: result types that would refer into a pooled connection.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>

namespace berth::detail {

template <class T>
struct is_view : std::false_type {};
template <class C, class Traits>
struct is_view<std::basic_string_view<C, Traits>> : std::true_type {};
template <class E, std::size_t N>
struct is_view<std::span<E, N>> : std::true_type {};

/// True for what a function run on a pooled connection (pool::with, the
/// adapters' transaction runners) may not return: a reference, a
/// std::string_view or a std::span. Each would point into the connection
/// (a row's text or blob, say) after it went back to its pool, where the
/// next user overwrites it (SqliteDatabase.ReadReturningAStringViewDoesNotCompileBug:
/// a heap-use-after-free under ASan). Return an owning value (std::string,
/// std::vector) instead. Pure, compile time.
template <class T>
inline constexpr bool borrows_v = std::is_reference_v<T> || is_view<std::remove_cv_t<T>>::value;

}  // namespace berth::detail
