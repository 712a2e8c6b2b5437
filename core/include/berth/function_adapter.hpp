// function_adapter.hpp: pool any client from four callables.
//
// The factory style users know from other pools (bb8's ManageConnection,
// deadpool's Manager, a HikariCP data source plus a test query): say how to
// open, check, clean and close a connection of a client library berth knows
// nothing about, and pool it.
//
//   berth::pool<berth::function_adapter<SQLite::Database>> pool{
//       berth::function_adapter<SQLite::Database>{{
//           .connect = [] { return SQLite::Database("app.db", SQLite::OPEN_READWRITE); },
//           .validate = [](SQLite::Database& db) { return db.execAndGet("SELECT 1").getInt() == 1; },
//       }},
//       {.max_size = 8}};
//
// A client type that cannot be moved without throwing (or at all) is pooled
// as std::unique_ptr<Client>.
#pragma once

#include <berth/adapter.hpp>
#include <berth/errc.hpp>
#include <berth/options.hpp>
#include <berth/result.hpp>

#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace berth {

/// An adapter made of callables. Conn must be nothrow-movable (the pool
/// stores it in place); use std::unique_ptr<Client> otherwise.
/// Thread-safety: the pool calls these concurrently for different
/// connections (never for the same one), so the callables must allow that;
/// the adapter itself adds no state.
template <class Conn>
  requires std::is_nothrow_move_constructible_v<Conn>
class function_adapter {
 public:
  using connection_type = Conn;

  /// The four callables. Only connect is required.
  struct callables {
    /// Opens a connection; throws to report failure (its what() becomes the
    /// creation error). Runs on the pool's creator thread.
    std::function<Conn()> connect;
    /// Is the connection usable? (a cheap round trip). false or a throw:
    /// the pool closes it. Default: always usable.
    std::function<bool(Conn&)> validate{};
    /// Brings the connection back to a clean session (roll back, discard
    /// temporary state); a throw makes the pool close it. Default: nothing.
    std::function<void(Conn&)> reset{};
    /// Releases the client's resources; must not throw (a throw is caught
    /// and ignored: the connection is gone either way). Default: nothing
    /// beyond Conn's destructor, which the pool runs right after.
    std::function<void(Conn&)> close{};
    /// Checked on every ordinary release (see berth::adapter's optional
    /// needs_reset): true makes the pool call reset first, e.g. when a
    /// transaction was left open. Must be cheap and do no I/O; a throw counts
    /// as true. Default: true only for a release during stack unwinding (the
    /// session state of a connection abandoned by an exception is unknown).
    std::function<bool(const Conn&)> needs_reset{};
  };

  /// Throws options_error naming "connect" when connect is empty.
  explicit function_adapter(callables c) : c_(std::move(c)) {
    if (!c_.connect) throw options_error("connect", "must be set", "function_adapter::callables");
  }

  /// Thread-safe (see class). May block (it is the client's connect).
  result<Conn, adapter_error> connect() {
    try {
      return c_.connect();
    } catch (...) {
      return failure{current_error("connect")};
    }
  }

  /// Thread-safe for distinct connections.
  result<void, adapter_error> validate(Conn& c) {
    if (!c_.validate) return {};
    try {
      if (c_.validate(c)) return {};
      return failure{adapter_error{make_error_code(errc::adapter_failure), "validate returned false"}};
    } catch (...) {
      return failure{current_error("validate")};
    }
  }

  /// Thread-safe for distinct connections.
  result<void, adapter_error> reset(Conn& c) {
    if (!c_.reset) return {};
    try {
      c_.reset(c);
      return {};
    } catch (...) {
      return failure{current_error("reset")};
    }
  }

  /// Never throws. No I/O of its own. Thread-safe for distinct connections.
  bool needs_reset(const Conn& c) const noexcept {
    if (!c_.needs_reset) return std::uncaught_exceptions() != 0;
    try {
      return c_.needs_reset(c);
    } catch (...) {  // documented: when in doubt, reset
      return true;
    }
  }

  /// Never throws. Thread-safe for distinct connections.
  void close(Conn& c) noexcept {
    if (!c_.close) return;
    try {
      c_.close(c);
    } catch (...) {  // documented: ignored, the connection is gone either way
    }
  }

 private:
  /// The exception in flight as an adapter_error naming the call.
  static adapter_error current_error(const char* call) noexcept {
    adapter_error e{make_error_code(errc::adapter_failure), {}};
    try {
      try {
        throw;
      } catch (const std::exception& ex) {
        e.message = std::string(call) + " threw: " + ex.what();
      } catch (...) {
        e.message = std::string(call) + " threw a non-standard exception";
      }
    } catch (...) {  // out of memory building the message: the code still says it
    }
    return e;
  }

  callables c_;
};

}  // namespace berth
