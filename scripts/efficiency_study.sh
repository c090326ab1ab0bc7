#!/usr/bin/env bash
# The efficiency study of the README: does a VAE inside a GAN make GAN training faster?
#   scripts/efficiency_study.sh tune    the tuning grid: 4 configurations per method, seed 1
#   scripts/efficiency_study.sh final   the best configuration of each method, seeds 1,2,3
# Every run: preset mlp, batch 64, 1 thread, 120 s of training (CPU seconds of its thread, so
# runs beside other work on a shared machine still get the same compute), FID etc. on
# 1000 samples every 20 s against the held-out split. Needs a build (build/examples),
# MNIST in data/ (scripts/get_mnist.sh) and the classifier (train_classifier --arch mlp, the one the README's figures used).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/examples}
OUT=${OUT:-out/study}
COMMON=(--data "${DATA:-data}" --classifier "${CLASSIFIER:-out/classifier.vgck}" --preset mlp --batch-size 64
        --threads 1 --clock cpu --budget 120 --eval-every 20 --eval-samples 1000)

# name | method | flags
GRID=(
  "gan-1|gan|"
  "gan-2|gan|--gan-generator-activation leaky_relu --gan-real-label 0.9"
  "gan-3|gan|--gan-generator-activation leaky_relu --gan-real-label 0.9 --gan-d-dropout 0.3"
  "gan-4|gan|--gan-generator-activation leaky_relu --gan-real-label 0.9 --gan-d-dropout 0.3 --gan-lr 1e-4"
  "vae-1|vae|"
  "vae-2|vae|--vae-lr 1e-3 --vae-beta1 0.9"
  "vae-3|vae|--vae-lr 5e-4 --vae-beta1 0.9"
  "vae-4|vae|--vae-lr 1e-3 --vae-beta1 0.9 --vae-kl-warmup 1000"
  "vaegan-1|vaegan|"
  "vaegan-2|vaegan|--vaegan-lr 5e-4 --vaegan-beta1 0.9 --vaegan-lr-discriminator 2e-4 --vaegan-adversarial-warmup 1000 --vaegan-real-label 0.9 --vaegan-d-dropout 0.3 --vaegan-gamma 0.2"
  "vaegan-3|vaegan|--vaegan-lr 5e-4 --vaegan-beta1 0.9 --vaegan-lr-discriminator 2e-4 --vaegan-adversarial-warmup 1000 --vaegan-real-label 0.9 --vaegan-d-dropout 0.3 --vaegan-lr-encoder 1e-3 --vaegan-lr-decoder 1e-3"
  "vaegan-4|vaegan|--vaegan-lr 5e-4 --vaegan-beta1 0.9 --vaegan-lr-discriminator 2e-4 --vaegan-adversarial-warmup 1000 --vaegan-real-label 0.9 --vaegan-d-dropout 0.3 --vaegan-lr-encoder 1e-3 --vaegan-lr-decoder 1e-3 --vaegan-gamma 0.2"
)

flags_of() {
  local entry
  for entry in "${GRID[@]}"; do
    IFS='|' read -r name method flags <<<"$entry"
    if [[ $name == "$1" ]]; then echo "$flags"; return; fi
  done
  echo "efficiency_study.sh: no configuration '$1'" >&2
  exit 2
}

case "${1:-}" in
  tune)
    only=${2:-}
    for entry in "${GRID[@]}"; do
      IFS='|' read -r name method flags <<<"$entry"
      [[ -z $only || $name == "$only" ]] || continue
      # shellcheck disable=SC2086
      "$BIN/compare" "${COMMON[@]}" --methods "$method" --seeds 1 --out "$OUT/tune/$name" $flags
    done
    ;;
  final)
    # The best configuration of each method by best FID in the tuning grid (see README).
    GAN=${GAN:-gan-3} VAE=${VAE:-vae-2} VAEGAN=${VAEGAN:-vaegan-4}
    # shellcheck disable=SC2046
    "$BIN/compare" "${COMMON[@]}" --methods gan,vae,vaegan --seeds 1,2,3 --jobs "${JOBS:-3}" --out "$OUT/final" \
      $(flags_of "$GAN") $(flags_of "$VAE") $(flags_of "$VAEGAN")
    ;;
  *)
    echo "usage: scripts/efficiency_study.sh tune [NAME] | final" >&2
    exit 2
    ;;
esac
