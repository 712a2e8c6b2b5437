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
