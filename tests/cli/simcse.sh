#!/usr/bin/env bash
# `batchsampler train simcse` and `eval sts --model`: usage errors, a bad
# data folder or corpus (exit 1, one line), and on a small corpus written
# here with a tiny encoder: a run with each sampler, a run cut in two by
# --stop-after and resumed ends exactly like an uninterrupted one (log and
# checkpoint's scores), a checkpoint of other settings is refused, 1 and 2
# threads give the same log, and eval sts --model scores files with the
# checkpoint's encoder; --sif / --distill / --teacher: settings, resume,
# eval --model.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"
D="$(cd "$(dirname "$0")/../../.." && pwd)/shared/data"

expect 2 "--loss 'nce'" train simcse --loss nce
expect 2 "--sampler 'bfs'" train simcse --sampler bfs
expect 2 '--resume needs --checkpoint' train simcse --resume
expect 2 '--stop-after needs --checkpoint' train simcse --stop-after 1
expect 2 '-K 50 is larger than -M 10' train simcse -M 10 -K 50
expect 2 '--heads 3 does not divide --dim 16' train simcse --dim 16 --heads 3
expect 2 "--pool 'max'" train simcse --pool max
expect 2 '--tok-drop: 0.9 is out of range' train simcse --tok-drop 0.9
expect 2 '--glove-lr: 2 is out of range' train simcse --glove-lr 2
expect 2 '--sif: 1.5 is out of range' train simcse --sif 1.5
expect 2 '--distill: -1 is out of range' train simcse --distill -1
expect 2 "--teacher 'bert': expected encoder or glove" train simcse --teacher bert
expect 2 'unrecognized|unknown' train simcse --bogus
expect 2 'empty path' eval sts --model ''
expect 2 'exclude' eval sts --model x --glove y
expect 1 'data folder /nonexistent' train simcse --data-dir /nonexistent
expect 1 'nonexistent' eval sts --model "$T/nonexistent.ckpt"
printf 'not a checkpoint\n' >"$T/bad.ckpt"
expect 1 'bad.ckpt' eval sts --model "$T/bad.ckpt"

if [ ! -f "$D/text/glove.6B.50d.10k.txt" ]; then
  echo "skip: no $D (the runs need the GloVe vectors and sts12-train)"
  exit 0
fi
mkdir -p "$T/empty"
expect 1 'corpus.txt' train simcse --data-dir "$T/empty"
printf 'one sentence\n\nafter an empty line\n' >"$T/blank.txt"
expect 1 'blank.txt:2' train simcse --data-dir "$D" --corpus "$T/blank.txt"

# a small corpus: 48 sentences of two kinds
python3 - "$T/corpus.txt" <<'PY'
import sys
a = ["the cat sat on the mat", "a dog ran in the park", "the man plays guitar",
     "a woman is cutting an onion", "two kids play football", "the sun is hot"]
b = ["stocks fell sharply today", "the bank raised interest rates",
     "oil prices rose in march", "the company reported a loss",
     "markets closed higher", "the government cut taxes"]
out = []
for i in range(4):
    for s in a + b:
        out.append(s + [" .", " !", " today .", " again ."][i])
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
printf '4.5\tthe cat sat on the mat\ta cat sat on a mat\n0.5\tthe cat sat on the mat\tstocks fell today\n3.0\tthe dog ran\ta dog ran in the park\n1.0\toil prices rose\tthe man plays guitar\n' >"$T/pairs.tsv"

TINY=(train simcse --data-dir "$D" --corpus "$T/corpus.txt" --dim 16
      --heads 2 --layers 1 -B 8 -M 12 -K 4 --refresh 3 --steps 12
      --eval-every 4 --no-final-eval --no-dev -q)

for s in uniform knn rwr; do
  "$BIN" "${TINY[@]}" --sampler $s --log "$T/$s.csv" >"$T/$s.out" ||
    fail "sampler $s"
  [ "$(wc -l <"$T/$s.csv")" -eq 4 ] || fail "$s: 3 rows expected"
  grep -q "sampler $s" "$T/$s.out" || fail "$s: summary"
done
cmp -s "$T/uniform.csv" "$T/rwr.csv" && fail "rwr gave uniform's log"

# resume: 1 row, stop; resume to the end == uninterrupted (times aside)
cols() { cut -d, -f1-10 "$1"; }
"$BIN" "${TINY[@]}" --sampler rwr --log "$T/full.csv" \
  --checkpoint "$T/full.ckpt" >/dev/null || fail "uninterrupted"
"$BIN" "${TINY[@]}" --sampler rwr --log "$T/cut.csv" \
  --checkpoint "$T/cut.ckpt" --stop-after 1 >"$T/out" || fail "cut run"
grep -q 'resume with --resume' "$T/out" || fail "no stop message"
[ "$(wc -l <"$T/cut.csv")" -eq 2 ] || fail "cut: 1 row expected"
"$BIN" "${TINY[@]}" --sampler rwr --log "$T/cut.csv" \
  --checkpoint "$T/cut.ckpt" --resume >/dev/null || fail "resumed run"
[ "$(cols "$T/full.csv")" = "$(cols "$T/cut.csv")" ] ||
  fail "resumed log differs: $(diff <(cols "$T/full.csv") <(cols "$T/cut.csv"))"
