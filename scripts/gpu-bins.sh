#!/usr/bin/env bash
# Builds the CUDA parity test binaries (the `cuda` tests of ouro-model and
# ouro-train) with scripts/check-cuda-build.sh and copies them, stripped, to
# DIR, for scripts/gpu-check.sh on a GPU machine without Rust.
#
#   scripts/gpu-bins.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: scripts/gpu-bins.sh DIR}"
mkdir -p "$dir"
scripts/check-cuda-build.sh --test-bins >&2
list="${CARGO_TARGET_DIR:-/work/target-cuda}/cuda-test-bins.txt"
n=0
# Lines: package, test target, executable (tab-separated).
while IFS=$'\t' read -r pkg target exe; do
  [[ "$target" == cuda ]] || continue
  cp "$exe" "$dir/$pkg-cuda-test"
  strip "$dir/$pkg-cuda-test"
  echo "$dir/$pkg-cuda-test"
  n=$((n + 1))
done <"$list"
[[ "$n" -gt 0 ]] || { echo "no cuda test binaries in $list" >&2; exit 1; }
# A device transfer caps its size: carry this archive (about 13 MB) and set
# OURO_GPU_BINS to it; gpu-check.sh unpacks it.
tar -C "$dir" -cf - . | xz -T0 -6 >"$dir.tar.xz"
echo "$dir.tar.xz"
