#!/usr/bin/env bash
# Builds the CUDA parity test binaries (the `cuda` tests of ouro-model and
# ouro-train), `ouro` and the `gpu_step` example with --features cuda (by way of
# scripts/check-cuda-build.sh) and copies them, stripped, to DIR, for
# scripts/gpu-check.sh on a GPU machine without Rust.
#
#   scripts/gpu-bins.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: scripts/gpu-bins.sh DIR}"
mkdir -p "$dir"
scripts/check-cuda-build.sh --test-bins >&2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-cuda}"
list="$CARGO_TARGET_DIR/cuda-test-bins.txt"
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
# The toolkit's environment (nvcc on PATH, CUDA_ROOT, ...), which cudarc's and
# candle-kernels' build scripts read.
# shellcheck disable=SC1091
source "$CARGO_TARGET_DIR/cuda-env.sh"
cargo build --release -q -p ouro-train --features cuda --example gpu_step
cp "$CARGO_TARGET_DIR/release/examples/gpu_step" "$dir/gpu_step" && strip "$dir/gpu_step"
# The CLI itself (check-cuda-build.sh built it), for gpu-check.sh's run of ouro's
# commands on the GPU through the binary.
cp "$CARGO_TARGET_DIR/release/ouro" "$dir/ouro" && strip "$dir/ouro"
# Which code the binaries are: gpu-check.sh puts it in its table.
{
  git rev-parse --short=12 HEAD
  [[ -z "$(git status --porcelain --untracked-files=no)" ]] || echo "+ uncommitted changes"
} | paste -sd ' ' >"$dir/BUILT_FROM"
# A device transfer caps its size: carry this archive (46 MB at 565f8a0 with `ouro`, 21 MB without) and set
# OURO_GPU_BINS to it; gpu-check.sh unpacks it.
tar -C "$dir" -cf - . | xz -T0 -6 >"$dir.tar.xz"
echo "$dir.tar.xz"
