#!/usr/bin/env bash
# Prompt scoring (log-likelihoods, what `ouro serve` answers `echo` requests with and what
# lm-evaluation-harness's loglikelihood tasks ask for): ouro's Generator::prompts_logprobs
# vs transformers' forward + log_softmax, in one run, with their log-probs compared.
#
# Same on both sides:
#   - model: SmolLM2-135M-Instruct imported by ouro from the Q4_1 GGUF into an f32 HF
#     directory; transformers loads that very directory;
#   - inputs: the first N HumanEval problems, prompt + canonical solution, tokenized once by
#     transformers' PreTrainedTokenizerFast over that directory's tokenizer.json; both sides
#     get the same token ids and score every token after the first;
#   - batching: rows sorted longest first, right-padded; transformers in batches of BATCH
#     with an attention mask, ouro by its own rule (as many rows as fit 64 Mi logits);
#   - log-softmax in f32 over the full vocabulary, only the target token's value kept;
#   - CPU threads: THREADS (default 2) for rayon and torch (intra-op), 1 torch inter-op thread;
#   - one untimed warm-up pass, then the best of REPEATS (default 3) timed passes.
# Prints scored tokens/s for both, the ratio, and the largest log-prob difference; exits 1
# when a log-prob differs by more than 1e-3 (f32 on both sides: a real difference is a bug).
#
#   scripts/bench-score.sh [N=64] [BATCH=8]
#   OURO_TORCH_PYTHON=/path/to/python scripts/bench-score.sh   # reuse a torch+transformers env
# Without OURO_TORCH_PYTHON a venv with torch+transformers is built in scripts/.cache/torch-venv
# (reused when present).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-64}"
batch="${2:-8}"
threads="${THREADS:-2}"
repeats="${REPEATS:-3}"
cd "$root"
gguf="$(scripts/fetch-smollm2.sh)"
scripts/fetch-humaneval.sh >/dev/null
hf="$root/scripts/.cache/smollm2/hf"
cargo build --release -q --workspace --example bench_score --example bench_generate
bin="$root/target/release/examples/bench_score"
[ -f "$hf/model.safetensors" ] || "$root/target/release/examples/bench_generate" import "$gguf" "$hf"

py="$(scripts/torch-python.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "model: SmolLM2-135M-Instruct (f32), $n HumanEval prompt+solution texts, batch $batch, $threads threads, best of $repeats"
OMP_NUM_THREADS=$threads "$py" - "$hf" scripts/.cache/HumanEval.jsonl "$n" "$batch" "$threads" "$repeats" "$work" <<'PY'
import json, sys, time
import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
path, data, n, batch, threads, repeats, work = sys.argv[1:8]
n, batch, threads, repeats = int(n), int(batch), int(threads), int(repeats)
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
tok = PreTrainedTokenizerFast(tokenizer_file=f"{path}/tokenizer.json")
with open(data) as f:
    problems = [json.loads(line) for line in f if line.strip()][:n]
ids = [tok(p["prompt"] + p["canonical_solution"])["input_ids"] for p in problems]
with open(f"{work}/ids.json", "w") as f:
    json.dump({"prompts": ids}, f)
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
model.eval()
order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))

def score():
    out = [None] * len(ids)
    for s in range(0, len(order), batch):
        rows = order[s:s + batch]
        width = max(len(ids[i]) for i in rows) - 1
        inp = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            k = len(ids[i]) - 1
            inp[r, :k] = torch.tensor(ids[i][:k])
            mask[r, :k] = 1
        logits = model(input_ids=inp, attention_mask=mask).logits.float()
        lp = torch.log_softmax(logits, dim=-1)
        for r, i in enumerate(rows):
            k = len(ids[i]) - 1
            tgt = torch.tensor(ids[i][1:]).unsqueeze(-1)
            out[i] = lp[r, :k].gather(-1, tgt).squeeze(-1).tolist()
    return out

with torch.inference_mode():
    score()
    best = None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        lps = score()
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or secs < best[0]:
            best = (secs, cpu)
tokens = sum(len(x) for x in lps)
with open(f"{work}/torch.json", "w") as f:
    json.dump({"tokens": tokens, "seconds": best[0], "tokens_per_s": tokens / best[0],
               "cpu_seconds": best[1], "logprobs": lps}, f)
PY
RAYON_NUM_THREADS=$threads "$bin" "$hf" "$work/ids.json" "$work/ouro.json" "$repeats"
"$py" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
o = json.load(open(f"{work}/ouro.json"))
t = json.load(open(f"{work}/torch.json"))
assert o["tokens"] == t["tokens"], (o["tokens"], t["tokens"])
diff = max(abs(a - b) for x, y in zip(o["logprobs"], t["logprobs"]) for a, b in zip(x, y))
total_o = sum(sum(x) for x in o["logprobs"])
total_t = sum(sum(x) for x in t["logprobs"])
print(f"scored tokens:   {o['tokens']}")
print(f"ouro:            {o['tokens_per_s']:8.1f} tok/s  ({o['seconds']:.2f} s wall, {o['cpu_seconds']:.2f} s CPU)")
print(f"transformers:    {t['tokens_per_s']:8.1f} tok/s  ({t['seconds']:.2f} s wall, {t['cpu_seconds']:.2f} s CPU)")
print(f"ratio (ouro / transformers): {o['tokens_per_s'] / t['tokens_per_s']:.2f}x wall, "
      f"{t['cpu_seconds'] / o['cpu_seconds']:.2f}x CPU")
print(f"log-probs: largest difference {diff:.2e}; summed {total_o:.3f} (ouro) vs {total_t:.3f} (transformers)")
sys.exit(0 if diff <= 1e-3 else 1)
PY
