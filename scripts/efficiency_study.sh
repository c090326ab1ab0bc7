#!/usr/bin/env bash
# The efficiency study (docs/study/README.md): does a VAE inside a GAN make GAN training faster?
#
#   scripts/efficiency_study.sh SETTING tune     the search space (all of it, or the NAMEs given),
#                                                seed 1, scored on a validation split carved out
#                                                of the training images
#   scripts/efficiency_study.sh SETTING grid     tune's results as one CSV (OUT/grid.csv)
#   scripts/efficiency_study.sh SETTING ablation the grid, and per method the tuning runs ranked
#                                                and the VAE-GAN's ablation against vaegan-6
#                                                (OUT/ablation.md; scripts/ablation_report.py)
#   scripts/efficiency_study.sh SETTING confirm  where the finals run longer than the tuning:
#                                                each method's two best configurations again,
#                                                seed 1, validation split, for the finals'
#                                                budget (OUT/confirm.csv); the finals take the
#                                                best of the two
#   scripts/efficiency_study.sh SETTING final    each method's best configuration (lowest FID on
#                                                validation), seeds 1,2,3, scored on the test split
#   scripts/efficiency_study.sh SETTING report   the finals' tables and FID-vs-time plot
#                                                (OUT/report.md, OUT/fid_vs_time.svg;
#                                                scripts/study_report.py)
#   scripts/efficiency_study.sh SETTING all      tune, grid, confirm, final and report in turn:
#                                                the whole study in one command (hours of CPU)
#
# SETTING: mnist-mlp (MNIST, preset mlp), mnist-conv (MNIST, preset conv) or fashion-conv
# (Fashion-MNIST, preset conv). The grid's slots 1-6 are the fair study's (issue 13,
# docs/study/fair/README.md), slots 7 and up the wide search's (issue 24,
# docs/study/wide/README.md; SEARCH=wide); `tune NAME...` runs the named configurations in
# that order.
# Every run: batch 64, one thread, a budget of CPU seconds of its training thread (--clock
# cpu: runs beside other work are not robbed of training time), FID, precision, recall and class
# coverage on 1,000 samples every 10 s, in the features of the setting's conv classifier
# (vaegan classifier, docs/data.md). LANES (default 2) runs go side by side.
# Budgets: tuning runs BUDGET (default 600) seconds each; confirm and final runs
# FINAL_BUDGET, per setting as long as its best GAN needs to plateau (FID better by less
# than 2% over the last quarter): mnist-mlp 600 s (its GANs that learn at lr >= 2e-4 peak by
# 260 s), fashion-conv 2400 s (five of its six GANs still improve by 9-18% in the last
# quarter of 600 s; the best, run for 3600 s, meets the 2% test at 2400 s:
# docs/study/fair/README.md; seed 3's finals, which missed it there, reran at 3000 s, the
# probe's next passing budget, with SEEDS=3).
# A run whose summary.md exists is skipped, so an interrupted study resumes where it stopped.
# SEEDS (default "1 2 3") picks the finals' seeds, and GAN, VAE, VAEGAN may name the finals'
# configurations outright: a seed's finals rerun at a longer FINAL_BUDGET go to a new OUT
# (docs/study/fair/README.md, "seed 3 again at 3,000 s", does that).
# Each run's wall and CPU seconds (training and scoring) go to OUT/cpu-seconds.csv, the CPU it
# ran on to OUT/hosts.csv: a CPU second buys different amounts of training on different
# processors (fashion-conv's VAE ran 1.4x as many steps per CPU second on one host as on
# another), so the finals run seed by seed, each seed's three methods at once on one machine,
# and the report names the CPU of every final run.
# All runs of one OUT must use one binary and one classifier (FIDs in another classifier's
# features are not comparable): the first run records both SHA-256s in OUT/binary.txt (with
# the commit the binary was built from: BIN_SOURCE, else this checkout's HEAD) and later runs
# with another binary or classifier are refused; a study begun before classifiers were recorded
# is refused until a person checks its classifier and records it.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$0")/.."
BIN=${BIN:-build/examples}
# The study's program: `vaegan compare` in builds since the single vaegan program, the
# separate `compare` program in binaries built before it (the pinned binary of a study
# begun then keeps working).
if [[ -x $BIN/vaegan ]]; then
  COMPARE_BINARY=$BIN/vaegan
  COMPARE=("$BIN/vaegan" compare)
