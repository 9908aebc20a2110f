#!/usr/bin/env bash
# Outputs never destroy anything: a path that is also an input, two equal
# outputs, an empty path, a device, FIFO or directory at the output path are
# refused before any work; a symbolic link is written through; inputs that
# are FIFOs fail at once; a signal or `ulimit -f` leaves no temporary file;
# the trainer checks its --log / --checkpoint before training and resumes
# only from a readable checkpoint or none (ENOENT); integer options share
# one syntax.
set -euo pipefail
BIN=$1
source "$(dirname "$0")/common.inc"

EXPECT_TIMEOUT=60 # expect: a FIFO or device must not hang a test
no_temps() {
  if compgen -G "$T/*.tmp*" >/dev/null; then fail "temporary file left: $*"; fi
}
same() { cmp -s "$1" "$2" || fail "$1 changed"; }

"$BIN" synth --n 60 --dim 4 --clusters 3 --seed 1 -o "$T/X.npy" --labels "$T/y.npy"
"$BIN" graph --emb "$T/X.npy" -M 20 -K 5 --seed 1 -q -o "$T/G.bsg"
cp "$T/X.npy" "$T/X0.npy"; cp "$T/G.bsg" "$T/G0.bsg"

# an output equal to an input, by name, by another name, by a link
expect 2 '-o .*X.npy is the same file as the input --emb' \
  graph --emb "$T/X.npy" -M 20 -K 5 -q -o "$T/X.npy"
expect 2 'same file as the input --emb' \
  graph --emb "$T/X.npy" -M 20 -K 5 -q -o "$T/../$(basename "$T")/X.npy"
ln -s X.npy "$T/Xlink.npy"
expect 2 'same file as the input --emb' \
  graph --emb "$T/X.npy" -M 20 -K 5 -q -o "$T/Xlink.npy"
expect 2 '-o .*G.bsg is the same file as the input --graph' \
  sample --graph "$T/G.bsg" -B 8 -q -o "$T/G.bsg"
expect 2 '--labels .*X.npy is the same file as the output -o' \
  synth --n 10 --dim 2 -o "$T/X.npy" --labels "$T/X.npy"
same "$T/X.npy" "$T/X0.npy"; same "$T/G.bsg" "$T/G0.bsg"

# empty paths name their option
expect 2 "-o: empty path" graph --emb "$T/X.npy" -q -o ""
expect 2 "--emb: empty path" graph --emb "" -q -o "$T/o"
expect 2 "--batches: empty path" stats --emb "$T/X.npy" --batches ""

# never replace a device, FIFO or directory; write through a link
expect 1 '/dev/null: exists and is a character device' \
  synth --n 10 --dim 2 -o /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a device"
mkfifo "$T/fifo"
expect 1 'exists and is a FIFO' synth --n 10 --dim 2 -o "$T/fifo"
mkdir "$T/dir"
expect 1 'exists and is a directory' synth --n 10 --dim 2 -o "$T/dir"
expect 1 'cannot use directory' synth --n 10 --dim 2 -o "$T/no/such/o.npy"
[ -p "$T/fifo" ] && [ -d "$T/dir" ] || fail "special files replaced"
cp "$T/X.npy" "$T/target.npy"; ln -s target.npy "$T/link.npy"
"$BIN" synth --n 10 --dim 2 -o "$T/link.npy"
[ -L "$T/link.npy" ] || fail "the link was replaced by a file"
cmp -s "$T/target.npy" "$T/X.npy" && fail "the link's target was not written"
ln -s nowhere "$T/dangling"
expect 1 'symbolic link to a missing' synth --n 10 --dim 2 -o "$T/dangling"
no_temps special

# synth checks --labels before writing -o
expect 1 'cannot use directory' \
  synth --n 10 --dim 2 -o "$T/new.npy" --labels "$T/no/y.npy"
[ ! -e "$T/new.npy" ] || fail "synth wrote -o before failing on --labels"

