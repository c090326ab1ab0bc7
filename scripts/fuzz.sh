#!/usr/bin/env bash
# Builds the libFuzzer harnesses in tests/fuzz with AddressSanitizer + UndefinedBehavior-
# Sanitizer and runs each one, one after another, on one core (docs/fuzzing.md); with
# --jobs N, up to N at a time, each still on one core of its own.
#
#   scripts/fuzz.sh                  60 seconds per target
#   scripts/fuzz.sh 600              600 seconds per target
#   scripts/fuzz.sh --runs 100000    a fixed number of executions per target
#   scripts/fuzz.sh 1800 --runs 10000000   whichever limit comes first
#   scripts/fuzz.sh 60 idx           only the named targets
#   scripts/fuzz.sh --jobs 2 60      build the binaries and run the targets 2 at a time (each
#                                    target still gets its 60 s; CI runs $(nproc) at a time)
#   scripts/fuzz.sh --build-only     build, generate the corpus, run nothing
#   scripts/fuzz.sh --coverage       line coverage of the readers by the working corpora that
#                                    the last run left in build-fuzz/corpus (needs llvm-14)
#
# Targets, run in this order:
#   idx              fuzz_idx on tests/fuzz/corpus/idx
#   checkpoint       fuzz_checkpoint on tests/fuzz/corpus/checkpoint (tiny-model checkpoints:
#                    ~15000 exec/s)
#   checkpoint-seed  fuzz_checkpoint on checkpoints of the real `seed` preset, generated here
#                    (2.6-4 MB each, so ~400 exec/s)
#   image            fuzz_image on tests/fuzz/corpus/image (PNG, JPEG and BMP files as an
#                    image folder holds them)
#   safetensors      fuzz_safetensors on tests/fuzz/corpus/safetensors (weights-in files: a
#                    tiny trainer's export, an F64 file, hand-made headers)
# Everything goes under build-fuzz/ (override with FUZZ_BUILD_DIR): the binaries, a fresh
# working copy of each corpus under build-fuzz/corpus/<target> (the committed corpus is
# never written to), logs, and any reproducer (crash-*, leak-*, timeout-*, oom-*) under
# build-fuzz/artifacts/<target>/.
# Exits non-zero if a harness finds anything, printing the reproducer's path and the
# command that replays it. The compiler is $FUZZ_CXX, else clang++, else clang++-14.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=60
seconds_given=""
runs=""
build_only=0
coverage=0
jobs=1
targets=()
while (($#)); do
  case "$1" in
    --runs)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --runs needs a number" >&2; exit 2; }
      runs=$2
      shift 2
      ;;
    --jobs)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --jobs needs a positive number" >&2; exit 2; }
      jobs=$2
      shift 2
      ;;
    --build-only) build_only=1; shift ;;
    --coverage) coverage=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    idx|checkpoint|checkpoint-seed|image|safetensors) targets+=("$1"); shift ;;
    *)
      if [[ "$1" =~ ^[0-9]+$ ]]; then
        seconds=$1
        seconds_given=1
        shift
      else
        echo "fuzz.sh: unknown argument '$1' (see scripts/fuzz.sh --help)" >&2
        exit 2
      fi
      ;;
  esac
done
((${#targets[@]})) || targets=(idx checkpoint checkpoint-seed image safetensors)
harness_of() { case $1 in idx | image | safetensors) echo "$1" ;; *) echo checkpoint ;; esac; }

build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
mkdir -p "$build"

# ---- tools ----------------------------------------------------------------------------------
die() { echo "fuzz.sh: $*" >&2; exit 1; }
cxx=${FUZZ_CXX:-}
if [[ -z "$cxx" ]]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
  done
fi
[[ -n "$cxx" ]] || die "clang++ not found; install the Debian packages clang (or clang-14) and libclang-rt-14-dev"
[[ -f /usr/include/eigen3/Eigen/Core ]] || die "Eigen not found (/usr/include/eigen3); install libeigen3-dev"
[[ -f /usr/include/zlib.h ]] || die "zlib.h not found; install zlib1g-dev"
[[ -f /usr/include/stb/stb_image.h ]] || die "stb_image.h not found (/usr/include/stb); install libstb-dev"
probe="$build/.probe"
mkdir -p "$probe"
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe/p.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >"$probe/log" 2>&1; then
  cat "$probe/log" >&2
  die "$cxx cannot link a libFuzzer + ASan + UBSan program; install libclang-rt-14-dev (the compiler-rt runtimes for clang 14)"
fi

# ---- build ----------------------------------------------------------------------------------
# Single-threaded: no -fopenmp (the library runs serially without it, and the sanitizers
# see one thread).
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -Iinclude -Itests/fuzz -isystem /usr/include/eigen3 -isystem /usr/include/stb)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all)

