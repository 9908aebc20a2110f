#!/usr/bin/env bash
# experiments/graphs.sh — the graph table (GraphCL part): GraphCL with
# uniform, kNN and BatchSampler (rwr) batches on the six TU data sets,
# seeds 0-4, the paper's protocol (20 epochs, Adam lr 0.01, B = min(128, N),
# SVM accuracy of the frozen 96-d embeddings, 10-fold).  A run whose CSV
# results/graphs/<data set>_graphcl_<sampler>_s<seed>.csv exists is skipped,
# so the script can be stopped and started again.  Per run: the CSV (one row
# per epoch; the last row holds the SVM accuracy) and a .txt with the
# command's summary.
#   BS_BIN      the CLI (default build/batchsampler)
#   BS_TU       the TU folders (default ../shared/data/tu)
#   BS_THREADS  OpenMP threads per run (default 1)
#   DATASETS, SAMPLERS, SEEDS  override the lists
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BS_BIN:-build/batchsampler}"
TU="${BS_TU:-../shared/data/tu}"
OUT=results/graphs
DATASETS="${DATASETS:-MUTAG PROTEINS IMDBBINARY NCI1 PTC IMDBMULTI}"
SAMPLERS="${SAMPLERS:-uniform knn rwr}"
SEEDS="${SEEDS:-0 1 2 3 4}"
[ -x "$BIN" ] || { echo "graphs.sh: $BIN not found: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$OUT"
for seed in $SEEDS; do
  for ds in $DATASETS; do
    for s in $SAMPLERS; do
      name="${ds}_graphcl_${s}_s${seed}"
      [ -e "$OUT/$name.csv" ] && continue
      echo "graphs.sh: $name" >&2
      if OMP_NUM_THREADS="${BS_THREADS:-1}" nice -n 10 "$BIN" train graphcl \
          --data "$TU/$ds" --sampler "$s" --seed "$seed" -q \
          --log "$OUT/$name.partial.csv" > "$OUT/$name.txt"; then
        mv "$OUT/$name.partial.csv" "$OUT/$name.csv"
      else
        echo "graphs.sh: $name failed" >&2
      fi
    done
  done
done

# the MVGRL rows of the table
bash experiments/graphs_mvgrl.sh
