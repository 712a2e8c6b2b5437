// client_copy.cpp: see client_copy.hpp.
#include "client_copy.hpp"

#include <algorithm>
#include <cstdint>

namespace berth::postgres::detail {

std::optional<client_copy> find_client_copy(std::string_view sql, const sql_reading& how) noexcept {
  // Per statement: its first token; in a COPY, the first FROM or TO outside
  // parentheses (a query or column list); then the word after it.
  enum class step : std::uint8_t { first, copy, target, rest };
  sql_lexer lx(sql, how);
  step at = step::first;
  client_copy found;
  int depth = 0;
  for (token t = lx.next(); t.kind != token_kind::end; t = lx.next()) {
    if (t.kind == token_kind::semicolon) {
      at = step::first;
      continue;
    }
    switch (at) {
      case step::first:
        at = t.kind == token_kind::word && keyword(t.text, "COPY") ? step::copy : step::rest;
        found.offset = t.offset;
        depth = 0;
        break;
      case step::copy:
        if (t.kind == token_kind::open_paren) {
          ++depth;
        } else if (t.kind == token_kind::close_paren) {
          depth = std::max(depth - 1, 0);
        } else if (depth == 0 && t.kind == token_kind::word && (keyword(t.text, "FROM") || keyword(t.text, "TO"))) {
          found.from_client = keyword(t.text, "FROM");
          at = step::target;
        }
        break;
      case step::target:
        if (t.kind == token_kind::word && (keyword(t.text, "STDIN") || keyword(t.text, "STDOUT"))) return found;
        at = step::rest;
        break;
      case step::rest: break;
    }
  }
  return std::nullopt;
}

}  // namespace berth::postgres::detail
