"""lm-evaluation-harness's `local-completions` client against `ouro serve`, without the Hub.

lm-eval's tasks download their data, so this calls the client the tasks would use directly:
log-likelihoods of three continuations of one stub (the correct one should score highest),
one `generate_until`, and one rolling log-likelihood.

    ouro serve --model RUN_DIR --port 8767 --served-model-name ouro &
    pip install lm_eval            # 0.4.13 was used; it imports torch and transformers
    python scripts/lmeval_check.py RUN_DIR/model [PORT] [NAME]
"""
import sys
from lm_eval.models.openai_completions import LocalCompletionsAPI
from lm_eval.api.instance import Instance

model_dir = sys.argv[1]
port = sys.argv[2] if len(sys.argv) > 2 else "8767"
name = sys.argv[3] if len(sys.argv) > 3 else "ouro"
lm = LocalCompletionsAPI(base_url=f"http://127.0.0.1:{port}/v1/completions", model=name,
                         tokenizer=model_dir, num_concurrent=1, max_retries=1, batch_size=4)
ctx = 'def count_even(xs):\n    """Return how many numbers in xs are even."""\n'
pairs = [(ctx, "    return len([x for x in xs if x % 2 == 0])\n"),
         (ctx, "    return 7\n"),
         (ctx, "    return len([x for x in xs if x % 3 == 1])\n")]
reqs = [Instance(request_type="loglikelihood", doc={}, arguments=p, idx=i) for i, p in enumerate(pairs)]
ll = lm.loglikelihood(reqs)
for p, r in zip(pairs, ll):
    print(f"{r[0]:9.3f} greedy={r[1]}  {p[1].strip()}")
gen = lm.generate_until([Instance(request_type="generate_until", doc={},
                                  arguments=(ctx, {"until": ["\ndef"], "max_gen_toks": 40}), idx=0)])
print("generate_until:", repr(gen[0]))
roll = lm.loglikelihood_rolling([Instance(request_type="loglikelihood_rolling", doc={},
                                          arguments=(ctx + pairs[0][1],), idx=0)])
print("rolling:", roll)
