#!/usr/bin/env bash
# experiments/language.sh — the language table: unsupervised SimCSE
# (batchsampler train simcse, docs/language.md) with uniform, kNN and
# BatchSampler (rwr) batches and the infonce, dcl and hcl losses, seeds
# 0-2: seed 0 of infonce's three rows and of dcl's and hcl's uniform and
# rwr rows first, so the table fills up early; the kNN rows of dcl and
# hcl last.  Budget: 600 steps of B = 64 (a third of a pass
# over the corpus; the dev score is flat after ~200, docs/language.md),
# the graph rebuilt every 150 steps (4 graphs a run), the dev set scored
# every 100 steps, lr 1e-4, tau 0.05 and the default recipe of `train
# simcse` (SIF pooling a = 0.01, token deletion 0.5, distillation weight
# 300 towards the SIF-weighted GloVe average; all chosen on the dev set
# sts12-train, docs/language.md).
# A run whose CSV results/language/<loss>_<sampler>_s<seed>.csv exists is
# skipped; a run that was stopped resumes from its checkpoint
# (BS_CKPT_DIR, not committed: ~170 MB each).  Per run: the CSV (one row
# per quarter pass) and a .txt with the summary (STS12-16, SICK-R, avg).
# experiments/language_report.py prints the table.
#   BS_BIN      the CLI (default build/batchsampler)
#   BS_DATA     the data folder (default ../shared/data)
#   BS_THREADS  OpenMP threads per run (default 1)
#   BS_LR       peak learning rate (default 1e-4)
#   BS_STEPS    steps per run (default 600); BS_REFRESH (default 150)
#   BS_OUT      results folder (default results/language)
#   BS_CKPT_DIR checkpoints (default BS_OUT/ckpt)
#   SHARD=i/n   run only the runs i, i+n, i+2n ... of the list (parallel
#               workers; default 0/1)
#   RUNS        override the list ("loss:sampler:seed ...")
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BS_BIN:-build/batchsampler}"
DATA="${BS_DATA:-../shared/data}"
OUT="${BS_OUT:-results/language}"
CK="${BS_CKPT_DIR:-$OUT/ckpt}"
SHARD="${SHARD:-0/1}"
[ -x "$BIN" ] || { echo "language.sh: $BIN not found: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$OUT" "$CK"
if [ -z "${RUNS:-}" ]; then
  RUNS=""
  for s in uniform rwr knn; do RUNS="$RUNS infonce:$s:0"; done
  for l in dcl hcl; do for s in uniform rwr; do RUNS="$RUNS $l:$s:0"; done; done
  for seed in 1 2; do
    for s in uniform rwr knn; do RUNS="$RUNS infonce:$s:$seed"; done
  done
  for seed in 1 2; do
    for l in dcl hcl; do for s in uniform rwr; do RUNS="$RUNS $l:$s:$seed"; done; done
  done
  for seed in 0 1 2; do for l in dcl hcl; do RUNS="$RUNS $l:knn:$seed"; done; done
fi
i=0
for r in $RUNS; do
  k=$((i % ${SHARD#*/})); i=$((i + 1))
  [ "$k" = "${SHARD%/*}" ] || continue
  IFS=: read -r loss s seed <<<"$r"
  name="${loss}_${s}_s${seed}"
  [ -e "$OUT/$name.csv" ] && continue
  echo "language.sh: $name" >&2
  if OMP_NUM_THREADS="${BS_THREADS:-1}" nice -n 10 "$BIN" train simcse \
      --data-dir "$DATA" --sampler "$s" --loss "$loss" --seed "$seed" -q \
      --lr "${BS_LR:-1e-4}" --steps "${BS_STEPS:-600}" \
      --refresh "${BS_REFRESH:-150}" --eval-every 100 \
      --log "$OUT/$name.partial.csv" --checkpoint "$CK/$name.ckpt" \
      --resume > "$OUT/$name.partial.txt"; then
    mv "$OUT/$name.partial.txt" "$OUT/$name.txt"
    mv "$OUT/$name.partial.csv" "$OUT/$name.csv"
  else
    echo "language.sh: $name failed" >&2
  fi
done
