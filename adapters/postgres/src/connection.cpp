// connection.cpp: see connection.hpp.
#include <berth/db_error.hpp>
#include <berth/detail/duration.hpp>
#include <berth/fork.hpp>
#include <berth/postgres/connection.hpp>

#include <libpq-fe.h>

#include "client_copy.hpp"
#include "failover_tracker.hpp"
#include "transaction_chain.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <poll.h>
#include <thread>
#include <optional>
#include <vector>
#include <utility>
#include <cstdlib>
#include <unordered_map>

#include <unistd.h>

namespace berth::postgres {
namespace {

/// now + timeout, saturating at time_point::max() (no deadline) instead of
/// wrapping into the past for a timeout of centuries; now for zero or a
/// negative timeout (milliseconds::min() gave time_point::min(), and the
/// wait's deadline - now() then overflowed into a wait without end:
/// PostgresConnection.TheSmallestTimeoutsMeanNowNotForeverBug).
std::chrono::steady_clock::time_point deadline_in(std::chrono::milliseconds timeout) noexcept {
  return berth::detail::deadline_after(std::chrono::steady_clock::now(), berth::detail::saturating_ns(timeout));
}

using clock = std::chrono::steady_clock;

// Type OIDs (pg_type.dat); stable across server versions.
constexpr Oid oid_bool = 16, oid_bytea = 17, oid_name = 19, oid_int8 = 20, oid_int2 = 21, oid_int4 = 23,
              oid_text = 25, oid_float4 = 700, oid_float8 = 701, oid_unknown = 705, oid_bpchar = 1042,
              oid_varchar = 1043;

/// libpq's multi-line messages on one line, trailing newline dropped.
std::string one_line(std::string_view m) {
  std::string s(m);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == '\n' || c == '\t') c = ' ';
  return s;
}

/// A connect failure's libpq message, made with PQERRORS_VERBOSE so that a
/// server's refusal carries its SQLSTATE ("FATAL:  53300: sorry, too many
/// clients already" and a LOCATION line): the SQLSTATE goes to the end
/// ("... (SQLSTATE 53300)") and into *sqlstate, the LOCATION line goes.
/// *sqlstate is left alone when the server sent none (refused, unreachable:
/// libpq's own words).
std::string connect_failure_message(std::string m, std::string* sqlstate) {
  if (const auto loc = m.find("\nLOCATION:"); loc != std::string::npos) {
    const auto eol = m.find('\n', loc + 1);
    m.erase(loc, eol == std::string::npos ? std::string::npos : eol - loc);
  }
  for (const std::string_view severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
    auto p = m.find(severity);
    if (p == std::string::npos) continue;
    p += severity.size();
    const bool coded = p + 7 <= m.size() && m[p + 5] == ':' && m[p + 6] == ' ' &&
                       std::all_of(m.begin() + static_cast<std::ptrdiff_t>(p),
                                   m.begin() + static_cast<std::ptrdiff_t>(p + 5),
                                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ||
                                                       std::isupper(static_cast<unsigned char>(c)); });
    if (coded) {
      const std::string state = m.substr(p, 5);
      *sqlstate = state;
      m.erase(p, 7);
      while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
      m += " (SQLSTATE " + state + ")";
    }
    break;
  }
  return m;
}

/// What make_error() puts before every message.
constexpr std::string_view message_prefix = "berth postgres: ";

error make_error(std::string_view sqlstate, std::string_view msg) {
  return error{make_sqlstate_error(sqlstate),
               redact_sql_password(redact_password(std::string(message_prefix) + one_line(msg)))};
}

/// A server error from its fields, without PQresultErrorMessage's echo of
/// the statement ("LINE 1: ... PASSWORD 'x' ..." with a caret), which can
/// show a password literal cut where no redaction can recognise it; the
/// position is given as a character offset instead. The caller has the SQL.
error server_error(const PGresult* r) {
  const auto field = [r](int code) -> std::string_view {
    const char* v = PQresultErrorField(r, code);
    return v != nullptr ? v : "";
  };
  const std::string_view ss = field(PG_DIAG_SQLSTATE);
  std::string m(field(PG_DIAG_SEVERITY_NONLOCALIZED));
  if (m.empty()) m = "ERROR";
  m.append(":  ").append(field(PG_DIAG_MESSAGE_PRIMARY));
  if (const auto d = field(PG_DIAG_MESSAGE_DETAIL); !d.empty()) m.append(" DETAIL: ").append(d);
  if (const auto h = field(PG_DIAG_MESSAGE_HINT); !h.empty()) m.append(" HINT: ").append(h);
  if (const auto pos = field(PG_DIAG_STATEMENT_POSITION); !pos.empty()) m.append(" (at character ").append(pos) += ')';
  return make_error(ss.empty() ? "08006" : ss, m);
}

/// The notice receiver of every connection. libpq's default prints each
/// NOTICE or WARNING to stderr as the server formatted it, its echo of the
/// statement ("LINE 1: ... PASSWORD 'x' ...") included; berth prints the
/// same notices built from their fields as server_error() builds an error
/// message: redacted, without the echo, the position as an offset.

/// Waits until fd is ready for events or deadline passes: 1 ready, 0 timed
/// out, -1 failed (errno).
int wait_socket(int fd, short events, clock::time_point deadline) {
  for (;;) {
    int ms = -1;
    if (deadline != clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (left <= 0) return 0;
      ms = static_cast<int>(std::min<std::int64_t>(left, std::numeric_limits<int>::max()));
    }
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r > 0) return 1;
  }
}

/// Cancel requests in flight on helper threads (send_cancel_detached), in
/// this process: the id of the process that counted them (high 32 bits)
/// and their number (low 32). A child process inherits the word but none of
/// the helpers, whether made by fork() or by a raw clone that runs no fork
/// handler, so a word of another process counts 0; helpers only ever run in
/// the process that counted them, so a helper's decrement always finds its
/// own. Relaxed: a cap on threads, with no data behind it.
constexpr std::uint32_t max_cancels_in_flight = 16;
std::atomic<std::uint64_t> cancels_in_flight{0};

/// Takes one of the max_cancels_in_flight places: false when all are taken.
/// A getpid() system call: only on a timeout.
bool take_cancel_place() noexcept {
  const auto me = static_cast<std::uint64_t>(static_cast<std::uint32_t>(::getpid()));
  std::uint64_t v = cancels_in_flight.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t n = (v >> 32) == me ? (v & 0xffff'ffffu) : 0;
    if (n >= max_cancels_in_flight) return false;
    if (cancels_in_flight.compare_exchange_weak(v, (me << 32) | (n + 1), std::memory_order_relaxed)) return true;
  }
}
void give_cancel_place() noexcept { cancels_in_flight.fetch_sub(1, std::memory_order_relaxed); }

/// What a caller waits for after sending a cancel request: the helper is
/// done with it (the server took the request and closed the socket, or
/// the attempt failed).
struct cancel_done {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;  // guarded by m

  /// True if the helper finished by deadline. Blocks up to deadline.
  bool wait_until(clock::time_point deadline) {
    std::unique_lock lk(m);
    return cv.wait_until(lk, deadline, [&] { return done; });
  }
};

/// Sends a cancel request for c on a detached helper thread, which owns c
/// and frees it, and returns what to wait on for its end (nullptr: nothing
/// sent, c freed: all max_cancels_in_flight places are taken, or no thread
/// or memory). libpq's PQcancel opens a socket to the server and waits,
/// without a timeout, for the server to close it, so the caller must not
/// run it: against a peer that accepts and never answers (a stopped
/// server, a proxy in front of a hung one) it never returns, and such a
/// helper keeps its place for the life of the process (beyond 16, timed-out
/// statements are no longer cancelled, only their connections marked
/// broken). Thread-safe.
std::shared_ptr<cancel_done> send_cancel_detached(PGcancel* c) noexcept {
  if (!take_cancel_place()) {
    PQfreeCancel(c);
    return nullptr;
  }
  try {
    auto done = std::make_shared<cancel_done>();
    std::thread([c, done] {
      char buf[256];
      (void)PQcancel(c, buf, sizeof buf);  // its outcome is seen on the connection's own socket
      PQfreeCancel(c);
      {
        std::lock_guard lk(done->m);
        done->done = true;
      }
      done->cv.notify_all();
      give_cancel_place();
    }).detach();
    return done;
  } catch (...) {  // no memory, or no thread (std::system_error): nothing sent
    give_cancel_place();
    PQfreeCancel(c);
    return nullptr;
  }
}

