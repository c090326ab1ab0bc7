#!/usr/bin/env python3
"""The wide search's tuning table and the VAE-GAN's ablation (scripts/efficiency_study.sh SETTING ablation).

Reads OUT/grid.csv (efficiency_study.sh SETTING grid: every finished tuning run's flags)
and each finished run's OUT/tune/<name>/<method>.csv and, for the VAE-GAN,
OUT/tune/<name>/vaegan-steps.csv. Writes OUT/ablation.md:
  * per method, every finished configuration ranked by its best validation FID, with the
    time of the best, the FID at the end of the budget and the steps it made;
  * the VAE-GAN's ablation: each configuration against the base (BASE, vaegan-6 by default:
    the fair study's conv winner), the change named by the flags it adds or alters, its best
    and final FID, the best FID after the decoder's batch norm is recalibrated on prior codes
    (compare --bn-check), and how often D and the decoder were updated and how often
    equilibrium gating skipped them (step-weighted means of vaegan-steps.csv);
  * the instrument runs (OUT/instruments/<name>/, compare with --vaegan-term-norms-every):
    over the steps where the adversarial terms were on, the update and gating rates, D's mean
    outputs, each decoder loss term's gradient norm, and the FID given up to the batch-norm
    statistics (FID minus recalibrated FID, mean and range over the evaluation points).
Standard library only. Docs: docs/study/wide/README.md.
"""
import argparse
import csv
import math
import os
import sys

METHODS = ["gan", "vae", "vaegan"]
LABELS = {"gan": "GAN", "vae": "VAE", "vaegan": "VAE-GAN"}


def fail(message):
    print(f"ablation_report.py: {message}", file=sys.stderr)
    sys.exit(1)


def read_grid(out):
    """[(name, method, flags)] of grid.csv, in its order."""
    path = os.path.join(out, "grid.csv")
    if not os.path.exists(path):
        fail(f"no {path}: run 'efficiency_study.sh SETTING grid' first")
    with open(path, newline="") as f:
        return [(row["name"], row["method"], row["flags"]) for row in csv.DictReader(f)]


def number(text):
    try:
        return float(text)
    except ValueError:
        return math.nan


def run_scores(out, name, method):
    """Best FID and its time, FID at the end, last step, best recalibrated FID (nan if none)."""
    best, at, last, step, recal = math.inf, 0.0, math.nan, 0, math.inf
    with open(os.path.join(out, "tune", name, method + ".csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["diverged"] != "0":
                continue
            fid = number(row["fid"])
            if fid < best:
                best, at = fid, number(row["seconds"])
            last, step = fid, int(float(row["step"]))
            r = number(row.get("fid_recalibrated", "nan"))
            if r < recal:
                recal = r
    return best, at, last, step, (recal if math.isfinite(recal) else math.nan)


def update_rates(out, name):
    """Step-weighted means of d_updated, dec_updated, d_gated, dec_gated over the run."""
    path = os.path.join(out, "tune", name, "vaegan-steps.csv")
    keys = ["d_updated", "dec_updated", "d_gated", "dec_gated"]
    if not os.path.exists(path):
        return {k: math.nan for k in keys}
    sums, weight, previous = {k: 0.0 for k in keys}, 0, 0
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row["step"]))
            steps, previous = step - previous, step
            values = [number(row[k]) for k in keys]
            if steps <= 0 or not all(math.isfinite(v) for v in values):
                continue
            for k, v in zip(keys, values):
                sums[k] += v * steps
            weight += steps
    return {k: (sums[k] / weight if weight else math.nan) for k in keys}


