#!/usr/bin/env bash
# experiments/graphs.sh — the graph table (GraphCL part): GraphCL with
# uniform, kNN and BatchSampler (rwr) batches on the six TU data sets,
# seeds 0-4, the released reference's protocol (random2 augmentations,
# features auto, 20 epochs, Adam lr 0.01, B = min(128, N), SVM accuracy of
# the frozen 96-d embeddings at epochs 10 and 20, 10-fold; epoch 20 is the
# result).  Seed 0 of every data set and sampler first, then seeds 1-4, the
# small data sets first, so the table fills up early.  A run whose CSV
# results/graphs/<data set>_graphcl_<sampler>_s<seed>.csv exists is skipped,
# so the script can be stopped and started again.  Per run: the CSV (one row
# per epoch; rows 9 and 19 hold the SVM accuracies) and a .txt with the
# command's summary.  experiments/graphs_report.py prints the table.
#   BS_BIN      the CLI (default build/batchsampler)
#   BS_TU       the TU folders (default ../shared/data/tu)
#   BS_THREADS  OpenMP threads per run (default 1)
#   DATASETS, SAMPLERS, SEEDS  override the lists
#   BS_MVGRL    0: skip the MVGRL rows (experiments/graphs_mvgrl.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BS_BIN:-build/batchsampler}"
TU="${BS_TU:-../shared/data/tu}"
OUT=results/graphs
DATASETS="${DATASETS:-MUTAG PTC PROTEINS IMDBBINARY IMDBMULTI NCI1}"
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
[ "${BS_MVGRL:-1}" = 0 ] || bash experiments/graphs_mvgrl.sh
