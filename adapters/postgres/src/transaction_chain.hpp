// transaction_chain.hpp: whether SQL text ends a transaction and begins the
// next at once (AND CHAIN), read as the server reads it (sql_lexer.hpp).
//
// connection.cpp moves its transaction epoch (guard_marks) at each boundary a
// call crosses. One that ends idle is seen without reading the text, and so
// is a COMMIT tag; a ROLLBACK tag is shared by ROLLBACK TO SAVEPOINT, which
// is no boundary, and by the chaining statements below, which end in a
// transaction: only the text tells them apart. A constant, quoted
// identifier or comment that spells AND CHAIN is not one (it made a guard
// disown its own transaction). Where the reading errs (a ';' inside BEGIN
// ATOMIC, sql_lexer.hpp), it errs towards a chain: a boundary too many makes
// a guard refuse to finish a transaction it owns (postgres_error 25000), one
// too few would let it commit or roll back the user's.
#pragma once

#include "sql_lexer.hpp"

#include <string_view>

namespace berth::postgres::detail {

/// Whether a statement of sql is COMMIT, END, ROLLBACK or ABORT, then WORK or
/// TRANSACTION or neither, then AND CHAIN (gram.y's TransactionStmt; AND NO
/// CHAIN is none). COMMIT and END count too: a failed transaction's COMMIT
/// is tagged ROLLBACK. Thread-safe. Never allocates.
bool chains(std::string_view sql, const sql_reading& how) noexcept;

}  // namespace berth::postgres::detail
