# Warnings as an INTERFACE target, linked PRIVATE by every berth target so
# consumers of the static libraries never inherit them (and, being a build
# detail, it is linked as $<BUILD_INTERFACE:berth_warnings> by the installed
# libraries). -Werror only where berth is the top-level project: in a
# subproject a newer compiler's new warning must not break the user's build.
option(BERTH_WARNINGS_AS_ERRORS "Compile berth's own code with -Werror" ${PROJECT_IS_TOP_LEVEL})
add_library(berth_warnings INTERFACE)
target_compile_options(berth_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wconversion
  -Wsign-conversion -Wdouble-promotion -Wformat=2
  -Wimplicit-fallthrough)
if(BERTH_WARNINGS_AS_ERRORS)
  target_compile_options(berth_warnings INTERFACE -Werror)
endif()
# GCC 12 reports false -Wrestrict errors inside libstdc++'s std::string when
# it inlines `"literal" + std::string&&` at -O3 (GCC bug 105329, fixed in
# GCC 13; Debian bookworm ships 12.2): the release preset's build of the
# tests failed on three such lines, and the warning names no line of ours.
# Off for GCC 12 only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(berth_warnings INTERFACE -Wno-restrict)
endif()
