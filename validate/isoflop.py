"""isoFLOP fits: Hoffmann et al. 2022's Approach 2 for the exponents of the compute-optimal allocation.

Runs that share a compute budget C form an isoFLOP profile. For each profile a parabola in log N is
fitted to the loss (least squares), L ≈ p0 + p1 log N + p2 (log N)^2; its vertex gives the optimal
size at that budget, N_opt(C) = exp(-p1 / (2 p2)). Power laws N_opt ∝ C^a and D_opt ∝ C^b, with
D_opt = C/(6 N_opt) (C ≈ 6ND), are then fitted by least squares in log-log (Hoffmann et al. 2022 §3.2;
they report a = 0.49, b = 0.51; REFERENCES.md §2). Because D_opt = C/(6 N_opt), b = 1 - a up to the
spread of compute within a profile.

Profiles: runs are grouped by compute, either around given nominal budgets (``budgets``: runs within
``tol_decades`` of a budget in log10 C) or automatically (sorted log10 C split where consecutive runs
differ by more than ``tol_decades``). Profiles with fewer than ``min_runs`` runs, a parabola that
opens downward, or a vertex outside the sampled sizes are reported and left out of the power-law fit.

Intervals: a bootstrap that resamples runs within each profile (stratified), refits every parabola
and the power laws; standard errors and 2.5/97.5 percentiles of a and b.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from theory.errors import InputError


@dataclass
class Profile:
    compute: float  # geometric mean of the profile's training FLOPs
    indices: np.ndarray  # rows of the runs
    coef: np.ndarray | None = None  # (p2, p1, p0) of the parabola in log N
    N_opt: float = float("nan")
    loss_opt: float = float("nan")
    used: bool = False
    note: str = ""


@dataclass
class IsoflopResult:
    profiles: list[Profile]
    a: float
    b: float
    log_k: float  # N_opt = exp(log_k) * C^a
    se: dict[str, float] = field(default_factory=dict)
    ci95: dict[str, list[float]] = field(default_factory=dict)
    n_bootstrap: int = 0

    def summary(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "se": self.se,
            "ci95": self.ci95,
            "n_bootstrap": self.n_bootstrap,
            "profiles": [
                {"compute": p.compute, "n_runs": int(p.indices.size), "N_opt": p.N_opt, "loss_opt": p.loss_opt,
                 "used": p.used, "note": p.note}
                for p in self.profiles
            ],
        }


def group_by_compute(compute: np.ndarray, *, budgets: Sequence[float] | None = None,
                     tol_decades: float = 0.02, min_runs: int = 5) -> list[np.ndarray]:
    """Row indices of each compute profile (see the module docstring), in increasing compute."""
    lc = np.log10(np.asarray(compute, dtype=float))
    groups: list[np.ndarray] = []
    if budgets:
        lb = np.log10(np.asarray(budgets, dtype=float))
        nearest = np.argmin(np.abs(lc[:, None] - lb[None, :]), axis=1)
        close = np.abs(lc - lb[nearest]) <= tol_decades
        for j in np.argsort(lb):
            g = np.flatnonzero(close & (nearest == j))
            if g.size >= min_runs:
                groups.append(g)
        return groups
    order = np.argsort(lc, kind="stable")
    cuts = np.flatnonzero(np.diff(lc[order]) > tol_decades) + 1
    for g in np.split(order, cuts):
        if g.size >= min_runs:
            groups.append(np.sort(g))
    return groups


def _parabola_vertex(logN: np.ndarray, loss: np.ndarray, w: np.ndarray | None = None):
    """(coef, log N at the vertex, loss there, note); note is '' when the vertex is a usable minimum."""
    if np.unique(logN).size < 3:
        return None, np.nan, np.nan, "fewer than 3 distinct sizes"
    coef = np.polyfit(logN, loss, 2, w=None if w is None else np.sqrt(w))
    p2, p1, p0 = coef
    if not p2 > 0:
        return coef, np.nan, np.nan, "parabola opens downward (no minimum)"
    x = -p1 / (2 * p2)
    sel = logN if w is None else logN[w > 0]
    if not sel.min() <= x <= sel.max():
        return coef, x, np.polyval(coef, x), "minimum outside the sampled sizes"
    return coef, x, float(np.polyval(coef, x)), ""


def _power_fit(logC: np.ndarray, logN: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(logC, logN, 1)
    return float(slope), float(intercept)


def isoflop_fit(N, loss, compute, *, budgets: Sequence[float] | None = None, tol_decades: float = 0.02,
                min_runs: int = 5, n_bootstrap: int = 1000, seed: int = 0) -> IsoflopResult:
    """Approach 2 of Hoffmann et al. 2022 on runs (N parameters, final loss, training FLOPs)."""
    N = np.asarray(N, dtype=float)
    loss = np.asarray(loss, dtype=float)
    compute = np.asarray(compute, dtype=float)
    groups = group_by_compute(compute, budgets=budgets, tol_decades=tol_decades, min_runs=min_runs)
    logN = np.log(N)
    profiles = []
    for g in groups:
        coef, x, lopt, note = _parabola_vertex(logN[g], loss[g])
        p = Profile(float(np.exp(np.mean(np.log(compute[g])))), g, coef)
        if not note:
            p.N_opt, p.loss_opt, p.used = float(np.exp(x)), lopt, True
        p.note = note
        profiles.append(p)
    used = [p for p in profiles if p.used]
    if len(used) < 3:
        raise InputError("runs", f"only {len(used)} compute profiles have an interior loss minimum "
                         f"({len(profiles)} profiles of >= {min_runs} runs found); isoFLOP fits need at least 3")
    logC = np.log([p.compute for p in used])
    logNopt = np.log([p.N_opt for p in used])
    a, log_k = _power_fit(logC, logNopt)
    b, _ = _power_fit(logC, logC - np.log(6.0) - logNopt)
    res = IsoflopResult(profiles, a, b, log_k, n_bootstrap=int(n_bootstrap))
    if n_bootstrap and n_bootstrap >= 2:
        rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
        samples = []
        for _ in range(int(n_bootstrap)):
            lc, ln = [], []
            for p in used:
                idx = rng.choice(p.indices, size=p.indices.size, replace=True)
                _, x, _, note = _parabola_vertex(logN[idx], loss[idx])
                if not note:
                    lc.append(np.log(p.compute))
                    ln.append(x)
            if len(lc) >= 3:
                lc_a, ln_a = np.array(lc), np.array(ln)
                sa, _ = _power_fit(lc_a, ln_a)
                sb, _ = _power_fit(lc_a, lc_a - np.log(6.0) - ln_a)
                samples.append((sa, sb))
        if len(samples) >= 2:
            s = np.array(samples)
            res.se = {"a": float(s[:, 0].std(ddof=1)), "b": float(s[:, 1].std(ddof=1))}
            res.ci95 = {k: [float(v) for v in np.quantile(s[:, j], [0.025, 0.975])] for j, k in enumerate(("a", "b"))}
            res.n_bootstrap = len(samples)
    return res
