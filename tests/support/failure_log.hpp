// failure_log.hpp: what worker threads of a load test saw go wrong.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace berth::testing {

/// Failures seen by worker threads: a count and the first few messages, so
/// a failing run says what went wrong. Thread-safe.
class failure_log {
 public:
  void add(std::string what) {
    std::lock_guard<std::mutex> g(m_);
    ++count_;
    if (first_.size() < 5) first_.push_back(std::move(what));
  }
  int count() const {
    std::lock_guard<std::mutex> g(m_);
    return count_;
  }
  std::string summary() const {
    std::lock_guard<std::mutex> g(m_);
    std::string s;
    for (const auto& f : first_) s += "\n  " + f;
    return s;
  }

 private:
  mutable std::mutex m_;
  int count_ = 0;                   // guarded by m_
  std::vector<std::string> first_;  // guarded by m_
};

}  // namespace berth::testing
