#!/usr/bin/env python3
"""PyTorch / TRL side of scripts/bench-train.sh: s/step of the same 16M-parameter
Llama configuration (vocab 4096, d=384, 8 layers, 6 heads, MLP 1024, tied embeddings),
fp32 on CPU, random tokens.

    python scripts/trl_bench.py torch 6    # plain loop: forward, loss, backward, clip, AdamW
    python scripts/trl_bench.py sft 6      # TRL SFTTrainer, 4 x 256 tokens per step
    python scripts/trl_bench.py dpo 6      # TRL DPOTrainer, 2 pairs x 256 tokens per step

Prints one JSON line.
"""
import json
import logging
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback  # noqa: E402

V, T = 4096, 256


def model():
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=V,
        hidden_size=384,
        intermediate_size=1024,
        num_hidden_layers=8,
        num_attention_heads=6,
        num_key_value_heads=6,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    m = LlamaForCausalLM(cfg)
    m.config._attn_implementation = "sdpa"
    return m


def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(V)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t3"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="t0", eos_token="t1", bos_token="t2", unk_token="t3")


def text(g, n):
    return " ".join(f"t{int(x)}" for x in torch.randint(10, V, (n,), generator=g))


class Timer(TrainerCallback):
    def __init__(self):
        self.times, self.t0 = [], None

    def on_step_begin(self, args, state, control, **kw):
        self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self.t0)


def median_after_first(times):
    t = sorted(times[1:]) or times
    return t[len(t) // 2]


def plain(steps):
    m = model()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    ids = torch.randint(10, V, (4, T))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return median_after_first(times)


def sft(steps):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    g = torch.Generator().manual_seed(1)
    # 255 words + EOS = 256 tokens per row
    ds = Dataset.from_list([{"prompt": text(g, 1), "completion": text(g, 254)} for _ in range(64)])
    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out, per_device_train_batch_size=4, max_steps=steps, learning_rate=1e-4,
            logging_steps=1000, save_strategy="no", report_to=[], use_cpu=True, max_length=T,
            dataloader_num_workers=0, disable_tqdm=True, completion_only_loss=False,
        )
        SFTTrainer(model=model(), args=args, train_dataset=ds, processing_class=tokenizer(), callbacks=[timer]).train()
    return median_after_first(timer.times)


def dpo(steps):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    g = torch.Generator().manual_seed(2)
    ds = Dataset.from_list(
        [{"prompt": text(g, 128), "chosen": text(g, 127), "rejected": text(g, 127)} for _ in range(16)]
    )
    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(
            output_dir=out, per_device_train_batch_size=2, max_steps=steps, learning_rate=1e-6,
            logging_steps=1000, save_strategy="no", report_to=[], use_cpu=True, max_length=T,
            dataloader_num_workers=0, disable_tqdm=True,
        )
        DPOTrainer(model=model(), ref_model=model(), args=args, train_dataset=ds, processing_class=tokenizer(), callbacks=[timer]).train()
    return median_after_first(timer.times)


if __name__ == "__main__":
    mode = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    s = {"torch": plain, "sft": sft, "dpo": dpo}[mode](steps)
    n = sum(p.numel() for p in model().parameters())
    print(json.dumps({"impl": {"torch": "torch", "sft": "trl-sft", "dpo": "trl-dpo"}[mode], "params": n,
                      "threads": torch.get_num_threads(), "s_per_step": s}))
