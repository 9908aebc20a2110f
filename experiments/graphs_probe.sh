#!/usr/bin/env bash
# experiments/graphs_probe.sh — the MVGRL-gap probe (docs/graphs.md, "MVGRL:
# the gap to the paper"): MVGRL with uniform batches on MUTAG, where our
# scaled-down runs are furthest below the paper (83.6 vs 89.7), varying one
# thing at a time against the table's setting (hidden 64, 4 layers, B 64,
# 20 epochs, tag features):
#   epochs   h 64, 40 epochs, SVM every 5 epochs, seeds 0-4
#   grid     a corner of the reference's own sweep (graph/train.py's
#            __main__: layers 2/8/12 x batch 32..256 x epochs 20/40/100),
#            layers 2/8/12 x B 32/128, 40 epochs, SVM every 10, seeds 0-1
#   features the reference's node features for MUTAG and PTC (node label
#            one-hot concatenated with a degree one-hot, graph/dataset.py);
#            our TU reader takes one tag per node, so the tag becomes the
#            pair (label, degree) (a one-hot of the pair: a superset of what
#            the concatenation can express through the first linear layer),
#            h 64, 20 epochs, SVM every 5, seeds 0-4
#   hidden   h 512 (the reference's), 20 epochs, SVM every 5, seeds 0-1
#   refeat   the trainer's own reference features (--features auto: label
#            one-hot then degree one-hot, issue 9) for MUTAG and PTC, h 64,
#            20 epochs, SVM every 5, seeds 0-4
# Every probe but refeat runs with --features tags (label-only features,
# the trainer's default when the probe was made).
# Results in results/graphs_probe/<name>.{csv,txt,cpu} (.cpu: user CPU
# seconds); a finished name is skipped.  Table:
# /usr/bin/python3 experiments/graphs_report.py --probe
#   BS_BIN (build/batchsampler), BS_TU (../shared/data/tu),
#   PROBES (epochs grid features hidden refeat)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=experiments/graphs_lib.sh
. experiments/graphs_lib.sh
graphs_setup results/graphs_probe

# run NAME DATA_DIR ARGS...: one MVGRL run, uniform batches, label-only
# features unless ARGS say otherwise, 1 thread, nice 15, user CPU seconds
# in NAME.cpu
run() {
  local name=$1 data=$2
  shift 2
  graphs_run_one "$OUT" "$name" 15 1 "$BIN" train mvgrl --data "$data" \
    --sampler uniform --features tags -q "$@"
}

# tagdeg DIR DS: data set DS with tag := label * (max degree + 1) + degree,
# in DIR/DS
tagdeg() {
  local dir=$1 ds=$2
  mkdir -p "$dir/$ds"
  cp -r "$TU/$ds/10fold_idx" "$dir/$ds/"
  /usr/bin/python3 - "$TU/$ds/$ds.txt" "$dir/$ds/$ds.txt" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
graphs, at, nodes = int(lines[0]), 1, []
for _ in range(graphs):
    n = int(lines[at].split()[0])
    nodes.append((at, n))
    at += n + 1
maxdeg = max(int(lines[a + 1 + v].split()[1]) for a, n in nodes for v in range(n))
for a, n in nodes:
    for v in range(n):
        t = lines[a + 1 + v].split()
        t[0] = str(int(t[0]) * (maxdeg + 1) + int(t[1]))
        lines[a + 1 + v] = " ".join(t)
open(sys.argv[2], "w").write("\n".join(lines).rstrip("\n") + "\n")
EOF
}

for probe in ${PROBES:-epochs grid features hidden refeat}; do
  case "$probe" in
    epochs)
      for s in 0 1 2 3 4; do
        run "MUTAG_mvgrl_uniform_h64_e40_s$s" "$TU/MUTAG" --seed "$s" \
          --hidden 64 --epochs 40 --eval-every 5
      done ;;
    grid)
      for s in 0 1; do for L in 2 8 12; do for B in 32 128; do
        run "MUTAG_mvgrl_uniform_L${L}_B${B}_h64_e40_s$s" "$TU/MUTAG" \
          --seed "$s" --hidden 64 --layers "$L" -B "$B" --epochs 40 \
          --eval-every 10
      done; done; done ;;
    features)
      tmp=$(mktemp -d)
      for ds in MUTAG PTC; do
        tagdeg "$tmp" "$ds"
        for s in 0 1 2 3 4; do
          run "${ds}_mvgrl_uniform_tagdeg_h64_e20_s$s" "$tmp/$ds" --seed "$s" \
            --hidden 64 --epochs 20 --eval-every 5
        done
      done
      rm -rf "$tmp" ;;
    hidden)
      for s in 0 1; do
        run "MUTAG_mvgrl_uniform_h512_e20_s$s" "$TU/MUTAG" --seed "$s" \
          --hidden 512 --epochs 20 --eval-every 5
      done ;;
    refeat)
      for ds in MUTAG PTC; do for s in 0 1 2 3 4; do
        run "${ds}_mvgrl_uniform_refeat_h64_e20_s$s" "$TU/$ds" --seed "$s" \
          --hidden 64 --epochs 20 --eval-every 5 --features auto
      done; done ;;
    *) echo "graphs_probe.sh: probe '$probe': expected epochs, grid, features, hidden or refeat" >&2; exit 1 ;;
  esac
done
