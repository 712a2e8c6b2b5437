# BERTH_SANITIZER: "" (none), "thread" or "address" (AddressSanitizer + UndefinedBehaviorSanitizer).
set(BERTH_SANITIZER "" CACHE STRING "Sanitizer build: thread | address | empty")
set_property(CACHE BERTH_SANITIZER PROPERTY STRINGS "" thread address)

if(BERTH_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(BERTH_TSAN=1)
elseif(BERTH_SANITIZER STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(BERTH_ASAN=1)
elseif(NOT BERTH_SANITIZER STREQUAL "")
  message(FATAL_ERROR "BERTH_SANITIZER must be empty, 'thread' or 'address', not '${BERTH_SANITIZER}'")
endif()
