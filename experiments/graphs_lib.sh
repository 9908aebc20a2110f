# experiments/graphs_lib.sh — sourced by experiments/graphs_run.sh and
# experiments/graphs_probe.sh (from the repository root): their settings
# and one run of the CLI with its outputs named after the run.
#
# graphs_setup OUT
#   Sets BIN (BS_BIN, default build/batchsampler), TU (BS_TU, default
#   ../shared/data/tu) and OUT, exits 1 with a one-line error when BIN is
#   not an executable, and creates OUT.
graphs_setup() {
  BIN="${BS_BIN:-build/batchsampler}"
  TU="${BS_TU:-../shared/data/tu}"
  OUT=$1
  [ -x "$BIN" ] || { echo "$(basename "$0"): $BIN not found: run scripts/setup.sh" >&2; exit 1; }
  mkdir -p "$OUT"
}
#
# graphs_run_one OUT NAME NICE CPU CMD...
#   Skips NAME when OUT/NAME.csv exists.  Else runs CMD ... --log
#   OUT/NAME.partial.csv > OUT/NAME.txt with OMP_NUM_THREADS=${BS_THREADS:-1}
#   under nice -n NICE (with CPU=1 also /usr/bin/time writing the user CPU
#   seconds to OUT/NAME.cpu), and renames the CSV to OUT/NAME.csv when the
#   command succeeds (a run in progress or failed leaves only the
#   .partial.csv).  Progress and failures on stderr; returns 0 either way.
graphs_run_one() {
  local out=$1 name=$2 niceness=$3 cpu=$4 me
  shift 4
  me=$(basename "$0")
  [ -e "$out/$name.csv" ] && return 0
  echo "$me: $name" >&2
  local timer=()
  [ "$cpu" = 1 ] && timer=(/usr/bin/time -f "cpu_s %U" -o "$out/$name.cpu")
  if "${timer[@]}" env OMP_NUM_THREADS="${BS_THREADS:-1}" nice -n "$niceness" \
      "$@" --log "$out/$name.partial.csv" > "$out/$name.txt"; then
    mv "$out/$name.partial.csv" "$out/$name.csv"
  else
    echo "$me: $name failed" >&2
  fi
  return 0
}
