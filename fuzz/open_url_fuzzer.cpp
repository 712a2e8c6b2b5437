// open_url_fuzzer.cpp: berth::open_pool (berth/open.hpp), the dispatch from a
// URL's scheme to the adapter that makes a pool or database of it, on
// arbitrary text.
//
// open_pool opens what the URL names, so it runs here only where that is
// harmless: a sqlite: URL the adapter accepts that names an in-memory
// database (no file), has no pragma= (no arbitrary PRAGMA) and a small pool;
// and every URL that must fail before anything is opened. Invariants,
// beyond "no crash, no sanitizer report, no leak":
//   - a URL berth::url::parse rejects: open_pool throws the same url_error;
//   - a scheme other than sqlite, postgresql, postgres: a url_error saying
//     "unknown scheme", naming no parameter;
//   - a sqlite: or postgresql:// URL its adapter's config_from_url rejects:
//     open_pool throws the same message;
//   - on any failure nothing is added to the registry;
//   - an in-memory sqlite: URL: the registry holds a pool (or with readers=,
//     a database) named as the URL says (name=) or else as open_pool was
//     told, whose options are config_from_url's;
//   - markers: a password holding "QZJX" never shows it (fuzz_support.hpp).
#include "fuzz_support.hpp"

#include <berth/open.hpp>
#include <berth/pool.hpp>
#include <berth/postgres/url.hpp>
#include <berth/registry.hpp>
#include <berth/sqlite/database.hpp>
#include <berth/sqlite/url.hpp>
#include <berth/url.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using berth::url;
using berth::url_error;
using berth_fuzz::error_of;


/// open_pool(text) must throw exactly `expected`, adding nothing.
void expect_failure(std::string_view text, const std::string& expected, bool markers) {
  berth::registry reg;
  const auto got = error_of([&] { berth::open_pool(reg, "fuzz", text); });
  BERTH_FUZZ_CHECK(got.has_value(), "open_pool accepts what its adapter rejects: " + expected);
  BERTH_FUZZ_CHECK(*got == expected, "open_pool says \"" + *got + "\", its adapter \"" + expected + "\"");
  BERTH_FUZZ_CHECK(reg.names().empty(), "open_pool failed but added an entry");
  BERTH_FUZZ_CHECK_MESSAGE(*got);
  if (markers) BERTH_FUZZ_CHECK_NO_MARKER(*got, "open_pool");
}

/// Whether opening what cfg describes stays in memory and small.
bool harmless(const berth::sqlite::url_config& cfg) {
  if (!cfg.adapter.in_memory || !cfg.adapter.pragmas.empty()) return false;
  if (cfg.database) return cfg.database->readers <= 2;
  return cfg.pool.min_idle <= 2 && cfg.pool.max_size <= 16 && cfg.pool.max_size_limit <= 16 &&
         cfg.pool.min_idle_ceiling <= 2;
}

void open_in_memory(std::string_view text, const url& u, const berth::sqlite::url_config& cfg) {
  berth::registry reg;
  try {
    berth::open_pool(reg, "fuzz", text);
  } catch (const std::system_error& e) {
    berth_fuzz::fail("an in-memory sqlite: URL opens", e.what(), __FILE__, __LINE__);
  }
  BERTH_FUZZ_CHECK(reg.names() == std::vector<std::string>{"fuzz"}, "open_pool adds exactly one entry");
  const berth::url_param* name = u.param("name");
  if (cfg.database) {
    const auto db = reg.get<berth::sqlite::database>("fuzz");
    BERTH_FUZZ_CHECK(db->options().pool_name == (name ? name->value : std::string("fuzz")), "database name");
    BERTH_FUZZ_CHECK(db->options().readers == cfg.database->readers, "readers");
  } else {
    const auto p = reg.get<berth::pool<berth::sqlite::adapter>>("fuzz");
    BERTH_FUZZ_CHECK(p->options().name == (name ? name->value : std::string("fuzz")), "pool name");
    BERTH_FUZZ_CHECK(p->options().max_size == cfg.pool.max_size && p->options().min_idle == cfg.pool.min_idle,
                     "pool size");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  url u;
  try {
    u = url::parse(text);
  } catch (const url_error& e) {
    expect_failure(text, e.what(), false);  // url_parse_fuzzer checks the parser's own markers
    return 0;
  }
  const bool markers = berth_fuzz::marker_only_in_passwords(u);
  const std::string& s = u.scheme();
  if (s == "sqlite") {
    std::optional<berth::sqlite::url_config> cfg;
    const auto e = error_of([&] { cfg = berth::sqlite::config_from_url(u); });
    if (e)
      expect_failure(text, *e, markers);
    else if (harmless(*cfg))
      open_in_memory(text, u, *cfg);
  } else if (s == "postgresql" || s == "postgres") {
    const auto e = error_of([&] { (void)berth::postgres::config_from_url(u); });
    if (e) expect_failure(text, *e, markers);  // an accepted one would connect: not here
  } else {
    berth::registry reg;
    try {
      berth::open_pool(reg, "fuzz", text);
      berth_fuzz::fail("open_pool accepts an unknown scheme", s, __FILE__, __LINE__);
    } catch (const url_error& e) {
      const std::string what = e.what();
      BERTH_FUZZ_CHECK(what.find("unknown scheme \"" + s + "\"") != std::string::npos, "unknown scheme: " + what);
      BERTH_FUZZ_CHECK(e.parameter().empty(), "a scheme error names a parameter: " + what);
      BERTH_FUZZ_CHECK(reg.names().empty(), "open_pool failed but added an entry");
      BERTH_FUZZ_CHECK_MESSAGE(what);
      if (markers) BERTH_FUZZ_CHECK_NO_MARKER(what, "open_pool");
    }
  }
  return 0;
}
