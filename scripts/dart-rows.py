#!/usr/bin/env python3
"""SFT rows per problem by failure rate, per round of an `ouro run` directory.

DART-Math's claim is that hard problems get more training rows. For each
round this prints, per bucket of the problem's failure rate over the round's
attempts (filter suite; every resampling batch included), how many problems
there are and their mean SFT rows.

    .venv/bin/python scripts/dart-rows.py runs/quickstart
"""
import glob
import os
import sys
from collections import Counter, defaultdict

import pyarrow.parquet as pq


def table(path):
    files = sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))
    rows = []
    for f in files:
        if "/_" in f:
            continue
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def main(run):
    buckets = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0), (1.0, 1.01)]
    for rd in sorted(glob.glob(os.path.join(run, "round-*"))):
        if rd.endswith("round-00"):
            continue
        base = os.path.join(rd, "all") if os.path.isdir(os.path.join(rd, "all")) else rd
        samples = table(os.path.join(base, "samples"))
        execs = table(os.path.join(base, "executions"))
        passed = {e["sample_id"] for e in execs if e["suite"] == "filter" and e["verdict"] == "pass"}
        attempts, passes = Counter(), Counter()
        distinct = defaultdict(set)
        for s in samples:
            attempts[s["problem_id"]] += 1
            ok = s["sample_id"] in passed
            passes[s["problem_id"]] += ok
            if ok and s["code"] is not None:
                distinct[s["problem_id"]].add("".join(s["code"].split()))
        rows = Counter(r["problem_id"] for r in table(os.path.join(rd, "dataset", "sft")))
        by = defaultdict(list)
        extra = defaultdict(list)
        for p, n in attempts.items():
            f = 1 - passes[p] / n
            for lo, hi in buckets:
                if lo <= f < hi:
                    by[(lo, hi)].append(rows[p])
                    extra[(lo, hi)].append((n, passes[p], len(distinct[p])))
        print(f"{os.path.basename(rd)}: {len(samples)} attempts at {len(attempts)} problems, {sum(rows.values())} SFT rows")
        for lo, hi in buckets:
            v = by[(lo, hi)]
            label = "1.0 (unsolved)" if lo == 1.0 else f"[{lo:.2f}, {min(hi, 1.0):.2f})"
            mean = sum(v) / len(v) if v else float("nan")
            e = extra[(lo, hi)]
            m = lambda i: sum(x[i] for x in e) / len(e) if e else float("nan")
            print(f"  fail rate {label:<15} problems {len(v):>5}  mean SFT rows {mean:.2f}"
                  f"  (attempts {m(0):.1f}, passing {m(1):.1f}, distinct passing programs {m(2):.2f})")
        solved_hard = [r for (lo, hi), v in by.items() if lo >= 0.75 and lo < 1.0 for r in v]
        if solved_hard:
            print(f"  fail rate >= 0.75 and solved: mean SFT rows {sum(solved_hard) / len(solved_hard):.2f} over {len(solved_hard)} problems")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/quickstart")
