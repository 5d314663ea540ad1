#!/usr/bin/env bash
# The README's multi-seed table: the quickstart (pipelines/quickstart.toml) over
# several seed pairs, each with its seed-only control arm, printed as per-round
# mean ± sd of strict held-out pass@1, pass@4, the false-positive rate and the
# margin over the control.
#
#   scripts/bench-seeds.sh                 seed pairs 1..5, one run at a time
#   scripts/bench-seeds.sh 1,2,3,4,5 5     five runs at once (many-core machines)
#   scripts/bench-seeds.sh 0,              the seed pair the quickstart was tuned on
#
# Each member run is `ouro run runs/bench-seeds/qs-LIST-seeds/seed-S.toml`
# (LIST: the seeds joined by '_') and can be resumed or inspected alone; the
# summary is runs/bench-seeds/qs-LIST-seeds/seeds.json. Rerunning resumes.
# On the reference 2-core machine one member (main + control) takes 8-12 min.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-1,2,3,4,5}"
jobs="${2:-1}"
ouro="${OURO:-target/release/ouro}"
if [ -z "${OURO:-}" ]; then
  cargo build --release -q -p ouro-cli
fi
dir="runs/bench-seeds"
name="qs-$(echo "$seeds" | tr ',' '_' | sed 's/_$//')"
mkdir -p "$dir"
sed "s#^out = .*#out = \"$dir/$name\"#" pipelines/quickstart.toml > "$dir/$name.toml"
start=$(date +%s)
"$ouro" run "$dir/$name.toml" --seeds "$seeds" --jobs "$jobs" --resume
echo "wall: $(( $(date +%s) - start )) s on $(nproc) cores, $(date -u +%F), seeds $seeds, jobs $jobs"
