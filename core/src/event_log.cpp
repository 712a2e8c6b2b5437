// event_log.cpp: see event_log.hpp.
#include <berth/event_log.hpp>

#include <berth/detail/json_writer.hpp>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <map>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace berth {

const char* to_string(event_level l) noexcept {
  switch (l) {
    case event_level::info: return "info";
    case event_level::warn: return "warn";
  }
  return "?";
}

event_level level_of(event_kind k) noexcept {
  switch (k) {
    case event_kind::creation_failed:
    case event_kind::validation_failed:
    case event_kind::leak_suspected:
    case event_kind::breaker_opened: return event_level::warn;
    default: return event_level::info;
  }
}

namespace {

using detail::json_writer;
using std::chrono::nanoseconds;

/// "YYYY-MM-DDTHH:MM:SS.mmmZ" (RFC 3339, UTC), without allocating.
class rfc3339 {
 public:
  explicit rfc3339(std::chrono::system_clock::time_point t) noexcept {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(t);
    const auto day = floor<days>(ms);
    const year_month_day ymd{day};
    const hh_mm_ss hms{ms - day};
    put(static_cast<int>(ymd.year()), 4, '-');
    put(static_cast<unsigned>(ymd.month()), 2, '-');
    put(static_cast<unsigned>(ymd.day()), 2, 'T');
    put(hms.hours().count(), 2, ':');
    put(hms.minutes().count(), 2, ':');
    put(hms.seconds().count(), 2, '.');
    put(hms.subseconds().count(), 3, 'Z');
  }
  std::string_view view() const noexcept { return {buf_, size_}; }

 private:
  /// v zero-padded to width digits, then sep. Years outside 0..9999 (not
  /// RFC 3339) still fit: an int64 has at most 20 characters.
  void put(long long v, int width, char sep) noexcept {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, v);
    for (auto n = r.ptr - digits; n < width; ++n) buf_[size_++] = '0';
    for (const char* p = digits; p != r.ptr; ++p) buf_[size_++] = *p;
    buf_[size_++] = sep;
  }

  char buf_[64];  // 24 characters for years 0..9999; room for any int fields
  std::size_t size_ = 0;
};

/// Kinds whose slot names a connection (the breaker and sizing events say 0).
bool has_slot(event_kind k) noexcept {
  switch (k) {
    case event_kind::created:
    case event_kind::closed:
    case event_kind::creation_failed:
    case event_kind::validation_failed:
    case event_kind::leak_suspected:
    case event_kind::leak_returned:
    case event_kind::evicted: return true;
    default: return false;
  }
}

/// Kinds whose pool_event::age means something (events.hpp).
bool has_age(event_kind k) noexcept {
  return k == event_kind::closed || k == event_kind::leak_suspected || k == event_kind::leak_returned ||
         k == event_kind::breaker_opened;
}

/// One rate-limit bucket, as GCRA keeps it: the theoretical arrival time of
/// the next line, plus what was dropped since the last summary.
struct bucket {
  clock_source::time_point tat{};          ///< a line is allowed at now >= tat - tolerance
  std::uint64_t dropped = 0;               ///< since the last summary
  clock_source::time_point first_dropped{};  ///< when dropped went from 0 to 1
  std::chrono::system_clock::time_point first_dropped_wall{};
};

/// (pool name, kind); looked up by string_view without building a string.
struct bucket_key {
  std::string pool;
  event_kind kind;
};
struct bucket_key_view {
  std::string_view pool;
  event_kind kind;
};
struct bucket_less {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    const int c = std::string_view(a.pool).compare(std::string_view(b.pool));
    return c < 0 || (c == 0 && a.kind < b.kind);
  }
};

}  // namespace

