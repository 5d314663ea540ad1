#!/usr/bin/env bash
# Batched sampling throughput: ouro's Generator vs transformers' generate(), same
# model (SmolLM2-135M-Instruct imported from GGUF to f32), same prompt, batch size,
# temperature 0.8, top_p 0.95, exactly MAX_TOKENS new tokens per sequence (EOS
# ignored on both sides), CPU, measured in one run. Prints the ratio.
#
#   scripts/bench-generate.sh [BATCH=8] [MAX_TOKENS=64]
#   OURO_TORCH_PYTHON=/path/to/python scripts/bench-generate.sh   # reuse a torch+transformers env
# Without OURO_TORCH_PYTHON a venv with torch+transformers is built in scripts/.cache/torch-venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
batch="${1:-8}"
max_tokens="${2:-64}"
prompt='def fibonacci(n):'
cd "$root"
gguf="$(scripts/fetch-smollm2.sh)"
hf="$root/scripts/.cache/smollm2/hf"
cargo build --release -q -p ouro-model --example bench_generate
bin="$root/target/release/examples/bench_generate"
[ -f "$hf/model.safetensors" ] || "$bin" import "$gguf" "$hf"

py="${OURO_TORCH_PYTHON:-}"
if [ -z "$py" ]; then
  venv="$root/scripts/.cache/torch-venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch transformers safetensors
  fi
  py="$venv/bin/python"
fi

threads="$(nproc)"
echo "model: SmolLM2-135M-Instruct (f32), batch $batch, $max_tokens new tokens, T=0.8 top_p=0.95, $threads threads"
ouro_json="$(RAYON_NUM_THREADS=$threads "$bin" "$hf" "$batch" "$max_tokens" "$prompt")"
echo "ouro:         $ouro_json"
hf_json="$("$py" - "$hf" "$batch" "$max_tokens" "$prompt" "$threads" <<'PY'
import json, sys, time
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
path, batch, max_tokens, prompt, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
torch.set_num_threads(threads)
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
model.eval()
enc = tok([prompt] * batch, return_tensors="pt")
torch.manual_seed(0)
with torch.inference_mode():
    # warm-up (allocations, kernels), not timed
    model.generate(**enc, do_sample=True, temperature=0.8, top_p=0.95, max_new_tokens=4, min_new_tokens=4, pad_token_id=tok.eos_token_id)
    t0 = time.perf_counter()
    out = model.generate(**enc, do_sample=True, temperature=0.8, top_p=0.95,
                         max_new_tokens=max_tokens, min_new_tokens=max_tokens, pad_token_id=tok.eos_token_id)
    secs = time.perf_counter() - t0
n = (out.shape[1] - enc["input_ids"].shape[1]) * batch
print(json.dumps({"tokens": n, "seconds": secs, "tokens_per_s": n / secs}))
PY
)"
echo "transformers: $hf_json"
python3 - "$ouro_json" "$hf_json" <<'PY'
import json, sys
o, h = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"ratio ouro/transformers tokens/s: {o['tokens_per_s'] / h['tokens_per_s']:.2f}x "
      f"({o['tokens_per_s']:.1f} vs {h['tokens_per_s']:.1f})")
PY