# the dev score (sts12-train) in the log: one row
"$BIN" train simcse --data-dir "$D" --corpus "$T/corpus.txt" --dim 16 \
  --heads 2 --layers 1 -B 8 --steps 4 --eval-every 4 --no-final-eval -q \
  --sampler uniform --log "$T/dev.csv" >/dev/null || fail "dev run"
grep -Eq '^0,4,0,[^,]*,[^,]*,-?[0-9]+\.[0-9]{4},' "$T/dev.csv" ||
  fail "no dev score: $(cat "$T/dev.csv")"
grep -q ',-1.0000,' "$T/full.csv" || fail "--no-dev: dev column not -1"
expect 1 'saved with other settings.*lr' "${TINY[@]}" \
  --sampler rwr --lr 0.01 --checkpoint "$T/cut.ckpt" --resume
# token deletion and a frozen GloVe table: another log, and part of the
# checkpoint's settings
"$BIN" "${TINY[@]}" --sampler uniform --tok-drop 0.2 --glove-lr 0 \
  --log "$T/td.csv" --checkpoint "$T/td.ckpt" >"$T/td.out" || fail "tok-drop"
grep -q 'tok-drop 0.2  glove-lr 0' "$T/td.out" || fail "tok-drop: summary"
cmp -s <(cols "$T/uniform.csv") <(cols "$T/td.csv") &&
  fail "--tok-drop gave uniform's log"
expect 1 'saved with other settings' "${TINY[@]}" --sampler uniform \
  --checkpoint "$T/td.ckpt" --resume

# SIF pooling and the distillation term: another log, part of the
# settings, a run cut in two ends like an uninterrupted one, and eval sts
# --model of both checkpoints (pooling weights included) scores the same
SD=(--sampler uniform --sif 0.01 --distill 5 --tok-drop 0.2)
"$BIN" "${TINY[@]}" "${SD[@]}" --log "$T/sd.csv" --checkpoint "$T/sd.ckpt" \
  >"$T/sd.out" || fail "sif+distill"
grep -q 'sif 0.01  distill 5' "$T/sd.out" || fail "sif: summary"
cmp -s <(cols "$T/td.csv") <(cols "$T/sd.csv") &&
  fail "--sif --distill gave tok-drop's log"
"$BIN" "${TINY[@]}" "${SD[@]}" --log "$T/sdc.csv" --checkpoint "$T/sdc.ckpt" \
  --stop-after 1 >/dev/null || fail "sif: cut run"
"$BIN" "${TINY[@]}" "${SD[@]}" --log "$T/sdc.csv" --checkpoint "$T/sdc.ckpt" \
  --resume >/dev/null || fail "sif: resumed run"
[ "$(cols "$T/sd.csv")" = "$(cols "$T/sdc.csv")" ] || fail "sif: resumed log differs"
expect 1 'saved with other settings.*sif' "${TINY[@]}" --sampler uniform \
  --tok-drop 0.2 --sif 0 --checkpoint "$T/sd.ckpt" --resume
"$BIN" eval sts --model "$T/sd.ckpt" "$T/pairs.tsv" >"$T/e3" || fail "eval sif"
"$BIN" eval sts --model "$T/sdc.ckpt" "$T/pairs.tsv" >"$T/e4" || fail "eval sif 2"
[ "$(head -2 "$T/e3")" = "$(head -2 "$T/e4")" ] || fail "sif: model scores differ"

# the teacher (default glove): the untrained encoder instead is another
# log and part of the settings
grep -q 'teacher glove' "$T/sd.out" || fail "teacher: default summary"
"$BIN" "${TINY[@]}" "${SD[@]}" --teacher encoder --log "$T/te.csv" \
  >"$T/te.out" || fail "teacher encoder"
grep -q 'teacher encoder' "$T/te.out" || fail "teacher: summary"
cmp -s <(cols "$T/sd.csv") <(cols "$T/te.csv") &&
  fail "--teacher encoder gave glove's log"
expect 1 'saved with other settings.*teacher' "${TINY[@]}" "${SD[@]}" \
  --teacher encoder --checkpoint "$T/sd.ckpt" --resume

# 1 and 2 threads: the same log
"$BIN" "${TINY[@]}" --sampler knn --threads 1 --log "$T/t1.csv" \
  >/dev/null || fail "1 thread"
"$BIN" "${TINY[@]}" --sampler knn --threads 2 --log "$T/t2.csv" \
  >/dev/null || fail "2 threads"
[ "$(cols "$T/t1.csv")" = "$(cols "$T/t2.csv")" ] || fail "threads differ"

# eval sts --model: the checkpoint's encoder on files, twice the same
"$BIN" eval sts --model "$T/full.ckpt" "$T/pairs.tsv" >"$T/e1" ||
  fail "eval --model"
"$BIN" eval sts --model "$T/cut.ckpt" "$T/pairs.tsv" >"$T/e2" ||
  fail "eval --model (resumed)"
grep -q 'SimCSE checkpoint' "$T/e1" || fail "eval: encoder line"
grep -Eq 'pairs.tsv +4 +-?[0-9]+\.[0-9]{2}' "$T/e1" || fail "eval: score"
[ "$(head -3 "$T/e1")" = "$(head -3 "$T/e2")" ] || fail "resumed model scores differ"
echo ok
