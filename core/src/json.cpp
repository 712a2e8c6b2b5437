// json.cpp: see json.hpp. One writer function per struct of stats.hpp, so
// a new field is one line in its struct's function, and a new sub-struct
// one function (tests/core/json_test.cpp fails when a field is missing).
#include <berth/json.hpp>

#include <berth/detail/json_writer.hpp>

#include <chrono>
#include <cstddef>

namespace berth {
namespace {

using detail::json_writer;

/// "<name>_ns": d in integer nanoseconds.
void write_ns(json_writer& w, std::string_view name_ns, std::chrono::nanoseconds d) {
  w.key(name_ns).integer(d.count());
}

void write(json_writer& w, const pool_counts& c) {
  w.begin_object();
  w.key("total").uint(c.total);
  w.key("idle").uint(c.idle);
  w.key("leased").uint(c.leased);
  w.key("reserved").uint(c.reserved);
  w.key("connecting").uint(c.connecting);
  w.key("closing").uint(c.closing);
  w.key("retiring").uint(c.retiring);
  w.key("waiting").uint(c.waiting);
  w.key("max_size").uint(c.max_size);
  w.key("min_idle").uint(c.min_idle);
  w.key("suspended").boolean(c.suspended);
  w.key("strict_handoff").boolean(c.strict_handoff);
  w.end_object();
}

void write(json_writer& w, const wait_percentiles& p) {
  w.begin_object();
  write_ns(w, "p50_ns", p.p50);
  write_ns(w, "p90_ns", p.p90);
  write_ns(w, "p99_ns", p.p99);
  write_ns(w, "p999_ns", p.p999);
  write_ns(w, "max_ns", p.max);
  w.end_object();
}

/// {"count":N,"sum_ns":S,"buckets":[[le_ns,n],...]}: the non-empty buckets
/// only, each as its upper bound (duration_histogram::upper_bound) and count.
void write(json_writer& w, const duration_histogram& h) {
  w.begin_object();
  w.key("count").uint(h.count);
  write_ns(w, "sum_ns", h.sum);
  w.key("buckets").begin_array();
  for (std::size_t b = 0; b < h.buckets.size(); ++b)
    if (h.buckets[b] != 0)
      w.begin_array().integer(duration_histogram::upper_bound(b).count()).uint(h.buckets[b]).end_array();
  w.end_array();
  w.end_object();
}

void write(json_writer& w, const pool_size_hint& h) {
  w.begin_object();
  w.key("acquire_rate").number(h.acquire_rate);
  write_ns(w, "rate_window_ns", h.rate_window);
  write_ns(w, "mean_hold_ns", h.mean_hold);
  w.key("busy").number(h.busy);
  w.key("suggested_max_size").uint(h.suggested_max_size);
  w.end_object();
}

/// The members of s's object, without the braces (to_json adds "name" first).
void write_members(json_writer& w, const pool_stats& s) {
  w.key("counts");
  write(w, s.counts);
  w.key("created").uint(s.created);
  w.key("destroyed").uint(s.destroyed);
  w.key("acquired").uint(s.acquired);
  w.key("acquired_after_wait").uint(s.acquired_after_wait);
  w.key("timeouts").uint(s.timeouts);
  w.key("creation_failures").uint(s.creation_failures);
  w.key("discarded").uint(s.discarded);
  w.key("unwound").uint(s.unwound);
  w.key("reaper_passes").uint(s.reaper_passes);
  w.key("validation_failures").uint(s.validation_failures);
  w.key("leaks_suspected").uint(s.leaks_suspected);
  w.key("acquire_validations").uint(s.acquire_validations);
  w.key("breaker").string(to_string(s.breaker));
  w.key("breaker_opened").uint(s.breaker_opened);
  w.key("breaker_rejected").uint(s.breaker_rejected);
  w.key("wait");
  write(w, s.wait);
  w.key("wait_time");
  write(w, s.wait_time);
  w.key("hold_time");
  write(w, s.hold_time);
  w.key("creation_time");
  write(w, s.creation_time);
  w.key("size_hint");
  write(w, s.size_hint);
}

}  // namespace

std::string to_json(const pool_stats& s, std::string_view name) {
  std::string out;
  json_writer w(out);
  w.begin_object();
  if (!name.empty()) w.key("name").string(name);
  write_members(w, s);
  w.end_object();
  return out;
}

std::string to_json(const stats_by_name& s) {
  std::string out;
  json_writer w(out);
  w.begin_object().key("pools").begin_object();
  for (const auto& [name, stats] : s) {
    w.key(name).begin_object();
    write_members(w, stats);
    w.end_object();
  }
  w.end_object().end_object();
  return out;
}

std::string to_json(const registry& r) { return to_json(r.stats()); }

}  // namespace berth
