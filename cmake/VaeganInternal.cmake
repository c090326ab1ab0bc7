# Settings for the project's own executables (tests, examples, benchmarks). None of this
# reaches the exported vaegan::vaegan target: a user's build decides its own -march and
# sanitizers.
include_guard(GLOBAL)
include(CheckCXXCompilerFlag)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_vaegan_gcc_like ON)
else()
  set(_vaegan_gcc_like OFF)
endif()

if(VAEGAN_NATIVE)
  if(_vaegan_gcc_like)
    check_cxx_compiler_flag(-march=native VAEGAN_HAVE_MARCH_NATIVE)
  endif()
  if(NOT VAEGAN_HAVE_MARCH_NATIVE)
    message(STATUS "vaegan: the compiler does not take -march=native; building the executables without it")
  endif()
endif()

if(VAEGAN_SANITIZE AND NOT _vaegan_gcc_like)
  message(FATAL_ERROR "vaegan: VAEGAN_SANITIZE=${VAEGAN_SANITIZE} needs GCC or Clang")
endif()

# vaegan_internal_target(<target>): links vaegan and applies the in-tree settings.
function(vaegan_internal_target target)
  target_link_libraries(${target} PRIVATE vaegan::vaegan)
  if(_vaegan_gcc_like)
    target_compile_options(${target} PRIVATE -Wall -Wextra)
  endif()
  if(VAEGAN_NATIVE AND VAEGAN_HAVE_MARCH_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
    # GCC before 13 warns "__Y is used uninitialized" inside its own AVX-512 intrinsics
    # (avx512fintrin.h's _mm512_undefined_ps, GCC bug 105593) wherever Eigen inlines them:
    # thousands of lines that are not about our code.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
      target_compile_options(${target} PRIVATE -Wno-uninitialized -Wno-maybe-uninitialized)
    endif()
  endif()
  if(VAEGAN_SANITIZE)
    # No recovery: a sanitizer report ends the program, so the test that hit it fails.
    target_compile_options(${target} PRIVATE -fsanitize=${VAEGAN_SANITIZE} -fno-sanitize-recover=all
                                             -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${VAEGAN_SANITIZE})
    if(VAEGAN_SANITIZE MATCHES "undefined")
      # Debian's stb (2.27) shifts negative values left in its JPEG encoder (the tests'
      # fixtures) and decoder: undefined by the letter of the standard, harmless on the
      # compilers and CPUs we build for, and not ours to patch. UBSan's shift check is left
      # out, as in the image fuzz harness (docs/fuzzing.md); every other check stays.
      target_compile_options(${target} PRIVATE -fno-sanitize=shift)
    endif()
  endif()
endfunction()

# vaegan_mpi_target(<target>): with VAEGAN_MPI, the target links MPI and <vaegan/vaegan.hpp>
# includes distributed/mpi.hpp in it (the training examples, the MPI tests, the header
# check). Other programs never see MPI.
function(vaegan_mpi_target target)
  if(VAEGAN_MPI)
    target_link_libraries(${target} PRIVATE MPI::MPI_CXX)
    target_compile_definitions(${target} PRIVATE VAEGAN_MPI)
  endif()
endfunction()
