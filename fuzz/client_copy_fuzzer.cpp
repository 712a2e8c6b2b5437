// client_copy_fuzzer.cpp: the PostgreSQL adapter's readers of SQL text,
// detail::find_client_copy (adapters/postgres/src/client_copy.hpp) and
// detail::chains (transaction_chain.hpp), and so the tokenizer under both
// (sql_lexer.hpp), on arbitrary text in each reading the server can give it.
//
// Input: one flag byte, then the text. The flag's low bit is
// standard_conforming_strings (1: on); the rest, modulo the number of
// encodings libpq knows, the client encoding (libpq's numbering: 0 SQL_ASCII,
// 6 UTF8, 35 SJIS, 36 BIG5, 37 GBK, 39 GB18030, ...). The text is read from
// a buffer of exactly its size, as every text below, so that a read past its
// end is an AddressSanitizer report.
//
// Invariants, beyond "no crash, no sanitizer report":
//   found    the offset lies inside the text and points at the letters COPY
//            (any case); the text from the offset on is a COPY at offset 0,
//            in the same direction (the lexer keeps no state between
//            tokens, and the COPY began a statement); the text before the
//            offset holds none (its tokens are the same, and the statement
//            before the COPY ended with a ';');
//   readings a text without a backslash or a byte >= 0x80 reads the same in
//            every reading (the settings and the encoding bear only on those);
//   case     a text without a '$' (dollar-quote tags are case-sensitive)
//            reads the same with its ASCII letters in upper case (keywords
//            fold; no length or lexing rule depends on a letter's case);
//   chains   the same for detail::chains, which is true only for a text that
//            spells AND and CHAIN somewhere.
#include "fuzz_support.hpp"

#include "client_copy.hpp"
#include "transaction_chain.hpp"

#include <libpq-fe.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace detail = berth::postgres::detail;

/// text in a heap buffer of exactly its size (a read past its end is an
/// AddressSanitizer report); the view is valid while the buffer lives.
struct exact {
  explicit exact(std::string_view text) : bytes(new char[text.size()]), size(text.size()) {
    text.copy(bytes.get(), size);
  }
  std::string_view view() const noexcept { return {bytes.get(), size}; }
  std::unique_ptr<char[]> bytes;
  std::size_t size;
};

std::optional<detail::client_copy> find_exact(std::string_view text, const detail::sql_reading& how) {
  const exact e(text);
  return detail::find_client_copy(e.view(), how);
}

bool chains_exact(std::string_view text, const detail::sql_reading& how) {
  const exact e(text);
  return detail::chains(e.view(), how);
}

int encodings_libpq_knows() {
  int n = 0;
  while (*pg_encoding_to_char(n) != '\0') ++n;
  return n;
}

bool same(const std::optional<detail::client_copy>& a, const std::optional<detail::client_copy>& b) {
  return a.has_value() == b.has_value() && (!a || (a->offset == b->offset && a->from_client == b->from_client));
}

std::string describe(const std::optional<detail::client_copy>& c) {
  if (!c) return "none";
  return std::string(c->from_client ? "from" : "to") + " the client at " + std::to_string(c->offset);
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

void check_found(std::string_view text, const detail::sql_reading& how, const detail::client_copy& c) {
  const std::string at = " (offset " + std::to_string(c.offset) + " in " + std::to_string(text.size()) + " bytes)";
  BERTH_FUZZ_CHECK(c.offset < text.size() && text.size() - c.offset >= 4, "offset past the text" + at);
  BERTH_FUZZ_CHECK(upper(text.substr(c.offset, 4)) == "COPY", "the offset is not at COPY: " +
                                                                  std::string(text.substr(c.offset, 4)) + at);
  const auto rest = find_exact(text.substr(c.offset), how);
  BERTH_FUZZ_CHECK(rest && rest->offset == 0 && rest->from_client == c.from_client,
                   "the text from the COPY on reads " + describe(rest) + at);
  const auto before = find_exact(text.substr(0, c.offset), how);
  BERTH_FUZZ_CHECK(!before, "the text before the COPY reads " + describe(before) + at);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const int encodings = encodings_libpq_knows();
  const detail::sql_reading how{(data[0] & 1) != 0, (data[0] >> 1) % encodings};
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  const auto found = find_exact(text, how);
  if (found) check_found(text, how, *found);
  const bool chained = chains_exact(text, how);
  if (chained) {
    const std::string u = upper(text);
    BERTH_FUZZ_CHECK(u.find("AND") != std::string::npos && u.find("CHAIN") != std::string::npos,
                     "a chain without the words AND CHAIN");
  }

  bool plain = true;
  for (const char c : text) plain = plain && c != '\\' && static_cast<unsigned char>(c) < 0x80;
  if (plain) {
    const detail::sql_reading simplest{};
    const auto other = find_exact(text, simplest);
    BERTH_FUZZ_CHECK(same(found, other), "reading " + describe(found) + ", yet " + describe(other) +
                                             " with standard_conforming_strings on in SQL_ASCII");
    BERTH_FUZZ_CHECK(chained == chains_exact(text, simplest), "chains() depends on the reading of a plain text");
  }
  if (text.find('$') == std::string_view::npos) {
    const std::string u = upper(text);
    const auto folded = find_exact(u, how);
    BERTH_FUZZ_CHECK(same(found, folded), "reading " + describe(found) + ", yet " + describe(folded) +
                                              " with the letters in upper case");
    BERTH_FUZZ_CHECK(chained == chains_exact(u, how), "chains() depends on the case of the letters");
  }
  return 0;
}
