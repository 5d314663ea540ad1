"""llama.cpp side of scripts/bench-llamacpp.sh (run with the llama-cpp-python venv's python).

  bench_llamacpp.py convert Q4_1.gguf OUT_DIR          # makes OUT_DIR/{f32,q8_0}.gguf (cached)
  bench_llamacpp.py run MODEL.gguf BATCH MAX_TOKENS PROMPT THREADS
  bench_llamacpp.py table RESULTS.jsonl                # prints the comparison table

`run` prints one JSON line shaped like ouro's bench_generate: tokens, seconds, tokens_per_s,
cpu_seconds, prompt_tokens, first. It uses llama.cpp's low-level C API through
llama-cpp-python's ctypes binding (no Llama wrapper, no EOS check):
  - one context with n_seq_max = BATCH, n_threads = n_threads_batch = THREADS;
  - the prompt is tokenized (inside the timed span, as ouro does) and prefilled for all BATCH
    sequences in one llama_batch (sequence ids 0..BATCH-1, logits for each last prompt token);
  - each step samples one token per sequence with its own sampler chain
    temp(0.8) -> top_p(0.95) -> dist(seed = sequence index) (no top-k, no penalties; the same
    order as ouro and transformers), then decodes the BATCH new tokens together in one
    llama_batch, one token per sequence id;
  - exactly MAX_TOKENS tokens are sampled per sequence: EOS is never checked;
  - a 4-token warm-up generation runs first and is not timed; the KV cache is cleared before
    each generation.
"""
import ctypes
import json
import os
import sys
import time

SAMPLING = dict(temperature=0.8, top_p=0.95)


def _quiet(L):
    # llama.cpp logs every tensor on load; keep stderr readable. Keep the callback alive.
    cb = L.llama_log_callback(lambda level, text, data: None)
    L.llama_log_set(cb, ctypes.c_void_p())
    return cb


def convert(src, out_dir):
    import llama_cpp as L

    os.makedirs(out_dir, exist_ok=True)
    keep = _quiet(L)
    L.llama_backend_init()
    out = {}
    for name, ftype in (("f32", L.LLAMA_FTYPE_ALL_F32), ("q8_0", L.LLAMA_FTYPE_MOSTLY_Q8_0)):
        dst = os.path.join(out_dir, f"{name}.gguf")
        if not os.path.exists(dst):
            p = L.llama_model_quantize_default_params()
            p.ftype = ftype
            p.allow_requantize = True
            p.nthread = 2
            rc = L.llama_model_quantize(src.encode(), (dst + ".part").encode(), ctypes.byref(p))
            if rc != 0:
                sys.exit(f"llama_model_quantize({name}) failed: {rc}")
            os.replace(dst + ".part", dst)
        out[name] = dst
    del keep
    print(json.dumps(out))


