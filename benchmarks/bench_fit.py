#!/usr/bin/env python3
"""Speed of the scaling-law fitter, as ratios against plain peers measured in the same run.

1. The 4,500-start fit (Hoffmann's grid, plus the law's built-in start) on the 240 Chinchilla runs:
   the batched L-BFGS with the Numba objective (the default), the same with the numpy objective, and
   the peer: one scipy L-BFGS-B run per start (analytic gradient, numpy objective), best kept, as in
   Epoch's notebook. Checks that both find the same optimum. Target: < 5 s on 2 cores.
2. 1,000 bootstrap refits (`validate.bootstrap.bootstrap_fit`, all cores), against the peer of one
   scipy L-BFGS-B run per refit start per replicate, timed on a few replicates and scaled to 1,000.
   Target: < 2 minutes.

    python benchmarks/bench_fit.py            # the full figures (quiet machine)
    python benchmarks/bench_fit.py --quick    # a smoke run: 450 starts, 50 refits

Prints a table (or one JSON object with --json). Exit code 1 when a full run misses a target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

DATA = REPO / ".." / "shared" / "data" / "chinchilla_svg_extracted.csv"


def load(quick: bool):
    from theory.laws import get_law
    from validate.fit_studies import default_design
    from validate.runs_io import load_runs

    law = get_law("chinchilla")
    if DATA.exists():
        runs = load_runs(DATA, need=("N", "D"), drop_highest_loss=5)
        return law, runs.inputs_for(law), runs.loss, "Chinchilla runs (240 after dropping 5)"
    design = default_design(law)  # 144 planted runs when the data file is absent
    y = law.evaluate(design, {"E": 1.82, "A": 480, "B": 2100, "alpha": 0.35, "beta": 0.37})
    y = y * np.exp(0.005 * np.random.default_rng(0).standard_normal(y.size))
    return law, design, y, f"planted runs ({y.size}; data file absent)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run on a small setting")
    ap.add_argument("--workers", type=int, default=0, help="bootstrap processes (0: one per core)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from validate.bootstrap import bootstrap_fit, default_workers, resample_counts
    from validate.fit import fit_law, make_objective, naive_multistart, scipy_polish, start_grid

    law, inputs, y, what = load(args.quick)
    obj_numpy, _ = make_objective(law, inputs, y, engine="numpy")
    grid, _ = start_grid(obj_numpy)
    if args.quick:
        grid = grid[np.random.default_rng(0).choice(len(grid), 450, replace=False)]
    n_boot = 50 if args.quick else 1000
    workers = args.workers or default_workers()

    # warm-up: compile (or load the cached) Numba kernel and lambdify outside the timings
    t = time.perf_counter()
    fit_law(law, inputs, y, starts=grid[:4])
    warm_s = time.perf_counter() - t

    t = time.perf_counter()
    fast = fit_law(law, inputs, y, starts=grid)
    fast_s = time.perf_counter() - t
    t = time.perf_counter()
    fast_np = fit_law(law, inputs, y, starts=grid, engine="numpy")
    numpy_s = time.perf_counter() - t
    t = time.perf_counter()
    naive = naive_multistart(obj_numpy, grid)
    naive_s = time.perf_counter() - t

    naive_params = obj_numpy.params_from_phi(naive.x)
    same_objective = abs(fast.objective - naive.fun) <= 1e-6 * abs(naive.fun)
    same_params = all(abs(fast.params[k] - naive_params[k]) <= 2e-3 * abs(naive_params[k]) for k in ("E", "alpha", "beta"))

    t = time.perf_counter()
    boot = bootstrap_fit(fast, inputs, y, n_bootstrap=n_boot, seed=0, workers=workers, compute=5.88e23)
    boot_s = time.perf_counter() - t
    # peer: one scipy run per refit start per replicate, on a few replicates, scaled
    starts = np.vstack([fast.refit_starts, fast.candidates])
    obj_sorted, _ = make_objective(law, inputs, y, engine="numpy")
    n_peer = 3 if args.quick else 10
    from threadpoolctl import threadpool_limits

    t = time.perf_counter()
    with threadpool_limits(limits=1):  # as the fitter does: tiny matrices, one BLAS thread
        for i in range(n_peer):
            W = resample_counts(obj_sorted.n_points, 0, i)
            min(scipy_polish(obj_sorted, s, W).fun for s in starts)
    peer_per_rep = (time.perf_counter() - t) / n_peer

    out = {
        "data": what,
        "n_points": int(np.asarray(y).size),
        "n_starts": int(len(grid)),
        "warmup_s": warm_s,
        "fit_batched_numba_s": fast_s,
        "fit_batched_numpy_s": numpy_s,
        "fit_naive_scipy_loop_s": naive_s,
        "ratio_naive_over_batched": naive_s / fast_s,
        "ratio_numpy_over_numba": numpy_s / fast_s,
        "objective_batched": fast.objective,
        "objective_naive": float(naive.fun),
        "same_optimum": bool(same_objective and same_params),
        "params_batched": fast.params,
        "params_naive": naive_params,
        "batched_numpy_objective": fast_np.objective,
        "bootstrap_refits": n_boot,
        "bootstrap_workers": workers,
        "bootstrap_s": boot_s,
        "bootstrap_failed": boot.n_failed,
        "bootstrap_refit_starts": int(len(starts)),
        "peer_bootstrap_s_per_refit": peer_per_rep,
        "ratio_peer_over_bootstrap": peer_per_rep * n_boot / boot_s,
        "cpu_count": os.cpu_count(),
        "quick": args.quick,
    }
    targets = {"fit under 5 s": fast_s < 5.0, "1,000 refits under 120 s": boot_s < 120.0, "same optimum as the peer": out["same_optimum"]}
    out["targets_met"] = targets
    if args.json:
        print(json.dumps(out))
    else:
        print(f"data: {what}; {len(grid)} starts")
        print(f"fit, batched L-BFGS, Numba objective : {fast_s:8.2f} s   (warm-up {warm_s:.2f} s)")
        print(f"fit, batched L-BFGS, numpy objective : {numpy_s:8.2f} s   ({numpy_s / fast_s:.1f}x the Numba time)")
        print(f"fit, scipy L-BFGS-B per start (peer)  : {naive_s:8.2f} s   ({naive_s / fast_s:.1f}x the batched time)")
        print(f"objective: batched {fast.objective:.10g}, peer {naive.fun:.10g}; same optimum: {out['same_optimum']}")
        print(f"bootstrap: {n_boot} refits on {workers} workers in {boot_s:.1f} s ({boot.n_failed} failed); "
              f"peer (scipy per start per refit) {peer_per_rep * n_boot:.1f} s by scaling {n_peer} refits: "
              f"{peer_per_rep * n_boot / boot_s:.1f}x")
        if not args.quick:
            print("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))
    return 0 if (args.quick or all(targets.values())) else 1


if __name__ == "__main__":
    sys.exit(main())
