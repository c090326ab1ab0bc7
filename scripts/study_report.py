#!/usr/bin/env python3
"""The efficiency study's report for one setting (scripts/efficiency_study.sh SETTING report).

Reads OUT/final/<method>-seed<N>/<method>.csv (one run per method and seed, from
`efficiency_study.sh SETTING final`), and when present OUT/grid.csv, OUT/confirm.csv,
OUT/final-configurations.txt, OUT/binary.txt, OUT/cpu-seconds.csv and OUT/hosts.csv. Writes
  OUT/report.md         time to the GAN's best FID per seed, scores at the end of the budget,
                        the GAN's plateau check, where each final ran, the tuning grid and
                        its confirm runs, CPU time spent
  OUT/fid_vs_time.svg   FID against training seconds: each seed thin, the mean over seeds thick

Definitions (docs/study/fair/README.md):
  * time to the GAN's best FID: per seed, the GAN's lowest FID within the budget is the target;
    a method's time is its first evaluation point at or below it (as `compare` computes it).
    A CPU second buys different amounts of training on different processors, so a seed's
    times compare only if its three runs ran on one kind of CPU (hosts.csv); the report says
    where they did not.
  * plateau: FID on 1,000 samples moves by a few points between evaluations, so the check
    smooths each curve with a 5-point (50 s) moving average and compares the best smoothed FID
    of the last quarter of the budget with the best before it; the GAN has plateaued if the
    last quarter improves on it by less than 2%.
Standard library only.
"""
import argparse
import collections
import csv
import glob
import math
import os
import re
import statistics
import sys

METHODS = ["gan", "vae", "vaegan"]
LABELS = {"gan": "GAN", "vae": "VAE", "vaegan": "VAE-GAN"}
COLOURS = {"gan": "#d62728", "vae": "#1f77b4", "vaegan": "#2ca02c"}
SETTINGS = {"mnist-mlp": "MNIST, `mlp` preset", "fashion-conv": "Fashion-MNIST, `conv` preset"}
SMOOTH = 5
PLATEAU = 0.02


def fail(message):
    print(f"study_report.py: {message}", file=sys.stderr)
    sys.exit(1)


# One evaluation point of a final run.
Point = collections.namedtuple("Point", "seconds fid precision recall classes step")


def read_runs(out):
    """{method: {seed: [Point, ...]}} from the final runs, in time order."""
    runs = {m: {} for m in METHODS}
    for path in sorted(glob.glob(os.path.join(out, "final", "*-seed*", "*.csv"))):
        run_dir = os.path.dirname(path)
        if not os.path.exists(os.path.join(run_dir, "summary.md")):
            continue  # unfinished
        method = os.path.splitext(os.path.basename(path))[0]
        if method not in runs:
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row["diverged"] != "0":
                    continue
                seed = int(row["seed"])
                point = Point(float(row["seconds"]), float(row["fid"]), float(row["precision"]), float(row["recall"]),
                              float(row["classes_covered"]), int(float(row["step"])))
                runs[method].setdefault(seed, []).append(point)
    for method in runs:
        for seed in runs[method]:
            runs[method][seed].sort()
    return runs


