"""Greedy-decoding parity of ouro against llama-cpp-python on SmolLM2-135M-Instruct.

Driven by scripts/smollm2-parity.sh (which builds the venv and the binaries):

    python scripts/smollm2_parity.py GGUF HF_DIR "OURO_BIN model generate" [N_TOKENS]

For each fixed prompt, both sides tokenize the same text (no BOS, special tokens
parsed) and decode N_TOKENS tokens greedily, EOS ignored. llama.cpp is driven
token by token through `Llama.eval` and an argmax over its logits, so no
sampler (repeat penalty, top-k ...) sits between its logits and the pick. At
the first differing token, the llama.cpp top-2 logit margin is printed: a small
margin means quantised-vs-f32 rounding flipped a near tie.

Prints one line per prompt and a final JSON summary; exits 1 when a prompt's
tokenization differs or fewer than MIN_MATCH (default 20) leading tokens agree.
"""

import json
import os
import subprocess
import sys

import numpy as np
import llama_cpp.llama_cpp as llama_lib
from llama_cpp import Llama

# llama.cpp's AMX matmul (picked by -march=native builds on CPUs that report AMX)
# segfaults in VMs that do not grant AMX tile state; extra buffer types (AMX,
# weight repacking) are switched off, which leaves ggml's ordinary quantised
# kernels (Q4_1 weights x Q8_1-quantised activations, integer dot products).
_default_params = llama_lib.llama_model_default_params


def _plain_params():
    p = _default_params()
    p.use_extra_bufts = False
    return p


llama_lib.llama_model_default_params = _plain_params

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(user):
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


PROMPTS = [
    "def fibonacci(n):",
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    chatml("What is the capital of France?"),
    chatml("Write a Python function that reverses a string."),
]


def llama_greedy(llm, ids, n):
    llm.reset()
    llm.eval(ids)
    out, margins = [], []
    for _ in range(n):
        logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        top2 = np.argpartition(-logits, 2)[:2]
        top2 = top2[np.argsort(-logits[top2])]
        out.append(int(top2[0]))
        margins.append(float(logits[top2[0]] - logits[top2[1]]))
        llm.eval([int(top2[0])])
    return out, margins


def ouro_greedy(cmd, hf, text, n):
    res = subprocess.run(
        cmd + [hf, "--prompt", text, "--temperature", "0",
               "--max-tokens", str(n), "--ignore-eos", "--json"],
        check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    gguf, hf = sys.argv[1], sys.argv[2]
    # "ouro model generate", or a binary taking the same arguments (OURO_GENERATE)
    cmd = sys.argv[3].split()
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    min_match = int(os.environ.get("MIN_MATCH", "20"))
    llm = Llama(model_path=gguf, n_ctx=1024, n_threads=os.cpu_count(), logits_all=True,
                verbose=False, seed=0)
    results, ok = [], True
    for text in PROMPTS:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        ref, margins = llama_greedy(llm, ids, n)
        o = ouro_greedy(cmd, hf, text, n)
        same_prompt = o["prompt_ids"] == ids
        match = 0
        while match < n and ref[match] == o["token_ids"][match]:
            match += 1
        r = {"prompt": text[-60:], "prompt_tokens": len(ids), "prompt_ids_equal": same_prompt,
             "matching_tokens": match, "of": n}
        if match < n:
            r["diverge"] = {"at": match, "llama": ref[match], "ouro": o["token_ids"][match],
                            "llama_top2_margin": round(margins[match], 4),
                            "min_margin_before": round(min(margins[:match] or [0]), 4)}
        results.append(r)
        print(f"{match:2d}/{n} tokens equal, prompt ids {'equal' if same_prompt else 'DIFFER'}"
              f" ({len(ids)} tokens): {text[-50:]!r}"
              + (f"  diverged at {match}: llama {ref[match]} vs ouro {o['token_ids'][match]},"
                 f" llama top-2 margin {margins[match]:.4f}" if match < n else ""))
        if not same_prompt:
            print(f"  llama prompt ids: {ids}\n  ouro prompt ids:  {o['prompt_ids']}")
        print(f"  llama: {llm.detokenize(ref).decode(errors='replace')!r}")
        print(f"  ouro:  {o['text']!r}")
        ok &= same_prompt and match >= min_match
    total = sum(r["matching_tokens"] for r in results)
    print(json.dumps({"prompts": len(PROMPTS), "tokens_per_prompt": n,
                      "matching_tokens_total": total, "of": n * len(PROMPTS),
                      "min_matching": min(r["matching_tokens"] for r in results),
                      "results": results}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
