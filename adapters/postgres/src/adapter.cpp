// adapter.cpp: see adapter.hpp.
#include <berth/postgres/adapter.hpp>

#include <libpq-fe.h>

#include "client_copy.hpp"
#include "failover_tracker.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

namespace berth::postgres {
namespace {

adapter_error to_adapter_error(error e) { return adapter_error{e.code, std::move(e.message)}; }

adapter_error state_error(const char* sqlstate, const char* what) {
  return adapter_error{make_sqlstate_error(sqlstate), std::string("berth postgres: ") + what};
}

adapter_error superseded_error(const connection& c, session_target target) {
  return adapter_error{make_sqlstate_error("08000"),
                       "berth postgres: the connection to " + std::string(c.host()) + ":" + std::string(c.port()) +
                           " is superseded (failover): its server is now " + std::string(to_string(c.role())) +
                           (c.read_only_by_default() ? ", read-only by default," : "") +
                           " and the pool wants target_session_attrs=" + std::string(to_string(target)) +
                           ", or it was found demoted or promoted since this connection was opened"};
}

/// The value of keyword key in conninfo ("" when absent or unparseable).
std::string conninfo_value(const std::string& conninfo, const char* key) {
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), nullptr);
  if (opts == nullptr) return {};
  std::string v;
  for (const PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
    if (std::string_view(o->keyword) == key && o->val != nullptr) v = o->val;
  PQconninfoFree(opts);
  return v;
}

/// The COPY to or from the client that every session reads in sql, or
/// nullopt: sql is a reset query, sent by reset() as it stands, and read by
/// execute() with the session's standard_conforming_strings and client
/// encoding, which validation cannot know. So each reading is tried (both
/// settings, each encoding libpq knows; they differ only around backslashes
/// and bytes >= 0x80), and only a COPY found in all of them is reported: a
/// refusal here is one execute() makes at every return of a connection, never
/// a text some session would run. A COPY only some sessions see still meets
/// execute()'s refusal there.
std::optional<detail::client_copy> copy_in_every_reading(std::string_view sql) {
  std::optional<detail::client_copy> first;
  for (const bool standard : {true, false}) {
    for (int encoding = 0; *pg_encoding_to_char(encoding) != '\0'; ++encoding) {
      const auto copy = detail::find_client_copy(sql, {standard, encoding});
      if (!copy) return std::nullopt;
      if (!first) first = copy;
    }
  }
  return first;
}

}  // namespace

/// PostgreSQL's largest timeout setting (an int of milliseconds, INT_MAX).
constexpr std::int64_t max_server_timeout_ms = 2'147'483'647;

