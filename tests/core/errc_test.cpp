// errc_test.cpp: berth::errc's category (errc.cpp) and the acquire_error
// messages built from it for the codes without a message of their own.
#include <berth/acquire_error.hpp>
#include <berth/errc.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace berth {
namespace {

constexpr errc every_errc[] = {errc::timeout,         errc::would_block,     errc::pool_closed,
                               errc::startup_failed,  errc::drain_timeout,   errc::adapter_failure,
                               errc::cancelled,       errc::database_unavailable, errc::no_replica};

TEST(ErrcTest, EveryCodeHasItsOwnMessageInTheBerthCategory) {
  EXPECT_STREQ(error_category().name(), "berth");
  std::set<std::string> messages;
  for (const errc e : every_errc) {
    const std::error_code c = make_error_code(e);
    EXPECT_EQ(&c.category(), &error_category());
    EXPECT_NE(c.message(), "unknown berth error") << static_cast<int>(e);
    EXPECT_TRUE(messages.insert(c.message()).second) << c.message() << " given twice";
  }
  EXPECT_EQ(make_error_code(static_cast<errc>(0)).message(), "unknown berth error");
  EXPECT_EQ(make_error_code(static_cast<errc>(99)).message(), "unknown berth error");
}

// Codes acquire_error::message() has no sentence of its own for: the
// category's message, then the counts, like every other code.
TEST(ErrcTest, AcquireErrorMessageOfAnyOtherCodeIsTheCategoryMessageWithTheCounts) {
  for (const errc e : {errc::startup_failed, errc::drain_timeout, errc::adapter_failure, errc::cancelled}) {
    acquire_error a;
    a.code = e;
    a.pool_name = "orders";
    a.counts.total = 3;
    a.counts.max_size = 4;
    const std::string m = a.message();
    EXPECT_EQ(m.rfind("berth pool 'orders': " + make_error_code(e).message() + " (", 0), 0u) << m;
    EXPECT_NE(m.find(a.counts.to_string()), std::string::npos) << m;
  }
}

// would_block does not fill pool_name (it must stay cheap): its message said
// "berth pool '': no idle connection", naming a pool '' that does not exist.
TEST(ErrcTest, AMessageWithoutAPoolNameNamesNoEmptyPoolBug) {
  acquire_error a;
  a.code = errc::would_block;
  const std::string m = a.message();
  EXPECT_EQ(m.find("''"), std::string::npos) << m;
  EXPECT_EQ(m.rfind("berth pool: no idle connection (try_acquire)", 0), 0u) << m;
  a.pool_name = "orders";
  EXPECT_EQ(a.message().rfind("berth pool 'orders': ", 0), 0u) << a.message();
}

// drain() returns drain_timeout also when no lease is out, only a
// connection being opened or closed: its message said "leases still
// outstanding".
TEST(ErrcTest, DrainTimeoutSaysConnectionsStillOpenNotOnlyLeasesBug) {
  const std::string m = make_error_code(errc::drain_timeout).message();
  EXPECT_EQ(m.find("leases still outstanding"), std::string::npos) << m;
  EXPECT_NE(m.find("connections still open"), std::string::npos) << m;
  EXPECT_NE(m.find("being connected"), std::string::npos) << m;
}

}  // namespace
}  // namespace berth
