// sqlite_url_fuzzer.cpp: berth::sqlite::config_from_url (berth/sqlite/url.hpp)
// and the SQLite filename the adapter makes of its result, on arbitrary text.
//
// Invariants, beyond "no crash, no sanitizer report" (inputs that are no URL
// are url_parse_fuzzer's):
//   success  both overloads (text, parsed url) agree; the adapter's options
//            validate; in_memory exactly when the path starts with ":memory:"
//            (the rest its name), else the path is the URL's; the pragmas are
//            the pragma= values in order; readers= gives a database whose
//            options validate, else the pool options validate;
//   the SQLite filename (sqlite::adapter, built for every success: no file is
//            opened): a file path never starts with "file:", which Debian's
//            SQLite (SQLITE_USE_URI) would read as a URI with parameters of
//            its own; an in-memory one is exactly file:/<name>?vfs=memdb with
//            a name of [A-Za-z0-9._-] (nothing can add URI parameters), and
//            without pragmas its connection opens and validates;
//   failure  a url_error naming no parameter or one of the URL's at its
//            offset, whole, free of control characters; an options_error
//            only for a field no parameter sets;
//   markers  a password holding "QZJX" never shows it (fuzz_support.hpp).
#include "config_fuzz.hpp"
#include "fuzz_support.hpp"

#include <berth/sqlite/adapter.hpp>
#include <berth/sqlite/url.hpp>
#include <berth/url.hpp>
#include <berth/url_options.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using berth::url;
using berth::url_param;
namespace sqlite = berth::sqlite;

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

void check_filename(const sqlite::url_config& cfg) {
  sqlite::adapter a(cfg.adapter);
  const std::string& f = a.filename();
  if (!cfg.adapter.in_memory) {
    BERTH_FUZZ_CHECK(!f.starts_with("file:"), "SQLite reads this path as a URI: " + f);
    return;
  }
  const std::string& name = a.opts().name;
  BERTH_FUZZ_CHECK(!name.empty() && std::all_of(name.begin(), name.end(), name_char), "memdb name " + name);
  BERTH_FUZZ_CHECK(f == "file:/" + name + "?vfs=memdb", "memdb filename " + f);
  if (!cfg.adapter.pragmas.empty()) return;  // arbitrary PRAGMAs are not run here
  auto c = a.connect();
  BERTH_FUZZ_CHECK(c.has_value(), "an in-memory connection fails: " + (c ? std::string() : c.error().message));
  BERTH_FUZZ_CHECK(a.validate(*c).has_value(), "an in-memory connection does not validate");
  a.close(*c);
}

void check_success(const url& u, const sqlite::url_config& cfg) {
  BERTH_FUZZ_CHECK(!sqlite::validate(cfg.adapter).has_value(), "the adapter's options do not validate");
  const std::string& path = u.path();
  BERTH_FUZZ_CHECK(cfg.adapter.in_memory == path.starts_with(":memory:"), "in_memory and the path disagree");
  if (cfg.adapter.in_memory)
    BERTH_FUZZ_CHECK(cfg.adapter.name == path.substr(8) && cfg.adapter.path.empty(), "memory name");
  else
    BERTH_FUZZ_CHECK(cfg.adapter.path == path && cfg.adapter.name.empty(), "file path");
  std::vector<std::string> pragmas;
  for (const url_param& p : u.params())
    if (p.key == "pragma") pragmas.push_back(p.value);
  BERTH_FUZZ_CHECK(cfg.adapter.pragmas == pragmas, "pragmas");
  BERTH_FUZZ_CHECK(cfg.database.has_value() == (u.param("readers") != nullptr), "readers= and database disagree");
  if (cfg.database) {
    BERTH_FUZZ_CHECK(!sqlite::validate(*cfg.database).has_value(), "the database options do not validate");
    BERTH_FUZZ_CHECK(cfg.database->pragmas == pragmas && cfg.database->in_memory == cfg.adapter.in_memory,
                     "database and adapter options disagree");
  } else {
    BERTH_FUZZ_CHECK(!berth::validate(cfg.pool).has_value(), "the pool options do not validate");
  }
  check_filename(cfg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return berth_fuzz::run_config_target(
      std::string_view(reinterpret_cast<const char*>(data), size),
      [](const url& u) { return sqlite::config_from_url(u); },
      [](std::string_view text) { return sqlite::config_from_url(text); }, check_success, "sqlite::config_from_url");
}