std::string oid_name_of(Oid t) {
  switch (t) {
    case 18: return "char";
    case 26: return "oid";
    case 114: return "json";
    case 142: return "xml";
    case 869: return "inet";
    case 1082: return "date";
    case 1083: return "time";
    case 1114: return "timestamp";
    case 1184: return "timestamptz";
    case 1186: return "interval";
    case 1266: return "timetz";
    case 1700: return "numeric";
    case 2950: return "uuid";
    case 3802: return "jsonb";
    case 1007: return "int4[]";
    case 1009: return "text[]";
    case 1016: return "int8[]";
    case oid_bool: return "bool";
    case oid_bytea: return "bytea";
    case oid_name: return "name";
    case oid_int8: return "int8";
    case oid_int2: return "int2";
    case oid_int4: return "int4";
    case oid_text: return "text";
    case oid_float4: return "float4";
    case oid_float8: return "float8";
    case oid_unknown: return "unknown";
    case oid_bpchar: return "bpchar";
    case oid_varchar: return "varchar";
    default: return "type OID " + std::to_string(t);
  }
}

std::string upper_prefix(std::string_view s, std::size_t n) {
  std::string u(s.substr(0, std::min(n, s.size())));
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

/// What execute() reports when the server began a COPY that
/// find_client_copy() did not see (client_copy.hpp), after collect_results
/// ended it: what ran and what stands. copy: the COPY's status; tx: the
/// session's transaction status at the end of the call; failed_after: the
/// message of an error the server sent after the COPY began (the COPY's own
/// or a later statement's), when it ran to the client.
std::string late_copy_refusal(ExecStatusType copy, PGTransactionStatusType tx,
                              const std::optional<std::string>& failed_after) {
  if (copy == PGRES_COPY_BOTH)
    return "a replication COPY (COPY BOTH), which execute() does not support, was begun: the connection is "
           "marked broken, as it has no clean end";
  if (copy == PGRES_COPY_IN)
    return std::string("a COPY from the client, which execute() does not support (use native_handle()), was "
                       "begun by the server before berth saw it; berth failed it, which ") +
           (tx == PQTRANS_INERROR ? "failed the transaction (roll it back)" : "rolled back its transaction") +
           ", and no statement of the text after it ran";
  std::string m = "a COPY to the client, which execute() does not support (use native_handle()), was run by the "
                  "server before berth saw it, and so was any statement of the text after it";
  if (failed_after)
    m += "; it or one of them failed (" + *failed_after + "), which " +
         (tx == PQTRANS_INERROR ? "failed the transaction (roll it back)"
                                : "rolled back what the text had not committed before");
  else if (tx == PQTRANS_IDLE)
    m += ": the effects are committed, unless the text itself rolled them back";
  else
    m += ": the effects stand unless the transaction is rolled back";
  return m;
}

}  // namespace

// ---- param -----------------------------------------------------------------

param::param(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  text_.assign(buf, r.ptr);
  if (text_ == "inf") text_ = "Infinity";
  else if (text_ == "-inf") text_ = "-Infinity";
  else if (text_ == "nan" || text_ == "-nan") text_ = "NaN";
}

// ---- query_result ------------------------------------------------------------

void query_result::deleter::operator()(PGresult* r) const noexcept { PQclear(r); }

std::size_t query_result::rows() const noexcept {
  return r_ ? static_cast<std::size_t>(PQntuples(r_.get())) : 0;
}
std::size_t query_result::columns() const noexcept {
  return r_ ? static_cast<std::size_t>(PQnfields(r_.get())) : 0;
}

field_error::field_error(std::error_code code, std::string message)
    // db_error is a virtual base: initialized here, the most derived class.
    : db_error(code, message, {}, what_source), postgres_error(code, std::move(message)) {}

namespace {
/// A getter's mistake, with the SQLSTATE that names it (field_error).
[[noreturn]] void throw_field_error(std::string_view sqlstate, std::string message) {
  throw field_error(make_sqlstate_error(sqlstate), std::move(message));
}
}  // namespace

std::string query_result::column_name(std::size_t col) const {
  if (col >= columns())
    throw_field_error("22023", "berth postgres: column " + std::to_string(col) + " out of range (" +
                                   std::to_string(columns()) + " columns)");
  return PQfname(r_.get(), static_cast<int>(col));
}

std::size_t query_result::column(std::string_view name) const {
  for (std::size_t c = 0; c < columns(); ++c)
    if (name == PQfname(r_.get(), static_cast<int>(c))) return c;
  throw_field_error("42703", "berth postgres: no column named \"" + std::string(name) + "\"");
}

std::uint64_t query_result::rows_affected() const noexcept {
  if (!r_) return 0;
  const char* s = PQcmdTuples(r_.get());
  std::uint64_t n = 0;
  std::from_chars(s, s + std::strlen(s), n);
  return n;
}

std::string_view query_result::command_tag() const noexcept { return r_ ? PQcmdStatus(r_.get()) : ""; }

bool query_result::is_null(std::size_t row, std::size_t col) const {
  if (row >= rows())
    throw_field_error("22023", "berth postgres: row " + std::to_string(row) + " out of range (" +
                                   std::to_string(rows()) + " rows)");
  if (col >= columns())
    throw_field_error("22023", "berth postgres: column " + std::to_string(col) + " out of range (" +
                                   std::to_string(columns()) + " columns)");
  return PQgetisnull(r_.get(), static_cast<int>(row), static_cast<int>(col)) != 0;
}

namespace {

/// The text of a non-NULL value of one of the accepted types (any type in
/// text format when any_text), or field_error.
std::string_view checked_value(const query_result& q, std::size_t row, std::size_t col,
                               std::initializer_list<Oid> accepted, const char* as, bool any_text = false) {
  if (q.is_null(row, col))
    throw_field_error("22004", "berth postgres: row " + std::to_string(row) + " column " + std::to_string(col) +
                                   " (\"" + q.column_name(col) + "\") is NULL; read it as std::optional<" + as + ">");
  PGresult* r = q.native_handle();
  const Oid t = PQftype(r, static_cast<int>(col));
  // In text format every value is the server's text for it, readable as a string.
  if (!(any_text && PQfformat(r, static_cast<int>(col)) == 0) &&
      std::find(accepted.begin(), accepted.end(), t) == accepted.end())
    throw_field_error("42804", "berth postgres: column " + std::to_string(col) + " (\"" + q.column_name(col) +
                                   "\") is " + oid_name_of(t) + ", not readable as " + as);
  const int r_i = static_cast<int>(row), c_i = static_cast<int>(col);
  return {PQgetvalue(r, r_i, c_i), static_cast<std::size_t>(PQgetlength(r, r_i, c_i))};
}

template <class T>
T parse_number(std::string_view v, std::size_t col, const char* as) {
  T out{};
  const auto r = std::from_chars(v.data(), v.data() + v.size(), out);
  if (r.ec != std::errc{} || r.ptr != v.data() + v.size())
    throw_field_error(r.ec == std::errc::result_out_of_range ? "22003" : "22P02",
                      "berth postgres: column " + std::to_string(col) + " value \"" + std::string(v) +
                          "\" does not fit " + as);
  return out;
}

}  // namespace

