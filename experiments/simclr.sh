#!/usr/bin/env bash
# experiments/simclr.sh — the SimCLR evidence of docs/simclr.md: uniform vs
# kNN vs BatchSampler (rwr) batches at an equal step budget, 3 seeds each;
# BatchSampler and uniform with the dcl and hcl losses; and a small sweep
# of BatchSampler's M and alpha.  Each run writes its per-epoch CSV and its
# summary into results/simclr/; experiments/simclr_report.py turns them
# into the tables and plots of docs/simclr.md.
#
#   bash experiments/simclr.sh [JOBS]      (default 2 parallel runs)
#
# Runs already finished (summary present) are skipped, so an interrupted
# sweep resumes where it stopped.  Each run uses one thread (results do
# not depend on the thread count); JOBS runs go side by side.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-$root/build/batchsampler}"
[ -x "$BIN" ] || { echo "no $BIN: build first (bash scripts/setup.sh)" >&2; exit 1; }
OUT="${OUT:-$root/results/simclr}"
JOBS="${1:-2}"
mkdir -p "$OUT"

# shared budget: 20000 training images, 10 epochs of 79 steps (B = 256),
# kNN on the whole test split every epoch, linear probe at the end
common=(--n 20000 --epochs 10 -B 256 --eval-every 1)

runs=()
add() { runs+=("$*"); } # name seed args...
for seed in 0 1 2; do
  add "uniform $seed --sampler uniform"
  add "knn $seed --sampler knn -K 100"
  add "rwr $seed --sampler rwr -M 1000 -K 100 --alpha 0.2"
done
for loss in dcl hcl; do
  for seed in 0 1; do
    add "uniform-$loss $seed --sampler uniform --loss $loss"
    add "rwr-$loss $seed --sampler rwr -M 1000 -K 100 --alpha 0.2 --loss $loss"
  done
done
# sweep (seed 0): candidates M, neighbours K, restart probability alpha,
# refresh period t and uniform warm-up epochs, one at a time
for m in 200 4000; do add "rwr-M$m 0 --sampler rwr -M $m -K 100 --alpha 0.2"; done
add "rwr-K20 0 --sampler rwr -M 1000 -K 20 --alpha 0.2"
for a in 0.5 0.9; do add "rwr-a$a 0 --sampler rwr -M 1000 -K 100 --alpha $a"; done
add "rwr-t25 0 --sampler rwr -M 1000 -K 100 --alpha 0.2 --refresh 25"
add "rwr-w3 0 --sampler rwr -M 1000 -K 100 --alpha 0.2 --warmup-epochs 3"
# the best variant of the sweep (M 200), with the other two seeds
for seed in 1 2; do add "rwr-M200 $seed --sampler rwr -M 200 -K 100 --alpha 0.2"; done

one() {
  local name=$1 seed=$2; shift 2
  local tag="$OUT/${name}_s$seed"
  [ -s "$tag.out" ] && return 0
  OMP_NUM_THREADS=1 "$BIN" train simclr "${common[@]}" --seed "$seed" "$@" \
    --log "$tag.csv" --checkpoint "$tag.ckpt" --resume -q >"$tag.tmp"
  mv "$tag.tmp" "$tag.out"
  rm -f "$tag.ckpt"
  echo "done: $name seed $seed: $(grep -h 'kNN top-1' "$tag.out")"
}
export -f one
export BIN OUT
export common_s="${common[*]}"
printf '%s\n' "${runs[@]}" | \
  xargs -P "$JOBS" -I{} bash -c 'common=($common_s); one {}'
