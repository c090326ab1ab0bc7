#!/usr/bin/env python3
"""The efficiency study's scripts, end to end on a stand-in for `compare`.

scripts/efficiency_study.sh picks the configurations that the study's answer rests on, and
scripts/study_report.py turns the final runs into its tables; both are checked here without
hours of training. A fake `compare` (written below) turns each run's flags into a known FID
curve, so the test knows which configuration must win at which budget:

  * gan-2 (lr 4e-4) learns fast and stalls: best GAN at 600 s, beaten by gan-1 (lr 2e-4) at
    2,400 s. The fashion-conv finals (2,400 s after 600-s tuning) must take gan-1 through the
    confirm step; mnist-mlp (600 s throughout) must take gan-2 with no confirm step.
  * the finals must refuse to start before confirm has run, runs must keep one binary and one
    classifier, and the report's time-to-target and plateau verdict must match curves computed
    here.

usage: study_scripts_test.py --root REPO [--work DIR]
"""
import argparse
import csv
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

FAKE_COMPARE = r'''#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
def value(flag, default=None):
    return args[args.index(flag) + 1] if flag in args else default
method, seed, budget, out = value("--methods"), int(value("--seeds")), float(value("--budget")), value("--out")
joined = " ".join(args)
STEPS_PER_POINT = {"gan": 30, "vae": 80, "vaegan": 20}  # a VAE-GAN step costs the most
def curve(t):
    if method == "gan":
        if "--gan-beta1 0.9" in joined:
            return 500.0                                   # collapsed
        if "--gan-lr 4e-4" in joined:
            return 40 + seed + 100 / (1 + t / 100)         # fast, stalls near 40
        if "--gan-lr 2e-4" in joined and "leaky_relu" in joined:
            return 30 + seed + 150 / (1 + t / 200)         # slow, ends lower
        return 150.0 + len(joined) % 7
    if method == "vae":
        return (55 if "--vae-lr 2e-3" in joined else 60 + len(joined) % 5) + 50 / (1 + t / 100)
    if "--vaegan-lr-encoder 2e-3" in joined:
        return 20 + seed + 100 / (1 + t / 50)
    return 35 + len(joined) % 5 + 100 / (1 + t / 50)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, method + ".csv"), "w") as f:
    f.write("seed,point,seconds,step,fid,precision,recall,classes_covered,kl_to_uniform,diverged,fid_recalibrated\n")
    for i in range(int(budget // 10) + 1):
        t = 10.0 * i
        recal = curve(t) - 3 if "--bn-check" in joined else float("nan")
        f.write(f"{seed},{i},{t},{i * STEPS_PER_POINT[method]},{curve(t)},0.7,0.6,10,0.01,0,{recal}\n")
if method == "vaegan":  # gating skips D's update on every other step
    gated = 0.5 if "--vaegan-equilibrium" in joined else 0.0
    with open(os.path.join(out, "vaegan-steps.csv"), "w") as f:
        f.write("seed,point,step,loss_d,d_updated,dec_updated,d_gated,dec_gated\n")
        f.write(f"{seed},0,0,nan,nan,nan,nan,nan\n")
        for i in range(1, int(budget // 10) + 1):
            f.write(f"{seed},{i},{i * STEPS_PER_POINT[method]},0.5,{1 - gated},1,{gated},0\n")
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("fake run: " + joined + "\n")
'''


def gan_curve(name, seed, t):
    return (40 + seed + 100 / (1 + t / 100)) if name == "gan-2" else (30 + seed + 150 / (1 + t / 200))


def vaegan_curve(seed, t):
    return 20 + seed + 100 / (1 + t / 50)


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)


class Study:
    def __init__(self, root, work, setting, bin_dir):
        self.root, self.setting = root, setting
        self.out = os.path.join(work, setting)
        classifier = os.path.join(work, "classifier.vgck")  # only its bytes matter to the scripts
        self.env = dict(os.environ, BIN=bin_dir, OUT=self.out, LANES="2", BIN_SOURCE="test", CLASSIFIER=classifier)
        for name in ("BUDGET", "FINAL_BUDGET", "SEEDS", "GAN", "VAE", "VAEGAN"):
            self.env.pop(name, None)

    def run(self, step, expect_ok=True):
        result = subprocess.run(["bash", os.path.join(self.root, "scripts", "efficiency_study.sh"), self.setting, step],
                                cwd=self.root, env=self.env, capture_output=True, text=True)
        if expect_ok:
            check(result.returncode == 0, f"{self.setting} {step} failed:\n{result.stdout}{result.stderr}")
        return result

    def last_seconds(self, run_dir, method):
        with open(os.path.join(self.out, run_dir, method + ".csv")) as f:
            return float(list(csv.DictReader(f))[-1]["seconds"])

    def flags(self, run_dir):
        with open(os.path.join(self.out, run_dir, "summary.md")) as f:
            return f.read()


