#!/usr/bin/env bash
# Downloads the Python wheels that scripts/gpu-check.sh's TRL rows need and the
# GPU machine lacks, for its Python (CPython 3.12, x86-64 Linux), into DIR.
# That machine has PyTorch, transformers, accelerate, pyarrow and pandas but no
# TRL or `datasets`, and cannot reach PyPI itself; carry DIR (about 2 MB) and set
# OURO_GPU_WHEELS to it.
#
#   scripts/gpu-wheels.sh [DIR]        # default .gpu/whl (git-ignored)
#
# The pins: TRL 1.16.0, what scripts/bench-train.sh measures on the CPU.
# `datasets` 4.8.0 asks only pyarrow >= 21 of the machine (5.2 asks 24, and the
# machine's pyarrow version is not on record); its fsspec ceiling (2026.2.0) is
# carried too, since a newer fsspec there would be outside it. gpu-check.sh
# installs them into a folder of its own, on PYTHONPATH for the TRL rows only.
# A dry run on the CPU against the machine's versions (torch 2.11.0, transformers
# 5.17.0, accelerate 1.15.0): GPU_BENCH_TINY=1, see scripts/gpu_bench_torch.py.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.gpu/whl}"
mkdir -p "$dir"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$dir" \
  trl==1.16.0 datasets==4.8.0 dill==0.4.1 multiprocess==0.70.19 fsspec==2026.2.0
ls "$dir"/*.whl
du -sh "$dir"
