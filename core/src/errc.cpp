#include <berth/acquire_error.hpp>
#include <berth/db_errc.hpp>
#include <berth/errc.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace berth {

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "berth"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::timeout: return "timed out waiting for a connection";
      case errc::would_block: return "no idle connection";
      case errc::pool_closed: return "pool is closed";
      case errc::startup_failed: return "pool start-up failed";
      case errc::drain_timeout:
        return "connections still open when drain timed out (leased, or being connected, validated or closed)";
      case errc::adapter_failure: return "adapter call failed";
      case errc::cancelled: return "asynchronous acquire cancelled";
      case errc::database_unavailable: return "database unavailable (connection creation keeps failing)";
      case errc::no_replica: return "no replica usable and fallback to the primary is off";
      case errc::forked: return "pool inherited through fork(); create a new pool in the child process";
    }
    return "unknown berth error";
  }
  // An acquire that ran out of time is a db_errc::timeout, and a database
  // that creation cannot reach (the breaker open) a db_errc::connection_lost,
  // so that code classifying database failures by db_errc needs no second
  // test for the pool's own (db_error.hpp).
  bool equivalent(int ev, const std::error_condition& cond) const noexcept override {
    if (cond.category() == db_category()) {
      switch (static_cast<errc>(ev)) {
        case errc::timeout: return cond.value() == static_cast<int>(db_errc::timeout);
        case errc::database_unavailable: return cond.value() == static_cast<int>(db_errc::connection_lost);
        default: return false;
      }
    }
    return default_error_condition(ev) == cond;
  }
};
}  // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

std::string acquire_error::message() const {
  // would_block leaves the name out (it must stay cheap): no "pool ''".
  std::string m = pool_name.empty() ? std::string("berth pool: ") : "berth pool '" + pool_name + "': ";
  switch (code) {
    case errc::timeout:
      m += "acquire timed out after " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) + " ms";
      break;
    case errc::would_block:
      m += awaiting_validation
               ? "no idle connection ready (try_acquire): the idle ones await validation (validate_on_acquire); "
                 "a blocking acquire validates them, and the reaper is validating them now"
               : "no idle connection (try_acquire)";
      break;
    case errc::pool_closed: m += "pool is closed"; break;
    case errc::database_unavailable:
      m += "database unavailable: creating connections keeps failing (circuit breaker open), acquire failed "
           "at once after " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) + " ms";
      break;
    case errc::no_replica:
      m += "no replica is usable (each is ejected after failures or lags beyond max_replica_lag) and "
           "fallback_to_primary is off";
      break;
    case errc::forked:
      m += "this pool was created before fork() and this is the child process: it hands out no connection "
           "here (its threads are the parent's, its connections the parent's sessions); create a new pool "
           "in the child";
      break;
    default: m += make_error_code(code).message(); break;
  }
  m += " (" + counts.to_string() + ")";
  if (last_creation_error || !last_creation_message.empty())
    m += "; last connection attempt failed: " +
         (last_creation_message.empty() ? last_creation_error.message() : last_creation_message);
  else if (counts.suspended && (code == errc::timeout || code == errc::would_block))
    m += "; pool suspended: acquirers wait until resume()";
  else if (code == errc::timeout && counts.idle == 0 && counts.connecting > 0 && counts.leased < counts.max_size)
    m += "; " + std::to_string(counts.connecting) +
         " connection(s) being opened had not connected by the deadline: a slow or hung connect (bound it with "
         "the adapter's connect timeout)";
  else if (code == errc::timeout && counts.total >= counts.max_size && counts.idle == 0)
    m += "; pool exhausted: every connection is leased, raise max_size or shorten lease hold times";
  if (code == errc::timeout && awaiting_validation)
    m += "; the deadline had passed before an idle connection that must be validated first "
         "(validate_on_acquire: unused longer than validation_bypass, or validation_bypass = 0) could be: "
         "give the acquire time to validate it (the reaper validates a stale one now)";
  if (code == errc::timeout && !lease_sites.empty()) {
    m += "; leases out acquired at:";
    bool same_function = false;
    for (const lease_site& s : lease_sites) {
      m += std::string(" ") + s.where.file_name() + ":" + std::to_string(s.where.line()) + " in " +
           s.where.function_name() + " (" + std::to_string(s.count) + ")";
      same_function |= site.line() != 0 && std::string_view(s.where.function_name()) == site.function_name() &&
                       std::string_view(s.where.file_name()) == site.file_name();
    }
    if (same_function && counts.idle == 0)
      m += std::string("; a lease acquired in this acquire's own function (") + site.function_name() +
           ") is still out: if this thread holds it, this is a nested acquire waiting for itself";
  }
  return m;
}

std::string pool_counts::to_string() const {
  return "total=" + std::to_string(total) + ", idle=" + std::to_string(idle) +
         ", leased=" + std::to_string(leased) + ", waiting=" + std::to_string(waiting) +
         ", connecting=" + std::to_string(connecting) + ", reserved=" + std::to_string(reserved) +
         ", closing=" + std::to_string(closing) + ", max_size=" + std::to_string(max_size) +
         ", min_idle=" + std::to_string(min_idle) +
         (retiring != 0 ? ", retiring=" + std::to_string(retiring) : std::string()) +
         (suspended ? ", suspended" : "");
}

}  // namespace berth
