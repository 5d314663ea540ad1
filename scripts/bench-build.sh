#!/usr/bin/env bash
# Benchmark of `ouro build`: 100k synthetic samples on 2k problems through
# rank (all four rankers), dedup (exact + MinHash), pairs and SFT selection,
# in memory and end to end through Parquet shards. Prints samples/s per phase.
#
# When a Python with numpy and scipy is available ($OURO_PYTHON, else python3),
# it also times the public B4/CodeT reference code (ZJU-CTAG/B4 strategy.py
# semantics, re-implemented in scripts/ranker_fixtures.py) on the same first
# 200 matrices and prints the ratio against ouro-rank measured in this run.
#
# Usage: scripts/bench-build.sh [PROBLEMS=2000] [SAMPLES_PER_PROBLEM=50]
# Env:   PROFILE=release|dev (default release), OURO_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
problems=${1:-2000}
per=${2:-50}
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --workspace --example bench_build
  bin=target/release/examples/bench_build
else
  cargo build --workspace --example bench_build
  bin=target/debug/examples/bench_build
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== ouro-rank build benchmark: $problems problems x $per samples ($profile build, $(nproc) cores)"
"$bin" "$problems" "$per" "$work/data" --dump-matrices "$work/matrices.json" 200 | tee "$work/rust.txt"

py=${OURO_PYTHON:-python3}
if "$py" -c "import numpy, scipy" 2>/dev/null; then
  "$py" - "$work/matrices.json" "$work/rust.txt" <<'PY'
import json, sys, time, importlib.util, os
import numpy as np
spec = importlib.util.spec_from_file_location("rf", os.path.join("scripts", "ranker_fixtures.py"))
rf = importlib.util.module_from_spec(spec); spec.loader.exec_module(rf)
mats = [np.array(m, dtype=np.int64) for m in json.load(open(sys.argv[1]))]
rust = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[2]) if l.startswith("RUST_")}
t = time.perf_counter()
for E in mats:
    rf.b4_groups(E, 1e4, 1e3)
b4 = time.perf_counter() - t
t = time.perf_counter()
for E in mats:
    rf.codet_groups(E)
codet = time.perf_counter() - t
print(f"reference B4 (numpy/scipy) on {len(mats)} matrices: {b4:.4f} s; ouro-rank {rust['RUST_B4_SECONDS']:.4f} s; speedup x{b4 / max(rust['RUST_B4_SECONDS'], 1e-9):.1f}")
print(f"reference CodeT (python)  on {len(mats)} matrices: {codet:.4f} s; ouro-rank {rust['RUST_CODET_SECONDS']:.4f} s; speedup x{codet / max(rust['RUST_CODET_SECONDS'], 1e-9):.1f}")
PY
else
  echo "(no numpy/scipy in $py: reference ratio skipped; set OURO_PYTHON to a venv with numpy and scipy)"
fi
