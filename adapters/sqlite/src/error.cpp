#include <berth/sqlite/error.hpp>

#include <sqlite3.h>

namespace berth::sqlite {

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int ev) const override { return sqlite3_errstr(ev); }
  bool equivalent(int code, const std::error_condition& cond) const noexcept override {
    if (cond.category() != db_category()) return default_error_condition(code) == cond;
    const int primary = code & 0xff;  // an extended code's low byte is its primary code
    switch (static_cast<db_errc>(cond.value())) {
      // Plain SQLITE_LOCKED, with the extended codes every berth connection
      // enables, is a conflict inside one connection (a DROP while its own
      // statement reads the table, a checkpoint inside its own transaction):
      // running the transaction again meets it again, so it is not
      // contention. Table locks of a shared cache are SQLITE_LOCKED_SHAREDCACHE;
      // berth's connections open with SQLITE_OPEN_PRIVATECACHE, so the one
      // plain LOCKED another connection can cause (a checkpoint while it has
      // a transaction open on the same shared cache) needs a database the
      // user ATTACHed with cache=shared. Virtual tables' locks are _VTAB.
      case db_errc::retryable: return primary == SQLITE_BUSY || (primary == SQLITE_LOCKED && code != SQLITE_LOCKED);
      case db_errc::constraint_violation: return primary == SQLITE_CONSTRAINT;
      case db_errc::connection_lost:
        return primary == SQLITE_IOERR || primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ||
               primary == SQLITE_CANTOPEN;
      case db_errc::timeout: return primary == SQLITE_INTERRUPT;
      case db_errc::resource_exhausted: return primary == SQLITE_FULL;
    }
    return false;
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

std::error_code to_error_code(int extended_result_code) noexcept {
  return {extended_result_code, error_category()};
}

bool is_fatal(std::error_code ec) noexcept { return ec == db_errc::connection_lost; }

void throw_sqlite_error(std::error_code code, std::string engine_message, std::string sql) {
  throw_db_error<sqlite_error>(code, std::move(engine_message), std::move(sql));
}

}  // namespace berth::sqlite