# a FIFO as input fails at once instead of waiting for a writer
expect 1 'fifo: not a regular file \(it is a FIFO\)' \
  graph --emb "$T/fifo" -M 20 -K 5 -q -o "$T/o"
expect 1 'it is a FIFO' sample --graph "$T/fifo" -B 8 -q -o "$T/o"
expect 1 'it is a FIFO' stats --emb "$T/X.npy" --batches "$T/fifo"

# ulimit -f: SIGXFSZ no longer kills the writer halfway; no temporary
rc=0
(ulimit -f 8; "$BIN" synth --n 20000 --dim 8 -o "$T/big.npy") 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "ulimit -f: exit $rc, want 1 ($(cat "$T/err"))"
grep -q 'File too large' "$T/err" || fail "ulimit -f: $(cat "$T/err")"
[ ! -e "$T/big.npy" ] || fail "ulimit -f: output left"
no_temps "ulimit -f"

# a signal during a write: the output is completed, then the process dies
# of the signal (143 = 128 + SIGTERM), with no temporary file
rc=0
(BS_CLI_TEST_SIGNAL_IN_WINDOW=TERM exec "$BIN" synth --n 50 --dim 4 \
  -o "$T/sig.npy" --labels "$T/sigy.npy") 2>/dev/null || rc=$?
[ "$rc" -eq 143 ] || fail "signal in the write window: exit $rc, want 143"
[ -s "$T/sig.npy" ] && [ -s "$T/sigy.npy" ] || fail "signal: outputs missing"
no_temps signal

# stats: a 0-row batches file is named
dict="{'descr': '<i8', 'fortran_order': False, 'shape': (0, 4), }"
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf '%s%*s\n' "$dict" $((117 - ${#dict})) ''; } >"$T/e0.npy"
expect 1 'e0.npy: no batches \(0 rows\)' \
  stats --emb "$T/X.npy" --batches "$T/e0.npy"

# train: the outputs are checked before training (no data is needed)
mkdir -p "$T/empty"
tr=(train simclr --data-dir "$T/empty" -q)
expect 2 '--checkpoint .*F is the same file as the output --log' \
  "${tr[@]}" --log "$T/F" --checkpoint "$T/F"
expect 1 'cannot use directory' "${tr[@]}" --log "$T/no/such/run.csv"
expect 1 'exists and is a directory' "${tr[@]}" --checkpoint "$T/dir"
expect 1 'character device' "${tr[@]}" --log /dev/null
expect 2 '--log: empty path' "${tr[@]}" --log ""
# resume: only a missing checkpoint means a fresh start
ln -s loop "$T/loop"
expect 1 'loop: .*Too many levels of symbolic links' \
  "${tr[@]}" --checkpoint "$T/loop" --resume
[ -L "$T/loop" ] || fail "the checkpoint link was replaced"
expect 1 'X.npy/ck: .*Not a directory' \
  "${tr[@]}" --checkpoint "$T/X.npy/ck" --resume
expect 1 'train-images' "${tr[@]}" --checkpoint "$T/new.ckpt" --resume
no_temps train

# integer options share one syntax: digits, '-' only where negatives are
# allowed, never '+' (-M +50 was accepted while --seed +1 was refused)
g=(graph --emb "$T/X.npy" -K 5 -q -o "$T/G2.bsg")
expect 2 "-M: '\+50' is not an integer" "${g[@]}" -M +50
expect 2 "--seed: '\+1' is not a non-negative integer" "${g[@]}" -M 20 --seed +1
expect 2 "-B: ' 8' is not an integer" sample -n 50 -B ' 8' -o "$T/b.npy"
"$BIN" "${g[@]}" -M 20 --seed 1 || fail "plain integers refused"
# compare names the options when its default -M does not fit --n
expect 2 '-M 1000 must be below --n 300' compare --n 300
echo "outputs: ok"
