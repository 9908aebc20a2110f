#!/usr/bin/env bash
# valgrind.sh BUILD_DIR — runs every C unit test under valgrind memcheck;
# fails on any memory error or definite leak.  OMP_NUM_THREADS=2 keeps the
# OpenMP paths exercised while bounding the run time.
set -euo pipefail
build="${1:-build}"
fail=0
for t in "$build"/tests/test_* "$build"/train/train_test_* \
         "$build"/vision/vision_test_* "$build"/graphs/graphs_test_* "$build"/language/language_test_*; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  case "$t" in *.log) continue;; esac
  if OMP_NUM_THREADS=2 BS_UNDER_VALGRIND=1 BS_TEST_TMPDIR="$build/tests" valgrind -q --error-exitcode=99 \
       --leak-check=full --errors-for-leak-kinds=definite \
       --show-leak-kinds=definite "$t" >"$t.valgrind.log" 2>&1; then
    echo "valgrind: $(basename "$t") clean"
  else
    echo "valgrind: $(basename "$t") FAILED"; tail -40 "$t.valgrind.log"; fail=1
  fi
done
exit $fail
