# Replaces the test-listing script behind doctest_discover_tests() (doctest's
# doctestAddTests.cmake). That script splits the listing with CMake list syntax, where an
# unbalanced "[" in a test name ("uniform lies in [0, 1)") swallows the following names
# and leaves CTest with a broken test file. Here every line is taken as it is, and a test
# that runs no test case fails instead of passing.
#
# Called by doctest_discover_tests() after each build of the test program, with the same
# -D variables as doctest's own script; TEST_ADD_LABELS and TEST_JUNIT_OUTPUT_DIR are not
# supported (vaegan does not use them).
cmake_minimum_required(VERSION 3.16)

if(NOT EXISTS "${TEST_EXECUTABLE}")
  message(FATAL_ERROR "doctest-add-tests.cmake: test program '${TEST_EXECUTABLE}' does not exist")
endif()
if(TEST_ADD_LABELS OR TEST_JUNIT_OUTPUT_DIR)
  message(FATAL_ERROR "doctest-add-tests.cmake: ADD_LABELS and JUNIT_OUTPUT_DIR are not supported")
endif()

set(_spec "")
if(TEST_SPEC)
  set(_spec "--test-case=${TEST_SPEC}")
endif()
execute_process(
  COMMAND ${TEST_EXECUTOR} "${TEST_EXECUTABLE}" ${_spec} --list-test-cases
  OUTPUT_VARIABLE _output
  ERROR_VARIABLE _error
  RESULT_VARIABLE _result
  WORKING_DIRECTORY "${TEST_WORKING_DIR}")
if(NOT _result EQUAL 0)
  message(FATAL_ERROR "doctest-add-tests.cmake: '${TEST_EXECUTABLE} --list-test-cases' failed (${_result}):\n"
                      "${_output}${_error}")
endif()

# Hide the characters CMake lists treat specially, split into lines, restore them per line.
string(ASCII 1 _open)
string(ASCII 2 _close)
string(ASCII 3 _semicolon)
string(REPLACE "[" "${_open}" _output "${_output}")
string(REPLACE "]" "${_close}" _output "${_output}")
string(REPLACE ";" "${_semicolon}" _output "${_output}")
string(REPLACE "\r" "" _output "${_output}")
string(REPLACE "\n" ";" _lines "${_output}")

# Quotes a value as a bracket argument whose delimiter does not occur in it.
function(_quote value out_var)
  set(_eq "=")
  while(value MATCHES "\\]${_eq}\\]")
    string(APPEND _eq "=")
  endwhile()
  set(${out_var} "[${_eq}[${value}]${_eq}]" PARENT_SCOPE)
endfunction()

set(_script "")
set(_names "")
foreach(_line IN LISTS _lines)
  string(REPLACE "${_open}" "[" _line "${_line}")
  string(REPLACE "${_close}" "]" _line "${_line}")
  string(REPLACE "${_semicolon}" ";" _line "${_line}")
  if(_line STREQUAL "" OR _line MATCHES "^===+$" OR _line MATCHES "^\\[doctest\\] ")
    continue()
  endif()
  set(_name "${TEST_PREFIX}${_line}${TEST_SUFFIX}")
  # doctest's --test-case takes a comma-separated list of patterns: escape the commas.
  string(REPLACE "," "\\," _filter "${_line}")
  _quote("${_name}" _qname)
  _quote("--test-case=${_filter}" _qfilter)
  set(_args "")
  foreach(_arg IN LISTS TEST_EXECUTOR)
    _quote("${_arg}" _q)
    string(APPEND _args " ${_q}")
  endforeach()
  _quote("${TEST_EXECUTABLE}" _q)
  string(APPEND _args " ${_q} ${_qfilter}")
  foreach(_arg IN LISTS TEST_EXTRA_ARGS)
    _quote("${_arg}" _q)
    string(APPEND _args " ${_q}")
  endforeach()
  _quote("${TEST_WORKING_DIR}" _qdir)
  # doctest exits 0 when a filter matches nothing: make "ran no test case" a failure.
  _quote("\\[doctest\\] test cases: +0 [|]" _qnone)
  set(_properties " FAIL_REGULAR_EXPRESSION ${_qnone}")
  foreach(_arg IN LISTS TEST_PROPERTIES)
    _quote("${_arg}" _q)
    string(APPEND _properties " ${_q}")
  endforeach()
  string(APPEND _script "add_test(${_qname}${_args})\n")
  string(APPEND _script "set_tests_properties(${_qname} PROPERTIES WORKING_DIRECTORY ${_qdir}${_properties})\n")
  _quote("${_name}" _qlisted)
  string(APPEND _names " ${_qlisted}")
endforeach()

if(TEST_LIST)
  string(APPEND _script "set(${TEST_LIST}${_names})\n")
endif()
file(WRITE "${CTEST_FILE}" "${_script}")
