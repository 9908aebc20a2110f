#!/usr/bin/env bash
# train_throughput.sh [B [STEPS [ROUNDS]]] — SimCLR training throughput of
# the C engine (bench_train) against the same network and loss in PyTorch
# CPU (ref_torch_train.py), same batch, same thread count (2), alternating
# ROUNDS times so both see the same machine load; prints each run and the
# ratio of the medians.  Needs a Release build in build/ (scripts/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
B="${1:-256}"; STEPS="${2:-20}"; ROUNDS="${3:-3}"
bin="${BUILD_DIR:-$root/build}/bench/bench_train"
[ -x "$bin" ] || { echo "no $bin: build first (bash scripts/setup.sh)" >&2; exit 1; }
# the machine, for the record: CPU model, AVX-512, load when the run began
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1); avx512f: $(grep -q -m1 -o avx512f /proc/cpuinfo && echo yes || echo no); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
c=(); t=()
for r in $(seq "$ROUNDS"); do
  line=$(OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 "$bin" "$B" "$STEPS")
  echo "$line"; c+=("$(sed -E 's/.* ([0-9]+) images\/s.*/\1/' <<<"$line")")
  line=$(/usr/bin/python3 "$root/bench/ref_torch_train.py" "$B" "$STEPS" 16 2)
  echo "$line"; t+=("$(sed -E 's/.* ([0-9]+) images\/s.*/\1/' <<<"$line")")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mc=$(med "${c[@]}"); mt=$(med "${t[@]}")
echo "median images/s: C engine $mc, PyTorch $mt, ratio $(awk -v a="$mc" -v b="$mt" 'BEGIN {printf "%.2f", a / b}')x (load average at end: $(cut -d' ' -f1-3 /proc/loadavg))"
