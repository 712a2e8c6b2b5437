// event_log.hpp: a ready pool_options::on_event hook that writes each pool
// event as one JSON object per line, rate-limited per pool and event kind.
//
//   berth::event_log log;                        // stderr; or a FILE*, an std::ostream&,
//                                                // or a std::function<void(std::string_view)>
//   berth::pool_options o{.name = "orders"};
//   o.on_event = log;                            // copies share one sink and one set of limits
//
//   {"ts":"2024-05-01T12:00:00.123Z","level":"warn","pool":"orders","event":"creation_failed","slot":0,
//    "error":{"value":111,"category":"generic","message":"Connection refused"},
//    "message":"berth postgres: connection to server ... failed"}
//
// A line's members, in this order (absent when they do not apply):
//   ts       RFC 3339 UTC with milliseconds, from event_log_options::wall_clock
//   level    "info" or "warn" (level_of())
//   pool     pool_options::name
//   event    to_string(event_kind)
//   slot     the connection's slot: created, closed, creation_failed,
//            validation_failed, leak_suspected, leak_returned, evicted
//   reason   to_string(close_reason): closed
//   age_ns   pool_event::age in nanoseconds: closed, leak_suspected,
//            leak_returned, breaker_opened
//   error    {"value":int,"category":name,"message":the category's text}: when
//            the event carries an error code
//   message  the adapter's words (pool_event::message), when not empty; for
//            leak_suspected, where the lease was acquired and its stack
//   max_size, min_idle: resized
// Strings are escaped as JSON requires and ill-formed UTF-8 is replaced
// (detail/json_writer.hpp), so each line is one valid JSON object whatever
// an adapter puts in its messages.
//
// Secrets: the log writes the adapter's messages as they are. An adapter is
// responsible for keeping secrets out of them. berth::postgres redacts
// passwords (password=..., user:password@ in URIs, PASSWORD '...' in SQL)
// from every error message it builds; a function_adapter passes on the
// what() of whatever its functions throw: check what your driver puts there.
//
// Rate limiting: one token bucket per (pool name, event kind), as GCRA
// computes it (ITU-T I.371's generic cell rate algorithm: a "theoretical
// arrival time" per bucket instead of a token count, no refill timer):
// event_log_options::burst lines at once, then lines_per_second. Events
// over the limit are dropped and counted; the count is reported in a line
//   {"ts":...,"level":"warn","pool":"orders","event":"suppressed","kind":"creation_failed",
//    "count":42,"since":"<ts of the first dropped one>"}
// written just before that bucket's next line, or by the first event of any
// kind once summary_interval has passed since the first dropped one, or by
// flush_suppressed(). A summary the sink throws on keeps its count for the
// next one. Time for the limits comes from a clock_source (tests pass a fake
// one); the timestamps come from the wall clock.
//
// Memory: a bucket that has refilled (its burst available again, as a new
// one's is) and has nothing to report is dropped once the map holds twice
// the buckets the last pruning left (256 at first), so a service whose pools
// come and go (per tenant) keeps buckets only for the pools and kinds that
// logged within the last burst / lines_per_second seconds or have suppressed
// events to report. Pruning changes no line, only memory.
//
// Thread-safety: an event_log is a handle; copies share its state, which one
// mutex guards (events are off the pool's hot path). operator() may be
// called from any number of threads at once (a pool calls it from its
// creator and reaper threads and from threads ending leases); lines are
// formatted and written under the mutex, one sink call per line, so lines
// never interleave and the sink is never called concurrently.
// Distinct objects: safe. Shared objects: safe for operator(),
// flush_suppressed, suppressed_total, bucket_count; unsafe for assignment and
// destruction.
#pragma once

#include <berth/clock.hpp>
#include <berth/events.hpp>
#include <berth/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string_view>

