#!/usr/bin/env bash
# --help of the tool and of every subcommand exits 0 and prints a usage
# line; --version prints the version.
set -euo pipefail
BIN=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" --help | grep -q '^usage: batchsampler' || fail "top-level --help"
"$BIN" help | grep -q '^usage: batchsampler' || fail "batchsampler help"
"$BIN" --version | grep -Eq '^batchsampler [0-9]+\.[0-9]+\.[0-9]+' \
  || fail "--version"
for cmd in graph sample stats demo compare synth train; do
  out=$("$BIN" "$cmd" --help) || fail "$cmd --help exited non-zero"
  grep -q "^usage: batchsampler $cmd" <<<"$out" || fail "$cmd --help text"
  out=$("$BIN" help "$cmd") || fail "help $cmd exited non-zero"
  grep -q "^usage: batchsampler $cmd" <<<"$out" || fail "help $cmd text"
  # -h works too, and --help wins over missing required options
  "$BIN" "$cmd" -h >/dev/null || fail "$cmd -h"
done
echo "ok"
