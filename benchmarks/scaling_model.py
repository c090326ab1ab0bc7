#!/usr/bin/python3
"""The scaling model of docs/distributed.md: predicted efficiency of data-parallel
training on 4 to 64 machines, from bench_data_parallel's measured figures.

    /usr/bin/python3 benchmarks/scaling_model.py docs/perf/data-parallel-2026-11-30.jsonl

For each preset and step it takes, from the JSON lines of benchmarks/data_parallel.sh,
the one-process step time (median over rounds) and the bytes each step sums over the
processes (allreduce_bytes: every network's gradient and buffers, float32), and predicts
for P machines, one process each:
  ring allreduce  T_comm = 2 (P-1)/P * S / bandwidth  +  2 (P-1) * latency * calls
  (calls: one allreduce per network plus the small one of the losses), and
  efficiency      T_step / (T_step + T_comm),
i.e. no overlap of communication with computation: the honest case for Open MPI over TCP,
which progresses a collective only inside MPI calls (docs/distributed.md). Links: 10 GbE
at 1.17 GB/s and 20 us per message, 100 GbE at 11 GB/s and 5 us (achievable TCP figures,
not line rates). It also prints the measured 2-process point, which ran on one machine
over shared memory, beside the model's 2-machine prediction.
"""
import json
import statistics
import sys

LINKS = {"10 GbE": (1.17e9, 20e-6), "100 GbE": (11e9, 5e-6)}
NODES = (2, 4, 8, 16, 32, 64)
NETWORKS = {"gan": 2, "vae": 2, "vaegan": 3}


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
    ours = [r for r in rows if r["impl"] == "vaegan" and r.get("sums", "blocking") == "blocking"]
    keys = sorted({(r["preset"], r["step"]) for r in ours})
    print("| preset | step | bytes summed per step | 1-process step (ms) | measured 2 procs, one machine |"
          + "".join(f" {link} P={p} |" for link in LINKS for p in NODES))
    print("|---|---|---:|---:|---:|" + "---:|" * (len(LINKS) * len(NODES)))
    for preset, step in keys:
        one = [r for r in ours if (r["preset"], r["step"], r["ranks"]) == (preset, step, 1)]
        two = [r for r in ours if (r["preset"], r["step"], r["ranks"]) == (preset, step, 2)]
        t_step = statistics.median(r["median_ms"] for r in one) / 1e3
        size = one[0]["allreduce_bytes"]
        measured = (statistics.median(r["images_per_s"] for r in two)
                    / (2 * statistics.median(r["images_per_s"] for r in one)))
        cells = []
        for bandwidth, latency in LINKS.values():
            for p in NODES:
                calls = NETWORKS[step] + 1
                t_comm = 2 * (p - 1) / p * size / bandwidth + 2 * (p - 1) * latency * calls
                cells.append(f"{t_step / (t_step + t_comm):.0%}")
        print(f"| {preset} | {step} | {size / 1e6:.2f} MB | {t_step * 1e3:.2f} | {measured:.0%} |"
              + "".join(f" {c} |" for c in cells))


if __name__ == "__main__":
    main()