namespace berth {

/// Severity of a line, for log pipelines that filter on it.
enum class event_level : std::uint8_t {
  info,  ///< routine: connections opened and closed, resizes, the breaker closing
  warn,  ///< something an operator may need to act on
};

/// "info", "warn". Thread-safe. Never blocks.
const char* to_string(event_level l) noexcept;

/// warn for creation_failed, validation_failed, leak_suspected and
/// breaker_opened; info for every other kind. Thread-safe. Never blocks.
event_level level_of(event_kind k) noexcept;

/// event_log configuration. A plain struct, validated by event_log's
/// constructors (validate(); an options_error names the field as
/// "event_log_options.<field>"). Thread-safety: a value type.
struct event_log_options {
  /// Lines of one kind of one pool written back to back before the limit
  /// applies (the bucket's depth). Default 20. Range 1..1'000'000.
  std::uint32_t burst = 20;
  /// Lines of one kind of one pool per second once the burst is spent.
  /// Default 5: a flapping database (a creation failure per backoff step,
  /// and a breaker that opens and closes) writes at most about 5 lines per
  /// second per kind per pool. Range 1..1'000'000.
  std::uint32_t lines_per_second = 5;
  /// How long dropped events may go unreported when their kind falls
  /// silent: the first event of any kind after this (counted from the first
  /// dropped one) writes the summary. Default 10 s.
  /// Range (0, max_option_duration].
  std::chrono::milliseconds summary_interval{10'000};
  /// Events below this level are not written (nor counted as suppressed).
  /// Default info (all).
  event_level min_level = event_level::info;
  /// The wall clock for "ts". Default empty: std::chrono::system_clock::now.
  /// Called under the log's mutex; must be thread-safe.
  std::function<std::chrono::system_clock::time_point()> wall_clock{};
};

/// The first invalid field, or nullopt. Thread-safe.
std::optional<options_error> validate(const event_log_options& o);

/// The hook (see the file comment). Copies share one sink, one set of
/// buckets and one mutex. The clock, and a FILE* or std::ostream sink, must
/// outlive every copy.
/// Distinct objects: safe. Shared objects: safe for operator(),
/// flush_suppressed, suppressed_total, bucket_count; unsafe for assignment
/// and destruction.
class event_log {
 public:
  /// Receives each line without its trailing newline.
  using line_sink = std::function<void(std::string_view line)>;

  /// Writes to stderr. Throws options_error for invalid options. Allocates.
  explicit event_log(const event_log_options& o = {}, clock_source& clock = clock_source::steady());
  /// Writes each line, newline included, with one std::fwrite, then
  /// std::fflush (stdio's lock keeps concurrent writers' lines whole).
  /// Throws std::invalid_argument for a null out, options_error for invalid
  /// options. Allocates.
  explicit event_log(std::FILE* out, const event_log_options& o = {},
                     clock_source& clock = clock_source::steady());
  /// Writes each line, newline included, with one out.write(), then
  /// out.flush(). Writers outside this log that share the stream are not
  /// serialized with it. Throws options_error for invalid options. Allocates.
  explicit event_log(std::ostream& out, const event_log_options& o = {},
                     clock_source& clock = clock_source::steady());
  /// Calls sink once per line (without the newline), never concurrently.
  /// Throws std::invalid_argument for an empty sink, options_error for
  /// invalid options. Allocates.
  explicit event_log(line_sink sink, const event_log_options& o = {},
                     clock_source& clock = clock_source::steady());

  /// The hook: writes e as one line, unless its level is below min_level or
  /// its bucket is empty (then counts it); first writes the summaries that
  /// are due. Exceptions from the sink (or std::bad_alloc) propagate; a pool
  /// swallows them (an unwritten summary keeps its count). Thread-safe.
  /// Blocks on the log's mutex and in the sink. Allocates (a bucket per new
  /// pool name and kind, refilled ones pruned: see the file comment; the
  /// line buffer grows).
  void operator()(const pool_event& e) const;

  /// Writes the summary line of every bucket that dropped events since its
  /// last one, now (at shutdown, or from a service's timer: the log has no
  /// thread). Thread-safe. Blocks on the log's mutex and in the sink.
  void flush_suppressed() const;

  /// Events dropped by the rate limit so far, all buckets (summaries do not
  /// reset it). Thread-safe. Blocks on the log's mutex.
  std::uint64_t suppressed_total() const;

  /// Rate-limit buckets held now, one per (pool name, event kind) seen and
  /// not yet pruned (see the file comment). Thread-safe. Blocks on the log's
  /// mutex.
  std::size_t bucket_count() const;

 private:
  struct state;
  std::shared_ptr<state> s_;
};

}  // namespace berth