else
  COMPARE_BINARY=$BIN/compare
  COMPARE=("$BIN/compare")
fi
LANES=${LANES:-2}
BUDGET=${BUDGET:-600}
SEEDS=${SEEDS:-1 2 3}
# SEARCH: fair (the fair study's six slots per method) or wide (issue 24: seventeen for the
# GAN and the VAE-GAN, ten for the VAE; its OUT defaults to out/study/SETTING-wide).
SEARCH=${SEARCH:-fair}

usage() {
  echo "usage: scripts/efficiency_study.sh mnist-mlp|mnist-conv|fashion-conv tune [NAME...] | grid | ablation | confirm | final | report | all" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
setting=$1
shift
case $setting in
  mnist-mlp)
    DATA_FLAGS=(--dataset mnist --data "${DATA:-data}")
    PRESET=mlp
    CLASSIFIER=${CLASSIFIER:-out/mnist_conv.vgck}
    FINAL_BUDGET=${FINAL_BUDGET:-600}
    ;;
  mnist-conv)
    DATA_FLAGS=(--dataset mnist --data "${DATA:-data}")
    PRESET=conv
    CLASSIFIER=${CLASSIFIER:-out/mnist_conv.vgck}
    # Not yet probed: docs/study/wide/README.md sets this setting's budget by the plateau
    # rule (a 3,600-s run of its best GAN) before its finals.
    FINAL_BUDGET=${FINAL_BUDGET:-2400}
    ;;
  fashion-conv)
    DATA_FLAGS=(--dataset fashion-mnist)
    PRESET=conv
    CLASSIFIER=${CLASSIFIER:-out/fashion_conv.vgck}
    FINAL_BUDGET=${FINAL_BUDGET:-2400}
    ;;
  *) usage ;;
esac
case $SEARCH in
  fair) OUT=${OUT:-out/study/$setting} ;;
  wide) OUT=${OUT:-out/study/$setting-wide} ;;
  *)
    echo "efficiency_study.sh: SEARCH must be fair or wide, not '$SEARCH'" >&2
    exit 2
    ;;
esac
COMMON=("${DATA_FLAGS[@]}" --classifier "$CLASSIFIER" --preset "$PRESET" --batch-size 64 --threads 1
        --clock cpu --eval-every 10 --eval-samples 1000)