def write_fake(bin_dir):
    os.makedirs(bin_dir, exist_ok=True)
    path = os.path.join(bin_dir, "compare")
    with open(path, "w") as f:
        f.write(FAKE_COMPARE)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def test_longer_finals(root, work, bin_dir):
    """fashion-conv: 600-s tuning, confirm at 2,400 s, finals on the confirm winners."""
    s = Study(root, work, "fashion-conv", bin_dir)
    s.run("tune")
    tuned = sorted(os.listdir(os.path.join(s.out, "tune")))
    check(len([d for d in tuned if not d.endswith(".log")]) == 18, f"tune ran {tuned}")
    check(s.last_seconds("tune/gan-1", "gan") == 600, "tuning runs must stop at BUDGET (600 s)")
    s.run("grid")
    with open(os.path.join(s.out, "grid.csv")) as f:
        check(len(list(csv.DictReader(f))) == 18, "grid.csv must have one row per tuning run")

    refused = s.run("final", expect_ok=False)
    check(refused.returncode != 0 and "confirm" in refused.stderr,
          f"final before confirm must fail and name the confirm step: {refused.stderr!r}")
    check(not os.path.exists(os.path.join(s.out, "final", "gan-seed1")), "a refused final must start no run")

    s.run("confirm")
    confirmed = sorted(d for d in os.listdir(os.path.join(s.out, "confirm")) if not d.endswith(".log"))
    per_method = sorted(name.rsplit("-", 1)[0] for name in confirmed)
    check(per_method == ["gan", "gan", "vae", "vae", "vaegan", "vaegan"] and
          {"gan-1", "gan-2", "vae-2", "vaegan-2"} <= set(confirmed),
          f"confirm must rerun each method's two best tuning runs (gan-1, gan-2, vae-2, vaegan-2 among them), "
          f"ran {confirmed}")
    check(s.last_seconds("confirm/gan-1", "gan") == 2400, "confirm runs must last the finals' budget (2,400 s)")
    check("--score-on validation" in s.flags("confirm/gan-1"), "confirm runs are scored on the validation split")

    s.run("final")
    with open(os.path.join(s.out, "final-configurations.txt")) as f:
        chosen = f.read()
    names = re.findall(r"\b(?:gan|vae|vaegan)-\d+\b", chosen)
    check("gan-1" in names and "gan-2" not in names,
          f"the finals must take the GAN that is best at 2,400 s (gan-1), not at 600 s (gan-2): {chosen!r}")
    check("vaegan-2" in names, f"the finals must take vaegan-2: {chosen!r}")
    for method in ("gan", "vae", "vaegan"):
        for seed in (1, 2, 3):
            run = f"final/{method}-seed{seed}"
            check(s.last_seconds(run, method) == 2400, f"{run} must last 2,400 s")
            check("--score-on test" in s.flags(run) and f"--seeds {seed}" in s.flags(run),
                  f"{run} must be scored on the test split with seed {seed}")

    s.run("report")
    with open(os.path.join(s.out, "report.md")) as f:
        report = f.read()
    for seed in (1, 2, 3):
        times = [10.0 * i for i in range(241)]
        target = min(gan_curve("gan-1", seed, t) for t in times)
        reached = next(t for t in times if vaegan_curve(seed, t) <= target)
        row = f"| {seed} | {target:.2f} | 2400 s |"
        check(row in report, f"report must give seed {seed}'s GAN target as {row!r}")
        check(f"| {reached:.0f} s |" in report.split(row, 1)[1].split("\n", 1)[0],
              f"report must give the VAE-GAN reaching seed {seed}'s target at {reached:.0f} s")
    # Equal steps: the VAE-GAN makes the fewest (20 per point: 4,800 in 2,400 s); the GAN's first
    # 4,800 steps end at 1,600 s, where its falling curve is lowest.
    for seed in (1, 2, 3):
        row = (f"| {seed} | 4,800 | {gan_curve('gan-1', seed, 1600):.2f} | ")
        check(row in report, f"report must give seed {seed}'s equal-steps GAN FID as {row!r}")
        check(report.split(row, 1)[1].split("\n", 1)[0].endswith(f"| {vaegan_curve(seed, 2400):.2f} |"),
              f"report must give seed {seed}'s VAE-GAN best FID within 4,800 steps")
    # 30 + 150 / (1 + t / 200) still falls by more than 2% in the last quarter of 2,400 s.
    check("still improving" in report, "the report must say the GAN had not plateaued")
    check("## Confirm runs" in report and "**gan-1**" in report, "the report must list the confirm runs")
    check("| confirm | 6 |" in report, "the report must count the confirm runs' CPU time")
    check(os.path.getsize(os.path.join(s.out, "fid_vs_time.svg")) > 1000, "the report must draw the plot")

    # Where the finals ran: seed by seed, and the report names each seed's CPU.
    with open(os.path.join(s.out, "hosts.csv"), newline="") as f:
        hosts = [row for row in csv.DictReader(f) if row["run"].startswith("final/")]
    seeds_in_order = [int(row["run"][-1]) for row in hosts]
    check(len(hosts) == 9 and seeds_in_order == sorted(seeds_in_order),
          f"the finals must run seed by seed, each seed's three runs together: {[r['run'] for r in hosts]}")
    cpu = hosts[0]["cpu"]
    check(cpu and "," not in cpu, f"hosts.csv must name the CPU without commas: {cpu!r}")
    for seed in (1, 2, 3):
        row = next(line for line in report.splitlines() if line.startswith(f"| {seed} | "))
        check(row.rstrip().endswith(f"| {cpu} |"), f"seed {seed}'s row must name its CPU {cpu!r}: {row!r}")
    check("more than one kind of CPU" not in report, "one machine ran every final: no warning")
    # A seed finished on another machine is named.
    path = os.path.join(s.out, "hosts.csv")
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text.replace("final/vaegan-seed2," + cpu, "final/vaegan-seed2,Other CPU (family 1 model 2)"))
    s.run("report")
    with open(os.path.join(s.out, "report.md")) as f:
        report = f.read()
    check("**Seed(s) 2 ran on more than one kind of CPU" in report and "VAE-GAN on Other CPU" in report,
          "the report must flag a seed whose runs ran on different CPUs")
    with open(path, "w") as f:
        f.write(text)


