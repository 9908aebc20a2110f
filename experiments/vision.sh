#!/usr/bin/env bash
# experiments/vision.sh — the vision study of docs/vision.md (issue 11):
# SimCLR and MoCo v3 on all 60,000 Fashion-MNIST training images, 20 epochs
# of 235 steps (B = 256), the same number of optimiser steps for every
# sampler; kNN top-1 on the 10,000 test images every epoch, a linear probe
# at the end.
#
#   bash experiments/vision.sh [JOBS]        (default 2 runs side by side)
#
# JOBS runs at a time, THREADS OpenMP threads each (default: the cores
# shared out, nproc / JOBS, at least 1).  The results do not depend on
# either (the trainers are thread-invariant).  The runs' heap is backed by
# transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1 unless set):
# on the 2-core study machine that made an epoch of two graph runs side
# by side 2x shorter, with the same numbers (docs/vision.md, "Cost").
#
# Stages (each a list of runs; a run whose summary results/vision/<name>.out
# exists is skipped, a run that was stopped resumes from its checkpoint, so
# the study can be spread over several sittings):
#   main      uniform, kNN and BatchSampler (rwr, fixed epochs, constant
#             alpha) for SimCLR and MoCo v3, seeds 0-2;
#   variants  seed 0 only: every epoch mode (fixed, carry, exact) under the
#             constant and the reference alpha schedule; the reference's
#             temperature 0.5 (SimCLR); the concatenated-views embedding in
#             the store (SimCLR);
#   confirm   seeds 1 and 2 of the variants named in CONFIRM (a
#             space-separated list of run names without _s0), chosen from
#             seed 0's results *before* looking at seeds 1 and 2;
#   extend    seeds 3 and 4 of the runs named in EXTEND (fresh seeds for
#             a setting chosen after the confirm stage, with its uniform
#             baseline named too; OUT=results/vision_extend keeps them
#             apart from the pick-and-confirm protocol's seeds 0-2).
# STAGES (default "main variants confirm") picks stages; BS_BIN the binary;
# BS_BUILD the build's name written into each summary (default: the
# repository's commit, "+changes" when its tree differs; name the commit
# BS_BIN was built from when it is a copy of an older build);
# DRY=1 lists the runs without running anything.
# experiments/vision_report.py turns results/vision/ into docs/vision.md's
# tables and plots.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BS_BIN:-$root/build/batchsampler}"
[ -x "$BIN" ] || { echo "vision.sh: no $BIN: build first (bash scripts/setup.sh)" >&2; exit 1; }
OUT="${OUT:-$root/results/vision}"
JOBS="${1:-2}"
case $JOBS in ''|*[!0-9]*|0) echo "vision.sh: JOBS '$JOBS': expected a count >= 1" >&2; exit 2 ;; esac
THREADS="${THREADS:-$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))}"
STAGES="${STAGES:-main variants confirm}"
CONFIRM="${CONFIRM:-}"
EXTEND="${EXTEND:-}"
mkdir -p "$OUT"

# one budget for every row: 20 epochs of ceil(60000 / 256) = 235 steps
common="${VISION_COMMON:---epochs 20 -B 256 --eval-every 1}" # VISION_COMMON: for a quick check

# name -> "method options" (the seed is added per run)
declare -A row
row[simclr_uniform]="simclr --sampler uniform"
row[simclr_knn]="simclr --sampler knn -K 100"
row[moco_uniform]="moco --sampler uniform"
row[moco_knn]="moco --sampler knn -K 100"
for method in simclr moco; do
  for mode in fixed carry exact; do
    for sched in constant reference; do
      row[${method}_rwr_${mode}_${sched}]="$method --sampler rwr -M 1000 -K 100 --alpha 0.2 --epoch-mode $mode --alpha-schedule $sched"
    done
  done
done
row[simclr_uniform_t0.5]="simclr --sampler uniform --tau 0.5"
row[simclr_rwr_fixed_constant_t0.5]="simclr --sampler rwr -M 1000 -K 100 --alpha 0.2 --tau 0.5"
row[simclr_rwr_fixed_constant_concat]="simclr --sampler rwr -M 1000 -K 100 --alpha 0.2 --store-views concat"

