#!/usr/bin/env bash
# The device check, one script for one GPU machine (targets an H200, < 8 minutes):
#   1. CPU-vs-CUDA parity: the `cuda` test binaries of ouro-model (f32 logits
#      of a small model to 1e-4) and ouro-train (SFT and DPO step losses, f32 to
#      1e-4, bf16 to 2e-2). A parity failure makes the script exit non-zero.
#   2. The references on the same GPU, SmolLM2-135M architecture, bf16, random
#      weights (the hub is unreachable): PyTorch eager SFT step at 8 x 512
#      tokens, a DPO step (4 pairs x 512), transformers `generate` at batch 64.
#   3. ouro's own SFT and DPO steps and sampling at batch 64 on the same weights
#      (the `gpu_step` example); the sampling row splits a decode step into the
#      model's forward (until the logits reach the host) and the host's token choice.
#      Two controls of the SFT step: through candle's autograd, and with cudarc's
#      per-allocation CUDA events on.
#   4. One table.
#
#   scripts/gpu-check.sh                 # builds the test binaries (needs cargo,
#                                        # scripts/check-cuda-build.sh's toolchain)
#   OURO_GPU_BINS=DIR scripts/gpu-check.sh
#                                        # a machine without Rust: prebuilt binaries
#                                        # in DIR (see scripts/gpu-bins.sh)
#
# Runtime libraries (libcublas.so.13, libcublasLt.so.13, libcurand.so.10,
# libnvrtc.so.13) come from the NVIDIA wheels next to PyTorch; libcuda.so.1 from
# the driver.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-/tmp/ouro-gpu-check}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python3}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || {
  echo "no NVIDIA GPU visible" >&2
  exit 2
}
site="$("$PY" -c 'import site; print(site.getsitepackages()[0])')"
libs="$(find "$site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')"
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:-}"

bins="${OURO_GPU_BINS:-}"
if [[ -f "$bins" && "$bins" == *.tar.xz ]]; then
  # Carried compressed (a device transfer has a size cap).
  mkdir -p "$OUT_DIR/bins" && tar -C "$OUT_DIR/bins" -xJf "$bins"
  bins="$OUT_DIR/bins"
fi
if [[ -z "$bins" ]]; then
  command -v cargo >/dev/null || { echo "no cargo: set OURO_GPU_BINS to prebuilt test binaries" >&2; exit 2; }
  scripts/gpu-bins.sh "$OUT_DIR/bins" >&2
  bins="$OUT_DIR/bins"
fi