# The search space: name | method | flags. The same six slots for each method: its best
# configuration from the first study (the base), the base with every learning rate doubled,
# halved, the other beta1, then two method-specific variations. Adversarial methods cover
# separate discriminator and generator/decoder rates, label smoothing (--*-real-label 0.9)
# and discriminator dropout in every slot but the GAN's sixth (the reference step without
# them); the VAE-GAN's last two slots are its own knobs (feature-space reconstruction,
# equilibrium gating); gamma and the adversarial warm-up are in its base.
GAN_BASE="--gan-generator-activation leaky_relu --gan-real-label 0.9 --gan-d-dropout 0.3"
VAE_BASE="--vae-beta1 0.9"
VAEGAN_BASE="--vaegan-beta1 0.9 --vaegan-adversarial-warmup 1000 --vaegan-real-label 0.9 --vaegan-d-dropout 0.3 --vaegan-gamma 0.2"
GRID=(
  "gan-1|gan|$GAN_BASE --gan-lr 2e-4"
  "gan-2|gan|$GAN_BASE --gan-lr 4e-4"
  "gan-3|gan|$GAN_BASE --gan-lr 1e-4"
  "gan-4|gan|$GAN_BASE --gan-lr 2e-4 --gan-beta1 0.9"
  "gan-5|gan|$GAN_BASE --gan-lr-generator 1e-4 --gan-lr-discriminator 4e-4"
  "gan-6|gan|--gan-lr 2e-4"
  "vae-1|vae|$VAE_BASE --vae-lr 1e-3"
  "vae-2|vae|$VAE_BASE --vae-lr 2e-3"
  "vae-3|vae|$VAE_BASE --vae-lr 5e-4"
  "vae-4|vae|--vae-lr 1e-3 --vae-beta1 0.5"
  "vae-5|vae|$VAE_BASE --vae-lr 1e-3 --vae-kl-warmup 1000"
  "vae-6|vae|$VAE_BASE --vae-lr-encoder 2e-3 --vae-lr-decoder 1e-3"
  "vaegan-1|vaegan|$VAEGAN_BASE --vaegan-lr-encoder 1e-3 --vaegan-lr-decoder 1e-3 --vaegan-lr-discriminator 2e-4"
  "vaegan-2|vaegan|$VAEGAN_BASE --vaegan-lr-encoder 2e-3 --vaegan-lr-decoder 2e-3 --vaegan-lr-discriminator 4e-4"
  "vaegan-3|vaegan|$VAEGAN_BASE --vaegan-lr-encoder 5e-4 --vaegan-lr-decoder 5e-4 --vaegan-lr-discriminator 1e-4"
  "vaegan-4|vaegan|${VAEGAN_BASE/--vaegan-beta1 0.9/--vaegan-beta1 0.5} --vaegan-lr-encoder 1e-3 --vaegan-lr-decoder 1e-3 --vaegan-lr-discriminator 2e-4"
  "vaegan-5|vaegan|$VAEGAN_BASE --vaegan-lr-encoder 1e-3 --vaegan-lr-decoder 1e-3 --vaegan-lr-discriminator 2e-4 --vaegan-feature-weight 1"
  "vaegan-6|vaegan|$VAEGAN_BASE --vaegan-lr-encoder 1e-3 --vaegan-lr-decoder 1e-3 --vaegan-lr-discriminator 2e-4 --vaegan-equilibrium"
)
# SEARCH=wide (issue 24, docs/study/wide/README.md): eleven more slots for the GAN and
# the VAE-GAN, four more for the VAE. The VAE-GAN's are one change each on top of the fair
# study's conv winner vaegan-6 (its ablation), all of them together, and Larsen's purely
# feature-space reconstruction from the first discriminator block; the GAN's vary its own
# knobs around its winner gan-2.
GAN_2="$GAN_BASE --gan-lr 4e-4"
VAE_4="--vae-lr 1e-3 --vae-beta1 0.5"
VAEGAN_6="$VAEGAN_BASE --vaegan-lr-encoder 1e-3 --vaegan-lr-decoder 1e-3 --vaegan-lr-discriminator 2e-4 --vaegan-equilibrium"
# Equal rates at the tuned GAN's 4e-4 / 0.5, no label smoothing, no D dropout.
VAEGAN_EQUAL="--vaegan-lr 4e-4 --vaegan-beta1 0.5 --vaegan-real-label 1 --vaegan-d-dropout 0"
VAEGAN_FEATURE="--vaegan-pixel-weight 0 --vaegan-feature-weight 1 --vaegan-gamma 0.05"
VAEGAN_D_WEIGHTS="--vaegan-d-real-weight 1 --vaegan-d-recon-weight 0.5 --vaegan-d-prior-weight 0.5"
VAEGAN_PHASE="--vaegan-vae-phase 2500 --vaegan-adversarial-ramp 2000"
[[ $SEARCH == wide ]] && GRID+=(
  "gan-7|gan|$GAN_BASE --gan-lr 8e-4"
  "gan-8|gan|$GAN_BASE --gan-lr 3e-4"
  "gan-9|gan|$GAN_BASE --gan-lr-generator 2e-4 --gan-lr-discriminator 6e-4"
  "gan-10|gan|$GAN_BASE --gan-lr-generator 4e-4 --gan-lr-discriminator 2e-4"
  "gan-11|gan|${GAN_2/--gan-real-label 0.9/--gan-real-label 1}"
  "gan-12|gan|${GAN_2/--gan-d-dropout 0.3/--gan-d-dropout 0}"
  "gan-13|gan|--gan-generator-activation leaky_relu --gan-real-label 1 --gan-d-dropout 0 --gan-lr 4e-4"
  "gan-14|gan|${GAN_2/--gan-generator-activation leaky_relu/--gan-generator-activation relu}"
  "gan-15|gan|$GAN_2 --gan-beta2 0.99"
  "gan-16|gan|$GAN_2 --gan-beta1 0"
  "gan-17|gan|${GAN_2/--gan-d-dropout 0.3/--gan-d-dropout 0.5}"
  "vae-7|vae|--vae-lr 2e-3 --vae-beta1 0.5"
  "vae-8|vae|--vae-lr 5e-4 --vae-beta1 0.5"
  "vae-9|vae|$VAE_4 --vae-kl-warmup 5000"
  "vae-10|vae|$VAE_4 --vae-beta2 0.99"
  "vaegan-7|vaegan|$VAEGAN_6 --vaegan-decoder-bn separate"
  "vaegan-8|vaegan|$VAEGAN_6 $VAEGAN_D_WEIGHTS"
  "vaegan-9|vaegan|${VAEGAN_6/ --vaegan-gamma 0.2/} $VAEGAN_FEATURE"
  "vaegan-10|vaegan|${VAEGAN_6/--vaegan-gamma 0.2/--vaegan-gamma 0.05}"
  "vaegan-11|vaegan|--vaegan-adversarial-warmup 1000 --vaegan-gamma 0.2 --vaegan-equilibrium $VAEGAN_EQUAL"
  "vaegan-12|vaegan|$VAEGAN_6 --vaegan-decoder-activation leaky_relu"
  "vaegan-13|vaegan|$VAEGAN_6 $VAEGAN_PHASE"
  "vaegan-14|vaegan|$VAEGAN_6 --vaegan-vae-phase 10000 --vaegan-adversarial-ramp 2000"
  "vaegan-15|vaegan|$VAEGAN_6 --vaegan-gate-on-excess"
  "vaegan-16|vaegan|--vaegan-adversarial-warmup 1000 --vaegan-equilibrium $VAEGAN_EQUAL --vaegan-decoder-bn separate $VAEGAN_D_WEIGHTS $VAEGAN_FEATURE --vaegan-decoder-activation leaky_relu $VAEGAN_PHASE --vaegan-gate-on-excess"
  "vaegan-17|vaegan|${VAEGAN_6/ --vaegan-gamma 0.2/} $VAEGAN_FEATURE --vaegan-feature-block 1"
)

