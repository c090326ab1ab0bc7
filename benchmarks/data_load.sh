#!/usr/bin/env bash
# Load time and peak memory of the data sets at scale (issue: loading at scale), as JSON
# lines and a Markdown table: Fashion-MNIST's 60,000 training images from Debian's IDX files,
# and the same 60,000 images as a folder of PNGs (one subfolder per class) that
# make_image_folder writes first, grey and as tinted RGB. Each load runs in a fresh process
# (peak RSS is per process), --runs times; the table shows the medians.
#
#   benchmarks/data_load.sh [--build DIR] [--work DIR] [--runs 3] [--threads "1 2"]
#
# Needs the build's bench_data_load and make_image_folder (cmake --build DIR --target
# bench_data_load make_image_folder) and the dataset-fashion-mnist package.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build work=${TMPDIR:-/tmp}/vaegan-data-load runs=3 threads="1 2"
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "data_load.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
fashion=/usr/share/datasets/fashion-mnist
bench=$build/benchmarks/bench_data_load
make_folder=$build/tests/examples/make_image_folder
[[ -x $bench && -x $make_folder ]] || { echo "data_load.sh: build bench_data_load and make_image_folder in $build first" >&2; exit 1; }
[[ -d $fashion ]] || { echo "data_load.sh: $fashion missing; install dataset-fashion-mnist" >&2; exit 1; }

mkdir -p "$work"
for kind in grey rgb; do
  if [[ ! -f $work/$kind.done ]]; then
    rm -rf "${work:?}/$kind"
    start=$SECONDS
    flags=()
    [[ $kind == rgb ]] && flags=(--rgb)
    "$make_folder" "$fashion" "$work/$kind" "${flags[@]}"
    echo "data_load.sh: wrote $work/$kind in $((SECONDS - start)) s ($(du -sh "$work/$kind" | cut -f1))" >&2
    touch "$work/$kind.done"
  fi
done

out=$work/results.jsonl
: >"$out"
for t in $threads; do
  for r in $(seq "$runs"); do
    "$bench" --idx "$fashion" --threads "$t" >>"$out"
    "$bench" --folder "$work/grey" --threads "$t" >>"$out"
    "$bench" --folder "$work/rgb" --channels 3 --threads "$t" >>"$out"
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r["source"], r["shape"], r["threads"]), []).append(r)
print("| data | images | shape | threads | load s | images/s | dataset MB | peak RSS MB | epoch of batches s |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for (source, shape, threads), g in groups.items():
    med = lambda k: statistics.median(x[k] for x in g)
    name = "Fashion-MNIST IDX (gzip)" if source == "idx" else "PNG folder"
    print(f"| {name} | {g[0]['images']} | {shape} | {threads} | {med('load_s'):.2f} | {med('images_per_s'):,.0f} | "
          f"{med('dataset_mb'):.0f} | {med('peak_rss_mb'):.0f} | {med('epoch_s'):.3f} |")
PY