# Rebuilds `out` from `src` when any library header or harness file is newer than it.
build_one() {
  local out=$1 src=$2
  shift 2
  if [[ -x "$out" ]] && [[ -z "$(find include tests/fuzz -newer "$out" \( -name '*.hpp' -o -name '*.cpp' \) -print -quit)" ]] &&
     [[ "$out" -nt "$0" ]]; then
    return 0
  fi
  echo "fuzz.sh: building $out"
  local start=$SECONDS
  "$cxx" "${flags[@]}" "$@" "$src" -o "$out.tmp" -lz
  mv "$out.tmp" "$out"
  echo "fuzz.sh: built $out in $((SECONDS - start)) s"
}

# At most $jobs commands at a time: `throttle` waits until one of the running ones ends;
# `wait_all <what>` waits for all of them and fails if any did.
pids=()
throttle() { while (($(jobs -rp | wc -l) >= jobs)); do sleep 1; done; }
wait_all() {
  local pid failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  pids=()
  ((failed == 0)) || die "$1 failed (see above)"
}

built=" "
for t in "${targets[@]}"; do
  h=$(harness_of "$t")
  [[ $built == *" $h "* ]] && continue
  throttle
  # stb_image (Debian's 2.27) has undefined behaviour that is harmless on the compilers and
  # CPUs we build for, is not ours to patch, and would stop the image harness within
  # seconds: it memcpy()s zero bytes from a null pointer (a PNG whose first IDAT chunk is
  # empty) and shifts 32-bit values by 32 or more, or negative values left, in its JPEG bit
  # reader. The image harness leaves out those two UBSan checks; ASan still catches every
  # out-of-bounds access and use after free (docs/fuzzing.md).
  extra=()
  [[ $h == image ]] && extra=(-fno-sanitize=nonnull-attribute,shift)
  build_one "$build/fuzz_$h" "tests/fuzz/fuzz_$h.cpp" -fsanitize=fuzzer "${sanitize[@]}" "${extra[@]}" &
  pids+=($!)
  built+="$h "
done
# The seed-preset corpus generator, alongside the harnesses.
if ((!coverage)) && [[ " ${targets[*]} " == *" checkpoint-seed "* ]]; then
  throttle
  build_one "$build/make_corpus" tests/fuzz/make_corpus.cpp "${sanitize[@]}" &
  pids+=($!)
fi
wait_all "building"

# ---- coverage of the working corpora (no fuzzing) -------------------------------------------
if ((coverage)); then
  profdata=$(command -v llvm-profdata || command -v llvm-profdata-14 || true)
  llvmcov=$(command -v llvm-cov || command -v llvm-cov-14 || true)
  [[ -n "$profdata" && -n "$llvmcov" ]] || die "llvm-profdata / llvm-cov not found; install llvm-14"
  mkdir -p "$build/cov"
  for t in "${targets[@]}"; do
    h=$(harness_of "$t")
    [[ -d "$build/corpus/$t" ]] || die "no working corpus $build/corpus/$t: run scripts/fuzz.sh $t first"
    bin="$build/cov/fuzz_$h"
    build_one "$bin" "tests/fuzz/fuzz_$h.cpp" -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping
    rm -f "$build/cov/$t".*.profraw
    max_len=()
    [[ $t == checkpoint-seed ]] && max_len=(-max_len=4194304)
    LLVM_PROFILE_FILE="$build/cov/$t.%p.profraw" "$bin" "$build/corpus/$t" -runs=0 "${max_len[@]}" \
      >"$build/cov/$t.log" 2>&1 || die "replaying $build/corpus/$t failed (see $build/cov/$t.log)"
    "$profdata" merge -sparse "$build/cov/$t".*.profraw -o "$build/cov/$t.profdata"
    echo "fuzz.sh: line coverage of $t ($(ls "$build/corpus/$t" | wc -l) inputs):"
    if [[ $h == idx ]]; then files=(include/vaegan/data/idx.hpp)
    elif [[ $h == image ]]; then files=(include/vaegan/io/image_decode.hpp include/vaegan/io/image_resize.hpp include/vaegan/data/image_folder.hpp)
    elif [[ $h == safetensors ]]; then files=(include/vaegan/io/safetensors_reader.hpp include/vaegan/io/safetensors_load.hpp)
    else files=(include/vaegan/io/checkpoint_reader.hpp include/vaegan/train/checkpointing.hpp); fi
    "$llvmcov" report "$bin" -instr-profile="$build/cov/$t.profdata" "${files[@]}"
  done
  exit 0
