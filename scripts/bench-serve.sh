#!/usr/bin/env bash
# `ouro serve` under mixed load: how long a short request waits when it arrives while a long
# one decodes. With continuous batching it joins the rows in flight at the next decode step;
# a server that decodes each batch to the end makes it wait for the long one.
#
# Same for every binary measured: SmolLM2-135M-Instruct (f32, imported from the Q4_1 GGUF),
# THREADS (default 2) rayon threads, greedy decoding (so every binary decodes the same tokens;
# the long request's token count is printed, since EOS can end it before LONG). Per round: one
# long request (up to LONG tokens, default 256) is sent, then after it has run for 1 s, SHORT requests
# (default 4) of 8 tokens each, one after another; printed are the long request's wall time
# and the short ones' mean and worst latency. ROUNDS (default 3) rounds; the medians are
# printed.
#
# Then one scoring round (SCORE prompts, default 64, of about 150 tokens each; SCORE=0 skips
# it): a streamed long request, and 1 s into it one `echo` request that scores all SCORE
# prompts, as lm-evaluation-harness's log-likelihood tasks send. Printed are the stream's
# longest wait for a token while the prompts are scored, and the scoring request's wall time.
# Then the same prompts alone in lm-evaluation-harness's shape (`echo`, `max_tokens: 1`,
# `logprobs: 1`), timed: best of two. Last, a long prompt joining: a streamed long request
# and, 1 s in, a 4-token request whose prompt is the first 12 of those prompts joined (about
# 2,100 tokens at the default SCORE); printed are its token count, the stream's longest wait
# for a token and the newcomer's latency.
#
#   scripts/bench-serve.sh [OTHER_OURO_BINARY]
#   SERVE_ARGS="--chunk-tokens 2048" ROUNDS=1 scripts/bench-serve.sh   (flags for every server)
# With a second binary (e.g. one built before continuous batching), both are measured in the
# same run, one after the other, and the short requests' latency ratio is printed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
threads="${THREADS:-2}"
gguf="$(scripts/fetch-smollm2.sh)"
hf="$root/scripts/.cache/smollm2/hf"
cargo build --release -q -p ouro-cli
[ -f "$hf/model.safetensors" ] || target/release/ouro model import-gguf "$gguf" --out "$hf"
bins=("$root/target/release/ouro")
[ $# -ge 1 ] && bins+=("$1")

python3 - "$hf" "$threads" "${LONG:-256}" "${SHORT:-4}" "${ROUNDS:-3}" "${SCORE:-64}" "${bins[@]}" <<'PY'
import json, os, socket, statistics, subprocess, sys, threading, time, urllib.request

hf, threads, long_n, short_k, rounds, score_k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
bins = sys.argv[7:]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=600)


def complete(port, prompt, n):
    t0 = time.perf_counter()
    with post(port, {"prompt": prompt, "max_tokens": n, "temperature": 0}) as r:
        answer = json.load(r)
    return time.perf_counter() - t0, answer["usage"]["completion_tokens"]


def scoring_round(port):
    """The stream's longest wait while SCORE prompts are scored beside it, the scoring
    request's time and token count, the same prompts alone in lm-eval's shape, and the
    joining round."""
    body = ("    total = 0\n    for x in xs:\n        if x <= {i} and x % 3 != 1:\n"
            "            total += x * x - {i}\n")
    prompts = [f"def f_{i}(xs):\n    \"\"\"Return the sum of the squares of xs, skipping values "
               f"above {i}.\"\"\"\n" + body.format(i=i) * 4 + "    return total\n"
               for i in range(score_k)]
    out = {}

    def score():
        with post(port, {"prompt": prompts, "max_tokens": 0, "echo": True, "logprobs": 0}) as r:
            out["answer"] = json.load(r)

    gap, wall = streamed_beside(port, score)
    assert len(out["answer"]["choices"]) == score_k
    tokens = sum(len(c["logprobs"]["tokens"]) for c in out["answer"]["choices"])
    alone = []
    for _ in range(2):
        t0 = time.perf_counter()
        with post(port, {"prompt": prompts, "max_tokens": 1, "echo": True, "logprobs": 1,
                         "temperature": 0}) as r:
            assert len(json.load(r)["choices"]) == score_k
        alone.append(time.perf_counter() - t0)
    return gap, wall, tokens, min(alone), joining(port, prompts)


