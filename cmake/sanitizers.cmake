# BERTH_SANITIZER: "" (none), "thread", "address" (AddressSanitizer +
# UndefinedBehaviorSanitizer) or "fuzzer" (Clang only: address + undefined
# plus libFuzzer's coverage instrumentation, -fsanitize=fuzzer-no-link, on
# every berth target; the fuzz/ binaries add -fsanitize=fuzzer, libFuzzer's
# main, at link: see fuzz/CMakeLists.txt and the fuzz preset).
set(BERTH_SANITIZER "" CACHE STRING "Sanitizer build: thread | address | fuzzer | empty")
set_property(CACHE BERTH_SANITIZER PROPERTY STRINGS "" thread address fuzzer)

if(BERTH_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(BERTH_TSAN=1)
elseif(BERTH_SANITIZER STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -g)
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
