#!/usr/bin/env bash
# experiments/graphs_mvgrl.sh — the graph table (MVGRL part): MVGRL with
# uniform, kNN and BatchSampler (rwr) batches on the six TU data sets,
# seeds 0-4, scaled down to 2 cores (hidden 64 instead of 512, 20 epochs
# instead of 40; 4 layers, B = min(64, N), Adam lr 0.001 as the reference;
# docs/graphs.md, "MVGRL"), linear-SVM accuracy of the frozen embeddings,
# 10-fold.  A run whose CSV results/graphs/<data set>_mvgrl_<sampler>_s<seed>.csv
# exists is skipped.  Per run: the CSV and a .txt with the summary.
#   BS_BIN, BS_TU, BS_THREADS, DATASETS, SAMPLERS, SEEDS as graphs.sh
#   MVGRL_HIDDEN (64), MVGRL_EPOCHS (20)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BS_BIN:-build/batchsampler}"
TU="${BS_TU:-../shared/data/tu}"
OUT=results/graphs
DATASETS="${DATASETS:-MUTAG PROTEINS IMDBBINARY NCI1 PTC IMDBMULTI}"
SAMPLERS="${SAMPLERS:-uniform knn rwr}"
SEEDS="${SEEDS:-0 1 2 3 4}"
[ -x "$BIN" ] || { echo "graphs_mvgrl.sh: $BIN not found: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$OUT"
for seed in $SEEDS; do
  for ds in $DATASETS; do
    for s in $SAMPLERS; do
      name="${ds}_mvgrl_${s}_s${seed}"
      [ -e "$OUT/$name.csv" ] && continue
      echo "graphs_mvgrl.sh: $name" >&2
      if OMP_NUM_THREADS="${BS_THREADS:-1}" nice -n 10 "$BIN" train mvgrl \
          --data "$TU/$ds" --sampler "$s" --seed "$seed" -q \
          --hidden "${MVGRL_HIDDEN:-64}" --epochs "${MVGRL_EPOCHS:-20}" \
          --log "$OUT/$name.partial.csv" > "$OUT/$name.txt"; then
        mv "$OUT/$name.partial.csv" "$OUT/$name.csv"
      else
        echo "graphs_mvgrl.sh: $name failed" >&2
      fi
    done
  done
done
