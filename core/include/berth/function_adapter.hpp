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
// as std::unique_ptr<Client> (a null one from connect is a creation error).
//
// What berth cannot do for a client it does not know, and the callables
// that let the user do it:
//   - bound a check: validate runs as long as the client's round trip
//     takes (a peer that went silent holds the acquirer that validates);
//     validate_for receives the time the pool allows (validation_timeout,
//     capped by what is left of the acquire's deadline) to pass on to the
//     client (a statement timeout, a socket timeout, an asynchronous call);
//   - keep secrets out of messages: a client library may echo its
//     connection string, password included, in an exception (libpq does for
//     a malformed one); redact rewrites every exception text before it
//     becomes a creation error, an event or a log line.
#pragma once

#include <berth/adapter.hpp>
#include <berth/errc.hpp>
#include <berth/options.hpp>
#include <berth/result.hpp>

#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
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

  /// The four callables, and two optional ones. Only connect is required.
  struct callables {
    /// Opens a connection; throws to report failure (its what() becomes the
    /// creation error, and a std::system_error's code its code). Runs on the
    /// pool's creator thread. berth cannot interrupt it: bound it with the
    /// client's own connect timeout, since the pool's destructor waits for a
    /// connect in progress (one that never returns holds it forever). A Conn that compares equal to nullptr (a null
    /// std::unique_ptr) is a failure too: there is nothing to pool.
    std::function<Conn()> connect;
    /// Is the connection usable? (a cheap round trip). false or a throw:
    /// the pool closes it. Default: always usable. Not bounded by berth:
    /// prefer validate_for when the client can bound a call.
    std::function<bool(Conn&)> validate{};
    /// validate with the time it may take: pool_options::validation_timeout,
    /// capped by what is left of the acquire's deadline (the acquire that
    /// validates). Pass it on to the client; past it, return false or throw
    /// (the pool closes the connection). Set this or validate, not both.
    std::function<bool(Conn&, std::chrono::milliseconds)> validate_for{};
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
    /// Rewrites the text of every exception a callable throws before berth
    /// keeps it (creation errors, events, acquire errors, logs), e.g. to
    /// blank a password the client library echoes from its connection
    /// string. Called on the creator thread or an acquirer's; must be
    /// thread-safe. A throw from it withholds the text. Default: kept as is.
    std::function<std::string(std::string_view)> redact{};
  };

  /// Throws options_error naming "connect" when connect is empty, and
  /// "validate_for" when validate is set too.
  explicit function_adapter(callables c) : c_(std::move(c)) {
    if (!c_.connect) throw options_error("connect", "must be set", "function_adapter::callables");
    if (c_.validate && c_.validate_for)
      throw options_error("validate_for", "set validate or validate_for, not both", "function_adapter::callables");
  }

  /// Thread-safe (see class). May block (it is the client's connect).
  result<Conn, adapter_error> connect() {
    try {
      Conn c = c_.connect();
      if constexpr (requires(const Conn& x) {
                      { x == nullptr } -> std::convertible_to<bool>;
                    }) {
        if (c == nullptr)
          return failure{adapter_error{make_error_code(errc::adapter_failure),
                                       "connect returned a null client: there is nothing to pool"}};
      }
      return c;
    } catch (...) {
      return failure{current_error("connect")};
    }
  }

  /// The pool's call: validate_for with `timeout`, or validate. Thread-safe
  /// for distinct connections.
  result<void, adapter_error> validate(Conn& c, std::chrono::milliseconds timeout) {
    if (!c_.validate && !c_.validate_for) return {};
    try {
      if (c_.validate_for ? c_.validate_for(c, timeout) : c_.validate(c)) return {};
      return failure{adapter_error{make_error_code(errc::adapter_failure),
                                   c_.validate_for ? "validate_for returned false" : "validate returned false"}};
    } catch (...) {
      return failure{current_error(c_.validate_for ? "validate_for" : "validate")};
    }
  }
  /// As above with pool_options' default validation_timeout.
  result<void, adapter_error> validate(Conn& c) { return validate(c, pool_options{}.validation_timeout); }

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
  /// The exception in flight as an adapter_error naming the call: a
  /// std::system_error keeps its code, anything else is adapter_failure;
  /// the text goes through redact.
  adapter_error current_error(const char* call) const noexcept {
    adapter_error e{make_error_code(errc::adapter_failure), {}};
    try {
      try {
        throw;
      } catch (const std::system_error& ex) {
        if (ex.code()) e.code = ex.code();  // a zero code would read as success
        e.message = std::string(call) + " threw: " + redacted(ex.what());
      } catch (const std::exception& ex) {
        e.message = std::string(call) + " threw: " + redacted(ex.what());
      } catch (...) {
        e.message = std::string(call) + " threw a non-standard exception";
      }
    } catch (...) {  // out of memory building the message: the code still says it
    }
    return e;
  }
  /// text through redact; "(message withheld: redact threw)" when it throws.
  std::string redacted(std::string_view text) const {
    if (!c_.redact) return std::string(text);
    try {
      return c_.redact(text);
    } catch (...) {
      return "(message withheld: redact threw)";
    }
  }

  callables c_;
};

}  // namespace berth