def test_seed_rerun(root, work, bin_dir):
    """One seed's finals rerun at a longer budget into a new OUT: SEEDS and the named configurations."""
    s = Study(root, work, "fashion-conv", bin_dir)
    first_out, s.out = s.out, os.path.join(work, "fashion-conv-3000s")
    os.makedirs(s.out)
    shutil.copy(os.path.join(first_out, "binary.txt"), s.out)
    s.env.update(OUT=s.out, FINAL_BUDGET="3000", GAN="gan-1", VAE="vae-2", VAEGAN="vaegan-2")
    for bad in ("3 x", "0", "-1"):
        s.env["SEEDS"] = bad
        refused = s.run("final", expect_ok=False)
        check(refused.returncode != 0 and "SEEDS" in refused.stderr, f"SEEDS={bad!r} must be refused: {refused.stderr!r}")
    s.env.update(SEEDS="3", VAE="vaegan-2")
    refused = s.run("final", expect_ok=False)
    check(refused.returncode != 0 and "vae configuration" in refused.stderr,
          f"a VAE-GAN configuration in the VAE's place must be refused: {refused.stderr!r}")
    s.env["VAE"] = "vae-2"
    check(not os.path.exists(os.path.join(s.out, "final")), "a refused SEEDS or configuration must start no run")
    s.run("final")  # no confirm runs in this OUT: the named configurations stand in for them
    runs = sorted(d for d in os.listdir(os.path.join(s.out, "final")) if not d.endswith(".log"))
    check(runs == ["gan-seed3", "vae-seed3", "vaegan-seed3"], f"SEEDS=3 must run seed 3 only: {runs}")
    check(s.last_seconds("final/gan-seed3", "gan") == 3000, "the rerun must last FINAL_BUDGET (3,000 s)")
    with open(os.path.join(s.out, "final-configurations.txt")) as f:
        chosen = f.read()
    check("seeds 3 " in chosen and "3000 s" in chosen, f"final-configurations.txt must name seed 3 and 3,000 s: {chosen!r}")
    report = s.run("report").stdout + open(os.path.join(s.out, "report.md")).read()
    times = [10.0 * i for i in range(301)]
    target = min(gan_curve("gan-1", 3, t) for t in times)
    check(f"| 3 | {target:.2f} | 3000 s |" in report, "the rerun's report must give seed 3's target at 3,000 s")
    check(not re.search(r"^\| [12] \| ", report, re.M), "the rerun's report must have no rows for seeds 1 and 2")
    check("| GAN | 1 | " in report and "± 0.00" not in report, "one seed's scores must show no spread (not '± 0.00')")


