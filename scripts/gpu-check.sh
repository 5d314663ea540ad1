#!/usr/bin/env bash
# The device check, one script for one GPU machine (targets an H200, < 8 minutes):
#   1. CPU-vs-CUDA parity: the `cuda` test binaries of ouro-model (f32 logits
#      of a small model to 1e-4) and ouro-train (SFT and DPO step losses, f32 to
#      1e-4, bf16 to 2e-2). A parity failure makes the script exit non-zero.
#   2. The references on the same GPU, SmolLM2-135M architecture, bf16, random
#      weights (the hub is unreachable): PyTorch eager SFT step at 8 x 512
#      tokens, a DPO step (4 pairs x 512), transformers `generate` at batch 64;
#      TRL's SFTTrainer and DPOTrainer at the same shapes (OURO_GPU_WHEELS below).
#   3. ouro's own SFT and DPO steps and sampling at batch 64 on the same weights
#      (the `gpu_step` example); the sampling row splits a decode step into the
#      model's forward (until the logits reach the host) and the host's token choice.
#      Two controls of the SFT step: through candle's autograd, and with cudarc's
#      per-allocation CUDA events on.
#   4. ouro's commands through the CUDA-built binary: `model generate`, `train sft`,
#      `train dpo` and `sample`, in bf16 on the GPU. A failure, or a training
#      report that names another device, also makes the script exit non-zero.
#   5. One table.
#
#   scripts/gpu-check.sh                 # builds the test binaries (needs cargo,
#                                        # scripts/check-cuda-build.sh's toolchain)
#   OURO_GPU_BINS=DIR scripts/gpu-check.sh
#                                        # a machine without Rust: prebuilt binaries
#                                        # in DIR (see scripts/gpu-bins.sh)
#
# On the device tool's machine (no Rust, no network, 64 MiB carried): first, here,
# `scripts/gpu-bins.sh .gpu/bins` (about an hour on 2 cores from clean) and
# `scripts/gpu-wheels.sh`; then one run with carry [".gpu/bins.tar.xz", ".gpu/whl"]
# (not ".gpu": the unpacked .gpu/bins is 317 MB) and the command
#   OURO_GPU_BINS=.gpu/bins.tar.xz OURO_GPU_WHEELS=.gpu/whl scripts/gpu-check.sh
#
# Runtime libraries (libcublas.so.13, libcublasLt.so.13, libcurand.so.10,
# libnvrtc.so.13) come from the NVIDIA wheels next to PyTorch; libcuda.so.1 from
# the driver.
set -uo pipefail
cd "$(dirname "$0")/.."
# Everything goes to a scratch folder: the device tool brings back at most 8 files
# from $OUT, and nothing at all if it holds too much (the unpacked binaries, the
# model). $OUT gets the table and one archive of the logs and JSON.
OUT_DIR="${OURO_GPU_CHECK_DIR:-/tmp/ouro-gpu-check}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python3}"

# GPU_BENCH_TINY=1 is a dry run of this script on the CPU, to find its own
# mistakes before device time is spent: a 2-layer model of width 64 on `cpu`, no
# parity binaries (they need the driver), OURO_GPU_BINS a folder holding CPU
# builds of gpu_step and ouro (`cargo build --release --workspace --example
# gpu_step`, then target/release/examples/gpu_step and target/release/ouro).
# Its figures mean nothing; GPU_CHECK_STEPS (default 6) shortens it.
dev=cuda
steps="${GPU_CHECK_STEPS:-6}"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
if [[ "${GPU_BENCH_TINY:-}" == 1 ]]; then
  dev=cpu
  gpu="none: a dry run on the CPU (GPU_BENCH_TINY=1), its figures mean nothing"
  export GPU_BENCH_TINY
elif ! gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)" ||
  [[ -z "$gpu" ]]; then
  echo "no NVIDIA GPU visible" >&2
  exit 2