struct event_log::state {
  state(line_sink s, bool newline, const event_log_options& o, clock_source& c)
      : sink(std::move(s)), sink_takes_newline(newline), opts(o), clock(c) {
    if (!sink) throw std::invalid_argument("berth event_log: the sink must not be empty");
    if (auto e = validate(opts)) throw *e;
    const auto per_line = nanoseconds{std::chrono::seconds{1}} / opts.lines_per_second;
    emission_interval = per_line;
    tolerance = per_line * (opts.burst - 1);
  }

  void log(const pool_event& e);
  void flush_suppressed();

  // Immutable after construction.
  const line_sink sink;
  const bool sink_takes_newline;  ///< FILE* and ostream sinks: the line ends in '\n'
  const event_log_options opts;
  clock_source& clock;
  nanoseconds emission_interval{};  ///< GCRA's T: 1 s / lines_per_second
  nanoseconds tolerance{};          ///< GCRA's tau: (burst - 1) * T
  /// Buckets held before the first prune (and at least after any). Not an
  /// option: pruning changes no line, only memory.
  static constexpr std::size_t min_prune_at = 256;

  // Guarded by mutex.
  std::mutex mutex;
  std::map<bucket_key, bucket, bucket_less> buckets;
  std::size_t prune_at = min_prune_at;  ///< prune() when a new bucket would pass this many
  std::size_t pending = 0;       ///< buckets with dropped > 0
  std::uint64_t suppressed = 0;  ///< all dropped events, ever
  std::string line;              ///< reused for every line

 private:
  std::chrono::system_clock::time_point wall_now() const {
    return opts.wall_clock ? opts.wall_clock() : std::chrono::system_clock::now();
  }
  /// GCRA's test-and-update: true (and tat moves) if a line may go now.
  bool admit(bucket& b, clock_source::time_point now) const noexcept {
    if (b.tat - tolerance > now) return false;
    b.tat = std::max(b.tat, now) + emission_interval;
    return true;
  }
  /// Starts a line with ts, level, pool and event; the caller adds the rest
  /// and calls finish_line().
  json_writer begin_line(std::chrono::system_clock::time_point wall, event_level level, std::string_view pool,
                         std::string_view event);
  void finish_line(json_writer& w);
  void write_event(const pool_event& e, std::chrono::system_clock::time_point wall);
  void write_summary(const bucket_key& k, bucket& b, std::chrono::system_clock::time_point wall);
  /// Erases the buckets that are full again (tat <= now: a new bucket would
  /// behave the same) and have nothing to report, so per-tenant pools that
  /// come and go do not grow the map without bound; then sets prune_at to
  /// twice what is left (amortized O(1) per new bucket).
  void prune(clock_source::time_point now) noexcept;
  /// Summaries of buckets whose first dropped event is summary_interval old.
  void write_due_summaries(clock_source::time_point now, std::chrono::system_clock::time_point wall);
};

json_writer event_log::state::begin_line(std::chrono::system_clock::time_point wall, event_level level,
                                         std::string_view pool, std::string_view event) {
  line.clear();
  json_writer w(line);
  w.begin_object();
  w.key("ts").string(rfc3339(wall).view());
  w.key("level").string(to_string(level));
  w.key("pool").string(pool);
  w.key("event").string(event);
  return w;
}

void event_log::state::finish_line(json_writer& w) {
  w.end_object();
  if (sink_takes_newline) line += '\n';
  sink(line);
}

void event_log::state::write_event(const pool_event& e, std::chrono::system_clock::time_point wall) {
  json_writer w = begin_line(wall, level_of(e.kind), e.pool, to_string(e.kind));
  if (has_slot(e.kind)) w.key("slot").uint(e.slot);
  if (e.kind == event_kind::closed || e.reason != close_reason::none) w.key("reason").string(to_string(e.reason));
  if (has_age(e.kind)) w.key("age_ns").integer(e.age.count());
  if (e.error) {
    w.key("error").begin_object();
    w.key("value").integer(e.error.value());
    w.key("category").string(e.error.category().name());
    w.key("message").string(e.error.message());
    w.end_object();
  }
  if (!e.message.empty()) w.key("message").string(e.message);
  if (e.kind == event_kind::resized) {
    w.key("max_size").uint(e.max_size);
    w.key("min_idle").uint(e.min_idle);
  }
  finish_line(w);
}

