// registry.cpp: see registry.hpp.
#include <berth/registry.hpp>

#include <berth/detail/duration.hpp>
#include <berth/detail/json_writer.hpp>

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace berth {
namespace {

class registry_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "berth.registry"; }
  std::string message(int ev) const override {
    switch (static_cast<registry_errc>(ev)) {
      case registry_errc::duplicate_name: return "an entry already has this name";
      case registry_errc::unknown_name: return "no entry has this name";
      case registry_errc::wrong_type: return "the entry has another type";
      case registry_errc::closed: return "the registry is closed";
      case registry_errc::invalid_name: return "invalid entry name";
    }
    return "unknown berth.registry error";
  }
};

/// The type's name as written in C++ ("berth::pool<berth::sqlite::adapter>").
std::string type_name(const std::type_info& t) {
  int status = 0;
  char* s = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  if (s == nullptr) return t.name();
  std::string out(s);
  std::free(s);
  return out;
}

}  // namespace

const std::error_category& registry_category() noexcept {
  static const registry_category_impl c;
  return c;
}

registry::~registry() {
  close_all();
  // entries_ is immutable now (see its comment).
  // Saturating: drain_timeout_ may be milliseconds::max() ("wait for ever").
  const auto deadline = detail::saturating_add(std::chrono::steady_clock::now(), detail::saturating_ns(drain_timeout_));
  for (const auto& [name, e] : entries_) {
    const auto left = detail::no_deadline(deadline) ? std::chrono::nanoseconds::max()
                                                    : detail::saturating_sub(deadline, std::chrono::steady_clock::now());
    e.drain(e.object.get(), std::max(left, std::chrono::nanoseconds::zero()));
  }
}

void registry::check_free_locked(const std::string& name) const {
  if (name.empty()) throw registry_error(registry_errc::invalid_name, name, "berth registry: an entry name must not be empty");
  if (const std::size_t at = detail::first_invalid_utf8(name); at != std::string_view::npos)
    throw registry_error(registry_errc::invalid_name, name,
                         "berth registry: an entry name must be valid UTF-8 (byte " + std::to_string(at) +
                             " is not): it is a JSON key and a Prometheus label, where two names differing in an "
                             "invalid byte would become one");
  if (name.find('/') != std::string::npos)
    throw registry_error(registry_errc::invalid_name, name,
                         "berth registry: entry name '" + name +
                             "' contains '/', which stats() uses between an entry's name and its pools' names");
  if (closed_)
    throw registry_error(registry_errc::closed, name,
                         "berth registry: cannot add '" + name + "': close_all() has closed the registry");
  if (entries_.contains(name))
    throw registry_error(registry_errc::duplicate_name, name,
                         "berth registry: an entry named '" + name + "' exists already (a " +
                             type_name(*entries_.find(name)->second.type) + ")");
}

void registry::check_free(const std::string& name) const {
  std::lock_guard lk(mutex_);
  check_free_locked(name);
}

void registry::add(std::string name, entry e) {
  std::lock_guard lk(mutex_);
  check_free_locked(name);
  entries_.emplace(std::move(name), std::move(e));
}

void registry::throw_null(const std::string& name) {
  throw std::invalid_argument("berth registry: insert('" + name + "'): the object is null");
}

std::shared_ptr<void> registry::lookup(std::string_view name, const std::type_info& type) const {
  std::lock_guard lk(mutex_);
  const auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::string have;
    for (const auto& [n, e] : entries_) have += (have.empty() ? "" : ", ") + n;
    throw registry_error(registry_errc::unknown_name, std::string(name),
                         "berth registry: no entry named '" + std::string(name) + "' (entries: " +
                             (have.empty() ? "none" : have) + ")");
  }
  if (*it->second.type != type)
    throw registry_error(registry_errc::wrong_type, std::string(name),
                         "berth registry: '" + std::string(name) + "' is a " + type_name(*it->second.type) +
                             ", not a " + type_name(type));
  return it->second.object;
}

bool registry::contains(std::string_view name) const {
  std::lock_guard lk(mutex_);
  return entries_.find(name) != entries_.end();
}

std::vector<std::string> registry::names() const {
  std::lock_guard lk(mutex_);
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [n, e] : entries_) out.push_back(n);
  return out;
}

void registry::close_all() noexcept {
  {
    std::lock_guard lk(mutex_);
    closed_ = true;
  }
  // No entry is added from here on, and none is ever removed: entries_ is
  // immutable, so it is walked without the mutex (lookups and stats() go on
  // while entries close; concurrent close_all() calls close each entry
  // twice, which every entry's close tolerates).
  for (const auto& [name, e] : entries_) e.close(e.object.get());
}

bool registry::closed() const noexcept {
  std::lock_guard lk(mutex_);
  return closed_;
}

stats_by_name registry::stats() const {
  std::lock_guard lk(mutex_);
  stats_by_name out;
  for (const auto& [name, e] : entries_) e.stats(e.object.get(), name, out);
  return out;
}

}  // namespace berth
