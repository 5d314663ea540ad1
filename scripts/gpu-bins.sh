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
while read -r exe; do
  name="$(basename "$exe")"
  [[ "$name" == cuda-* ]] || continue
  # Which crate: the test binary embeds its package's source path.
  pkg="$(grep -aom1 -E 'crates/ouro-(model|train)/tests/cuda.rs' "$exe" | sed 's#crates/\(ouro-[a-z]*\)/.*#\1#')"
  cp "$exe" "$dir/${pkg:-$name}-cuda-test"
  strip "$dir/${pkg:-$name}-cuda-test"
  echo "$dir/${pkg:-$name}-cuda-test"
  n=$((n + 1))
done <"$list"
[[ "$n" -gt 0 ]] || { echo "no cuda-* test binaries in $list" >&2; exit 1; }
