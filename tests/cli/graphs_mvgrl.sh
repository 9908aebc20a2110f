#!/usr/bin/env bash
# `batchsampler train mvgrl`: usage and data errors (one line each), a tiny
# run on MUTAG, an interrupted run resumed from its checkpoint ends exactly
# like an uninterrupted one (log and summary), the same seed gives the same
# log for 1 and 2 threads, a checkpoint of other settings (or other node
# features) is refused; --features names its choice in the summary and
# changes the run.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"
DATA="$(cd "$(dirname "$0")/../.." && pwd)/../shared/data/tu"


expect 2 '--data DIR is required' train mvgrl
expect 2 "--sampler 'bfs'" train mvgrl --data x --sampler bfs
expect 2 '--hidden' train mvgrl --data x --hidden 0
expect 2 '--layers' train mvgrl --data x --layers 17
expect 2 '--ppr-alpha' train mvgrl --data x --ppr-alpha 0
expect 2 '--lr' train mvgrl --data x --lr 0
expect 2 "--features 'constant'" train mvgrl --data x --features constant
expect 2 "--features ''" train mvgrl --data x --features ''
expect 2 '--resume needs --checkpoint' train mvgrl --data x --resume
expect 2 'unrecognized|unknown|unexpected' train mvgrl --data x --aug dnodes
"$BIN" train mvgrl --help | grep -q 'usage: batchsampler train mvgrl' ||
  fail "help"
expect 1 'nope' train mvgrl --data "$T/nope" -q
mkdir -p "$T/BAD"; printf '2\n1 0\n0 0\n' >"$T/BAD/BAD.txt"
expect 1 'BAD' train mvgrl --data "$T/BAD" -q

[ -d "$DATA/MUTAG" ] || { echo "skip: no $DATA/MUTAG"; exit 0; }
RUN=(train mvgrl --data "$DATA/MUTAG" --hidden 16 --layers 2 -B 32
     --epochs 3 --refresh 2 -q --no-svm)
OMP_NUM_THREADS=2 "$BIN" "${RUN[@]}" --log "$T/full.csv" >"$T/full.out"
grep -q 'MVGRL on 188 graphs .*features auto' "$T/full.out" ||
  fail "summary: $(cat "$T/full.out")"
[ "$(wc -l <"$T/full.csv")" -eq 4 ] || fail "log rows"
OMP_NUM_THREADS=1 "$BIN" "${RUN[@]}" --log "$T/t1.csv" >/dev/null
cut -d, -f1-9 "$T/full.csv" >"$T/a"; cut -d, -f1-9 "$T/t1.csv" >"$T/b"
cmp -s "$T/a" "$T/b" || fail "1 vs 2 threads differ"
"$BIN" "${RUN[@]}" --checkpoint "$T/c.ckpt" --stop-after 2 \
  --log "$T/part.csv" >"$T/part.out"
grep -q 'stopped after 2 epochs' "$T/part.out" || fail "stop-after"
"$BIN" "${RUN[@]}" --checkpoint "$T/c.ckpt" --resume --log "$T/part.csv" \
  >"$T/res.out"
cut -d, -f1-9 "$T/part.csv" >"$T/b"
cmp -s "$T/a" "$T/b" || fail "resumed log differs: $(cat "$T/part.csv")"
grep -v '^time' "$T/full.out" >"$T/a"; grep -v '^time' "$T/res.out" >"$T/b"
cmp -s "$T/a" "$T/b" || fail "resumed summary differs"
expect 1 'other settings' train mvgrl --data "$DATA/MUTAG" --hidden 8 \
  --layers 2 -B 32 --epochs 3 -q --no-svm --checkpoint "$T/c.ckpt" --resume
expect 1 'other settings' "${RUN[@]}" --features tags \
  --checkpoint "$T/c.ckpt" --resume
# auto is tags+degree on MUTAG: the same log; tags alone: another
"$BIN" "${RUN[@]}" --features tags+degree --log "$T/td.csv" >/dev/null
cut -d, -f1-9 "$T/full.csv" >"$T/a"
cut -d, -f1-9 "$T/td.csv" | cmp -s - "$T/a" || fail "auto != tags+degree"
"$BIN" "${RUN[@]}" --features tags --log "$T/tg.csv" >/dev/null
cut -d, -f1-3 "$T/tg.csv" >"$T/b"; cut -d, -f1-3 "$T/td.csv" >"$T/c"
cmp -s "$T/b" "$T/c" && fail "--features tags changed nothing"
echo "ok"
