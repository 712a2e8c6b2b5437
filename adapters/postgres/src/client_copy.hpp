// client_copy.hpp: finds a COPY to or from the client in SQL text before it
// is sent, reading the text as the server's lexer will (scan.l).
//
// execute() cannot carry COPY data, and refusing a COPY once the server has
// begun it is too late: COPY (INSERT ... RETURNING *) TO STDOUT has run its
// INSERT by then, and so has every statement of the text after it. So the
// text is read first: statements end at each ';' outside comments (--, and
// nested /* */), string constants ('...' with '' inside; E'...' with
// backslash escapes, and plain '...' too when standard_conforming_strings is
// off; B'...', X'...', U&'...'; a constant continued on a later line),
// quoted identifiers ("..."), and dollar quotes ($$...$$, $tag$...$tag$; a
// '$' inside an identifier, as in a$$, starts none). A statement whose first
// word is COPY and whose first FROM or TO outside parentheses is followed by
// STDIN or STDOUT (the grammar takes either word in either direction) is one.
// Multibyte characters are taken whole (PQmblen in the client encoding): in
// SJIS, BIG5, GBK and the other client-only encodings a later byte of a
// character can be a backslash, which the server, reading the text converted
// to its own encoding, never sees as one.
//
// It can err only towards refusing: a ';' inside BEGIN ATOMIC ... END (a SQL
// function body) ends a statement here, so a body statement that starts with
// COPY refuses the text, which the server refuses too ("COPY is not yet
// supported in unquoted SQL function body"). A COPY this reading misses
// still meets execute()'s refusal once the server starts it (connection.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace berth::postgres::detail {

/// How the server will read a text: the session's settings when it parses it.
struct sql_reading {
  /// standard_conforming_strings: when false a backslash escapes a quote in
  /// a plain '...' too, as always in E'...'.
  bool standard_strings = true;
  /// The client encoding (PQclientEncoding), for the length of a multibyte
  /// character (PQmblen); 0, SQL_ASCII, reads a byte as a character.
  int encoding = 0;
};

/// A statement that copies to or from the client.
struct client_copy {
  std::size_t offset = 0;  ///< of its COPY keyword in the text
  bool from_client = false;  ///< COPY ... FROM STDIN (else TO STDOUT)
};

/// The first statement of sql that is a COPY to or from the client (see the
/// file comment), or nullopt. Thread-safe. Never allocates.
std::optional<client_copy> find_client_copy(std::string_view sql, const sql_reading& how) noexcept;

}  // namespace berth::postgres::detail
