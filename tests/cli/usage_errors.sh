#!/usr/bin/env bash
# Usage errors exit 2 with exactly one line on stderr that says how to get
# help, and create no output file.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"

# usage2 CMD ARGS...: expects exit 2, one stderr line naming the help.
usage2() {
  local rc=0
  "$BIN" "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "exit $rc, want 2: $* ($(cat "$T/err"))"
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one line: $*: $(cat "$T/err")"
  grep -q "try 'batchsampler" "$T/err" || fail "no help hint: $*"
  [ ! -e "$T/o" ] || fail "output written by: $*"
}

rc=0; "$BIN" >/dev/null 2>"$T/err" || rc=$?           # no command: usage
[ "$rc" -eq 2 ] || fail "no command: exit $rc"
grep -q '^usage: batchsampler' "$T/err" || fail "no command: no usage"
rc=0; "$BIN" bogus 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] || fail "unknown subcommand: exit $rc"
grep -q "unknown command 'bogus'" "$T/err" || fail "unknown subcommand text"
rc=0; "$BIN" --bogus 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "unknown top-level flag"

# A one-process command launched as several by an MPI launcher is refused
# (each copy would do the whole job and write the same files); the
# launcher's environment is what it reads, so no mpirun is needed here.
for c in "train moco" "train simcse" "train graphcl" "train mvgrl" stats \
         demo compare synth "eval sts"; do
  # shellcheck disable=SC2086
  OMPI_COMM_WORLD_SIZE=2 usage2 $c -o "$T/o"
  grep -q "batchsampler ${c% sts}: launched as 2 processes" "$T/err" ||
    fail "$c under a launcher of 2: $(cat "$T/err")"
done
PMI_SIZE=3 usage2 train moco --epochs 1
grep -q "launched as 3 processes" "$T/err" || fail "PMI_SIZE: $(cat "$T/err")"
OMPI_COMM_WORLD_SIZE=1 "$BIN" stats --help >/dev/null ||
  fail "a launcher of 1 process is refused"
OMPI_COMM_WORLD_SIZE=1 "$BIN" train moco --help >/dev/null ||
  fail "train moco under a launcher of 1 process is refused"

E=(--emb "$T/x.npy")
usage2 graph "${E[@]}" -o "$T/o" --bogus
usage2 graph "${E[@]}"                               # missing -o
usage2 graph -o "$T/o"                               # missing --emb
usage2 graph "${E[@]}" -o "$T/o" -K abc
usage2 graph "${E[@]}" -o "$T/o" -K 10x
usage2 graph "${E[@]}" -o "$T/o" -K ' 10'
usage2 graph "${E[@]}" -o "$T/o" -K 0
usage2 graph "${E[@]}" -o "$T/o" -K 99999999999
usage2 graph "${E[@]}" -o "$T/o" -M ''
usage2 graph "${E[@]}" -o "$T/o" -M 10 -K 20         # K > M
usage2 graph "${E[@]}" -o "$T/o" --mode bogus
usage2 graph "${E[@]}" -o "$T/o" --seed -1
usage2 graph "${E[@]}" -o "$T/o" --threads -2
usage2 graph "${E[@]}" -o "$T/o" extra-operand
usage2 graph "${E[@]}" -o                            # -o without a value
usage2 graph "${E[@]}" -o "$T/o" --mode               # --mode without one
grep -q -- "--mode" "$T/err" || fail "message should name --mode"

G=(--graph "$T/g.bsg")
usage2 sample "${G[@]}"                              # missing -o
usage2 sample "${G[@]}" -o "$T/o" --alpha 1.0
usage2 sample "${G[@]}" -o "$T/o" --alpha -0.1
usage2 sample "${G[@]}" -o "$T/o" --alpha nan
usage2 sample "${G[@]}" -o "$T/o" --alpha 0.2x
usage2 sample "${G[@]}" -o "$T/o" --tau -1
usage2 sample "${G[@]}" -o "$T/o" -B 0
usage2 sample "${G[@]}" -o "$T/o" --epochs 0
usage2 sample "${G[@]}" -o "$T/o" --sampler bogus
usage2 sample "${G[@]}" -o "$T/o" --alpha-schedule bogus
usage2 sample "${G[@]}" -o "$T/o" --alpha-schedule Reference
usage2 sample "${G[@]}" -o "$T/o" --alpha-schedule ''
usage2 sample "${G[@]}" -o "$T/o" --epoch-mode bogus
usage2 sample "${G[@]}" -o "$T/o" --epoch-mode ''
usage2 sample "${G[@]}" -o "$T/o" --epoch-mode 'exact '
usage2 sample "${G[@]}" -o "$T/o" --epoch-mode          # missing value
usage2 sample "${G[@]}" -o "$T/o" --rank 2 --world 2
usage2 sample "${G[@]}" -o "$T/o" --world 0
usage2 sample --sampler rwr -o "$T/o"                # rwr needs a graph
usage2 sample --sampler uniform -o "$T/o"            # uniform needs -n
usage2 sample --sampler uniform -n -5 -o "$T/o"

usage2 stats --emb "$T/x.npy"                        # missing --batches
usage2 stats --batches "$T/b.npy"                    # missing --emb
usage2 stats --emb "$T/x.npy" --batches "$T/b.npy" --threads x
usage2 stats --emb "$T/x.npy" --batches "$T/b.npy" --bogus

usage2 compare --n abc
usage2 compare --n 1
usage2 compare -M 10 -K 20
usage2 compare --bogus
usage2 synth --n 10 -o "$T/o"                        # missing --dim
usage2 synth --n 10 --dim 3 -o "$T/o" --clusters 11
echo "ok"
