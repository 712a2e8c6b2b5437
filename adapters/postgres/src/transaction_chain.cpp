// transaction_chain.cpp: see transaction_chain.hpp.
#include "transaction_chain.hpp"

#include <cstdint>

namespace berth::postgres::detail {

bool chains(std::string_view sql, const sql_reading& how) noexcept {
  // Per statement, how far its tokens have followed the pattern; a ';' or
  // the end of the text after CHAIN is a match.
  enum class step : std::uint8_t { first, verb, work, and_, chain, no };
  sql_lexer lx(sql, how);
  step at = step::first;
  for (token t = lx.next();; t = lx.next()) {
    if (t.kind == token_kind::end || t.kind == token_kind::semicolon) {
      if (at == step::chain) return true;
      if (t.kind == token_kind::end) return false;
      at = step::first;
      continue;
    }
    const auto is = [&t](std::string_view upper) { return t.kind == token_kind::word && keyword(t.text, upper); };
    switch (at) {
      case step::first:
        at = is("COMMIT") || is("END") || is("ROLLBACK") || is("ABORT") ? step::verb : step::no;
        break;
      case step::verb:
        if (is("WORK") || is("TRANSACTION")) {
          at = step::work;
          break;
        }
        [[fallthrough]];
      case step::work:
        at = is("AND") ? step::and_ : step::no;
        break;
      case step::and_:
        at = is("CHAIN") ? step::chain : step::no;
        break;
      case step::chain:
      case step::no:
        at = step::no;
        break;
    }
  }
}

}  // namespace berth::postgres::detail