template <>
std::int64_t query_result::get<std::int64_t>(std::size_t row, std::size_t col) const {
  return parse_number<std::int64_t>(checked_value(*this, row, col, {oid_int2, oid_int4, oid_int8}, "int64"), col,
                                    "int64");
}
template <>
std::int32_t query_result::get<std::int32_t>(std::size_t row, std::size_t col) const {
  return parse_number<std::int32_t>(checked_value(*this, row, col, {oid_int2, oid_int4, oid_int8}, "int32"), col,
                                    "int32");
}
template <>
std::int16_t query_result::get<std::int16_t>(std::size_t row, std::size_t col) const {
  return parse_number<std::int16_t>(checked_value(*this, row, col, {oid_int2, oid_int4, oid_int8}, "int16"), col,
                                    "int16");
}
template <>
double query_result::get<double>(std::size_t row, std::size_t col) const {
  return parse_number<double>(checked_value(*this, row, col, {oid_float4, oid_float8}, "double"), col, "double");
}
template <>
bool query_result::get<bool>(std::size_t row, std::size_t col) const {
  return checked_value(*this, row, col, {oid_bool}, "bool") == "t";
}
template <>
std::string query_result::get<std::string>(std::size_t row, std::size_t col) const {
  return std::string(
      checked_value(*this, row, col, {oid_text, oid_varchar, oid_bpchar, oid_name, oid_unknown}, "std::string", true));
}
template <>
std::vector<std::byte> query_result::get<std::vector<std::byte>>(std::size_t row, std::size_t col) const {
  const std::string_view v = checked_value(*this, row, col, {oid_bytea}, "bytea");
  std::size_t n = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v.data()), &n);
  if (raw == nullptr) throw std::bad_alloc();
  std::vector<std::byte> out(reinterpret_cast<std::byte*>(raw), reinterpret_cast<std::byte*>(raw) + n);
  PQfreemem(raw);
  return out;
}

// ---- connection ------------------------------------------------------------

struct transparent_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// What collect() does when its deadline passes.
enum class on_timeout : std::uint8_t {
  mark_broken,       // ping(): cancel, mark broken, return at once
  cancel_and_drain,  // execute_for(): cancel, wait up to cancel_grace for the outcome
};

namespace {
/// Whether role r contradicts target, so that the server, not just this
/// session's settings, no longer serves the pool (see check_target()).
bool role_contradicts(session_target t, server_role r, bool read_only) noexcept {
  switch (t) {
    case session_target::read_write:
    case session_target::primary: return r == server_role::standby;
    case session_target::standby: return r == server_role::primary;
    case session_target::read_only: return r == server_role::primary && !read_only;
    case session_target::any:
    case session_target::prefer_standby: return false;
  }
  return false;
}
}  // namespace

struct connection::state {
  PGconn* conn = nullptr;
  const berth::fork_guard origin;  // the process that opened conn
  bool broken = false;
  guard_marks guards;  // transaction.cpp keeps them
  statement_mode statements = statement_mode::named;
  std::unordered_map<std::string, std::string, transparent_hash, std::equal_to<>> prepared;  // sql -> name
  // Names dropped from `prepared` because the server refused their cached
  // plan (0A000, "cached plan must not change result type" after a schema
  // change): DEALLOCATEd by the next call with parameters that runs
  // outside a transaction (drop_stale), so they do not pile up server-side.
  std::vector<std::string> stale_statements;
  std::uint64_t next_statement = 0;
  /// A SET, RESET or DISCARD ALL ran through execute() since the adapter
  /// last applied its session settings (connection::settings_touched()).
  bool settings_touched = false;
  /// The last call's first error was the server refusing a prepared
  /// statement's cached plan (0A000 raised by RevalidateCachedQuery), not
  /// any other 0A000 (feature_not_supported from a function, which ran).
  bool plan_refused = false;

  // The server's role (note_status(), refresh_role()).
  server_role role = server_role::unknown;
  bool read_only = false;      // default_transaction_read_only (reported) or transaction_read_only (asked)
  bool role_reported = false;  // the server reports in_hot_standby (14+)

  // Failover tracking, set by the adapter (track()); null for open().
  std::shared_ptr<detail::failover_tracker> tracker;
  detail::host_entry* host = nullptr;  // the reached server's entry in tracker
  std::uint64_t opened_epoch = 0;      // tracker's epoch when connecting began
  /// Set by tracker's watcher when the server closed this session
  /// (peer_watcher.hpp); registered by track(), unregistered by ~state.
  std::atomic<bool> peer_closed{false};
  /// Bound on the cleanup statements run on this session's behalf (a
  /// transaction guard's rollback in its destructor): the adapter's
  /// reset_timeout, 5 s for a connection opened directly.
  std::chrono::milliseconds cleanup_timeout{std::chrono::seconds{5}};
  /// Why broken was set, when not a lost server (broken_error()); static text.
  const char* broken_why = nullptr;
  /// The SQL of the call whose results are being collected (run()), for
  /// redact_statement_message() and for the transaction boundaries that
  /// only its text shows (AND CHAIN); empty otherwise.
  std::string_view call_sql;
  /// WARNINGs 25001 ("there is already a transaction in progress") seen
  /// during the current call: each makes one BEGIN a no-op, no boundary.
  unsigned stray_begins = 0;

  /// The notice receiver of every connection (arg: its state). libpq's
  /// default prints each NOTICE or WARNING to stderr as the server
  /// formatted it, its echo of the statement ("LINE 1: ... PASSWORD 'x'
  /// ...") included; berth prints the same notices built from their fields
  /// as server_error() builds an error message: redacted, without the
  /// echo, the position as an offset.
  static void on_notice(void* arg, const PGresult* r) {
    auto* self = static_cast<state*>(arg);
    const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (code != nullptr && std::string_view(code) == "25001") ++self->stray_begins;
    const std::string m = redact_statement_message(server_error(r).message, self->call_sql) + "\n";
    (void)std::fwrite(m.data(), 1, m.size(), stderr);
  }
  session_target target = session_target::any;
  bool mismatched = false;  // this session no longer satisfies target
  bool reported = false;    // this session reported its server (once is enough)

  state() = default;
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  ~state() {
    // In a fork child, conn is the parent's session (its socket is shared):
    // PQfinish would send Terminate on it and end the parent's session.
    // Leak it instead (and leave the watcher alone: its lock may have been
    // held by a parent's thread at the fork).
    if (conn == nullptr || origin.inherited_checked()) return;
    if (tracker) tracker->watcher().unwatch(PQsocket(conn), &peer_closed);  // before the socket closes
    PQfinish(conn);
  }

  /// Why a call cannot run on s: closed, broken, or inherited through
  /// fork() (one relaxed load: fork_guard::inherited). nullopt when it can.
  static std::optional<error> unusable(const state* s) {
    if (s == nullptr) return make_error("08003", "connection closed");
    if (s->origin.inherited()) [[unlikely]]
      return make_error("08003", "this connection was opened in process " + std::to_string(s->origin.owner_pid()) +
                                     " and inherited through fork(): a libpq connection must not be used across "
                                     "fork() (open a new one in the child)");
    if (s->broken) return s->broken_error();
    return std::nullopt;
  }

  error broken_error() const {
    return make_error("08003", std::string("the connection is broken (") +
                                   (broken_why != nullptr ? broken_why : "it lost its server earlier") + ")");
  }

  /// After a failure: remember a lost session. A server error that ended
  /// the session but is not itself classed as lost (a FATAL 08P01) is
  /// reported as 08006, so that callers see connection_lost.
  void note_failure(error& e) {
    if (PQstatus(conn) != CONNECTION_OK) {
      broken = true;
      if (!is_connection_lost(e.code)) e.code = make_sqlstate_error("08006");
    } else if (is_connection_lost(e.code)) {
      broken = true;
    }
  }

  error libpq_error(std::string_view fallback_sqlstate) {
    error e = make_error(fallback_sqlstate, PQerrorMessage(conn));
    note_failure(e);
    if (PQstatus(conn) != CONNECTION_OK) e.code = make_sqlstate_error("08006");
    return e;
  }

