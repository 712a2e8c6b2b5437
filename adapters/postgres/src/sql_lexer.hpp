// sql_lexer.hpp: reads SQL text into the tokens that decide where its
// statements begin and what they are, as the server's lexer (scan.l) will
// read it; what reads the statements (client_copy.hpp, transaction_chain.hpp)
// works on these tokens, never on the raw text.
//
// Statements end at each ';' outside comments (--, and nested /* */), string
// constants ('...' with '' inside; E'...' with backslash escapes, and plain
// '...' too when standard_conforming_strings is off; B'...', X'...', U&'...';
// a constant continued on a later line), quoted identifiers ("..."), and
// dollar quotes ($$...$$, $tag$...$tag$; a '$' inside an identifier, as in
// a$$, starts none). Multibyte characters are taken whole (PQmblen in the
// client encoding): in SJIS, BIG5, GBK and the other client-only encodings a
// later byte of a character can be a backslash, which the server, reading
// the text converted to its own encoding, never sees as one.
//
// A ';' inside BEGIN ATOMIC ... END (a SQL function body) ends a statement
// here, though not for the server: each reader of these tokens says why that
// errs in the direction that is safe for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace berth::postgres::detail {

/// How the server will read a text: the session's settings when it parses it.
struct sql_reading {
  /// standard_conforming_strings: when false a backslash escapes a quote in
  /// a plain '...' too, as always in E'...'.
  bool standard_strings = true;
  /// The client encoding (PQclientEncoding; libpq's numbering, as
  /// pg_char_to_encoding gives it), for the length of a multibyte character
  /// (PQmblen); 0, SQL_ASCII, reads a byte as a character.
  int encoding = 0;
};

enum class token_kind : std::uint8_t {
  end,          ///< past the last token; offset is the text's size
  word,         ///< an identifier or keyword (unquoted); text is its bytes
  semicolon,    ///< ends a statement
  open_paren,
  close_paren,
  other,        ///< a constant, quoted identifier, operator, number, parameter
};

struct token {
  token_kind kind = token_kind::end;
  std::string_view text;  ///< a word's text (a view into the lexed text); empty otherwise
  std::size_t offset = 0;  ///< of its first byte in the text
};

/// Whether word is the keyword upper (given in upper case), ASCII letters
/// compared case-insensitively (the server folds keywords so). Never allocates.
bool keyword(std::string_view word, std::string_view upper) noexcept;

/// The tokens of one text, in order (see the file comment). A text the
/// server cannot lex (an unterminated comment, constant or dollar quote)
/// runs nothing there; here that token runs to the end of the text.
/// Never reads outside the text. Distinct objects: safe. Shared objects: unsafe.
class sql_lexer {
 public:
  /// Reads sql, which must outlive the lexer. Never allocates.
  sql_lexer(std::string_view sql, const sql_reading& how) noexcept : s_(sql), how_(how) {}

  /// The next token; token_kind::end from then on once the text is read.
  /// Never allocates.
  token next() noexcept;

 private:
  std::size_t char_end(std::size_t i) const noexcept;
  bool skip_comment() noexcept;
  void skip_blank() noexcept;
  token word(std::size_t b) noexcept;
  std::size_t closing(std::size_t i, char quote, bool backslash, bool doubled) const noexcept;
  void string_constant(std::size_t q, bool backslash, bool doubled) noexcept;
  bool dollar_quote(std::size_t b) noexcept;

  std::string_view s_;
  sql_reading how_;
  std::size_t i_ = 0;  // the next byte to read
};

}  // namespace berth::postgres::detail
