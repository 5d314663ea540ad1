#!/usr/bin/env bash
# Writes and reads N (default 1M) synthetic sample records with ouro and with
# pyarrow in one run; prints records/s for each and the ratio.
# Python: $OURO_PYTHON, else ./.venv/bin/python (created by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PY=${OURO_PYTHON:-.venv/bin/python}
[ -x "$PY" ] || { python3 -m venv .venv && .venv/bin/pip install -q pyarrow; PY=.venv/bin/python; }
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cargo build -q --release --workspace --example bench_shards
OURO=$(target/release/examples/bench_shards "$N" "$DIR")
PYA=$("$PY" scripts/bench_shards.py "$N" "$DIR/pyarrow.parquet")
echo "$OURO"; echo "$PYA"
rate() { echo "$1" | awk -v k="$2" '$2==k {print $3}'; }
for op in write read; do
  o=$(rate "$OURO" "$op"); p=$(rate "$PYA" "$op")
  awk -v o="$o" -v p="$p" -v op="$op" 'BEGIN { printf "%s: ouro/pyarrow = %.2fx\n", op, o/p }'
done
