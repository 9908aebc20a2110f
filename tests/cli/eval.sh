#!/usr/bin/env bash
# `batchsampler eval sts`: scores of hand-made STS / SICK files worked by
# hand, usage errors (exit 2) and data errors (exit 1, one line naming the
# file and line); the six standard tasks against the reference numbers of
# ../shared/data/README.md when that folder is beside the clone (skipped
# with a message otherwise).
set -euo pipefail
BIN=$1
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$(dirname "$0")/common.inc"


printf 'good 1 0\nbad -1 0\nmovie 0 1\nfilm 0 1\n' >"$T/g.txt"
# cosines 1, 0, 1/sqrt(5), 0 against gold 5, 1, 3, 0: rho = 4.5/sqrt(22.5)
printf '5\tgood movie\tGood film!\n1\tbad movie\tgood film\n3\tgood good movie\tfilm\n0\tzebra\tmovie\n' >"$T/a.tsv"
# the same pairs as a SICK file (CRLF): relatedness 5, 2, 3, 1 ranks alike
printf 'pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\r\n1\tgood movie\tgood film\t5\tENTAILMENT\r\n2\tbad movie\tgood film\t2\tCONTRADICTION\r\n3\tgood good movie\tfilm\t3\tNEUTRAL\r\n4\tzebra\tmovie\t1\tNEUTRAL\r\n' >"$T/b.txt"

"$BIN" eval sts --glove "$T/g.txt" "$T/a.tsv" "$T/b.txt" >"$T/out" \
  || fail "eval on hand-made files"
grep -Eq "a\.tsv +4 +94\.87$" "$T/out" || fail "a.tsv: $(cat "$T/out")"
grep -Eq "b\.txt +4 +94\.87$" "$T/out" || fail "b.txt: $(cat "$T/out")"
grep -Eq "^average +94\.87$" "$T/out" || fail "average: $(cat "$T/out")"
grep -q "encoder: GloVe average of $T/g.txt (4 words, 2 dimensions)" \
  "$T/out" || fail "encoder line: $(cat "$T/out")"
"$BIN" eval sts --help | grep -q "usage: batchsampler eval sts" \
  || fail "eval sts --help"
"$BIN" eval --help | grep -q "eval sts" || fail "eval --help"
"$BIN" --help | grep -q "eval " || fail "eval missing from --help"

# usage errors
expect 2 "expected an evaluation" eval
expect 2 "unknown evaluation 'nli'" eval nli
expect 1 "nothere.ckpt" eval sts --model "$T/nothere.ckpt" "$T/a.tsv"
expect 2 "option --glove needs a value" eval sts --glove
expect 2 "empty path for --glove" eval sts --glove "" "$T/a.tsv"
expect 2 "empty file name" eval sts --glove "$T/g.txt" ""

# data errors: one line, the file and line, exit 1
expect 1 "cannot open $T/none.txt" eval sts --glove "$T/none.txt" "$T/a.tsv"
expect 1 "cannot open $T/none.tsv" eval sts --glove "$T/g.txt" "$T/none.tsv"
printf 'good 1 0\nbad 1\n' >"$T/dim.txt"
expect 1 "dim.txt:2: 2 fields \(expected a word and 2 numbers" \
  eval sts --glove "$T/dim.txt" "$T/a.tsv"
printf 'good 1 0\nbad nan 1\n' >"$T/nan.txt"
expect 1 "nan.txt:2: value 1 'nan' \(expected a finite float\)" \
  eval sts --glove "$T/nan.txt" "$T/a.tsv"
printf '1\ta\tb\n6\tc\td\n' >"$T/score.tsv"
expect 1 "score.tsv:2: score '6' \(expected a number in \[0, 5\]\)" \
  eval sts --glove "$T/g.txt" "$T/score.tsv"
printf '1\ta b\n' >"$T/cols.tsv"
expect 1 "cols.tsv:1: 2 tab-separated fields" \
  eval sts --glove "$T/g.txt" "$T/cols.tsv"
printf '1\ta\tb\n2\tc \xff\td\n' >"$T/utf8.tsv"
expect 1 "utf8.tsv:2: invalid UTF-8 at byte 5" \
  eval sts --glove "$T/g.txt" "$T/utf8.tsv"
printf '2\ta\tb\n2\tc\td\n' >"$T/flat.tsv"
expect 1 "gold scores are all equal" eval sts --glove "$T/g.txt" "$T/flat.tsv"
expect 1 "no STS data: $T/nodata/sts is not a folder.*--data-dir" \
  eval sts --glove "$T/g.txt" --data-dir "$T/nodata"
mkdir -p "$T/partial/sts"
expect 1 "cannot open $T/partial/sts/sts12/MSRpar.tsv" \
  eval sts --glove "$T/g.txt" --data-dir "$T/partial"

# the six standard tasks on the real files
DATA="$ROOT/../shared/data"
if [ ! -f "$DATA/text/glove.6B.50d.10k.txt" ] || [ ! -d "$DATA/sts" ]; then
  echo "skipped: the standard tasks (no $DATA)"
  exit 0
fi
(cd "$ROOT" && "$BIN" eval sts) >"$T/out" || fail "eval sts (defaults)"
for want in "STS12 +3108 +43.84" "STS13 +1500 +33.00" "STS14 +3750 +34.52" \
            "STS15 +3000 +47.62" "STS16 +1186 +36.92" "SICK-R +4927 +51.54" \
            "average +41.24"; do
  grep -Eq "^$want$" "$T/out" || fail "no /$want/ in: $(cat "$T/out")"
done
# a year's files given one by one: one Spearman each, then their mean
"$BIN" eval sts --data-dir "$DATA" "$DATA"/sts/sts16/*.tsv >"$T/out" \
  || fail "eval sts on the STS16 files"
[ "$(grep -c '\.tsv ' "$T/out")" -eq 5 ] || fail "five rows: $(cat "$T/out")"
echo "ok"
