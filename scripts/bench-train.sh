#!/usr/bin/env bash
# Training step time: ouro vs plain PyTorch vs TRL SFTTrainer vs TRL DPOTrainer, one run,
# one configuration: 16M-parameter Llama (vocab 4096, d=384, 8 layers), fp32, CPU,
# 4 x 256 tokens per SFT step, 2 pairs x 256 tokens per DPO step, random tokens.
#
#   scripts/bench-train.sh [STEPS]        (default 6; the first step of each is not timed)
#   THREADS=1 scripts/bench-train.sh 4    (pin every implementation to THREADS threads: on a
#                                           loaded machine torch's OpenMP threads spin and
#                                           inflate its time far more than rayon's)
#
# Python: $OURO_TRL_PYTHON if set, else scripts/.cache/trl-venv (created with torch + trl).
# Reference figures on the 2-core EPYC (DESIGN.md §4): torch 0.78 s, TRL SFT 1.01 s,
# TRL DPO 1.02 s, naive candle 1.59 s. Target: ouro <= torch.
#
# Measured 2026-11-30 on a quiet 2-core Xeon (AVX-512), 8 steps: ouro SFT 0.450 s, plain torch
# 0.492 s (ratio 0.91; 0.84 in the run before), TRL SFTTrainer 0.410 s (0.41-0.57 s from run to
# run), ouro DPO 0.451 s, TRL DPOTrainer 0.514 s (ratio 0.88).
# 2026-12-05, 2-core EPYC, three runs at 00ea95d: the generic path (OURO_BENCH_GENERIC=1, what a
# GPU runs) 1.015-1.100 s against plain torch 0.704-0.739 s (1.39-1.56x); ouro SFT 0.82-0.88x.
# 2026-12-06, 2-core EPYC, two runs at 625adb3 (torch 2.11.0, TRL 1.16.0): ouro SFT 0.434 / 0.445 s,
# torch 0.662 / 0.485 s, TRL SFT 0.473 / 0.442 s; ouro DPO 0.451 / 0.436 s, TRL DPO 0.547 / 0.562 s.
# ouro trains through ouro_model's hand-written train pass; OURO_TRAIN_AUTOGRAD=1 makes it
# use candle's autograd instead (0.93 s/step here, 1.14 s before gemm's AVX-512 kernels were on).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-6}"
if [[ -n "${THREADS:-}" ]]; then
  export RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
fi
PY="${OURO_TRL_PYTHON:-}"
if [[ -z "$PY" ]]; then
  VENV=scripts/.cache/trl-venv
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import torch, trl' 2>/dev/null; then
    python3 -m venv "$VENV"
    # PyPI has only the CUDA build of torch for Linux, and `import torch` loads the CUDA
    # runtime libraries even on CPU, so its nvidia-* dependencies are needed: the venv is
    # ~6 GB (torch 1.2 GB, nvidia 3.0 GB, triton 1.0 GB); ~8.5 min to install here.
    "$VENV/bin/pip" install -q torch==2.15.0 trl==1.16.0 transformers==5.24.0
  fi
  PY="$VENV/bin/python"
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
cargo build --release -q --workspace --example bench_step
BIN=target/release/examples/bench_step
results=()
run() { echo "running: $*" >&2; results+=("$("$@" | tail -n 1)"); }
run "$BIN" sft "$STEPS"
run "$BIN" dpo "$STEPS"
# The device-generic path (`--backend generic`, what a GPU runs) on the same CPU and shapes.
run env OURO_BENCH_GENERIC=1 "$BIN" sft "$STEPS"
run "$PY" scripts/trl_bench.py torch "$STEPS"
run "$PY" scripts/trl_bench.py sft "$STEPS"
run "$PY" scripts/trl_bench.py dpo "$STEPS"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
r = [json.loads(l) for l in sys.stdin if l.strip()]
by = {(x["impl"], x.get("mode", ""), x.get("generic", False)): x["s_per_step"] for x in r}
ouro_sft, ouro_dpo = by[("ouro", "sft", False)], by[("ouro", "dpo", False)]
generic_sft = by[("ouro", "sft", True)]
torch_s, trl_sft, trl_dpo = by[("torch", "", False)], by[("trl-sft", "", False)], by[("trl-dpo", "", False)]
p_ouro, p_torch = r[0]["params"], r[3]["params"]
print(f"params: ouro {p_ouro:,}, torch {p_torch:,}")
print(" " * 30 + "s/step".rjust(8))
for name, s in [("ouro sft (4x256)", ouro_sft), ("ouro sft, generic path (4x256)", generic_sft),
                ("plain torch (4x256)", torch_s), ("TRL SFTTrainer (4x256)", trl_sft),
                ("ouro dpo (2 pairs x256)", ouro_dpo), ("TRL DPOTrainer (2x256)", trl_dpo)]:
    print(f"{name:30}{s:8.3f}")
print(f"ouro sft / torch      = {ouro_sft / torch_s:.2f}  (target <= 1.00)")
print(f"generic sft / torch   = {generic_sft / torch_s:.2f}  (the GPU path on this CPU)")
print(f"ouro sft / TRL SFT    = {ouro_sft / trl_sft:.2f}")
print(f"ouro dpo / TRL DPO    = {ouro_dpo / trl_dpo:.2f}")
'
