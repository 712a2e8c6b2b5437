// families.cpp: pool_stats as Prometheus metric families (see
// berth/prometheus.hpp). Pure: no state, no locks.
#include <berth/prometheus.hpp>

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include <chrono>
#include <limits>
#include <string_view>

namespace berth::prometheus {
namespace {

using ::prometheus::ClientMetric;
using ::prometheus::MetricFamily;
using ::prometheus::MetricType;

/// A per-pool value with no label but `pool`.
struct scalar_family {
  const char* name;
  const char* help;  // one line, no backslash: prometheus-cpp writes HELP unescaped
  MetricType type;
  double (*value)(const pool_stats&);
};

constexpr double as_double(std::uint64_t v) noexcept { return static_cast<double>(v); }

// The order here is the order of the families in the output.
constexpr scalar_family scalar_families[] = {
    {"berth_pool_connections_pending", "Acquirers waiting for a connection (HikariCP's pending threads)",
     MetricType::Gauge, [](const pool_stats& s) { return as_double(s.counts.waiting); }},
    {"berth_pool_connections_max", "The max_size in force (pool::resize() may change it)", MetricType::Gauge,
     [](const pool_stats& s) { return as_double(s.counts.max_size); }},
    {"berth_pool_connections_min", "The min_idle in force (pool::resize() or adaptive min_idle may change it)",
     MetricType::Gauge, [](const pool_stats& s) { return as_double(s.counts.min_idle); }},
    {"berth_pool_connections_retiring",
     "Of the active, reserved and connecting connections: flagged to close when their owner lets go",
     MetricType::Gauge, [](const pool_stats& s) { return as_double(s.counts.retiring); }},
    {"berth_pool_suspended", "1 while the pool is suspended (acquirers wait, nothing is created), else 0",
     MetricType::Gauge, [](const pool_stats& s) { return s.counts.suspended ? 1.0 : 0.0; }},
    {"berth_pool_size_hint",
     "Connections the recent load calls for (Little's law on the acquire rate and the sampled hold time, "
     "plus square-root headroom); 0 while there is no estimate",
     MetricType::Gauge, [](const pool_stats& s) { return as_double(s.size_hint.suggested_max_size); }},
    {"berth_pool_connections_created_total", "Connections opened", MetricType::Counter,
     [](const pool_stats& s) { return as_double(s.created); }},
    {"berth_pool_connections_closed_total", "Connections closed", MetricType::Counter,
     [](const pool_stats& s) { return as_double(s.destroyed); }},
    {"berth_pool_acquires_total", "Successful acquires", MetricType::Counter,
     [](const pool_stats& s) { return as_double(s.acquired); }},
    {"berth_pool_acquires_waited_total", "Successful acquires that had to wait for a connection",
     MetricType::Counter, [](const pool_stats& s) { return as_double(s.acquired_after_wait); }},
    {"berth_pool_acquire_timeouts_total", "Acquires that reached their deadline without a connection",
     MetricType::Counter, [](const pool_stats& s) { return as_double(s.timeouts); }},
    {"berth_pool_connection_creation_failures_total", "Failed connection attempts", MetricType::Counter,
     [](const pool_stats& s) { return as_double(s.creation_failures); }},
    {"berth_pool_validation_failures_total", "Validations that failed (by the reaper or at acquire)",
     MetricType::Counter, [](const pool_stats& s) { return as_double(s.validation_failures); }},
    {"berth_pool_acquire_validations_total",
     "Successful validations at acquire (connections unused for longer than validation_bypass)",
     MetricType::Counter, [](const pool_stats& s) { return as_double(s.acquire_validations); }},
    {"berth_pool_leaks_suspected_total", "Leases reported as held past leak_threshold", MetricType::Counter,
     [](const pool_stats& s) { return as_double(s.leaks_suspected); }},
    {"berth_pool_leases_discarded_total", "Leases ended by discard() (their connection closed)",
     MetricType::Counter, [](const pool_stats& s) { return as_double(s.discarded); }},
    {"berth_pool_leases_unwound_total", "Leases released during stack unwinding (an exception)",
     MetricType::Counter, [](const pool_stats& s) { return as_double(s.unwound); }},
    {"berth_pool_breaker_opened_total", "Times the circuit breaker on connection creation opened",
     MetricType::Counter, [](const pool_stats& s) { return as_double(s.breaker_opened); }},
    {"berth_pool_breaker_rejected_total",
     "Acquires failed with database_unavailable because the circuit breaker was open", MetricType::Counter,
     [](const pool_stats& s) { return as_double(s.breaker_rejected); }},
    {"berth_pool_reaper_passes_total", "Housekeeping passes run by the reaper", MetricType::Counter,
     [](const pool_stats& s) { return as_double(s.reaper_passes); }},
};

/// The label values of berth_pool_connections{state} and what they count.
struct state_value {
  const char* state;
  std::size_t pool_counts::*count;
};
constexpr state_value connection_states[] = {
    {"idle", &pool_counts::idle},           {"active", &pool_counts::leased},
    {"reserved", &pool_counts::reserved},   {"connecting", &pool_counts::connecting},
    {"closing", &pool_counts::closing},
};

constexpr breaker_state breaker_states[] = {breaker_state::closed, breaker_state::open, breaker_state::half_open};

/// A histogram family and the pool_stats field it reads.
struct histogram_family {
  const char* name;
  const char* help;
  duration_histogram pool_stats::*field;
};
constexpr histogram_family histogram_families[] = {
    {"berth_pool_acquire_wait_seconds",
     "How long successful acquires waited for a connection (the fast path counts as 0)", &pool_stats::wait_time},
    {"berth_pool_connection_creation_seconds", "How long successful connection attempts took",
     &pool_stats::creation_time},
    {"berth_pool_lease_hold_seconds",
     "How long leases were held, sampled: one lease in pool_options::hold_time_sampling (default 128) is timed, "
     "so _count counts sampled leases (berth_pool_acquires_total counts them all)",
     &pool_stats::hold_time},
};

double seconds(std::chrono::nanoseconds d) noexcept { return std::chrono::duration<double>(d).count(); }

/// The length of the valid UTF-8 sequence at s[i], or 0 if it is not one
/// (overlong forms, surrogates and values above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

/// name with each byte that does not start a valid UTF-8 sequence replaced
/// by U+FFFD.
std::string utf8_label(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t n = utf8_sequence(name, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(name, i, n);
      i += n;
    }
  }
  return out;
}

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

ClientMetric::Histogram histogram(const duration_histogram& h) {
  ClientMetric::Histogram out;
  out.bucket.reserve(exported_buckets.size() + 1);
  std::uint64_t cumulative = 0;
  std::size_t next = 0;  // the first berth bucket not yet added up
  for (const std::size_t b : exported_buckets) {
    for (; next <= b; ++next) cumulative += h.buckets[next];
    out.bucket.push_back({cumulative, seconds(duration_histogram::upper_bound(b))});
  }
  for (; next < duration_histogram::bucket_count; ++next) cumulative += h.buckets[next];
  out.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  // The buckets' sum rather than h.count, so that +Inf == _count whatever the snapshot.
  out.sample_count = cumulative;
  out.sample_sum = seconds(h.sum);
  return out;
}

}  // namespace

