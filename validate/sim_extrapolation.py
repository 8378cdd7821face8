"""Extrapolation tests on the project's own simulators: sweep runs, fit below a compute cut-off, predict
the held-out runs 4-16x above it (`validate.extrapolation.extrapolation_test`).

Two designs, each a sweep of the results store (`validate.sweep.run_sweep`, `validate.store.Store`), so
runs are committed as they finish and a rerun with the same ``--store`` reuses them (resumable):

- **rf** (sim/rf.py, ridge random-feature regression on power-law data, REFERENCES.md §7): one run is
  one seed's loss surface over nested feature counts N and sample sizes P; every (seed, N, P) cell is
  a point (N = features, D = P). The test loss is against the clean target (no label noise), so the
  irreducible loss is 0 and the law's E should come out near 0. The ridge λ = 0.1 damps the
  interpolation peak at N ≈ P that a two-term law cannot describe.
- **transformer** (sim/transformer, byte-level GPT on the `stdlib` text corpus): widths d_model ×
  token budgets, N = non-embedding parameters (Kaplan et al. 2020 §2.1 found the cleanest laws in
  them), D = training tokens (bytes), loss = final validation loss in nats per byte. The peak
  learning rate follows a stated width rule, lr = 1e-2 · sqrt(16/d_model) (narrow models take larger
  steps), with a cosine schedule, as a fixed rule rather than tuned per run.

Compute is the training-FLOP convention of `validate.runs_io`, C = 6 N D (for the random-feature runs
a proxy: feature-sample products, not the ridge solver's FLOPs). The cut-off defaults to the largest
compute / 16, so the held-out runs are those with 4 x cut-off <= C <= 16 x cut-off; the law fitted is
the Chinchilla form L = E + A/N^alpha + B/D^beta (Hoffmann/Epoch fit, `validate.fit`).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from theory.errors import InputError

SIMULATORS = ("rf", "transformer")
HOLDOUT_MIN_FACTOR, HOLDOUT_MAX_FACTOR = 4.0, 16.0


def _pow2(lo: int, hi: int) -> list[int]:
    return [2 ** k for k in range(int(math.log2(lo)), int(math.log2(hi)) + 1)]


def design(simulator: str, quick: bool = False) -> dict:
    """The sweep design (plain data, recorded with the result): seeds, the grid, per-width options."""
    if simulator == "rf":  # quick: one seed of the full grid
        return {"seeds": [0] if quick else [0, 1, 2, 3, 4, 5],
                "grid": {"features": _pow2(32, 1024), "P": _pow2(32, 2048), "ridge": 0.1, "noise": 0.0,
                         "spectrum_decay": 1.5, "target_decay": 2.0, "latent_dim": 2048}}
    if simulator == "transformer":
        # Runs cost about their token count (small models are overhead-bound), so the design spends its
        # tokens on the few held-out runs: 15 training and 6 held-out runs per seed.
        return {"seeds": [0] if quick else [0, 1, 2],
                "grid": {"layers": 2, "heads": 2, "context": 64, "batch": 16, "corpus": "stdlib",
                         "schedule": "cosine", "eval_points": 1, "eval_tokens": 16_384},
                "widths": [16, 24, 32, 48, 64],
                "tokens": [25_000, 50_000, 100_000, 200_000, 400_000, 800_000],
                "lr_rule": "1e-2 * sqrt(16 / d_model)"}
    raise InputError("simulator", f"expected one of {', '.join(SIMULATORS)}, got {simulator!r}")


def transformer_lr(d_model: int) -> float:
    return 1e-2 * math.sqrt(16.0 / d_model)


def sweep_spec(simulator: str, quick: bool = False):
    """The design as a `validate.sweep.SweepSpec` (one sweep; for the transformer the per-width
    learning rates make one grid per width, merged into one sweep)."""
    import dataclasses

    from validate.sweep import parse_spec

    d = design(simulator, quick)
    name = f"extrapolation-{simulator}" + ("-quick" if quick else "")
    text = json.dumps(d, sort_keys=True)
    if simulator == "rf":
        return parse_spec({"sweep": {"name": name, "simulator": "rf", "seeds": d["seeds"]}, "grid": d["grid"]},
                          f"<{name}>", text)
    specs = [parse_spec({"sweep": {"name": name, "simulator": "transformer", "seeds": d["seeds"]},
                         "grid": {**d["grid"], "d_model": w, "lr": transformer_lr(w), "tokens": d["tokens"]}},
                        f"<{name}>", text) for w in d["widths"]]
    return dataclasses.replace(specs[0], tasks=tuple(t for s in specs for t in s.tasks), text=text)


def points_from_records(simulator: str, records) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """(inputs {N, D}, losses, number of cells skipped) from the store's finished runs."""
    N, D, L = [], [], []
    skipped = 0
    for rec in records:
        res = rec.results or {}
        if simulator == "rf":
            for i, n in enumerate(res.get("features", [])):
                for j, p in enumerate(res.get("P", [])):
                    v = res["test_error"][i][j]
                    if v is None or not (v > 0 and math.isfinite(v)):
                        skipped += 1
                        continue
                    N.append(n), D.append(p), L.append(v)
        else:
            v = res.get("final_val_loss")
            if v is None or not (v > 0 and math.isfinite(v)) or res.get("diverged"):
                skipped += 1
                continue
            N.append(res["params_nonembedding"]), D.append(res["tokens"]), L.append(v)
    return {"N": np.asarray(N, float), "D": np.asarray(D, float)}, np.asarray(L, float), skipped


