# BERTH_COVERAGE: instrument berth's own targets for line coverage with gcov
# (the coverage preset; scripts/coverage runs the tests and reads the counters
# with gcovr). GCC 12 flags:
#   --coverage               -fprofile-arcs -ftest-coverage at compile, libgcov at link
#   -fprofile-update=atomic  counters incremented atomically: the tests run
#                            many threads through the same lines, and plain
#                            increments lose counts (a hit line can read 0)
#   -fprofile-abs-path       absolute source paths in the .gcno notes, so gcovr
#                            maps every object back to the tree whatever its
#                            build directory
# Not with a sanitizer (their runtimes and libgcov do not mix well, and the
# numbers come from the plain debug build) and GCC only (gcov's format).
option(BERTH_COVERAGE "Instrument berth's targets for gcov line coverage (the coverage preset)" OFF)
if(BERTH_COVERAGE)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    message(FATAL_ERROR "BERTH_COVERAGE needs GCC (gcov), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(BERTH_SANITIZER)
    message(FATAL_ERROR "BERTH_COVERAGE and BERTH_SANITIZER=${BERTH_SANITIZER} do not go together")
  endif()
  add_compile_options(--coverage -fprofile-update=atomic -fprofile-abs-path)
  add_link_options(--coverage)
endif()
