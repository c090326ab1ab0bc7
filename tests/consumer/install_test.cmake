# Installs a configured vaegan build into a scratch prefix and builds tests/consumer
# against it, the way a user would: find_package(vaegan) with CMAKE_PREFIX_PATH, then
# plain compiler flags from pkg-config. Run from CTest:
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DCONSUMER_DIR=... -DGENERATOR=... -DCXX_COMPILER=...
#         -DEXPECTED_VERSION=... [-DPKG_CONFIG=...] -P install_test.cmake
cmake_minimum_required(VERSION 3.16)
foreach(_var BUILD_DIR WORK_DIR CONSUMER_DIR GENERATOR CXX_COMPILER EXPECTED_VERSION)
  if(NOT ${_var})
    message(FATAL_ERROR "install_test.cmake: -D${_var}=... is required")
  endif()
endforeach()

# Runs a command, stops with its output if it fails. Output goes to _run_output.
function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "install test: ${name} failed (${_rc}):\n${ARGN}\n${_out}")
  endif()
  message(STATUS "install test: ${name}: ok")
  set(_run_output "${_out}" PARENT_SCOPE)
endfunction()

set(_prefix "${WORK_DIR}/prefix")
set(_consumer_build "${WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

run_step("cmake --install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${_prefix}")

# The exported target must not carry machine-specific flags.
file(GLOB_RECURSE _target_files "${_prefix}/*/vaegan-targets*.cmake")
if(NOT _target_files)
  message(FATAL_ERROR "install test: no vaegan-targets.cmake under ${_prefix}")
endif()
foreach(_file IN LISTS _target_files)
  file(READ "${_file}" _text)
  if(_text MATCHES "march=|fsanitize")
    message(FATAL_ERROR "install test: ${_file} exports -march or -fsanitize flags")
  endif()
endforeach()

# find_package(vaegan) from a fresh project.
run_step("configure consumer" "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${_consumer_build}" -G "${GENERATOR}"
         "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${_prefix}" -DCMAKE_BUILD_TYPE=Release)
run_step("build consumer" "${CMAKE_COMMAND}" --build "${_consumer_build}")
file(GLOB _consumer_exe "${_consumer_build}/consumer" "${_consumer_build}/*/consumer.exe" "${_consumer_build}/consumer.exe")
list(GET _consumer_exe 0 _consumer_exe)
run_step("run consumer (find_package)" "${_consumer_exe}")
if(NOT _run_output MATCHES "vaegan ${EXPECTED_VERSION} ")
  message(FATAL_ERROR "install test: the consumer printed '${_run_output}', expected version ${EXPECTED_VERSION}")
endif()
message(STATUS "install test: ${_run_output}")

# pkg-config: compile the same program with nothing but the flags vaegan.pc gives.
if(PKG_CONFIG)
  file(GLOB_RECURSE _pc "${_prefix}/*/vaegan.pc")
  if(NOT _pc)
    message(FATAL_ERROR "install test: no vaegan.pc under ${_prefix}")
  endif()
  get_filename_component(_pc_dir "${_pc}" DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} "${_pc_dir}")
  run_step("pkg-config --modversion" "${PKG_CONFIG}" --modversion vaegan)
  string(STRIP "${_run_output}" _pc_version)
  if(NOT _pc_version STREQUAL EXPECTED_VERSION)
    message(FATAL_ERROR "install test: vaegan.pc says version '${_pc_version}', expected ${EXPECTED_VERSION}")
  endif()
  run_step("pkg-config --cflags --libs" "${PKG_CONFIG}" --cflags --libs vaegan)
  string(STRIP "${_run_output}" _flags)
  separate_arguments(_flags UNIX_COMMAND "${_flags}")
  set(_pc_exe "${WORK_DIR}/consumer-pkgconfig")
  run_step("compile consumer (pkg-config)" "${CXX_COMPILER}" -std=c++17 -O1 "${CONSUMER_DIR}/main.cpp" -o "${_pc_exe}"
           ${_flags})
  run_step("run consumer (pkg-config)" "${_pc_exe}")
else()
  message(STATUS "install test: pkg-config not found, vaegan.pc not checked")
endif()
