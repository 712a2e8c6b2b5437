// libpqxx_pool: several threads insert into and read from a PostgreSQL table
// through a berth pool of libpqxx connections (see libpqxx_pool.hpp).
//
//   libpqxx_pool [CONNINFO]   default: the environment variable BERTH_PG_CONNINFO
//   e.g. libpqxx_pool "host=127.0.0.1 dbname=app user=app password=..."
//
// Creates and drops the table berth_libpqxx_example. Prints the row count and
// the pool's statistics; exits 0 only if the count is exact, 1 if not, 2 on
// an error (no conninfo, server unreachable, ...).
#include "libpqxx_pool.hpp"

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string conninfo;
  if (argc == 2) {
    conninfo = argv[1];
  } else if (const char* env = std::getenv("BERTH_PG_CONNINFO"); argc == 1 && env != nullptr) {
    conninfo = env;
  } else {
    std::cerr << "usage: " << argv[0] << " CONNINFO   (or set BERTH_PG_CONNINFO)\n";
    return 2;
  }
  try {
    return berth_examples::libpqxx::run_example(conninfo, std::cout).ok() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "libpqxx_pool: " << e.what() << "\n";
    return 2;
  }
}
