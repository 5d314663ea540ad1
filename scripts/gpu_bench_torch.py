#!/usr/bin/env python3
"""PyTorch side of scripts/gpu-check.sh: the SmolLM2-135M architecture (Llama,
vocab 49152, d=576, 30 layers, 9 heads / 3 kv heads, MLP 1536, tied
embeddings) with random weights, bf16 on one CUDA GPU, random tokens.

    python3 scripts/gpu_bench_torch.py init DIR      # writes DIR/config.json + model.safetensors
                                                     # + tokenizer.json (one word per id)
    python3 scripts/gpu_bench_torch.py tokenizer DIR # only DIR/tokenizer.json
    python3 scripts/gpu_bench_torch.py sft DIR STEPS # eager bf16: 8 x 512 tokens, AdamW, clip 1.0
    python3 scripts/gpu_bench_torch.py dpo DIR STEPS # eager bf16: 4 pairs x 512, policy + reference
    python3 scripts/gpu_bench_torch.py gen DIR N     # transformers generate, batch 64, N new tokens

Random weights give the same step time as trained ones; the hub cannot be
reached from the GPU machine. Prints one JSON line per command.
"""
import json
import os
import sys
import time

try:
    import torch
except ImportError:  # `tokenizer` needs only the tokenizers package
    torch = None

B_SFT, PAIRS, T, B_GEN = 8, 4, 512, 64


def config():
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=2048,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )


def write_tokenizer(d, vocab=49152):
    """A word-level tokenizer whose id i is the word "t<i>": ouro's generator takes
    text prompts, and "t5 t17 ..." encodes to exactly those ids, one per word."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"t%d" % i: i for i in range(vocab)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))


def load(d, dtype=None):
    dtype = dtype or torch.bfloat16
    from transformers import LlamaForCausalLM

    try:  # transformers >= 5 names it `dtype`
        m = LlamaForCausalLM.from_pretrained(d, dtype=dtype, attn_implementation="sdpa")
    except TypeError:
        m = LlamaForCausalLM.from_pretrained(d, torch_dtype=dtype, attn_implementation="sdpa")
    return m.cuda()


def timed(step, steps):
    step()  # warm-up: kernels, allocator, cuBLAS handles
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    if cmd == "tokenizer":
        write_tokenizer(d)
        print(json.dumps({"tokenizer": os.path.join(d, "tokenizer.json")}))
        return
    torch.manual_seed(0)
    if cmd == "init":
        from transformers import LlamaForCausalLM

        m = LlamaForCausalLM(config()).to(torch.bfloat16)
        m.save_pretrained(d, safe_serialization=True)
        write_tokenizer(d, m.config.vocab_size)
        print(json.dumps({"init": d, "params": sum(p.numel() for p in m.parameters())}))
        return
    g = torch.Generator(device="cuda").manual_seed(0)
    if cmd == "sft":
        m = load(d)
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-5, fused=True)
        ids = torch.randint(10, 49000, (B_SFT, T), device="cuda", generator=g)

        def step():
            out = m(input_ids=ids, labels=ids)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        s = timed(step, n)
        print(json.dumps({"impl": "torch-eager-bf16", "mode": "sft", "s_per_step": s,
                          "tokens_per_step": B_SFT * T}))
    elif cmd == "dpo":
        m, ref = load(d), load(d)
        ref.eval()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-6, fused=True)
        pairs = PAIRS  # chosen rows, then rejected rows, stacked in one batch
        ids = torch.randint(10, 49000, (2 * pairs, T), device="cuda", generator=g)

        def logps(model, x):
            logits = model(input_ids=x).logits[:, :-1].float()
            lp = torch.log_softmax(logits, -1).gather(-1, x[:, 1:, None]).squeeze(-1)
            return lp.sum(-1)

        def step():
            with torch.no_grad():
                r = logps(ref, ids)
            p = logps(m, ids)
            margin = (p[:pairs] - r[:pairs]) - (p[pairs:] - r[pairs:])
            loss = -torch.nn.functional.logsigmoid(0.1 * margin).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        s = timed(step, n)
        print(json.dumps({"impl": "torch-eager-bf16", "mode": "dpo", "s_per_step": s,
                          "pairs": pairs, "tokens_per_row": T}))
    elif cmd == "gen":
        m = load(d)
        m.eval()
        prompt = torch.randint(10, 49000, (B_GEN, 32), device="cuda", generator=g)

        def step():
            with torch.no_grad():
                m.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt),
                           do_sample=True, temperature=0.8, top_p=0.95, max_new_tokens=n,
                           min_new_tokens=n, pad_token_id=2)

        s = timed(step, 2)
        print(json.dumps({"impl": "transformers-generate-bf16", "mode": "gen",
                          "tokens_per_s": B_GEN * n / s, "batch": B_GEN, "new_tokens": n}))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