def len_joined(study, name):
    """The length of the arguments the fake compare saw for a finished tuning run (its curve's offset)."""
    with open(os.path.join(study.out, "tune", name, "summary.md")) as f:
        return len(f.read()[len("fake run: "):].rstrip("\n"))


def test_wide_search(root, work, bin_dir):
    """SEARCH=wide: its own OUT, 17 + 10 + 17 slots, named runs in the given order, the VAE-GAN's BN check."""
    s = Study(root, work, "fashion-conv", bin_dir)
    s.out = os.path.join(work, "fashion-conv-wide")
    s.env.update(OUT=s.out, SEARCH="wide")
    script = os.path.join(root, "scripts", "efficiency_study.sh")

    def tune(*names, env=None):
        return subprocess.run(["bash", script, "fashion-conv", "tune", *names], cwd=root, env=env or s.env,
                              capture_output=True, text=True)

    refused = tune("vaegan-16", "vaegan-99")
    check(refused.returncode == 2 and "no configuration 'vaegan-99'" in refused.stderr,
          f"an unknown name must be refused: {refused.stderr!r}")
    check(not os.path.exists(os.path.join(s.out, "tune")), "a refused list must start no run")
    refused = tune("vaegan-16", env=dict(s.env, SEARCH="fair"))
    check(refused.returncode == 2, "the fair search has no slot 16")
    refused = tune("vaegan-1", env=dict(s.env, SEARCH="widest"))
    check(refused.returncode == 2 and "SEARCH must be fair or wide" in refused.stderr, "a bad SEARCH must be refused")
    s.env["LANES"] = "1"  # one at a time: the order is observable
    ran = tune("vaegan-16", "gan-13")
    check(ran.returncode == 0, f"tune vaegan-16 gan-13 failed: {ran.stderr}")
    runs = sorted(d for d in os.listdir(os.path.join(s.out, "tune")) if not d.endswith(".log"))
    check(runs == ["gan-13", "vaegan-16"], f"tune NAME... must run only those: {runs}")
    order = [line.split(",")[0] for line in open(os.path.join(s.out, "cpu-seconds.csv")).read().split()[1:]]
    check(order == ["tune/vaegan-16", "tune/gan-13"], f"named runs must go in the order given: {order}")
    vaegan = s.flags("tune/vaegan-16")
    check("--bn-check 20" in vaegan and "--vaegan-decoder-bn separate" in vaegan and "--vaegan-vae-phase 2500" in vaegan,
          f"vaegan-16 must carry every change and the BN check: {vaegan!r}")
    check("--bn-check" not in s.flags("tune/gan-13"), "the GAN's runs have no batch-norm check")
    s.env["LANES"] = "2"
    s.run("tune")
    runs = [d for d in os.listdir(os.path.join(s.out, "tune")) if not d.endswith(".log")]
    counts = {m: sum(1 for r in runs if r.rsplit("-", 1)[0] == m) for m in ("gan", "vae", "vaegan")}
    check(counts == {"gan": 17, "vae": 10, "vaegan": 17}, f"the wide search's slots per method: {counts}")
    s.run("ablation")
    with open(os.path.join(s.out, "ablation.md")) as f:
        ablation = f.read().split("## The VAE-GAN's ablation")
    check(len(ablation) == 2, "ablation.md must have the VAE-GAN's ablation")
    rows = [line for line in ablation[1].splitlines() if line.startswith("| vaegan-")]
    check(len(rows) == 17, f"the ablation must have a row per VAE-GAN configuration: {len(rows)}")
    row = {r.split(" | ")[0][2:]: r for r in rows}
    check("| decoder-bn separate |" in row["vaegan-7"], f"vaegan-7's change: {row['vaegan-7']!r}")
    check("| gamma 0.05 |" in row["vaegan-10"], f"vaegan-10's change: {row['vaegan-10']!r}")
    times = [10.0 * i for i in range(61)]
    best = min(35 + len_joined(s, "vaegan-6") % 5 + 100 / (1 + t / 50) for t in times)
    check(f"| (the base) | {best:.2f} (600 s) |" in row["vaegan-6"] and f"| {best - 3:.2f} |" in row["vaegan-6"],
          f"vaegan-6's best and recalibrated FID: {row['vaegan-6']!r}, expected {best:.2f}")
    check("| 50% (50%) | 100% (0%) | 1,200 |" in row["vaegan-6"], f"vaegan-6's update rates: {row['vaegan-6']!r}")
    check("| 100% (0%) | 100% (0%) |" in row["vaegan-1"], f"a run without gating updates D every step: {row['vaegan-1']!r}")

    # An instrument run: 100 warm-up steps without D, then 300 adversarial ones in two
    # intervals (D updated on 1/2 and 1/4 of them), term norms measured in the second only.
    run_dir = os.path.join(s.out, "instruments", "vaegan-6")
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "summary.md"), "w") as f:
        f.write("instrument run\n")
    with open(os.path.join(run_dir, "vaegan-steps.csv"), "w") as f:
        f.write("seed,point,step,d_real,d_recon,d_prior,d_updated,dec_updated,d_gated,dec_gated,"
                "gnorm_pixel,gnorm_feature,gnorm_adv\n")
        f.write("1,0,0,nan,nan,nan,nan,nan,nan,nan,nan,nan,nan\n")
        f.write("1,1,100,nan,nan,nan,0,1,0,0,nan,nan,nan\n")
        f.write("1,2,200,0.4,0.2,0.3,0.5,1,0.5,0,nan,nan,nan\n")
        f.write("1,3,400,0.4,0.2,0.3,0.25,1,0.75,0,6,nan,2\n")
    with open(os.path.join(run_dir, "vaegan.csv"), "w") as f:
        f.write("seed,point,seconds,step,fid,precision,recall,classes_covered,kl_to_uniform,diverged,fid_recalibrated\n")
        f.write("1,0,0,0,300,0,0,1,2,0,200\n1,1,10,100,60,0,0,10,0,0,58\n1,2,20,200,50,0,0,10,0,0,44\n")
    s.run("ablation")
    with open(os.path.join(s.out, "ablation.md")) as f:
        instruments = [line for line in f.read().split("## Instrument runs")[-1].splitlines() if line.startswith("| vaegan-6")]
    expected = "| vaegan-6 | 300 | 33% (67%) | 100% (0%) | 0.40 / 0.20 / 0.30 | 6.00 / — / 2.00 | 4.0 (2.0 to 6.0) |"
    check(instruments == [expected], f"the instrument run's row: {instruments}, expected {expected!r}")


