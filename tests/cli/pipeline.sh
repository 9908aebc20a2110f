#!/usr/bin/env bash
# synth -> graph -> sample -> stats on a small clustered data set: output
# shapes, B distinct ids per batch, full coverage per epoch, and byte-
# identical outputs for the same seed (whatever the thread count).
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"
N=600 B=64

# json KEY FILE: the value of a number field in stats' one-line JSON.
json() { grep -o "\"$1\":[^,}]*" "$2" | cut -d: -f2; }
# npy_shape FILE: the shape tuple in a .npy header, e.g. "(20, 64)".
npy_shape() { head -c 200 "$1" | tr -d '\0' | grep -ao "'shape': ([0-9, ]*)" \
  | sed "s/'shape': //"; }
# check_batches FILE [NB]: stats accepts the file (it fails on a row with a
# repeated id) and agrees with the header on (NB, B).
check_batches() {
  "$BIN" stats --emb "$T/x.npy" --labels "$T/y.npy" --batches "$1" --json \
    >"$T/s.json"
  local nb; nb=$(json batches "$T/s.json")
  [ "$(npy_shape "$1")" = "($nb, $B)" ] || fail "$1: shape $(npy_shape "$1")"
  [ "$(json batch_size "$T/s.json")" = "$B" ] || fail "$1: batch_size"
  [ -z "${2:-}" ] || [ "$nb" = "$2" ] || fail "$1: $nb batches, want $2"
  head -c 200 "$1" | grep -aq "'descr': '<i8'" || fail "$1: not int64"
}

"$BIN" synth --n $N --dim 16 --clusters 6 --seed 3 -o "$T/x.npy" \
  --labels "$T/y.npy"
[ "$(npy_shape "$T/x.npy")" = "($N, 16)" ] || fail "synth shape"
[ "$(npy_shape "$T/y.npy")" = "($N,)" ] || fail "synth labels shape"
"$BIN" synth --n $N --dim 16 --clusters 6 --seed 3 -o "$T/x2.npy"
cmp -s "$T/x.npy" "$T/x2.npy" || fail "synth not deterministic"

for mode in shared independent exact; do
  "$BIN" graph --emb "$T/x.npy" -M 100 -K 10 --mode $mode --seed 1 \
    --threads 1 -o "$T/g_$mode.bsg" -q
  "$BIN" graph --emb "$T/x.npy" -M 100 -K 10 --mode $mode --seed 1 \
    --threads 2 -o "$T/g2_$mode.bsg" -q
  cmp -s "$T/g_$mode.bsg" "$T/g2_$mode.bsg" || fail "graph $mode differs"
done
"$BIN" graph --emb "$T/x.npy" -M 100 -K 10 --seed 2 -o "$T/g3.bsg" -q
if cmp -s "$T/g_shared.bsg" "$T/g3.bsg"; then fail "seed ignored"; fi

# RWR, two epochs: every epoch covers every instance
S=(--graph "$T/g_shared.bsg" --sampler rwr -B "$B" --alpha 0.2 --seed 5 -q)
"$BIN" sample "${S[@]}" --epochs 2 -o "$T/rwr.npy"
check_batches "$T/rwr.npy"
[ "$(json never_seen "$T/s.json")" = 0 ] || fail "rwr: instances never seen"
[ "$(json count_min "$T/s.json")" -ge 2 ] || fail "rwr: epoch not covered"
"$BIN" sample "${S[@]}" --epochs 2 -o "$T/rwr2.npy"
cmp -s "$T/rwr.npy" "$T/rwr2.npy" || fail "sample not deterministic"
"$BIN" sample "${S[@]}" --epochs 1 --batches-per-epoch 3 -o "$T/rwr3.npy"
check_batches "$T/rwr3.npy" 3
"$BIN" sample "${S[@]}" --tau 0.5 --alpha-schedule decay -o "$T/tau.npy"
check_batches "$T/tau.npy"
# epoch modes and alpha schedules: exact gives every instance once per
# epoch (a fixed-length epoch of N/B batches leaves N mod B out); carry and
# the reference / step schedules run
"$BIN" sample "${S[@]}" --epoch-mode exact --epochs 2 -o "$T/ex.npy"
check_batches "$T/ex.npy" $((2 * ((N + B - 1) / B)))
[ "$(json never_seen "$T/s.json")" = 0 ] || fail "exact: never seen"
[ "$(json count_min "$T/s.json")" = 2 ] || fail "exact: count_min"
"$BIN" sample "${S[@]}" --epoch-mode exact --batches-per-epoch $((N / B)) \
  -o "$T/ex1.npy"
check_batches "$T/ex1.npy" $((N / B))
[ "$(json count_max "$T/s.json")" = 1 ] || fail "exact: an id twice"
[ "$(json never_seen "$T/s.json")" = $((N % B)) ] || fail "exact: coverage"
"$BIN" sample "${S[@]}" --epoch-mode carry --alpha-schedule reference \
  --batches-per-epoch 4 --epochs 3 -o "$T/carry.npy"
check_batches "$T/carry.npy" 12
"$BIN" sample "${S[@]}" --epoch-mode fixed --alpha-schedule step \
  --batches-per-epoch 4 --epochs 3 -o "$T/step.npy"
check_batches "$T/step.npy" 12
"$BIN" stats --emb "$T/x.npy" --batches "$T/rwr.npy" | grep -q '^hardness' \
  || fail "stats table"

# kNN over the exact graph
"$BIN" sample --graph "$T/g_exact.bsg" --sampler knn -B $B -o "$T/knn.npy" -q
check_batches "$T/knn.npy"

# uniform: N / B batches with --drop-last, ceil(N / B) without
"$BIN" sample --sampler uniform -n $N -B $B --drop-last -o "$T/u.npy" -q
check_batches "$T/u.npy" $((N / B))
[ "$(json never_seen "$T/s.json")" = $((N % B)) ] || fail "uniform coverage"
"$BIN" sample --sampler uniform --graph "$T/g_shared.bsg" -B $B \
  -o "$T/u2.npy" -q
check_batches "$T/u2.npy" $(((N + B - 1) / B))

# two ranks: the same number of batches each
for r in 0 1; do
  "$BIN" sample "${S[@]}" --world 2 --rank $r -B 32 -o "$T/r$r.npy"
done
[ "$(npy_shape "$T/r0.npy" | cut -d, -f1)" = \
  "$(npy_shape "$T/r1.npy" | cut -d, -f1)" ] || fail "ranks disagree"
if cmp -s "$T/r0.npy" "$T/r1.npy"; then fail "ranks identical"; fi
echo "ok"
