# Warnings as an INTERFACE target, linked PRIVATE by every berth target so
# consumers of the static libraries never inherit -Werror.
add_library(berth_warnings INTERFACE)
target_compile_options(berth_warnings INTERFACE
  -Wall -Wextra -Werror -Wpedantic -Wshadow -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wconversion
  -Wsign-conversion -Wdouble-promotion -Wformat=2
  -Wimplicit-fallthrough)
