// role_test.cpp: the pure role decisions (role.hpp), table-driven against
// libpq's target_session_attrs rules; no server.
#include <berth/postgres/role.hpp>

#include <gtest/gtest.h>

namespace berth::postgres {
namespace {

constexpr session_target all_targets[] = {session_target::any,     session_target::read_write,
                                          session_target::read_only, session_target::primary,
                                          session_target::standby, session_target::prefer_standby};

TEST(PostgresRole, TargetsSpellAndParseAsLibpqDoes) {
  for (const auto t : all_targets) EXPECT_EQ(parse_session_target(to_string(t)), t) << to_string(t);
  EXPECT_EQ(to_string(session_target::read_write), "read-write");
  EXPECT_EQ(to_string(session_target::prefer_standby), "prefer-standby");
  EXPECT_FALSE(parse_session_target("read_write"));
  EXPECT_FALSE(parse_session_target(""));
  EXPECT_FALSE(parse_session_target("Primary"));
  EXPECT_EQ(to_string(server_role::standby), "standby");
}

// libpq (fe-connect.c, CONNECTION_CHECK_TARGET): read-write needs neither
// hot standby nor default_transaction_read_only; read-only either of them;
// primary no hot standby; standby hot standby; any and prefer-standby take
// whatever connected. An unknown role is not held against a session.
TEST(PostgresRole, SessionAcceptsFollowsLibpqsRuleAtConnect) {
  using R = server_role;
  using T = session_target;
  struct row {
    T target;
    R role;
    bool read_only;
    bool accepted;
  };
  const row rows[] = {
      {T::any, R::primary, false, true},          {T::any, R::standby, true, true},
      {T::read_write, R::primary, false, true},   {T::read_write, R::primary, true, false},
      {T::read_write, R::standby, false, false},  {T::read_write, R::unknown, false, true},
      {T::read_only, R::standby, false, true},    {T::read_only, R::primary, true, true},
      {T::read_only, R::primary, false, false},   {T::read_only, R::unknown, false, true},
      {T::primary, R::primary, true, true},       {T::primary, R::standby, false, false},
      {T::standby, R::standby, false, true},      {T::standby, R::primary, true, false},
      {T::standby, R::unknown, false, true},      {T::prefer_standby, R::primary, false, true},
      {T::prefer_standby, R::standby, false, true},
  };
  for (const auto& r : rows)
    EXPECT_EQ(session_accepts(r.target, r.role, r.read_only), r.accepted)
        << to_string(r.target) << " on " << to_string(r.role) << (r.read_only ? " (read-only)" : "");
}

TEST(PostgresRole, A25006IsAFailoverOnlyOnAStandbyThePoolMeantToWriteTo) {
  for (const auto t : all_targets) {
    const bool writes = t == session_target::any || t == session_target::read_write || t == session_target::primary;
    EXPECT_EQ(write_refusal_means_failover(t, server_role::standby), writes) << to_string(t);
    EXPECT_FALSE(write_refusal_means_failover(t, server_role::primary)) << to_string(t) << ": a READ ONLY transaction";
    EXPECT_FALSE(write_refusal_means_failover(t, server_role::unknown)) << to_string(t);
  }
}

}  // namespace
}  // namespace berth::postgres
