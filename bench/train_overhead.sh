#!/usr/bin/env bash
# train_overhead.sh [EPOCHS] — BatchSampler's share of SimCLR training time
# at the default settings (60000 images, B 256, rwr, M 1000, K 100, graph
# rebuilt every 100 batches, 1 uniform warm-up epoch): graph builds +
# sampling seconds against the whole run, as the trainer measures them.
# Evaluation is left out of the total (kNN only after the last epoch, no
# probe) so the share is of training proper.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
E="${1:-3}"
bin="${BUILD_DIR:-$root/build}/batchsampler"
log="$(mktemp)"; trap 'rm -f "$log"' EXIT
OMP_NUM_THREADS=2 "$bin" train simclr --sampler rwr --epochs "$E" \
  --eval-every 0 --no-probe --log "$log" -q
awk -F, 'NR > 1 { s += $9; st += $10 }
  END { printf "graph + sampling %.2f s, training steps %.2f s: %.2f%% of training time\n", s, st, 100 * s / (s + st) }' "$log"
awk -F, 'NR > 2 { s += $9; st += $10 } END { printf "graph epochs only (after the warm-up): %.2f%%\n", 100 * s / (s + st) }' "$log"
