#include <berth/clock.hpp>
#include <berth/detail/duration.hpp>

namespace berth {

namespace {
class steady_source final : public clock_source {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  time_point deadline) const override {
    if (detail::no_deadline(deadline))  // detail::deadline_after saturates to it
      cv.wait(lock);
    else
      cv.wait_until(lock, deadline);
  }
};
}  // namespace

clock_source& clock_source::steady() noexcept {
  static steady_source s;
  return s;
}

}  // namespace berth
