// collectable.cpp: berth::prometheus::collectable (see berth/prometheus.hpp).
//
// Synchronization: one mutex guards the sources. Collect() holds it while
// it reads every source, so remove() returning means no Collect() is
// reading that source; concurrent Collect() calls take turns (scrapes are
// seconds apart). The objects of weak sources are locked for the read and
// released after the mutex, so a pool whose last handle was the one locked
// here is destroyed (joins its threads) outside it.
#include <berth/detail/json_writer.hpp>
#include <berth/prometheus.hpp>

#include <algorithm>
#include <stdexcept>

namespace berth::prometheus {

void collectable::check_source(const std::string* name, bool null_object) {
  if (name != nullptr && name->empty())
    throw std::invalid_argument("berth::prometheus::collectable::add: the pool name is empty");
  if (name != nullptr && detail::first_invalid_utf8(*name) != std::string_view::npos)
    throw std::invalid_argument("berth::prometheus::collectable::add: the pool name is not valid UTF-8 (byte " +
                                std::to_string(detail::first_invalid_utf8(*name)) +
                                "); two names differing in an invalid byte would become one label value");
  if (null_object) throw std::invalid_argument("berth::prometheus::collectable::add: the object is null");
}

collectable::source_id collectable::add_source(source s) {
  std::lock_guard lock(mutex_);
  const source_id id = next_id_++;
  sources_.emplace_back(id, std::move(s));
  return id;
}

collectable::source_id collectable::add(const std::shared_ptr<const registry>& pools) {
  check_source(nullptr, pools == nullptr);
  source s;
  s.object = pools;
  s.read_object = [](const void* p, const std::string&, stats_by_name& out) {
    out = static_cast<const registry*>(p)->stats();
  };
  return add_source(std::move(s));
}

collectable::source_id collectable::add(std::function<stats_by_name()> read) {
  if (!read) throw std::invalid_argument("berth::prometheus::collectable::add: the callable is empty");
  source s;
  s.read = std::move(read);
  return add_source(std::move(s));
}

bool collectable::remove(source_id id) {
  std::lock_guard lock(mutex_);
  const auto n = std::erase_if(sources_, [&](const auto& e) { return e.first == id; });
  return n != 0;
}

std::size_t collectable::size() const {
  std::lock_guard lock(mutex_);
  return sources_.size();
}

std::vector<::prometheus::MetricFamily> collectable::Collect() const {
  stats_by_name all;
  std::vector<std::shared_ptr<const void>> held;  // released after the mutex (see the file comment)
  {
    std::lock_guard lock(mutex_);
    std::erase_if(sources_, [](const auto& e) { return e.second.read_object != nullptr && e.second.object.expired(); });
    held.reserve(sources_.size());
    for (const auto& [id, s] : sources_) {
      try {
        stats_by_name one;
        if (s.read_object != nullptr) {
          std::shared_ptr<const void> object = s.object.lock();
          if (!object) continue;
          held.push_back(object);
          s.read_object(object.get(), s.name, one);
        } else {
          one = s.read();
        }
        all.merge(one);  // keeps a name already there: the first source wins
      } catch (...) {  // documented: a source that throws is left out of this scrape
      }
    }
  }
  return families(all);
}

}  // namespace berth::prometheus
