#!/usr/bin/env bash
# CPU sampling throughput: ouro's Generator vs llama.cpp (through llama-cpp-python's low-level
# C API), on the same small model, in one run. Prints one table and the ouro/llama.cpp ratios.
#
# Same on both sides:
#   - model: SmolLM2-135M-Instruct from the Q4_1 GGUF that scripts/fetch-smollm2.sh fetches.
#     ouro imports it into an f32 HF directory (dequantizing Q4_1). llama.cpp gets GGUFs made by
#     llama_model_quantize from that same Q4_1 file, with allow_requantize: ftype ALL_F32 gives
#     the dequantized Q4_1 weights, i.e. the very f32 weights ouro runs, and MOSTLY_Q8_0 gives
#     those weights requantized to Q8_0 (1-d tensors stay f32). ouro's 8-bit row quantizes the
#     same f32 weights to Q8_0 blocks at load (`--sample-dtype q8`; its embedding lookup and
#     norms stay f32, like llama.cpp's 1-d tensors), and is compared with llama.cpp Q8_0;
#   - prompt 'def fibonacci(n):' (the prompt token counts are printed and must agree), BATCH
#     identical prompts, temperature 0.8 then top_p 0.95, no top-k, no penalties, one seed per
#     sequence;
#   - exactly MAX_TOKENS sampled tokens per sequence, EOS ignored (ouro: no EOS ids; llama.cpp:
#     EOS is never checked); the total generated token counts are asserted equal;
#   - THREADS CPU threads (default 2): RAYON_NUM_THREADS for ouro, n_threads = n_threads_batch
#     for llama.cpp (OpenMP build);
#   - a 4-token warm-up generation first, not timed; the timed span covers tokenizing the
#     prompt, the prefill of all sequences and every decode and sampling step, KV cache on;
#   - batch 1 and batch 8: llama.cpp decodes the 8 sequences together, one llama_batch with
#     sequence ids 0..7 per step (one prefill batch of 8 x prompt tokens, then 8 tokens/step),
#     and samples each sequence with its own sampler chain; ouro runs bench_generate BATCH=8.
# Wall tokens/s and process CPU seconds are both reported. Nothing is hard-coded: every figure
# comes from this run. Caution: ggml's worker threads spin at every barrier, so on a machine
# whose cores are busy with other work llama.cpp at THREADS>1 collapses (its spinning shows as
# CPU seconds, so the CPU-seconds ratio does not correct for it) and its figures swing from run
# to run; there THREADS=1 is the fair setting. Compare THREADS=2 figures only on a quiet machine.
#
#   scripts/bench-llamacpp.sh [MAX_TOKENS=64]
#   THREADS=1 scripts/bench-llamacpp.sh
# llama-cpp-python (pinned below) is compiled from source by pip into a venv in
# scripts/.cache/llamacpp-venv (reused when present; a few minutes on 2 cores); the converted
# GGUFs are cached in scripts/.cache/smollm2/llamacpp/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
max_tokens="${1:-64}"
threads="${THREADS:-2}"
prompt='def fibonacci(n):'
llama_pin='0.3.36'
cd "$root"
start=$(date +%s)
gguf="$(scripts/fetch-smollm2.sh)"
hf="$root/scripts/.cache/smollm2/hf"
cargo build --release -q --workspace --example bench_generate
bin="$root/target/release/examples/bench_generate"
[ -f "$hf/model.safetensors" ] || "$bin" import "$gguf" "$hf"

venv="$root/scripts/.cache/llamacpp-venv"
py="$venv/bin/python"
if [ ! -x "$py" ] || [ "$("$py" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null)" != "$llama_pin" ]; then
  [ -x "$py" ] || python3 -m venv "$venv"
  echo "building llama-cpp-python==$llama_pin from source (a few minutes)..." >&2
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    "$venv/bin/pip" install -q "llama-cpp-python==$llama_pin"
fi
helper="$root/scripts/bench_llamacpp.py"
converted="$("$py" "$helper" convert "$gguf" "$root/scripts/.cache/smollm2/llamacpp")"
f32="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["f32"])' "$converted")"
q8="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["q8_0"])' "$converted")"

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
record() { # ENGINE BATCH JSON [NOTE]
  python3 - "$@" >>"$results" <<'PY'
import json, sys
d = json.loads(sys.argv[3])
d.update(engine=sys.argv[1], batch=int(sys.argv[2]), note=sys.argv[4] if len(sys.argv) > 4 else "")
print(json.dumps(d))
PY
  echo "  $1, batch $2: $3"
}

echo "ouro $(git rev-parse --short HEAD 2>/dev/null || echo '?') (working tree), llama-cpp-python $("$py" -c 'import llama_cpp; print(llama_cpp.__version__)'), $(python3 --version)"
echo "llama.cpp system info: $("$py" -c 'import llama_cpp; print(llama_cpp.llama_print_system_info().decode().strip())')"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: SmolLM2-135M-Instruct; ouro: $hf (f32); llama.cpp: $f32, $q8"
echo "prompt '$prompt', $max_tokens new tokens per sequence, T=0.8 top_p=0.95, no top-k, $threads threads"
for batch in 1 8; do
  record "ouro f32" "$batch" "$(RAYON_NUM_THREADS=$threads "$bin" "$hf" "$batch" "$max_tokens" "$prompt")"
  record "llama.cpp f32" "$batch" "$(OMP_NUM_THREADS=$threads "$py" "$helper" run "$f32" "$batch" "$max_tokens" "$prompt" "$threads")"
  record "ouro q8" "$batch" "$(RAYON_NUM_THREADS=$threads "$bin" "$hf" "$batch" "$max_tokens" "$prompt" --q8)"
  record "llama.cpp Q8_0" "$batch" "$(OMP_NUM_THREADS=$threads "$py" "$helper" run "$q8" "$batch" "$max_tokens" "$prompt" "$threads")"
done
echo
python3 "$helper" table "$results"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); whole script: $(( $(date +%s) - start )) s"