flags_of() {
  local entry name method flags
  for entry in "${GRID[@]}"; do
    IFS='|' read -r name method flags <<<"$entry"
    if [[ $name == "$1" ]]; then echo "$flags"; return; fi
  done
  echo "efficiency_study.sh: no configuration '$1'" >&2
  exit 2
}

# A configuration named for METHOD's finals (GAN=..., VAE=..., VAEGAN=...) must be one of its grid's.
check_pick() {
  local method=$1 name=$2
  if [[ ${name%-*} != "$method" ]]; then
    echo "efficiency_study.sh: the finals' $method configuration must be one of the grid's $method-N, not '$name'" >&2
    exit 2
  fi
  flags_of "$name" >/dev/null
}

# One binary and one classifier for every run of OUT (the first study's grid ran across a
# kernel change).
check_binary() {
  mkdir -p "$OUT"
  [[ -f $CLASSIFIER ]] || {
    echo "efficiency_study.sh: no classifier at $CLASSIFIER; train it with vaegan classifier" \
      "${DATA_FLAGS[*]} --arch conv --threads 1 --classifier $CLASSIFIER (docs/data.md), or set CLASSIFIER=..." >&2
    exit 1
  }
  local sum classifier_sum
  sum=$(sha256sum "$COMPARE_BINARY" | cut -d' ' -f1)
  classifier_sum=$(sha256sum "$CLASSIFIER" | cut -d' ' -f1)
  if [[ ! -f $OUT/binary.txt ]]; then
    {
      echo "sha256 $sum"
      # BIN_SOURCE: the commit the binary was built from, when not this checkout's HEAD.
      if [[ -n ${BIN_SOURCE:-} ]]; then
        echo "source $BIN_SOURCE"
      else
        echo "source $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- include examples 2>/dev/null || echo ' (with local changes)')"
      fi
      echo "compiler $(${CXX:-c++} --version | head -1)"
      echo "classifier sha256 $classifier_sum"
    } >"$OUT/binary.txt"
  elif ! grep -q "^sha256 $sum\$" "$OUT/binary.txt"; then
    echo "efficiency_study.sh: $COMPARE_BINARY is not the binary $OUT's runs used ($OUT/binary.txt);" \
      "keep every run of a study on one binary (BIN=...) or start a new OUT" >&2
    exit 1
  elif ! grep -q "^classifier sha256 " "$OUT/binary.txt"; then
    # A study begun before the classifier was recorded: which one its runs used is not known
    # here, so a person checks it and records it (docs/study/fair/README.md did for fashion-conv).
    echo "efficiency_study.sh: $OUT/binary.txt names no classifier (the study predates that record)." \
      "Check that $CLASSIFIER scores as its earlier runs did (e.g. rerun a tuning run briefly: its" \
      "FID at point 0 must match), then record it: echo 'classifier sha256 $classifier_sum' >>$OUT/binary.txt" >&2
    exit 1
  elif ! grep -q "^classifier sha256 $classifier_sum\$" "$OUT/binary.txt"; then
    echo "efficiency_study.sh: $CLASSIFIER is not the classifier $OUT's runs were scored with" \
      "($OUT/binary.txt); keep every run of a study on one classifier (CLASSIFIER=...) or start a new OUT" >&2
    exit 1
  fi
}

