// postgres_probe.hpp: what the service would run against PostgreSQL
// (berth::postgres), built when the consumer asks for that component. The
// packaging check only compiles and links it: it runs only when given a
// conninfo.
#pragma once

#include <string>

namespace consumer {

/// Runs SELECT 1 through a one-connection berth::postgres pool on conninfo
/// and says what came back; throws if no connection can be had.
std::string postgres_probe(const std::string& conninfo);

}  // namespace consumer
