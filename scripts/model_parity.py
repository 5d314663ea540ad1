#!/usr/bin/env python3
"""Parity between ouro-model and PyTorch/transformers on the same weights.

Writes small HF checkpoints (transformers' own `save_pretrained`) and the logits and
loss transformers computes for fixed inputs into crates/ouro-model/tests/fixtures/parity/.
The default Rust tests (crates/ouro-model/tests/parity.rs) load those directories with
ouro and compare, so CI needs no torch.

    python3 scripts/model_parity.py            # builds scripts/.cache/torch-venv on first use
    OURO_TORCH_PYTHON=/path/to/python python3 scripts/model_parity.py

The reverse direction (a checkpoint saved by ouro loads in AutoModelForCausalLM) is the
opt-in Rust test `ouro_checkpoint_loads_in_transformers`, which calls
`python scripts/model_parity.py --check-ouro DIR` with OURO_TORCH_PYTHON set.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/ouro-model/tests/fixtures/parity"
VENV = ROOT / "scripts/.cache/torch-venv"


def ensure_env():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        return
    except ImportError:
        pass
    py = os.environ.get("OURO_TORCH_PYTHON")
    if not py:
        if not (VENV / "bin/python").exists():
            subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
            subprocess.check_call([str(VENV / "bin/pip"), "install", "-q", "torch", "transformers", "safetensors"])
        py = str(VENV / "bin/python")
    os.execv(py, [py, __file__, *sys.argv[1:]])


ensure_env()

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config  # noqa: E402

torch.manual_seed(0)

COMMON = dict(
    vocab_size=61,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-5,
)

CASES = {
    # GQA, tied embeddings, llama3 rope scaling
    "llama_tied_gqa": lambda: LlamaConfig(
        **COMMON, tie_word_embeddings=True, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
    ),
    # q/k/v bias, untied head
    "qwen2_bias": lambda: Qwen2Config(**COMMON, tie_word_embeddings=False, rope_theta=1000000.0),
    # q/k norm, explicit head_dim
    "qwen3_qknorm": lambda: Qwen3Config(**COMMON, head_dim=16, tie_word_embeddings=False, rope_theta=10000.0),
}

IDS = [[5, 17, 3, 42, 8, 60, 1, 29, 11, 7], [0, 33, 33, 2, 59, 14, 25, 9, 48, 4]]


def perturb(model):
    # Default init leaves norms at 1 and biases at 0; make every tensor informative.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))


def expected(model, ids):
    x = torch.tensor(ids)
    with torch.no_grad():
        out = model(input_ids=x, labels=x)
    return {
        "input_ids": ids,
        "logits": out.logits.double().flatten().tolist(),
        "logits_shape": list(out.logits.shape),
        "loss": float(out.loss),
    }


def write_fixtures():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in CASES.items():
        cfg = make()
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32, attn_implementation="eager")
        perturb(model)
        model.eval()
        d = OUT / name
        model.save_pretrained(d, safe_serialization=True)
        (d / "expected.json").write_text(json.dumps(expected(model, IDS)))
        print(f"wrote {d}")


def check_ouro(path):
    """Loads an ouro-saved directory in transformers and compares with ouro's logits."""
    d = Path(path)
    exp = json.loads((d.parent / (d.name + ".expected.json")).read_text())
    model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(exp["input_ids"])).logits.double().flatten()
    ref = torch.tensor(exp["logits"], dtype=torch.float64)
    diff = (logits - ref).abs().max().item()
    print(f"max |transformers - ouro| = {diff:.3e}")
    sys.exit(0 if diff < 1e-4 else 1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check-ouro":
        check_ouro(sys.argv[2])
    else:
        write_fixtures()