# Scoring-only instruments of a method's runs: the VAE-GAN's samples are also scored after
# its decoder's batch norm is recalibrated on prior codes (compare --bn-check; scoring time
# only, training is unchanged).
instruments() { [[ $1 == vaegan ]] && echo "--bn-check ${BN_CHECK:-20}"; return 0; }

# Best FID of one run (lowest over its evaluation points), from its CSV.
best_fid() { awk -F, 'NR > 1 && $10 == 0 && ($5 < best || best == "") { best = $5 } END { print best == "" ? "inf" : best }' "$1"; }

# One validation run of configuration NAME, seed 1: STAGE tune (BUDGET seconds) or confirm
# (the finals' FINAL_BUDGET), in OUT/STAGE/NAME.
run_validation() {
  local stage=$1 name=$2 budget=$3 method flags
  flags=$(flags_of "$name")
  method=${name%-*}
  local dir=$OUT/$stage/$name
  [[ -f $dir/summary.md ]] && return 0
  rm -rf "$dir"
  # shellcheck disable=SC2086
  timed "$stage/$name" "$OUT/$stage/$name.log" "${COMPARE[@]}" "${COMMON[@]}" $(instruments "$method") \
    --budget "$budget" --score-on validation --methods "$method" --seeds 1 --out "$dir" $flags ||
    { echo "$stage $name failed: $OUT/$stage/$name.log" >&2; return 1; }
  echo "$stage $name: best validation FID $(best_fid "$dir/$method.csv") in $budget s"
}