fi

# ---- corpus ---------------------------------------------------------------------------------
# A fresh working copy each run: the fuzzer adds the inputs it finds there.
for t in "${targets[@]}"; do
  rm -rf "$build/corpus/$t"
  mkdir -p "$build/corpus/$t"
  if [[ $t == checkpoint-seed ]]; then
    # Checkpoints of the real `seed` preset, one per trainer kind: too big to commit (its
    # generator was built above).
    "$build/make_corpus" --seed-preset "$build/corpus/$t"
  else
    cp tests/fuzz/corpus/"$t"/* "$build/corpus/$t/"
  fi
done
((build_only)) && { echo "fuzz.sh: built in $build"; exit 0; }

# ---- run ------------------------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# --runs alone: that many executions; with SECONDS as well: whichever limit comes first.
if [[ -n "$runs" && -z "$seconds_given" ]]; then
  limit=(-runs="$runs"); what="$runs executions"
elif [[ -n "$runs" ]]; then
  limit=(-runs="$runs" -max_total_time="$seconds"); what="$runs executions or $seconds s, whichever comes first"
else
  limit=(-max_total_time="$seconds"); what="$seconds s"
fi

# fuzz_one <target>: fuzzes one target; writes its summary line to logs/<target>.summary
# and, when it found something, what to print about it to logs/<target>.report.
fuzz_one() {
  local t=$1 h artifacts log max_len start rc elapsed execs rate cov found f
  h=$(harness_of "$t")
  artifacts="$build/artifacts/$t"
  log="$build/logs/$t.log"
  # libFuzzer's default cap is 1 MB, and it truncates longer corpus files to it: leave room
  # for the seed-preset checkpoints (up to 4 MB). The small corpora keep libFuzzer's default
  # (the largest seed file, at least 4 KB, growing as the corpus does).
  max_len=()
  [[ $t == checkpoint-seed ]] && max_len=(-max_len=4194304)
  echo "fuzz.sh: fuzzing $t for $what (log: $log)"
  start=$SECONDS
  set +e
  "$build/fuzz_$h" "$build/corpus/$t" "${limit[@]}" "${max_len[@]}" -rss_limit_mb=2048 -timeout=10 \
    -dict="tests/fuzz/$h.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [[ $rc -ne 0 || -n "$found" ]]; then
    echo "$t: FOUND something after ${execs:-?} executions in ${elapsed} s (exit code $rc)" >"$build/logs/$t.summary"
    {
      echo "fuzz.sh: $t FOUND something (exit code $rc); the end of $log:"
      tail -40 "$log"
      for f in $found; do
        echo "fuzz.sh: reproducer: $f"
        echo "fuzz.sh:   replay with: $build/fuzz_$h $f"
      done
    } >"$build/logs/$t.report"
  else
    echo "$t: ${execs:-?} executions in ${elapsed} s (${rate:-?} exec/s), ${cov:-cov: ?}, nothing found" \
      >"$build/logs/$t.summary"
  fi
}

mkdir -p "$build/logs"
for t in "${targets[@]}"; do
  rm -rf "$build/artifacts/$t" "$build/logs/$t".{summary,report}
  mkdir -p "$build/artifacts/$t"
  throttle
  fuzz_one "$t" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done

status=0
for t in "${targets[@]}"; do
  if [[ -f "$build/logs/$t.report" ]]; then
    status=1
    cat "$build/logs/$t.report" >&2
  fi
done
echo "fuzz.sh: summary"
for t in "${targets[@]}"; do
  if [[ -f "$build/logs/$t.summary" ]]; then
    echo "  $(cat "$build/logs/$t.summary")"
  else
    status=1
    echo "  $t: the fuzzing script itself failed (no summary; see $build/logs/$t.log)"
  fi
done
exit $status
