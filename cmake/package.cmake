# package.cmake: the Debian package of berth's libraries and headers
# (libberth-dev), made by CPack from the install rules (cmake/install.cmake):
#   cmake --preset package && cmake --build --preset package && cpack --preset package
#   -> build/package/libberth-dev_<version>_<arch>.deb
# The package goes where the build installs: the package preset sets
# CMAKE_INSTALL_PREFIX=/usr (and so Debian's multiarch libdir). Depends
# names the -dev packages of what the libraries link: they are static
# archives, so a consumer's link needs those libraries and, for
# find_package(berth), their CMake packages. The minimum versions are the
# ones this build compiled against.

set(BERTH_PACKAGE_CONTACT "berth <berth@localhost>" CACHE STRING
    "Maintainer field of the .deb (name <email>)")

set(berth_deb_depends "libboost-stacktrace-dev (>= ${boost_stacktrace_backtrace_VERSION})")
if(TARGET berth_sqlite)
  find_package(SQLite3 REQUIRED)
  list(APPEND berth_deb_depends "libsqlite3-dev (>= ${SQLite3_VERSION})")
endif()
if(TARGET berth_postgres)
  find_package(PostgreSQL REQUIRED)
  list(APPEND berth_deb_depends "libpq-dev (>= ${PostgreSQL_VERSION_STRING})")
endif()
if(TARGET berth_asio)
  list(APPEND berth_deb_depends "libasio-dev (>= 1:1.22)")
endif()
if(TARGET berth_prometheus)
  # prometheus-cpp's CMake package has no version file: no minimum version.
  list(APPEND berth_deb_depends "prometheus-cpp-dev")
endif()
list(JOIN berth_deb_depends ", " CPACK_DEBIAN_PACKAGE_DEPENDS)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libberth-dev)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${BERTH_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "lock-free connection pool for C++20 services (static libraries, headers)")
list(JOIN berth_installed_components ", " berth_deb_components)
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "berth hands out connections with one CAS on the fast path.\n"
    "This package has the static libraries and headers of berth's\n"
    "components (${berth_deb_components}), the CMake package\n"
    "(find_package(berth CONFIG REQUIRED COMPONENTS ...)) and a pkg-config\n"
    "file per component (berth-<component>).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# Install with DESTDIR staging, so that the install step writes the .pc
# files for the package's real prefix rather than the staging directory.
set(CPACK_SET_DESTDIR ON)
include(CPack)
