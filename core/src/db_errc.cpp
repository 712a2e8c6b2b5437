// db_errc.cpp: see db_errc.hpp.
#include <berth/db_errc.hpp>

#include <string>

namespace berth {

namespace {
class db_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "berth.db"; }
  std::string message(int ev) const override {
    switch (static_cast<db_errc>(ev)) {
      case db_errc::retryable: return "retryable (lock contention, serialization failure or deadlock)";
      case db_errc::constraint_violation: return "constraint violation";
      case db_errc::connection_lost: return "connection lost or database unusable";
      case db_errc::timeout: return "operation interrupted or canceled by a timeout";
      case db_errc::resource_exhausted: return "resource exhausted (disk full, out of memory or too many connections)";
    }
    return "unknown berth.db condition";
  }
};
}  // namespace

const std::error_category& db_category() noexcept {
  static const db_category_impl c;
  return c;
}

}  // namespace berth
