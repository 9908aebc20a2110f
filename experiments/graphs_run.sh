#!/usr/bin/env bash
# experiments/graphs_run.sh — the graph table's runs: GraphCL and MVGRL with
# uniform, kNN and BatchSampler (rwr) batches on the six TU data sets, seeds
# 0-4.  Usage: bash experiments/graphs_run.sh [graphcl|mvgrl|all] (default
# all: GraphCL, then MVGRL unless BS_MVGRL=0).
#
#   graphcl  the released reference's protocol (random2 augmentations,
#            features auto, 20 epochs, Adam lr 0.01, B = min(128, N), SVM
#            accuracy of the frozen 96-d embeddings at epochs 10 and 20,
#            10-fold; epoch 20 is the result).  Data sets small first.
#   mvgrl    scaled down to 2 cores (hidden 64 instead of 512, 20 epochs
#            instead of 40; 4 layers, B = min(64, N), Adam lr 0.001 as the
#            reference; docs/graphs.md, "MVGRL"), the trainer's default
#            node features (auto: the reference's label one-hot then degree
#            one-hot, the degree alone on IMDB-B/M; the runs before issue 9,
#            label-only, are in results/graphs_labelonly), linear-SVM
#            accuracy of the frozen embeddings after the last epoch, 10-fold.
#
# Seed 0 of every data set and sampler first, then seeds 1-4, so the table
# fills up early.  A run whose CSV
# results/graphs/<data set>_<method>_<sampler>_s<seed>.csv exists is
# skipped, so the script can be stopped and started again (a run in
# progress writes <name>.partial.csv, renamed when it finishes).  Per run:
# the CSV (one row per epoch, SVM accuracy in the evaluated rows, -1
# elsewhere) and a .txt with the command's summary.
# experiments/graphs_report.py prints the table, experiments/graphs_plot.py
# draws the figures.
#   BS_BIN      the CLI (default build/batchsampler)
#   BS_TU       the TU folders (default ../shared/data/tu)
#   BS_THREADS  OpenMP threads per run (default 1)
#   DATASETS, SAMPLERS, SEEDS  override the lists
#   BS_MVGRL    0: "all" skips the MVGRL runs
#   MVGRL_HIDDEN (64), MVGRL_EPOCHS (20)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
case "$what" in
  graphcl | mvgrl | all) ;;
  *) echo "graphs_run.sh: method '$what': expected graphcl, mvgrl or all" >&2; exit 1 ;;
esac
# shellcheck source=experiments/graphs_lib.sh
. experiments/graphs_lib.sh
graphs_setup results/graphs

# run_all METHOD DEFAULT_DATASETS EXTRA_ARGS...
run_all() {
  local method=$1 datasets=${DATASETS:-$2}
  shift 2
  for seed in ${SEEDS:-0 1 2 3 4}; do
    for ds in $datasets; do
      for s in ${SAMPLERS:-uniform knn rwr}; do
        graphs_run_one "$OUT" "${ds}_${method}_${s}_s${seed}" 10 0 \
          "$BIN" train "$method" --data "$TU/$ds" --sampler "$s" \
          --seed "$seed" -q "$@"
      done
    done
  done
}

if [ "$what" != mvgrl ]; then
  run_all graphcl "MUTAG PTC PROTEINS IMDBBINARY IMDBMULTI NCI1"
fi
if [ "$what" = mvgrl ] || { [ "$what" = all ] && [ "${BS_MVGRL:-1}" != 0 ]; }; then
  run_all mvgrl "MUTAG PROTEINS IMDBBINARY NCI1 PTC IMDBMULTI" \
    --hidden "${MVGRL_HIDDEN:-64}" --epochs "${MVGRL_EPOCHS:-20}"
fi
