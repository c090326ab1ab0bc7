#!/usr/bin/env bash
# Formats every tracked C++ file with clang-format and the repository's .clang-format, or
# with --check only reports the files that differ (exit 1), as .ci/run's format step does.
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "format.sh: $clang_format not found; install it (Debian/Ubuntu: apt-get install clang-format, or" \
    "scripts/install-deps.sh --fuzz)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.cpp.in')
case "${1:-}" in
  "")
    "$clang_format" -i --style=file "${files[@]}"
    echo "format.sh: formatted ${#files[@]} files"
    ;;
  --check)
    differ=()
    for f in "${files[@]}"; do
      "$clang_format" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || differ+=("$f")
    done
    if ((${#differ[@]} > 0)); then
      echo "format.sh: ${#differ[@]} of ${#files[@]} files differ from .clang-format; run scripts/format.sh:" >&2
      printf '  %s\n' "${differ[@]}" >&2
      exit 1
    fi
    echo "format.sh: all ${#files[@]} C++ files match .clang-format"
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
