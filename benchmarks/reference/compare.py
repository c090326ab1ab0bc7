#!/usr/bin/python3
"""Side-by-side comparison: vaegan's bench_step against PyTorch (step_torch.py).

The one command of the comparison (run from the repository root, after building
bench_step and bench_peak):

    /usr/bin/python3 benchmarks/reference/compare.py \
        --json-out compare.jsonl --markdown-out compare.md

What it does:
 1. For every 2-thread configuration, finds PyTorch's best thread split (torch/OpenMP
    threads vs OpenBLAS threads) once, with a short search (--search-steps steps per split).
    1-thread configurations use torch 1 + OpenBLAS 1.
 2. Measures the FP32 FMA peak with bench_peak for 1 and 2 threads (median of --peak-runs).
 3. Runs --rounds rounds. In each round every configuration runs vaegan's bench_step and
    PyTorch's best split back to back, so both see the same machine state; the order
    alternates between rounds (vaegan first in even rounds, PyTorch first in odd ones:
    ABBA), so drift in the machine's load falls on both alike.
 4. Reports, per configuration, the median over rounds of each side's median_ms (and the
    min/max over all steps of all rounds), as a Markdown table; plus vaegan's 2-thread
    over 1-thread speed-up.

Standard library only; PyTorch runs in its own processes (step_torch.py, which needs
Debian's python3-torch and /usr/bin/python3).
"""
import argparse
import datetime
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import step_torch  # noqa: E402  (stdlib-only at import; gives the presets and the FLOP formula)

STEP_TORCH = os.path.join(HERE, "step_torch.py")


def die(msg):
    print(f"compare.py: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def parse_list(values, conv, allowed):
    """--preset mlp --preset seed or --preset mlp,seed; None = all allowed."""
    if not values:
        return list(allowed)
    out = []
    for v in values:
        for part in v.split(","):
            part = part.strip()
            if not part:
                continue
            x = conv(part)
            if x not in allowed:
                die(f"{part!r} is not one of {', '.join(map(str, allowed))}")
            if x not in out:
                out.append(x)
    return out


def json_line(stdout, what):
    lines = [l for l in stdout.splitlines() if l.strip().startswith("{")]
    if not lines:
        die(f"{what} printed no JSON line; its output was:\n{stdout}")
    try:
        return lines[-1].strip(), json.loads(lines[-1])
    except json.JSONDecodeError as e:
        die(f"{what} printed a line that is not JSON ({e}): {lines[-1]}")


def run(cmd, what):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           check=False)
    except OSError as e:
        die(f"cannot run {what} ({shlex.join(cmd)}): {e}")
    if p.returncode != 0:
        die(f"{what} failed with exit status {p.returncode}: {shlex.join(cmd)}\n{p.stderr}")
    return p


