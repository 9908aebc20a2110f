#!/usr/bin/env bash
# `batchsampler train graphcl`: usage errors, a missing or malformed --data
# folder (exit 1, one line), and on a small synthetic TU folder written
# here: a run with each sampler, a run cut in two by --stop-after and
# resumed from its checkpoint ends exactly like an uninterrupted one, a
# checkpoint of other settings is refused, and 1 and 2 threads give the same
# log (timing columns aside).
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"


# TOY: 40 graphs; class 0 rings, class 1 stars, 4..8 nodes, tags 0..2
mkdir -p "$T/TOY"
python3 - "$T/TOY/TOY.txt" <<'PY'
import sys
out = ["40"]
for g in range(40):
    n, c = 4 + g % 5, g % 2
    out.append("%d %d" % (n, c))
    for v in range(n):
        if c == 0:
            nb = sorted({(v + 1) % n, (v - 1) % n})
        else:
            nb = list(range(1, n)) if v == 0 else [0]
        out.append(" ".join(map(str, [(v + g) % 3, len(nb)] + nb)))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY

expect 2 '--data DIR is required' train graphcl
expect 2 "--loss 'nce'" train graphcl --data "$T/TOY" --loss nce
expect 2 "--aug 'rotate'" train graphcl --data "$T/TOY" --aug rotate
expect 2 "--sampler 'bfs'" train graphcl --data "$T/TOY" --sampler bfs
expect 2 "--features 'onehot'" train graphcl --data "$T/TOY" --features onehot
expect 2 '-K 50 is larger than -M 20' train graphcl --data "$T/TOY" -M 20 -K 50
expect 2 '--resume needs --checkpoint' train graphcl --data "$T/TOY" --resume
expect 2 '--epochs' train graphcl --data "$T/TOY" --epochs 0
expect 2 '--tau' train graphcl --data "$T/TOY" --tau 0
expect 1 'NOPE' train graphcl --data "$T/NOPE"
mkdir -p "$T/BAD" && printf '2\n3 0\n0 1 1\n0 1 0\n' >"$T/BAD/BAD.txt"
expect 1 'BAD' train graphcl --data "$T/BAD"
expect 1 'batch size 64' train graphcl --data "$T/TOY" -B 64
"$BIN" train graphcl --help | grep -q -- '--data DIR' || fail "help"

ARGS=(train graphcl --data "$T/TOY" -B 8 --epochs 3 -M 8 -K 3 -q)
for s in uniform knn rwr; do
  "$BIN" "${ARGS[@]}" --sampler "$s" --log "$T/$s.csv" >"$T/$s.out" ||
    fail "run $s"
  grep -q 'SVM accuracy' "$T/$s.out" || fail "no SVM accuracy ($s)"
  [ "$(wc -l <"$T/$s.csv")" -eq 4 ] || fail "log rows ($s)"
done
# one step an epoch never covers the toy set: the graph sampler says it
# never had a graph (every batch uniform); with whole epochs it does not
"$BIN" "${ARGS[@]}" --sampler rwr --steps-per-epoch 1 >/dev/null 2>"$T/nog.err"
grep -q 'warning: the graph sampler never had a graph' "$T/nog.err" ||
  fail "no warning without a graph: $(cat "$T/nog.err")"
"$BIN" "${ARGS[@]}" --sampler rwr >/dev/null 2>"$T/g.err"
! grep -q warning "$T/g.err" || fail "warning with graphs: $(cat "$T/g.err")"
cols() { cut -d, -f1-9 "$1"; }
grep -q 'aug random2  features auto' "$T/uniform.out" || fail "defaults"

# --features: constant and degree run; the log differs from tags'
for f in constant degree; do
  "$BIN" "${ARGS[@]}" --sampler uniform --features "$f" --log "$T/f_$f.csv" \
    >"$T/f_$f.out" || fail "run --features $f"
  grep -q "features $f" "$T/f_$f.out" || fail "features $f not reported"
  ! diff -q <(cols "$T/uniform.csv") <(cols "$T/f_$f.csv") >/dev/null ||
    fail "--features $f changed nothing"
done

# --aug dnodes on graphs of < 10 nodes: every augmented view is empty (the
# released drop_nodes draws floor(n/10) = 0 nodes); the run still trains
"$BIN" "${ARGS[@]}" --sampler uniform --aug dnodes --log "$T/empty.csv" \
  >"$T/empty.out" || fail "run with empty views"
grep -q 'SVM accuracy' "$T/empty.out" || fail "no SVM accuracy (empty views)"
! grep -qi 'nan' "$T/empty.csv" || fail "NaN with empty views"

# --eval-every: SVM rows at epochs 2 and 3 (the last) of 3
"$BIN" "${ARGS[@]}" --sampler uniform --eval-every 2 --log "$T/ev.csv" \
  >/dev/null || fail "eval-every run"
[ "$(awk -F, 'NR > 1 && $4 >= 0' "$T/ev.csv" | wc -l)" -eq 2 ] ||
  fail "eval-every 2 of 3 epochs: want 2 SVM rows"

# resume: 1 epoch, stop; resume to the end == uninterrupted
"$BIN" "${ARGS[@]}" --sampler rwr --aug random4 --log "$T/full.csv" \
  --checkpoint "$T/full.ckpt" >/dev/null || fail "full run"
"$BIN" "${ARGS[@]}" --sampler rwr --aug random4 --log "$T/cut.csv" \
  --checkpoint "$T/cut.ckpt" --stop-after 1 >"$T/cut.out" || fail "cut run"
grep -q 'stopped after 1' "$T/cut.out" || fail "stop message"
"$BIN" "${ARGS[@]}" --sampler rwr --aug random4 --log "$T/cut.csv" \
  --checkpoint "$T/cut.ckpt" --resume >/dev/null || fail "resumed run"
diff <(cols "$T/full.csv") <(cols "$T/cut.csv") >/dev/null ||
  fail "resumed log differs"
expect 1 'other settings|settings' "${ARGS[@]}" --sampler rwr --aug dnodes \
  --checkpoint "$T/cut.ckpt" --resume

# thread counts
"$BIN" "${ARGS[@]}" --sampler knn --threads 1 --log "$T/t1.csv" >/dev/null
"$BIN" "${ARGS[@]}" --sampler knn --threads 2 --log "$T/t2.csv" >/dev/null
diff <(cols "$T/t1.csv") <(cols "$T/t2.csv") >/dev/null ||
  fail "1 and 2 threads differ"
echo "graphs: ok"
