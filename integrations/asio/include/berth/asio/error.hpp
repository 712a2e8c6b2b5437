// error.hpp: an acquire's failure as the std::error_code Asio code checks.
#pragma once

#include <berth/acquire_error.hpp>
#include <berth/errc.hpp>

#include <asio/error.hpp>

#include <system_error>

namespace berth::asio {

/// The error_code of a failed asynchronous acquire in Asio's vocabulary:
/// asio::error::operation_aborted for errc::cancelled (so the usual
/// `ec == asio::error::operation_aborted` test recognizes a cancelled
/// acquire), make_error_code(e.code) (category "berth") for the rest
/// (errc::timeout, errc::pool_closed). The acquire_error itself keeps the
/// pool's counts, the wait and the last creation error: log e.message().
/// Thread-safe. Never blocks. Never allocates.
inline std::error_code to_error_code(const acquire_error& e) noexcept {
  if (e.code == errc::cancelled) return ::asio::error::operation_aborted;
  return make_error_code(e.code);
}

}  // namespace berth::asio
