// temp_dir.hpp: a fresh directory per test, removed afterwards.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>

namespace berth::sqlite::testing {

/// A new directory under temp_directory_path(), named after the test plus a
/// random suffix; removed (recursively) on destruction.
class temp_dir {
 public:
  temp_dir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::random_device rd;
    static std::atomic<unsigned> n{0};
    const std::string leaf = std::string("berth-sqlite-") + (info != nullptr ? info->name() : "test") + "-" +
                             std::to_string(rd()) + "-" + std::to_string(n.fetch_add(1));
    path_ = std::filesystem::temp_directory_path() / leaf;
    std::filesystem::create_directories(path_);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  /// A path inside the directory, as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace berth::sqlite::testing
