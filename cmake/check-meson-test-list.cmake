# cmake -DTESTS_DIR=<repo>/tests [-DINCLUDE_DIR=<repo>/include] -P check-meson-test-list.cmake
# Fails when tests/meson.build and the files CMake globs disagree, so both build systems
# run the same tests: the test files (tests/**/*_test.cpp) and the headers each compiled
# on its own (include/vaegan/**/*.hpp). Fix with scripts/update-meson-test-list.sh.
cmake_minimum_required(VERSION 3.16)
if(NOT TESTS_DIR)
  message(FATAL_ERROR "usage: cmake -DTESTS_DIR=<repo>/tests [-DINCLUDE_DIR=<repo>/include] -P check-meson-test-list.cmake")
endif()
if(NOT INCLUDE_DIR)
  get_filename_component(INCLUDE_DIR "${TESTS_DIR}/../include" ABSOLUTE)
endif()

# _vaegan_compare(<what> <on-disk list var> <listed list var>): appends to _problems.
set(_problems "")
function(_vaegan_compare what on_disk_var listed_var)
  set(_missing "")
  foreach(_file IN LISTS ${on_disk_var})
    if(NOT _file IN_LIST ${listed_var})
      list(APPEND _missing "${_file}")
    endif()
  endforeach()
  set(_stale "")
  foreach(_file IN LISTS ${listed_var})
    if(NOT _file IN_LIST ${on_disk_var})
      list(APPEND _stale "${_file}")
    endif()
  endforeach()
  if(_missing OR _stale)
    set(_problems "${_problems}\n  ${what} not listed in meson.build: ${_missing}\n  ${what} listed but missing on disk: ${_stale}"
        PARENT_SCOPE)
  endif()
endfunction()

# The test files.
file(GLOB_RECURSE _tests_on_disk RELATIVE "${TESTS_DIR}" "${TESTS_DIR}/*_test.cpp")
file(STRINGS "${TESTS_DIR}/meson.build" _lines REGEX "^[ \t]*'[^']*_test\\.cpp',?[ \t]*$")
set(_tests_listed "")
foreach(_line IN LISTS _lines)
  string(REGEX REPLACE "^[ \t]*'([^']*)'.*$" "\\1" _file "${_line}")
  list(APPEND _tests_listed "${_file}")
endforeach()
_vaegan_compare("test files" _tests_on_disk _tests_listed)

# The headers of the header check.
file(GLOB_RECURSE _headers_on_disk RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/vaegan/*.hpp")
file(STRINGS "${TESTS_DIR}/meson.build" _lines REGEX "^[ \t]*'vaegan/[^']*\\.hpp',?[ \t]*$")
set(_headers_listed "")
foreach(_line IN LISTS _lines)
  string(REGEX REPLACE "^[ \t]*'([^']*)'.*$" "\\1" _file "${_line}")
  list(APPEND _headers_listed "${_file}")
endforeach()
_vaegan_compare("headers" _headers_on_disk _headers_listed)

if(_problems)
  message(FATAL_ERROR "tests/meson.build is out of step with the files on disk.${_problems}\n"
                      "Run scripts/update-meson-test-list.sh to rewrite the lists.")
endif()
list(LENGTH _tests_on_disk _test_count)
list(LENGTH _headers_on_disk _header_count)
message(STATUS "tests/meson.build lists all ${_test_count} test files and all ${_header_count} headers")
