#!/usr/bin/env bash
# valgrind.sh BUILD_DIR — runs every C unit test under valgrind memcheck;
# fails on any memory error or definite leak.  OMP_NUM_THREADS=2 keeps the
# OpenMP paths exercised while bounding the run time.  Valgrind runs a
# program's threads one at a time, so BS_VALGRIND_JOBS tests (default: the
# number of cores) run side by side.
set -euo pipefail
build="${1:-build}"
jobs="${BS_VALGRIND_JOBS:-$(nproc)}"

one() { # one test: a line "clean", or "FAILED" and the end of its log
  local t=$1 out
  if OMP_NUM_THREADS=2 BS_UNDER_VALGRIND=1 BS_TEST_TMPDIR="$build/tests" valgrind -q --error-exitcode=99 \
       --leak-check=full --errors-for-leak-kinds=definite \
       --show-leak-kinds=definite "$t" >"$t.valgrind.log" 2>&1; then
    echo "valgrind: $(basename "$t") clean"
  else
    out="valgrind: $(basename "$t") FAILED"$'\n'"$(tail -40 "$t.valgrind.log")"
    printf '%s\n' "$out" # one write, so parallel runs do not interleave it
    return 1
  fi
}
export -f one
export build

# the slowest under valgrind first (the vision encoder's, then the
# trainers' engines), so that the two queues end together
for t in "$build"/vision/vision_test_* "$build"/train/train_test_* \
         "$build"/tests/test_* "$build"/graphs/graphs_test_* "$build"/language/language_test_*; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  case "$t" in *.log) continue;; esac
  printf '%s\n' "$t"
done | xargs -P "$jobs" -I{} bash -c 'one "$1"' _ {}
