#!/usr/bin/env bash
# Installs everything vaegan's build, tests and benchmarks need on Debian or Ubuntu.
# Skips `apt-get update` (and apt altogether) when every package is already installed,
# so it is fast on a prepared machine. Uses sudo only when not run as root.
set -euo pipefail

#
#   scripts/install-deps.sh          what the README's commands need
#   scripts/install-deps.sh --fuzz   also clang 14, its sanitizer/libFuzzer runtimes and clang-format, for
#                                    scripts/fuzz.sh and scripts/format.sh (.ci/run's fuzz and format steps)
packages=(
  g++ cmake ninja-build meson pkg-config  # toolchain and both build systems
  libeigen3-dev zlib1g-dev libstb-dev     # the library's dependencies
  doctest-dev                             # tests
  libcli11-dev                            # the vaegan program's, benchmarks' and crash test's command lines
  libbenchmark-dev libopenblas-dev        # benchmarks
  curl ca-certificates                    # scripts/get_mnist.sh downloads MNIST where it can
  python3-numpy                           # tests/export: the independent safetensors reader
  python3-torch                           # tests/export: PyTorch interop (scripts/vaegan_torch.py)
  dataset-fashion-mnist                   # --dataset fashion-mnist (its four IDX files)
  chromium                                # tests/report: the training report in a headless browser
  libopenmpi-dev openmpi-bin              # data-parallel training over MPI (VAEGAN_MPI) and its tests
)
case "${1:-}" in
  "") ;;
  --fuzz) packages+=(clang libclang-rt-14-dev clang-format) ;;  # libFuzzer + ASan/UBSan runtimes; the format check
  *)
    echo "usage: $0 [--fuzz]" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps.sh: this script needs Debian or Ubuntu (apt-get). Install these by hand:" >&2
  echo "  a C++17 compiler, CMake >= 3.16, Ninja, Meson, pkg-config, Eigen 3, zlib, stb, doctest," >&2
  echo "  Google Benchmark, OpenBLAS, curl, Python 3 with NumPy and PyTorch, Chromium, Open MPI (optional)" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps.sh: not root and no sudo; run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
