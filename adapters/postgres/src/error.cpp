// error.cpp: see error.hpp.
#include <berth/postgres/error.hpp>

#include <cctype>
#include <cstddef>
#include <vector>

namespace berth::postgres {
namespace {

constexpr int sqlstate_bits = 6;

const char* sqlstate_name(std::string_view s) noexcept {
  struct entry {
    const char* code;
    const char* name;
  };
  static constexpr entry names[] = {
      {"08000", "connection_exception"},    {"08001", "sqlclient_unable_to_establish_sqlconnection"},
      {"08003", "connection_does_not_exist"}, {"08006", "connection_failure"},
      {"23502", "not_null_violation"},      {"23503", "foreign_key_violation"},
      {"23505", "unique_violation"},        {"23514", "check_violation"},
      {"25P02", "in_failed_sql_transaction"}, {"28P01", "invalid_password"},
      {"3D000", "invalid_catalog_name"},    {"40001", "serialization_failure"},
      {"40P01", "deadlock_detected"},       {"42601", "syntax_error"},
      {"42P01", "undefined_table"},         {"57014", "query_canceled"},
      {"57P01", "admin_shutdown"},          {"57P02", "crash_shutdown"},
      {"57P03", "cannot_connect_now"},
      {"22003", "numeric_value_out_of_range"}, {"22004", "null_value_not_allowed"},
      {"22023", "invalid_parameter_value"}, {"22P02", "invalid_text_representation"},
      {"25000", "invalid_transaction_state"}, {"26000", "invalid_sql_statement_name"},
      {"28000", "invalid_authorization_specification"}, {"42703", "undefined_column"},
      {"42804", "datatype_mismatch"},       {"53300", "too_many_connections"},
      {"55000", "object_not_in_prerequisite_state"}, {"55P03", "lock_not_available"},
  };
  for (const auto& e : names)
    if (s == e.code) return e.name;
  return nullptr;
}

/// The SQLSTATE classes of the file comment in error.hpp. Never allocates.
bool classify(int v, db_errc c) noexcept {
  const std::string s = decode_sqlstate(v);
  if (s.size() != 5) return false;
  switch (c) {
    case db_errc::retryable:
      // 55P03: lock_timeout or NOWAIT gave up on a lock another session
      // holds: contention, as a deadlock is.
      return s == "40001" || s == "40P01" || s == "55P03";
    case db_errc::connection_lost:
      // 08P01 protocol_violation is also the server's plain ERROR for a
      // call it cannot take (a Bind with the wrong number of parameters),
      // after which the session goes on; when the server does end the
      // session over it, the connection's status says so and the adapter
      // reports 08006 (connection.cpp, note_failure).
      return (s.starts_with("08") && s != "08P01") || s == "57P01" || s == "57P02" || s == "57P03";
    case db_errc::constraint_violation:
      return s.starts_with("23");
    case db_errc::timeout:
      return s == "57014";
    case db_errc::resource_exhausted:
      return s.starts_with("53");
  }
  return false;
}

class postgres_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "postgres"; }
  std::string message(int v) const override {
    const std::string s = decode_sqlstate(v);
    if (s.empty()) return "not a SQLSTATE (" + std::to_string(v) + ")";
    const char* n = sqlstate_name(s);
    return "SQLSTATE " + s + (n != nullptr ? std::string(" ") + n : std::string());
  }
  bool equivalent(int code, const std::error_condition& cond) const noexcept override {
    if (cond.category() != db_category()) return default_error_condition(code) == cond;
    return classify(code, static_cast<db_errc>(cond.value()));
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const postgres_category c;
  return c;
}

int encode_sqlstate(std::string_view s) noexcept {
  if (s.size() != 5) return 0;
  int v = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    const char ch = s[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z'))) return 0;
    v |= ((ch - '0') & 0x3F) << (sqlstate_bits * static_cast<int>(i));
  }
  return v;
}

std::string decode_sqlstate(int v) {
  if (v < 0 || v >= (1 << (5 * sqlstate_bits))) return {};
  std::string s(5, '0');
  for (std::size_t i = 0; i < 5; ++i) {
    const char ch = static_cast<char>('0' + ((v >> (sqlstate_bits * static_cast<int>(i))) & 0x3F));
    if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z'))) return {};
    s[i] = ch;
  }
  return s;
}

std::error_code make_sqlstate_error(std::string_view s) noexcept { return {encode_sqlstate(s), error_category()}; }

bool is_retryable(const std::error_code& ec) noexcept { return ec == db_errc::retryable; }
bool is_connection_lost(const std::error_code& ec) noexcept { return ec == db_errc::connection_lost; }
bool is_constraint_violation(const std::error_code& ec) noexcept { return ec == db_errc::constraint_violation; }
bool is_canceled(const std::error_code& ec) noexcept { return ec == db_errc::timeout; }

std::string redact_password(std::string_view text) {
  std::string out(text);
  // key=value pairs: password = 'quoted \' value' or password=bare
  for (std::size_t pos = 0;;) {
    std::size_t k = std::string::npos;
    for (std::size_t i = pos; i + 8 <= out.size(); ++i) {
      bool match = true;
      for (std::size_t j = 0; j < 8 && match; ++j)
        match = std::tolower(static_cast<unsigned char>(out[i + j])) == "password"[j];
      if (match) {
        k = i;
        break;
      }
    }
    if (k == std::string::npos) break;
    std::size_t i = k + 8;
    while (i < out.size() && out[i] == ' ') ++i;
    if (i >= out.size() || out[i] != '=') {
      pos = k + 8;
      continue;
    }
    ++i;
    while (i < out.size() && out[i] == ' ') ++i;
    std::size_t end = i;
    if (end < out.size() && out[end] == '\'') {
      for (++end; end < out.size() && out[end] != '\''; ++end)
        if (out[end] == '\\') ++end;
      end = end < out.size() ? end + 1 : out.size();
    } else {
      while (end < out.size() && std::isspace(static_cast<unsigned char>(out[end])) == 0 && out[end] != '&')
        ++end;
    }
    out.replace(i, end - i, "***");
    pos = i + 3;
  }
  // URIs: scheme://user:password@host
  for (std::size_t pos = 0;;) {
    const std::size_t s = out.find("://", pos);
    if (s == std::string::npos) break;
    const std::size_t auth = s + 3;
    std::size_t end = auth;
    while (end < out.size() && out[end] != '/' && out[end] != '?' && out[end] != '@' &&
           std::isspace(static_cast<unsigned char>(out[end])) == 0)
      ++end;
    pos = auth;
    if (end >= out.size() || out[end] != '@') continue;
    const std::size_t colon = out.find(':', auth);
    if (colon == std::string::npos || colon > end) continue;
    out.replace(colon + 1, end - colon - 1, "***");
  }
  return out;
}

namespace {

/// Position of the first case-insensitive "password" in text, or npos.
std::size_t find_password_word(std::string_view text, std::size_t from = 0) noexcept {
  constexpr std::string_view word = "password";
  for (std::size_t i = from; i + word.size() <= text.size(); ++i) {
    std::size_t j = 0;
    while (j < word.size() && std::tolower(static_cast<unsigned char>(text[i + j])) == word[j]) ++j;
    if (j == word.size()) return i;
  }
  return std::string_view::npos;
}

/// The user:password@ part of a URI conninfo, read as loosely as a typo
/// needs: from "://" to the last '@' in the whole string. "" when none.
std::string_view uri_password(std::string_view conninfo) noexcept {
  const std::size_t s = conninfo.find("://");
  if (s == std::string_view::npos) return {};
  const std::size_t at = conninfo.rfind('@');
  if (at == std::string_view::npos || at < s + 3) return {};
  const std::string_view userinfo = conninfo.substr(s + 3, at - s - 3);
  const std::size_t colon = userinfo.find(':');
  return colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1);
}

/// What conninfo gives as a password, loosely: each "password" keyword's
/// value up to the next '&' or the end of its line, and the URI's.
std::vector<std::string_view> password_values(std::string_view conninfo) {
  std::vector<std::string_view> out;
  if (const std::string_view u = uri_password(conninfo); !u.empty()) out.push_back(u);
  for (std::size_t k = find_password_word(conninfo); k != std::string_view::npos;
       k = find_password_word(conninfo, k + 8)) {
    std::size_t i = k + 8;
    while (i < conninfo.size() && (conninfo[i] == ' ' || conninfo[i] == '=')) ++i;
    std::size_t end = i;
    while (end < conninfo.size() && conninfo[end] != '&' && conninfo[end] != '\n') ++end;
    if (end > i) out.push_back(conninfo.substr(i, end - i));
  }
  return out;
}

/// Replaces every occurrence of `piece` in out by "***".
void blank(std::string& out, std::string_view piece) {
  if (piece.empty()) return;
  for (std::size_t p = out.find(piece); p != std::string::npos; p = out.find(piece, p + 3))
    out.replace(p, piece.size(), "***");
}

/// s with the text of every token quoted by one of `quotes` replaced by
/// "***" ("x": one character, such as "=", stays), and all after a quote
/// that is not closed, where nothing is safe.
std::string blank_quoted_tokens(std::string_view s, std::string_view quotes) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (quotes.find(s[i]) == std::string_view::npos) {
      out += s[i++];
      continue;
    }
    const char q = s[i];
    const std::size_t close = s.find(q, i + 1);
    if (close == std::string_view::npos) {
      (out += q) += "***";
      break;
    }
    if (close - i - 1 >= 2)
      ((out += q) += "***") += q;
    else
      out.append(s, i, close - i + 1);
    i = close + 1;
  }
  return out;
}

}  // namespace

