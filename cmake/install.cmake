# install.cmake: berth's install rules, included by the top-level
# CMakeLists.txt when BERTH_INSTALL is on (the default for a top-level build).
# For each library that was built (core always; sqlite and postgres when
# their dependency was found or required; open with either adapter; asio when
# Asio was found; prometheus when prometheus-cpp was found):
#   <includedir>/berth/...                      its public headers
#   <libdir>/libberth_<c>.a                     the static library
#   <libdir>/cmake/berth/berth-<c>-targets.cmake   the imported target berth::<c>
#   <libdir>/pkgconfig/berth-<c>.pc             for projects that do not use CMake
# plus <libdir>/cmake/berth/berth-config.cmake and its version file, for
# find_package(berth CONFIG REQUIRED COMPONENTS core sqlite postgres open asio prometheus).
# The CMake package is relocatable (paths relative to itself); a .pc file
# names the prefix it was installed to. Uninstall: xargs rm < install_manifest.txt.

if(BERTH_SANITIZER)
  message(STATUS "berth: BERTH_SANITIZER=${BERTH_SANITIZER}; no install rules "
                 "(instrumented libraries would need the same flags in every consumer)")
  return()
endif()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(berth_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/berth")
set(berth_pc_stage "${PROJECT_BINARY_DIR}/pkgconfig")
# The .pc files' libdir and includedir: under ${prefix} unless set absolute.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(BERTH_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(BERTH_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()

# berth_install_library(<c> DESCRIPTION <text> [HEADER_ONLY] [PC_REQUIRES <module>...] [PC_LIBS <flag>...]):
# installs berth_<c> (its headers, library unless HEADER_ONLY, export set and
# .pc file) and adds <c> to berth_installed_components.
function(berth_install_library component)
  cmake_parse_arguments(PARSE_ARGV 1 arg "HEADER_ONLY" "DESCRIPTION" "PC_REQUIRES;PC_LIBS")
  set(target berth_${component})
  get_target_property(source_dir ${target} SOURCE_DIR)
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${component})
  install(TARGETS ${target} EXPORT berth-${component}-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY ${source_dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.hpp")
  install(EXPORT berth-${component}-targets NAMESPACE berth:: DESTINATION ${berth_cmake_dir})

  # The .pc file in two passes: the project's values now, the prefix at
  # install time (so that `cmake --install --prefix DIR` and CPack's DESTDIR
  # staging each get the right one).
  set(BERTH_PC_NAME ${component})
  set(BERTH_PC_DESCRIPTION "${arg_DESCRIPTION}")
  list(JOIN arg_PC_REQUIRES ", " BERTH_PC_REQUIRES)
  list(JOIN arg_PC_LIBS " " BERTH_PC_LIBS)
  if(NOT arg_HEADER_ONLY)
    string(STRIP "-L\${libdir} -lberth_${component} ${BERTH_PC_LIBS}" BERTH_PC_LIBS)
  endif()
  set(BERTH_PC_PREFIX "@BERTH_PC_PREFIX@")  # kept for the second pass
  set(pc "${berth_pc_stage}/berth-${component}.pc")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/berth.pc.in ${pc}.in @ONLY)
  install(CODE "
    cmake_path(ABSOLUTE_PATH CMAKE_INSTALL_PREFIX NORMALIZE OUTPUT_VARIABLE BERTH_PC_PREFIX)
    configure_file(\"${pc}.in\" \"${pc}\" @ONLY)")
  install(FILES ${pc} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

  set(berth_installed_components ${berth_installed_components} ${component} PARENT_SCOPE)
endfunction()

# What berth::core links: Threads, Boost.Stacktrace's libbacktrace backend
# (a shared library; found again here because core/'s imported target is
# scoped to that directory) and the dynamic loader's library.
find_package(boost_stacktrace_backtrace REQUIRED CONFIG)
get_target_property(berth_boost_stacktrace Boost::stacktrace_backtrace LOCATION)
cmake_path(GET berth_boost_stacktrace PARENT_PATH berth_boost_stacktrace_dir)
set(berth_core_pc_libs -L${berth_boost_stacktrace_dir} -lboost_stacktrace_backtrace)
foreach(lib IN LISTS CMAKE_DL_LIBS)
  list(APPEND berth_core_pc_libs -l${lib})
endforeach()
list(APPEND berth_core_pc_libs -pthread)

set(berth_installed_components "")
berth_install_library(core DESCRIPTION "berth: a lock-free connection pool for C++20 services"
                      PC_LIBS ${berth_core_pc_libs})
if(TARGET berth_sqlite)
  berth_install_library(sqlite DESCRIPTION "berth's SQLite adapter (berth::sqlite)"
                        PC_REQUIRES berth-core sqlite3)
endif()
if(TARGET berth_postgres)
  berth_install_library(postgres DESCRIPTION "berth's PostgreSQL adapter (berth::postgres, libpq)"
                        PC_REQUIRES berth-core libpq)
endif()
if(TARGET berth_open)
  # Links the adapters it dispatches to (PUBLIC): the package config loads
  # them with it (BERTH_OPEN_ADAPTERS).
  set(berth_open_pc_requires berth-core)
  foreach(adapter IN LISTS BERTH_OPEN_ADAPTERS)
    list(APPEND berth_open_pc_requires berth-${adapter})
  endforeach()
  berth_install_library(open DESCRIPTION "berth's URL dispatcher (berth::open): a pool from sqlite: or postgresql:// URLs"
                        PC_REQUIRES ${berth_open_pc_requires})
endif()
if(TARGET berth_asio)
  # Header-only; standalone Asio has no CMake package or .pc file: the
  # package config finds its headers again (berth-config.cmake.in).
  berth_install_library(asio HEADER_ONLY DESCRIPTION "berth's Asio integration (berth::asio, standalone Asio)"
                        PC_REQUIRES berth-core)
endif()
if(TARGET berth_prometheus)
  berth_install_library(prometheus DESCRIPTION "berth's Prometheus metrics (berth::prometheus, prometheus-cpp)"
                        PC_REQUIRES berth-core prometheus-cpp-core)
endif()

# The package: berth-config.cmake loads the requested components' targets
# after finding their dependencies with the versions this build used.
set(BERTH_INSTALLED_COMPONENTS "${berth_installed_components}")
set(BERTH_BOOST_STACKTRACE_VERSION "${boost_stacktrace_backtrace_VERSION}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/berth-config.cmake.in
  ${PROJECT_BINARY_DIR}/berth-config.cmake
  INSTALL_DESTINATION ${berth_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/berth-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/berth-config.cmake ${PROJECT_BINARY_DIR}/berth-config-version.cmake
        DESTINATION ${berth_cmake_dir})
list(JOIN berth_installed_components ", " berth_components_text)
message(STATUS "berth: install rules for ${berth_components_text} (prefix ${CMAKE_INSTALL_PREFIX})")

# The .deb of what these rules install (cpack --preset package).
include(${PROJECT_SOURCE_DIR}/cmake/package.cmake)
