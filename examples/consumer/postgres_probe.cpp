#include "postgres_probe.hpp"

#include <berth/pool.hpp>
#include <berth/postgres/adapter.hpp>
#include <berth/postgres/connection.hpp>

#include <cstdint>

namespace consumer {

std::string postgres_probe(const std::string& conninfo) {
  berth::pool<berth::postgres::adapter> pool{berth::postgres::adapter{{.conninfo = conninfo}},
                                            {.name = "probe", .max_size = 1}};
  const auto one = pool.with([](berth::postgres::connection& c) {
    return c.execute("SELECT 1").value().get<std::int64_t>(0, 0);
  });
  return "SELECT 1 returned " + std::to_string(one);
}

}  // namespace consumer
