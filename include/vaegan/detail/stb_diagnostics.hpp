#pragma once
// The warnings to silence around a private copy of an stb implementation (io/png.hpp's
// stb_image_write, io/image_decode.hpp's stb_image): stb is C written for its own
// warning level, and our builds turn on many more. As macros (C++11 _Pragma), so both
// headers share one list:
//
//   VAEGAN_STB_DIAGNOSTICS_PUSH
//   #include <stb_image.h>
//   VAEGAN_STB_DIAGNOSTICS_POP
#if defined(__clang__)
#define VAEGAN_STB_GCC_ONLY_IGNORED
#elif defined(__GNUC__)
#define VAEGAN_STB_GCC_ONLY_IGNORED \
  _Pragma("GCC diagnostic ignored \"-Wduplicated-branches\"") _Pragma("GCC diagnostic ignored \"-Wuseless-cast\"")
#endif

#if defined(__GNUC__)
#define VAEGAN_STB_DIAGNOSTICS_PUSH                                                                                    \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wunused-function\"")                               \
      _Pragma("GCC diagnostic ignored \"-Wunused-variable\"") _Pragma("GCC diagnostic ignored \"-Wunused-parameter\"") \
          _Pragma("GCC diagnostic ignored \"-Wunused-but-set-variable\"")                                              \
              _Pragma("GCC diagnostic ignored \"-Wsign-compare\"")                                                     \
                  _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")                                   \
                      _Pragma("GCC diagnostic ignored \"-Wconversion\"")                                               \
                          _Pragma("GCC diagnostic ignored \"-Wsign-conversion\"")                                      \
                              _Pragma("GCC diagnostic ignored \"-Wdouble-promotion\"")                                 \
                                  _Pragma("GCC diagnostic ignored \"-Wold-style-cast\"")                               \
                                      _Pragma("GCC diagnostic ignored \"-Wcast-qual\"")                                \
                                          _Pragma("GCC diagnostic ignored \"-Wcast-align\"")                           \
                                              _Pragma("GCC diagnostic ignored \"-Wshadow\"")                           \
                                                  _Pragma("GCC diagnostic ignored \"-Wimplicit-fallthrough\"")         \
                                                      VAEGAN_STB_GCC_ONLY_IGNORED
#define VAEGAN_STB_DIAGNOSTICS_POP _Pragma("GCC diagnostic pop")
#elif defined(_MSC_VER)
#define VAEGAN_STB_DIAGNOSTICS_PUSH __pragma(warning(push, 0))
#define VAEGAN_STB_DIAGNOSTICS_POP __pragma(warning(pop))
#else
#define VAEGAN_STB_DIAGNOSTICS_PUSH
#define VAEGAN_STB_DIAGNOSTICS_POP
#endif
