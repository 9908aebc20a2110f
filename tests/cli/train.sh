#!/usr/bin/env bash
# `batchsampler train simclr` and `batchsampler demo`: option and data
# errors, and on a small slice of Fashion-MNIST: an interrupted run resumed
# from its checkpoint ends exactly like an uninterrupted one; a checkpoint
# made with other settings, a corrupt one, a truncated one and one of the
# format before the core batcher are refused; a graph sampler whose
# epochs never cover every image warns that it never had a graph; the same
# seed gives the same log whatever the thread count; carry epochs with an
# asynchronous rebuild and the reference alpha schedule resume exactly too.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"
DATA=/usr/share/datasets/fashion-mnist


expect 2 'expected a trainer' train
expect 2 "unknown trainer 'byol'" train byol
expect 2 "--sampler 'bfs'" train simclr --sampler bfs
expect 2 "--loss 'nce'" train simclr --loss nce
expect 2 '--alpha' train simclr --alpha 1
expect 2 '--tau' train simclr --tau 0
expect 2 '--tau-plus' train simclr --tau-plus 1
expect 2 '-K 50 is larger than -M 20' train simclr -M 20 -K 50
expect 2 '--resume needs --checkpoint' train simclr --resume
expect 2 '--graph-mode' train simclr --graph-mode exact
expect 2 "--epoch-mode 'all'" train simclr --epoch-mode all
expect 2 "--alpha-schedule 'linear'" train simclr --alpha-schedule linear
expect 2 '--refresh-lag' train simclr --refresh-lag -1
expect 2 '--epochs' train simclr --epochs 0
expect 2 'bogus' train simclr --bogus
expect 2 '--n' demo --n 10
mkdir -p "$T/empty"
expect 1 'train-images-idx3-ubyte.gz.*install it with scripts/setup.sh' \
  train simclr --data-dir "$T/empty" -q
# the new batcher options parse (and 'decay' is still the step schedule)
for o in "--epoch-mode carry" "--epoch-mode exact" "--alpha-schedule decay" \
         "--alpha-schedule step" "--alpha-schedule reference" \
         "--refresh-lag 3"; do
  # shellcheck disable=SC2086
  expect 1 'train-images-idx3-ubyte.gz' train simclr $o --data-dir "$T/empty" -q
done
expect 1 'train-images-idx3-ubyte.gz.*install it' demo --data-dir "$T/empty" -q

