// adapter_test.cpp: adapter_error and adapter_exception (adapter.hpp), as
// result<T, adapter_error>::value() throws them.
#include <berth/adapter.hpp>
#include <berth/errc.hpp>

#include <gtest/gtest.h>

#include <string>
#include <system_error>

namespace berth {
namespace {

TEST(AdapterErrorTest, ValueOfAFailedResultThrowsAdapterExceptionWithCodeAndMessage) {
  result<int, adapter_error> r =
      failure{adapter_error{std::make_error_code(std::errc::connection_refused), "db:5432 refused"}};
  try {
    (void)r.value();
    FAIL() << "no exception";
  } catch (const adapter_exception& e) {
    EXPECT_EQ(e.code(), std::errc::connection_refused);
    EXPECT_EQ(std::string(e.what()).rfind("db:5432 refused", 0), 0u) << e.what();
  }
  const result<void, adapter_error> v = failure{adapter_error{make_error_code(errc::adapter_failure), "reset threw"}};
  EXPECT_THROW(v.value(), adapter_exception);
}

}  // namespace
}  // namespace berth