std::optional<options_error> validate(const options& o) {
  if (o.conninfo.empty()) return options_error("conninfo", "must not be empty", "postgres::options");
  // libpq takes a C string: it would connect with what comes before the NUL
  // (the rest, password included, silently dropped). The offset only: the
  // text may hold a password.
  if (const std::size_t nul = o.conninfo.find('\0'); nul != std::string::npos)
    return options_error("conninfo",
                         "contains a NUL byte at offset " + std::to_string(nul) +
                             " (libpq reads the text up to the first NUL)",
                         "postgres::options");
  // Blank, libpq would connect with its defaults (PGHOST, the local socket):
  // never what a configuration meant.
  if (o.conninfo.find_first_not_of(" \t\n\r\f\v") == std::string::npos)
    return options_error("conninfo", "must not be blank (only whitespace)", "postgres::options");
  {
    char* err = nullptr;
    PQconninfoOption* p = PQconninfoParse(o.conninfo.c_str(), &err);
    if (p == nullptr) {
      std::string why = redact_conninfo_message(err != nullptr ? err : "out of memory", o.conninfo);
      PQfreemem(err);
      while (!why.empty() && why.back() == '\n') why.pop_back();
      return options_error("conninfo", "libpq cannot parse it: " + why, "postgres::options");
    }
    PQconninfoFree(p);
  }
  // A duration field: > 0 and <= max_option_duration.
  const auto bad_duration = [](const char* field, std::chrono::milliseconds d) -> std::optional<options_error> {
    if (d <= std::chrono::milliseconds::zero()) return options_error(field, "must be > 0", "postgres::options");
    if (d > max_option_duration)
      return options_error(field, "must be <= berth::max_option_duration", "postgres::options");
    return std::nullopt;
  };
  if (auto e = bad_duration("connect_timeout", o.connect_timeout)) return e;
  if (auto e = bad_duration("reset_timeout", o.reset_timeout)) return e;
  if (o.reset_query && o.reset_query->empty())
    return options_error("reset_query", "must not be empty when set", "postgres::options");
  // libpq takes the text as a C string: the server would be sent only what
  // comes before the NUL, and execute() refuses such a text (22021) at every
  // return of a connection, discarding it.
  if (o.reset_query) {
    if (const std::size_t nul = o.reset_query->find('\0'); nul != std::string::npos)
      return options_error("reset_query",
                           "contains a NUL byte at offset " + std::to_string(nul) +
                               " (libpq sends text up to the first NUL)",
                           "postgres::options");
    if (const auto copy = copy_in_every_reading(*o.reset_query))
      return options_error("reset_query",
                           "the statement at offset " + std::to_string(copy->offset) + " is a COPY " +
                               (copy->from_client ? "from" : "to") +
                               " the client, which execute() does not support: every return of a connection "
                               "would fail to reset it and discard it",
                           "postgres::options");
  }
  if (o.statement_timeout && *o.statement_timeout <= std::chrono::milliseconds::zero())
    return options_error("statement_timeout", "must be > 0 when set", "postgres::options");
  if (o.statement_timeout && *o.statement_timeout > max_option_duration)
    return options_error("statement_timeout", "must be <= berth::max_option_duration", "postgres::options");
  // The server takes statement_timeout as an int of milliseconds: beyond
  // that every connect would fail with "invalid value for parameter".
  if (o.statement_timeout && o.statement_timeout->count() > max_server_timeout_ms)
    return options_error("statement_timeout",
                         "must be <= " + std::to_string(max_server_timeout_ms) +
                             " ms, PostgreSQL's limit (about 24.8 days), got " +
                             std::to_string(o.statement_timeout->count()) + " ms",
                         "postgres::options");
  if (o.statements != statement_mode::named && o.statements != statement_mode::unnamed)
    return options_error("statements", "must be statement_mode::named or statement_mode::unnamed",
                         "postgres::options");
  if (o.pooler != pooler_mode::none && o.pooler != pooler_mode::transaction)
    return options_error("pooler", "must be pooler_mode::none or pooler_mode::transaction", "postgres::options");
  if (o.pooler == pooler_mode::transaction) {
    // Session state does not follow a connection through a transaction
    // pooler: refuse what relies on it, naming the field to change.
    if (o.statements == statement_mode::named)
      return options_error("statements",
                           "must be statement_mode::unnamed with pooler_mode::transaction (a named prepared "
                           "statement exists only on the server session that prepared it)",
                           "postgres::options");
    if (o.statement_timeout)
      return options_error("statement_timeout",
                           "must be unset with pooler_mode::transaction (SET statement_timeout would change one "
                           "shared server session, not this connection; use ALTER ROLE ... SET "
                           "statement_timeout, the pooler's connect_query, or execute_for())",
                           "postgres::options");
    if (o.reset_query)
      return options_error("reset_query",
                           "must be unset with pooler_mode::transaction (there is no session of this "
                           "connection's to reset; it would run on a server session other clients share)",
                           "postgres::options");
  }
  // An out-of-range value would reach libpq as to_string()'s "?".
  if (o.target_session_attrs && to_string(*o.target_session_attrs) == "?")
    return options_error("target_session_attrs",
                         "must be a session_target (any, read_write, read_only, primary, standby, "
                         "prefer_standby), got " +
                             std::to_string(static_cast<int>(*o.target_session_attrs)),
                         "postgres::options");
  if (const std::string t = conninfo_value(o.conninfo, "target_session_attrs"); !t.empty()) {
    const auto in_conninfo = parse_session_target(t);
    if (!in_conninfo)
      return options_error("conninfo",
                           "target_session_attrs=\"" + t +
                               "\" is not one of any, read-write, read-only, primary, standby, prefer-standby",
                           "postgres::options");
    if (o.target_session_attrs && *o.target_session_attrs != *in_conninfo)
      return options_error("target_session_attrs",
                           std::string("is ") + std::string(to_string(*o.target_session_attrs)) +
                               " but conninfo says target_session_attrs=" + t,
                           "postgres::options");
  }
  return std::nullopt;
}

adapter::adapter(options o) : o_(std::move(o)), tracker_(std::make_shared<detail::failover_tracker>()) {
  if (auto e = postgres::validate(o_)) throw *e;
  // As libpq decides: the option (passed to libpq, overriding the conninfo),
  // the conninfo, the environment, any.
  if (o_.target_session_attrs) {
    target_ = *o_.target_session_attrs;
  } else if (const std::string t = conninfo_value(o_.conninfo, "target_session_attrs"); !t.empty()) {
    target_ = parse_session_target(t).value_or(session_target::any);
  } else if (const char* env = std::getenv("PGTARGETSESSIONATTRS"); env != nullptr && *env != '\0') {
    target_ = parse_session_target(env).value_or(session_target::any);  // libpq rejects a bad one at connect
  }
}

adapter::adapter(const adapter& o)
    : o_(o.o_), target_(o.target_), tracker_(std::make_shared<detail::failover_tracker>()) {}

adapter& adapter::operator=(const adapter& o) {
  if (this != &o) {
    auto fresh = std::make_shared<detail::failover_tracker>();
    o_ = o.o_;
    target_ = o.target_;
    tracker_ = std::move(fresh);
  }
  return *this;
}

adapter::~adapter() = default;

void adapter::attach(sweep_target* t) noexcept {
  if (tracker_) tracker_->attach(t);
}

