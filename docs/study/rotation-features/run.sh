#!/usr/bin/env bash
# Does FID in the rotation classifier's features (what a data set without labels gets)
# rank generators the way FID in a label classifier's features does? Checked on MNIST,
# which has labels: train both conv classifiers (--task labels and --task rotation), train
# the GAN, the VAE and the VAE-GAN (mlp preset, seed 1) for 100, 300, 1000 and 3000 steps,
# sample 1000 images from each, and score every sample set in both feature spaces.
# Writes OUT/scores.csv and OUT/summary.md (the table and Spearman's rank correlation).
#
#   docs/study/rotation-features/run.sh OUT [DATA]    DATA: MNIST's IDX files (default: data)
#
# Needs the examples built in build/ (BIN overrides): train_classifier, mnist_gan,
# mnist_vae, mnist_vaegan, mnist_sample, vaegan_eval.
set -euo pipefail
out=${1:?usage: run.sh OUT [DATA]}
data=${2:-data}
bin=${BIN:-build/examples}
threads=${THREADS:-2}
mkdir -p "$out/runs" "$out/samples" "$out/logs"

for task in labels rotation; do
  [[ -f "$out/$task.vgck" ]] ||
    "$bin/train_classifier" --data "$data" --task "$task" --threads "$threads" --out "$out/$task.vgck" \
      >"$out/logs/classifier-$task.log"
  tail -n 1 "$out/logs/classifier-$task.log"
done

echo "method,steps,fid_labels,fid_rotation,precision_labels,precision_rotation,recall_labels,recall_rotation" \
  >"$out/scores.csv"
floor() { "$bin/vaegan_eval" --data "$data" --classifier "$out/$1.vgck" --floor --threads "$threads" --format json |
  sed 's/.*"fid_floor": \([0-9.]*\).*/\1/'; }
floor_labels=$(floor labels)
floor_rotation=$(floor rotation)
field() { sed "s/.*\"$1\": \([0-9.]*\).*/\1/" "$2"; }
for method in gan vae vaegan; do
  for steps in 100 300 1000 3000; do
    run="$out/runs/$method-$steps"
    [[ -f "$run/checkpoint.vgck" ]] ||
      "$bin/mnist_$method" --data "$data" --seed 1 --epochs 1000 --max-steps "$steps" --checkpoint-every 0 \
        --threads "$threads" --out "$run" >"$out/logs/$method-$steps.log"
    "$bin/mnist_sample" --checkpoint "$run/checkpoint.vgck" --count 1000 --seed 1 --threads "$threads" \
      --out "$out/samples/$method-$steps.idx" >/dev/null
    for task in labels rotation; do
      "$bin/vaegan_eval" --data "$data" --classifier "$out/$task.vgck" --generated "$out/samples/$method-$steps.idx" \
        --threads "$threads" --format json >"$out/logs/score-$task-$method-$steps.json"
    done
    l="$out/logs/score-labels-$method-$steps.json" r="$out/logs/score-rotation-$method-$steps.json"
    echo "$method,$steps,$(field fid "$l"),$(field fid "$r"),$(field precision "$l"),$(field precision "$r"),$(field recall "$l"),$(field recall "$r")" \
      >>"$out/scores.csv"
  done
done

# Spearman's rank correlation of the two FID columns (no ties expected among 12 values).
awk -F, -v fl="$floor_labels" -v fr="$floor_rotation" '
  NR > 1 { n++; m[n] = $1 " " $2; a[n] = $3; b[n] = $4 }
  function rank(x, r,   i, j) { for (i = 1; i <= n; i++) { r[i] = 1; for (j = 1; j <= n; j++) if (x[j] < x[i]) r[i]++ } }
  END {
    rank(a, ra); rank(b, rb)
    for (i = 1; i <= n; i++) d += (ra[i] - rb[i]) ^ 2
    rho = 1 - 6 * d / (n * (n * n - 1))
    print "| sample set | FID, label features | FID, rotation features | rank (labels) | rank (rotation) |"
    print "|---|---:|---:|---:|---:|"
    for (i = 1; i <= n; i++) printf "| %s steps | %.2f | %.2f | %d | %d |\n", m[i], a[i], b[i], ra[i], rb[i]
    printf "\nFID floor (two halves of the held-out images): %.2f in label features, %.2f in rotation features.\n", fl, fr
    printf "Spearman rank correlation of the two FIDs over the %d sample sets: %.3f\n", n, rho
  }' "$out/scores.csv" | tee "$out/summary.md"
