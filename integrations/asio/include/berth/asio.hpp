// asio.hpp: berth::asio, berth's asynchronous acquire for standalone Asio
// (completion tokens, associated executors, per-operation cancellation).
//
//   #include <berth/asio.hpp>
//   auto r = co_await berth::asio::async_acquire_for(pool, 100ms, asio::use_awaitable);
//
// The target berth::asio (integrations/asio/CMakeLists.txt) is header-only.
#pragma once

#include <berth/asio/async_acquire.hpp>  // async_acquire, async_acquire_for
#include <berth/asio/error.hpp>          // to_error_code
#include <berth/asio/executor.hpp>       // posting_executor
