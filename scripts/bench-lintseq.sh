#!/usr/bin/env bash
# LintSeq throughput: the official pylintseq (one pylint run per lint step,
# joblib workers) against ouro's in-process implementation, on the same 164
# HumanEval programs (prompt + canonical_solution) x 5 sequences, in one run.
#
# Needs: python3 with venv, network access to PyPI (first run only), and the
# HumanEval data: $OURO_HUMANEVAL, scripts/.cache/HumanEval.jsonl.gz
# or scripts/.cache/HumanEval.jsonl (scripts/fetch-humaneval.sh puts it there).
#
# Usage: scripts/bench-lintseq.sh [WORKERS]   (default 2, as the reference was measured)
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS="${1:-2}"
CACHE=scripts/.cache
HE="${OURO_HUMANEVAL:-$CACHE/HumanEval.jsonl}"
if [ ! -f "$HE" ] && [ -f "$CACHE/HumanEval.jsonl.gz" ]; then HE="$CACHE/HumanEval.jsonl.gz"; fi
if [ ! -f "$HE" ] && [ -x scripts/fetch-humaneval.sh ]; then
    scripts/fetch-humaneval.sh
fi
[ -f "$HE" ] || { echo "HumanEval not found at $HE (set OURO_HUMANEVAL or run scripts/fetch-humaneval.sh)" >&2; exit 1; }

VENV="$CACHE/pylintseq-venv"
if [ ! -x "$VENV/bin/pylintseq" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "pylintseq==0.0.2"
fi

# pylintseq's CLI rejects paths with a '.' before the extension: use a dot-free dir.
WORK="/tmp/ouro_bench_lintseq_$$"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
python3 - "$HE" "$WORK/humaneval.jsonl" <<'PY'
import gzip, json, sys
src, dst = sys.argv[1], sys.argv[2]
opener = gzip.open if src.endswith(".gz") else open
with opener(src, "rt") as f, open(dst, "w") as out:
    for line in f:
        if line.strip():
            r = json.loads(line)
            out.write(json.dumps({"task_id": r["task_id"], "prompt": r["prompt"],
                                  "canonical_solution": r["canonical_solution"],
                                  "response": r["prompt"] + r["canonical_solution"]}) + "\n")
PY
N=$(wc -l < "$WORK/humaneval.jsonl")

cargo build --release --quiet --workspace --example lintseq_jsonl
OURO_BIN=target/release/examples/lintseq_jsonl

echo "programs: $N, sequences per program: 5, workers: $WORKERS"

t0=$(date +%s.%N)
"$VENV/bin/pylintseq" -p "$WORK/humaneval.jsonl" -d "$WORK/ref" -c "$WORKERS" -s 5 --seed 1 \
    --code_data_field response --prompt_data_field None > "$WORK/ref.log" 2>&1
t1=$(date +%s.%N)
REF_SEQS=$(cat "$WORK"/ref/*.jsonl | wc -l)

t2=$(date +%s.%N)
"$OURO_BIN" "$WORK/humaneval.jsonl" "$WORK/ouro" 5 1 prompt,canonical_solution "$WORKERS" > "$WORK/ouro.json"
t3=$(date +%s.%N)

python3 - "$t0" "$t1" "$t2" "$t3" "$REF_SEQS" "$WORK/ouro.json" "$WORK/ref" <<'PY'
import json, sys, glob
t0, t1, t2, t3 = map(float, sys.argv[1:5])
ref_seqs = int(sys.argv[5])
ouro = json.load(open(sys.argv[6]))
ref_rows = [json.loads(l) for f in glob.glob(sys.argv[7] + "/*.jsonl") for l in open(f)]
ref_edits = [len(r["edit_path"]) for r in ref_rows]
ref_lines = [len(d.split("\n")) for r in ref_rows for d in r["edit_path"]]
ref_s, ouro_s = t1 - t0, t3 - t2
# ouro dedups identical sequences; count what was sampled (kept + duplicates).
ouro_sampled = ouro["sequences"] + ouro["duplicates"]
ref_rate, ouro_rate = ref_seqs / ref_s, ouro_sampled / ouro_s
print(f"pylintseq: {ref_seqs} sequences in {ref_s:.2f} s = {ref_rate:.2f} sequences/s; "
      f"{sum(ref_edits)/len(ref_edits):.2f} edits/sequence, {sum(ref_lines)/len(ref_lines):.2f} diff lines/edit")
print(f"ouro:      {ouro_sampled} sequences ({ouro['sequences']} after dedup) in {ouro_s:.3f} s wall "
      f"(process incl. I/O) = {ouro_rate:.1f} sequences/s; {ouro['mean_edits_per_sequence']:.2f} edits/sequence, "
      f"{ouro['mean_diff_lines_per_edit']:.2f} diff lines/edit, {ouro['replay_failures']} replay failures, "
      f"{ouro['lint_calls']} lint calls")
print(f"ratio (ouro / pylintseq sequences/s): {ouro_rate / ref_rate:.0f}x   (target >= 1000x)")
PY
