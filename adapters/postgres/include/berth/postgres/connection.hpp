// connection.hpp: one PostgreSQL session (RAII over libpq's PGconn).
//
// libpq is not included: PGconn and PGresult are forward-declared as libpq
// declares them, so native_handle() is the real PGconn*.
//
// Every round trip uses libpq's non-blocking calls (PQsendQuery... + poll())
// against berth's own deadline, so a timeout is honoured exactly. A session
// that loses its server (PQstatus not OK, SQLSTATE class 08 or 57P0x) is
// remembered as broken(); every later call fails with 08003 at once.
#pragma once

#include <berth/postgres/error.hpp>
#include <berth/postgres/statement_mode.hpp>
#include <berth/postgres/role.hpp>
#include <berth/result.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

extern "C" {
struct pg_conn;
typedef struct pg_conn PGconn;  // NOLINT: libpq's own declaration
struct pg_result;
typedef struct pg_result PGresult;  // NOLINT
}

namespace berth::postgres {

namespace detail {
class failover_tracker;
struct host_entry;
}  // namespace detail

/// Bytes of a bytea parameter (a view: the caller keeps them alive for the call).
struct bytea_view {
  std::span<const std::byte> bytes;
};

/// One query parameter: null, an integer (sent as int8), a double (float8),
/// a bool, text, or bytea. Text and numbers travel in text format (numbers
/// formatted with std::to_chars, doubles round-trip exactly); bytea travels
/// in binary format. The server infers each parameter's type from the
/// statement (write `$1::int8` where it cannot). A value type; text and
/// bytea parameters are views of the caller's data.
class param {
 public:
  param(std::nullptr_t) noexcept : null_(true) {}  // NOLINT(implicit)
  param(bool b) noexcept : text_(b ? "t" : "f") {}  // NOLINT(implicit)
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
  param(I v) : text_(std::to_string(v)) {}  // NOLINT(implicit)
  param(double v);                           // NOLINT(implicit)
  param(std::string_view s) : view_(s) {}    // NOLINT(implicit)
  /// A null pointer is SQL NULL (as in libpq), not a crash.
  param(const char* s) : null_(s == nullptr), view_(s != nullptr ? std::string_view(s) : std::string_view()) {}  // NOLINT
  param(const std::string& s) : view_(s) {}  // NOLINT(implicit)
  param(bytea_view b) noexcept : binary_(true), view_(reinterpret_cast<const char*>(b.bytes.data()), b.bytes.size()) {}  // NOLINT
  template <class T>
  param(const std::optional<T>& o) : param(o ? param(*o) : param(nullptr)) {}  // NOLINT(implicit)

  bool is_null() const noexcept { return null_; }
  bool is_binary() const noexcept { return binary_; }
  /// The value as sent: text (NUL-free) or bytes.
  std::string_view value() const noexcept { return text_.empty() ? view_ : std::string_view(text_); }

 private:
  bool null_ = false;
  bool binary_ = false;
  std::string text_;       // formatted numbers and bools
  std::string_view view_;  // text and bytea: the caller's data
};

/// Thrown by query_result getters on a caller's mistake, a postgres_error
/// (so a std::system_error, like every exception of the throwing API) whose
/// code says which: 22023 invalid_parameter_value (a row or column out of
/// range), 42703 undefined_column (no column of that name), 42804
/// datatype_mismatch (a type the column's cannot be read as), 22004
/// null_value_not_allowed (NULL read into a non-optional), 22003
/// numeric_value_out_of_range (a value too large for the integer asked
/// for). None of them is a db_errc class. Thread-safety: a value type.
class field_error : public postgres_error {
 public:
  /// Allocates.
  field_error(std::error_code code, std::string message);
};

/// A query's result, owning its PGresult. Getters check the column's type:
///   std::int64_t, std::int32_t, std::int16_t: int2, int4, int8 (a value
///                         out of the asked type's range: field_error 22003)
///   double: float4, float8      bool: bool       std::vector<std::byte>: bytea
///   std::string: any column in text format (every result of execute():
///                         numeric, timestamptz, uuid, jsonb... as the server
///                         prints them); in binary format text, varchar,
///                         bpchar, name, unknown
///   std::optional<T>: any of the above, nullopt for NULL
/// Distinct objects: safe. Shared objects: safe for const members.
class query_result {
 public:
  query_result() noexcept = default;
  explicit query_result(PGresult* r) noexcept : r_(r) {}