  /// After a PQsend* call refused to send: a lost connection if libpq has
  /// lost it, otherwise a session in a state berth did not expect ("another
  /// command is already in progress"), which is discarded (broken) but is
  /// not a lost connection: a router must not eject a healthy server for it
  /// (PostgresConnection.ARefusedCopyLeavesTheSessionUsableBug).
  error send_failed() {
    if (PQstatus(conn) != CONNECTION_OK) return libpq_error("08006");
    error e = make_error("55000", PQerrorMessage(conn));
    broken = true;
    broken_why = "libpq refused to send a command on it: its protocol state is unknown";
    return e;
  }

  /// Asks the server to cancel the running command, from a helper thread
  /// (send_cancel_detached: libpq's PQcancel can block forever). Best
  /// effort: nullptr when no request could be started; whether it arrived
  /// shows on this connection's socket.
  std::shared_ptr<cancel_done> send_cancel() noexcept {
    PGcancel* c = PQgetCancel(conn);
    return c != nullptr ? send_cancel_detached(c) : nullptr;
  }

  /// Marks the session broken after a round trip overran: its protocol
  /// state is unknown, so it is closed, and closing the socket ends the
  /// server's session. No cancel request: libpq's PQcancel opens a socket
  /// to the same address and waits for the server without a timeout, so
  /// against a server (or network) gone silent it never returned, and a
  /// validation's or ping's timeout hung instead of failing
  /// (PostgresFault.ValidationOfASessionWhoseServerWentSilentHonoursItsTimeoutBug).
  error timed_out(std::chrono::milliseconds timeout) {
    broken = true;
    broken_why = "a round trip timed out earlier: its protocol state is unknown";
    return make_error("57014", "round trip timed out after " + std::to_string(timeout.count()) +
                                   " ms; connection marked broken (the server did not answer in time)");
  }

  /// How the server reads a text sent now (its settings as it last
  /// reported them). No I/O.
  detail::sql_reading reading() const noexcept {
    const char* standard = PQparameterStatus(conn, "standard_conforming_strings");
    return {standard == nullptr || std::strcmp(standard, "off") != 0, PQclientEncoding(conn)};
  }

  /// Why sql must not be sent at all (a NUL byte, a COPY to or from the
  /// client: nothing of it would run as the caller means); nullopt when it
  /// can be. No I/O.
  std::optional<error> unsendable(std::string_view sql, bool look_for_copy = true) const;
  /// unsendable()'s second half: the refusal of a COPY to or from the
  /// client in sql, or nullopt. No I/O.
  std::optional<error> copy_refusal(std::string_view sql) const;

  /// Sends sql (simple protocol) / sql with params (prepared, cached) and
  /// collects its results.
  result<query_result, error> run(std::string_view sql, clock::time_point deadline,
                                  std::chrono::milliseconds timeout, on_timeout policy);
  result<query_result, error> run(std::string_view sql, std::span<const param> params,
                                  clock::time_point deadline, std::chrono::milliseconds timeout,
                                  on_timeout policy);

  /// DEALLOCATEs stale_statements in one round trip. A server error (one
  /// already gone) is ignored; a lost connection or the deadline is not.
  result<void, error> drop_stale(clock::time_point deadline, std::chrono::milliseconds timeout, on_timeout policy) {
    std::string q;
    for (const std::string& name : stale_statements) q += "DEALLOCATE " + name + ";";
    stale_statements.clear();
    if (PQsendQuery(conn, q.c_str()) == 0) return failure{send_failed()};
    if (auto r = collect(deadline, timeout, policy); !r && broken) return failure{std::move(r).error()};
    return {};
  }

  /// e, with a hint when it is 26000 or 42P05 about one of our named
  /// statements: the usual cause is a transaction-pooling PgBouncer.
  static error with_pooler_hint(error e) {
    if (e.code == make_sqlstate_error("26000") || e.code == make_sqlstate_error("42P05"))
      e.message += " (named prepared statements need every call on one server session: behind a "
                   "transaction-pooling PgBouncer, use options::statements = statement_mode::unnamed)";
    return e;
  }
  /// SELECT pg_is_in_recovery(), current_setting('transaction_read_only'):
  /// sets role and read_only, then check_target().
  result<server_role, error> query_role(clock::time_point deadline, std::chrono::milliseconds timeout);

  /// Sends what libpq buffered. Fails on a lost connection or the deadline.
  result<void, error> flush(clock::time_point deadline, std::chrono::milliseconds timeout) {
    for (;;) {
      const int f = PQflush(conn);
      if (f == 0) return {};
      if (f < 0) return failure{libpq_error("08006")};
      const int w = wait_socket(PQsocket(conn), POLLIN | POLLOUT, deadline);
      if (w == 0) return failure{timed_out(timeout)};
      if (w < 0 || PQconsumeInput(conn) == 0) return failure{libpq_error("08006")};
    }
  }

  /// Reads the role the server reports (14+: in_hot_standby and
  /// default_transaction_read_only, which libpq keeps from ParameterStatus
  /// messages). No I/O.
  void note_status() noexcept {
    if (const char* hs = PQparameterStatus(conn, "in_hot_standby")) {
      role_reported = true;
      role = std::strcmp(hs, "on") == 0 ? server_role::standby : server_role::primary;
    }
    if (const char* ro = PQparameterStatus(conn, "default_transaction_read_only"))
      read_only = std::strcmp(ro, "on") == 0;
  }

  /// With failover tracking: a session that no longer satisfies the target
  /// is superseded; when its server's role itself contradicts the target, or
  /// a write was refused on a standby the pool meant to write to (e, when
  /// 25006), every connection to that server is (tracker->report(): the
  /// pool sweeps, in this thread). A mismatch of default_read_only alone
  /// (read-write pool, session read-only by a SET or ALTER ROLE) supersedes
  /// this session only.
  void check_target(const error* e) noexcept {
    if (!tracker || reported) return;
    if (!session_accepts(target, role, read_only)) mismatched = true;
    const bool refused = e != nullptr && e->code == make_sqlstate_error("25006") &&
                         write_refusal_means_failover(target, role);
    if (refused || role_contradicts(target, role, read_only)) {
      reported = true;
      tracker->report(*host);
    }
  }

  /// Collects every result of the command just sent; returns the last one,
  /// or the first error; then notes the server's role (note_status(),
  /// check_target()). On timeout see on_timeout.
  result<query_result, error> collect(clock::time_point deadline, std::chrono::milliseconds timeout,
                                      on_timeout policy = on_timeout::mark_broken) {
    auto r = collect_results(deadline, timeout, policy);
    call_sql = {};
    stray_begins = 0;
    if (PQtransactionStatus(conn) == PQTRANS_IDLE) ++guards.epoch;  // a transaction boundary (guard_marks)
    note_status();
    check_target(r ? nullptr : &r.error());
    return r;
  }

  /// Ends a COPY that the server has begun (see collect_results): COPY
  /// FROM STDIN fails with our message, COPY TO STDOUT's rows are read and
  /// dropped, within deadline. COPY BOTH (replication) has no clean end:
  /// the session is marked broken.
  result<void, error> end_copy(ExecStatusType copy, clock::time_point deadline, std::chrono::milliseconds timeout) {
    if (copy == PGRES_COPY_BOTH) {
      broken = true;
      broken_why = "a replication COPY was started through execute()";
      return {};
    }
    if (copy == PGRES_COPY_IN) {
      for (;;) {  // 0: not queued yet (non-blocking, buffers full): send what is queued, then again
        const int r = PQputCopyEnd(conn, "COPY is not supported by berth's execute(); use native_handle()");
        if (r > 0) return {};  // the caller flushes it, then reads the server's error
        if (r < 0) return failure{libpq_error("08006")};
        if (auto f = flush(deadline, timeout); !f) return failure{f.error()};
      }
    }
    for (;;) {
      char* row = nullptr;
      const int n = PQgetCopyData(conn, &row, 1);
      if (row != nullptr) PQfreemem(row);
      if (n == -1) return {};  // done: the COPY's own result follows
      if (n == -2) return failure{libpq_error("08006")};
      if (n > 0) continue;
      const int w = wait_socket(PQsocket(conn), POLLIN, deadline);
      if (w == 0) {
        broken = true;
        broken_why = "the rows of a refused COPY did not end by the deadline";
        return failure{make_error("57014", "a COPY to the client, which execute() does not support, was running "
                                           "and its rows did not end by the deadline: connection marked broken, "
                                           "so whether it and the statements after it took effect is unknown")};
      }
      if (w < 0 || PQconsumeInput(conn) == 0) return failure{libpq_error("08006")};
    }
  }