def simulator_extrapolation(
    simulator: str,
    *,
    quick: bool = False,
    store: str | Path | None = None,
    cutoff: float | None = None,
    law: str = "chinchilla",
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    workers: int = 1,
    max_starts: int = 4500,
    on_run: Callable[[int, int], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
):
    """Run (or reuse) the simulator's sweep, then the extrapolation test on its runs.

    Returns (ExtrapolationResult, Runs, info): ``info`` has the sweep's name, design, store, run
    counts and wall time. ``store`` None: a temporary store, removed afterwards. ``cutoff`` None:
    the largest compute / 16.
    """
    from validate.extrapolation import extrapolation_test
    from validate.runs_io import runs_from_arrays
    from validate.store import Store
    from validate.sweep import run_sweep

    if simulator not in SIMULATORS:
        raise InputError("simulator", f"expected one of {', '.join(SIMULATORS)}, got {simulator!r}")
    if cutoff is not None and not (math.isfinite(cutoff) and cutoff > 0):
        raise InputError("holdout-above-compute", f"must be a positive number of FLOPs, got {cutoff!r}")
    if store is not None:
        Store.check(store)
    spec = sweep_spec(simulator, quick)
    with tempfile.TemporaryDirectory(prefix="shortcut-extrapolation-") as tmp:
        path = Path(store) if store is not None else Path(tmp) / "runs.db"
        with Store(path) as st:
            summary = run_sweep(spec, st, workers=max(1, workers),
                                on_result=(lambda rec, done, todo: on_run(done, todo)) if on_run else None)
            keys = {t.key for t in spec.tasks}
            records = [r for r in st.runs(sweep=spec.name, status=None) if r.key in keys]
    ok = [r for r in records if r.status == "ok"]
    failed = [r for r in records if r.status != "ok"]
    if not ok:
        raise InputError("simulator", f"no {simulator} run finished ({len(failed)} failed or diverged)")
    inputs, loss, skipped = points_from_records(simulator, ok)
    runs = runs_from_arrays(inputs, loss, source=f"{simulator} sweep {spec.name}")
    C = runs.compute()
    cut = float(C.max() / HOLDOUT_MAX_FACTOR) if cutoff is None else float(cutoff)
    res = extrapolation_test(law, runs, cut, min_factor=HOLDOUT_MIN_FACTOR, max_factor=HOLDOUT_MAX_FACTOR,
                             n_bootstrap=n_bootstrap, alpha=alpha, seed=seed, workers=workers,
                             max_starts=max_starts, progress=progress)
    info = {
        "simulator": simulator,
        "quick": quick,
        "sweep": spec.name,
        "design": design(simulator, quick),
        "store": str(store) if store is not None else None,
        "n_runs": len(records),
        "n_runs_ok": len(ok),
        "n_runs_failed": len(failed),
        "n_runs_reused": summary.skipped,
        "n_points": runs.n,
        "n_cells_skipped": skipped,
        "sweep_wall_time_s": summary.wall_time_s,
        "compute_range": [float(C.min()), float(C.max())],
        "holdout_factors": [HOLDOUT_MIN_FACTOR, HOLDOUT_MAX_FACTOR],
        "code_versions": sorted({r.code_version for r in ok if r.code_version}),
        "run_keys": sorted(r.key for r in ok),
    }
    return res, runs, info
