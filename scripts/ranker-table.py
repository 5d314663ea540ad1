#!/usr/bin/env python3
"""How the ranker changes a round's data when it scores tests other than the labels.

Re-executes one round of an `ouro run` directory with the audit suite too
(`ouro execute --audit`), then builds `sft` (keep 2 per problem) and `dpo`
(correctness pairs) once on the filter suite alone and once per ranker on
the audit tests (`--ranking-suite audit`), and prints for each: rows, how
many selections differ from the filter-only build, and the share of chosen
programs that fail the audit tests (false positives the labels let through).

    .venv/bin/python scripts/ranker-table.py runs/quickstart 3 [OURO]
"""
import glob
import os
import subprocess
import sys
import tempfile

import pyarrow.parquet as pq


def rows(path):
    out = []
    for f in sorted(glob.glob(os.path.join(path, "*.parquet"))):
        out.extend(pq.read_table(f).to_pylist())
    return out


def main(run, rnd, ouro):
    problems = os.path.join(run, "round-00", "problems")
    rd = os.path.join(run, f"round-{int(rnd):02d}")
    base = os.path.join(rd, "all") if os.path.isdir(os.path.join(rd, "all")) else rd
    samples = os.path.join(base, "samples")
    tmp = tempfile.mkdtemp(prefix="ranker-table-")
    execs = os.path.join(tmp, "executions")
    subprocess.run([ouro, "-q", "execute", "--problems", problems, "--samples", samples,
                    "--out", execs, "--audit"], check=True)
    failed_audit = {e["sample_id"] for e in rows(execs)
                    if e["suite"] == "audit" and e["verdict"] != "pass"}
    arms = [("filter only", [])] + [
        (r, ["--ranker", r, "--ranking-executions", execs, "--ranking-suite", "audit"])
        for r in ["pass_rate", "codet", "pagerank", "b4"]
    ]
    base_sft, base_dpo = {}, {}
    print("| ranker | scores | SFT rows | SFT rows failing audit | problems whose SFT rows change | correctness pairs | chosen failing audit | problems whose chosen change |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, extra in arms:
        out = os.path.join(tmp, name.replace(" ", "-"))
        common = ["--problems", problems, "--samples", samples, "--executions", execs, "--out", out] + extra
        subprocess.run([ouro, "-q", "build", "sft", "--budget", "uniform:2", "--max-per-problem", "2"] + common,
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([ouro, "-q", "build", "dpo", "--pair-kinds", "correctness"] + common,
                       check=True, stdout=subprocess.DEVNULL)
        sft = [r for r in rows(os.path.join(out, "sft")) if r.get("sample_id")]
        dpo = rows(os.path.join(out, "dpo"))
        by_sft, by_dpo = {}, {}
        for r in sft:
            by_sft.setdefault(r["problem_id"], set()).add(r["sample_id"])
        for r in dpo:
            by_dpo.setdefault(r["problem_id"], set()).add(r["chosen_sample_id"])
        if not extra:
            base_sft, base_dpo = by_sft, by_dpo
        sft_changed = sum(1 for p, v in by_sft.items() if base_sft.get(p, set()) != v)
        dpo_changed = sum(1 for p, v in by_dpo.items() if base_dpo.get(p, set()) != v)
        sft_fp = sum(r["sample_id"] in failed_audit for r in sft)
        dpo_fp = sum(r["chosen_sample_id"] in failed_audit for r in dpo)
        pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "n/a"
        scores = "filter tests (every pass ties)" if not extra else "audit tests"
        print(f"| {name} | {scores} | {len(sft)} | {sft_fp} ({pct(sft_fp, len(sft))}) | {sft_changed} | "
              f"{len(dpo)} | {dpo_fp} ({pct(dpo_fp, len(dpo))}) | {dpo_changed} |", flush=True)

if __name__ == "__main__":
    run = sys.argv[1] if len(sys.argv) > 1 else "runs/quickstart"
    rnd = sys.argv[2] if len(sys.argv) > 2 else "3"
    ouro = sys.argv[3] if len(sys.argv) > 3 else "target/release/ouro"
    main(run, rnd, ouro)