  std::size_t rows() const noexcept;
  std::size_t columns() const noexcept;
  /// The column's name; throws field_error when out of range.
  std::string column_name(std::size_t col) const;
  /// The column's index by name; throws field_error when there is none.
  std::size_t column(std::string_view name) const;
  /// Rows affected by INSERT/UPDATE/DELETE/... (PQcmdTuples); 0 when none.
  std::uint64_t rows_affected() const noexcept;
  /// The command tag ("INSERT 0 1").
  std::string_view command_tag() const noexcept;
  bool is_null(std::size_t row, std::size_t col) const;

  /// The value at (row, col) as T (see the class comment). Throws field_error.
  template <class T>
  T get(std::size_t row, std::size_t col) const;
  template <class T>
  T get(std::size_t row, std::string_view name) const {
    return get<T>(row, column(name));
  }

  PGresult* native_handle() const noexcept { return r_.get(); }

 private:
  struct deleter {
    void operator()(PGresult* r) const noexcept;
  };
  std::unique_ptr<PGresult, deleter> r_;
};

template <>
std::int64_t query_result::get<std::int64_t>(std::size_t, std::size_t) const;
template <>
std::int32_t query_result::get<std::int32_t>(std::size_t, std::size_t) const;
template <>
std::int16_t query_result::get<std::int16_t>(std::size_t, std::size_t) const;
template <>
double query_result::get<double>(std::size_t, std::size_t) const;
template <>
bool query_result::get<bool>(std::size_t, std::size_t) const;
template <>
std::string query_result::get<std::string>(std::size_t, std::size_t) const;
template <>
std::vector<std::byte> query_result::get<std::vector<std::byte>>(std::size_t, std::size_t) const;

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <class T>
T query_result::get(std::size_t row, std::size_t col) const {
  static_assert(detail::is_optional<T>::value, "unsupported type: see query_result's comment");
  if (is_null(row, col)) return std::nullopt;
  return get<typename T::value_type>(row, col);
}

/// PQtransactionStatus, named.
enum class transaction_state : std::uint8_t { idle, active, in_transaction, in_error, unknown };

/// A move-only PostgreSQL session. Distinct objects: safe. Shared objects:
/// unsafe (one thread at a time, as libpq requires).
///
/// Role awareness (role.hpp): the session knows whether its server is a
/// primary or a standby. PostgreSQL 14+ reports in_hot_standby (and
/// default_transaction_read_only) to the client when the session starts and
/// whenever it changes (a promotion), with the reply to the next command;
/// role() reads libpq's copy after every round trip, so it costs no I/O and
/// is current as of the session's last command. When the server reports no
/// in_hot_standby (before 14, or through PgBouncer), open() asks it once
/// (SELECT pg_is_in_recovery()), and refresh_role() asks again on demand.
class connection {
 public:
  /// Opens a session from a conninfo string ("host=... dbname=...") or a
  /// URI ("postgresql://..."). Fails with the server's SQLSTATE when it
  /// refused the session (28P01 a wrong password, 53300 too many clients,
  /// 57P03 starting up or shutting down, 3D000 no such database), with
  /// 08001 when no server answered so (refused, unreachable, an invalid
  /// conninfo), and with 57014 (db_errc::timeout) if it is not established
  /// within timeout (DNS resolution of a host name is the one step libpq
  /// does blocking: use hostaddr= to bound it too). The message never
  /// contains the password. Multi-host conninfos ("host=a,b port=5432,5433")
  /// and target_session_attrs work as in libpq: hosts are tried in order
  /// within the one timeout (a host that refuses at once costs little; one
  /// that never answers uses up the timeout), and libpq checks the target on
  /// each. Against a server that reports no in_hot_standby, one more round
  /// trip asks for its role (left unknown if that fails). statements: how
  /// execute(sql, params) sends its statement (statement_mode.hpp). Blocks
  /// up to timeout.
  static result<connection, error> open(std::string_view conninfo, std::chrono::milliseconds timeout,
                                        statement_mode statements = statement_mode::named);