  result<query_result, error> collect_results(clock::time_point deadline, std::chrono::milliseconds timeout,
                                              on_timeout policy) {
    plan_refused = false;
    if (auto f = flush(deadline, timeout); !f) return failure{f.error()};
    query_result last;
    std::optional<error> first_error;
    // A COPY the server began (first_error is then ours), and the message of
    // a server error after a COPY to the client: late_copy_refusal().
    std::optional<ExecStatusType> copy_begun;
    std::optional<std::string> failed_after_copy;
    bool cancelled = false;
    std::shared_ptr<cancel_done> cancel;  // the helper sending our cancel request
    for (;;) {
      while (PQisBusy(conn) != 0) {
        const int w = wait_socket(PQsocket(conn), POLLIN, deadline);
        if (w == 0 && policy == on_timeout::cancel_and_drain && !cancelled) {
          // The statement overran: cancel it and drain its outcome, so the
          // protocol is back in sync and the session stays usable.
          cancelled = true;
          cancel = send_cancel();
          if (!cancel) return failure{timed_out(timeout)};
          deadline = clock::now() + connection::cancel_grace;
          continue;
        }
        if (w == 0 && cancelled) {
          broken = true;
          return failure{make_error("57014", "statement timed out after " + std::to_string(timeout.count()) +
                                                 " ms; cancelled, but its outcome did not arrive within " +
                                                 std::to_string(connection::cancel_grace.count()) +
                                                 " ms: connection marked broken")};
        }
        if (w == 0) return failure{timed_out(timeout)};
        if (w < 0 || PQconsumeInput(conn) == 0) return failure{libpq_error("08006")};
      }
      PGresult* r = PQgetResult(conn);
      if (r == nullptr) break;
      query_result q(r);
      switch (PQresultStatus(r)) {
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH: {
          // A COPY find_client_copy() missed (run() refuses those it sees
          // before sending: PostgresConnection.ARefusedCopyHasRunNothingBug):
          // refused, saying what ran, and ended here so that the session
          // stays usable: left in COPY state, every later command failed
          // with "another command is already in progress", read as a lost
          // connection, and a router ejected a healthy replica
          // (PostgresConnection.ARefusedCopyLeavesTheSessionUsableBug).
          if (!first_error) {
            copy_begun = PQresultStatus(r);
            first_error = make_error("0A000", "");  // late_copy_refusal() once the outcome is in
          }
          if (auto e = end_copy(PQresultStatus(r), deadline, timeout); !e) return failure{std::move(e).error()};
          // COPY BOTH has no clean end: libpq returns it from every later
          // PQgetResult, so going round again spun at full CPU past any
          // deadline (PostgresConnection.AReplicationCopyFailsAtOnceBug).
          if (PQresultStatus(r) == PGRES_COPY_BOTH)
            return failure{make_error("0A000", late_copy_refusal(PGRES_COPY_BOTH, PQtransactionStatus(conn), {}))};
          if (auto f = flush(deadline, timeout); !f) return failure{f.error()};
          break;
        }
        case PGRES_FATAL_ERROR:
        case PGRES_BAD_RESPONSE:
        case PGRES_NONFATAL_ERROR:
          if (copy_begun == PGRES_COPY_OUT && !failed_after_copy) {
            const std::string m = redact_statement_message(server_error(r).message, call_sql);
            failed_after_copy = m.substr(std::min(m.size(), message_prefix.size()));
          }
          if (!first_error) {
            first_error = server_error(r);
            // The server may quote a piece of a password literal
            // (PostgresError.AServerMessageNeverQuotesAPasswordOfTheStatementBug).
            first_error->message = redact_statement_message(first_error->message, call_sql);
            const char* fn = PQresultErrorField(r, PG_DIAG_SOURCE_FUNCTION);
            plan_refused = first_error->code == make_sqlstate_error("0A000") && fn != nullptr &&
                           std::string_view(fn) == "RevalidateCachedQuery";
          }
          break;
        default: {
          // The server dropped our prepared statements: forget them too.
          const std::string tag = upper_prefix(PQcmdStatus(r), 17);
          // A transaction began or ended inside this call ("COMMIT; BEGIN"
          // ends in a transaction, never idle): guards begun before it no
          // longer own the transaction (PostgresTransaction.AGuardNeverRollsBackTheUsersOwnLaterTransactionBug).
          // Not a BEGIN inside a transaction (WARNING 25001, a no-op), and
          // also a ROLLBACK or COMMIT that began the next transaction at
          // once (AND CHAIN; ROLLBACK TO shares the tag ROLLBACK)
          // (PostgresTransaction.AChainedOrStrayBoundaryIsSeenByTheGuardBug),
          // read from the statements, not from their constants or comments
          // (PostgresTransaction.AndChainOutsideAStatementsOwnWordsIsNoChainBug).
          // The settings read are those of now: a text that changes
          // standard_conforming_strings or client_encoding before its
          // ROLLBACK may be read otherwise than the server read it.
          if (tag == "BEGIN" || tag == "START TRANSACTION") {
            if (stray_begins > 0)
              --stray_begins;
            else
              ++guards.epoch;
          } else if (tag == "COMMIT" || (tag == "ROLLBACK" && detail::chains(call_sql, reading()))) {
            ++guards.epoch;
          }
          if (tag.starts_with("DISCARD ALL") || tag.starts_with("DEALLOCATE ALL")) {
            prepared.clear();
            stale_statements.clear();
          }
          // A session setting may have changed or been reset (SET, RESET ALL,
          // DISCARD ALL: the statement_timeout the adapter applied among
          // them): the adapter re-applies its settings at release
          // (settings_touched()). Only these tags: no cost for the rest.
          if (tag == "SET" || tag == "RESET" || tag.starts_with("DISCARD ALL")) settings_touched = true;
          last = std::move(q);
        }
      }
    }
    // The outcome is in, but a request still on its way could cancel this
    // session's next statement instead (the statement may have finished on
    // its own just as we timed out): wait, within the grace, until the
    // server has taken it; a session it may still reach is not reused.
    if (cancel && !cancel->wait_until(deadline)) {
      broken = true;
      broken_why = "a cancel request for an earlier timed-out statement had not reached the server in time and "
                   "could still cancel a later one";
    }
    if (copy_begun)
      first_error = make_error("0A000", late_copy_refusal(*copy_begun, PQtransactionStatus(conn), failed_after_copy));
    if (first_error) {
      if (cancelled && first_error->code == make_sqlstate_error("57014")) {
        first_error->message.insert(message_prefix.size(), "statement timed out after " +
                                                               std::to_string(timeout.count()) +
                                                               " ms and was cancelled: ");
      }
      note_failure(*first_error);
      return failure{std::move(*first_error)};
    }
    if (PQstatus(conn) != CONNECTION_OK) return failure{libpq_error("08006")};
    return last;
  }
};

connection::connection() noexcept = default;
connection::connection(std::unique_ptr<state> s) noexcept : s_(std::move(s)) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;

result<connection, error> connection::open(std::string_view conninfo, std::chrono::milliseconds timeout,
                                           statement_mode statements) {
  return open_with_target(conninfo, timeout, nullptr, statements);
}

