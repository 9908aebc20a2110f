#!/usr/bin/env bash
# shellcheck disable=SC2059
# Data and I/O errors exit 1 with one line "batchsampler: ..." on stderr and
# leave no output file (nor temporary file) behind; an existing output file
# survives a failed command unchanged.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"

# data1 PATTERN ARGS...: expects exit 1, one stderr line matching PATTERN.
data1() {
  local pat=$1 rc=0; shift
  "$BIN" "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" -eq 1 ] || fail "exit $rc, want 1: $* ($(cat "$T/err"))"
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one line: $*: $(cat "$T/err")"
  grep -q '^batchsampler: ' "$T/err" || fail "no 'batchsampler: ': $*"
  grep -Eqi -- "$pat" "$T/err" || fail "stderr lacks /$pat/: $(cat "$T/err")"
  [ ! -e "$T/o" ] || fail "output left by: $*"
  if compgen -G "$T/*.tmp*" >/dev/null; then fail "temporary file left: $*"; fi
}

# Hand-made .npy files (format 1.0), so that this test needs no Python.
# (The printf formats are built on purpose: they carry the bytes as escapes,
# hence the SC2059 exception at the top.)
# npy_header DESCR SHAPE: magic, version and the header padded to 64 bytes.
npy_header() {
  local dict="{'descr': '$1', 'fortran_order': False, 'shape': $2, }"
  local hlen=$(( ( (10 + ${#dict} + 1 + 63) / 64 ) * 64 - 10 ))
  printf '\x93NUMPY\x01\x00'
  printf "\\x$(printf %02x $((hlen & 255)))\\x$(printf %02x $((hlen >> 8)))"
  printf '%s%*s\n' "$dict" $((hlen - ${#dict} - 1)) ''
}
# npy_f32 FILE ROWS COLS BYTES: BYTES is the data as printf escapes.
npy_f32() { { npy_header '<f4' "($2, $3)"; printf "$4"; } >"$1"; }
# npy_i8 FILE ROWS COLS "V1 V2 ...": values in [0, 255].
npy_i8() {
  local v
  { npy_header '<i8' "($2, $3)"
    for v in $4; do printf "\\x$(printf %02x "$v")\\0\\0\\0\\0\\0\\0\\0"; done
  } >"$1"
}
ONE='\x00\x00\x80\x3f' TWO='\x00\x00\x00\x40' NAN='\x00\x00\xc0\x7f'

# the hand-made format is right: a clean 4x2 matrix builds a graph
npy_f32 "$T/ok.npy" 4 2 "$ONE$ONE$ONE$TWO$TWO$ONE$TWO$TWO"
"$BIN" graph --emb "$T/ok.npy" -M 2 -K 1 -o "$T/ok.bsg" -q \
  || fail "hand-made .npy rejected"

data1 'missing.npy' graph --emb "$T/missing.npy" -M 2 -K 1 -o "$T/o"
printf 'this is not a numpy file' >"$T/garbage.npy"
data1 'garbage.npy' graph --emb "$T/garbage.npy" -M 2 -K 1 -o "$T/o"
npy_f32 "$T/nan.npy" 4 2 "$ONE$ONE$ONE$TWO$TWO$ONE$ONE$NAN"
data1 'nan|finite' graph --emb "$T/nan.npy" -M 2 -K 1 -o "$T/o"
npy_f32 "$T/short.npy" 4 2 "$ONE$ONE$ONE$TWO"
data1 'short.npy' graph --emb "$T/short.npy" -M 2 -K 1 -o "$T/o"

"$BIN" synth --n 50 --dim 4 --clusters 5 --seed 1 -o "$T/x.npy" \
  --labels "$T/y.npy"
data1 '' graph --emb "$T/x.npy" -M 50 -K 5 -o "$T/o"          # M >= N
data1 '' graph --emb "$T/x.npy" -K 50 --mode exact -o "$T/o"  # K > N-1
"$BIN" graph --emb "$T/x.npy" -M 20 -K 5 -o "$T/g.bsg" -q
head -c -16 "$T/g.bsg" >"$T/trunc.bsg"
data1 'trunc.bsg' sample --graph "$T/trunc.bsg" -B 8 -o "$T/o"
data1 'missing.bsg' sample --graph "$T/missing.bsg" -B 8 -o "$T/o"
data1 'garbage.npy' sample --graph "$T/garbage.npy" -B 8 -o "$T/o"
data1 '' sample --graph "$T/g.bsg" -B 51 -o "$T/o"           # B > N
data1 '' sample --graph "$T/g.bsg" -n 49 -B 8 -o "$T/o"      # -n != N
data1 'garbage.npy' stats --emb "$T/x.npy" --batches "$T/garbage.npy"
npy_i8 "$T/b.npy" 2 3 "1 2 3 4 5 6"
"$BIN" stats --emb "$T/x.npy" --batches "$T/b.npy" >/dev/null \
  || fail "hand-made int64 .npy rejected"
npy_i8 "$T/dup.npy" 2 3 "1 2 3 4 5 4"
data1 'dup.npy: row 1 holds id 4 twice' stats --emb "$T/x.npy" \
  --batches "$T/dup.npy"
npy_i8 "$T/range.npy" 2 3 "1 2 3 4 5 50"
data1 'range.npy: id 50 .*out of range' stats --emb "$T/x.npy" \
  --batches "$T/range.npy"
data1 'x.npy' stats --emb "$T/x.npy" --batches "$T/x.npy"     # floats
data1 'x.npy' stats --emb "$T/x.npy" --labels "$T/x.npy" \
  --batches "$T/x.npy"
data1 '' synth --n 10 --dim 2 -o "$T/no/such/dir/o.npy"

# a failed command leaves an existing output untouched
printf 'old' >"$T/keep.npy"
rc=0; "$BIN" sample --graph "$T/trunc.bsg" -B 8 -o "$T/keep.npy" \
  2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "exit $rc with a truncated graph"
[ "$(cat "$T/keep.npy")" = old ] || fail "output clobbered"
echo "ok"
