#!/usr/bin/env bash
# setup.sh — installs the Debian packages batchsampler needs (idempotent) and
# builds it into build/ (Release).  Safe to run again: it only installs what
# is missing and rebuilds what changed.
#   BS_BUILD_DIR  build directory (default: build)
#   BS_CMAKE_ARGS extra arguments for cmake's configure step
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config
  libopenblas-openmp-dev zlib1g-dev libcmocka-dev libsvm-dev liblinear-dev
  libdnnl-dev
  python3-dev python3-numpy python3-pytest python3-setuptools python3-torch
  python3-pip python3-venv python3-wheel
  python3-matplotlib
  dataset-fashion-mnist
  clang libclang-rt-14-dev libomp-dev valgrind
  libopenmpi-dev openmpi-bin
  procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR="${BS_BUILD_DIR:-build}"
# shellcheck disable=SC2086
log="$BUILD_DIR.log"
mkdir -p "$(dirname "$log")"
# quiet when it works; the whole log when it does not
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${BS_CMAKE_ARGS:-} &&
       cmake --build "$BUILD_DIR" -j "$(nproc)"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup: build failed (log above, also in $log)" >&2
  exit 1
fi
echo "setup: built $BUILD_DIR/batchsampler" >&2
