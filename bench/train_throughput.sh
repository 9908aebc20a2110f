#!/usr/bin/env bash
# train_throughput.sh [B [STEPS [ROUNDS [MODES]]]] — training throughput of
# the C engine (bench_train) against the same network and loss in PyTorch
# CPU (ref_torch_train.py), same batch, same thread count (2), alternating
# ROUNDS times so both see the same machine load; prints each run and the
# ratio of the medians, for each mode in MODES ("simclr moco" by default;
# simclr: SimCLR step, moco: MoCo v3 step).  Needs a Release build in
# build/ or $BUILD_DIR (scripts/setup.sh).
#
# METRIC=cpu (what bench/train_cpu.sh sets): one thread each, and the
# figure compared is the process's CPU seconds per step that both print
# (ratio PyTorch / C: above 1, the C engine needs less CPU per step).  On a
# shared machine CPU time is far less sensitive to the other processes
# than wall time (a descheduled thread costs no CPU time), so that is the
# comparison to read when the machine is loaded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
B="${1:-256}"; STEPS="${2:-20}"; ROUNDS="${3:-3}"; MODES="${4:-simclr moco}"
METRIC="${METRIC:-wall}"
bin="${BUILD_DIR:-$root/build}/bench/bench_train"
[ -x "$bin" ] || { echo "no $bin: build first (bash scripts/setup.sh)" >&2; exit 1; }
if [ "$METRIC" = cpu ]; then
  threads=1; unit="CPU s/step (1 thread)"
  pick() { sed -E 's/.*cpu ([0-9.]+) s\/step.*/\1/' <<<"$1"; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b / a}'; }
else
  threads=2; unit="images/s"
  pick() { sed -E 's/.* ([0-9]+) images\/s.*/\1/' <<<"$1"; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
fi
# the machine, for the record: CPU model, AVX-512, load when the run began
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1); avx512f: $(grep -q -m1 -o avx512f /proc/cpuinfo && echo yes || echo no); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for mode in $MODES; do
  c=(); t=()
  for r in $(seq "$ROUNDS"); do
    line=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 "$bin" "$B" "$STEPS" 16 "$mode")
    echo "$line"; c+=("$(pick "$line")")
    line=$(/usr/bin/python3 "$root/bench/ref_torch_train.py" "$B" "$STEPS" 16 "$threads" "$mode")
    echo "$line"; t+=("$(pick "$line")")
  done
  mc=$(med "${c[@]}"); mt=$(med "${t[@]}")
  echo "$mode median $unit: C engine $mc, PyTorch $mt, ratio $(ratio "$mc" "$mt")x (load average at end: $(cut -d' ' -f1-3 /proc/loadavg))"
done
