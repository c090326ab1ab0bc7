#!/usr/bin/env bash
# Copies a study's finished runs and records from OUT (out/study/...) into the docs folder
# that commits them (docs/study/...): every run folder with a summary.md, its log, and the
# study's binary.txt, cpu-seconds.csv, hosts.csv, grid.csv and reports. Unfinished runs are
# left out, so a commit never holds half a run.
#
#   scripts/sync_study.sh out/study/fashion-conv-wide docs/study/wide/fashion-conv
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: scripts/sync_study.sh OUT DOCS_DIR" >&2; exit 2; }
out=$1 docs=$2
[[ -d $out ]] || { echo "sync_study.sh: no study at '$out'" >&2; exit 1; }
mkdir -p "$docs"
for f in binary.txt cpu-seconds.csv hosts.csv grid.csv confirm.csv ablation.md report.md fid_vs_time.svg \
         final-configurations.txt; do
  [[ -f $out/$f ]] && cp "$out/$f" "$docs/$f"
done
for summary in "$out"/*/*/summary.md; do
  [[ -f $summary ]] || continue
  run=$(dirname "$summary")
  rel=${run#"$out"/}
  mkdir -p "$docs/$rel"
  cp "$run"/* "$docs/$rel/"
  [[ -f $run.log ]] && cp "$run.log" "$docs/$rel.log"
done
echo "sync_study.sh: $(find "$docs" -name summary.md | wc -l) finished runs in $docs"