void event_log::state::write_summary(const bucket_key& k, bucket& b, std::chrono::system_clock::time_point wall) {
  json_writer w = begin_line(wall, event_level::warn, k.pool, "suppressed");
  w.key("kind").string(to_string(k.kind));
  w.key("count").uint(b.dropped);
  w.key("since").string(rfc3339(b.first_dropped_wall).view());
  finish_line(w);  // first: a sink that throws leaves the count for the next summary
  b.dropped = 0;
  --pending;
}

void event_log::state::write_due_summaries(clock_source::time_point now, std::chrono::system_clock::time_point wall) {
  if (pending == 0) return;
  for (auto& [k, b] : buckets)
    if (b.dropped != 0 && now - b.first_dropped >= opts.summary_interval) write_summary(k, b, wall);
}

void event_log::state::log(const pool_event& e) {
  std::lock_guard lk(mutex);
  const auto now = clock.now();
  const auto wall = wall_now();
  auto it = buckets.find(bucket_key_view{e.pool, e.kind});
  if (it == buckets.end()) {
    if (buckets.size() >= prune_at) prune(now);
    it = buckets.emplace(bucket_key{std::string(e.pool), e.kind}, bucket{.tat = now}).first;
  }
  bucket& b = it->second;
  if (!admit(b, now)) {
    if (b.dropped++ == 0) {
      b.first_dropped = now;
      b.first_dropped_wall = wall;
      ++pending;
    }
    ++suppressed;
    write_due_summaries(now, wall);
    return;
  }
  if (b.dropped != 0) write_summary(it->first, b, wall);
  write_due_summaries(now, wall);
  write_event(e, wall);
}

void event_log::state::prune(clock_source::time_point now) noexcept {
  for (auto it = buckets.begin(); it != buckets.end();)
    it = it->second.dropped == 0 && it->second.tat <= now ? buckets.erase(it) : std::next(it);
  prune_at = std::max(min_prune_at, 2 * buckets.size());
}

void event_log::state::flush_suppressed() {
  std::lock_guard lk(mutex);
  if (pending == 0) return;
  const auto wall = wall_now();
  for (auto& [k, b] : buckets)
    if (b.dropped != 0) write_summary(k, b, wall);
}

namespace {

event_log::line_sink file_sink(std::FILE* out) {
  if (out == nullptr) throw std::invalid_argument("berth event_log: the FILE* must not be null");
  return [out](std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), out);
    std::fflush(out);
  };
}

}  // namespace

event_log::event_log(const event_log_options& o, clock_source& clock) : event_log(stderr, o, clock) {}

event_log::event_log(std::FILE* out, const event_log_options& o, clock_source& clock)
    : s_(std::make_shared<state>(file_sink(out), true, o, clock)) {}

event_log::event_log(std::ostream& out, const event_log_options& o, clock_source& clock)
    : s_(std::make_shared<state>(
          [&out](std::string_view line) {
            out.write(line.data(), static_cast<std::streamsize>(line.size()));
            out.flush();
          },
          true, o, clock)) {}

event_log::event_log(line_sink sink, const event_log_options& o, clock_source& clock)
    : s_(std::make_shared<state>(std::move(sink), false, o, clock)) {}

void event_log::operator()(const pool_event& e) const {
  if (level_of(e.kind) < s_->opts.min_level) return;
  s_->log(e);
}

void event_log::flush_suppressed() const { s_->flush_suppressed(); }

std::uint64_t event_log::suppressed_total() const {
  std::lock_guard lk(s_->mutex);
  return s_->suppressed;
}

std::size_t event_log::bucket_count() const {
  std::lock_guard lk(s_->mutex);
  return s_->buckets.size();
}

}  // namespace berth