# One final run: configuration NAME (its method's winner) on one seed, against the test split.
run_final() {
  local name=$1 seed=$2 method=${1%-*} flags
  flags=$(flags_of "$name")
  local dir=$OUT/final/$method-seed$seed
  [[ -f $dir/summary.md ]] && return 0
  rm -rf "$dir"
  # shellcheck disable=SC2086
  timed "final/$method-seed$seed" "$OUT/final/$method-seed$seed.log" "${COMPARE[@]}" "${COMMON[@]}" \
    $(instruments "$method") --budget "$FINAL_BUDGET" --score-on test --methods "$method" --seeds "$seed" \
    --out "$dir" $flags ||
    { echo "final $method seed $seed failed: $OUT/final/$method-seed$seed.log" >&2; return 1; }
  echo "final $method ($name) seed $seed: best test FID $(best_fid "$dir/$method.csv")"
}

# Runs a command with its output in LOG and appends "run,wall_s,cpu_s" (user + system time of
# the command, scoring included) to OUT/cpu-seconds.csv.
# The processor, as hosts.csv records it ("MODEL NAME (family F model M)", no commas).
cpu_kind() {
  awk -F': *' '/^model name/ && !n { n = $2 } /^cpu family/ && !f { f = $2 } /^model[ \t]*:/ && !m { m = $2 }
    END { gsub(",", " ", n); printf "%s (family %s model %s)\n", n == "" ? "unknown" : n, f, m }' /proc/cpuinfo 2>/dev/null ||
    echo unknown
}

timed() {
  local run=$1 log=$2
  shift 2
  local times=$OUT/.times.$$ rc=0 TIMEFORMAT='%R,%U,%S'
  { time "$@" >"$log" 2>&1 || rc=$?; } 2>"$times"
  if [[ $rc -eq 0 && -s $times ]]; then
    [[ -f $OUT/cpu-seconds.csv ]] || echo "run,wall_s,cpu_s" >"$OUT/cpu-seconds.csv"
    awk -F, -v r="$run" '{ printf "%s,%.1f,%.1f\n", r, $1, $2 + $3 }' "$times" >>"$OUT/cpu-seconds.csv"
    [[ -f $OUT/hosts.csv ]] || echo "run,cpu" >"$OUT/hosts.csv"
    echo "$run,$(cpu_kind)" >>"$OUT/hosts.csv"
  fi
  rm -f "$times"
  return "$rc"
}

# "fid name" of every finished run of METHOD under DIR (tune or confirm), best first.
ranked() {
  local method=$1 dir=$2 entry name m flags
  for entry in "${GRID[@]}"; do
    IFS='|' read -r name m flags <<<"$entry"
    [[ $m == "$method" && -f $OUT/$dir/$name/summary.md ]] || continue
    echo "$(best_fid "$OUT/$dir/$name/$method.csv") $name"
  done | sort -g
}

# The configurations confirm reruns for METHOD: its two best tuning runs.
confirm_candidates() { ranked "$1" tune | head -2 | cut -d' ' -f2; }

# A method's configuration for the finals: its best tuning run, or where the finals run longer
# than the tuning, the better of its two confirm runs (both must have finished).
winner() {
  local method=$1 dir=tune best
  if [[ $FINAL_BUDGET != "$BUDGET" ]]; then
    dir=confirm
    local name want=0 have=0
    for name in $(confirm_candidates "$method"); do
      want=$((want + 1))
      [[ -f $OUT/confirm/$name/summary.md ]] && have=$((have + 1))
    done
    if [[ $want -eq 0 || $have -lt $want ]]; then
      echo "efficiency_study.sh: $method: $have of $want confirm runs finished; run '$0 $setting confirm' first" >&2
      exit 1
    fi
  fi
  best=$(ranked "$method" "$dir" | head -1 | cut -d' ' -f2)
  [[ -n $best ]] || { echo "efficiency_study.sh: no finished run of $method in $OUT/$dir" >&2; exit 1; }
  echo "$best"
}