result<connection, error> connection::open_with_target(std::string_view conninfo, std::chrono::milliseconds timeout,
                                                       const char* target, statement_mode statements,
                                                       const std::atomic<bool>* stop) {
  const std::string ci(conninfo);
  // libpq would read up to the NUL and connect with that (the offset only:
  // the text may hold a password).
  if (const std::size_t nul = ci.find('\0'); nul != std::string::npos)
    return failure{make_error("08001", "invalid conninfo: it holds a NUL byte at offset " + std::to_string(nul))};
  // libpq's own per-host timeout (connect_timeout in the conninfo, whole
  // seconds, at least 2): in non-blocking mode libpq ignores it, so berth
  // applies it: with one host it shortens the whole connect; with several
  // (host=a,b) each host gets it in turn, as libpq's blocking connect does,
  // so a silent first host no longer keeps the connect from reaching the
  // second (review of issue 8). The adapter's timeout bounds the whole.
  std::chrono::milliseconds per_host{0};
  std::vector<std::string> hosts, hostaddrs, ports;
  std::vector<std::pair<std::string, std::string>> params;  // every other keyword that has a value
  {
    char* err = nullptr;
    PQconninfoOption* o = PQconninfoParse(ci.c_str(), &err);
    if (o == nullptr) {
      error e = make_error("08001", "invalid conninfo: " + redact_conninfo_message(err != nullptr ? err : "out of memory", ci));
      PQfreemem(err);
      return failure{std::move(e)};
    }
    const auto split = [](const char* v) {
      std::vector<std::string> out;
      if (v == nullptr || *v == '\0') return out;
      std::string_view rest(v);
      for (;;) {
        const std::size_t comma = rest.find(',');
        out.emplace_back(rest.substr(0, comma));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      return out;
    };
    for (const PQconninfoOption* opt = o; opt->keyword != nullptr; ++opt) {
      const std::string_view k(opt->keyword);
      if (k == "connect_timeout" && opt->val != nullptr) {
        const long t = std::strtol(opt->val, nullptr, 10);
        if (t > 0) per_host = std::chrono::seconds{std::max(t, 2L)};  // libpq: 1 means 2
      } else if (k == "host") {
        hosts = split(opt->val);
      } else if (k == "hostaddr") {
        hostaddrs = split(opt->val);
      } else if (k == "port") {
        ports = split(opt->val);
      } else if (opt->val != nullptr) {
        params.emplace_back(opt->keyword, opt->val);
      }
    }
    PQconninfoFree(o);
  }
  const auto deadline = deadline_in(timeout);
  const std::size_t n_hosts = std::max(hosts.size(), hostaddrs.size());
  // The code is the server's SQLSTATE when it sent one (28P01 a wrong
  // password, 53300 too many clients, 57P03 starting up: each classed by
  // what it means), else 08001 (refused, unreachable); a connect that ran
  // out of time is 57014, the code of every other round trip berth times
  // out (db_errc::timeout).
  // libpq may have read pieces of a password as other values (a '/' or '@'
  // in a URI's password makes the rest a port or a host), and then quotes
  // them in its messages: blank every piece of the password
  // (PostgresError.AConnectErrorNeverShowsPiecesOfAMisreadPasswordBug).
  const auto refused = [&ci](std::string message, std::string_view code = "08001") {
    std::string sqlstate(code);
    std::string m = connect_failure_message(std::move(message), &sqlstate);
    return failure{make_error(sqlstate, redact_conninfo_message(m, ci, false))};
  };
  // One attempt: libpq's PQconnectPoll loop with keys/values until
  // `until`; the session, or why not.
  const auto attempt = [&](const char* const* keys, const char* const* values, int expand,
                           clock::time_point until) -> result<std::unique_ptr<state>, error> {
    auto s = std::make_unique<state>();
    s->statements = statements;
    s->conn = PQconnectStartParams(keys, values, expand);
    if (s->conn == nullptr) return failure{make_error("08001", "out of memory")};
    if (PQstatus(s->conn) == CONNECTION_BAD) return refused(PQerrorMessage(s->conn));
    // The server's refusal (too many connections, authentication, no such
    // database) with its SQLSTATE: connect_failure_message().
    PQsetNoticeReceiver(s->conn, &state::on_notice, s.get());
    PQsetErrorVerbosity(s->conn, PQERRORS_VERBOSE);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
      if (st == PGRES_POLLING_FAILED) return refused(PQerrorMessage(s->conn));
      // With a stop flag the wait is cut in slices, so that a pool being
      // destroyed does not wait out a connect to a silent server (up to
      // connect_timeout): its destructor sets the flag first.
      int w = 0;
      for (;;) {
        // Relaxed: a flag with nothing behind it; the slice bounds how late it is seen.
        if (stop != nullptr && stop->load(std::memory_order_relaxed))
          return failure{make_error("57014", "connect abandoned: the pool is being destroyed")};
        const auto slice_end = stop == nullptr ? until : std::min(until, clock::now() + stop_slice);
        w = wait_socket(PQsocket(s->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, slice_end);
        if (w != 0 || slice_end == until) break;
      }
      if (w == 0) {
        const char* h = PQhost(s->conn);
        const char* p = PQport(s->conn);
        const auto waited = until == deadline ? timeout : std::min(timeout, per_host);
        return refused(std::string("connect to ") + (h != nullptr ? h : "?") + ":" + (p != nullptr ? p : "?") +
                           " timed out after " + std::to_string(std::max<std::int64_t>(waited.count(), 0)) + " ms",
                       "57014");
      }
      if (w < 0) return failure{make_error("08001", std::string("poll failed: ") + std::strerror(errno))};
      st = PQconnectPoll(s->conn);
    }
    return s;
  };
  std::unique_ptr<state> s;
  if (per_host.count() == 0 || n_hosts <= 1) {
    // The conninfo is expanded from "dbname" first; a later keyword wins over
    // the conninfo's own (libpq: "the last value ... is used").
    const char* const keys[] = {"dbname", target != nullptr ? "target_session_attrs" : nullptr, nullptr};
    const char* const values[] = {ci.c_str(), target, nullptr};
    const auto until = per_host.count() == 0 ? deadline : std::min(deadline, deadline_in(per_host));
    auto r = attempt(keys, values, 1, until);
    if (!r) return failure{std::move(r).error()};
    s = std::move(*r);
  } else {
    // Host by host, each with the parsed keywords (no expansion: a URI is
    // already parsed), its own host/hostaddr/port, and per_host.
    std::optional<error> last;
    for (std::size_t i = 0; i < n_hosts && clock::now() < deadline; ++i) {
      std::vector<const char*> keys, values;
      for (const auto& [k, v] : params) {
        if (target != nullptr && k == "target_session_attrs") continue;
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
      }
      const auto at = [](const std::vector<std::string>& list, std::size_t j) -> const char* {
        if (list.empty()) return nullptr;
        return list.size() == 1 ? list[0].c_str() : (j < list.size() ? list[j].c_str() : nullptr);
      };
      for (const auto& [k, list] : {std::pair<const char*, const std::vector<std::string>*>{"host", &hosts},
                                    {"hostaddr", &hostaddrs}, {"port", &ports}}) {
        if (const char* v = at(*list, i); v != nullptr && *v != '\0') {
          keys.push_back(k);
          values.push_back(v);
        }
      }
      if (target != nullptr) {
        keys.push_back("target_session_attrs");
        values.push_back(target);
      }
      keys.push_back(nullptr);
      values.push_back(nullptr);
      auto r = attempt(keys.data(), values.data(), 0, std::min(deadline, deadline_in(per_host)));
      if (r) {
        s = std::move(*r);
        break;
      }
      // libpq tries the next host after a connection failure or a session
      // of the wrong role (08001, and 57014 for this host's time), not
      // after the server refused us (a wrong password, no such database:
      // the server's own SQLSTATE), nor after a stop.
      const std::string code = r.error().sqlstate();
      // Relaxed: the same flag attempt() read (a stop set since only ends the loop sooner).
      if ((code != "08001" && code != "57014") || (stop != nullptr && stop->load(std::memory_order_relaxed)))
        return failure{std::move(r).error()};
      last = std::move(r).error();
    }
    if (!s) {
      if (last) return failure{std::move(*last)};
      return refused("connect timed out after " + std::to_string(timeout.count()) + " ms", "57014");
    }
  }
  PQsetErrorVerbosity(s->conn, PQERRORS_DEFAULT);
  if (PQsetnonblocking(s->conn, 1) != 0) return refused(PQerrorMessage(s->conn));
  s->note_status();
  if (!s->role_reported) {
    // No in_hot_standby (before 14, or a proxy): ask once. A server that
    // cannot answer (PgBouncer's console) leaves the role unknown; a session
    // lost meanwhile fails the open.
    if (auto r = s->query_role(deadline, timeout); !r && s->broken)  // 08006 lost, 57014 out of time
      return failure{error{r.error().code, std::string(message_prefix) + "asking the server for its role: " +
                                               r.error().message.substr(std::min(r.error().message.size(), message_prefix.size()))}};
  }
  return connection(std::move(s));
}

result<server_role, error> connection::state::query_role(clock::time_point deadline,
                                                         std::chrono::milliseconds timeout) {
  auto r = run("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')", deadline, timeout,
               on_timeout::mark_broken);
  if (!r) return failure{std::move(r).error()};
  try {
    role = r->get<bool>(0, 0) ? server_role::standby : server_role::primary;
    read_only = r->get<std::string>(0, 1) == "on";
  } catch (const std::exception& e) {  // field_error: not what PostgreSQL answers
    return failure{make_error("XX000", std::string("unexpected answer about the role: ") + e.what())};
  }
  check_target(nullptr);
  return role;
}

std::optional<error> connection::state::unsendable(std::string_view sql, bool look_for_copy) const {
  // libpq reads SQL text up to a NUL byte: "SELECT 1\0; DROP ..." would run
  // its first part alone, without a word (PostgresConnection.SqlWithANulByteIsRefusedNotCutBug).
  if (const std::size_t at = sql.find('\0'); at != std::string_view::npos)
    return make_error("22021", "the SQL text holds a NUL byte at offset " + std::to_string(at) +
                                   " (libpq would ignore everything after it)");
  return look_for_copy ? copy_refusal(sql) : std::nullopt;
}

std::optional<error> connection::state::copy_refusal(std::string_view sql) const {
  // execute() carries no COPY data, and once the server has begun a COPY it
  // has run (COPY (INSERT ... RETURNING *) TO STDOUT its INSERT), and so do
  // the statements after it: refuse it before sending anything
  // (PostgresConnection.ARefusedCopyHasRunNothingBug). The server reads the
  // text with the settings it has now.
  if (const auto copy = detail::find_client_copy(sql, reading()))
    return make_error("0A000", "the statement at offset " + std::to_string(copy->offset) + " is a COPY " +
                                   (copy->from_client ? "from" : "to") +
                                   " the client, which execute() does not support (use native_handle()): "
                                   "nothing was sent, so no statement of the text ran");
  return std::nullopt;
}

result<query_result, error> connection::state::run(std::string_view sql, clock::time_point deadline,
                                                   std::chrono::milliseconds timeout, on_timeout policy) {
  if (auto e = unsendable(sql)) return failure{std::move(*e)};
  const std::string q(sql);
  if (PQsendQuery(conn, q.c_str()) == 0) return failure{send_failed()};
  call_sql = sql;
  return collect(deadline, timeout, policy);
}

result<query_result, error> connection::state::run(std::string_view sql, std::span<const param> params,
                                                   clock::time_point deadline, std::chrono::milliseconds timeout,
                                                   on_timeout policy) {
  if (params.size() > 65535) return failure{make_error("54000", "more than 65535 parameters")};
  // Named mode reads the text for a COPY only before preparing it: the
  // server parsed a cached statement when it was prepared and never reads
  // its text again, so reading it now, under settings changed since
  // (standard_conforming_strings), could only refuse it wrongly, and would
  // cost every cached call the scan
  // (PostgresConnection.ACachedStatementIsNotReadAgainForACopyBug).
  if (auto e = unsendable(sql, statements == statement_mode::unnamed)) return failure{std::move(*e)};
  const int n = static_cast<int>(params.size());
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const param& p = params[i];
    if (p.is_null()) continue;
    const std::string_view v = p.value();
    if (p.is_binary()) {
      // Never a null pointer: libpq sends a null value as SQL NULL, and an
      // empty span's data() may be null (PostgresConnection.AnEmptyByteaIsNotNullBug).
      static constexpr char empty[1] = {};
      values[i] = v.empty() ? empty : v.data();
      lengths[i] = static_cast<int>(v.size());
      formats[i] = 1;
    } else {
      if (v.find('\0') != std::string_view::npos)
        return failure{make_error("22021", "text parameter $" + std::to_string(i + 1) + " contains a NUL byte")};
      texts[i].assign(v);
      values[i] = texts[i].c_str();
    }
  }
  if (statements == statement_mode::unnamed) {
    // Parse (unnamed statement) + Bind + Describe + Execute + Sync: one round trip, nothing left behind.
    const std::string q(sql);
    if (PQsendQueryParams(conn, q.c_str(), n, nullptr, values.data(), lengths.data(), formats.data(), 0) == 0)
      return failure{send_failed()};
    call_sql = sql;
    return collect(deadline, timeout, policy);
  }
  for (int attempt = 0;; ++attempt) {
    if (!stale_statements.empty() && PQtransactionStatus(conn) == PQTRANS_IDLE)
      if (auto d = drop_stale(deadline, timeout, policy); !d) return failure{std::move(d).error()};
    auto it = prepared.find(sql);
    const bool was_cached = it != prepared.end();
    if (it == prepared.end()) {
      // The NUL byte was looked for above, beside the parameters.
      if (auto e = copy_refusal(sql)) return failure{std::move(*e)};
      std::string name = "berth_" + std::to_string(++next_statement);
      const std::string q(sql);
      if (PQsendPrepare(conn, name.c_str(), q.c_str(), n, nullptr) == 0) return failure{send_failed()};
      call_sql = sql;
      if (auto r = collect(deadline, timeout, policy); !r) return failure{with_pooler_hint(std::move(r).error())};
      it = prepared.emplace(q, std::move(name)).first;
    }
    if (PQsendQueryPrepared(conn, it->second.c_str(), n, values.data(), lengths.data(), formats.data(), 0) == 0)
      return failure{send_failed()};
    call_sql = sql;
    auto r = collect(deadline, timeout, policy);
    if (!r && r.error().code == make_sqlstate_error("26000")) {
      // Our statement is gone from the server: forget it (by key: collect()
      // may have cleared the cache, invalidating `it`). Cached before this
      // call, it was dropped behind the cache's back (DISCARD ALL or
      // DEALLOCATE through native_handle()): outside a transaction block
      // the refused call ran nothing, so prepare it and run it once more
      // (PostgresConnection.ACachedStatementDiscardedBehindTheCachesBackRunsAgainBug);
      // inside one the transaction is aborted and the caller sees the error.
      // Gone although prepared by this very call: a transaction pooler ran
      // the two on different server sessions (with_pooler_hint).
      prepared.erase(std::string(sql));
      if (!was_cached) return failure{with_pooler_hint(std::move(r).error())};
      if (attempt == 0 && !broken && PQtransactionStatus(conn) == PQTRANS_IDLE) continue;
      error e = std::move(r).error();
      e.message += " (the server session no longer has this connection's cached prepared statement: a DISCARD "
                   "ALL or DEALLOCATE was run behind the statement cache's back, through native_handle(); the "
                   "cache has forgotten it, so the next call prepares it again)";
      return failure{std::move(e)};
    }
    if (!r && plan_refused) {  // a 0A000, from RevalidateCachedQuery
      // The server refusing its cached plan after the table changed shape
      // ("cached plan must not change result type", raised before the
      // statement runs), as it would on every later call. Any other 0A000
      // (a function raising feature_not_supported, after it ran and perhaps
      // advanced a sequence) is the caller's error, never run again
      // (PostgresConnection.AnyOther0A000IsNeverRunAgainBug). Prepare it again; the old name goes to
      // stale_statements. By key, as above. Outside a transaction the
      // refused call had no effect (the server checks the plan before it
      // runs anything), so it runs again once, at once; inside one the
      // transaction is aborted and the caller sees the error.
      if (const auto p = prepared.find(sql); p != prepared.end()) {
        stale_statements.push_back(p->second);
        prepared.erase(p);
      }
      if (attempt == 0 && !broken && PQtransactionStatus(conn) == PQTRANS_IDLE) continue;
    }
    return r;
  }
}

