#include <berth/sqlite/connection.hpp>
#include <berth/sqlite/transaction.hpp>

#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace berth::sqlite {
namespace {

using testing::temp_dir;

struct TransactionTest : ::testing::Test {
  temp_dir dir;
  connection c = connection::open(dir.file("t.db"));
  void SetUp() override { c.execute("CREATE TABLE t(x)"); }
  std::int64_t rows() {
    auto& st = c.prepare("SELECT count(*) FROM t");
    EXPECT_TRUE(st.step());
    const auto n = st.get<std::int64_t>(0);
    st.reset();
    return n;
  }
};

TEST_F(TransactionTest, CommitKeepsTheWork) {
  {
    transaction tx(c, transaction_mode::immediate);
    EXPECT_FALSE(tx.is_savepoint());
    EXPECT_TRUE(c.in_transaction());
    EXPECT_EQ(c.transaction_depth(), 1);
    c.execute("INSERT INTO t VALUES (1)");
    tx.commit();
    EXPECT_FALSE(tx.active());
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(c.transaction_depth(), 0);
  }
  EXPECT_EQ(rows(), 1);
}

// The usual way to read a new row's id, INSERT ... RETURNING stepped once,
// made COMMIT fail with SQLITE_BUSY ("SQL statements in progress"), thrown
// as a retryable_error as if another process held the lock.
TEST_F(TransactionTest, CommitAfterInsertReturningSteppedOnceKeepsItsRowsBug) {
  c.execute("CREATE TABLE r(id INTEGER PRIMARY KEY, x)");
  {
    transaction tx(c, transaction_mode::immediate);
    auto& ins = c.prepare("INSERT INTO r(x) VALUES (?1), (?1) RETURNING id");
    ins.bind(1, 5);
    ASSERT_TRUE(ins.step());
    EXPECT_EQ(ins.get<std::int64_t>(0), 1);
    auto& reading = c.prepare("SELECT x FROM t");  // a read mid-result stays as it is
    c.execute("INSERT INTO t VALUES (1), (2)");
    ASSERT_TRUE(reading.step());
    EXPECT_NO_THROW(tx.commit());
    EXPECT_TRUE(reading.step()) << "a reading statement is not reset by commit";
    reading.reset();
  }
  connection other = connection::open(dir.file("t.db"));
  auto& n = other.prepare("SELECT count(*) FROM r");
  ASSERT_TRUE(n.step());
  EXPECT_EQ(n.get<std::int64_t>(0), 2) << "both rows committed";
}

TEST_F(TransactionTest, ExplicitRollbackAndDestructorRollback) {
  {
    transaction tx(c);
    c.execute("INSERT INTO t VALUES (1)");
    tx.rollback();
    EXPECT_FALSE(c.in_transaction());
  }
  {
    transaction tx(c, transaction_mode::exclusive);
    c.execute("INSERT INTO t VALUES (2)");
  }  // not committed
  EXPECT_FALSE(c.in_transaction());
  EXPECT_EQ(c.transaction_depth(), 0);
  EXPECT_EQ(rows(), 0);
}

TEST_F(TransactionTest, RollsBackWhenDestroyedDuringUnwinding) {
  EXPECT_THROW(
      {
        transaction tx(c);
        c.execute("INSERT INTO t VALUES (1)");
        throw std::runtime_error("boom");
      },
      std::runtime_error);
  EXPECT_FALSE(c.in_transaction());
  EXPECT_EQ(rows(), 0);
}

TEST_F(TransactionTest, NestedGuardIsASavepointWhoseRollbackKeepsOuterWork) {
  {
    transaction outer(c, transaction_mode::immediate);
    c.execute("INSERT INTO t VALUES (1)");
    {
      transaction inner(c);
      EXPECT_TRUE(inner.is_savepoint());
      EXPECT_EQ(c.transaction_depth(), 2);
      c.execute("INSERT INTO t VALUES (2)");
      {
        transaction innermost(c);
        c.execute("INSERT INTO t VALUES (3)");
        innermost.commit();  // RELEASE: folds into `inner`
      }
      EXPECT_EQ(rows(), 3);
    }  // inner not committed: ROLLBACK TO + RELEASE drops 2 and 3
    EXPECT_TRUE(c.in_transaction());
    EXPECT_EQ(c.transaction_depth(), 1);
    EXPECT_EQ(rows(), 1);
    {
      transaction again(c);  // depth 2 again: the savepoint name is reused safely
      c.execute("INSERT INTO t VALUES (4)");
      again.commit();
    }
    outer.commit();
  }
  EXPECT_EQ(rows(), 2);
  EXPECT_FALSE(c.in_transaction());
}

TEST_F(TransactionTest, InnerRollbackDuringUnwindingKeepsOuterWork) {
  transaction outer(c);
  c.execute("INSERT INTO t VALUES (1)");
  try {
    transaction inner(c);
    c.execute("INSERT INTO t VALUES (2)");
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  outer.commit();
  EXPECT_EQ(rows(), 1);
}

TEST_F(TransactionTest, GuardInsidePlainBeginBecomesSavepoint) {
  c.execute("BEGIN");
  {
    transaction tx(c);
    EXPECT_TRUE(tx.is_savepoint());
    c.execute("INSERT INTO t VALUES (1)");
  }
  EXPECT_TRUE(c.in_transaction());
  c.execute("COMMIT");
  EXPECT_EQ(rows(), 0);
}

TEST_F(TransactionTest, OutOfOrderFinishIsALogicError) {
  transaction outer(c);
  transaction inner(c);
  EXPECT_THROW(outer.commit(), std::logic_error);
  inner.commit();
  EXPECT_THROW(inner.commit(), std::logic_error);
  outer.commit();
}

TEST_F(TransactionTest, FailedCommitLeavesGuardActiveAndDestructorRollsBack) {
  auto other = connection::open(dir.file("t.db"));
  {
    transaction tx(c);  // deferred: takes only a read lock on the SELECT
    (void)rows();
    other.execute("PRAGMA busy_timeout=0");
    // `other` holds a read transaction open across c's commit attempt.
    other.execute("BEGIN");
    auto& sel = other.prepare("SELECT count(*) FROM t");
    ASSERT_TRUE(sel.step());
    c.execute("PRAGMA busy_timeout=0");
    c.execute("INSERT INTO t VALUES (1)");
    // Rollback-journal mode: COMMIT needs an exclusive lock the reader blocks.
    EXPECT_THROW(tx.commit(), sqlite_error);
    EXPECT_TRUE(tx.active());
    sel.reset();
    other.execute("COMMIT");
  }
  EXPECT_FALSE(c.in_transaction());
  EXPECT_EQ(rows(), 0);
}

}  // namespace
}  // namespace berth::sqlite
