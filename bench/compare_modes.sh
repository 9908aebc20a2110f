#!/usr/bin/env bash
# compare_modes.sh [BUILD_DIR] [N] — batch quality of RWR batches on graphs
# built in `independent` mode (the paper's definition) and in `shared` mode
# (one candidate draw per block of 256 nodes, one GEMM), on Fashion-MNIST
# (60000 training images, centred pixels projected to 64 dims), over 3 seeds,
# for alpha 0.2 and 0.5: mean in-batch cosine, mean hardest-negative cosine,
# false-negative rate, and build seconds.  Equal quality is what shared mode
# must show.  Uses /usr/bin/python3 (numpy) only to write the embedding.
set -euo pipefail
build="${1:-build}"; n="${2:-60000}"
bin="$build/batchsampler"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$(dirname "$0")/fmnist_embed.py" "$work" "$n" 64
nb=$(( n / 256 ))
printf '%-12s %5s %5s %8s %9s %9s %8s\n' mode alpha seed build_s mean_cos hard_cos fn_rate
for mode in independent shared; do
  for seed in 1 2 3; do
    t0=$(date +%s.%N)
    "$bin" graph --emb "$work/X.npy" -M 1000 -K 100 --mode "$mode" --seed "$seed" -o "$work/G.bsg" -q
    t1=$(date +%s.%N)
    for alpha in 0.2 0.5; do
      "$bin" sample --graph "$work/G.bsg" --sampler rwr -B 256 --alpha "$alpha" \
        --batches-per-epoch "$nb" --seed "$seed" -o "$work/b.npy" -q
      "$bin" stats --emb "$work/X.npy" --labels "$work/y.npy" --batches "$work/b.npy" --json |
        /usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print('%-12s %5s %5s %8.2f %9.4f %9.4f %8.4f' % ('$mode', '$alpha', '$seed', $t1-$t0, s['mean_sim'], s['mean_max_sim'], s['fn_rate']))"
    done
  done
done
