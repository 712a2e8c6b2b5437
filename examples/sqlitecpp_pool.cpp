// sqlitecpp_pool: several threads insert into and read from one SQLite file
// through a berth pool of SQLiteCpp connections (see sqlitecpp_pool.hpp).
//
//   sqlitecpp_pool [DIR]   DIR: where example.db goes (created if missing);
//                          default: a fresh temporary directory, deleted at exit
//
// Prints the row count and the pool's statistics; exits 0 only if the count
// is exact, 1 if not, 2 on an error.
#include "sqlitecpp_pool.hpp"

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <unistd.h>

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc > 2) {
    std::cerr << "usage: " << argv[0] << " [DIR]\n";
    return 2;
  }
  fs::path dir;
  bool owned = false;  // a directory made here is deleted at exit
  try {
    if (argc == 2) {
      dir = argv[1];
    } else {
      std::string tmpl = (fs::temp_directory_path() / "berth-sqlitecpp-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
      dir = tmpl;
      owned = true;
    }
    const auto r = berth_examples::sqlitecpp::run_example(dir, std::cout);
    if (owned) fs::remove_all(dir);
    return r.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "sqlitecpp_pool: " << e.what() << "\n";
    if (owned) {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
    return 2;
  }
}
