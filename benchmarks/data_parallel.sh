#!/usr/bin/env bash
# Data-parallel scaling beside PyTorch's DistributedDataParallel (docs/distributed.md):
# bench_data_parallel under mpirun and benchmarks/reference/ddp_torch.py (gloo), 1 and 2
# processes of one thread each, batch 64 per process, the mlp and seed presets and the
# three steps; ROUNDS rounds (default 3), each running every configuration of both
# implementations back to back, so both see the same machine. Prints the JSON lines, then
# per configuration the median steps/s over the rounds and the scaling efficiency
# (images/s at 2 processes / 2x images/s at 1).
#   benchmarks/data_parallel.sh > docs/perf/data-parallel.jsonl
# Needs a VAEGAN_MPI build in build/ (BIN overrides) and Debian's python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/benchmarks}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-100}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq "$ROUNDS"); do
  for preset in mlp seed; do
    for step in gan vae vaegan; do
      for ranks in 1 2; do
        common=(--preset "$preset" --step "$step" --batch 64 --steps "$STEPS" --warmup 20 --repeats 3)
        mpirun -np "$ranks" --oversubscribe --bind-to core "$BIN/bench_data_parallel" "${common[@]}" | tee -a "$results"
        if ((ranks > 1)); then
          VAEGAN_MPI_SUMS=nonblocking mpirun -np "$ranks" --oversubscribe --bind-to core -x VAEGAN_MPI_SUMS \
            "$BIN/bench_data_parallel" "${common[@]}" | tee -a "$results"
        fi
        /usr/bin/python3 benchmarks/reference/ddp_torch.py "${common[@]}" --ranks "$ranks" | tee -a "$results"
      done
    done
  done
  echo "data_parallel.sh: round $round of $ROUNDS done" >&2
done
/usr/bin/python3 - "$results" <<'PY' >&2
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(impl, preset, step, ranks, sums="blocking"):
    v = [r["images_per_s"] for r in rows if (r["impl"], r["preset"], r["step"], r["ranks"]) == (impl, preset, step, ranks)
         and r.get("sums", "blocking") == sums]
    return statistics.median(v)
print("| preset | step | vaegan 1 proc (img/s) | 2 procs | efficiency | 2 procs, non-blocking sums | DDP 1 proc | DDP 2 procs | efficiency | vaegan / DDP at 2 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for preset in ("mlp", "seed"):
    for step in ("gan", "vae", "vaegan"):
        a1, a2 = med("vaegan", preset, step, 1), med("vaegan", preset, step, 2)
        nb = med("vaegan", preset, step, 2, "nonblocking")
        t1, t2 = med("pytorch-ddp", preset, step, 1), med("pytorch-ddp", preset, step, 2)
        print(f"| {preset} | {step} | {a1:.0f} | {a2:.0f} | {a2 / (2 * a1):.0%} | {nb:.0f} ({nb / (2 * a1):.0%}) | {t1:.0f} | {t2:.0f} | {t2 / (2 * t1):.0%} | {a2 / t2:.2f}x |")
PY