  connection() noexcept;
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// Runs sql with the simple query protocol (several statements allowed;
  /// the last statement's result is returned). No parameters. Blocks.
  ///
  /// COPY to or from the client (COPY ... FROM STDIN, COPY ... TO STDOUT)
  /// is for native_handle(): a text holding one as any of its statements
  /// fails with 0A000 before anything is sent, so none of its statements
  /// runs and a transaction goes on as it was. The text is read as the
  /// server reads it (comments, constants, quoted identifiers, dollar
  /// quotes, standard_conforming_strings, the client encoding); a COPY to
  /// or from a server file or program is sent as any statement. Should the
  /// server still begin a COPY (a statement prepared behind berth's back),
  /// the call ends it and fails with 0A000 saying what ran: a COPY to the
  /// client has run, with the statements after it, and their effects stand
  /// (committed outside a transaction); a COPY from the client is failed,
  /// which aborts its transaction. The same holds for execute(sql, params)
  /// and execute_for().
  result<query_result, error> execute(std::string_view sql);
  /// Runs sql with $1..$n bound to params: statement_mode::named prepares
  /// it on first use and caches it on this connection by its SQL text;
  /// statement_mode::unnamed sends it whole each time (one round trip,
  /// nothing cached). In named mode, a 26000 ("prepared statement ... does
  /// not exist": a DISCARD ALL or DEALLOCATE sent through native_handle())
  /// drops the statement from the cache: outside a transaction block the
  /// call is prepared and run again at once (the refused run had no
  /// effect); inside one the error is returned (the transaction is aborted)
  /// and the next call prepares it again. A 0A000 (the server refusing the cached plan after
  /// a schema change: "cached plan must not change result type") drops it
  /// too: outside a transaction the call is prepared and run again at
  /// once (the refused run had no effect); inside one the error is
  /// returned (the transaction is aborted). The old server-side statement
  /// is DEALLOCATEd by the next such call outside a transaction. Blocks.
  result<query_result, error> execute(std::string_view sql, std::span<const param> params);
  template <class... P>
    requires(sizeof...(P) > 0 && (std::is_constructible_v<param, const P&> && ...))
  result<query_result, error> execute(std::string_view sql, const P&... params) {
    const param ps[] = {param(params)...};
    return execute(sql, std::span<const param>(ps));
  }

  /// execute(sql) / execute(sql, params), bounded by timeout (> 0, else
  /// 22023 at once, nothing sent). When the deadline passes with the
  /// statement still running, the server is sent a cancel request (PQcancel)
  /// and its outcome drained for up to cancel_grace: the call then fails with
  /// 57014 (is_canceled()) and the connection stays usable (inside a
  /// transaction, that transaction is now failed: roll it back). A statement
  /// that finished before the cancel reached the server returns its result or
  /// its own error as usual. If the outcome does not arrive within
  /// cancel_grace, or no request could be sent, the call fails with 57014
  /// and the connection is marked broken.
  /// Blocks up to about timeout + cancel_grace, whatever the server does:
  /// the cancel request goes out from a helper thread (libpq's PQcancel
  /// waits for the server without a timeout, so a server gone silent would
  /// otherwise hold the call forever). Before returning, the call waits
  /// (within cancel_grace) until the server has taken the request, so that
  /// it cannot cancel the session's next statement instead; if it has not,
  /// the outcome is returned and the connection marked broken. At most 16
  /// such requests are out at once in the process (a helper whose server
  /// accepts and never answers keeps its place for good); beyond that the
  /// call fails at the deadline with 57014 and the connection is marked
  /// broken, as when no request could be sent.
  result<query_result, error> execute_for(std::chrono::milliseconds timeout, std::string_view sql);
  result<query_result, error> execute_for(std::chrono::milliseconds timeout, std::string_view sql,
                                          std::span<const param> params);
  template <class... P>
    requires(sizeof...(P) > 0 && (std::is_constructible_v<param, const P&> && ...))
  result<query_result, error> execute_for(std::chrono::milliseconds timeout, std::string_view sql,
                                          const P&... params) {
    const param ps[] = {param(params)...};
    return execute_for(timeout, sql, std::span<const param>(ps));
  }
  /// How long execute_for() waits for a cancelled statement's outcome.
  static constexpr std::chrono::milliseconds cancel_grace{2000};

