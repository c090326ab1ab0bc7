#!/usr/bin/env bash
# Rewrites the lists of files in tests/meson.build from the files on disk: the test files
# (tests/**/*_test.cpp, between the "test files" markers) and the headers each compiled on
# its own (include/vaegan/**/*.hpp, between the "headers" markers). Meson cannot glob;
# CMake can, and its meson.test_list test fails until this has been run after adding or
# removing a test or a header.
set -euo pipefail
cd "$(dirname "$0")/../tests"

# replace_list <begin marker> <end marker> <list>: rewrites the lines between the markers.
replace_list() {
  local begin=$1 end=$2 list=$3
  grep -qxF "$begin" meson.build && grep -qxF "$end" meson.build || {
    echo "update-meson-test-list.sh: markers '$begin' / '$end' not found in tests/meson.build" >&2
    exit 1
  }
  awk -v begin="$begin" -v end="$end" -v list="$list" '
    $0 == begin { print; if (list != "") print list; skipping = 1; next }
    $0 == end { skipping = 0 }
    !skipping { print }
  ' meson.build >meson.build.tmp
  mv meson.build.tmp meson.build
}

tests=$(find . -name '*_test.cpp' -type f | sed 's|^\./||' | LC_ALL=C sort | sed "s|.*|  '&',|")
replace_list '# BEGIN test files (scripts/update-meson-test-list.sh)' '# END test files' "$tests"
headers=$(cd ../include && find vaegan -name '*.hpp' -type f | LC_ALL=C sort | sed "s|.*|  '&',|")
replace_list '# BEGIN headers (scripts/update-meson-test-list.sh)' '# END headers' "$headers"
echo "tests/meson.build: $(printf '%s\n' "$tests" | grep -c . || true) test files and" \
  "$(printf '%s\n' "$headers" | grep -c . || true) headers listed"