def streamed_beside(port, action):
    """Runs `action` 1 s into a streamed long request; the stream's longest wait for a
    token while it ran, and how long it took."""
    arrivals = []

    def stream():
        with post(port, {"prompt": "def fibonacci(n):", "max_tokens": long_n, "temperature": 0,
                         "stream": True}) as r:
            for line in r:
                if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                    arrivals.append(time.perf_counter())

    t = threading.Thread(target=stream)
    t.start()
    time.sleep(1.0)
    sent = time.perf_counter()
    action()
    answered = time.perf_counter()
    t.join()
    during = [b - a for a, b in zip(arrivals, arrivals[1:]) if b > sent and a < answered]
    return max(during, default=answered - sent), answered - sent


def joining(port, prompts):
    usage = {}

    def ask():
        with post(port, {"prompt": "".join(prompts[:12]), "max_tokens": 4, "temperature": 0}) as r:
            usage.update(json.load(r)["usage"])
        assert usage["completion_tokens"] == 4

    gap, wall = streamed_beside(port, ask)
    return gap, wall, usage["prompt_tokens"]


def measure(binary):
    port = free_port()
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    server = subprocess.Popen([binary, "serve", "--model", hf, "--port", str(port)]
                              + os.environ.get("SERVE_ARGS", "").split(), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        complete(port, "def f(x):", 4)  # warm-up
        longs, shorts = [], []
        for _ in range(rounds):
            out = {}
            t = threading.Thread(target=lambda: out.update(r=complete(port, "def fibonacci(n):", long_n)))
            t.start()
            time.sleep(1.0)
            lat = []
            for i in range(short_k):
                secs, n = complete(port, f"def add_{i}(a, b):", 8)
                assert n == 8, n
                lat.append(secs)
            t.join()
            secs, n = out["r"]
            longs.append((secs, n))
            shorts.append((statistics.mean(lat), max(lat)))
        scored = scoring_round(port) if score_k else None
        return (statistics.median(s for s, _ in longs), min(n for _, n in longs),
                statistics.median(s[0] for s in shorts),
                statistics.median(s[1] for s in shorts)), scored
    finally:
        server.terminate()
        server.wait()


print(f"SmolLM2-135M f32, {threads} threads, greedy; per round 1 request of {long_n} tokens, then after 1 s "
      f"{short_k} requests of 8 tokens one after another; medians of {rounds} rounds")
results, gaps, lmeval = [], [], []
for b in bins:
    (long_s, long_n_got, mean_s, worst_s), scored = measure(b)
    results.append(mean_s)
    print(f"{b}: long request {long_s:.2f} s (at least {long_n_got} tokens); "
          f"short requests mean {mean_s:.3f} s, worst {worst_s:.3f} s")
    if scored:
        gap, wall, tokens, alone, (join_gap, join_s, join_tokens) = scored
        gaps.append(gap)
        lmeval.append(alone)
        print(f"{b}: scoring {score_k} prompts ({tokens} tokens) took {wall:.2f} s; the stream's "
              f"longest wait for a token meanwhile {gap:.2f} s; alone as lm-eval asks "
              f"(max_tokens 1): {alone:.2f} s")
        print(f"{b}: a {join_tokens}-token prompt joining took {join_s:.2f} s; the stream's longest "
              f"wait for a token meanwhile {join_gap:.2f} s")
if len(results) == 2:
    print(f"short-request latency, {bins[1]} / {bins[0]}: {results[1] / results[0]:.1f}x")
if len(lmeval) == 2:
    print(f"lm-eval-shaped scoring time, {bins[1]} / {bins[0]}: {lmeval[1] / lmeval[0]:.2f}x")
if len(gaps) == 2:
    print(f"stream's longest wait while scoring, {bins[1]} / {bins[0]}: {gaps[1] / gaps[0]:.1f}x")
PY
