// transaction_chain_test.cpp: detail::chains (adapters/postgres/src/
// transaction_chain.hpp) on its own, without a server: the statements that
// chain, and the words AND CHAIN where the server does not read them as a
// statement's. PostgresTransaction.AndChainOutsideAStatementsOwnWordsIsNoChainBug
// shows the same against a real server.
#include "transaction_chain.hpp"

#include <gtest/gtest.h>

namespace berth::postgres::detail {
namespace {

constexpr sql_reading standard{};

TEST(PostgresTransactionChain, TheStatementsThatChain) {
  for (const char* sql : {"ROLLBACK AND CHAIN", "rollback   and\n chain", "ABORT AND CHAIN", "COMMIT AND CHAIN",
                          "END AND CHAIN", "ROLLBACK WORK AND CHAIN", "commit transaction and chain;",
                          "ROLLBACK /* a comment */ AND -- another\n CHAIN", "SELECT 1; ROLLBACK AND CHAIN; SELECT 2",
                          "ROLLBACK TO s; ROLLBACK AND CHAIN"}) {
    EXPECT_TRUE(chains(sql, standard)) << sql;
  }
}

TEST(PostgresTransactionChain, WordsTheServerDoesNotReadAsTheStatementsAreNoChain) {
  for (const char* sql : {"ROLLBACK", "ROLLBACK AND NO CHAIN", "ROLLBACK TO SAVEPOINT s", "ROLLBACK TO s",
                          "ROLLBACK TO s; SELECT 'AND CHAIN'", "ROLLBACK TO s /* AND CHAIN */",
                          "ROLLBACK TO s -- AND CHAIN", "ROLLBACK TO s; SELECT 1 AS \"and chain\"",
                          "ROLLBACK TO s; SELECT $$ AND CHAIN $$", "ROLLBACK TO s; SELECT $t$ AND CHAIN $t$",
                          "ROLLBACK TO s; SELECT E'\\' AND CHAIN'", "SELECT 'ROLLBACK AND CHAIN'",
                          "ROLLBACK WORK WORK AND CHAIN", "ROLLBACK AND CHAIN CHAIN", "\"ROLLBACK\" AND CHAIN",
                          "ROLLBACK PREPARED 'x AND CHAIN'", "SELECT 1 AND CHAIN", "", ";;", "ROLLBACK AND",
                          "ROLLBACK AND CHAIN'", "ROLLBACK AND /* CHAIN"}) {
    EXPECT_FALSE(chains(sql, standard)) << sql;
  }
}

TEST(PostgresTransactionChain, ThePlainConstantIsReadAsTheSessionReadsIt) {
  // standard_conforming_strings off: the backslash escapes the quote, and
  // the constant runs on over the statement after it.
  const char* sql = "ROLLBACK TO s; SELECT 'a\\'; ROLLBACK AND CHAIN; --'";
  EXPECT_TRUE(chains(sql, {.standard_strings = true}));
  EXPECT_FALSE(chains(sql, {.standard_strings = false}));
}

}  // namespace
}  // namespace berth::postgres::detail