# One CSV row per finished run under DIR (tune or confirm).
grid_csv() {
  local dir=$1 entry name method flags
  echo "name,method,flags,best_validation_fid,seconds_at_best,fid_at_end"
  for entry in "${GRID[@]}"; do
    IFS='|' read -r name method flags <<<"$entry"
    [[ -f $OUT/$dir/$name/summary.md ]] || continue
    awk -F, -v n="$name" -v m="$method" -v f="$flags" '
      NR > 1 && $10 == 0 { if (best == "" || $5 < best) { best = $5; at = $3 } last = $5 }
      END { printf "%s,%s,\"%s\",%.3f,%.0f,%.3f\n", n, m, f, best, at, last }' "$OUT/$dir/$name/$method.csv"
  done
}

case "${1:-}" in
  tune)
    shift
    for name in "$@"; do flags_of "$name" >/dev/null; done  # every name known before any run
    check_binary
    mkdir -p "$OUT/tune"
    if (($# > 0)); then
      # The named configurations, in the order given.
      printf '%s\n' "$@" | xargs -P "$LANES" -n 1 "$SELF" "$setting" tune-one
    else
      # Each run is this script again (tune-one), LANES at a time, slot by slot across
      # methods (gan-1, vae-1, vaegan-1, gan-2, ...) so that a partial grid is balanced.
      for entry in "${GRID[@]}"; do
        IFS='|' read -r name method flags <<<"$entry"
        echo "$name"
      done | sort -t- -k2,2n -s | xargs -P "$LANES" -n 1 "$SELF" "$setting" tune-one
    fi
    ;;
  tune-one)
    run_validation tune "$2" "$BUDGET"
    ;;
  grid)
    grid_csv tune >"$OUT/grid.csv"
    cat "$OUT/grid.csv"
    ;;
  ablation)
    grid_csv tune >"$OUT/grid.csv"
    python3 scripts/ablation_report.py "$OUT"
    ;;
  confirm)
    if [[ $FINAL_BUDGET == "$BUDGET" ]]; then
      echo "efficiency_study.sh: $setting's finals run as long as its tuning ($BUDGET s); nothing to confirm"
      exit 0
    fi
    check_binary
    mkdir -p "$OUT/confirm"
    for method in gan vae vaegan; do confirm_candidates "$method"; done |
      xargs -P "$LANES" -n 1 "$SELF" "$setting" confirm-one
    grid_csv confirm >"$OUT/confirm.csv"
    cat "$OUT/confirm.csv"
    ;;
  confirm-one)
    run_validation confirm "$2" "$FINAL_BUDGET"
    ;;
  final)
    for seed in $SEEDS; do
      [[ $seed =~ ^[1-9][0-9]*$ ]] || { echo "efficiency_study.sh: SEEDS must be positive integers (e.g. SEEDS=\"1 2 3\"), not '$seed'" >&2; exit 2; }
    done
    check_binary
    # One assignment per line: set -e sees only the last command substitution of a line.
    GAN=${GAN:-$(winner gan)}
    VAE=${VAE:-$(winner vae)}
    VAEGAN=${VAEGAN:-$(winner vaegan)}
    check_pick gan "$GAN"
    check_pick vae "$VAE"
    check_pick vaegan "$VAEGAN"
    mkdir -p "$OUT/final"
    echo "final: $GAN, $VAE, $VAEGAN on seeds ${SEEDS// /,} (test split, $FINAL_BUDGET s)" | tee "$OUT/final-configurations.txt"
    # Each (configuration, seed) is its own run of compare, so an interrupted final resumes.
    # Seed by seed, the three methods of a seed at once whatever LANES says: they share one
    # machine and its load, so the seed's times compare within one processor.
    for seed in $SEEDS; do
      printf '%s %s\n' "$GAN" "$seed" "$VAE" "$seed" "$VAEGAN" "$seed" | xargs -P 3 -n 2 "$SELF" "$setting" final-one
    done
    ;;
  final-one)
    run_final "$2" "$3"
    ;;
  report)
    python3 scripts/study_report.py --setting "$setting" --budget "$FINAL_BUDGET" "$OUT"
    ;;
  all)
    for step in tune grid confirm final report; do "$SELF" "$setting" "$step"; done
    ;;
  *) usage ;;
esac
