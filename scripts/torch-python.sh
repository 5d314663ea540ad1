#!/usr/bin/env bash
# Prints a Python with torch and transformers for the reference side of the benchmarks:
# $OURO_TORCH_PYTHON when set, else scripts/.cache/torch-venv (built on first use).
set -euo pipefail
if [ -n "${OURO_TORCH_PYTHON:-}" ]; then
  echo "$OURO_TORCH_PYTHON"
  exit 0
fi
venv="$(cd "$(dirname "$0")" && pwd)/.cache/torch-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q torch transformers safetensors >&2
fi
echo "$venv/bin/python"
