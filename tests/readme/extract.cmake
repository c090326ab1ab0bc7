# cmake -DREADME=<README.md> -DOUTPUT=<file.cpp> -P extract.cmake
# Writes the first ```cpp fenced block of README into OUTPUT, so the example a reader sees
# first is the one a test compiles and runs (as nlohmann/json's unit-readme does).
cmake_minimum_required(VERSION 3.16)
if(NOT README OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DREADME=<README.md> -DOUTPUT=<file.cpp> -P extract.cmake")
endif()
file(READ "${README}" _text)
string(REPLACE "\r\n" "\n" _text "${_text}")

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
