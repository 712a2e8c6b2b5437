// client_copy.hpp: finds a COPY to or from the client in SQL text before it
// is sent, reading the text as the server's lexer will (sql_lexer.hpp).
//
// execute() cannot carry COPY data, and refusing a COPY once the server has
// begun it is too late: COPY (INSERT ... RETURNING *) TO STDOUT has run its
// INSERT by then, and so has every statement of the text after it. So the
// text is read first. A statement whose first word is COPY and whose first
// FROM or TO outside parentheses is followed by STDIN or STDOUT (the grammar
// takes either word in either direction) is one.
//
// It can err only towards refusing: a ';' inside BEGIN ATOMIC ... END (a SQL
// function body) ends a statement here, so a body statement that starts with
// COPY refuses the text, which the server refuses too ("COPY is not yet
// supported in unquoted SQL function body"). A COPY this reading misses
// still meets execute()'s refusal once the server starts it (connection.cpp).
#pragma once

#include "sql_lexer.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

namespace berth::postgres::detail {

/// A statement that copies to or from the client.
struct client_copy {
  std::size_t offset = 0;  ///< of its COPY keyword in the text
  bool from_client = false;  ///< COPY ... FROM STDIN (else TO STDOUT)
};

/// The first statement of sql that is a COPY to or from the client (see the
/// file comment), or nullopt. Thread-safe. Never allocates.
std::optional<client_copy> find_client_copy(std::string_view sql, const sql_reading& how) noexcept;

}  // namespace berth::postgres::detail
