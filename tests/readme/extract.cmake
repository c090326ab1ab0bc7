# cmake -DREADME=<README.md> -DOUTPUT=<file.cpp> [-DINDEX=N] -P extract.cmake
# Writes the INDEX-th (default: first) ```cpp fenced block of README into OUTPUT, so the
# examples a reader sees are the ones tests compile and run (as nlohmann/json's unit-readme
# does): block 1 is the usage example, block 2 the library tour.
cmake_minimum_required(VERSION 3.16)
if(NOT README OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DREADME=<README.md> -DOUTPUT=<file.cpp> -P extract.cmake")
endif()
if(NOT INDEX)
  set(INDEX 1)
endif()
file(READ "${README}" _text)
string(REPLACE "\r\n" "\n" _text "${_text}")
# Drop the blocks before the one wanted: each skip moves past one closing fence.
math(EXPR _skips "${INDEX} - 1")
foreach(_skip RANGE 1 ${_skips})
  if(_skips EQUAL 0)
    break()
  endif()
  string(FIND "${_text}" "\n```cpp\n" _open)
  if(_open EQUAL -1)
    message(FATAL_ERROR "${README}: fewer than ${INDEX} ```cpp code blocks")
  endif()
  math(EXPR _open "${_open} + 8")
  string(SUBSTRING "${_text}" ${_open} -1 _text)
  string(FIND "${_text}" "\n```" _close)
  math(EXPR _close "${_close} + 4")
  string(SUBSTRING "${_text}" ${_close} -1 _text)
endforeach()

# The fence must open a line: "```cpp" at the start of the file or after a newline.
set(_fence "```cpp\n")
string(FIND "${_text}" "\n${_fence}" _start)
if(_start EQUAL -1)
  string(FIND "${_text}" "${_fence}" _start)
  if(NOT _start EQUAL 0)
    message(FATAL_ERROR "${README}: no ```cpp code block found; the README test compiles the first one")
  endif()
else()
  math(EXPR _start "${_start} + 1")
endif()
string(LENGTH "${_fence}" _fence_length)
math(EXPR _start "${_start} + ${_fence_length}")
string(SUBSTRING "${_text}" ${_start} -1 _rest)

string(FIND "${_rest}" "\n```" _end)
if(_end EQUAL -1)
  message(FATAL_ERROR "${README}: the first ```cpp code block is not closed")
endif()
math(EXPR _end "${_end} + 1")  # keep the block's last newline
string(SUBSTRING "${_rest}" 0 ${_end} _code)

file(WRITE "${OUTPUT}" "// Extracted from README.md by tests/readme/extract.cmake; edit the README, not this file.\n${_code}")
