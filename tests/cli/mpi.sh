#!/usr/bin/env bash
# MPI in the CLI (mpirun -np 2; skipped with a message, exit 77, when the
# build has no MPI or mpirun is missing): `graph` builds its rows on every
# rank and rank 0 writes a file byte-identical to one process's, for every
# mode (3 ranks: an uneven split of the blocks); `sample -o shard-%r.npy` writes
# one shard per rank, each the same as `--rank r --world 2` of one process
# and together (row by row) the single-process batches of W x B; and the
# errors: a missing input, -o without %r, --rank under mpirun, a
# one-process command (train moco, stats) launched as 2.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/mpi_common.inc"
mpi() { local np=$1; shift; mpirun --allow-run-as-root --oversubscribe -np "$np" "$BIN" "$@"; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

"$BIN" synth --n 2000 --dim 16 --clusters 10 --seed 1 -o "$T/X.npy" --labels "$T/y.npy" 2>/dev/null

# graph: byte-identical files
for args in "--mode shared" "--mode independent" "--mode exact --np 3"; do
  np=2; a=(${args/--np 3/}); [[ $args == *"--np 3"* ]] && np=3
  "$BIN" graph --emb "$T/X.npy" -M 150 -K 8 --seed 4 "${a[@]}" -o "$T/one.bsg" -q
  mpi "$np" graph --emb "$T/X.npy" -M 150 -K 8 --seed 4 "${a[@]}" -o "$T/many.bsg" -q
  cmp "$T/one.bsg" "$T/many.bsg" || fail "graph $args: $np ranks wrote another file"
  rm -f "$T/many.bsg"
done
[ "$(ls "$T" | grep -c bsg.)" -eq 0 ] || fail "temporary files left: $(ls "$T")"

# graph: a missing input fails on every rank, with the message
rc=0; mpi 2 graph --emb "$T/none.npy" -o "$T/g.bsg" -q >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" -ne 0 ] || fail "graph with a missing input: exit 0"
grep -q "none.npy" "$T/err" || fail "graph: no message naming the file: $(cat "$T/err")"
[ ! -e "$T/g.bsg" ] || fail "graph: wrote a file after an error"

# sample: shards of the global batch
"$BIN" graph --emb "$T/X.npy" -M 150 -K 8 --seed 4 -o "$T/G.bsg" -q
for s in "rwr --graph $T/G.bsg" "uniform -n 2000"; do
  k=(--sampler $s --epochs 2 --seed 9)
  mpi 2 sample "${k[@]}" -B 40 -o "$T/shard-%r.npy" -q
  "$BIN" sample "${k[@]}" -B 80 -o "$T/global.npy" -q
  for r in 0 1; do
    "$BIN" sample "${k[@]}" -B 40 --rank $r --world 2 -o "$T/one-$r.npy" -q
    cmp "$T/one-$r.npy" "$T/shard-$r.npy" || fail "sample $s: shard $r differs from --rank $r --world 2"
  done
  if "$PY" -c 'import numpy' 2>/dev/null; then
    "$PY" - "$T" <<'PYEOF' || fail "sample $s: the shards are not the global batches"
import sys, numpy as np
t = sys.argv[1]
a, b, g = (np.load(f"{t}/{f}.npy") for f in ("shard-0", "shard-1", "global"))
assert a.shape[1] == 40 and b.shape[1] == 40 and a.shape[0] == g.shape[0] > 0
assert (np.concatenate([a, b], axis=1) == g).all()
PYEOF
  else
    echo "note: no numpy: the union check against -B 80 is skipped"
  fi
done

# sample: usage errors under mpirun
rc=0; mpi 2 sample -n 2000 --sampler uniform -o "$T/s.npy" -q 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] || fail "-o without %r: exit $rc, want 2"
grep -q 'put %r in the name' "$T/err" || fail "-o without %r: $(cat "$T/err")"
rc=0; mpi 2 sample -n 2000 --sampler uniform --rank 1 --world 2 -o "$T/s%r.npy" -q 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] || fail "--rank under mpirun: exit $rc, want 2"
grep -q 'come from mpirun' "$T/err" || fail "--rank under mpirun: $(cat "$T/err")"

# one-process commands refuse to run as 2 copies (no output written)
for c in "train moco" stats; do
  # shellcheck disable=SC2086
  rc=0; mpi 2 $c -o "$T/one.npy" -q >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "$c under mpirun: exit $rc, want 2"
  grep -q "batchsampler $c: launched as 2 processes" "$T/err" || fail "$c under mpirun: $(cat "$T/err")"
  [ ! -e "$T/one.npy" ] || fail "$c under mpirun wrote its output"
done
echo "ok"