result<query_result, error> connection::execute(std::string_view sql) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  return s_->run(sql, clock::time_point::max(), {}, on_timeout::mark_broken);
}

result<query_result, error> connection::execute(std::string_view sql, std::span<const param> params) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  return s_->run(sql, params, clock::time_point::max(), {}, on_timeout::mark_broken);
}

result<query_result, error> connection::execute_bounded(std::chrono::milliseconds timeout, std::string_view sql) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  return s_->run(sql, deadline_in(timeout), timeout, on_timeout::mark_broken);
}

namespace {
error bad_timeout(std::chrono::milliseconds t) {
  return make_error("22023", "execute_for: timeout must be > 0 (got " + std::to_string(t.count()) + " ms)");
}
}  // namespace

result<query_result, error> connection::execute_for(std::chrono::milliseconds timeout, std::string_view sql) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  if (timeout <= std::chrono::milliseconds::zero()) return failure{bad_timeout(timeout)};
  return s_->run(sql, deadline_in(timeout), timeout, on_timeout::cancel_and_drain);
}

result<query_result, error> connection::execute_for(std::chrono::milliseconds timeout, std::string_view sql,
                                                    std::span<const param> params) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  if (timeout <= std::chrono::milliseconds::zero()) return failure{bad_timeout(timeout)};
  return s_->run(sql, params, deadline_in(timeout), timeout, on_timeout::cancel_and_drain);
}