def test_equal_budgets(root, work, bin_dir):
    """mnist-mlp: tuning and finals both 600 s, no confirm step, finals on the tuning winners."""
    s = Study(root, work, "mnist-mlp", bin_dir)
    s.run("tune")
    result = s.run("confirm")
    check("nothing to confirm" in result.stdout, f"mnist-mlp has nothing to confirm: {result.stdout!r}")
    s.run("final")
    with open(os.path.join(s.out, "final-configurations.txt")) as f:
        chosen = f.read()
    check("gan-2" in re.findall(r"\b(?:gan|vae|vaegan)-\d+\b", chosen), f"with equal budgets the finals take the tuning winner gan-2: {chosen!r}")
    check(s.last_seconds("final/gan-seed1", "gan") == 600, "mnist-mlp finals last 600 s")
    report = s.run("report")
    check(report.returncode == 0, "report")


def test_one_binary(root, work, bin_dir):
    """A run on another binary or classifier than OUT's first is refused and leaves the results alone."""
    s = Study(root, work, "fashion-conv", bin_dir)
    before = open(os.path.join(s.out, "report.md")).read()
    recorded = open(os.path.join(s.out, "binary.txt")).read()
    check(re.search(r"^classifier sha256 [0-9a-f]{64}$", recorded, re.M), f"binary.txt must pin the classifier: {recorded!r}")

    other = os.path.join(work, "other-bin")
    shutil.copytree(bin_dir, other)
    with open(os.path.join(other, "compare"), "a") as f:
        f.write("# another build\n")
    s.env["BIN"] = other
    refused = s.run("tune", expect_ok=False)
    check(refused.returncode != 0 and "binary" in refused.stderr, f"another binary must be refused: {refused.stderr!r}")
    s.env["BIN"] = bin_dir

    retrained = os.path.join(work, "retrained.vgck")
    with open(retrained, "w") as f:
        f.write("another classifier\n")
    s.env["CLASSIFIER"] = retrained
    refused = s.run("final", expect_ok=False)
    check(refused.returncode != 0 and "not the classifier" in refused.stderr,
          f"another classifier must be refused: {refused.stderr!r}")
    s.env["CLASSIFIER"] = os.path.join(work, "missing.vgck")
    refused = s.run("confirm", expect_ok=False)
    check(refused.returncode != 0 and "no classifier at" in refused.stderr and "vaegan classifier" in refused.stderr,
          f"a missing classifier must be named with the command that trains it: {refused.stderr!r}")
    check(open(os.path.join(s.out, "report.md")).read() == before, "a refused run must not touch the results")
    check(open(os.path.join(s.out, "binary.txt")).read() == recorded, "a refused run must not rewrite binary.txt")