fi
echo "== $gpu, $started" >&2
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
[[ "$dev" == cpu ]] && parity="not run (dry run on the CPU)"
for t in "$bins"/*-cuda-test; do
  [[ "$dev" == cpu ]] && break
  [[ -x "$t" ]] || continue
  name="$(basename "$t")"
  echo "== parity: $name" >&2
  if ! "$t" --test-threads=1 --nocapture >"$OUT_DIR/$name.log" 2>&1; then
    parity=FAILED
    echo "   FAILED (log: $OUT_DIR/$name.log)" >&2
  fi
  grep -E "^test |test result|skipping|diff|loss" "$OUT_DIR/$name.log" >&2 || true
done

# The device tool stops a command at 10 minutes and then brings back no table:
# past this budget the optional rows (TRL, the two controls of ouro's SFT step)
# are skipped, and each result is echoed as it comes, so that even a cut-off run
# leaves its figures in the output.
budget="${GPU_CHECK_BUDGET_S:-420}"
skipped=()
in_budget() {
  if ((SECONDS > budget)); then
    echo "== skipping $1: ${SECONDS}s gone, past the ${budget}s budget" >&2
    skipped+=("$1")
    return 1
  fi
}
# Why a command failed, from its log: the panic or exception line (a Rust
# backtrace or a CUDA notice fills the last lines), else the last lines.
why() {
  { grep -m 1 -A 1 "panicked at" "$1" || grep -m 2 -E "Error|error:" "$1" || tail -3 "$1"; } | cut -c1-400
}
# Runs a command with stdout to $OUT_DIR/NAME.json and stderr to NAME.err, and
# echoes the JSON (its last line) or why it failed; returns the command's status.
row() {
  local name="$1"
  shift
  echo "== $name (${SECONDS}s)" >&2
  if "$@" >"$OUT_DIR/$name.json" 2>"$OUT_DIR/$name.err"; then
    tail -n 1 "$OUT_DIR/$name.json" >&2
  else
    echo "   $name failed: $(why "$OUT_DIR/$name.err")" >&2
    return 1
  fi
}

model="$OUT_DIR/smollm2-random"
"$PY" scripts/gpu_bench_torch.py init "$model" >"$OUT_DIR/init.json"
for cmd in "sft $steps" "dpo $steps" "gen 128"; do
  row "torch-${cmd%% *}" "$PY" scripts/gpu_bench_torch.py "${cmd%% *}" "$model" "${cmd##* }"
done

# ouro's own steps on the same weights (the `gpu_step` example, when built).
if [[ -x "$bins/gpu_step" ]]; then
  for run in "sft $steps" "dpo $steps" "gen 128"; do
    row "ouro-${run%% *}" "$bins/gpu_step" "${run%% *}" "$model" "${run##* }" "$dev"
  done
fi

# ouro's commands through the binary on the device (the `ouro` in the binaries,
# built with --features cuda): a bf16 generation, an SFT and a DPO run of 2 steps
# each, and `ouro sample` over bundled problems. Each must exit 0 and report the
# device it was given; a failure fails the check, as a parity failure does.
cli="not run (no ouro binary in $bins)"
if [[ -x "$bins/ouro" ]]; then
  cli=ok
  cdir="$OUT_DIR/cli"
  "$PY" scripts/gpu_bench_torch.py cli-data "$cdir" >/dev/null
  ouro_cli() {
    local name="$1"
    shift
    row "cli-$name" "$bins/ouro" --no-progress "$@" || cli=FAILED
  }
  on=(--device "$dev" --dtype bf16)
  ouro_cli generate model generate --model "$model" --prompt "t5 t6 t7" --max-tokens 16 \
    --temperature 0.8 --json "${on[@]}"
  ouro_cli sft train sft --model "$model" --data "$cdir/sft.jsonl" --out "$cdir/sft" --json "${on[@]}"
  ouro_cli dpo train dpo --model "$model" --data "$cdir/dpo.jsonl" --out "$cdir/dpo" --json "${on[@]}"
  ouro_cli problems problems generate --count 40 --seed 0 --out "$cdir/problems"
  ouro_cli sample sample --problems "$cdir/problems" --model "$cdir/sft" --out "$cdir/samples" \
    -n 2 --max-tokens 16 --seed 0 --json "${on[@]}"
  for r in sft dpo; do
    grep -q "\"device\": *\"$dev" "$cdir/$r/train_report.json" 2>/dev/null || {
      cli=FAILED
      echo "   $r: train_report.json does not name device $dev" >&2
    }
  done
  echo "   commands: $cli" >&2
fi

# TRL's SFTTrainer and DPOTrainer on the same weights. The GPU machine has no TRL
# or `datasets`: carry the wheels of scripts/gpu-wheels.sh and set OURO_GPU_WHEELS
# to their folder. They go to a folder of their own, on PYTHONPATH for these rows only.
if in_budget "TRL rows"; then
  trl_path=""
  if [[ -n "${OURO_GPU_WHEELS:-}" ]]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$OUT_DIR/site" "$OURO_GPU_WHEELS"/*.whl >&2 && trl_path="$OUT_DIR/site"
  fi
  for cmd in "trl-sft $steps" "trl-dpo $steps"; do
    row "${cmd%% *}" env PYTHONPATH="$trl_path${PYTHONPATH:+:$PYTHONPATH}" \
      "$PY" scripts/gpu_bench_torch.py "${cmd%% *}" "$model" "${cmd##* }"
  done
fi

if [[ -x "$bins/gpu_step" ]] && in_budget "ouro SFT controls"; then
  # The same SFT step through candle's autograd: what the hand-written tensor pass saves.
  row ouro-sft-autograd env OURO_TRAIN_AUTOGRAD=1 "$bins/gpu_step" sft "$model" "$steps" "$dev"
  # With cudarc's per-allocation events on, as every run before 2026-12-05 had them
  # (ouro_model::device::open_cuda turns them off): what they cost a step.
  row ouro-sft-events env OURO_CUDA_EVENT_TRACKING=1 "$bins/gpu_step" sft "$model" "$steps" "$dev"
fi
echo "== done in ${SECONDS}s" >&2

skipped_rows="$(IFS=,; echo "${skipped[*]:-}")"
# A figure in the README names its machine, date and code: the table carries them.
built="$(cat "$bins/BUILT_FROM" 2>/dev/null || echo "unknown (no BUILT_FROM in $bins)")"
"$PY" - "$OUT_DIR" "$parity" "$cli" "$skipped_rows" "$gpu" "$started" "$built" <<'PY' | tee "$OUT_DIR/table.md"
import json, os, sys
out, parity, cli, skipped, gpu, started, built = sys.argv[1:8]
def load(name):
    # The last line: a trainer may print its own summary to stdout first.
    try:
        lines = [l for l in open(os.path.join(out, name)) if l.strip()]
        return json.loads(lines[-1])
    except Exception:
        return None
sft, dpo, gen = load("torch-sft.json"), load("torch-dpo.json"), load("torch-gen.json")
osft, odpo, ogen = load("ouro-sft.json"), load("ouro-dpo.json"), load("ouro-gen.json")
oauto, oevents = load("ouro-sft-autograd.json"), load("ouro-sft-events.json")
tsft, tdpo = load("trl-sft.json"), load("trl-dpo.json")
def trl_row(t, o, what):
    if t:
        ratio = " (ouro takes %.2fx its time)" % (o["s_per_step"] / t["s_per_step"]) if o else ""
        rows.append(("TRL %s %s, bf16 autocast over f32 weights, same shape" % (t["trl"], what),
                     "%.4f s%s" % (t["s_per_step"], ratio)))
rows = [("GPU (name, driver, memory)", gpu), ("started", started), ("binaries built from", built),
        ("CPU-vs-CUDA parity (ouro-model, ouro-train cuda tests)", parity),
        ("ouro's commands on the device (model generate, train sft, train dpo, sample; bf16)", cli)]
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
trl_row(tsft, osft, "SFTTrainer step")
if dpo: rows.append(("PyTorch eager bf16 DPO step, 4 pairs x 512", "%.4f s" % dpo["s_per_step"]))
if odpo: rows.append(("ouro bf16 DPO step, same shape", ouro_step(odpo, dpo)))
trl_row(tdpo, odpo, "DPOTrainer step")
if gen: rows.append(("transformers generate bf16, batch 64, 128 new tokens", "%.0f tok/s" % gen["tokens_per_s"]))
if ogen: rows.append(("ouro sampling bf16, same shape", "%.0f tok/s (%.2fx transformers; per step: model %.2f ms, host token choice %.2f ms)" % (
    ogen["tokens_per_s"], ogen["tokens_per_s"] / gen["tokens_per_s"] if gen else float("nan"),
    1e3 * ogen.get("model_s_per_step", float("nan")), 1e3 * ogen.get("choose_s_per_step", float("nan")))))
if skipped: rows.append(("skipped, past the time budget (GPU_CHECK_BUDGET_S)", skipped))
print("| check | result |\n|---|---|")
for k, v in rows:
    print("| %s | %s |" % (k, v))
PY
if [[ -n "${OUT:-}" && -d "${OUT:-}" ]]; then
  cp "$OUT_DIR/table.md" "$OUT/"
  (cd "$OUT_DIR" && tar -czf "$OUT/gpu-check-logs.tar.gz" --exclude=./bins --exclude=./site \
    --exclude=./smollm2-random .)
fi
[[ "$parity" != FAILED && "$cli" != FAILED ]]