result<void, error> connection::ping(std::chrono::milliseconds timeout) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  const auto deadline = deadline_in(timeout);
  if (PQsendQuery(s_->conn, "") == 0) return failure{s_->send_failed()};
  if (auto r = s_->collect(deadline, timeout); !r) return failure{std::move(r).error()};
  return {};
}

server_role connection::role() const noexcept { return s_ ? s_->role : server_role::unknown; }
bool connection::read_only_by_default() const noexcept { return s_ && s_->read_only; }
bool connection::role_reported() const noexcept { return s_ && s_->role_reported; }

result<server_role, error> connection::refresh_role(std::chrono::milliseconds timeout) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  return s_->query_role(deadline_in(timeout), timeout);
}

result<std::optional<std::chrono::microseconds>, error> connection::last_replay_age(std::chrono::milliseconds timeout) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  // GREATEST ignores NULL, hence the IS NOT NULL test.
  auto r = s_->run(
      "SELECT CASE WHEN pg_is_in_recovery() AND pg_last_xact_replay_timestamp() IS NOT NULL THEN "
      "greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000000)::int8 END",
      deadline_in(timeout), timeout, on_timeout::mark_broken);
  if (!r) return failure{std::move(r).error()};
  if (r->is_null(0, 0)) return std::optional<std::chrono::microseconds>{};
  return std::optional<std::chrono::microseconds>{std::chrono::microseconds{r->get<std::int64_t>(0, 0)}};
}

result<std::optional<std::chrono::microseconds>, error> connection::replay_lag(std::chrono::milliseconds timeout) {
  if (auto e = state::unusable(s_.get())) return failure{std::move(*e)};
  auto r = s_->run(
      "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL "
      "WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
      "THEN 0 "
      "WHEN pg_last_xact_replay_timestamp() IS NOT NULL "
      "THEN greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000000)::int8 END",
      deadline_in(timeout), timeout, on_timeout::mark_broken);
  if (!r) return failure{std::move(r).error()};
  if (r->is_null(0, 0)) return std::optional<std::chrono::microseconds>{};
  return std::optional<std::chrono::microseconds>{std::chrono::microseconds{r->get<std::int64_t>(0, 0)}};
}

std::string_view connection::host() const noexcept {
  const char* h = s_ ? PQhost(s_->conn) : nullptr;
  return h != nullptr ? h : "";
}
std::string_view connection::port() const noexcept {
  const char* p = s_ ? PQport(s_->conn) : nullptr;
  return p != nullptr ? p : "";
}

bool connection::superseded() const noexcept {
  return s_ && s_->host != nullptr &&
         (s_->mismatched || detail::failover_tracker::superseded(*s_->host, s_->opened_epoch));
}

void connection::track(std::shared_ptr<detail::failover_tracker> tracker, std::uint64_t opened,
                       session_target target) {
  if (!s_ || !tracker) return;
  s_->host = &tracker->entry(host(), port());
  s_->tracker = std::move(tracker);
  s_->opened_epoch = opened;
  s_->target = target;
  s_->check_target(nullptr);
  s_->tracker->watcher().watch(PQsocket(s_->conn), &s_->peer_closed);
}

bool connection::peer_closed() const noexcept {
  return s_ && s_->peer_closed.load(std::memory_order_acquire);  // pairs with peer_watcher::run()'s release store
}

bool connection::broken() const noexcept { return !s_ || s_->broken || PQstatus(s_->conn) != CONNECTION_OK; }

transaction_state connection::transaction() const noexcept {
  if (!s_) return transaction_state::unknown;
  switch (PQtransactionStatus(s_->conn)) {
    case PQTRANS_IDLE: return transaction_state::idle;
    case PQTRANS_ACTIVE: return transaction_state::active;
    case PQTRANS_INTRANS: return transaction_state::in_transaction;
    case PQTRANS_INERROR: return transaction_state::in_error;
    case PQTRANS_UNKNOWN: break;
  }
  return transaction_state::unknown;
}

int connection::transaction_depth() const noexcept { return s_ ? s_->guards.depth : 0; }
bool connection::pipelined() const noexcept { return s_ && PQpipelineStatus(s_->conn) != PQ_PIPELINE_OFF; }
bool connection::settings_touched() const noexcept { return s_ && s_->settings_touched; }
void connection::settings_applied() noexcept {
  if (s_) s_->settings_touched = false;
}
connection::guard_marks* connection::marks() noexcept { return s_ ? &s_->guards : nullptr; }
void connection::mark_broken() noexcept {
  if (!s_) return;
  s_->broken = true;
  if (s_->broken_why == nullptr) s_->broken_why = "a transaction guard could not end its transaction, so its state is unknown";
}
std::chrono::milliseconds connection::cleanup_timeout() const noexcept {
  return s_ ? s_->cleanup_timeout : std::chrono::milliseconds{std::chrono::seconds{5}};
}
void connection::set_cleanup_timeout(std::chrono::milliseconds t) noexcept {
  if (s_) s_->cleanup_timeout = t;
}
void connection::forget_transactions() noexcept {
  if (s_) s_->guards.depth = 0;
}

std::size_t connection::prepared_count() const noexcept { return s_ ? s_->prepared.size() : 0; }
statement_mode connection::statements() const noexcept { return s_ ? s_->statements : statement_mode::named; }
void connection::close() noexcept { s_.reset(); }
bool connection::is_open() const noexcept { return s_ != nullptr; }
bool connection::inherited() const noexcept { return s_ && s_->origin.inherited_checked(); }
PGconn* connection::native_handle() const noexcept { return s_ ? s_->conn : nullptr; }

}  // namespace berth::postgres