  /// A cheap round trip (an empty query), bounded by timeout; on timeout the
  /// connection is marked broken (its protocol state is unknown; closing it
  /// ends the server's session). No cancel request is sent: libpq's is
  /// unbounded and never returns from a server gone silent. Blocks up to
  /// about timeout.
  result<void, error> ping(std::chrono::milliseconds timeout);

  /// The server's role as of the session's last round trip (see the class
  /// comment): unknown only when the server reports no in_hot_standby and
  /// asking failed. No I/O. Never blocks.
  server_role role() const noexcept;
  /// The server's default_transaction_read_only as last reported (14+) or
  /// asked (refresh_role(): transaction_read_only); false when unknown.
  /// libpq's read-write/read-only targets look at it. No I/O. Never blocks.
  bool read_only_by_default() const noexcept;
  /// Asks the server for its role: SELECT pg_is_in_recovery(),
  /// current_setting('transaction_read_only'), bounded by timeout (as
  /// ping()), and updates role() and read_only_by_default(). Needed only
  /// where the server does not report in_hot_standby. Blocks up to about timeout.
  result<server_role, error> refresh_role(std::chrono::milliseconds timeout);
  /// On a standby, how long ago the last transaction it replayed was
  /// committed on the primary: now() - pg_last_xact_replay_timestamp(), in
  /// microseconds (negative values, from clock skew between the two hosts,
  /// read as 0). nullopt on a primary, or on a standby that has replayed no
  /// transaction since it started. It grows while the primary commits
  /// nothing, so it bounds the replay lag from above: compare WAL positions
  /// (pg_last_wal_replay_lsn()) for an exact answer. One round trip,
  /// bounded by timeout (as ping()). Blocks up to about timeout.
  result<std::optional<std::chrono::microseconds>, error> last_replay_age(std::chrono::milliseconds timeout);
  /// A standby's replay lag, as replica routing wants it: 0 when it has
  /// replayed all the WAL it received (pg_last_wal_receive_lsn() =
  /// pg_last_wal_replay_lsn(): an idle primary does not make it look
  /// behind), else the age of the last replayed commit (now() -
  /// pg_last_xact_replay_timestamp(); unknown, nullopt, before the first
  /// one). nullopt on a primary. WAL still in flight to the standby is not
  /// counted. One round trip, bounded by timeout. Blocks up to about
  /// timeout.
  result<std::optional<std::chrono::microseconds>, error> replay_lag(std::chrono::milliseconds timeout);
  /// The host and port of the server the session reached (with a multi-host
  /// conninfo, the one libpq kept), as the conninfo names them (PQhost,
  /// PQport); "" when closed. Valid while the connection is open. No I/O.
  std::string_view host() const noexcept;
  std::string_view port() const noexcept;
  /// True when the pool adapter that opened this connection learnt, after
  /// it began connecting, that the server's role changed (a failover: this
  /// or another of its connections found the server demoted, or promoted
  /// against the adapter's target), or when this session no longer
  /// satisfies the adapter's target (session_accepts()). The adapter then
  /// discards it (adapter.hpp). Always false for a connection from open().
  /// No I/O. Never blocks.
  bool superseded() const noexcept;
  /// True once the server closed this session while the adapter that
  /// opened it watched its socket (a backend terminated while the
  /// connection sat idle in the pool; the adapter then discards it, and its
  /// pool sweeps at once: adapter.hpp). Always false for a connection from
  /// open(). No I/O. Never blocks. Thread-safe (an atomic load).
  bool peer_closed() const noexcept;

