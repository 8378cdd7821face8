"""Allocation rules and the effective-compute multiplier of one rule over another, under a law.

An allocation rule splits a training budget C (FLOPs, C = 6ND: Kaplan et al. 2020 §2.1, Hoffmann et
al. 2022 eq. 2; REFERENCES.md §1-2) between parameters N and tokens D:

    N_A(C) = N_0 (C / C_0)^a,     D_A(C) = C / (6 N_A(C)).

- Kaplan's compute-efficient frontier: a = 0.73 (REFERENCES.md §1);
- Chinchilla's rule of thumb: about 20 tokens per parameter, D = 20 N, so N = sqrt(C / 120): a = 0.5
  (REFERENCES.md §2, Approach 1);
- the optimum of a law (``rule=None`` below): N_opt(C) from `theory.optimal` (symbolic where sympy
  finds it, G (C/6)^a for the Chinchilla form; numeric otherwise).

Under a law L(N, D), rule A trained with C FLOPs reaches L_A(C) = L(N_A(C), C/(6 N_A(C))). The
effective-compute multiplier of a trick rule B over a baseline rule A (REFERENCES.md §9) at the
compute C spent on B is

    M(C) = C_A(L_B(C)) / C,

where C_A(L) is the compute rule A needs to reach L (the inverse of L_A, monotone for 0 < a < 1: both
N and D grow with C). With B the law's optimum, M >= 1 for every rule A, = 1 exactly when A is the
optimum. Both arms share the law's floor F (the terms free of N and D), so M is computed from the
reducible losses L − F in log space: exact even where L − F is a millionth of F.

For the Chinchilla form L = E + A/N^α + B/D^β sympy derives the closed form (`misallocation_multiplier`):
with k = N_A/N_opt the ratio of the rule's model size to the optimum's at the same C,

    L_A − E = (L_opt − E) h(k),   h(k) = (β k^(−α) + α k^β) / (α + β),   M = h(k)^(1/γ),   γ = αβ/(α + β),

so a rule whose exponent differs from the optimum's (k ∝ C^(a_A − a_opt)) has an M that grows without
bound with scale, as a power of C only asymptotically (log M ≈ (max(α,β)·|a_A − a_opt|/γ) log C).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp

from theory.errors import InputError
from theory.laws import D, Law, N
from theory.optimal import LOG6, derive, frontier, solve_log_compute

KAPLAN_EXPONENT = 0.73  # N_opt ∝ C^0.73 (Kaplan et al. 2020; REFERENCES.md §1)
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 Approach 1 (REFERENCES.md §2) [quoted]
# Where the class and the 10x/100x crossings are looked for: the same range as theory.tricks.
CROSSING_RANGE = (1e10, 1e40)
_CROSSING_POINTS = 121
_CONSTANT_SLOPE = 1e-3  # |d ln M / d ln C| below this everywhere: "constant" (as theory.tricks)


@dataclass(frozen=True)
class AllocationRule:
    """N(C) = anchor_params (C / anchor_compute)^exponent; D(C) = C / (6 N(C))."""

    name: str
    exponent: float
    anchor_compute: float  # FLOPs
    anchor_params: float  # N at anchor_compute

    def __post_init__(self):
        if not (math.isfinite(self.exponent) and 0.0 < self.exponent < 1.0):
            raise InputError("exponent", f"an allocation exponent lies in (0, 1) (N and D both grow with C), got {self.exponent!r}")
        for name in ("anchor_compute", "anchor_params"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise InputError(name, f"must be a finite positive number, got {v!r}")
        if self.anchor_compute <= 6.0 * self.anchor_params:
            raise InputError("anchor_compute", "the anchor must leave at least one token (C > 6N)")

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def power(cls, name: str, exponent: float, anchor_compute: float, anchor_params: float) -> "AllocationRule":
        return cls(name, float(exponent), float(anchor_compute), float(anchor_params))

    @classmethod
    def tokens_per_param(cls, ratio: float = CHINCHILLA_TOKENS_PER_PARAM, name: str | None = None) -> "AllocationRule":
        """D = ratio N at every budget: N = sqrt(C / (6 ratio)) (a = 1/2)."""
        if not (math.isfinite(ratio) and ratio > 0):
            raise InputError("ratio", f"tokens per parameter must be positive, got {ratio!r}")
        c0 = 6.0 * ratio * 1e6  # any anchor on the line: N = 1e3 there
        return cls(name or f"{ratio:g} tokens per parameter", 0.5, c0, 1e3)

    @classmethod
    def kaplan(cls, anchor_compute: float, anchor_params: float, exponent: float = KAPLAN_EXPONENT) -> "AllocationRule":
        """Kaplan's N ∝ C^0.73 through a stated anchor (Kaplan's own prefactor is not used: it is for
        non-embedding parameters of WebText2 models, REFERENCES.md §1)."""
        return cls(f"Kaplan N ∝ C^{exponent:g}", float(exponent), float(anchor_compute), float(anchor_params))

    # -- numbers -------------------------------------------------------------------------------
    def log_params(self, log_c) -> np.ndarray:
        return math.log(self.anchor_params) + self.exponent * (np.asarray(log_c, dtype=float) - math.log(self.anchor_compute))

    def params(self, C) -> np.ndarray:
        return np.exp(self.log_params(np.log(np.asarray(C, dtype=float))))

    def tokens(self, C) -> np.ndarray:
        C = np.asarray(C, dtype=float)
        return C / (6.0 * self.params(C))

    def describe(self) -> dict:
        return {"name": self.name, "exponent": self.exponent, "anchor_compute": self.anchor_compute,
                "anchor_params": self.anchor_params}


# =================================================================================================
# Loss along a rule, and the compute a rule needs
# =================================================================================================

def _log_compute(C, field: str = "C") -> np.ndarray:
    arr = np.asarray(C, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 6.0):
        raise InputError(field, "compute must be finite and exceed 6 FLOPs")
    return np.log(arr)


def _check_law(law: Law) -> None:
    if set(law.input_names) - {"U"} != {"N", "D"}:
        raise InputError("law", f"an allocation needs a law in N and D; {law.name!r} has inputs {', '.join(law.input_names)}")


def log_reducible_along(law: Law, values, rule: AllocationRule | None, log_c) -> np.ndarray:
    """log(L − F) at log C along ``rule`` (None: the law's optimum). U = D where the law has U."""
    front = frontier(law, values)
    log_c = np.asarray(log_c, dtype=float)
    if rule is None:
        return front.at(log_c)[1]
    # theory.optimal's reducible loss at (N, C/(6N)): the law minus its floor, in log inputs
    return np.log(front._reducible_at(rule.log_params(log_c), log_c, None))


def loss_along(law: Law, params, rule: AllocationRule | None, C) -> np.ndarray:
    """L(N_A(C), C/(6 N_A(C))) (rule None: the optimal frontier's loss)."""
    _check_law(law)
    values = law.param_values(None, params)
    log_c = _log_compute(C)
    return frontier(law, values).floor + np.exp(log_reducible_along(law, values, rule, log_c))


def log_compute_along(law: Law, values, rule: AllocationRule | None, log_r, log_c_guess) -> np.ndarray:
    """log C at which ``rule`` reaches the reducible loss exp(log_r); +inf where never (below 1e304
    FLOPs), −inf where already below at the smallest budget. Bracketed root finding in log C
    (theory.optimal.solve_log_compute, shared with the compute-optimal frontier)."""
    front = frontier(law, values)
    log_r = np.asarray(log_r, dtype=float)
    guess = np.broadcast_to(np.asarray(log_c_guess, dtype=float), log_r.shape)
    if rule is None:
        return front.log_compute_for(log_r, guess)
    # smallest budget: at least one token at the rule's N (C > 6N) and a margin
    lo = max(LOG6 + 1.0, (LOG6 + math.log(rule.anchor_params) - rule.exponent * math.log(rule.anchor_compute))
             / (1.0 - rule.exponent) + 1e-6)
    return solve_log_compute(lambda lc, lr: log_reducible_along(law, values, rule, lc) - lr, log_r, guess, lo)


def _log_multiplier(law: Law, values, baseline: AllocationRule | None, trick: AllocationRule | None, log_c) -> np.ndarray:
    log_r = log_reducible_along(law, values, trick, log_c)
    with np.errstate(all="ignore"):
        return log_compute_along(law, values, baseline, log_r, log_c) - log_c


def allocation_multiplier(law: Law, params, baseline: AllocationRule | None, trick: AllocationRule | None = None, C=1e21):
    """M(C) = C_baseline(L_trick(C)) / C: how much more compute the baseline rule needs to reach the
    loss the trick rule reaches with C (None: the law's optimum). With trick = None it is the
    effective-compute multiplier of reallocating from ``baseline`` to the optimum (>= 1); its
    inverse is the fraction of compute that rule A uses effectively."""
    _check_law(law)
    values = law.param_values(None, params)
    log_c = _log_compute(C)
    with np.errstate(over="ignore"):
        m = np.exp(_log_multiplier(law, values, baseline, trick, log_c))
    return float(m) if np.ndim(C) == 0 else m


def allocation_analysis(law: Law, params, baseline: AllocationRule | None, trick: AllocationRule | None = None,
                        C_range: Sequence[float] | np.ndarray = (1e18, 1e28), *, points: int = 21) -> dict:
    """M(C) over ``C_range`` (two ends: ``points`` log-spaced values; or an array), its class and
    where it first reaches 10x and 100x in CROSSING_RANGE (1e10–1e40 FLOPs, 4 points a decade, as
    `theory.tricks.multiplier_analysis`). Class: "constant" when |d ln M/d ln C| < 1e-3 everywhere,
    else "growing"/"shrinking" by the sign of the change of ln M from its least value in the range
    to the range's end. A rule anchored inside the range is off the optimum on both sides of its
    best point (``minimum_at``): the crossings are those of growing compute beyond that point."""
    _check_law(law)
    values = law.param_values(None, params)
    rng = np.asarray(C_range, dtype=float)
    if rng.ndim != 1 or rng.size < 2:
        raise InputError("C-range", "give at least two compute values (low, high)")
    curve_c = np.geomspace(rng[0], rng[1], points) if rng.size == 2 else np.sort(rng)
    if rng.size == 2 and not rng[0] < rng[1]:
        raise InputError("C-range", "the low end must be below the high end")
    curve_log_m = _log_multiplier(law, values, baseline, trick, _log_compute(curve_c, "C-range"))
    wide = np.linspace(math.log(CROSSING_RANGE[0]), math.log(CROSSING_RANGE[1]), _CROSSING_POINTS)
    wide_m = _log_multiplier(law, values, baseline, trick, wide)
    finite = np.isfinite(wide_m)
    slopes = np.diff(wide_m[finite]) / np.diff(wide[finite]) if finite.sum() >= 2 else np.zeros(1)
    # a rule anchored inside the range is off the optimum on both sides of its best point: M is least
    # there and grows both ways; the class and the crossings are those of growing scale beyond it
    i_min = int(np.nanargmin(np.where(finite, wide_m, np.nan))) if finite.any() else 0
    minimum_at = float(np.exp(wide[i_min])) if 0 < i_min < wide.size - 1 else None
    if finite.all() and np.all(np.abs(slopes) < _CONSTANT_SLOPE):
        cls = "constant"
    else:
        tail = wide_m[i_min:][np.isfinite(wide_m[i_min:])]
        change = tail[-1] - tail[0] if tail.size >= 2 else wide_m[finite][-1] - wide_m[finite][0]
        cls = "growing" if change > 0 else "shrinking"
    crossings = {}
    for thr, key in ((10.0, "crosses_10x_at"), (100.0, "crosses_100x_at")):
        crossings[key] = _first_crossing(law, values, baseline, trick, wide[i_min:], wide_m[i_min:], thr)
    with np.errstate(over="ignore"):
        curve_m = np.exp(curve_log_m)
    return {
        "law": law.name, "baseline": None if baseline is None else baseline.describe(),
        "trick": "optimum" if trick is None else trick.describe(),
        "multiplier_class": cls, "minimum_at": minimum_at,
        "log_slope": {"min": float(slopes.min()), "max": float(slopes.max())},
        **crossings, "crossing_range": list(CROSSING_RANGE),
        "multiplier_curve": {"compute": curve_c.tolist(), "multiplier": curve_m.tolist()},
    }


def _first_crossing(law, values, baseline, trick, log_c, log_m, threshold: float) -> float | None:
    """The least compute in the crossing range with M >= threshold, refined by root finding."""
    from scipy.optimize import brentq

    above = np.nan_to_num(log_m, nan=-np.inf) >= math.log(threshold)
    if not above.any():
        return None
    i = int(np.argmax(above))
    if i == 0:
        return float(np.exp(log_c[0]))

    def gap(lc):
        return min(float(_log_multiplier(law, values, baseline, trick, np.array([lc]))[0]), 700.0) - math.log(threshold)

    return float(np.exp(brentq(gap, log_c[i - 1], log_c[i], xtol=1e-10, rtol=1e-12)))


# =================================================================================================
# The closed form for laws with a power-law optimum
# =================================================================================================

K_RATIO = sp.Symbol("k", positive=True)  # N_A / N_opt at the same compute


@functools.lru_cache(maxsize=16)
def _misallocation_cached(law: Law) -> tuple[sp.Expr, sp.Expr]:
    d = derive(law)
    if not (d.closed_form and d.power_law and d.loss_exponent is not None):
        raise InputError("law", f"law {law.name!r} has no power-law optimum; use allocation_multiplier (numeric)")
    reducible = sp.expand(law.expr - d.floor)
    off = reducible.subs({N: K_RATIO * d.N_opt, D: d.D_opt / K_RATIO}, simultaneous=True)
    at_opt = reducible.subs({N: d.N_opt, D: d.D_opt}, simultaneous=True)
    h = sp.simplify(sp.powsimp(sp.expand_power_base(off / at_opt, force=True), force=True))
    h = sp.simplify(h)  # a second pass cancels the prefactors (Chinchilla: (alpha k^(alpha+beta) + beta)/(k^alpha (alpha+beta)))
    # the optimum's reducible loss falls as (C/6)^(−gamma): the compute factor that makes up h is h^(1/gamma)
    return h, h ** (1 / d.loss_exponent)


def misallocation_loss_factor(law: Law) -> sp.Expr:
    """h(k) = (L − F)/(L_opt − F) at N = k N_opt, D = D_opt/k (same compute), derived by sympy."""
    return _misallocation_cached(law)[0]


def misallocation_multiplier(law: Law) -> sp.Expr:
    """M(k) = h(k)^(1/γ): the compute factor reallocating to the optimum is worth, for an allocation
    k times the optimal model size (sympy; Chinchilla form: ((β k^−α + α k^β)/(α+β))^((α+β)/(αβ)))."""
    return _misallocation_cached(law)[1]


__all__ = [
    "AllocationRule", "CHINCHILLA_TOKENS_PER_PARAM", "KAPLAN_EXPONENT", "K_RATIO", "allocation_analysis",
    "allocation_multiplier", "log_compute_along", "log_reducible_along", "loss_along", "misallocation_loss_factor",
    "misallocation_multiplier",
]
