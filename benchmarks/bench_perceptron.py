#!/usr/bin/env python3
"""Speed of the exact maximum-margin solver (sim/perceptron.py) and of the pruning theory, as ratios.

1. Solver (issue 7 target: a maximum-margin fit at N = 400, P = 4000 "well under a second on one
   core"): unpruned teacher–student data (the hardest case for the solver: about N support vectors),
   BLAS held to one thread.
   - this project: `max_margin` (interior point, then an exact solve on the support set certified by
     the KKT conditions);
   - peer 1: scipy.optimize.nnls on the non-negative least-squares form of REFERENCES.md §5 (exact;
     the reference the tests use);
   - peer 2: scikit-learn's LinearSVC (liblinear's dual coordinate descent, hinge loss, no intercept,
     C = 1e4, tol 1e-6, 20,000 iterations): the method the issue suggested; it is not exact for the
     hard margin, and its distance from the exact w is reported beside its time.
   Each arm is timed ``--repeats`` times, alternating, best time counts.
2. Theory: the learning curve of `predict pruning` at 20 values of α_tot for a probe at 20° (the
   two-dimensional maximisation), and a perfect-probe one; no peer (no public code implements it).

Run on a quiet machine. ``--quick`` is a small smoke version (N = 100, P = 1000; the target does
not apply).

    python benchmarks/bench_perceptron.py [--quick] [--N 400] [--P 4000] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_solver(N: int, P: int, repeats: int, seed: int = 0) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    from sim.perceptron import PerceptronConfig, max_margin, max_margin_nnls, pruned_dataset

    data = pruned_dataset(PerceptronConfig(N=N, alpha_tot=P / N, keep=1.0, seed=seed))
    xi = data.xi
    X = xi  # LinearSVC sees the rows y·x with label +1 and their negatives with label −1 (same problem)
    Xs = np.vstack([X, -X])
    ys = np.concatenate([np.ones(len(X)), -np.ones(len(X))])
    max_margin(xi[: min(50, P)])  # warm the imports

    arms = {
        "max_margin (this project)": lambda: max_margin(xi).w,
        "scipy nnls (exact peer)": lambda: max_margin_nnls(xi),
        "LinearSVC dual CD (C=1e4)": lambda: LinearSVC(C=1e4, loss="hinge", fit_intercept=False, dual=True,
                                                       tol=1e-6, max_iter=20000).fit(Xs, ys).coef_.ravel(),
    }
    best = {k: math.inf for k in arms}
    outs = {}
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(repeats):
            for name, fn in arms.items():
                t, w = _timed(fn)
                best[name] = min(best[name], t)
                outs[name] = w
    w_exact = outs["max_margin (this project)"]
    ours = best["max_margin (this project)"]
    rows = []
    for name in arms:
        w = outs[name]
        rows.append({
            "arm": name, "seconds": best[name], "ratio_to_ours": best[name] / ours,
            "rel_w_error": float(np.linalg.norm(w / np.linalg.norm(w) - w_exact / np.linalg.norm(w_exact))),
            "min_margin_scaled": float((xi @ w).min() / np.linalg.norm(w) * np.linalg.norm(w_exact)),
        })
    return {"N": N, "P": P, "seconds": ours, "target_seconds": 1.0, "meets_target": ours < 1.0, "arms": rows}


def bench_theory() -> dict:
    from theory import pruning

    alphas = np.geomspace(1, 100, 20).tolist()
    out = {}
    for label, theta in (("probe 20° (2-D maximisation)", 20.0), ("perfect probe (1-D)", 0.0)):
        pruning.KeptFieldQuadrature.build.cache_clear()
        t, _ = _timed(lambda: pruning.predict(alphas, 0.3, theta, "hard"))
        out[label] = {"points": len(alphas), "seconds": t, "ms_per_point": 1000 * t / len(alphas)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--N", type=int, default=400)
    ap.add_argument("--P", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    N, P = (100, 1000) if args.quick else (args.N, args.P)
    report = {"solver": bench_solver(N, P, 1 if args.quick else args.repeats), "theory": bench_theory(),
              "quick": args.quick}
    if args.json:
        print(json.dumps(report))
        return 0
    s = report["solver"]
    print(f"max-margin fit, N = {N}, P = {P}, one BLAS thread:")
    for r in s["arms"]:
        print(f"  {r['arm']:<28} {r['seconds']:8.3f} s   x{r['ratio_to_ours']:7.1f}   "
              f"|ŵ − ŵ_exact| = {r['rel_w_error']:.1e}   scaled min margin {r['min_margin_scaled']:.4f}")
    if not args.quick:
        print(f"  target < 1 s on one core: {'met' if s['meets_target'] else 'NOT met'} ({s['seconds']:.3f} s)")
    for label, t in report["theory"].items():
        print(f"theory, {label}: {t['points']} points in {t['seconds']:.2f} s ({t['ms_per_point']:.0f} ms a point)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