def test_all(root, work, bin_dir):
    """`all` runs every step in turn: from nothing to the report in one command."""
    os.makedirs(os.path.join(work, "all"))
    shutil.copy(os.path.join(work, "classifier.vgck"), os.path.join(work, "all"))
    s = Study(root, os.path.join(work, "all"), "fashion-conv", bin_dir)
    s.run("all")
    confirmed = [d for d in os.listdir(os.path.join(s.out, "confirm")) if not d.endswith(".log")]
    finals = [d for d in os.listdir(os.path.join(s.out, "final")) if not d.endswith(".log")]
    check(len(confirmed) == 6 and len(finals) == 9, f"all must confirm 6 and run 9 finals: {confirmed} {finals}")
    for name in ("grid.csv", "confirm.csv", "report.md", "fid_vs_time.svg"):
        check(os.path.exists(os.path.join(s.out, name)), f"all must write {name}")


def test_unrecorded_classifier(root, work, bin_dir):
    """A study whose binary.txt predates the classifier record is refused until a person records it."""
    s = Study(root, work, "mnist-mlp", bin_dir)
    path = os.path.join(s.out, "binary.txt")
    lines = [line for line in open(path) if not line.startswith("classifier ")]
    with open(path, "w") as f:
        f.writelines(lines)
    refused = s.run("final", expect_ok=False)
    check(refused.returncode != 0 and "names no classifier" in refused.stderr and "classifier sha256 " in refused.stderr,
          f"an unrecorded classifier must be refused with the line to record: {refused.stderr!r}")
    check(open(path).readlines() == lines, "the refusal must not record the classifier itself")
    recorded = re.search(r"echo '(classifier sha256 [0-9a-f]{64})'", refused.stderr)
    check(recorded, f"the refusal must give the line to record: {refused.stderr!r}")
    with open(path, "a") as f:
        f.write(recorded.group(1) + "\n")
    s.run("final")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="the repository")
    ap.add_argument("--work", help="scratch directory (default: a temporary one, removed after)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="vaegan-study-test-")
    if os.path.exists(work) and args.work:
        shutil.rmtree(work)
    os.makedirs(work, exist_ok=True)
    try:
        bin_dir = os.path.join(work, "bin")
        write_fake(bin_dir)
        with open(os.path.join(work, "classifier.vgck"), "w") as f:
            f.write("a stand-in classifier\n")
        test_longer_finals(args.root, work, bin_dir)
        test_seed_rerun(args.root, work, bin_dir)
        test_equal_budgets(args.root, work, bin_dir)
        test_one_binary(args.root, work, bin_dir)
        test_unrecorded_classifier(args.root, work, bin_dir)
        test_all(args.root, work, bin_dir)
        test_wide_search(args.root, work, bin_dir)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print("study scripts: tune, grid, confirm, final, report, all and the one-binary, one-classifier checks behave as documented")


if __name__ == "__main__":
    main()