if [ ! -r "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "skipping the Fashion-MNIST runs: $DATA not installed"
  exit 0
fi
# a small, fast configuration: 768 images, B 64, 12 steps an epoch
small=(--n 768 --test-n 300 -B 64 --width 4 -M 200 -K 10 --refresh 5
       --epochs 3 --seed 7 -q)
cut_time() { cut -d, -f1-9,13- "$1"; } # the CSV without its timing columns

expect 1 'batch size 1024: expected 2 <= B <= 768' train simclr \
  "${small[@]}" -B 1024

# uninterrupted, with a checkpoint every epoch
"$BIN" train simclr "${small[@]}" --log "$T/full.csv" \
  --checkpoint "$T/full.ckpt" >"$T/full.out" 2>"$T/full.err"
! grep -q warning "$T/full.err" || fail "warning: $(cat "$T/full.err")"
# epochs of 2 x 64 images never put all 768 in the store, so the graph
# sampler never gets a graph: all its batches are uniform, and it says so
"$BIN" train simclr "${small[@]}" --steps-per-epoch 2 >/dev/null 2>"$T/nog.err"
grep -q '^batchsampler: warning: the graph sampler never had a graph, so every batch was uniform.* covered [0-9]* of 768' \
  "$T/nog.err" || fail "no warning without a graph: $(cat "$T/nog.err")"
grep -q '^kNN top-1 ' "$T/full.out" || fail "no result: $(cat "$T/full.out")"
[ "$(wc -l <"$T/full.csv")" -eq 4 ] || fail "log rows: $(cat "$T/full.csv")"
head -1 "$T/full.csv" | grep -q \
  '^epoch,steps,loss,lr,knn_top1,mean_sim,hard_sim,fn_rate,coverage,' \
  || fail "log header"
# uniform epochs of ceil(N/B) batches cover every image (the warm-up epoch)
sed -n 2p "$T/full.csv" | cut -d, -f9 | grep -qx '1.0000' \
  || fail "warm-up coverage: $(sed -n 2p "$T/full.csv")"
# ... each once (appearances' cv 0, none unseen); 3 epochs: 3 a mean
sed -n 2p "$T/full.csv" | cut -d, -f13,14 | grep -qx '0.0000,0.0000' \
  || fail "warm-up appearances: $(sed -n 2p "$T/full.csv")"
grep -q '^appearances per instance: mean 3.00  cv 0\.[0-9]*  min [0-9]*  max' \
  "$T/full.out" || fail "appearances: $(cat "$T/full.out")"

# interrupted after 1 epoch, resumed twice (1 more epoch, then the rest)
"$BIN" train simclr "${small[@]}" --log "$T/part.csv" \
  --checkpoint "$T/part.ckpt" --stop-after 1 >"$T/p1.out"
grep -q 'stopped after 1 epochs' "$T/p1.out" || fail "stop: $(cat "$T/p1.out")"
"$BIN" train simclr "${small[@]}" --log "$T/part.csv" \
  --checkpoint "$T/part.ckpt" --resume --stop-after 1 >/dev/null
"$BIN" train simclr "${small[@]}" --log "$T/part.csv" \
  --checkpoint "$T/part.ckpt" --resume >"$T/part.out"
diff <(cut_time "$T/full.csv") <(cut_time "$T/part.csv") \
  || fail "resumed log differs"
diff <(grep -v '^time' "$T/full.out") <(grep -v '^time' "$T/part.out") \
  || fail "resumed result differs"

# resuming a finished run re-evaluates and prints the same result
"$BIN" train simclr "${small[@]}" --checkpoint "$T/part.ckpt" --resume \
  >"$T/again.out"
diff <(grep -v '^time' "$T/full.out") <(grep -v '^time' "$T/again.out") \
  || fail "finished run resumed differs"

# carry epochs, a rebuild in the background installed 2 batches later and
# the reference schedule: cut after 1 epoch, resumed, the same log
more=(--epoch-mode carry --refresh-lag 2 --alpha-schedule reference
      --epochs 2 --no-probe)
"$BIN" train simclr "${small[@]}" "${more[@]}" --log "$T/lag.csv" >/dev/null
"$BIN" train simclr "${small[@]}" "${more[@]}" --log "$T/lagp.csv" \
  --checkpoint "$T/lag.ckpt" --stop-after 1 >/dev/null
"$BIN" train simclr "${small[@]}" "${more[@]}" --log "$T/lagp.csv" \
  --checkpoint "$T/lag.ckpt" --resume >/dev/null
diff <(cut_time "$T/lag.csv") <(cut_time "$T/lagp.csv") \
  || fail "resumed carry/lag log differs"
expect 1 'setting epoch_mode carry \(now exact\)' train simclr "${small[@]}" "${more[@]}" \
  --epoch-mode exact --checkpoint "$T/lag.ckpt" --resume

# one thread gives the same log as two
OMP_NUM_THREADS=1 "$BIN" train simclr "${small[@]}" --epochs 2 \
  --log "$T/t1.csv" --no-probe >/dev/null
OMP_NUM_THREADS=2 "$BIN" train simclr "${small[@]}" --epochs 2 \
  --log "$T/t2.csv" --no-probe >/dev/null
diff <(cut_time "$T/t1.csv") <(cut_time "$T/t2.csv") || fail "threads"

# --store-views: a bad value; concat (the two views side by side, a 2D-wide
# store) trains the same warm-up epoch and then other graphs, resumes to
# the same log, and its checkpoint is refused without it
expect 2 "--store-views 'sum': expected mean or concat" train simclr \
  --store-views sum
cat=("${small[@]}" --epochs 2 --no-probe --store-views concat)
OMP_NUM_THREADS=1 "$BIN" train simclr "${cat[@]}" --log "$T/cat.csv" \
  >"$T/cat.out"
grep -q '^kNN top-1 ' "$T/cat.out" || fail "concat: $(cat "$T/cat.out")"
diff <(sed -n 2p "$T/t1.csv" | cut -d, -f1-9) \
  <(sed -n 2p "$T/cat.csv" | cut -d, -f1-9) || fail "concat warm-up differs"
diff -q <(cut_time "$T/t1.csv") <(cut_time "$T/cat.csv") >/dev/null \
  && fail "concat trains as mean"
"$BIN" train simclr "${cat[@]}" --log "$T/catp.csv" \
  --checkpoint "$T/cat.ckpt" --stop-after 1 >/dev/null
"$BIN" train simclr "${cat[@]}" --log "$T/catp.csv" \
  --checkpoint "$T/cat.ckpt" --resume >/dev/null
diff <(cut_time "$T/cat.csv") <(cut_time "$T/catp.csv") \
  || fail "resumed concat log differs"
expect 1 'setting store_views concat \(now mean\)' train simclr \
  "${small[@]}" --epochs 2 --no-probe --checkpoint "$T/cat.ckpt" --resume

# checkpoints that must be refused, leaving them untouched
expect 1 'other settings' train simclr "${small[@]}" --seed 8 \
  --checkpoint "$T/full.ckpt" --resume
cp "$T/full.ckpt" "$T/bad.ckpt"
printf '\377' | dd of="$T/bad.ckpt" bs=1 seek=200 conv=notrunc 2>/dev/null
expect 1 'bad.ckpt' train simclr "${small[@]}" --checkpoint "$T/bad.ckpt" \
  --resume
head -c 1000 "$T/full.ckpt" >"$T/short.ckpt"
expect 1 'short.ckpt' train simclr "${small[@]}" \
  --checkpoint "$T/short.ckpt" --resume
printf 'not a checkpoint' >"$T/text.ckpt"
expect 1 'text.ckpt' train simclr "${small[@]}" --checkpoint "$T/text.ckpt" \
  --resume
# a checkpoint of the format before the core batcher ("simclr v1"): its
# config section relabelled, the CRCs fixed up
if command -v python3 >/dev/null; then
  python3 - "$T/full.ckpt" "$T/v1.ckpt" <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
count = struct.unpack_from("<I", b, 12)[0]
at = 16
for _ in range(count):
    nl = struct.unpack_from("<I", b, at)[0]
    name = bytes(b[at + 4:at + 4 + nl])
    plen = struct.unpack_from("<Q", b, at + 4 + nl)[0]
    p = at + 4 + nl + 12
    if name == b"config":
        assert b[p:p + 10] == b"simclr v2\n"
        b[p:p + 10] = b"simclr v1\n"
        struct.pack_into("<I", b, p - 4, zlib.crc32(b[p:p + plen]))
    at = p + plen
struct.pack_into("<I", b, at, zlib.crc32(b[:at]))
open(sys.argv[2], "wb").write(b)
PY
  expect 1 "v1.ckpt: checkpoint format 'simclr v1'.*remove it" \
    train simclr "${small[@]}" --checkpoint "$T/v1.ckpt" --resume
fi
# an unwritable checkpoint path fails cleanly, naming it
expect 1 "$T/nodir/x.ckpt" train simclr "${small[@]}" --epochs 1 \
  --checkpoint "$T/nodir/x.ckpt"
ls "$T" | grep -q 'tmp' && fail "temporary files left: $(ls "$T")"

# the demo on a small slice: both rows, same table for 1 and 2 threads
OMP_NUM_THREADS=1 "$BIN" demo --n 512 --epochs 2 -q >"$T/demo1"
OMP_NUM_THREADS=2 "$BIN" demo --n 512 --epochs 2 -q >"$T/demo2"
grep -q '^uniform  *[0-9.]*%' "$T/demo1" || fail "demo: $(cat "$T/demo1")"
grep -q '^BatchSampler (rwr)  *[0-9.]*%' "$T/demo1" || fail "demo rwr row"
grep -q 'exact$' "$T/demo1" || fail "demo: the rwr setting is not named"
diff <(grep -v ' s building' "$T/demo1") <(grep -v ' s building' "$T/demo2") \
  || fail "demo differs between 1 and 2 threads" # (that line has times)
echo "ok"