result<void, adapter_error> adapter::apply_session_settings(connection& c, std::chrono::milliseconds bound) {
  if (!o_.statement_timeout) return {};
  auto r = c.execute_bounded(bound, "SET statement_timeout = " + std::to_string(o_.statement_timeout->count()));
  if (!r) return failure{to_adapter_error(std::move(r).error())};
  c.settings_applied();  // our own SET is not the lessee's
  return {};
}

result<connection, adapter_error> adapter::connect() {
  // [F1] (failover_tracker.hpp): the epoch before connecting, so a role
  // change reported while this connect runs supersedes the connection.
  const std::uint64_t epoch = tracker_ ? tracker_->epoch() : 0;
  // the whole connect(); connect_timeout is validated <= max_option_duration
  const auto deadline = std::chrono::steady_clock::now() + o_.connect_timeout;
  auto c = connection::open_with_target(
      o_.conninfo, o_.connect_timeout,
      o_.target_session_attrs ? to_string(*o_.target_session_attrs).data() : nullptr, o_.statements,
      tracker_ ? tracker_->stop_flag() : nullptr);
  if (!c) return failure{to_adapter_error(std::move(c).error())};
  if (tracker_) c->track(tracker_, epoch, target_);
  c->set_cleanup_timeout(o_.reset_timeout);  // a guard's rollback in its destructor
  // The session settings get what is left of connect_timeout (at least 1 ms).
  const auto left = std::max(std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
                             std::chrono::milliseconds{1});
  if (auto s = apply_session_settings(*c, left); !s) return failure{s.error()};
  return std::move(*c);
}

result<void, adapter_error> adapter::validate(connection& c) { return validate(c, o_.connect_timeout); }

namespace {
adapter_error inherited_error(const char* call) {
  return state_error("08003", (std::string(call) +
                               ": the connection was opened before fork() and this is the child process; "
                               "create a new pool (or connection) in the child")
                                  .c_str());
}
}  // namespace

result<void, adapter_error> adapter::validate(connection& c, std::chrono::milliseconds timeout) {
  if (c.inherited()) return failure{inherited_error("validate")};
  if (c.broken()) return failure{state_error("08003", "connection is broken")};
  if (c.superseded()) return failure{superseded_error(c, target_)};
  if (c.peer_closed()) return failure{state_error("08006", "the server closed the session while it was idle")};
  if (c.transaction() != transaction_state::idle)
    return failure{state_error("25000", "idle connection is not idle (transaction or command left open)")};
  if (!c.role_reported() && target_ != session_target::any && target_ != session_target::prefer_standby) {
    // The reply to a ping would not say whether the role changed: ask.
    if (auto r = c.refresh_role(timeout); !r) return failure{to_adapter_error(r.error())};
  } else if (auto r = c.ping(timeout); !r) {
    return failure{to_adapter_error(r.error())};
  }
  if (c.superseded()) return failure{superseded_error(c, target_)};  // the round trip brought the news
  return {};
}

result<void, adapter_error> adapter::reset(connection& c) {
  if (c.inherited()) return failure{inherited_error("reset")};
  if (c.broken()) return failure{state_error("08003", "connection is broken")};
  if (c.superseded()) return failure{superseded_error(c, target_)};
  if (c.peer_closed()) return failure{state_error("08006", "the server closed the session")};
  // Pipeline mode, entered through native_handle(), makes every execute()
  // fail (libpq refuses the simple protocol there): discard the connection.
  if (c.pipelined())
    return failure{state_error("55000", "connection left in libpq's pipeline mode (through native_handle())")};
  switch (c.transaction()) {
    case transaction_state::idle:
      break;
    case transaction_state::in_transaction:
    case transaction_state::in_error:
      // Bounded: this runs in the thread that returned the connection.
      if (auto r = c.execute_bounded(o_.reset_timeout, "ROLLBACK"); !r)
        return failure{to_adapter_error(std::move(r).error())};
      break;
    case transaction_state::active:
      return failure{state_error("25000", "connection left mid-command or in COPY")};
    case transaction_state::unknown:
      return failure{state_error("08003", "connection state unknown")};
  }
  c.forget_transactions();  // any guard still alive finds its transaction gone
  if (o_.reset_query) {
    if (auto r = c.execute_bounded(o_.reset_timeout, *o_.reset_query); !r)
      return failure{to_adapter_error(std::move(r).error())};
    if (auto s = apply_session_settings(c, o_.reset_timeout); !s) return s;
  } else if (o_.statement_timeout && c.settings_touched()) {
    // The lessee's SET, RESET ALL or DISCARD ALL may have changed or dropped
    // statement_timeout: one round trip, on those releases only.
    if (auto s = apply_session_settings(c, o_.reset_timeout); !s) return s;
  }
  if (c.superseded()) return failure{superseded_error(c, target_)};
  return {};
}

void adapter::close(connection& c) noexcept { c.close(); }

}  // namespace berth::postgres
