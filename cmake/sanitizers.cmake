# BERTH_SANITIZER: "" (none), "thread", "address" (AddressSanitizer +
# UndefinedBehaviorSanitizer) or "fuzzer" (Clang only: address + undefined
# plus libFuzzer's coverage instrumentation, -fsanitize=fuzzer-no-link, on
# every berth target; the fuzz/ binaries add -fsanitize=fuzzer, libFuzzer's
# main, at link: see fuzz/CMakeLists.txt and the fuzz preset).
set(BERTH_SANITIZER "" CACHE STRING "Sanitizer build: thread | address | fuzzer | empty")
set_property(CACHE BERTH_SANITIZER PROPERTY STRINGS "" thread address fuzzer)

# Debug information is -g1 (functions and line tables, no variables): what a
# sanitizer report's stack needs. Full -g made each test file take 40% longer
# to compile, and the sanitizer builds are most of CI's time (measured on
# tests/core/pool_test.cpp, GCC 12, 2 cores: tsan -O2 -g 36 s, -O1 -g1 16 s).
if(BERTH_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(BERTH_TSAN=1)
elseif(BERTH_SANITIZER STREQUAL "address")
  # UBSan without its null, alignment and vptr checks: at -O0 GCC puts them
  # on every member access, which doubled the compile time of a test file
  # (pool_test.cpp: ASan alone 14 s, + all of UBSan 33 s, + the rest 18 s).
  # ASan reports a null dereference itself; the checks that find berth's
  # arithmetic mistakes (signed overflow, shifts, bounds, float casts, bool
  # and enum loads, pointer overflow) stay, and the fuzz stage runs all of
  # UBSan under Clang.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=null,alignment,vptr
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(BERTH_ASAN=1)
elseif(BERTH_SANITIZER STREQUAL "fuzzer")
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BERTH_SANITIZER=fuzzer needs Clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: "
                        "use the fuzz preset (clang++-15)")
  endif()
  # -fno-sanitize-recover=all: a UBSan report stops the run, so libFuzzer
  # keeps the input as a crasher instead of printing and going on.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(BERTH_ASAN=1)
elseif(NOT BERTH_SANITIZER STREQUAL "")
  message(FATAL_ERROR "BERTH_SANITIZER must be empty, 'thread', 'address' or 'fuzzer', not '${BERTH_SANITIZER}'")
endif()

# berth_asio_consumer(target): what a target that compiles Asio needs in
# berth's own builds. Under TSan: -Wno-tsan, because GCC 12 warns (-Wtsan, an
# error with -Werror) about the std::atomic_thread_fence in Asio's
# fenced_block, inlined into the target's code. TSan neither instruments nor
# models fences, so the warning changes nothing about what TSan checks: Asio's
# handler queues are ordered by its scheduler's mutex, which TSan does see.
# berth's core keeps the rule of no fences at all (style); this is Asio's code.
function(berth_asio_consumer target)
  if(BERTH_SANITIZER STREQUAL "thread")
    target_compile_options(${target} PRIVATE -Wno-tsan)
  endif()
endfunction()