std::vector<MetricFamily> families(const stats_by_name& pools) {
  std::vector<std::string> labels;
  labels.reserve(pools.size());
  for (const auto& entry : pools) labels.push_back(utf8_label(entry.first));
  const auto metric = [&](std::size_t i) {
    ClientMetric m;
    m.label.push_back({"pool", labels[i]});
    return m;
  };

  std::vector<MetricFamily> out;
  out.reserve(2 + std::size(scalar_families) + std::size(histogram_families));

  MetricFamily connections = family("berth_pool_connections",
                                    "Connections by state: idle, active (leased), reserved (by the reaper, to "
                                    "validate or close), connecting (creations in flight), closing",
                                    MetricType::Gauge);
  std::size_t i = 0;
  for (const auto& [name, s] : pools) {
    for (const auto& [state, count] : connection_states) {
      ClientMetric m = metric(i);
      m.label.push_back({"state", state});
      m.gauge.value = as_double(s.counts.*count);
      connections.metric.push_back(std::move(m));
    }
    ++i;
  }
  out.push_back(std::move(connections));

  for (const auto& f : scalar_families) {
    MetricFamily mf = family(f.name, f.help, f.type);
    i = 0;
    for (const auto& [name, s] : pools) {
      ClientMetric m = metric(i++);
      (f.type == MetricType::Counter ? m.counter.value : m.gauge.value) = f.value(s);
      mf.metric.push_back(std::move(m));
    }
    out.push_back(std::move(mf));
  }

  MetricFamily breaker = family("berth_pool_breaker_state",
                                "State of the circuit breaker on connection creation: 1 for the current state "
                                "(closed, open, half_open), 0 for the others",
                                MetricType::Gauge);
  i = 0;
  for (const auto& [name, s] : pools) {
    for (const breaker_state b : breaker_states) {
      ClientMetric m = metric(i);
      m.label.push_back({"state", to_string(b)});
      m.gauge.value = s.breaker == b ? 1.0 : 0.0;
      breaker.metric.push_back(std::move(m));
    }
    ++i;
  }
  out.push_back(std::move(breaker));

  for (const auto& f : histogram_families) {
    MetricFamily mf = family(f.name, f.help, MetricType::Histogram);
    i = 0;
    for (const auto& [name, s] : pools) {
      ClientMetric m = metric(i++);
      m.histogram = histogram(s.*f.field);
      mf.metric.push_back(std::move(m));
    }
    out.push_back(std::move(mf));
  }
  return out;
}

}  // namespace berth::prometheus