def run(path, batch, max_tokens, prompt, threads):
    import llama_cpp as L

    keep = _quiet(L)
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(path.encode(), mp)
    if not model:
        sys.exit(f"cannot load {path}")
    vocab = L.llama_model_get_vocab(model)

    def tokenize(text):
        raw = text.encode()
        buf = (L.llama_token * (len(raw) + 16))()
        # add_special=True: llama.cpp adds BOS only if the GGUF asks for it (SmolLM2's does not)
        n = L.llama_tokenize(vocab, raw, len(raw), buf, len(buf), True, False)
        assert n > 0, n
        return list(buf[:n])

    def detok(tokens):
        out = b""
        buf = ctypes.create_string_buffer(256)
        for t in tokens:
            n = L.llama_token_to_piece(vocab, t, buf, len(buf), 0, False)
            out += buf.raw[: max(n, 0)]
        return out.decode("utf-8", "replace")

    n_prompt = len(tokenize(prompt))
    per_seq = n_prompt + max_tokens + 16
    cp = L.llama_context_default_params()
    cp.n_seq_max = batch
    # without a unified KV cache every sequence gets n_ctx / n_seq_max cells
    cp.n_ctx = batch * ((per_seq + 255) // 256 * 256)
    cp.n_batch = max(512, batch * n_prompt)
    cp.n_ubatch = cp.n_batch
    cp.n_threads = threads
    cp.n_threads_batch = threads
    cp.no_perf = True
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        sys.exit("cannot create llama context")
    b = L.llama_batch_init(cp.n_batch, 0, 1)

    def put(k, tok, pos, seq, logits):
        b.token[k] = tok
        b.pos[k] = pos
        b.n_seq_id[k] = 1
        b.seq_id[k][0] = seq
        b.logits[k] = 1 if logits else 0

    def generate(n_new):
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        chains = []
        for s in range(batch):
            c = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
            L.llama_sampler_chain_add(c, L.llama_sampler_init_temp(SAMPLING["temperature"]))
            L.llama_sampler_chain_add(c, L.llama_sampler_init_top_p(SAMPLING["top_p"], 1))
            L.llama_sampler_chain_add(c, L.llama_sampler_init_dist(s))
            chains.append(c)
        toks = tokenize(prompt)
        p = len(toks)
        for s in range(batch):
            for i, t in enumerate(toks):
                put(s * p + i, t, i, s, i == p - 1)
        b.n_tokens = batch * p
        rc = L.llama_decode(ctx, b)
        assert rc == 0, f"llama_decode(prefill) = {rc}"
        rows = [s * p + p - 1 for s in range(batch)]
        out = [[] for _ in range(batch)]
        for step in range(n_new):
            new = [L.llama_sampler_sample(chains[s], ctx, rows[s]) for s in range(batch)]
            for s, t in enumerate(new):
                out[s].append(t)
            if step == n_new - 1:
                break
            for s, t in enumerate(new):
                put(s, t, p + step, s, True)
            b.n_tokens = batch
            rc = L.llama_decode(ctx, b)
            assert rc == 0, f"llama_decode(step {step}) = {rc}"
            rows = list(range(batch))
        for c in chains:
            L.llama_sampler_free(c)
        return out, p

    generate(4)  # warm-up, not timed
    c0, t0 = time.process_time(), time.perf_counter()
    out, p = generate(max_tokens)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = sum(len(o) for o in out)
    fa = L.llama_flash_attn_type_name(cp.flash_attn_type)
    print(json.dumps({"tokens": n, "seconds": secs, "tokens_per_s": n / secs, "cpu_seconds": cpu,
                      "prompt_tokens": p, "threads": threads,
                      "flash_attn_type": fa.decode() if fa else cp.flash_attn_type,
                      "first": detok(out[0])}))
    L.llama_batch_free(b)
    L.llama_free(ctx)
    L.llama_model_free(model)
    del keep


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by = {(r["engine"], r["batch"]): r for r in rows}
    batches = sorted({r["batch"] for r in rows})
    engines = ["ouro f32", "llama.cpp f32", "ouro q8", "llama.cpp Q8_0"]
    for bsz in batches:
        toks = {by[(e, bsz)]["tokens"] for e in engines if (e, bsz) in by}
        assert len(toks) == 1, f"unequal work at batch {bsz}: {toks}"
        prompts = {by[(e, bsz)]["prompt_tokens"] for e in engines if (e, bsz) in by}
        assert len(prompts) == 1, f"prompts tokenize differently at batch {bsz}: {prompts}"
    print(f"{'engine':<16}{'batch':>6}{'tokens':>8}{'prompt':>8}{'seconds':>9}{'tok/s':>9}"
          f"{'CPU s':>8}  note")
    for bsz in batches:
        for e in engines:
            r = by.get((e, bsz))
            if r is None:
                continue
            print(f"{e:<16}{bsz:>6}{r['tokens']:>8}{r['prompt_tokens']:>8}{r['seconds']:>9.3f}"
                  f"{r['tokens_per_s']:>9.1f}{(r.get('cpu_seconds') or 0):>8.2f}  {r.get('note', '')}")
    print()
    print("ratios of wall tokens/s, ouro/llama.cpp at the same precision (ouro q8 = "
          "`--sample-dtype q8`, Q8_0 blocks like llama.cpp's):")
    for bsz in batches:
        parts = []
        for mine, theirs in [("ouro f32", "llama.cpp f32"), ("ouro q8", "llama.cpp Q8_0")]:
            o, r = by.get((mine, bsz)), by.get((theirs, bsz))
            if o is None or r is None:
                continue
            cpu = ""
            if o.get("cpu_seconds") and r.get("cpu_seconds"):
                cpu = f", CPU-s/token llama.cpp/ouro {r['cpu_seconds'] / o['cpu_seconds']:.2f}x"
            parts.append(f"{mine.split()[1]}: {o['tokens_per_s'] / r['tokens_per_s']:.2f}x{cpu}")
        print(f"  batch {bsz}: " + "; ".join(parts))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "convert":
        convert(sys.argv[2], sys.argv[3])
    elif cmd == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    elif cmd == "table":
        table(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd}")
