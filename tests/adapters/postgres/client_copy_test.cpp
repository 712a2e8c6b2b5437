// client_copy_test.cpp: detail::find_client_copy (adapters/postgres/src/
// client_copy.hpp) and the tokenizer under it (sql_lexer.hpp), without a
// server: where a COPY to or from the client is found, and where the server
// reads no statement (comments, constants, quoted identifiers, dollar
// quotes), under both standard_conforming_strings and in multibyte client
// encodings. PostgresConnection.ACopyIsFoundWhereTheServerFindsIt checks a
// few of these against a real server.
//
// Every text is read from a heap buffer of exactly its size, so that a read
// past its end is an AddressSanitizer report (the asan stage runs this binary).
#include "client_copy.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace berth::postgres::detail {
namespace {

constexpr sql_reading standard{};
constexpr sql_reading not_standard{.standard_strings = false};

/// find_client_copy over a copy of text in a buffer of exactly its size;
/// a found offset must point at the letters COPY.
std::optional<client_copy> find(std::string_view text, const sql_reading& how = standard) {
  const std::unique_ptr<char[]> exact(new char[text.size()]);
  text.copy(exact.get(), text.size());
  const auto found = find_client_copy(std::string_view(exact.get(), text.size()), how);
  if (found) {
    EXPECT_LE(found->offset + 4, text.size()) << text;
    std::string word(text.substr(found->offset, 4));
    for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(word, "COPY") << text << " at " << found->offset;
  }
  return found;
}

/// The encoding id libpq gives name (PQclientEncoding's numbering).
int encoding(const char* name) {
  const int id = pg_char_to_encoding(name);
  EXPECT_GT(id, 0) << name;
  return id;
}

struct found_case {
  const char* sql;
  std::size_t offset;
  bool from_client;
};

void expect_found(const found_case& c, const sql_reading& how = standard) {
  const auto f = find(c.sql, how);
  ASSERT_TRUE(f) << c.sql;
  EXPECT_EQ(f->offset, c.offset) << c.sql;
  EXPECT_EQ(f->from_client, c.from_client) << c.sql;
}

TEST(PostgresClientCopy, ACopyFromOrToTheClientInEitherWordOrder) {
  for (const found_case& c : {
           found_case{"COPY t FROM STDIN", 0, true},
           found_case{"COPY t TO STDOUT", 0, false},
           found_case{"copy t from stdin", 0, true},
           found_case{"CoPy t To StDoUt", 0, false},
           // The grammar takes either word after either direction.
           found_case{"COPY t FROM STDOUT", 0, true},
           found_case{"COPY t TO STDIN", 0, false},
           found_case{"COPY BINARY t FROM STDIN", 0, true},
           found_case{"COPY t (a, b) FROM STDIN WITH (FORMAT csv)", 0, true},
           found_case{"COPY public.t TO STDOUT (FORMAT binary)", 0, false},
           found_case{"COPY \"t\" TO STDOUT", 0, false},
           found_case{"  \n\tCOPY t TO STDOUT;", 4, false},
           found_case{"COPY t /* to */ TO -- the client\n STDOUT", 0, false},
       }) {
    expect_found(c);
  }
}

TEST(PostgresClientCopy, AQueryCopiedToTheClientWithNestedParentheses) {
  for (const found_case& c : {
           found_case{"COPY (SELECT 1) TO STDOUT", 0, false},
           found_case{"COPY (SELECT (1), f((2), (3)) FROM t) TO STDOUT", 0, false},
           found_case{"COPY (SELECT 1 FROM t WHERE x IN (SELECT y FROM u)) TO STDOUT", 0, false},
           found_case{"COPY (INSERT INTO t VALUES (1) RETURNING *) TO STDOUT", 0, false},
           found_case{"COPY (SELECT ')' FROM t) TO STDOUT", 0, false},
       }) {
    expect_found(c);
  }
  // A FROM or TO inside the parentheses is the query's, never the COPY's.
  EXPECT_FALSE(find("COPY (SELECT 1 FROM STDIN) TO '/tmp/f'"));
}

TEST(PostgresClientCopy, ACopyToAFileOrProgramIsNoneOfTheClients) {
  for (const char* sql : {"COPY t TO '/tmp/f'", "COPY t FROM '/tmp/f'", "COPY t TO PROGRAM 'cat'",
                          "COPY t FROM PROGRAM 'cat'", "COPY (SELECT 1) TO '/tmp/f'", "COPY t TO \"STDOUT\"",
                          "COPY t TO STDOUTX", "COPY t TO E'STDOUT'", "COPY t", "COPY t TO", "COPY"}) {
    EXPECT_FALSE(find(sql)) << sql;
  }
}

TEST(PostgresClientCopy, TheFirstCopyOfSeveralStatements) {
  for (const found_case& c : {
           found_case{"SELECT 1; COPY t TO STDOUT", 10, false},
           found_case{"SELECT 1;COPY t FROM STDIN", 9, true},
           found_case{"COPY t TO '/tmp/f'; COPY u FROM STDIN; COPY v TO STDOUT", 20, true},
           found_case{";;; COPY t TO STDOUT", 4, false},
           found_case{"BEGIN; DISCARD ALL; copy t to stdout; COMMIT", 20, false},
       }) {
    expect_found(c);
  }
  // Only a statement's first word makes it a COPY.
  for (const char* sql : {"SELECT copy FROM t", "SELECT 1 COPY t TO STDOUT", "EXPLAIN COPY t TO STDOUT",
                          "SELECT 1 AS copy; SELECT 2 TO STDOUT", "\"COPY\" t TO STDOUT"}) {
    EXPECT_FALSE(find(sql)) << sql;
  }
}

TEST(PostgresClientCopy, CommentsHoldNoStatement) {
  for (const char* sql : {"-- COPY t TO STDOUT", "-- ;\nSELECT 1 -- ; COPY t TO STDOUT", "/* COPY t TO STDOUT */",
                          "SELECT 1 /* ; COPY t TO STDOUT */", "/* a /* b */ ; COPY t TO STDOUT */ SELECT 1",
                          "/* /* /* */ */ ; COPY t TO STDOUT */"}) {
    EXPECT_FALSE(find(sql)) << sql;
  }
  for (const found_case& c : {
           found_case{"/* a /* b */ c */ COPY t TO STDOUT", 18, false},
           found_case{"-- a comment\nCOPY t TO STDOUT", 13, false},
           found_case{"-- a comment\rCOPY t TO STDOUT", 13, false},
           found_case{"SELECT 1 -/**/-; COPY t TO STDOUT", 17, false},  // no comment: - then a comment then -
       }) {
    expect_found(c);
  }
}

TEST(PostgresClientCopy, StringConstants) {
  for (const char* sql : {"SELECT '; COPY t TO STDOUT'", "SELECT 'it''s; COPY t TO STDOUT'",
                          "SELECT '''; COPY t TO STDOUT'",
                          // Continued on a later line (only whitespace and -- comments
                          // between, with a line break): the same constant.
                          "SELECT 'a'\n'; COPY t TO STDOUT'", "SELECT 'a' -- c\n  '; COPY t TO STDOUT'"}) {
    EXPECT_FALSE(find(sql)) << sql;
  }
  for (const found_case& c : {
           found_case{"SELECT ''; COPY t TO STDOUT", 11, false},
           found_case{"SELECT 'a''b'; COPY t TO STDOUT", 15, false},
           found_case{"SELECT 'a\\'; COPY t TO STDOUT", 13, false},  // standard: a backslash is a character
       }) {
    expect_found(c);
  }
}

TEST(PostgresClientCopy, EscapeStringsTakeBackslashEscapes) {
  for (const char* sql : {"SELECT E'\\'; COPY t TO STDOUT'", "SELECT e'\\\\\\'; COPY t TO STDOUT'",
                          "SELECT E'a''; COPY t TO STDOUT'",
                          // A continuation is read as the constant it continues.
                          "SELECT E'a'\n'\\'; COPY t TO STDOUT'"}) {
    EXPECT_FALSE(find(sql)) << sql;
  }
  for (const found_case& c : {
           found_case{"SELECT E'\\\\'; COPY t TO STDOUT", 14, false},
           found_case{"SELECT E'\\n'; COPY t TO STDOUT", 14, false},
           found_case{"SELECT 'a'\n'\\'; COPY t TO STDOUT", 16, false},
       }) {
    expect_found(c);
  }
}

TEST(PostgresClientCopy, StandardConformingStringsOff) {
  // Off, a backslash escapes in a plain constant too.
  const char* sql = "SELECT 'a\\'; COPY t TO STDOUT; --'";
  expect_found({sql, 13, false}, standard);
  EXPECT_FALSE(find(sql, not_standard));
  expect_found({"SELECT 'a\\\\'; COPY t TO STDOUT", 14, false}, not_standard);
  expect_found({"SELECT 'it''s'; COPY t FROM STDIN", 16, true}, not_standard);
  // Not in the other kinds of constant, which read the same either way.
  for (const sql_reading& how : {standard, not_standard}) {
    expect_found({"SELECT B'1'; COPY t TO STDOUT", 13, false}, how);
    expect_found({"SELECT U&'\\'; COPY t TO STDOUT", 14, false}, how);
    expect_found({"SELECT $$\\$$; COPY t TO STDOUT", 14, false}, how);
    expect_found({"SELECT 1 AS \"\\\"; COPY t TO STDOUT", 17, false}, how);
  }
}

TEST(PostgresClientCopy, BitHexAndUnicodeConstants) {
  for (const char* sql : {"SELECT B'; COPY t TO STDOUT'", "SELECT x'1f; COPY t TO STDOUT'",
                          "SELECT U&'d\\0061t''a; COPY t TO STDOUT'", "SELECT u&'; COPY t TO STDOUT' UESCAPE '!'",
                          "SELECT 1 AS U&\"; COPY t TO STDOUT\""}) {
    EXPECT_FALSE(find(sql)) << sql;
  }
  for (const found_case& c : {
           found_case{"SELECT b'0101'; COPY t TO STDOUT", 16, false},
           found_case{"SELECT X'ff'; COPY t TO STDOUT", 14, false},
           // A word that only starts like a prefix is a word.
           found_case{"SELECT ex'1'; COPY t TO STDOUT", 14, false},
           found_case{"SELECT 1 AS U&\"x\"\"y\"; COPY t TO STDOUT", 22, false},
       }) {
    expect_found(c);
  }
}

TEST(PostgresClientCopy, QuotedIdentifiers) {
  EXPECT_FALSE(find("SELECT 1 AS \"; COPY t TO STDOUT\""));
  EXPECT_FALSE(find("SELECT 1 AS \"a\"\"; COPY t TO STDOUT\""));
  expect_found({"SELECT 1 AS \"a'\"; COPY t TO STDOUT", 18, false});
  expect_found({"SELECT 1 AS \"a\"\"b\"; COPY t TO STDOUT", 20, false});
}

TEST(PostgresClientCopy, DollarQuotes) {
  for (const char* sql : {"SELECT $$; COPY t TO STDOUT$$", "SELECT $tag$ $$; COPY t TO STDOUT $tag$",
                          "SELECT $a$ $A$; COPY t TO STDOUT $a$", "SELECT $_x1$; COPY t TO STDOUT$_x1$",
                          "DO $body$ BEGIN EXECUTE 'x'; END $body$; SELECT $$ ; COPY t TO STDOUT"}) {
    EXPECT_FALSE(find(sql)) << sql;
  }
  for (const found_case& c : {
           found_case{"SELECT $$x$$; COPY t TO STDOUT", 14, false},
           found_case{"SELECT $a$ $$ $a$; COPY t TO STDOUT", 19, false},
           // A '$' inside a word (a$$) or before a digit ($1) starts no quote.
           found_case{"SELECT a$$; COPY t TO STDOUT; SELECT $$", 12, false},
           found_case{"SELECT x$1$; COPY t TO STDOUT", 13, false},
           found_case{"SELECT $1; COPY t TO STDOUT", 11, false},
           found_case{"SELECT $1$; COPY t TO STDOUT", 12, false},
       }) {
    expect_found(c);
  }
}

// In the client-only encodings a later byte of a character can be a
// backslash (0x5C): the server, reading the text converted to its own
// encoding, never sees it, so it escapes nothing.
TEST(PostgresClientCopy, AMultibyteCharacterEndingInABackslashEscapesNothing) {
  struct sample {
    const char* encoding;
    const char* character;  // two bytes, the second a backslash
  };
  for (const sample& s : {sample{"SJIS", "\x95\\"}, sample{"BIG5", "\xA4\\"}, sample{"GBK", "\x81\\"},
                          sample{"GB18030", "\x81\\"}}) {
    SCOPED_TRACE(s.encoding);
    const int id = encoding(s.encoding);
    const std::string e = std::string("SELECT E'") + s.character + "'; COPY t TO STDOUT; --'";
    expect_found({e.c_str(), 14, false}, {.standard_strings = true, .encoding = id});
    EXPECT_FALSE(find(e)) << "SQL_ASCII: a byte of its own, then an escaped quote";
    const std::string plain = std::string("SELECT '") + s.character + "'; COPY t TO STDOUT; --'";
    expect_found({plain.c_str(), 13, false}, {.standard_strings = false, .encoding = id});
    EXPECT_FALSE(find(plain, not_standard));
    // A backslash after the character is one.
    const std::string escaped = std::string("SELECT E'") + s.character + "\\'; COPY t TO STDOUT; --'";
    EXPECT_FALSE(find(escaped, {.standard_strings = true, .encoding = id}));
  }
  // UTF-8 has no such byte: a character's later bytes are all >= 0x80.
  const int utf8 = encoding("UTF8");
  EXPECT_FALSE(find("SELECT E'\xC3\xA9\\'; COPY t TO STDOUT; --'", {.encoding = utf8}));
  expect_found({"SELECT E'\xC3\xA9\\\\'; COPY t TO STDOUT", 16, false}, {.encoding = utf8});
}

TEST(PostgresClientCopy, EdgeInputsNeitherCrashNorReadPastTheEnd) {
  for (const char* sql : {"", " ", "\n\t\r\f\v ", ";", ";;;", "-", "--", "/", "/*", "/* /* */", "/**", "'",
                          "'abc", "''", "'a''", "E", "E'", "E'\\", "E'abc\\", "e'\\'", "B'", "X'1", "U", "U&",
                          "U&'", "U&\"", "U&\"x", "\"", "\"abc", "\"\"\"", "$", "$$", "$$abc", "$$abc$", "$a",
                          "$a$", "$a$x$a", "$a$x$b$", "$1", "a$", "a$$", "(", ")", "((((", "))))", "COPY (",
                          "COPY (((", "COPY ( TO STDOUT", "COPY t TO", "COPY t FROM", "'a'\n", "'a'\n--",
                          "'a'\n  '", "'a' --\n'b", "\x95", "E'\x95", "E'\x95\\", "a\x95"}) {
    for (const sql_reading& how : {standard, not_standard, sql_reading{true, encoding("SJIS")},
                                   sql_reading{true, encoding("GB18030")}, sql_reading{false, encoding("UTF8")}}) {
      EXPECT_FALSE(find(sql, how)) << sql;
    }
  }
  // Unbalanced closing parentheses do not hide a COPY's TO.
  expect_found({"COPY t ))) TO STDOUT", 0, false});
  // A BEGIN ATOMIC body's ';' ends a statement here (not for the server,
  // which refuses a COPY there too): the reading errs towards refusing.
  expect_found({"CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC; COPY t TO STDOUT; END", 60, false});
}

// Only the text in view is read: what lies past its end, in the same
// buffer, neither completes nor spoils what is in it.
TEST(PostgresClientCopy, OnlyTheTextInViewIsRead) {
  const std::string_view whole = "COPY t TO STDOUTX; SELECT $$; COPY u FROM STDIN";
  EXPECT_FALSE(find_client_copy(whole, standard)) << "STDOUTX is a word; the rest is in a dollar quote";
  const auto cut = find_client_copy(whole.substr(0, 16), standard);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->offset, 0u);
  const std::string_view quoted = "SELECT '; COPY t TO STDOUT'";
  EXPECT_FALSE(find_client_copy(quoted.substr(0, 26), standard)) << "unterminated: the constant runs to the end";
}

}  // namespace
}  // namespace berth::postgres::detail