def machine_info(python):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    probe = (
        "import ctypes, torch\n"
        "blas = 'unknown'\n"
        "for l in open('/proc/self/maps'):\n"
        "    p = l.split()[-1]\n"
        "    if 'libblas.so' in p or 'libopenblas' in p:\n"
        "        blas = p; break\n"
        "try:\n"
        "    f = ctypes.CDLL('libblas.so.3').openblas_get_config\n"
        "    f.restype = ctypes.c_char_p\n"
        "    blas = f().decode() + ' (' + blas + ')'\n"
        "except Exception:\n"
        "    pass\n"
        "print(torch.__version__)\n"
        "print(blas)\n")
    p = subprocess.run([python, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, check=False,
                       env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"))
    if p.returncode != 0:
        die(f"cannot import torch with {python} ({p.stderr.strip().splitlines()[-1:]}); "
            "install Debian's CPU build: apt-get install python3-torch")
    tv, blas = p.stdout.strip().splitlines()[:2]
    return {"cpu": cpu, "nproc": ncpu, "torch": tv, "blas": blas,
            "kernel": platform.release()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-dir", default=os.path.join(REPO, "build", "benchmarks"),
                    help="directory holding bench_step and bench_peak "
                         "(default: <repo>/build/benchmarks)")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="interpreter with torch for step_torch.py (default /usr/bin/python3)")
    ap.add_argument("--steps", type=int, default=100, help="timed steps per run (default 100)")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up steps per run (default 10)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--search-steps", type=int, default=30,
                    help="timed steps per split in PyTorch's split search (default 30)")
    ap.add_argument("--peak-runs", type=int, default=3,
                    help="bench_peak runs per thread count; the median is used (default 3)")
    ap.add_argument("--preset", "--presets", action="append", dest="preset",
                    help="only these presets: seed, mlp, conv (repeat or comma list)")
    ap.add_argument("--step", action="append", help="only these steps: gan, vae, vaegan")
    ap.add_argument("--batch", action="append", help="only these batch sizes: 64, 256")
    ap.add_argument("--threads", action="append", help="only these core budgets: 1, 2")
    ap.add_argument("--json-out", help="write every raw JSON line here (JSON Lines)")
    ap.add_argument("--markdown-out", help="write the Markdown report here too")
    args = ap.parse_args()
    if args.rounds < 1 or args.steps < 1:
        die("--rounds and --steps must be at least 1")

    command = shlex.join([sys.executable, *sys.argv])
    bench_dir = os.path.abspath(args.bench_dir)
    bench_step = os.path.join(bench_dir, "bench_step")
    bench_peak = os.path.join(bench_dir, "bench_peak")
    missing = [b for b in (bench_step, bench_peak) if not os.access(b, os.X_OK)]
    if missing:
        die(f"missing C++ benchmark program(s): {', '.join(missing)}\n"
            "build them with: cmake --build build --target bench_step bench_peak")
    if not os.access(args.python, os.X_OK):
        die(f"{args.python} not found; step_torch.py needs Debian's python3 with python3-torch "
            "(apt-get install python3-torch)")
    info = machine_info(args.python)
    log(f"{info['cpu']}, {info['nproc']} CPUs, torch {info['torch']}, BLAS {info['blas']}")

    presets = parse_list(args.preset, str, sorted(step_torch.PRESETS))
    steps = parse_list(args.step, str, list(step_torch.STEPS))
    batches = parse_list(args.batch, int, list(step_torch.BATCHES))
    threads_l = parse_list(args.threads, int, list(step_torch.THREADS))
    configs = list(itertools.product(presets, steps, batches, threads_l))
    # bench_step refuses a preset it does not know when it parses its arguments: ask it
    # now (--list runs nothing), not after minutes of timing the presets before it.
    for preset in presets:
        p = subprocess.run([bench_step, "--preset", preset, "--list"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, check=False)
        if p.returncode != 0:
            die(f"bench_step does not run preset {preset!r} ({p.stderr.strip()}); rebuild it "
                f"from a tree that has it, or leave it out with --preset")

    raw = []   # every JSON line, tagged with phase and round

    def record(line, phase, rnd=None):
        rec = json.loads(line)
        rec["phase"] = phase
        if rnd is not None:
            rec["round"] = rnd
        raw.append(rec)
        return rec

    # 1. PyTorch's best split per 2-thread configuration
    split = {}
    for cfg in configs:
        preset, step, batch, threads = cfg
        if threads == 1:
            split[cfg] = (1, 1)
            continue
        log(f"PyTorch split search: {preset} {step} batch {batch} threads {threads}")
        cmd = [args.python, STEP_TORCH, "--preset", preset, "--step", step,
               "--batch", str(batch), "--threads", str(threads), "--search",
               "--steps", str(args.search_steps), "--warmup", str(args.warmup)]
        p = run(cmd, "step_torch.py --search")
        for l in p.stderr.splitlines():
            if l.startswith("{"):
                record(l, "search")
        line, best = json_line(p.stdout, "step_torch.py --search")
        record(line, "search")
        split[cfg] = (best["torch_threads"], best["blas_threads"])
        log(f"  best split torch {split[cfg][0]} / OpenBLAS {split[cfg][1]}: "
            f"{best['median_ms']:.3f} ms")

    # 2. FMA peak
    peak = {}
    for t in sorted(set(threads_l)):
        vals = []
        for _ in range(max(1, args.peak_runs)):
            p = run([bench_peak, "--threads", str(t)], "bench_peak")
            line, rec = json_line(p.stdout, "bench_peak")
            record(line, "peak")
            vals.append(float(rec["peak_gflops"]))
        peak[t] = statistics.median(vals)
        log(f"FMA peak, {t} thread(s): {peak[t]:.1f} GFLOP/s")

    # 3. rounds, alternating order
    runs = {cfg: {"vaegan": [], "pytorch": []} for cfg in configs}

    def run_ours(cfg, rnd):
        preset, step, batch, threads = cfg
        cmd = [bench_step, "--preset", preset, "--step", step, "--batch", str(batch),
               "--threads", str(threads), "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
        line, _ = json_line(run(cmd, "bench_step").stdout, "bench_step")
        rec = record(line, "timed", rnd)
        for k, want in (("preset", preset), ("step", step), ("batch", batch),
                        ("threads", threads)):
            if rec.get(k) != want:
                die(f"bench_step answered {k}={rec.get(k)!r} for {k} {want!r}: {line}")
        runs[cfg]["vaegan"].append(rec)

    def run_torch(cfg, rnd):
        preset, step, batch, threads = cfg
        t, b = split[cfg]
        cmd = [args.python, STEP_TORCH, "--preset", preset, "--step", step,
               "--batch", str(batch), "--threads", str(threads), "--torch-threads", str(t),
               "--blas-threads", str(b), "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
        line, _ = json_line(run(cmd, "step_torch.py").stdout, "step_torch.py")
        runs[cfg]["pytorch"].append(record(line, "timed", rnd))

    for rnd in range(args.rounds):
        log(f"round {rnd + 1}/{args.rounds}")
        for cfg in configs:
            order = (run_ours, run_torch) if rnd % 2 == 0 else (run_torch, run_ours)
            for fn in order:
                fn(cfg, rnd)

    # 4. report
    def summary(recs):
        return {"median_ms": statistics.median(r["median_ms"] for r in recs),
                "min_ms": min(r["min_ms"] for r in recs),
                "max_ms": max(r["max_ms"] for r in recs),
                "round_medians": [r["median_ms"] for r in recs]}

    warnings = []
    res = {}
    for cfg in configs:
        preset, step, batch, threads = cfg
        want = step_torch.flops_per_step(preset, step, batch)
        for side in ("vaegan", "pytorch"):
            got = {r["flops_per_step"] for r in runs[cfg][side]}
            if got != {want}:
                warnings.append(f"{side} {preset}/{step}/{batch}: flops_per_step {sorted(got)} "
                                f"differs from the formula's {want}")
        res[cfg] = {side: summary(runs[cfg][side]) for side in ("vaegan", "pytorch")}
        res[cfg]["flops"] = want

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = []
    out.append("## vaegan vs PyTorch: one training step (median wall time)")
    out.append("")
    if "conv" in presets:
        out.append("The `conv` preset is DCGAN-style with batch norm: images [B, 1, 28, 28]; "
                   "both sides run one decoder pass over [z; z_p] and one discriminator pass "
                   "over the stacked batch, so batch norm sees the same rows.")
        out.append("")
    out.append(f"Machine: {info['cpu']}, {info['nproc']} CPUs (nproc), Linux {info['kernel']}; "
               f"PyTorch {info['torch']} (Debian python3-torch) with BLAS {info['blas']}. "
               f"Date: {now}.")
    out.append("")
    out.append(f"Command: `{command}`")
    out.append("")
    out.append(f"Each figure: median over {args.rounds} round(s) of the median of "
               f"{args.steps} timed steps after {args.warmup} warm-up steps; the two sides ran "
               "back to back in each round, in alternating order. PyTorch's thread split "
               "(torch/OpenMP threads / OpenBLAS threads) is the best of a "
               f"{args.search_steps}-step search. FMA peak: bench_peak, " +
               ", ".join(f"{t} thread(s) {peak[t]:.1f} GFLOP/s" for t in sorted(peak)) + ".")
    out.append("")
    out.append("| preset | step | batch | threads | vaegan ms | PyTorch ms (split t/b) "
               "| speed-up (PyTorch/vaegan) | vaegan GFLOP/s | fraction of FMA peak |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for cfg in configs:
        preset, step, batch, threads = cfg
        r = res[cfg]
        ours, theirs = r["vaegan"]["median_ms"], r["pytorch"]["median_ms"]
        gf = r["flops"] / (ours * 1e-3) / 1e9
        t, b = split[cfg]
        out.append(f"| {preset} | {step} | {batch} | {threads} | {ours:.3f} | "
                   f"{theirs:.3f} ({t}/{b}) | {theirs / ours:.2f}x | {gf:.1f} | "
                   f"{gf / peak[threads]:.1%} |")
    if 1 in threads_l and 2 in threads_l:
        out.append("")
        out.append("2-thread over 1-thread speed-up (time at 1 thread / time at 2 threads):")
        out.append("")
        out.append("| preset | step | batch | vaegan 1T ms | vaegan 2T ms | vaegan speed-up "
                   "| PyTorch speed-up |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        for preset, step, batch in itertools.product(presets, steps, batches):
            r1, r2 = res[(preset, step, batch, 1)], res[(preset, step, batch, 2)]
            o1, o2 = r1["vaegan"]["median_ms"], r2["vaegan"]["median_ms"]
            p1, p2 = r1["pytorch"]["median_ms"], r2["pytorch"]["median_ms"]
            out.append(f"| {preset} | {step} | {batch} | {o1:.3f} | {o2:.3f} | {o1 / o2:.2f}x "
                       f"| {p1 / p2:.2f}x |")
    out.append("")
    out.append("Spread (min / max of the per-round medians, ms):")
    out.append("")
    for cfg in configs:
        r = res[cfg]
        v, p = r["vaegan"]["round_medians"], r["pytorch"]["round_medians"]
        out.append(f"- {cfg[0]} {cfg[1]} batch {cfg[2]} threads {cfg[3]}: vaegan "
                   f"{min(v):.3f} / {max(v):.3f}; PyTorch {min(p):.3f} / {max(p):.3f}; "
                   f"fastest single step: vaegan {r['vaegan']['min_ms']:.3f}, "
                   f"PyTorch {r['pytorch']['min_ms']:.3f}")
    for w in warnings:
        out.append("")
        out.append(f"**Warning:** {w}")
    text = "\n".join(out) + "\n"
    print(text, end="")
    for w in warnings:
        log("WARNING: " + w)

    if args.markdown_out:
        with open(args.markdown_out, "w") as f:
            f.write(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            for rec in raw:
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
