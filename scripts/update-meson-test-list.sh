#!/usr/bin/env bash
# Rewrites the list of test files in tests/meson.build (between the BEGIN/END markers)
# from the files on disk, tests/**/*_test.cpp. Meson cannot glob; CMake can, and its
# meson.test_list test fails until this has been run after adding or removing a test.
set -euo pipefail
cd "$(dirname "$0")/../tests"

begin='# BEGIN test files (scripts/update-meson-test-list.sh)'
end='# END test files'
grep -qxF "$begin" meson.build && grep -qxF "$end" meson.build || {
  echo "update-meson-test-list.sh: markers not found in tests/meson.build" >&2
  exit 1
}

list=$(find . -name '*_test.cpp' -type f | sed 's|^\./||' | LC_ALL=C sort | sed "s|.*|  '&',|")
awk -v begin="$begin" -v end="$end" -v list="$list" '
  $0 == begin { print; if (list != "") print list; skipping = 1; next }
  $0 == end { skipping = 0 }
  !skipping { print }
' meson.build >meson.build.tmp
mv meson.build.tmp meson.build
echo "tests/meson.build: $(printf '%s\n' "$list" | grep -c . || true) test files listed"
