# Finds the directory holding stb_image_write.h (the library writes PNGs with it and
# includes it as <stb_image_write.h>). Debian's libstb-dev puts the stb headers in
# /usr/include/stb; other layouts put them straight into an include directory or under
# stb/. Used both by the build and by the installed vaegan-config.cmake.
#
# Results: VAEGAN_STB_INCLUDE_DIR (cache; set it by hand for a copy of stb elsewhere),
# VAEGAN_STB_FOUND, and VAEGAN_STB_NOT_FOUND_MESSAGE saying what to do when it is missing.
include_guard(GLOBAL)

find_path(VAEGAN_STB_INCLUDE_DIR stb_image_write.h
  PATH_SUFFIXES stb
  DOC "Directory containing stb_image_write.h")

if(VAEGAN_STB_INCLUDE_DIR)
  set(VAEGAN_STB_FOUND TRUE)
else()
  set(VAEGAN_STB_FOUND FALSE)
  string(CONCAT VAEGAN_STB_NOT_FOUND_MESSAGE
         "stb_image_write.h not found. Install stb (Debian/Ubuntu: apt-get install libstb-dev) or pass "
         "-DVAEGAN_STB_INCLUDE_DIR=<directory containing stb_image_write.h>.")
endif()
