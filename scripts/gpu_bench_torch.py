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
    python3 scripts/gpu_bench_torch.py trl-sft DIR STEPS  # TRL SFTTrainer, 8 x 512 tokens
    python3 scripts/gpu_bench_torch.py trl-dpo DIR STEPS  # TRL DPOTrainer, 4 pairs x 512
    python3 scripts/gpu_bench_torch.py cli-data DIR  # DIR/sft.jsonl, DIR/dpo.jsonl: TRL-format
                                                     # rows of the word-per-id tokenizer's words

Random weights give the same step time as trained ones; the hub cannot be
reached from the GPU machine. Prints one JSON line per command.

The eager rows hold the weights in bf16 (pure bf16, as a hand-written loop
would); the TRL rows load them in f32 and train with `bf16=True` (autocast
over f32 master weights, what a TRL user gets and what ouro does).

GPU_BENCH_TINY=1 is a dry run on the CPU: 2 layers of width 64 (same vocabulary
and rows), on `cpu`; its timings mean nothing, it only shows that every command
runs against the installed versions.
"""
import json
import os
import random
import sys
import time

try:
    import torch
except ImportError:  # `tokenizer` needs only the tokenizers package
    torch = None

TINY = os.environ.get("GPU_BENCH_TINY") == "1"
DEVICE = "cpu" if TINY else "cuda"
B_SFT, PAIRS, T, B_GEN = 8, 4, 512, 64
VOCAB = 49152


def config():
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64 if TINY else 576,
        intermediate_size=128 if TINY else 1536,
        num_hidden_layers=2 if TINY else 30,
        num_attention_heads=4 if TINY else 9,
        num_key_value_heads=2 if TINY else 3,
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
    return m.to(DEVICE)


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def median(times):
    times = sorted(times)
    return times[len(times) // 2]


def timed(step, steps):
    step()  # warm-up: kernels, allocator, cuBLAS handles
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return median(times)


def words(rng, n):
    """n random words of the one-word-per-id tokenizer (`rng` a random.Random): exactly n tokens."""
    return " ".join("t%d" % rng.randrange(10, VOCAB - 10) for _ in range(n))


def trl_run(d, steps, mode):
    """TRL's trainer on the same weights, loaded in f32 with `bf16=True`; the median
    of `steps` optimizer steps after one warm-up, from the callback's step begin to
    its step end with the GPU's queue drained (data loading is outside)."""
    import logging
    import tempfile
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast, TrainerCallback
    import trl

    class Timer(TrainerCallback):
        def __init__(self):
            self.times, self.t0 = [], None

        def on_step_begin(self, args, state, control, **kw):
            sync()
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            sync()
            self.times.append(time.perf_counter() - self.t0)

    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"),
                                  bos_token="t1", eos_token="t2", pad_token="t2", unk_token="t0")
    g = random.Random(1)
    common = dict(max_steps=steps + 1, logging_steps=10**6, save_strategy="no", report_to=[],
                  max_length=T, dataloader_num_workers=0, disable_tqdm=True, max_grad_norm=1.0,
                  bf16=True, use_cpu=DEVICE == "cpu",
                  optim="adamw_torch_fused" if DEVICE == "cuda" else "adamw_torch")
    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        if mode == "sft":
            # One prompt word and T - 2 completion words; the EOS TRL appends makes T tokens.
            rows = [{"prompt": words(g, 1), "completion": words(g, T - 2)} for _ in range(B_SFT * (steps + 2))]
            args = trl.SFTConfig(output_dir=out, per_device_train_batch_size=B_SFT, learning_rate=1e-5,
                                 completion_only_loss=False, **common)
            trainer = trl.SFTTrainer(model=load(d, torch.float32), args=args, train_dataset=Dataset.from_list(rows),
                                     processing_class=tok, callbacks=[timer])
        else:
            # 128 prompt words, 383 answer words + EOS: 512 tokens a side, as in gpu_step's
            # rows (and the eager row's length).
            a = 3 * T // 4 - 1
            rows = [{"prompt": words(g, T // 4), "chosen": words(g, a), "rejected": words(g, a)}
                    for _ in range(PAIRS * (steps + 2))]
            args = trl.DPOConfig(output_dir=out, per_device_train_batch_size=PAIRS, learning_rate=1e-6, **common)
            trainer = trl.DPOTrainer(model=load(d, torch.float32), ref_model=load(d, torch.float32), args=args,
                                     train_dataset=Dataset.from_list(rows), processing_class=tok, callbacks=[timer])
        trainer.train()
    if len(timer.times) != steps + 1:
        sys.exit("trl %s: %d steps timed, expected %d" % (mode, len(timer.times), steps + 1))
    return median(timer.times[1:]), trl.__version__


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    if cmd == "cli-data":
        rng = random.Random(0)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "sft.jsonl"), "w") as f:
            for _ in range(8):
                f.write(json.dumps({"prompt": words(rng, 16), "completion": words(rng, 48)}) + "\n")
        with open(os.path.join(d, "dpo.jsonl"), "w") as f:
            for _ in range(8):
                f.write(json.dumps({"prompt": words(rng, 16), "chosen": words(rng, 32), "rejected": words(rng, 32)}) + "\n")
        print(json.dumps({"cli-data": d}))
        return
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
    if cmd in ("trl-sft", "trl-dpo"):
        mode = cmd[4:]
        s, version = trl_run(d, n, mode)
        shape = {"tokens_per_step": B_SFT * T} if mode == "sft" else {"pairs": PAIRS, "tokens_per_row": T}
        print(json.dumps({"impl": "trl-%s-bf16-autocast" % mode, "mode": mode, "s_per_step": s,
                          "trl": version, **shape}))
        return
    g = torch.Generator(device=DEVICE).manual_seed(0)
    if cmd == "sft":
        m = load(d)
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-5, fused=DEVICE == "cuda")
        ids = torch.randint(10, VOCAB - 10, (B_SFT, T), device=DEVICE, generator=g)

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
        opt = torch.optim.AdamW(m.parameters(), lr=1e-6, fused=DEVICE == "cuda")
        pairs = PAIRS  # chosen rows, then rejected rows, stacked in one batch
        ids = torch.randint(10, VOCAB - 10, (2 * pairs, T), device=DEVICE, generator=g)

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
        prompt = torch.randint(10, VOCAB - 10, (B_GEN, 32), device=DEVICE, generator=g)

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
