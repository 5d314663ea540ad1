#!/usr/bin/env python3
"""Writes the ranker parity fixtures of ouro-rank.

Re-implements the public reference formulas with numpy (and scipy's betaln,
exactly as ZJU-CTAG/B4 `strategy.py` does) on seeded random pass matrices,
and writes per-row scores to crates/ouro-rank/tests/fixtures/rankers.json.
The Rust test `tests/ranker_parity.rs` reads that file; CI needs no numpy.

References re-implemented here:
- CodeT / B4: `strategy.py` of https://github.com/ZJU-CTAG/B4 (functions
  `CodeT` and `B4`; group scores expanded to one score per row).
- CodeDPO-style PageRank: the iteration documented in
  `ouro_rank::rankers::PageRankOptions` (CodeDPO publishes the update rule,
  not code), written here independently in matrix form.

Usage: python3 scripts/ranker_fixtures.py [--out PATH] [--seed N]
Requires numpy and scipy (pip install numpy scipy).
"""

import argparse
import json
import os
from collections import Counter

import numpy as np
import scipy.special as sc


def bernoulli_with_beta_prior(n1, n, alpha=1, beta=1):
    return sc.betaln(n1 + alpha, n - n1 + beta)


def b4_groups(E, beta_0, alpha_xy):
    """Same semantics as B4's strategy.B4: list of (rows, log posterior)."""
    layouts = [tuple(E[i, :].tolist()) for i in range(len(E))]
    out = []
    for layout in Counter(layouts):
        pred_y = np.asarray(layout)
        pred_x = np.zeros(len(E))
        cur = []
        for i in range(len(E)):
            if tuple(E[i].tolist()) == layout:
                pred_x[i] = 1
                cur.append(i)
        py = bernoulli_with_beta_prior(np.sum(pred_y), len(pred_y), alpha=alpha_xy)
        px = bernoulli_with_beta_prior(np.sum(pred_x), len(pred_x), alpha=alpha_xy)
        E1 = E[pred_x == 0][:, pred_y == 1]
        p1 = bernoulli_with_beta_prior(np.sum(E1), E1.shape[0] * E1.shape[1])
        E0 = E[pred_x == 0][:, pred_y == 0]
        p0 = bernoulli_with_beta_prior(np.sum(E0), E0.shape[0] * E0.shape[1], beta=beta_0)
        out.append((cur, float(px + py + p1 + p0)))
    return out


def codet_groups(E):
    """Same semantics as B4's strategy.CodeT."""
    layouts = [tuple(E[i, :].tolist()) for i in range(len(E))]
    counter = Counter(layouts)
    out = []
    for layout in counter:
        cur = [i for i in range(len(E)) if tuple(E[i].tolist()) == layout]
        out.append((cur, float(sum(layout) * (counter[layout] ** 0.5))))
    return out


def expand(groups, n):
    scores = [None] * n
    for rows, s in groups:
        for i in rows:
            scores[i] = s
    return scores


def pagerank(E, d, max_iter, tol):
    n, m = E.shape
    c = np.full(n, 1.0 / n)
    t = np.full(m, 1.0 / m)
    it = 0
    converged = False

    def norm(v):
        s = v.sum()
        return v / s if s > 0 else np.full(len(v), 1.0 / len(v))

    while it < max_iter:
        c2 = norm((1 - d) * c + d * (E @ t))
        t2 = norm((1 - d) * t + d * (E.T @ c))
        delta = max(np.abs(c2 - c).max(), np.abs(t2 - t).max())
        c, t = c2, t2
        it += 1
        if delta < tol:
            converged = True
            break
    return c.tolist(), t.tolist(), it, converged


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "crates", "ouro-rank", "tests", "fixtures", "rankers.json"))
    ap.add_argument("--seed", type=int, default=20241122)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cases = []
    shapes = [(1, 1), (2, 3), (5, 4), (8, 8), (12, 5), (20, 10), (30, 6), (40, 15)]
    for k, (n, m) in enumerate(shapes * 3):
        # Planted structure: a block of "correct" rows sharing one pattern
        # plus noise, so groups of several sizes occur.
        p = rng.uniform(0.2, 0.8)
        E = (rng.random((n, m)) < p).astype(np.int64)
        good = rng.random(m) < 0.7
        for i in range(n):
            if rng.random() < 0.35:
                E[i] = good
        case = {
            "name": f"random-{k}-{n}x{m}",
            "rows": E.tolist(),
            "pass_rate": (E.sum(axis=1) / m).tolist(),
            "codet": expand(codet_groups(E), n),
            "b4": {},
            "pagerank": [],
        }
        for beta0 in (1e4, 1e5, 1e6):
            case["b4"][f"{beta0:g}"] = expand(b4_groups(E, beta0, 1e3), n)
        for d, iters, tol in ((0.85, 100, 1e-9), (0.5, 3, 0.0), (0.95, 1000, 1e-12)):
            c, t, it, conv = pagerank(E.astype(np.float64), d, iters, tol)
            case["pagerank"].append(
                {"damping": d, "max_iterations": iters, "tolerance": tol,
                 "code": c, "tests": t, "iterations": it, "converged": conv}
            )
        cases.append(case)
    doc = {
        "generator": "scripts/ranker_fixtures.py",
        "seed": args.seed,
        "numpy": np.__version__,
        "scipy": __import__("scipy").__version__,
        "alpha": 1e3,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, args.out)
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
