#!/usr/bin/env bash
# The compare: its IDX reader's errors (missing data set, bad magic, truncated
# file) and, when Fashion-MNIST is installed, a small run of the whole job.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"
DATA=/usr/share/datasets/fashion-mnist

# shellcheck disable=SC2059  # the format carries the bytes as escapes
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x \
$(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x \
$(($1 & 255)))"; }

mkdir -p "$T/empty"
expect 1 'train-images-idx3-ubyte.gz.*install it with scripts/setup.sh' \
  compare --data-dir "$T/empty" -q

# a tiny fake data set: 8 images of 2x2 pixels
mkdir -p "$T/fake"
{ be32 0x803; be32 8; be32 2; be32 2; head -c 32 /dev/zero | tr '\0' '\1'; } \
  | gzip >"$T/fake/train-images-idx3-ubyte.gz"
{ be32 0x801; be32 8; printf '\0\1\2\3\4\5\6\7'; } \
  | gzip >"$T/fake/train-labels-idx1-ubyte.gz"
expect 1 'holds 8 records, 100 requested' compare --data-dir "$T/fake" --n 100 -M 10 -K 2 \
  -B 4 -q
mkdir -p "$T/badmagic"
{ be32 0x801; be32 8; be32 2; be32 2; } | gzip \
  >"$T/badmagic/train-images-idx3-ubyte.gz"
expect 1 'bad IDX magic 0x00000801, expected 0x00000803' \
  compare --data-dir "$T/badmagic" -q
mkdir -p "$T/trunc"
{ be32 0x803; be32 8; be32 2; be32 2; head -c 10 /dev/zero; } | gzip \
  >"$T/trunc/train-images-idx3-ubyte.gz"
expect 1 'train-images-idx3-ubyte.gz: truncated' compare --data-dir "$T/trunc" -M 4 -K 2 \
  --n 8 -B 4 -q

if [ ! -r "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "skipping the Fashion-MNIST run: $DATA not installed"
  exit 0
fi
"$BIN" compare --n 1500 --dim 32 -M 200 -K 20 -B 128 -q >"$T/table"
for s in uniform knn rwr; do
  grep -q "^$s " "$T/table" || fail "no $s row: $(cat "$T/table")"
done
[ "$(grep -cE '^(uniform|knn|rwr) ' "$T/table")" -eq 5 ] || fail "rows"
echo "ok"
