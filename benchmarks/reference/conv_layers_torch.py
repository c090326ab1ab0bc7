#!/usr/bin/python3
"""Per-layer forward + backward of the `conv` preset's layers in PyTorch, and the driver
that puts them beside vaegan's bench_conv_layers.

The layers (names shared with benchmarks/conv_layers.cpp; k = kernel, s = stride, p = padding):

    conv1   Conv2d(1->32, k4 s2 p1)            [N, 1, 28, 28] -> [N, 32, 14, 14]  (no input gradient)
    conv2   Conv2d(32->64, k4 s2 p1)           [N, 32, 14, 14] -> [N, 64, 7, 7]
    convt1  ConvTranspose2d(64->32, k4 s2 p1)  [N, 64, 7, 7] -> [N, 32, 14, 14]
    convt2  ConvTranspose2d(32->1, k4 s2 p1)   [N, 32, 14, 14] -> [N, 1, 28, 28]
    bn64    BatchNorm2d(64), training mode     [N, 64, 7, 7]
    bn32    BatchNorm2d(32), training mode     [N, 32, 14, 14]
    bn3136  BatchNorm1d(3136), training mode   [N, 3136]

One timed repetition: y = layer(x), then torch.autograd.grad(y, [x,] weight, bias, dy)
with a fixed output gradient dy: the layer's forward and backward as a network's step
runs them (conv1's input is the image: no gradient, so autograd skips it). Warm-up
repetitions, then the median wall time (time.perf_counter) of --reps timed ones, the
garbage collector off, as step_torch.py times whole steps.

Three modes:

    # PyTorch alone: the best thread split per configuration (JSON lines on stdout)
    /usr/bin/python3 benchmarks/reference/conv_layers_torch.py --batch 64,256 --threads 1,2

    # side by side with vaegan (build bench_conv_layers first): ABBA rounds, Markdown table
    /usr/bin/python3 benchmarks/reference/conv_layers_torch.py --compare --rounds 4

    # (internal) one worker process with one thread split
    conv_layers_torch.py --worker --torch-threads T --blas-threads B ...

Thread counts: as in step_torch.py, the parent never imports torch. It starts one worker
per thread split with OMP_NUM_THREADS (torch's own kernels and oneDNN's convolutions),
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS set before torch loads; a worker checks that the
split took. A core budget of 2 tries the splits torch/BLAS 1/2, 2/1, 2/2 and 1/1; the best
one per configuration is kept (its search runs first, with --search-reps repetitions).

--compare: per round and per thread count, vaegan's bench_conv_layers runs every layer and
batch, then PyTorch's worker(s) with the best splits, in alternating order (vaegan first in
even rounds, PyTorch first in odd ones: ABBA), so drift in the machine's load falls on
both alike. Each figure of the table is the median over rounds of the per-run medians.
Memory: PyTorch allocates its outputs, gradients and oneDNN's scratch buffers afresh in
every repetition. With glibc's default malloc thresholds, buffers above 128 KiB come from
mmap and go back to the kernel on free, so every repetition faults its pages in again:
on the 2-vCPU VM of docs/performance.md that is about 1,100 page faults and 17 ms of CPU
time per repetition of conv1 at batch 64, a layer whose arithmetic takes 0.5 ms (and the
threshold's dynamic adjustment makes it come and go between runs). The workers therefore
run with MALLOC_MMAP_THRESHOLD_=32 MiB and MALLOC_TRIM_THRESHOLD_=1 GiB, which keep freed
memory in the heap, as a tuned PyTorch deployment would (or jemalloc / tcmalloc);
--default-malloc measures the default instead. vaegan reuses its buffers (no allocation
in a steady-state step), so the setting does not concern it.

--clock cpu (1 thread only) times both sides with the thread's CPU time instead
(time.thread_time on this side), for a machine other processes keep busy.

This module imports only the standard library at the top level.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# name: (kind, in, out, H, W, input_grad, description)
LAYERS = {
    "conv1": ("conv", 1, 32, 28, 28, False, "Conv2d(1->32, k4 s2 p1) [N,1,28,28]"),
    "conv2": ("conv", 32, 64, 14, 14, True, "Conv2d(32->64, k4 s2 p1) [N,32,14,14]"),
    "convt1": ("convt", 64, 32, 7, 7, True, "ConvTranspose2d(64->32, k4 s2 p1) [N,64,7,7]"),
    "convt2": ("convt", 32, 1, 14, 14, True, "ConvTranspose2d(32->1, k4 s2 p1) [N,32,14,14]"),
    "bn64": ("bn2d", 64, 64, 7, 7, True, "BatchNorm2d(64) [N,64,7,7]"),
    "bn32": ("bn2d", 32, 32, 14, 14, True, "BatchNorm2d(32) [N,32,14,14]"),
    "bn3136": ("bn1d", 3136, 3136, 1, 1, True, "BatchNorm1d(3136) [N,3136]"),
}
BATCHES = (64, 256)
THREADS = (1, 2)


def thread_splits(threads):
    """(torch_threads, blas_threads) splits tried for a core budget of `threads`."""
    if threads == 1:
        return [(1, 1)]
    if threads == 2:
        return [(1, 2), (2, 1), (2, 2), (1, 1)]
    raise ValueError("threads must be 1 or 2")


def conv_flops(layer, batch):
    """2 x the multiply-adds of one forward + backward (as bench_conv_layers counts them)."""
    kind, cin, cout, h, w, input_grad, _ = LAYERS[layer]
    if kind not in ("conv", "convt"):
        return 0
    small = (h // 2) * (w // 2) if kind == "conv" else h * w
    one = 2 * batch * small * cin * cout * 16
    return one * (3 if input_grad else 2)


def die(msg):
    print(f"conv_layers_torch.py: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"[conv_layers] {msg}", file=sys.stderr, flush=True)


def parse_list(text, conv, allowed, what):
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        x = conv(part)
        if allowed is not None and x not in allowed:
            die(f"--{what}: {part!r} is not one of {', '.join(map(str, allowed))}")
        if x not in out:
            out.append(x)
    if not out:
        die(f"--{what} needs at least one value")
    return out


# ---------------------------------------------------------------------------------------
# Worker side: everything that touches torch
# ---------------------------------------------------------------------------------------
def _blas_threads_actual():
    import ctypes
    try:
        return int(ctypes.CDLL("libblas.so.3").openblas_get_num_threads())
    except (OSError, AttributeError):
        return None


def build_layer(torch, layer, batch):
    nn = torch.nn
    kind, cin, cout, h, w, input_grad, _ = LAYERS[layer]
    gen = torch.Generator().manual_seed(1)
    if kind == "conv":
        mod = nn.Conv2d(cin, cout, 4, 2, 1)
        x = torch.rand(batch, cin, h, w, generator=gen)
    elif kind == "convt":
        mod = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        x = torch.randn(batch, cin, h, w, generator=gen)
    elif kind == "bn2d":
        mod = nn.BatchNorm2d(cin)
        x = torch.randn(batch, cin, h, w, generator=gen)
    else:
        mod = nn.BatchNorm1d(cin)
        x = torch.randn(batch, cin, generator=gen)
    mod.train()
    x.requires_grad_(input_grad)
    with torch.no_grad():
        y = mod(x)
    dy = torch.randn(y.shape, generator=gen)
    inputs = ([x] if input_grad else []) + [mod.weight, mod.bias]
    return mod, x, dy, inputs


def worker(args):
    t_req, b_req = args.torch_threads, args.blas_threads
    for var, want in (("OMP_NUM_THREADS", t_req), ("OPENBLAS_NUM_THREADS", b_req)):
        if os.environ.get(var) != str(want):
            sys.exit(f"conv_layers_torch.py --worker: {var}={os.environ.get(var)!r}, expected {want}; "
                     "run without --worker, the parent sets the environment")
    import torch  # noqa: WPS433 (deliberately late: the thread environment is set first)
    torch.set_num_threads(t_req)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    b_act = _blas_threads_actual()
    if b_act is not None and b_act != b_req:
        sys.exit(f"conv_layers_torch.py: OpenBLAS reports {b_act} threads, asked for {b_req}")
    if torch.get_num_threads() != t_req:
        sys.exit(f"conv_layers_torch.py: torch reports {torch.get_num_threads()} threads, asked for {t_req}")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    grad = torch.autograd.grad
    import gc
    for batch in parse_list(args.batch, int, None, "batch"):
        for layer in parse_list(args.layer, str, LAYERS, "layer"):
            mod, x, dy, inputs = build_layer(torch, layer, batch)

            def step():
                y = mod(x)
                return grad(y, inputs, dy)

            for _ in range(args.warmup):
                step()
            gc.collect()
            gc.disable()
            times = []
            try:
                for _ in range(args.reps):
                    t0 = clock()
                    step()
                    times.append(clock() - t0)
            finally:
                gc.enable()
            med = statistics.median(times)
            flops = conv_flops(layer, batch)
            rec = {"impl": "pytorch", "layer": layer, "batch": batch, "threads": args.threads,
                   "torch_threads": t_req, "blas_threads": b_req, "reps": args.reps,
                   "clock": args.clock, "median_ms": round(med * 1e3, 4),
                   "min_ms": round(min(times) * 1e3, 4), "max_ms": round(max(times) * 1e3, 4),
                   "flops": flops, "gflops": round(flops / med / 1e9, 2)}
            print(json.dumps(rec, separators=(",", ":")), flush=True)


def check(args):
    """Gradients through autograd.grad equal those of loss.backward() with <y, dy>."""
    import torch
    torch.set_num_threads(1)
    for layer in LAYERS:
        mod, x, dy, inputs = build_layer(torch, layer, 8)
        g1 = torch.autograd.grad(mod(x), inputs, dy)
        for p in inputs:
            p.grad = None
        (mod(x) * dy).sum().backward()
        worst = max(float((a - p.grad).abs().max()) for a, p in zip(g1, inputs))
        print(f"check: {layer:7s} autograd.grad vs backward(): max abs diff {worst:.2e}")
        if worst > 1e-4:
            sys.exit("check: FAILED")
    print("check: OK")


# ---------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------
def run_torch(args, layers, batches, threads, t, b, reps, clock="wall"):
    """One worker with split t/b over layers x batches; returns {(layer, batch): record}."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(b), MKL_NUM_THREADS=str(b))
    env.pop("GOTO_NUM_THREADS", None)
    if not args.default_malloc:
        env.update(MALLOC_MMAP_THRESHOLD_=str(32 << 20), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
    cmd = [args.python, os.path.abspath(__file__), "--worker", "--layer", ",".join(layers),
           "--batch", ",".join(map(str, batches)), "--threads", str(threads),
           "--torch-threads", str(t), "--blas-threads", str(b), "--reps", str(reps),
           "--warmup", str(args.warmup), "--clock", clock]
    cmd = args.taskset + cmd
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       check=False)
    if p.returncode != 0:
        die(f"worker failed ({p.returncode}): {shlex.join(cmd)}\n{p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            out[(rec["layer"], rec["batch"])] = rec
    return out


def best_splits(args, layers, batches, threads):
    """{(layer, batch): (t, b)}: the fastest split per configuration (a short search)."""
    if threads == 1:
        return {(l, n): (1, 1) for l in layers for n in batches}
    found = {}
    for t, b in thread_splits(threads):
        log(f"PyTorch split search, {threads} threads: torch {t} / BLAS {b}")
        for key, rec in run_torch(args, layers, batches, threads, t, b, args.search_reps).items():
            rec["phase"] = "search"
            args.raw.append(rec)
            if key not in found or rec["median_ms"] < found[key][1]:
                found[key] = ((t, b), rec["median_ms"])
    return {key: split for key, (split, _) in found.items()}


def run_ours(args, layers, batches, threads, clock):
    cmd = args.taskset + [args.bench, "--layer", ",".join(layers), "--batch", ",".join(map(str, batches)),
                          "--threads", str(threads), "--reps", str(args.reps), "--warmup", str(args.warmup),
                          "--clock", clock]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    if p.returncode != 0:
        die(f"bench_conv_layers failed ({p.returncode}): {shlex.join(cmd)}\n{p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            out[(rec["layer"], rec["batch"])] = rec
    missing = [k for k in ((l, n) for l in layers for n in batches) if k not in out]
    if missing:
        die(f"bench_conv_layers printed no line for {missing}")
    return out


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def compare(args, layers, batches, threads_l):
    if not os.access(args.bench, os.X_OK):
        die(f"{args.bench} not found; build it: cmake --build build --target bench_conv_layers")
    if args.clock == "cpu" and threads_l != [1]:
        die("--clock cpu needs --threads 1")
    splits = {t: best_splits(args, layers, batches, t) for t in threads_l}
    res = {}   # (layer, batch, threads) -> {"vaegan": [...], "pytorch": [...]}
    for rnd in range(args.rounds):
        log(f"round {rnd + 1}/{args.rounds}")
        for t in threads_l:
            def ours():
                for key, rec in run_ours(args, layers, batches, t, args.clock).items():
                    rec["round"] = rnd
                    args.raw.append(rec)
                    res.setdefault(key + (t,), {"vaegan": [], "pytorch": []})["vaegan"].append(rec)

            def theirs():
                by_split = {}
                for key, split in splits[t].items():
                    by_split.setdefault(split, []).append(key)
                for (ts, bs), keys in sorted(by_split.items()):
                    ls = [l for l in layers if any(k[0] == l for k in keys)]
                    ns = [n for n in batches if any(k[1] == n for k in keys)]
                    got = run_torch(args, ls, ns, t, ts, bs, args.reps, args.clock)
                    for key in keys:
                        rec = got[key]
                        rec["round"] = rnd
                        args.raw.append(rec)
                        res.setdefault(key + (t,), {"vaegan": [], "pytorch": []})["pytorch"].append(rec)

            for fn in ((ours, theirs) if rnd % 2 == 0 else (theirs, ours)):
                fn()

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = ["## vaegan vs PyTorch: conv-preset layers, forward + backward (median)", "",
           f"Machine: {cpu_name()}, {len(os.sched_getaffinity(0))} CPUs, Linux {platform.release()}. "
           f"Date: {now}.", "",
           f"Command: `{args.command}`", "",
           f"Each figure: median over {args.rounds} round(s) of the median of {args.reps} timed "
           f"repetitions after {args.warmup} warm-up ones ({args.clock} clock); both sides ran back to "
           "back in each round, in alternating order. PyTorch's thread split (torch/OpenMP threads "
           "/ OpenBLAS threads) is the best of a search of "
           f"{args.search_reps} repetitions per split. Ratio = vaegan / PyTorch (below 1: vaegan "
           "faster).", "",
           "| layer | batch | threads | vaegan ms | PyTorch ms (split) | ratio | vaegan GFLOP/s | PyTorch GFLOP/s |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t in threads_l:
        for n in batches:
            for l in layers:
                r = res[(l, n, t)]
                ours = statistics.median(x["median_ms"] for x in r["vaegan"])
                theirs = statistics.median(x["median_ms"] for x in r["pytorch"])
                ts, bs = splits[t][(l, n)]
                fl = conv_flops(l, n)
                gf = (lambda ms: f"{fl / (ms * 1e-3) / 1e9:.1f}" if fl else "-")
                out.append(f"| {l} {LAYERS[l][6]} | {n} | {t} | {ours:.3f} | {theirs:.3f} ({ts}/{bs}) | "
                           f"{ours / theirs:.2f} | {gf(ours)} | {gf(theirs)} |")
    out += ["", "Spread (min / max of the per-round medians, ms):", ""]
    for t in threads_l:
        for n in batches:
            for l in layers:
                r = res[(l, n, t)]
                v = [x["median_ms"] for x in r["vaegan"]]
                p = [x["median_ms"] for x in r["pytorch"]]
                out.append(f"- {l} batch {n} threads {t}: vaegan {min(v):.3f} / {max(v):.3f}; "
                           f"PyTorch {min(p):.3f} / {max(p):.3f}")
    text = "\n".join(out) + "\n"
    print(text, end="")
    if args.markdown_out:
        with open(args.markdown_out, "w") as f:
            f.write(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            for rec in args.raw:
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", default=",".join(LAYERS), help="comma list of layers (default all)")
    ap.add_argument("--batch", default="64,256", help="comma list of batch sizes (default 64,256)")
    ap.add_argument("--threads", default="1,2", help="comma list of core budgets, 1 and/or 2")
    ap.add_argument("--reps", type=int, default=50, help="timed repetitions (default 50)")
    ap.add_argument("--warmup", type=int, default=5, help="warm-up repetitions (default 5)")
    ap.add_argument("--search-reps", type=int, default=20,
                    help="timed repetitions per split in the split search (default 20)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall, or cpu: the calling thread's CPU time (1 thread only)")
    ap.add_argument("--compare", action="store_true",
                    help="run vaegan's bench_conv_layers and PyTorch in ABBA rounds; Markdown table")
    ap.add_argument("--rounds", type=int, default=3, help="--compare: rounds (default 3)")
    ap.add_argument("--bench", default=os.path.join(REPO, "build", "benchmarks", "bench_conv_layers"),
                    help="--compare: vaegan's program (default <repo>/build/benchmarks/bench_conv_layers)")
    ap.add_argument("--python", default=PYTHON, help="interpreter with torch (default /usr/bin/python3)")
    ap.add_argument("--cpus", help="run both sides under `taskset -c CPUS` (e.g. 0,1)")
    ap.add_argument("--json-out", help="--compare: write every raw JSON line here")
    ap.add_argument("--markdown-out", help="--compare: write the table here too")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's malloc thresholds alone in the PyTorch workers (see the top "
                         "of this file: every repetition then pays for fresh pages)")
    ap.add_argument("--check", action="store_true", help="check the gradient formulation and exit")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--torch-threads", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--blas-threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.command = shlex.join([sys.executable, *sys.argv])
    args.taskset = ["taskset", "-c", args.cpus] if args.cpus else []
    args.raw = []
    if args.worker:
        args.threads = int(args.threads)
        if args.torch_threads is None or args.blas_threads is None:
            sys.exit("--worker needs --torch-threads and --blas-threads")
        return worker(args)
    if args.check:
        if os.environ.get("OMP_NUM_THREADS") != "1":
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
            return subprocess.call([args.python, os.path.abspath(__file__), *sys.argv[1:]], env=env)
        return check(args)
    if args.reps < 1 or args.rounds < 1 or args.warmup < 0 or args.search_reps < 1:
        die("--reps, --rounds and --search-reps must be >= 1, --warmup >= 0")
    layers = parse_list(args.layer, str, LAYERS, "layer")
    batches = parse_list(args.batch, int, None, "batch")
    threads_l = parse_list(args.threads, int, THREADS, "threads")
    if args.compare:
        return compare(args, layers, batches, threads_l)
    if args.clock == "cpu" and threads_l != [1]:
        die("--clock cpu needs --threads 1")
    for t in threads_l:
        if t == 1:
            got = run_torch(args, layers, batches, 1, 1, 1, args.reps, args.clock)
            for rec in got.values():
                print(json.dumps(rec, separators=(",", ":")), flush=True)
            continue
        split = best_splits(args, layers, batches, t)
        by_split = {}
        for key, s in split.items():
            by_split.setdefault(s, []).append(key)
        for (ts, bs), keys in sorted(by_split.items()):
            got = run_torch(args, sorted({k[0] for k in keys}, key=list(LAYERS).index),
                            sorted({k[1] for k in keys}), t, ts, bs, args.reps)
            for key in keys:
                print(json.dumps(got[key], separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
