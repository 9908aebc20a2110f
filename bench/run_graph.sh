#!/bin/bash
# Graph-build benchmarks against their targets (docs/graph.md):
#   shared      >= 60% of sgemm throughput on the same shapes
#   independent >= 10x faster than the PyTorch reference (N = 50k)
#   exact       faster than FAISS IndexFlatIP search of K+1 (N = 50k)
#   peak memory of the N = 1M shared build <= embeddings + graph + 64 MB
#
#   bench/run_graph.sh [build-dir] [N] [BIG_N]
# defaults: build, 50000, 1000000 (BIG_N = 0 skips the 1M run).
# Python references run with /usr/bin/python3 (Debian torch and faiss).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
n=${2:-50000}
big=${3:-1000000}
threads=${THREADS:-2}
bench=$build/bench/bench_graph
[ -x "$bench" ] || { echo "no $bench: build the bench_graph target first" >&2; exit 1; }
py=/usr/bin/python3

# (outputs are captured, then echoed: `tee /dev/stderr` would truncate a
# log file that stderr is redirected to)
out=$("$bench" --n "$n" --threads "$threads" --indeg)
echo "$out"
if [ "$big" != 0 ]; then
  "$bench" --n "$big" --threads "$threads" --modes shared | tail -1
fi
secs() { echo "$out" | awk -v m="$1" '$1 == m { print $3 }'; }
t_out=$($py "$root/bench/ref_torch_graph.py" --n "$n" --threads "$threads")
echo "$t_out"
f_out=$($py "$root/bench/ref_faiss_exact.py" --n "$n" --threads "$threads")
echo "$f_out"
torch=$(echo "$t_out" | awk '{print $3}')
faiss=$(echo "$f_out" | awk '{print $3}')
echo
awk -v i="$(secs independent)" -v t="$torch" -v e="$(secs exact)" -v f="$faiss" 'BEGIN {
  printf "independent: %.3f s vs torch %.3f s: %.1fx faster (target >= 10x)\n", i, t, t / i
  printf "exact:       %.3f s vs faiss %.3f s: %.2fx faster (target > 1x)\n", e, f, f / e
}'
echo "shared: see the ratio column above (target >= 60%); peak MB vs budget MB for memory"
