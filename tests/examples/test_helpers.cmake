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
  # VAEGAN_EXAMPLE_LOG=<file> records every run (for docs/reliability.md's table).
  if(DEFINED ENV{VAEGAN_EXAMPLE_LOG})
    file(APPEND "$ENV{VAEGAN_EXAMPLE_LOG}" "case ${prefix}\ncommand ${_cmd}\nexit ${_rc}\nstderr ${_err}\n")
  endif()
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

# The stream must match `regex`; its first capture group goes into <var> when given.
function(expect_match prefix stream regex)
  if(NOT "${${prefix}_${stream}}" MATCHES "${regex}")
    fail(${prefix} "expected std${stream} to match \"${regex}\"")
  endif()
  if(ARGC GREATER 3)
    set(${ARGV3} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  endif()
endfunction()

# A failed run names the problem and the fix on one line and exits with `code`:
# expect_error(<prefix> <code> <text>...): each text must be on stderr (plain substrings).
function(expect_error prefix code)
  expect_exit(${prefix} ${code})
  expect_one_line_on_stderr(${prefix})
  foreach(_text IN LISTS ARGN)
    expect_in(${prefix} err "${_text}")
  endforeach()
endfunction()

# No file of `dir` (recursively) is a temporary file of an atomic write ("*.tmp.*").
function(expect_no_temporaries dir)
  file(GLOB_RECURSE _temps "${dir}/*.tmp.*")
  if(_temps)
    message(FATAL_ERROR "temporary files left behind: ${_temps}")
  endif()
endfunction()

# <var>: "name=sha256;..." for every file under `dir`, to compare a directory before and after.
function(snapshot dir var)
  file(GLOB_RECURSE _files RELATIVE "${dir}" "${dir}/*")
  list(SORT _files)
  set(_out "")
  foreach(_f IN LISTS _files)
    file(SHA256 "${dir}/${_f}" _hash)
    list(APPEND _out "${_f}=${_hash}")
  endforeach()
  set(${var} "${_out}" PARENT_SCOPE)
endfunction()

# copy_prefix(<from> <to> <bytes>): the first `bytes` bytes of a file (CMake strings cannot
# hold NUL bytes, so file(DOWNLOAD file://... RANGE_*) does the copying; CMake >= 3.24).
function(copy_prefix from to bytes)
  math(EXPR _last "${bytes} - 1")
  file(DOWNLOAD "file://${from}" "${to}" RANGE_START 0 RANGE_END ${_last} STATUS _status)
  list(GET _status 0 _code)
  if(NOT _code EQUAL 0)
    message(FATAL_ERROR "copy_prefix: cannot copy ${bytes} bytes of ${from}: ${_status}")
  endif()
endfunction()
