#!/usr/bin/env python3
"""Reference values for ouro-train's parity tests, computed by TRL's own loss code.

Writes crates/ouro-train/tests/fixtures/trl_parity.json. The Rust tests compare against
that committed file, so CI needs no torch.

    python3 scripts/trl_fixtures.py          # builds scripts/.cache/trl-venv (torch + trl) on first use
    OURO_TRL_PYTHON=/path/to/python python3 scripts/trl_fixtures.py   # use an env that has them

Setup (tiny, deterministic): a bigram LM (embedding [V,D], head [D,V]; logits = E[ids] @ W)
with fixed weights. Per-token log-probs are computed the way TRL's fused LM head does
(log_softmax over the vocabulary, gathered at the shifted labels, 0 where the label is
-100), then fed to the real `SFTTrainer.compute_loss` and `DPOTrainer._compute_loss`
through a minimal stand-in for the trainer object. Gradients come from torch autograd.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/ouro-train/tests/fixtures/trl_parity.json"
VENV = ROOT / "scripts/.cache/trl-venv"


def ensure_env():
    try:
        import torch  # noqa: F401
        import trl  # noqa: F401
        return
    except ImportError:
        pass
    py = os.environ.get("OURO_TRL_PYTHON")
    if not py:
        if not (VENV / "bin/python").exists():
            subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
            subprocess.check_call([str(VENV / "bin/pip"), "install", "-q", "torch", "trl==1.16.0"])
        py = str(VENV / "bin/python")
    os.execv(py, [py, __file__, *sys.argv[1:]])


ensure_env()

import collections  # noqa: E402
import types  # noqa: E402

import torch  # noqa: E402
import trl  # noqa: E402
from trl.trainer.dpo_trainer import DPOTrainer  # noqa: E402
from trl.trainer.sft_trainer import SFTTrainer  # noqa: E402

torch.manual_seed(0)
V, D = 12, 6
PAD = 1


def weights():
    e = [0.5 * math.sin(0.3 + i * 0.7) for i in range(V * D)]
    w = [0.4 * math.cos(1.1 + i * 0.37) for i in range(D * V)]
    return e, w


class Bigram(torch.nn.Module):
    def __init__(self):
        super().__init__()
        e, w = weights()
        self.embed = torch.nn.Parameter(torch.tensor(e, dtype=torch.float32).reshape(V, D))
        self.head = torch.nn.Parameter(torch.tensor(w, dtype=torch.float32).reshape(D, V))

    def forward(self, input_ids, labels=None, fused_lm_head=True, **_):
        logits = self.embed[input_ids] @ self.head  # [B,T,V]
        lsm = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        shifted = labels[:, 1:]
        mask = shifted != -100
        safe = shifted.masked_fill(~mask, 0)
        log_probs = lsm.gather(-1, safe.unsqueeze(-1)).squeeze(-1) * mask
        probs = lsm.exp()
        entropy = -(probs * lsm).sum(-1) * mask
        is_top1 = (lsm.argmax(-1) == safe) & mask
        return types.SimpleNamespace(
            log_probs=log_probs,
            label_mask=mask,
            entropy=entropy,
            is_top1=is_top1,
            mean_logits=logits[:, :-1].mean(-1),
        )


class Acc:
    device = torch.device("cpu")
    parallelism_config = None
    num_processes = 1

    def gather_for_metrics(self, x):
        return x

    def gather(self, x):
        return x


def stub(**kw):
    s = types.SimpleNamespace(
        accelerator=Acc(),
        model=types.SimpleNamespace(training=True),
        aux_loss_enabled=False,
        compute_loss_func=None,
        label_smoother=None,
        _metrics={"train": collections.defaultdict(list), "eval": collections.defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
        get_tp_size=lambda: 1,
    )
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def grads(model):
    return {"embed": model.embed.grad.flatten().tolist(), "head": model.head.grad.flatten().tolist()}


def pad(rows, value):
    n = max(len(r) for r in rows)
    return [r + [value] * (n - len(r)) for r in rows]


# --- SFT -------------------------------------------------------------------------------
SFT_ROWS = [  # (prompt ids, completion ids, completion token weights)
    ([2, 3, 4], [5, 6, 7, 1], [1.0, 3.0, 3.0, 1.0]),
    ([8], [9, 10, 1], [0.5, 1.0, 1.0]),
    ([3, 11, 2, 2], [4, 1], [2.0, 1.0]),
]


def sft_case(weighted):
    model = Bigram()
    ids = pad([p + c for p, c, _ in SFT_ROWS], PAD)
    mask = pad([[0] * len(p) + [1] * len(c) for p, c, _ in SFT_ROWS], 0)
    w = pad([[0.0] * len(p) + ws for p, _, ws in SFT_ROWS], 0.0)
    input_ids = torch.tensor(ids)
    labels = input_ids.masked_fill(torch.tensor(mask) == 0, -100)
    # A step whose gradient accumulation spans more tokens than this micro-batch.
    num_items = int(sum(len(c) for _, c, _ in SFT_ROWS)) + 5
    if not weighted:
        s = stub(args=types.SimpleNamespace(loss_type="nll", average_tokens_across_devices=False))
        inputs = {"input_ids": input_ids, "attention_mask": (input_ids >= 0).long(), "labels": labels}
        loss = SFTTrainer.compute_loss(s, model, inputs, num_items_in_batch=torch.tensor(num_items))
    else:
        # TRL has no per-token weights; this is its formula with the token NLL weighted.
        out = model(input_ids, labels=labels)
        loss = -(out.log_probs * torch.tensor(w)[:, 1:]).sum() / num_items
    loss.backward()
    return {
        "rows": [{"prompt": p, "completion": c, "weights": ws} for p, c, ws in SFT_ROWS],
        "weighted": weighted,
        "num_items": num_items,
        "loss": loss.item(),
        "grads": grads(model),
    }


# --- DPO -------------------------------------------------------------------------------
DPO_ROWS = [  # (prompt, chosen, rejected)
    ([2, 3], [4, 5, 1], [6, 1]),
    ([7, 8, 9], [10, 1], [11, 4, 4, 1]),
    ([3], [5, 5, 6, 1], [2, 1]),
]
REF_CHOSEN = [-7.5, -5.0, -10.0]
REF_REJECTED = [-4.0, -11.0, -4.5]


def dpo_case(loss_type, beta, label_smoothing=0.0, rpo_alpha=None):
    model = Bigram()
    chosen = [p + c for p, c, _ in DPO_ROWS]
    rejected = [p + r for p, _, r in DPO_ROWS]
    cmask = [[0] * len(p) + [1] * len(c) for p, c, _ in DPO_ROWS]
    rmask = [[0] * len(p) + [1] * len(r) for p, _, r in DPO_ROWS]
    input_ids = torch.tensor(pad(chosen + rejected, PAD))
    attention = torch.tensor(pad([[1] * len(x) for x in chosen + rejected], 0))
    completion_mask = torch.tensor(pad(cmask + rmask, 0))
    loss_types = [loss_type] + (["sft"] if rpo_alpha is not None else [])
    loss_weights = [1.0] + ([rpo_alpha] if rpo_alpha is not None else [])
    s = stub(
        beta=beta,
        label_smoothing=label_smoothing,
        loss_types=loss_types,
        loss_weights=loss_weights,
        f_divergence_type="reverse_kl",
        ld_alpha=None,
        precompute_ref_logps=True,
        use_weighting=False,
    )
    inputs = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "completion_mask": completion_mask,
        "ref_chosen_logps": torch.tensor(REF_CHOSEN),
        "ref_rejected_logps": torch.tensor(REF_REJECTED),
    }
    loss = DPOTrainer._compute_loss(s, model, inputs, False)
    loss.backward()
    m = {k: v[-1] for k, v in s._metrics["train"].items() if "/" in k and k.split("/")[0] in ("rewards", "logps")}
    return {
        "loss_type": loss_type,
        "beta": beta,
        "label_smoothing": label_smoothing,
        "rpo_alpha": rpo_alpha,
        "loss": loss.item(),
        "grads": grads(model),
        "metrics": m,
    }


def main():
    e, w = weights()
    fixture = {
        "generator": "scripts/trl_fixtures.py",
        "torch": torch.__version__.split("+")[0],
        "trl": trl.__version__,
        "vocab": V,
        "dim": D,
        "pad_id": PAD,
        "embed": [float(torch.tensor(x, dtype=torch.float32)) for x in e],
        "head": [float(torch.tensor(x, dtype=torch.float32)) for x in w],
        "sft": [sft_case(False), sft_case(True)],
        "dpo_rows": [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in DPO_ROWS],
        "ref_chosen": REF_CHOSEN,
        "ref_rejected": REF_REJECTED,
        "dpo": [
            dpo_case("sigmoid", 0.5),
            dpo_case("ipo", 0.5),
            dpo_case("hinge", 0.3),
            dpo_case("robust", 0.5, label_smoothing=0.1),
            dpo_case("sigmoid", 0.5, rpo_alpha=0.7),
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} (torch {fixture['torch']}, trl {fixture['trl']})")


if __name__ == "__main__":
    main()
