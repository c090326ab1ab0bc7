# Helpers shared by the example-program tests (cmake -P scripts): run a command, check
# its exit code and output.

# run(<prefix> <command> <args>...): runs it and sets <prefix>_rc, <prefix>_out, <prefix>_err.
function(run prefix)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err TIMEOUT 120)
  set(${prefix}_rc "${_rc}" PARENT_SCOPE)
  set(${prefix}_out "${_out}" PARENT_SCOPE)
  set(${prefix}_err "${_err}" PARENT_SCOPE)
  string(REPLACE ";" " " _cmd "${ARGN}")
  set(${prefix}_cmd "${_cmd}" PARENT_SCOPE)
endfunction()

function(fail prefix what)
  message(FATAL_ERROR "${what}\n  command: ${${prefix}_cmd}\n  exit: ${${prefix}_rc}\n"
                      "  stdout:\n${${prefix}_out}\n  stderr:\n${${prefix}_err}")
endfunction()

function(expect_exit prefix code)
  if(NOT "${${prefix}_rc}" STREQUAL "${code}")
    fail(${prefix} "expected exit code ${code}")
  endif()
endfunction()

# The stream must contain `text` (a plain substring, not a regex).
function(expect_in prefix stream text)
  string(FIND "${${prefix}_${stream}}" "${text}" _at)
  if(_at EQUAL -1)
    fail(${prefix} "expected std${stream} to contain \"${text}\"")
  endif()
endfunction()

# Usage errors print exactly one line on stderr.
function(expect_one_line_on_stderr prefix)
  string(REGEX MATCHALL "\n" _newlines "${${prefix}_err}")
  list(LENGTH _newlines _count)
  if(NOT _count EQUAL 1)
    fail(${prefix} "expected exactly one line on stderr, got ${_count}")
  endif()
endfunction()
