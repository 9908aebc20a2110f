#!/usr/bin/env bash
# epoch_modes.sh [BUILD_DIR] [OUT_DIR] — the measurements of issue 8 for the
# epoch modes and the walk's time against alpha (docs/samplers.md, "Epoch
# modes" and "Step budget and stalls"), with bench/bench_epoch_modes:
#   1. coverage on synthetic clusters (synth --n 20000 --dim 32 --clusters 20
#      --seed 1) and on Fashion-MNIST (the 60000 training images, centred
#      pixels times a seeded Gaussian projection to 64 dims,
#      bench/fmnist_embed.py): 10 epochs of N/B batches (B = 256) with
#      uniform, knn (exact graph), rwr fixed / carry / exact and rwr with the
#      reference alpha schedule; proximity graph shared, M = 1000, K = 100;
#   2. one epoch at alpha 0.2 ... 0.999 on synth N = 10000 (K = 10 and 100)
#      and on a hub graph (N = 200000, K = 10).
# Writes coverage_synth.txt, coverage_fmnist.txt and alpha.txt into OUT_DIR
# (default results/epoch_modes) and prints them.  About 3 minutes on 2 cores.
set -euo pipefail
build="${1:-build}"; out="${2:-results/epoch_modes}"
bin="$build/batchsampler" bench="$build/bench/bench_epoch_modes"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
"$bin" synth --n 20000 --dim 32 --clusters 20 --seed 1 -o "$work/S.npy" \
  --labels "$work/Sy.npy"
"$bin" synth --n 10000 --dim 32 --clusters 20 --seed 1 -o "$work/S10.npy" \
  --labels "$work/S10y.npy"
/usr/bin/python3 "$(dirname "$0")/fmnist_embed.py" "$work" 60000 64
"$bench" coverage "$work/S.npy" "$work/Sy.npy" 10 256 1000 100 1 |
  tee "$out/coverage_synth.txt"
"$bench" coverage "$work/X.npy" "$work/y.npy" 10 256 1000 100 1 |
  tee "$out/coverage_fmnist.txt"
"$bench" alpha "$work/S10.npy" 256 1000 | tee "$out/alpha.txt"
