#!/usr/bin/env bash
# Configures, builds and tests vaegan with CMake (in build/) and then with Meson (in
# build-meson/), from the repository root. `test.sh cmake` or `test.sh meson` runs one.
# Environment: JOBS (default: nproc), BUILD_DIR, MESON_BUILD_DIR, and CMAKE_ARGS /
# MESON_ARGS for extra configure options (e.g. CMAKE_ARGS=-DVAEGAN_SANITIZE=address,undefined).
# Both builds include data-parallel training over MPI and its tests under mpiexec
# (-DVAEGAN_MPI=ON, -Dmpi=true; the library's own default is off): CMAKE_ARGS=-DVAEGAN_MPI=OFF
# or MESON_ARGS=-Dmpi=false leaves it out.
# MESON_SUITES (e.g. "unit export"): run only those Meson test suites, building only what
# their tests need instead of the whole default target (CI's Meson step: the rest is the
# same code with the same flags as in the CMake build).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
build_dir=${BUILD_DIR:-build}
meson_build_dir=${MESON_BUILD_DIR:-build-meson}
read -r -a cmake_args <<<"${CMAKE_ARGS:-}"
read -r -a meson_args <<<"${MESON_ARGS:-}"
read -r -a meson_suites <<<"${MESON_SUITES:-}"

run_cmake() {
  local generator=()
  # A fresh build directory gets Ninja when available; an existing one keeps its generator.
  if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
  fi
  cmake -S . -B "$build_dir" "${generator[@]}" -DVAEGAN_MPI=ON "${cmake_args[@]}"
  cmake --build "$build_dir" --parallel "$jobs"
  (cd "$build_dir" && ctest --output-on-failure --parallel "$jobs")
}

run_meson() {
  if [[ -f "$meson_build_dir/meson-private/coredata.dat" ]]; then
    meson setup --reconfigure "$meson_build_dir" -Dmpi=true "${meson_args[@]}"
  else
    meson setup "$meson_build_dir" -Dmpi=true "${meson_args[@]}"
  fi
  if ((${#meson_suites[@]})); then
    local suite suite_args=()
    for suite in "${meson_suites[@]}"; do suite_args+=(--suite "$suite"); done
    # `meson test` first builds what the selected tests need (with ninja's default -j).
    meson test -C "$meson_build_dir" --print-errorlogs --num-processes "$jobs" "${suite_args[@]}"
  else
    meson compile -C "$meson_build_dir" -j "$jobs"
    meson test -C "$meson_build_dir" --print-errorlogs --num-processes "$jobs"
  fi
}

case "${1:-all}" in
  cmake) run_cmake ;;
  meson) run_meson ;;
  all)
    run_cmake
    run_meson
    ;;
  *)
    echo "usage: $0 [cmake|meson]" >&2
    exit 2
    ;;
esac
