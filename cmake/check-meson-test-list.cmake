# cmake -DTESTS_DIR=<repo>/tests -P check-meson-test-list.cmake
# Fails when tests/meson.build and the files CMake globs (tests/**/*_test.cpp) disagree,
# so both build systems run the same tests. Fix with scripts/update-meson-test-list.sh.
cmake_minimum_required(VERSION 3.16)
if(NOT TESTS_DIR)
  message(FATAL_ERROR "usage: cmake -DTESTS_DIR=<repo>/tests -P check-meson-test-list.cmake")
endif()
file(GLOB_RECURSE _on_disk RELATIVE "${TESTS_DIR}" "${TESTS_DIR}/*_test.cpp")
file(STRINGS "${TESTS_DIR}/meson.build" _lines REGEX "^[ \t]*'[^']*_test\\.cpp',?[ \t]*$")
set(_listed "")
foreach(_line IN LISTS _lines)
  string(REGEX REPLACE "^[ \t]*'([^']*)'.*$" "\\1" _file "${_line}")
  list(APPEND _listed "${_file}")
endforeach()

set(_missing "")
foreach(_file IN LISTS _on_disk)
  if(NOT _file IN_LIST _listed)
    list(APPEND _missing "${_file}")
  endif()
endforeach()
set(_stale "")
foreach(_file IN LISTS _listed)
  if(NOT _file IN_LIST _on_disk)
    list(APPEND _stale "${_file}")
  endif()
endforeach()

list(LENGTH _on_disk _count)
if(_missing OR _stale)
  message(FATAL_ERROR "tests/meson.build is out of step with tests/**/*_test.cpp.\n"
                      "  not listed in meson.build: ${_missing}\n"
                      "  listed but missing on disk: ${_stale}\n"
                      "Run scripts/update-meson-test-list.sh to rewrite the list.")
endif()
message(STATUS "tests/meson.build lists all ${_count} test files")
