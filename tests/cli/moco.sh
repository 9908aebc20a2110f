#!/usr/bin/env bash
# `batchsampler train moco`: option errors, and on a tiny slice of
# Fashion-MNIST: a run on 1 thread equals one interrupted after its first
# epoch and resumed on 2 threads (log and result); a finished run resumed
# prints the same result; dcl / hcl change the loss; a checkpoint made with
# another momentum, a truncated one and a corrupt one are refused.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"
DATA=/usr/share/datasets/fashion-mnist


"$BIN" train moco --help | grep -q 'usage: batchsampler train moco' \
  || fail "help"
expect 2 '--momentum' train moco --momentum 1.5
expect 2 '--mlp-dim' train moco --mlp-dim 0
expect 2 '--dim' train moco --dim 0
expect 2 "--loss 'nce'" train moco --loss nce
expect 2 '--tau-plus' train moco --tau-plus 1
expect 2 '-K 50 is larger than -M 20' train moco -M 20 -K 50
expect 2 '--resume needs --checkpoint' train moco --resume
expect 2 '--stop-after needs --checkpoint' train moco --stop-after 1
expect 2 "--sampler 'bfs'" train moco --sampler bfs
expect 2 "--store-views 'sum': expected mean or concat" train moco \
  --store-views sum
mkdir -p "$T/empty"
expect 1 'train-images-idx3-ubyte.gz' train moco --data-dir "$T/empty" -q

if [ ! -r "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "skipping the Fashion-MNIST runs: $DATA not installed"
  exit 0
fi
# tiny: 192 images, B 32, 6 steps an epoch, the rwr graph in epoch 2
small=(--n 192 --test-n 100 -B 32 --width 2 --mlp-dim 16 --dim 8 -M 100
       -K 8 --refresh 3 --epochs 2 --seed 5 -q)
cut_time() { cut -d, -f1-10,14- "$1"; } # the CSV without its timing columns

expect 1 'batch size 256: expected 2 <= B <= 192' train moco "${small[@]}" \
  -B 256

OMP_NUM_THREADS=1 "$BIN" train moco "${small[@]}" --log "$T/full.csv" \
  --checkpoint "$T/full.ckpt" >"$T/full.out"
grep -q '^kNN top-1 .*linear probe' "$T/full.out" \
  || fail "no result: $(cat "$T/full.out")"
[ "$(wc -l <"$T/full.csv")" -eq 3 ] || fail "log rows: $(cat "$T/full.csv")"
head -1 "$T/full.csv" | grep -q \
  '^epoch,steps,loss,lr,momentum,knn_top1,mean_sim,hard_sim,fn_rate,coverage,' \
  || fail "log header"
# the momentum rises from m0 = 0.99 towards 1
awk -F, 'NR == 2 { a = $5 } NR == 3 { b = $5 }
         END { exit !(a > 0.99 && b > a && b < 1) }' "$T/full.csv" \
  || fail "momentum column: $(cat "$T/full.csv")"

OMP_NUM_THREADS=2 "$BIN" train moco "${small[@]}" --log "$T/part.csv" \
  --checkpoint "$T/part.ckpt" --stop-after 1 >"$T/p1.out"
grep -q 'stopped after 1 epochs' "$T/p1.out" || fail "stop: $(cat "$T/p1.out")"
OMP_NUM_THREADS=2 "$BIN" train moco "${small[@]}" --log "$T/part.csv" \
  --checkpoint "$T/part.ckpt" --resume >"$T/part.out"
diff <(cut_time "$T/full.csv") <(cut_time "$T/part.csv") \
  || fail "resumed log (2 threads) differs from the full run (1 thread)"
diff <(grep -v '^time' "$T/full.out") <(grep -v '^time' "$T/part.out") \
  || fail "resumed result differs"
"$BIN" train moco "${small[@]}" --checkpoint "$T/part.ckpt" --resume \
  >"$T/again.out"
diff <(grep -v '^time' "$T/full.out") <(grep -v '^time' "$T/again.out") \
  || fail "finished run resumed differs"

# dcl and hcl on the q k^T logits: other losses than infonce's
for l in dcl hcl; do
  "$BIN" train moco "${small[@]}" --epochs 1 --no-probe --loss $l \
    --log "$T/$l.csv" >/dev/null
  a=$(sed -n 2p "$T/full.csv" | cut -d, -f3)
  b=$(sed -n 2p "$T/$l.csv" | cut -d, -f3)
  [ "$a" != "$b" ] || fail "$l gives infonce's loss $a"
done

# the appearances: 2 epochs of 6 x 32 draws over 192 images
grep -q '^appearances per instance: mean 2.00  cv 0\.[0-9]*  min [0-9]*  max' \
  "$T/full.out" || fail "appearances: $(cat "$T/full.out")"

# --store-views concat: both keys side by side, a 2D-wide store; the rwr
# graph of epoch 2 comes from it (other batches), and it resumes
cat=("${small[@]}" --no-probe --store-views concat)
"$BIN" train moco "${cat[@]}" --log "$T/cat.csv" >"$T/cat.out"
diff -q <(cut_time "$T/full.csv") <(cut_time "$T/cat.csv") >/dev/null \
  && fail "concat trains as mean"
"$BIN" train moco "${cat[@]}" --log "$T/catp.csv" --checkpoint "$T/cat.ckpt" \
  --stop-after 1 >/dev/null
"$BIN" train moco "${cat[@]}" --log "$T/catp.csv" --checkpoint "$T/cat.ckpt" \
  --resume >/dev/null
diff <(cut_time "$T/cat.csv") <(cut_time "$T/catp.csv") \
  || fail "resumed concat log differs"

# checkpoints that must be refused
expect 1 'setting store_views concat \(now mean\)' train moco "${small[@]}" \
  --no-probe --checkpoint "$T/cat.ckpt" --resume
expect 1 'other settings.*m0' train moco "${small[@]}" --momentum 0.9 \
  --checkpoint "$T/full.ckpt" --resume
head -c 1000 "$T/full.ckpt" >"$T/short.ckpt"
expect 1 'short.ckpt' train moco "${small[@]}" --checkpoint "$T/short.ckpt" \
  --resume
cp "$T/full.ckpt" "$T/bad.ckpt"
printf '\377' | dd of="$T/bad.ckpt" bs=1 seek=300 conv=notrunc 2>/dev/null
expect 1 'bad.ckpt' train moco "${small[@]}" --checkpoint "$T/bad.ckpt" \
  --resume
ls "$T" | grep -q 'tmp' && fail "temporary files left: $(ls "$T")"
echo "ok"