  /// The session lost its server, or a command was cut short (remembered).
  bool broken() const noexcept;
  transaction_state transaction() const noexcept;
  /// Nesting depth of live berth::postgres::transaction guards (0: none).
  /// No I/O. Never blocks.
  int transaction_depth() const noexcept;
  /// True while the session is in libpq's pipeline mode (entered through
  /// native_handle()): the adapter's reset() then fails, so the pool
  /// discards the connection. No I/O. Never blocks.
  bool pipelined() const noexcept;
  /// Statements prepared by execute(sql, params) and still cached (always 0
  /// in statement_mode::unnamed).
  std::size_t prepared_count() const noexcept;
  /// The statement_mode given to open() (named when closed).
  statement_mode statements() const noexcept;
  /// Closes the session (PQfinish; the server frees prepared statements).
  /// In a fork child that inherited the connection (inherited()), leaves
  /// the session alone instead: PQfinish would send Terminate on the socket
  /// the parent shares and end the parent's session; the PGconn is leaked.
  void close() noexcept;
  bool is_open() const noexcept;
  /// True in a fork child when this connection was opened before the fork
  /// (berth/fork.hpp): every call that talks to the server then fails with
  /// 08003 naming the fork, sending nothing, and close()/the destructor
  /// leak the session instead of ending it. A getpid() system call: not for
  /// per-query paths. Never blocks.
  bool inherited() const noexcept;
  /// The PGconn (nullptr when closed). Using it asynchronously and leaving a
  /// result pending makes reset() fail, so the pool discards the connection.
  PGconn* native_handle() const noexcept;

 private:
  friend class transaction;  // keeps the guard depth and serial
  friend class adapter;      // reset() forgets guards whose transaction it rolled back
  struct state;
  /// The guards' bookkeeping (transaction.cpp): live depth, and a serial
  /// bumped by each outermost guard so a stale guard cannot mistake a later
  /// transaction for its own.
  struct guard_marks {
    int depth = 0;
    std::uint64_t serial = 0;
    /// Moves at every transaction boundary the connection sees: a BEGIN,
    /// START TRANSACTION or COMMIT command tag among a call's results, or the
    /// session idle after a call. A guard whose epoch moved no longer owns
    /// the transaction (a manual COMMIT, then BEGIN: the user's own).
    std::uint64_t epoch = 0;
  };
  /// nullptr when closed.
  guard_marks* marks() noexcept;
  /// open() with libpq's target_session_attrs set to target (overriding the
  /// conninfo's) when it is not null. stop (may be null): set by another
  /// thread, it ends the connect within stop_slice with 57014 ("abandoned":
  /// the pool is being destroyed, failover_tracker::stop_connects).
  static result<connection, error> open_with_target(std::string_view conninfo, std::chrono::milliseconds timeout,
                                                    const char* target, statement_mode statements,
                                                    const std::atomic<bool>* stop = nullptr);
  /// How often a connect given a stop flag looks at it while it waits.
  static constexpr std::chrono::milliseconds stop_slice{20};
  /// The adapter's failover tracking (failover_tracker.hpp): this session
  /// belongs to tracker's adapter, which wants target, and began connecting
  /// at epoch `opened`. Reports to tracker from then on. Throws std::bad_alloc.
  void track(std::shared_ptr<detail::failover_tracker> tracker, std::uint64_t opened, session_target target);
  /// The server reports in_hot_standby (14+), so role() follows it.
  bool role_reported() const noexcept;
  /// Marks the session broken (a rollback failed: its state is unknown).
  void mark_broken() noexcept;
  /// The bound on cleanup statements run for this session (a transaction
  /// guard's rollback in its destructor): the adapter's reset_timeout, set
  /// at connect; 5 s for a connection opened directly.
  std::chrono::milliseconds cleanup_timeout() const noexcept;
  void set_cleanup_timeout(std::chrono::milliseconds t) noexcept;
  /// Forgets every guard (their transaction is gone): depth 0.
  void forget_transactions() noexcept;
  /// True when a SET, RESET or DISCARD ALL (by command tag) ran through
  /// execute...() since settings_applied(): a session setting the adapter
  /// applies (statement_timeout) may be gone. Not what ran through
  /// native_handle(), nor set_config(). No I/O.
  bool settings_touched() const noexcept;
  /// The adapter applied its session settings: settings_touched() false.
  void settings_applied() noexcept;
  /// execute(sql) bounded by timeout (> 0) without a cancel request: on
  /// timeout the session is marked broken and the call fails with 57014 at
  /// once (as ping()). For the adapter's own statements (the rollback and
  /// reset query on return, session settings at connect), which must not
  /// hold a releasing thread on a server gone silent. Blocks up to about
  /// timeout.
  result<query_result, error> execute_bounded(std::chrono::milliseconds timeout, std::string_view sql);
  explicit connection(std::unique_ptr<state> s) noexcept;
  std::unique_ptr<state> s_;
};

}  // namespace berth::postgres