std::string redact_statement_message(std::string_view message, std::string_view sql) {
  if (redact_sql_password(sql) == sql) return std::string(message);
  return blank_quoted_tokens(message, "\"'");
}

std::string redact_conninfo_message(std::string_view message, std::string_view conninfo, bool blank_quoted) {
  std::string out = redact_password(message);
  if (find_password_word(conninfo) == std::string_view::npos && uri_password(conninfo).empty()) return out;
  std::string quoted = blank_quoted ? blank_quoted_tokens(out, "\"") : std::move(out);
  // Unquoted pieces: the value whole, then cut where libpq cuts tokens.
  for (const std::string_view v : password_values(conninfo)) {
    blank(quoted, v);
    std::size_t b = 0;
    for (std::size_t e = 0; e <= v.size(); ++e) {
      if (e < v.size() && std::string_view(" \t?#/&'\"%@").find(v[e]) == std::string_view::npos) continue;
      if (e - b >= 2) blank(quoted, v.substr(b, e - b));
      b = e + 1;
    }
  }
  return quoted;
}

std::string error::sqlstate() const {
  return code.category() == error_category() ? decode_sqlstate(code.value()) : std::string();
}

postgres_error::postgres_error(std::error_code code, std::string message, std::string sql)
    : db_error(code, std::move(message), std::move(sql), what_source),
      sqlstate_(code.category() == error_category() ? decode_sqlstate(code.value()) : std::string()) {}

void throw_exception(const error& e) { throw_db_error<postgres_error>(e.code, e.message); }

}  // namespace berth::postgres
