// database.cpp: the writer/readers split, the transaction retry loop and
// the WAL checkpoint at close. See database.hpp for the design.
#include <berth/sqlite/database.hpp>

#include <berth/detail/duration.hpp>
#include <berth/detail/json_writer.hpp>
#include <berth/sqlite/transaction.hpp>

#include "statement_kind.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>

namespace berth::sqlite {

namespace {

constexpr const char* struct_name = "sqlite::database_options";
constexpr std::size_t max_readers = 1024;

options adapter_options(const database_options& o, bool read_only, std::string name) {
  options a;
  a.path = o.path;
  a.in_memory = o.in_memory;
  a.name = std::move(name);
  a.busy_timeout = o.busy_timeout;
  a.wal = true;
  a.foreign_keys = o.foreign_keys;
  a.read_only = read_only;
  a.pragmas = o.pragmas;
  return a;
}

berth::pool_options pool_options_for(const database_options& o, const char* suffix, std::size_t size) {
  berth::pool_options p;
  p.name = o.pool_name + suffix;
  p.max_size = size;
  p.min_idle = size;
  p.acquire_timeout = o.default_timeout;
  p.on_event = o.on_event;
  return p;
}

const database_options& validated(const database_options& o) {
  if (auto e = validate(o)) throw *e;
  return o;
}

}  // namespace

std::optional<berth::options_error> validate(const database_options& o) {
  if (o.pool_name.empty()) return berth::options_error("pool_name", "must not be empty", struct_name);
  // The two pools' names derive from it, and pool names must be UTF-8
  // (pool_options.name): refused here, by this field, before a pool refuses
  // "<pool_name>.writer" (fuzz/regressions/open_url/database_pool_name_not_utf8).
  if (const std::size_t at = berth::detail::first_invalid_utf8(o.pool_name); at != std::string_view::npos)
    return berth::options_error("pool_name",
                                "must be UTF-8 (it names the pools, exported as JSON keys and Prometheus labels); "
                                "byte " + std::to_string(at) + " is not",
                                struct_name);
  if (o.readers < 1 || o.readers > max_readers)
    return berth::options_error("readers",
                                "must be in [1, " + std::to_string(max_readers) + "], got " +
                                    std::to_string(o.readers),
                                struct_name);
  if (o.default_timeout.count() <= 0)
    return berth::options_error("default_timeout",
                                "must be > 0 ms, got " + std::to_string(o.default_timeout.count()) + " ms",
                                struct_name);
  // The plain spellings are refused here, early and by field; the others
  // ("MAIN . journal_mode", a quoted name, a comment before '=') fail the
  // connect, which reads the three settings back after each pragma
  // (adapter::check_database_settings;
  // SqliteDatabaseOptions.PragmasSpelledPastTheNameCheckFailTheConnectBug).
  // The database sets these itself, and its promises stand on them: WAL
  // (readers and the writer never wait for each other), query_only on the
  // readers (a write inside read() fails), and a shared lock (the writer and
  // readers are separate connections): another journal mode made writes
  // fail as if another process held the lock, EXCLUSIVE locking made the
  // first write time out (SqliteDatabaseOptions.PragmasThatBreakTheDatabaseAreRefusedByFieldBug).
  for (std::size_t i = 0; i < o.pragmas.size(); ++i) {
    std::string name;
    for (const char c : o.pragmas[i]) {
      if (c == '=' || c == '(' || c == ' ' || c == '\t') {
        if (!name.empty()) break;
        continue;
      }
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (const auto dot = name.rfind('.'); dot != std::string::npos) name.erase(0, dot + 1);  // main.journal_mode
    if (name == "journal_mode" || name == "locking_mode" || name == "query_only")
      return berth::options_error("pragmas[" + std::to_string(i) + "]",
                                  "PRAGMA " + name +
                                      " is the database's own (WAL for files, query_only on the readers, shared "
                                      "locking between its writer and readers); got \"" + detail::pragma_shown(o.pragmas[i]) + "\"",
                                  struct_name);
  }
  // The fields shared with sqlite::options are checked by its validate();
  // its message is re-issued under this struct's name (same field names).
  if (auto e = sqlite::validate(adapter_options(o, false, o.name))) {
    const std::string prefix = "berth: invalid sqlite::options." + e->field() + ": ";
    std::string why = e->what();
    if (why.starts_with(prefix)) why.erase(0, prefix.size());
    return berth::options_error(e->field(), why, struct_name);
  }
  return std::nullopt;
}

database::database(database_options opts)
    : opts_(validated(opts)),
      // The roles make connect check, after each of the user's pragmas,
      // that journal_mode, locking_mode and query_only still hold, and put
      // the read guard on the readers (adapter.hpp).
      writer_(adapter(adapter_options(opts_, false, opts_.name), adapter::role::database_writer),
              pool_options_for(opts_, ".writer", 1)),
      // In-memory readers join the writer's database by its (generated) name.
      readers_(adapter(adapter_options(opts_, true, writer_.adapter().opts().name), adapter::role::database_reader),
               pool_options_for(opts_, ".readers", opts_.readers)) {
  opts_.name = writer_.adapter().opts().name;
}

database::~database() { close(); }

database::clock::time_point database::deadline_after(std::chrono::milliseconds timeout) noexcept {
  const auto now = clock::now();
  // Saturate: a timeout past the clock's range means no deadline.
  if (timeout > std::chrono::duration_cast<std::chrono::milliseconds>(clock::time_point::max() - now))
    return clock::time_point::max();
  return now + timeout;
}

void database::run_erased(role r, clock::time_point deadline, detail::body_ref body) {
  const auto start = clock::now();
  // Until the deadline, however many attempts it takes; short fixed-step
  // delays (another process's lock is usually held briefly).
  retry_policy policy;
  policy.max_attempts = std::numeric_limits<std::uint32_t>::max();
  policy.budget = std::chrono::duration_cast<std::chrono::milliseconds>(berth::max_option_duration);
  policy.initial_backoff = std::chrono::milliseconds{1};
  policy.max_backoff = std::chrono::milliseconds{50};
  policy.jitter = false;
  std::uint32_t attempts = 0;
  policy.on_retry = [&attempts](const retry_event& e) noexcept { attempts = e.attempt; };
  // Writes check that the path still names the file the writer opened
  // (connection::file_moved), inside BEGIN IMMEDIATE, so that no commit
  // lands in a removed or replaced file, where SQLite in WAL mode would
  // accept it and lose it at close: one stat() and fstat() per write
  // transaction. Reads are not checked per call (a read loses nothing; it
  // sees the removed file's last committed state): their connections are
  // replaced when a write finds the move (evict_all below) or at
  // validation.
  struct checked_body {
    database* self;
    detail::body_ref inner;
  } checked{this, body};
  if (r == role::writer && !opts_.in_memory)
    body = detail::body_ref{[](void* p, connection& c) {
                              auto& b = *static_cast<checked_body*>(p);
                              if (c.file_moved()) [[unlikely]]
                                b.self->file_moved_under_writer();
                              b.inner.call(b.inner.fn, c);
                            },
                            &checked};
  try {
    // immediate: the write lock is taken at BEGIN, so a write never fails
    // midway for a lock, and a WAL snapshot can never be stale at the first
    // write (no SQLITE_BUSY_SNAPSHOT from our own transactions).
    detail::run_transaction_erased(r == role::writer ? writer_ : readers_,
                                   r == role::writer ? transaction_mode::immediate : transaction_mode::deferred,
                                   deadline, std::chrono::nanoseconds::max(), policy, body);
  } catch (const sqlite_error& e) {
    if (r == role::reader && (e.code().value() & 0xff) == SQLITE_READONLY)
      throw_sqlite_error(e.code(),
                         e.engine_message() +
                             " (berth::sqlite::database::read() runs on a read-only connection; "
                             "do writes in write())",
                         e.sql());
    const bool locked_itself = e.code().value() == SQLITE_LOCKED;
    if (!locked_itself && e.code() != db_errc::retryable) throw;
    const std::string head = std::string("berth::sqlite::database: ") + (r == role::writer ? "write" : "read") +
                             " on " +
                             (opts_.in_memory ? "in-memory database '" + opts_.name + "'"
                                              : "database '" + opts_.path + "'");
    // Plain SQLITE_LOCKED: fn's transaction conflicted with its own
    // connection. Not retryable (error.cpp): it failed at once, say why.
    if (locked_itself)
      throw_sqlite_error(e.code(), head + " failed, not retried: " + busy_cause(r, e) + " (" + e.engine_message() + ")",
                         e.sql());
    // BUSY/LOCKED left when the deadline came: another process holds the
    // lock (busy_timeout waited for it up to the deadline). The runner has
    // restarted the whole transaction function until then (GRDB restarts a
    // whole write transaction the same way).
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count();
    throw_sqlite_error(e.code(),
                       head + " gave up at its deadline after " + std::to_string(ms) + " ms and " +
                           std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts") + ": " +
                           busy_cause(r, e) + " (" + e.engine_message() + ")",
                       e.sql());
  }
}

void database::file_moved_under_writer() {
  readers_.evict_all();  // idle ones close now, leased ones when they come back
  writer_.evict_all();   // ours closes when this call's lease ends
  throw_sqlite_error(to_error_code(SQLITE_READONLY_DBMOVED),
                     "berth::sqlite::database: the database file '" + opts_.path +
                         "' was removed or replaced since its connections opened it; this write was not committed. "
                         "Every connection of the database is being replaced: the next call opens the file now at "
                         "that path (a replacement must come without the old file's -wal and -shm files)");
}

std::string database::busy_cause(role r, const sqlite_error& e) const {
  // From what failed, not from the role alone: a write's BUSY may come at
  // BEGIN IMMEDIATE (the write lock), at COMMIT, or at a statement of its
  // function (a database it attached); LOCKED is this connection's own.
  const int code = e.code().value();
  const char* const fn = r == role::writer ? "a statement of the write function" : "a statement of the read function";
  switch (code) {
    case SQLITE_BUSY_SNAPSHOT:
      return std::string(fn) + " could not start writing on its stale read snapshot (SQLITE_BUSY_SNAPSHOT: another "
                               "connection or process committed after this transaction's first read)";
    case SQLITE_BUSY_RECOVERY:
      return "another connection or process was recovering the write-ahead log (SQLITE_BUSY_RECOVERY: the first "
             "opener after a crash rebuilds its index)";
    case SQLITE_LOCKED_SHAREDCACHE:
      return std::string(fn) + " waited for a table lock held by another connection sharing this one's cache "
                               "(SQLITE_LOCKED_SHAREDCACHE)";
    default: break;
  }
  if (code == SQLITE_LOCKED)
    return std::string(fn) + " conflicted with this same connection (SQLITE_LOCKED: e.g. a checkpoint or DROP "
                             "inside its own transaction, or a table one of its unfinished statements reads), "
                             "which waiting does not end";
  switch (detail::classify(e.sql())) {
    case detail::statement_kind::begin:
      if (r == role::writer)
        return opts_.in_memory ? "the write lock (BEGIN IMMEDIATE) is held by another connection (of another "
                                 "database or pool given this in-memory database's name)"
                               : "the write lock (BEGIN IMMEDIATE) is held by another connection or process";
      break;
    case detail::statement_kind::commit:
      if (r == role::writer)
        // memdb has no WAL: a commit waits for the reads running.
        return opts_.in_memory ? "the commit waited for reads still running (an in-memory database has no WAL: a "
                                 "commit waits for every read of it, this database's readers included)"
                               : "the COMMIT waited for a lock held by another connection or process (its readers: "
                                 "without WAL a commit needs the EXCLUSIVE lock, and in WAL a checkpoint waits for "
                                 "them)";
      break;
    default: break;
  }
  // memdb has no WAL: a write transaction admits no new reader until it ends.
  if (r == role::reader && opts_.in_memory)
    return "a write transaction held the database (an in-memory database has no WAL: from its BEGIN IMMEDIATE "
           "until it ends, a write transaction, this database's writer's included, keeps reads out, whether or "
           "not it has written)";
  if (r == role::writer)
    return std::string(fn) + " waited for a lock held by another connection or process (not this database's "
                             "write lock, which BEGIN IMMEDIATE had taken: that of a database it attached, for one)";
  return std::string(fn) + " waited for a lock held by another connection or process (one that keeps reads out: an "
                           "EXCLUSIVE lock, as a commit without WAL or locking_mode=EXCLUSIVE takes)";
}

void database::close() noexcept {
  std::call_once(closed_, [this] {
    // One deadline for the whole close: each step gets what is left of
    // default_timeout (they used to get a default_timeout each, so close()
    // could take three).
    const auto deadline = berth::detail::saturating_add(clock::now(), berth::detail::saturating_ns(opts_.default_timeout));
    const auto left = [deadline] {
      return std::max(berth::detail::saturating_sub(deadline, clock::now()), std::chrono::nanoseconds::zero());
    };
    // Readers first: a reader's snapshot would keep TRUNCATE from
    // emptying the WAL.
    (void)readers_.drain(left());
    if (!opts_.in_memory) {
      if (auto l = writer_.acquire_for(left())) {
        try {
          // The checkpoint waits on other processes' readers through
          // busy_timeout: no longer than that, nor than what is left of the
          // deadline
          // (SqliteDatabase.CloseCheckpointWaitsNoLongerThanDefaultTimeoutBug).
          // The connection is closed below, so its busy_timeout need not come back.
          // busy_timeout or what is left, whichever is shorter.
          const auto ms = std::min<std::int64_t>(std::chrono::ceil<std::chrono::milliseconds>(left()).count(),
                                                 opts_.busy_timeout.count());
          sqlite3_busy_timeout(detail::handle_of(**l),
                               static_cast<int>(std::min<std::int64_t>(ms, std::numeric_limits<int>::max())));
          (*l)->execute("PRAGMA wal_checkpoint(TRUNCATE)");
        } catch (...) {
          // The WAL stays; SQLite replays it on the next open.
        }
      }
    }
    (void)writer_.drain(left());
  });
}

}  // namespace berth::sqlite