def mean_sd(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"  # one seed (a rerun of a single seed) has no spread to show
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def first_reaching(points, target):
    for seconds, fid, *_ in points:
        if math.isfinite(fid) and fid <= target:
            return seconds
    return None


def smoothed(points):
    fids = [p.fid for p in points]
    return [(points[i].seconds, statistics.mean(fids[i - SMOOTH + 1:i + 1])) for i in range(SMOOTH - 1, len(fids))]


def plateau(points, budget):
    """(best smoothed FID before the last quarter, best within it, relative improvement)."""
    curve = smoothed(points)
    cut = 0.75 * budget
    before = [f for s, f in curve if s <= cut]
    last = [f for s, f in curve if s > cut]
    if not before or not last:
        return None
    b, l = min(before), min(last)
    return b, l, (b - l) / b


def read_hosts(out):
    """{"final/gan-seed1": "AMD EPYC; family 26 model 2", ...} from OUT/hosts.csv (empty if none)."""
    path = os.path.join(out, "hosts.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        return {row["run"]: row["cpu"] for row in csv.DictReader(f)}


def seed_cpus(hosts, seed):
    """The CPU kinds the seed's final runs ran on, one entry per method that has a record."""
    return {m: hosts[f"final/{m}-seed{seed}"] for m in METHODS if f"final/{m}-seed{seed}" in hosts}


def seed_cpu_cell(hosts, seed):
    cpus = seed_cpus(hosts, seed)
    if not cpus:
        return "not recorded"
    kinds = sorted(set(cpus.values()))
    if len(kinds) == 1:
        return kinds[0] + ("" if len(cpus) == len(METHODS) else f" ({len(cpus)} of {len(METHODS)} runs recorded)")
    return "**mixed**: " + "; ".join(f"{LABELS[m]} on {c}" for m, c in cpus.items())


def time_table(runs, budget, hosts):
    lines = ["| seed | GAN's best FID | GAN reached it at | VAE reached it at | VAE-GAN reached it at "
             "| CPU of the seed's runs |", "|---:|---:|---:|---:|---:|---|"]
    for seed in sorted(runs["gan"]):
        gan = runs["gan"][seed]
        best_s, best = min(((s, f) for s, f, *_ in gan), key=lambda p: (p[1], p[0]))
        cells = [str(seed), f"{best:.2f}", f"{best_s:.0f} s"]
        for method in ("vae", "vaegan"):
            if seed not in runs[method]:
                cells.append("(not run)")
                continue
            t = first_reaching(runs[method][seed], best)
            cells.append(f"{t:.0f} s" if t is not None else f"not within {budget:.0f} s")
        cells.append(seed_cpu_cell(hosts, seed))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def mixed_seeds(runs, hosts):
    return [seed for seed in sorted(runs["gan"]) if len(set(seed_cpus(hosts, seed).values())) > 1]


def steps_lines(runs):
    """Training steps each final run took within its budget: how far a CPU second went."""
    lines = ["| seed | GAN steps | VAE steps | VAE-GAN steps |", "|---:|---:|---:|---:|"]
    for seed in sorted(runs["gan"]):
        cells = [str(seed)]
        for method in METHODS:
            points = runs[method].get(seed)
            cells.append(f"{points[-1].step:,}" if points else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def equal_steps_lines(runs):
    """Each method's best FID within the same number of training steps: the fewest any method of the
    seed made within the budget. It separates what a step buys from what a step costs."""
    lines = ["| seed | steps (the fewest any method made) | GAN's best FID | VAE's best FID | VAE-GAN's best FID |",
             "|---:|---:|---:|---:|---:|"]
    for seed in sorted(runs["gan"]):
        if any(seed not in runs[m] for m in METHODS):
            continue
        cap = min(runs[m][seed][-1].step for m in METHODS)
        cells = [str(seed), f"{cap:,}"]
        for method in METHODS:
            fids = [p.fid for p in runs[method][seed] if p.step <= cap and math.isfinite(p.fid)]
            cells.append(f"{min(fids):.2f}" if fids else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def score_table(runs):
    lines = ["| method | seeds | best FID | FID at end | precision at end | recall at end | classes at end |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for method in METHODS:
        seeds = sorted(runs[method])
        if not seeds:
            continue
        ends = [runs[method][s][-1] for s in seeds]
        best = [min(p.fid for p in runs[method][s]) for s in seeds]
        lines.append(f"| {LABELS[method]} | {len(seeds)} | {mean_sd(best)} | {mean_sd([e.fid for e in ends])} | "
                     f"{mean_sd([e.precision for e in ends])} | {mean_sd([e.recall for e in ends])} | "
                     f"{mean_sd([e.classes for e in ends])} |")
    return lines


def plateau_lines(runs, budget):
    lines = ["| seed | best 50-s mean FID before the last quarter | best in the last quarter | improvement | "
             "plateaued (< 2%) |", "|---:|---:|---:|---:|---|"]
    verdicts = []
    for seed in sorted(runs["gan"]):
        result = plateau(runs["gan"][seed], budget)
        if result is None:
            lines.append(f"| {seed} | - | - | - | too few points |")
            continue
        b, l, gain = result
        verdicts.append(gain < PLATEAU)
        lines.append(f"| {seed} | {b:.2f} | {l:.2f} | {100 * gain:.1f}% | {'yes' if gain < PLATEAU else 'no'} |")
    return lines, verdicts


def grid_lines(out, name="grid.csv"):
    """The tuning grid (grid.csv) or its confirm runs (confirm.csv), finalists in bold."""
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    chosen = set()
    conf = os.path.join(out, "final-configurations.txt")
    if os.path.exists(conf):
        chosen = set(re.findall(r"\b(?:gan|vae|vaegan)-\d+\b", open(conf).read()))
    lines = ["| configuration | flags | best validation FID | at | FID at end |", "|---|---|---:|---:|---:|"]
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            name = f"**{row['name']}**" if row["name"] in chosen else row["name"]
            lines.append(f"| {name} | `{row['flags']}` | {float(row['best_validation_fid']):.2f} | "
                         f"{row['seconds_at_best']} s | {float(row['fid_at_end']):.2f} |")
    return lines


def cpu_lines(out):
    path = os.path.join(out, "cpu-seconds.csv")
    if not os.path.exists(path):
        return []
    total = {kind: [0, 0.0, 0.0] for kind in ("tune", "probe", "confirm", "final")}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            kind = row["run"].split("/")[0]
            if kind in total:
                total[kind][0] += 1
                total[kind][1] += float(row["cpu_s"])
                total[kind][2] += float(row["wall_s"])
    lines = ["| runs | count timed | CPU hours (training and scoring) | wall hours (runs side by side) |",
             "|---|---:|---:|---:|"]
    for kind, (n, cpu, wall) in total.items():
        if n:
            lines.append(f"| {kind} | {n} | {cpu / 3600:.2f} | {wall / 3600:.2f} |")
    return lines


def svg_plot(runs, budget, path):
    width, height, left, right, top, bottom = 720, 440, 64, 150, 20, 48
    fids = [p.fid for m in METHODS for pts in runs[m].values() for p in pts if p.fid > 0 and math.isfinite(p.fid)]
    if not fids:
        return
    lo, hi = math.log10(max(1.0, min(fids) * 0.9)), math.log10(max(fids) * 1.1)

    def x(s):
        return left + (width - left - right) * s / budget

    def y(f):
        return top + (height - top - bottom) * (hi - math.log10(max(f, 1e-9))) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for tick in (20, 30, 50, 100, 200, 300, 500):
        if lo <= math.log10(tick) <= hi:
            out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                       'stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    step = 100 if budget <= 1000 else 300 if budget <= 3000 else 600
    for s in range(0, int(budget) + 1, step):
        out.append(f'<text x="{x(s):.1f}" y="{height - bottom + 16}" text-anchor="middle">{s}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">'
               'training seconds (CPU time of the training thread)</text>')
    out.append(f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(top + height - bottom) / 2})">FID (log scale)</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
               'fill="none" stroke="#444"/>')
    for i, method in enumerate(METHODS):
        seeds = runs[method]
        if not seeds:
            continue
        for pts in seeds.values():
            coords = " ".join(f"{x(s):.1f},{y(f):.1f}" for s, f, *_ in pts)
            out.append(f'<polyline points="{coords}" fill="none" stroke="{COLOURS[method]}" stroke-width="0.7" '
                       'stroke-opacity="0.45"/>')
        by_time = {}
        for pts in seeds.values():
            for s, f, *_ in pts:
                by_time.setdefault(s, []).append(f)
        mean = [(s, statistics.mean(v)) for s, v in sorted(by_time.items()) if len(v) == len(seeds)]
        coords = " ".join(f"{x(s):.1f},{y(f):.1f}" for s, f in mean)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{COLOURS[method]}" stroke-width="2"/>')
        ly = top + 20 + 20 * i
        out.append(f'<line x1="{width - right + 12}" x2="{width - right + 36}" y1="{ly}" y2="{ly}" '
                   f'stroke="{COLOURS[method]}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 42}" y="{ly + 4}">{LABELS[method]} ({len(seeds)} seeds)</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="the setting's output directory (efficiency_study.sh's OUT)")
    ap.add_argument("--setting", default="", help="mnist-mlp or fashion-conv (for the title)")
    ap.add_argument("--budget", type=float, default=600, help="training seconds per run (default 600)")
    args = ap.parse_args()
    runs = read_runs(args.out)
    hosts = read_hosts(args.out)
    if not runs["gan"]:
        fail(f"no finished final GAN run in {args.out}/final (run efficiency_study.sh SETTING final first)")
    title = SETTINGS.get(args.setting, args.setting or os.path.basename(os.path.abspath(args.out)))
    md = [f"# Efficiency study: {title}", ""]
    for name in ("final-configurations.txt", "binary.txt"):
        path = os.path.join(args.out, name)
        if os.path.exists(path):
            md += ["```", open(path).read().strip(), "```", ""]
    md += ["Final runs: batch 64, one thread, "
           f"{args.budget:.0f} s of training by the CPU clock, FID / precision / recall / classes on 1,000 "
           "samples every 10 s against the test split.", "",
           "## Time to the GAN's best FID", ""] + time_table(runs, args.budget, hosts)
    mixed = mixed_seeds(runs, hosts)
    if mixed:
        md += ["", f"**Seed(s) {', '.join(map(str, mixed))} ran on more than one kind of CPU: a CPU second buys "
               "different amounts of training there, so those seeds' times do not compare.**"]
    md += ["", "Training steps within the budget (how much training a CPU second bought):", ""] + steps_lines(runs)
    md += ["", "Best FID within equal training steps (each method's first N steps, N the fewest any method "
           "made on that seed; where the methods differ in what a step costs, this shows what a step buys):",
           ""] + equal_steps_lines(runs)
    md += ["", "## Scores (mean ± sd over seeds)", ""] + score_table(runs)
    plateau_table, verdicts = plateau_lines(runs, args.budget)
    md += ["", "## Did the GAN plateau?", "",
           f"5-point (50 s) moving average of the GAN's FID; it has plateaued if the last quarter of the budget "
           f"improves on the best before it by less than {100 * PLATEAU:.0f}%.", ""] + plateau_table
    if verdicts and not all(verdicts):
        md += ["", "**The GAN was still improving on some seed: this budget is too short for a verdict.**"]
    md += ["", "![FID against training time](fid_vs_time.svg)"]
    grid = grid_lines(args.out)
    if grid:
        md += ["", "## Tuning grid (seed 1, validation split; chosen configurations in bold)", ""] + grid
    confirm = grid_lines(args.out, "confirm.csv")
    if confirm:
        md += ["", f"## Confirm runs: each method's two best tuning configurations for {args.budget:.0f} s "
               "(seed 1, validation split; chosen in bold)", ""] + confirm
    cpu = cpu_lines(args.out)
    if cpu:
        md += ["", "## CPU time spent (runs timed by efficiency_study.sh)", ""] + cpu
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    svg_plot(runs, args.budget, os.path.join(args.out, "fid_vs_time.svg"))
    print(f"study_report.py: wrote {args.out}/report.md and {args.out}/fid_vs_time.svg")


if __name__ == "__main__":
    main()
