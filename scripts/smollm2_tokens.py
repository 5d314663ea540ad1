"""Dumps llama-cpp-python's tokenization of llama.cpp's tokenizer test texts with
SmolLM2's own vocabulary, for the ignored Rust test
`smollm2_tokenizer_matches_llama_cpp` (crates/ouro-model/tests/llama_cpp_vocab.rs).

    python scripts/smollm2_tokens.py SMOLLM2.gguf LLAMA_CPP_MODELS_DIR OUT.json

Texts: every `ggml-vocab-*.gguf.inp` text (unique), tokenized without BOS and
without special-token parsing (as llama.cpp's test-tokenizer-0 does), plus a few
ChatML strings tokenized with special-token parsing.
"""

import glob
import json
import os
import sys

from llama_cpp import Llama

SEP = "\n__ggml_vocab_test__\n"


def main():
    gguf, models, out = sys.argv[1], sys.argv[2], sys.argv[3]
    texts = []
    for inp in sorted(glob.glob(os.path.join(models, "ggml-vocab-*.gguf.inp"))):
        raw = open(inp, encoding="utf-8").read()
        if raw.endswith(SEP):
            raw = raw[: -len(SEP)]
        texts.extend(raw.split(SEP))
    texts = list(dict.fromkeys(texts))
    llm = Llama(model_path=gguf, vocab_only=True, verbose=False)
    cases = [{"text": t, "special": False,
              "ids": llm.tokenize(t.encode(), add_bos=False, special=False)} for t in texts]
    for t in ["<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
              "<|endoftext|>def f(x):\n\treturn x  # <|im_end|>"]:
        cases.append({"text": t, "special": True,
                      "ids": llm.tokenize(t.encode(), add_bos=False, special=True)})
    with open(out + ".part", "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    os.replace(out + ".part", out)
    print(f"{len(cases)} tokenizations -> {out}")


if __name__ == "__main__":
    main()