def instrument_lines(out):
    """The instrument runs' table (empty if there are none)."""
    root = os.path.join(out, "instruments")
    names = sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "summary.md"))) \
        if os.path.isdir(root) else []
    if not names:
        return []
    keys = ["d_updated", "d_gated", "dec_updated", "dec_gated", "d_real", "d_recon", "d_prior",
            "gnorm_pixel", "gnorm_feature", "gnorm_adv"]
    lines = ["## Instrument runs", "",
             "Means over the steps where the adversarial terms were on (those whose interval has a D "
             "output), weighted by steps; gradient norms over the steps that measured them. \"FID given up to batch "
             "norm\": FID minus the FID after recalibrating the decoder's batch norm on prior codes.", "",
             "| run | adversarial steps | D updated (gated) | decoder updated (gated) | D(real) / D(recon) / D(prior) "
             "| decoder-gradient norm: pixel / feature / adversarial | FID given up to batch norm |",
             "|---|---:|---:|---:|---|---|---|"]
    for name in names:
        sums, weights, previous, adversarial = {k: 0.0 for k in keys}, {k: 0 for k in keys}, 0, 0
        with open(os.path.join(root, name, "vaegan-steps.csv"), newline="") as f:
            for row in csv.DictReader(f):
                step = int(float(row["step"]))
                steps, previous = step - previous, step
                if steps <= 0 or not math.isfinite(number(row["d_real"])):
                    continue
                adversarial += steps
                for k in keys:
                    v = number(row[k])
                    if math.isfinite(v):
                        sums[k] += v * steps
                        weights[k] += steps
        m = {k: sums[k] / weights[k] if weights[k] else math.nan for k in keys}
        gaps = []
        with open(os.path.join(root, name, "vaegan.csv"), newline="") as f:
            for row in csv.DictReader(f):
                gap = number(row["fid"]) - number(row.get("fid_recalibrated", "nan"))
                if int(row["point"]) > 0 and math.isfinite(gap):
                    gaps.append(gap)
        gap = f"{sum(gaps) / len(gaps):.1f} ({min(gaps):.1f} to {max(gaps):.1f})" if gaps else "—"
        lines.append(f"| {name} | {adversarial:,} | {percent(m['d_updated'])} ({percent(m['d_gated'])}) | "
                     f"{percent(m['dec_updated'])} ({percent(m['dec_gated'])}) | "
                     f"{fmt(m['d_real'], 2)} / {fmt(m['d_recon'], 2)} / {fmt(m['d_prior'], 2)} | "
                     f"{fmt(m['gnorm_pixel'], 2)} / {fmt(m['gnorm_feature'], 2)} / {fmt(m['gnorm_adv'], 2)} | {gap} |")
    return lines + [""]


def flag_pairs(flags):
    """{flag: value} of a configuration's flags (a switch maps to "")."""
    tokens, out, i = flags.split(), {}, 0
    while i < len(tokens):
        if i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            out[tokens[i]] = tokens[i + 1]
            i += 2
        else:
            out[tokens[i]] = ""
            i += 1
    return out


def change(flags, base_flags):
    """What a configuration changes against the base: flags added or altered, flags dropped."""
    a, b = flag_pairs(flags), flag_pairs(base_flags)
    parts = [f"{k.replace('--vaegan-', '')} {v}".strip() for k, v in a.items() if b.get(k) != v]
    parts += [f"no {k.replace('--vaegan-', '')}" for k in b if k not in a]
    return ", ".join(parts) if parts else "(the base)"


def fmt(x, digits=1):
    return "—" if not math.isfinite(x) else f"{x:.{digits}f}"


def percent(x):
    return "—" if not math.isfinite(x) else f"{100 * x:.0f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="the study's OUT folder")
    ap.add_argument("--base", default="vaegan-6", help="the ablation's base configuration")
    args = ap.parse_args()
    grid = [g for g in read_grid(args.out) if os.path.exists(os.path.join(args.out, "tune", g[0], "summary.md"))]
    lines = ["# The wide search: tuning runs and the VAE-GAN's ablation", "",
             "Validation FID (seed 1, the validation split; lower is better), one run per configuration, "
             "the same CPU-second budget each. Generated by `scripts/ablation_report.py`.", ""]
    for method in METHODS:
        rows = [(run_scores(args.out, name, m), name) for name, m, _ in grid if m == method]
        if not rows:
            continue
        lines += [f"## {LABELS[method]}: {len(rows)} configurations, best first", "",
                  "| configuration | best FID (at) | FID at the end | steps |", "|---|---:|---:|---:|"]
        for (best, at, last, step, _), name in sorted(rows):
            lines.append(f"| {name} | {fmt(best, 2)} ({at:.0f} s) | {fmt(last, 2)} | {step:,} |")
        lines.append("")
    flags = {name: f for name, m, f in grid if m == "vaegan"}
    if args.base in flags:
        lines += [f"## The VAE-GAN's ablation: each configuration against {args.base}", "",
                  "\"recalibrated\": the best FID of the same samples after the decoder's batch norm is recalibrated "
                  "on 20 batches of prior codes. \"D / decoder updated\": share of steps whose update ran; "
                  "\"gated\": share that equilibrium gating skipped (both over the whole run, the warm-up included).",
                  "",
                  "| configuration | change against the base | best FID (at) | at the end | recalibrated | "
                  "D updated (gated) | decoder updated (gated) | steps |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for name, f in flags.items():
            best, at, last, step, recal = run_scores(args.out, name, "vaegan")
            r = update_rates(args.out, name)
            lines.append(f"| {name} | {change(f, flags[args.base]) if name != args.base else '(the base)'} | "
                         f"{fmt(best, 2)} ({at:.0f} s) | {fmt(last, 2)} | {fmt(recal, 2)} | "
                         f"{percent(r['d_updated'])} ({percent(r['d_gated'])}) | "
                         f"{percent(r['dec_updated'])} ({percent(r['dec_gated'])}) | {step:,} |")
        lines.append("")
    lines += instrument_lines(args.out)
    text = "\n".join(lines)
    with open(os.path.join(args.out, "ablation.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
