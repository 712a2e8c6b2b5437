// sampler.cpp: see sampler.hpp.
#include <berth/live/sampler.hpp>

#include <algorithm>
#include <exception>

namespace berth::live {

double sample::ops_per_second() const noexcept {
  const double s = std::chrono::duration<double>(window).count();
  return s > 0 ? static_cast<double>(ops) / s : 0.0;
}

double phase_info::ops_per_second() const noexcept {
  const double s = std::chrono::duration<double>(watched).count();
  return s > 0 ? static_cast<double>(ops) / s : 0.0;
}

sampler::totals sampler::read_totals(std::vector<pool_reading>* readings) {
  totals t;
  std::uint64_t acquired = 0;
  for (const pool_probe& pp : probe_.pools) {
    const pool_reading r = pp.read();
    acquired += r.acquired;
    t.timeouts += r.timeouts;
    if (readings != nullptr) readings->push_back(r);
  }
  t.ops = probe_.ops ? probe_.ops() : acquired;
  return t;
}

void sampler::attach(probe p, time_point now) {
  probe_ = std::move(p);
  attached_ = true;
  std::vector<std::string> names;
  for (const pool_probe& pp : probe_.pools) names.push_back(pp.name);
  const auto at = now - start_;
  if (record_.phases.empty() || record_.phases.back().name != probe_.phase || record_.phases.back().pools != names) {
    phase_info ph;
    ph.name = probe_.phase;
    ph.pools = std::move(names);
    ph.start = ph.end = at;
    record_.phases.push_back(std::move(ph));
  }
  last_ = now;
  last_totals_ = read_totals(nullptr);
  last_buckets_.fill(0);
  if (probe_.latency != nullptr) {
    probe_.latency->read_into(last_buckets_);
    (void)probe_.latency->take_max();  // the next sample's max starts here
  }
}

void sampler::detach(time_point now) {
  if (!attached_) return;
  const bool keep = record_.phases.back().samples == 0 || now - last_ >= min_final_window_;
  std::exception_ptr failed;
  try {
    (void)take(now, keep);
  } catch (...) {
    failed = std::current_exception();  // detached all the same: the pool may be about to go
  }
  record_.phases.back().end = std::max(record_.phases.back().end, now - start_);
  attached_ = false;
  probe_ = probe{};  // drop the callables: they may refer to a pool about to go
  if (failed) std::rethrow_exception(failed);
}

const sample* sampler::take(time_point now) { return take(now, true); }

const sample* sampler::take(time_point now, bool keep) {
  if (!attached_ || now <= last_) return nullptr;
  // All that may throw (the probe's callables, allocations) comes before
  // the first change to the sampler: a throw leaves it as it was, and the
  // next sample covers this one's window too (only the latency max of the
  // failed window is lost).
  sample s;
  std::vector<pool_reading> readings;
  const totals t = read_totals(&readings);
  s.elapsed = now - start_;
  s.window = now - last_;
  s.phase = record_.phases.size() - 1;
  // Saturating: a harness counter that went backwards (a reset) counts 0.
  s.ops = t.ops >= last_totals_.ops ? t.ops - last_totals_.ops : 0;
  s.timeouts = t.timeouts >= last_totals_.timeouts ? t.timeouts - last_totals_.timeouts : 0;
  std::size_t waiting = 0, leased = 0;
  for (const pool_reading& r : readings) {
    s.pools.push_back(r.counts);
    waiting += r.counts.waiting;
    leased += r.counts.leased;
  }
  latency_recorder::bucket_array delta{};
  latency_recorder::bucket_array now_buckets{};
  std::chrono::nanoseconds max{0};
  if (probe_.latency != nullptr) {
    probe_.latency->read_into(now_buckets);
    for (std::size_t b = 0; b < delta.size(); ++b) {
      delta[b] = now_buckets[b] >= last_buckets_[b] ? now_buckets[b] - last_buckets_[b] : 0;
    }
    max = probe_.latency->take_max();
    s.latency = summarize(delta, max);
  }
  if (keep) record_.samples.push_back(std::move(s));  // the last that may throw
  const sample& taken = keep ? record_.samples.back() : s;

  if (probe_.latency != nullptr) last_buckets_ = now_buckets;
  phase_info& ph = record_.phases.back();
  ph.end = taken.elapsed;
  ph.watched += taken.window;
  ph.ops += taken.ops;
  ph.timeouts += taken.timeouts;
  if (keep) {
    ++ph.samples;
    ph.peak_waiting = std::max(ph.peak_waiting, waiting);
    ph.peak_leased = std::max(ph.peak_leased, leased);
  }
  if (taken.latency.count != 0) {
    for (std::size_t b = 0; b < delta.size(); ++b) ph.latency_buckets[b] += delta[b];
    const auto phase_max = std::max(ph.latency.max, taken.latency.max);
    ph.latency = summarize(ph.latency_buckets, phase_max);
  }

  last_ = now;
  last_totals_ = t;
  return keep ? &record_.samples.back() : nullptr;
}

const phase_info* sampler::current_phase() const noexcept {
  return record_.phases.empty() ? nullptr : &record_.phases.back();
}

run_record sampler::record(time_point now) const {
  run_record r = record_;
  r.duration = now - start_;
  return r;
}

}  // namespace berth::live