main="simclr_uniform simclr_knn simclr_rwr_fixed_constant moco_uniform moco_knn moco_rwr_fixed_constant"
variants=""
for name in "${!row[@]}"; do
  case " $main " in *" $name "*) ;; *) variants="$variants $name" ;; esac
done
variants=$(printf '%s\n' $variants | sort | tr '\n' ' ')

runs=()
for stage in $STAGES; do
  case $stage in
    main) for seed in 0 1 2; do for n in $main; do runs+=("$n $seed"); done; done ;;
    variants) for n in $variants; do runs+=("$n 0"); done ;;
    confirm)
      for n in $CONFIRM; do
        [ -n "${row[$n]:-}" ] || { echo "vision.sh: CONFIRM: unknown run '$n'" >&2; exit 2; }
        for seed in 1 2; do runs+=("$n $seed"); done
      done ;;
    extend)
      for n in $EXTEND; do
        [ -n "${row[$n]:-}" ] || { echo "vision.sh: EXTEND: unknown run '$n'" >&2; exit 2; }
        for seed in 3 4; do runs+=("$n $seed"); done
      done ;;
    *) echo "vision.sh: unknown stage '$stage' (expected main, variants, confirm, extend)" >&2; exit 2 ;;
  esac
done

one() { # name seed
  local name=$1 seed=$2 tag="$OUT/${1}_s$2"
  [ -s "$tag.out" ] && return 0
  # shellcheck disable=SC2086
  set -- ${ROWS[$name]}
  local method=$1; shift
  echo "vision.sh: $name seed $seed" >&2
  # shellcheck disable=SC2086
  if OMP_NUM_THREADS=$THREADS nice -n 10 "$BIN" train "$method" $COMMON "$@" --seed "$seed" \
      --log "$tag.partial.csv" --checkpoint "$tag.ckpt" --resume -q >"$tag.partial.out"; then
    mv "$tag.partial.csv" "$tag.csv"
    # which build made the run: the study spans sittings and builds (the
    # same arithmetic, other rounding: docs/vision.md, "Results")
    printf 'build: %s, binary sha256 %s\n' "$BUILD" "$(sha256sum "$BIN" | cut -c1-12)" >>"$tag.partial.out"
    mv "$tag.partial.out" "$tag.out"
    rm -f "$tag.ckpt"
    echo "vision.sh: done $name seed $seed: $(grep -h 'kNN top-1' "$tag.out")" >&2
  else
    echo "vision.sh: $name seed $seed failed (checkpoint kept)" >&2
    return 1 # xargs goes on with the other runs and exits non-zero at the end
  fi
}

if [ -n "${DRY:-}" ]; then # DRY=1: list the runs and their commands only
  for r in "${runs[@]}"; do
    set -- $r
    echo "$1 seed $2: $BIN train ${row[$1]%% *} $common ${row[$1]#* } --seed $2"
  done
  exit 0
fi

# xargs runs JOBS at a time; each child gets the row table through a file.
# Once this script is gone (stopped), its table is too, and the next child
# exits 255, which makes xargs start nothing more: stopping the study is
#   pkill -f experiments/vision.sh; pkill -f 'batchsampler train'
# and the stopped runs resume from their last epoch's checkpoint.
tabfile=$(mktemp)
trap 'rm -f "$tabfile"' EXIT
for n in "${!row[@]}"; do printf '%s\t%s\n' "$n" "${row[$n]}"; done >"$tabfile"
export -f one
BUILD="${BS_BUILD:-$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!results' || echo +changes)}"
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
export OUT BIN BUILD tabfile THREADS
export COMMON="$common"
printf '%s\n' "${runs[@]}" | xargs -P "$JOBS" -I{} bash -c '
  [ -r "$tabfile" ] || exit 255
  declare -A ROWS
  while IFS=$'"'"'\t'"'"' read -r k v; do ROWS[$k]=$v; done <"$tabfile"
  one {}'
