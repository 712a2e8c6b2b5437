// adapter.cpp: see adapter.hpp.
#include <berth/postgres/adapter.hpp>

#include <libpq-fe.h>

#include <utility>

namespace berth::postgres {
namespace {

adapter_error to_adapter_error(error e) { return adapter_error{e.code, std::move(e.message)}; }

adapter_error state_error(const char* sqlstate, const char* what) {
  return adapter_error{make_sqlstate_error(sqlstate), std::string("berth postgres: ") + what};
}

}  // namespace

std::optional<options_error> validate(const options& o) {
  if (o.conninfo.empty()) return options_error("conninfo", "must not be empty", "postgres::options");
  {
    char* err = nullptr;
    PQconninfoOption* p = PQconninfoParse(o.conninfo.c_str(), &err);
    if (p == nullptr) {
      std::string why = redact_password(err != nullptr ? err : "out of memory");
      PQfreemem(err);
      while (!why.empty() && why.back() == '\n') why.pop_back();
      return options_error("conninfo", "libpq cannot parse it: " + why, "postgres::options");
    }
    PQconninfoFree(p);
  }
  if (o.connect_timeout <= std::chrono::milliseconds::zero())
    return options_error("connect_timeout", "must be > 0", "postgres::options");
  if (o.connect_timeout > max_option_duration)
    return options_error("connect_timeout", "must be <= berth::max_option_duration", "postgres::options");
  if (o.reset_query && o.reset_query->empty())
    return options_error("reset_query", "must not be empty when set", "postgres::options");
  if (o.statement_timeout && *o.statement_timeout <= std::chrono::milliseconds::zero())
    return options_error("statement_timeout", "must be > 0 when set", "postgres::options");
  if (o.statement_timeout && *o.statement_timeout > max_option_duration)
    return options_error("statement_timeout", "must be <= berth::max_option_duration", "postgres::options");
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
  return std::nullopt;
}

adapter::adapter(options o) : o_(std::move(o)) {
  if (auto e = postgres::validate(o_)) throw *e;
}

result<void, adapter_error> adapter::apply_session_settings(connection& c) {
  if (!o_.statement_timeout) return {};
  auto r = c.execute("SET statement_timeout = " + std::to_string(o_.statement_timeout->count()));
  if (!r) return failure{to_adapter_error(std::move(r).error())};
  return {};
}

result<connection, adapter_error> adapter::connect() {
  auto c = connection::open(o_.conninfo, o_.connect_timeout, o_.statements);
  if (!c) return failure{to_adapter_error(std::move(c).error())};
  if (auto s = apply_session_settings(*c); !s) return failure{s.error()};
  return std::move(*c);
}

result<void, adapter_error> adapter::validate(connection& c) { return validate(c, o_.connect_timeout); }

result<void, adapter_error> adapter::validate(connection& c, std::chrono::milliseconds timeout) {
  if (c.broken()) return failure{state_error("08003", "connection is broken")};
  if (c.transaction() != transaction_state::idle)
    return failure{state_error("25000", "idle connection is not idle (transaction or command left open)")};
  if (auto r = c.ping(timeout); !r) return failure{to_adapter_error(r.error())};
  return {};
}

result<void, adapter_error> adapter::reset(connection& c) {
  if (c.broken()) return failure{state_error("08003", "connection is broken")};
  switch (c.transaction()) {
    case transaction_state::idle:
      break;
    case transaction_state::in_transaction:
    case transaction_state::in_error:
      if (auto r = c.execute("ROLLBACK"); !r) return failure{to_adapter_error(std::move(r).error())};
      break;
    case transaction_state::active:
      return failure{state_error("25000", "connection left mid-command or in COPY")};
    case transaction_state::unknown:
      return failure{state_error("08003", "connection state unknown")};
  }
  c.forget_transactions();  // any guard still alive finds its transaction gone
  if (o_.reset_query) {
    if (auto r = c.execute(*o_.reset_query); !r) return failure{to_adapter_error(std::move(r).error())};
    if (auto s = apply_session_settings(c); !s) return s;
  }
  return {};
}

void adapter::close(connection& c) noexcept { c.close(); }

}  // namespace berth::postgres
