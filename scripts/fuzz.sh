#!/usr/bin/env bash
# fuzz.sh [SECONDS] — builds the libFuzzer targets (clang, ASan + UBSan) in
# build-fuzz and runs each for SECONDS (default 30) on a scratch copy of its
# seed corpus (fuzz/corpus/<name>/), so the checked-in seeds stay small.
# Targets run FUZZ_JOBS at a time (default: the cores).
# Exits non-zero if any target crashes, leaks or fails; crash inputs are
# kept in build-fuzz/artifacts/<target>/.
set -euo pipefail
secs="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
jobs="${FUZZ_BUILD_JOBS:-2}"

CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBS_BUILD_FUZZ=ON -DBS_BUILD_TESTS=OFF -DBS_BUILD_BENCH=OFF \
  -DBS_BUILD_PYTHON=OFF -DBS_BUILD_TRAIN=OFF >/dev/null
cmake --build "$build" --target fuzz -j"$jobs"

one() { # one target on a scratch copy of its seeds; its log's end if it fails
  local src=$1 name seeds work art out
  name="$(basename "$src" .c)"          # fuzz_npy
  seeds="$root/fuzz/corpus/${name#fuzz_}"
  work="$build/corpus/$name"
  art="$build/artifacts/$name"
  rm -rf "$work"; mkdir -p "$work" "$art"
  [ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null || true
  rm -f "$work"/*.py
  if ! OMP_NUM_THREADS=1 "$build/fuzz/$name" -max_total_time="$secs" \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" >"$build/$name.log" 2>&1; then
    out="!! $name failed: see $build/$name.log and $art/"$'\n'"$(tail -40 "$build/$name.log")"
    printf '%s\n' "$out" # one write, so parallel runs do not interleave it
    return 1
  fi
  out="== $name: ${secs}s"$'\n'"$(grep -E "stat::number_of_executed_units|cov:" "$build/$name.log" | tail -2)"
  printf '%s\n' "$out"
}
export -f one
export root build secs

# FUZZ_JOBS targets side by side (default: the number of cores)
printf '%s\n' "$root"/fuzz/fuzz_*.c | xargs -P "${FUZZ_JOBS:-$(nproc)}" -I{} bash -c 'one "$1"' _ {}
