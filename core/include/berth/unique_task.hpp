// unique_task.hpp: a move-only `void()` callable, what berth hands to an
// executor's post() (executor.hpp).
//
// std::function needs copyable targets and a completion owns a lease (move
// only); std::move_only_function is C++23. Small targets (up to
// inline_size bytes, nothrow-movable) are stored in place, so posting a
// completion whose handler is a lambda holding a few pointers does not
// allocate; larger ones are allocated once.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace berth {

/// A move-only callable taking no arguments and returning nothing.
/// Invoke at most once (operator() is not const and may consume state);
/// destroying a task that was never invoked destroys its target, which is
/// how a completion learns that its executor dropped it (see
/// pool::async_acquire).
/// Distinct objects: safe. Shared objects: unsafe.
class unique_task {
 public:
  static constexpr std::size_t inline_size = 64;

  unique_task() noexcept = default;

  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, unique_task> && std::is_invocable_r_v<void, std::decay_t<F>&>)
  unique_task(F&& f) {  // NOLINT(google-explicit-constructor): a task is made from any callable
    using T = std::decay_t<F>;
    if constexpr (sizeof(T) <= inline_size && alignof(T) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<T>) {
      ::new (static_cast<void*>(buf_)) T(std::forward<F>(f));
      ops_ = &inline_ops<T>;
    } else {
      *reinterpret_cast<T**>(buf_) = new T(std::forward<F>(f));
      ops_ = &heap_ops<T>;
    }
  }

  unique_task(unique_task&& o) noexcept : ops_(std::exchange(o.ops_, nullptr)) {
    if (ops_ != nullptr) ops_->move(buf_, o.buf_);
  }
  unique_task& operator=(unique_task&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = std::exchange(o.ops_, nullptr);
      if (ops_ != nullptr) ops_->move(buf_, o.buf_);
    }
    return *this;
  }
  unique_task(const unique_task&) = delete;
  unique_task& operator=(const unique_task&) = delete;
  ~unique_task() { reset(); }

  /// True when it holds a callable.
  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Invokes the callable. Precondition: it holds one.
  void operator()() { ops_->call(buf_); }

 private:
  struct ops {
    void (*call)(void*);
    void (*move)(void* to, void* from) noexcept;  // leaves `from` destroyed
    void (*destroy)(void*) noexcept;
  };
  template <class T>
  static constexpr ops inline_ops{
      [](void* p) { (*static_cast<T*>(p))(); },
      [](void* to, void* from) noexcept {
        ::new (to) T(std::move(*static_cast<T*>(from)));
        static_cast<T*>(from)->~T();
      },
      [](void* p) noexcept { static_cast<T*>(p)->~T(); },
  };
  template <class T>
  static constexpr ops heap_ops{
      [](void* p) { (**static_cast<T**>(p))(); },
      [](void* to, void* from) noexcept { *static_cast<T**>(to) = *static_cast<T**>(from); },
      [](void* p) noexcept { delete *static_cast<T**>(p); },
  };

  void reset() noexcept {
    if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(buf_);
  }

  alignas(std::max_align_t) unsigned char buf_[inline_size];
  const ops* ops_ = nullptr;
};

}  // namespace berth