parity=ok
for t in "$bins"/*-cuda-test; do
  [[ -x "$t" ]] || continue
  name="$(basename "$t")"
  echo "== parity: $name" >&2
  if ! "$t" --test-threads=1 --nocapture >"$OUT_DIR/$name.log" 2>&1; then
    parity=FAILED
    echo "   FAILED (log: $OUT_DIR/$name.log)" >&2
  fi
  grep -E "^test |test result|skipping|diff|loss" "$OUT_DIR/$name.log" >&2 || true
done

model="$OUT_DIR/smollm2-random"
"$PY" scripts/gpu_bench_torch.py init "$model" >"$OUT_DIR/init.json"
for cmd in "sft 6" "dpo 6" "gen 128"; do
  "$PY" scripts/gpu_bench_torch.py "${cmd%% *}" "$model" "${cmd##* }" >"$OUT_DIR/torch-${cmd%% *}.json" 2>"$OUT_DIR/torch-${cmd%% *}.err" \
    || echo "torch $cmd failed: $(tail -3 "$OUT_DIR/torch-${cmd%% *}.err")" >&2
done

# ouro's own steps on the same weights (the `gpu_step` example, when built).
if [[ -x "$bins/gpu_step" ]]; then
  for run in "sft 6" "dpo 6" "gen 128"; do
    mode="${run%% *}"
    "$bins/gpu_step" "$mode" "$model" "${run##* }" cuda >"$OUT_DIR/ouro-$mode.json" 2>"$OUT_DIR/ouro-$mode.err" \
      || echo "ouro $mode failed: $(tail -3 "$OUT_DIR/ouro-$mode.err")" >&2
  done
  # The same SFT step through candle's autograd: what the hand-written tensor pass saves.
  OURO_TRAIN_AUTOGRAD=1 "$bins/gpu_step" sft "$model" 6 cuda >"$OUT_DIR/ouro-sft-autograd.json" \
    2>"$OUT_DIR/ouro-sft-autograd.err" \
    || echo "ouro sft (autograd) failed: $(tail -3 "$OUT_DIR/ouro-sft-autograd.err")" >&2
  # With cudarc's per-allocation events on, as every run before 2026-12-05 had them
  # (ouro_model::device::open_cuda turns them off): what they cost a step.
  OURO_CUDA_EVENT_TRACKING=1 "$bins/gpu_step" sft "$model" 6 cuda >"$OUT_DIR/ouro-sft-events.json" \
    2>"$OUT_DIR/ouro-sft-events.err" \
    || echo "ouro sft (event tracking) failed: $(tail -3 "$OUT_DIR/ouro-sft-events.err")" >&2
fi

"$PY" - "$OUT_DIR" "$parity" <<'PY'
import json, os, sys
out, parity = sys.argv[1], sys.argv[2]
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception:
        return None
sft, dpo, gen = load("torch-sft.json"), load("torch-dpo.json"), load("torch-gen.json")
osft, odpo, ogen = load("ouro-sft.json"), load("ouro-dpo.json"), load("ouro-gen.json")
oauto, oevents = load("ouro-sft-autograd.json"), load("ouro-sft-events.json")
rows = [("CPU-vs-CUDA parity (ouro-model, ouro-train cuda tests)", parity)]
if sft: rows.append(("PyTorch eager bf16 SFT step, 8x512 tokens", "%.4f s" % sft["s_per_step"]))
def ouro_step(o, ref):
    # gpu_step waits for each phase's kernels (OURO_SYNC_TIMING), so the split is real.
    phase = lambda k: o.get(k + "_s_per_step", float("nan"))
    return "%.4f s (%.2fx PyTorch; forward %.4f s, backward %.4f s, optimizer %.4f s; %s)" % (
        o["s_per_step"], o["s_per_step"] / ref["s_per_step"] if ref else float("nan"),
        phase("forward"), phase("backward"), phase("optim"), o.get("gradients", "?"))
if osft: rows.append(("ouro bf16 SFT step, same shape", ouro_step(osft, sft)))
if oauto: rows.append(("ouro bf16 SFT step, same shape, OURO_TRAIN_AUTOGRAD=1", ouro_step(oauto, sft)))
if oevents: rows.append(("ouro bf16 SFT step, same shape, OURO_CUDA_EVENT_TRACKING=1", ouro_step(oevents, sft)))
if dpo: rows.append(("PyTorch eager bf16 DPO step, 4 pairs x 512", "%.4f s" % dpo["s_per_step"]))
if odpo: rows.append(("ouro bf16 DPO step, same shape", ouro_step(odpo, dpo)))
if gen: rows.append(("transformers generate bf16, batch 64, 128 new tokens", "%.0f tok/s" % gen["tokens_per_s"]))
if ogen: rows.append(("ouro sampling bf16, same shape", "%.0f tok/s (%.2fx transformers; per step: model %.2f ms, host token choice %.2f ms)" % (
    ogen["tokens_per_s"], ogen["tokens_per_s"] / gen["tokens_per_s"] if gen else float("nan"),
    1e3 * ogen.get("model_s_per_step", float("nan")), 1e3 * ogen.get("choose_s_per_step", float("nan")))))
print("| check | result |\n|---|---|")
for k, v in rows:
    print("| %s | %s |" % (k, v))
PY
[[ "$parity" == ok ]]
