// open.cpp: see open.hpp.
#include <berth/open.hpp>

#if BERTH_OPEN_WITH_SQLITE
#include <berth/sqlite/url.hpp>
#endif
#if BERTH_OPEN_WITH_POSTGRES
#include <berth/postgres/url.hpp>
#endif

#include <array>

namespace berth {
namespace {

using namespace std::string_view_literals;

constexpr std::array schemes = {
#if BERTH_OPEN_WITH_SQLITE
    "sqlite"sv,
#endif
#if BERTH_OPEN_WITH_POSTGRES
    "postgresql"sv, "postgres"sv,
#endif
};  // never empty: the top level adds berth::open only with an adapter

std::string schemes_text() {
  std::string s;
  for (const std::string_view k : open_schemes()) s.append(s.empty() ? "" : ", ").append(k);
  return s;
}

}  // namespace

std::span<const std::string_view> open_schemes() noexcept {
  return schemes;
}

void open_pool(registry& reg, std::string name, std::string_view text, const pool_options& base) {
  const url u = url::parse(text);
  const std::string& s = u.scheme();
#if BERTH_OPEN_WITH_SQLITE
  if (s == "sqlite") return sqlite::emplace_from_url(reg, std::move(name), u, base);
#endif
#if BERTH_OPEN_WITH_POSTGRES
  if (s == "postgresql" || s == "postgres") return postgres::emplace_from_url(reg, std::move(name), u, base);
#endif
  if (s == "sqlite" || s == "postgresql" || s == "postgres")
    throw u.error("scheme \"" + s + "\" needs berth::" + (s == "sqlite" ? "sqlite" : "postgres") +
                  ", which this build of berth does not have (it opens: " + schemes_text() + ")");
  throw u.error("unknown scheme \"" + s + "\" (berth opens: " + schemes_text() + ")");
}

}  // namespace berth
