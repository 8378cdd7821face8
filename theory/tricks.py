"""Tricks as transformations of a law, and their effective-compute multipliers.

A trick changes what a law predicts for the same N, D and C (REFERENCES.md §9):

    compute:M      the same training with M times the compute (a pure constant-factor speed-up)
    params:M       each parameter is worth M: the law sees N -> M N (compute still 6ND)
    data:M         each token is worth M: the law sees D -> M D (and U -> M U where the law has U)
    alpha:+X       the parameter exponent changes by X (alpha; Kaplan's alpha_N)
    beta:+X        the data exponent changes by X (beta; Kaplan's alpha_D)
    floor:-X       the irreducible loss E is lowered by X (floor:+X raises it)
    unique-data:U  only U unique tokens exist; repeated epochs are worth less (Muennighoff et al. 2023,
                   eqs. 5-7, with R*_D and R*_N from their fit)
    none           the identity (M = 1)

The multiplier at compute C, both arms compute-optimal (C = 6ND): the trick trained with C FLOPs
reaches loss L_T(C); the baseline needs C_base(L_T) FLOPs to reach it; M(C) = C_base / C. The
baseline's C_base(L) is the symbolic inverse of its optimal frontier where `theory.optimal.derive`
finds one (C_opt(L) = 6 (K/(L - F))^(1/gamma)), and bracketed root finding in log C otherwise. Both
sides work with the reducible loss L - F and in log C, so M stays finite and exact for 1e30 FLOPs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import sympy as sp

from theory.errors import InputError
from theory.laws import SPEC_BUILDERS, C, D, Law, N, U, law_from_spec, param_symbol
from theory.optimal import derive, frontier

TRICK_SYNTAX = (
    "compute:M (M x compute), params:M (effective N x M), data:M (effective D x M), "
    "alpha:+X / beta:+X (exponent of N / D changed by X), floor:-X (E lowered by X), "
    "unique-data:U (only U unique tokens, repeated per Muennighoff 2023), none"
)
KINDS = ("compute", "params", "data", "alpha", "beta", "floor", "unique-data", "none")

# Exponent and floor parameters by the names laws give them (Kaplan's eq. 1.5: alpha_N, alpha_D).
_EXPONENT_NAMES = {"alpha": ("alpha", "alpha_N"), "beta": ("beta", "alpha_D")}
_FLOOR_NAMES = ("E",)

# Muennighoff et al. 2023, datablations README "Parametric Fit": R*_D and R*_N (REFERENCES.md §4).
MUENNIGHOFF_R_D = 15.387756
MUENNIGHOFF_R_N = 5.309743

# Where `multiplier_analysis` looks for the 10x and 100x crossings and classifies the trend:
# 1e10 FLOPs (a laptop minute) to 1e40 FLOPs (far beyond any training run), 4 points per decade.
CROSSING_RANGE = (1e10, 1e40)
_CROSSING_POINTS = 121
DEFAULT_CURVE_RANGE = (1e18, 1e28)
_CONSTANT_SLOPE = 1e-3  # |d ln M / d ln C| below this everywhere: "constant"


@dataclass(frozen=True)
class Trick:
    kind: str
    value: float
    text: str

    def describe(self) -> str:
        return {
            "compute": f"{self.value:g}x compute",
            "params": f"each parameter worth {self.value:g}",
            "data": f"each token worth {self.value:g}",
            "alpha": f"parameter exponent {self.value:+g}",
            "beta": f"data exponent {self.value:+g}",
            "floor": f"loss floor {self.value:+g}",
            "unique-data": f"only {self.value:g} unique tokens",
            "none": "no trick",
        }[self.kind]


def parse_trick(text: str) -> Trick:
    """``"data:4"`` -> Trick('data', 4.0, 'data:4'). Refuses anything else with InputError('trick')."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("trick", f"empty trick; expected one of: {TRICK_SYNTAX}")
    cleaned = text.strip()
    if len(cleaned) > 64:
        raise InputError("trick", "trick text is too long")
    if cleaned.lower() in ("none", "identity"):
        return Trick("none", 0.0, "none")
    kind, sep, raw = cleaned.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in KINDS or kind == "none":
        raise InputError("trick", f"unknown trick {cleaned!r}; expected one of: {TRICK_SYNTAX}")
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        raise InputError("trick", f"{kind}: expected a number after ':', got {raw!r}") from None
    if not math.isfinite(value):
        raise InputError("trick", f"{kind}: the value must be finite")
    if kind in ("compute", "params", "data", "unique-data") and value <= 0:
        raise InputError("trick", f"{kind}: the value must be positive, got {raw}")
    if kind in ("alpha", "beta", "floor") and not raw.startswith(("+", "-")) and value != 0:
        raise InputError("trick", f"{kind}: give a signed change, e.g. {kind}:{'-' if kind == 'floor' else '+'}{raw}")
    return Trick(kind, value, cleaned)


# --- Transformed laws ------------------------------------------------------------------------------

TRICK_M = "m_trick"  # the multiplier of a params:/data: trick, a parameter of the transformed law


def _find_param(law: Law, candidates: Sequence[str], what: str, kind: str) -> str:
    for name in candidates:
        if name in law.param_names:
            return name
    raise InputError(
        "trick",
        f"{kind}: law {law.name!r} has no {what} parameter (looked for {', '.join(candidates)}; "
        f"its parameters: {', '.join(law.param_names) or 'none'})",
    )


@functools.lru_cache(maxsize=64)
def _scaled_law(base: Law, kind: str) -> Law:
    """``base`` with N -> m N (params) or D -> m D, U -> m U (data); m is the parameter m_trick."""
    if TRICK_M in base.param_names:
        raise InputError("trick", f"law {base.name!r} already has a parameter named {TRICK_M}")
    m = param_symbol(TRICK_M)
    if kind == "params":
        subs = {N: m * N}
    else:
        subs = {D: m * D, U: m * U}
    expr = base.expr.subs(subs, simultaneous=True)
    return Law(
        f"{base.name}[{kind}]", expr, base.inputs, base.params + (m,), (),
        f"{base.description} with {kind} scaled by {TRICK_M}", base.source, ("trick", base.spec(), kind),
    )


@functools.lru_cache(maxsize=64)
def _repeated_data_law(base: Law) -> Law:
    """``base`` in Muennighoff's effective data and parameters (eqs. 5-7): inputs N, D, U.

    D' = U_D + U_D R*_D (1 - exp(-R_D/R*_D)), U_D = min(U, D), R_D = max(D/U_D - 1, 0);
    N' = U_N + U_N R*_N (1 - exp(-R_N/R*_N)), U_N = min(N, N_opt(U_D)), R_N = max(N/U_N - 1, 0),
    where N_opt(D) is the base law's compute-optimal N at the budget whose D_opt is D: from
    N_opt = G (C/6)^a and D_opt = G^-1 (C/6)^b, N_opt(D) = G (G D)^(a/b) (the datablations README's
    D_to_N).
    """
    d = derive(base)
    if not (d.closed_form and d.power_law):
        raise InputError("trick", f"unique-data: law {base.name!r} has no power-law optimum to define N_opt(U)")
    for name in ("R_D", "R_N"):
        if name in base.param_names:
            raise InputError("trick", f"unique-data: law {base.name!r} already has a parameter {name}")
    RD, RN = param_symbol("R_D"), param_symbol("R_N")
    U_D = sp.Min(U, D)
    R_D = sp.Max(D / U_D - 1, 0)
    D_eff = U_D + U_D * RD * (1 - sp.exp(-R_D / RD))
    N_opt_U = d.G * (d.G * U_D) ** (d.a / d.b)
    U_N = sp.Min(N, N_opt_U)
    R_N = sp.Max(N / U_N - 1, 0)
    N_eff = U_N + U_N * RN * (1 - sp.exp(-R_N / RN))
    expr = base.expr.subs({N: N_eff, D: D_eff}, simultaneous=True)
    return Law(
        f"{base.name}[unique-data]", expr, (N, D, U), base.params + (RD, RN), (),
        f"{base.description} with repeated data (Muennighoff et al. 2023 eqs. 5-7)",
        base.source + "; Muennighoff et al. 2023, arXiv 2305.16264, eqs. (5)-(7)",
        ("trick", base.spec(), "unique-data"),
    )


def _rebuild_trick_law(base_spec: Mapping, kind: str) -> Law:
    base = law_from_spec(base_spec)
    return _repeated_data_law(base) if kind == "unique-data" else _scaled_law(base, kind)


SPEC_BUILDERS["trick"] = _rebuild_trick_law


@dataclass(frozen=True)
class TrickArm:
    """What the trick arm trains: a law, complete parameter values, a compute factor, unique tokens."""

    law: Law
    values: dict
    compute_factor: float = 1.0
    U: float | None = None


def apply_trick(law: Law, values: Mapping[str, float], trick: Trick) -> TrickArm:
    """The trick arm for ``law`` at complete parameter ``values``."""
    values = dict(values)
    kind = trick.kind
    if kind == "none":
        return TrickArm(law, values)
    if kind == "compute":
        return TrickArm(law, values, compute_factor=trick.value)
    if kind in ("params", "data"):
        scaled = _scaled_law(law, kind)
        return TrickArm(scaled, {**values, TRICK_M: trick.value})
    if kind in ("alpha", "beta"):
        name = _find_param(law, _EXPONENT_NAMES[kind], f"{kind} exponent", kind)
        new = values[name] + trick.value
        if new <= 0:
            raise InputError("trick", f"{kind}: {name} = {values[name]:g} {trick.value:+g} would not be positive")
        return TrickArm(law, {**values, name: new})
    if kind == "floor":
        name = _find_param(law, _FLOOR_NAMES, "floor (irreducible loss)", kind)
        new = values[name] + trick.value
        if new < 0:
            raise InputError("trick", f"floor: {name} = {values[name]:g} {trick.value:+g} would be negative")
        return TrickArm(law, {**values, name: new})
    if kind == "unique-data":
        if "U" in law.input_names:
            return TrickArm(law, values, U=trick.value)
        repeated = _repeated_data_law(law)
        return TrickArm(repeated, {**values, "R_D": MUENNIGHOFF_R_D, "R_N": MUENNIGHOFF_R_N}, U=trick.value)
    raise InputError("trick", f"unknown trick kind {kind!r}")  # pragma: no cover (parse_trick refuses it)


# --- Multipliers -----------------------------------------------------------------------------------

def _log_compute(C, field: str = "C") -> tuple[np.ndarray, bool]:
    arr = np.asarray(C, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 6.0):
        raise InputError(field, "compute must be finite and exceed 6 FLOPs")
    return np.log(arr), arr.ndim == 0


def _log_multiplier(law: Law, values: dict, trick: Trick, log_c: np.ndarray) -> tuple[np.ndarray, float]:
    """(ln M at each ln C, the trick's change of the floor F_T - F)."""
    arm = apply_trick(law, values, trick)
    base = frontier(law, values)
    arm_front = frontier(arm.law, arm.values, arm.U)
    _, log_r_trick = arm_front.at(log_c + math.log(arm.compute_factor))
    floor_change = arm_front.floor - base.floor
    if floor_change == 0.0:
        target = log_r_trick  # exact: no cancellation against the floor
    else:
        with np.errstate(all="ignore"):
            gap = np.exp(log_r_trick) + floor_change
            target = np.where(gap > 0, np.log(np.where(gap > 0, gap, 1.0)), -np.inf)
    log_c_base = base.log_compute_for(target, log_c)
    with np.errstate(all="ignore"):
        return log_c_base - log_c, floor_change


def multiplier(law: Law, params: Mapping[str, float] | None, trick: Trick | str, C):
    """Effective-compute multiplier M(C) = C_base(L_T(C)) / C, both arms compute-optimal.

    ``params``: parameter values (None: the law's default set). ``C``: FLOPs, scalar or array.
    M is +inf where the trick reaches a loss the baseline never reaches (below its floor).
    """
    trick = parse_trick(trick) if isinstance(trick, str) else trick
    values = law.param_values(None, params)
    log_c, scalar = _log_compute(C)
    log_m, _ = _log_multiplier(law, values, trick, log_c)
    with np.errstate(over="ignore"):
        m = np.exp(log_m)
    return float(m) if scalar else m


def _classify(log_c: np.ndarray, log_m: np.ndarray, floor_change: float, floor: float) -> tuple[str, dict]:
    """The trend class of M(C) and the log-log slopes it rests on.

    floor-changing: the trick moves the loss floor (|F_T - F| > 1e-12 max(1, |F|)); M then diverges
        (floor lowered) or falls to 0 (raised) as the loss approaches the floors.
    constant: |d ln M / d ln C| < 1e-3 at every point of the crossing range.
    growing / shrinking: otherwise, by the sign of ln M(1e40) - ln M(1e10) (or over the finite part).
    """
    finite = np.isfinite(log_m)
    slopes = np.diff(log_m[finite]) / np.diff(log_c[finite]) if finite.sum() >= 2 else np.array([0.0])
    stats = {
        "min": float(slopes.min()) if slopes.size else 0.0,
        "max": float(slopes.max()) if slopes.size else 0.0,
        "mean": float((log_m[finite][-1] - log_m[finite][0]) / (log_c[finite][-1] - log_c[finite][0])) if finite.sum() >= 2 else 0.0,
    }
    if abs(floor_change) > 1e-12 * max(1.0, abs(floor)):
        return "floor-changing", stats
    if np.all(np.abs(slopes) < _CONSTANT_SLOPE) and finite.all():
        return "constant", stats
    return ("growing" if stats["mean"] > 0 else "shrinking"), stats


def _first_crossing(law, values, trick, log_c, log_m, threshold: float) -> float | None:
    """The least compute in the crossing range with M >= threshold (refined by root finding)."""
    from scipy.optimize import brentq

    above = np.nan_to_num(log_m, nan=-np.inf) >= math.log(threshold)
    if not above.any():
        return None
    i = int(np.argmax(above))
    if i == 0:
        return float(np.exp(log_c[0]))

    def gap(lc):
        value = float(_log_multiplier(law, values, trick, np.array([lc]))[0][0])
        return min(value, 700.0) - math.log(threshold)

    return float(np.exp(brentq(gap, log_c[i - 1], log_c[i], xtol=1e-10, rtol=1e-12)))


def multiplier_analysis(
    law: Law,
    params: Mapping[str, float] | None,
    trick: Trick | str,
    C_range: Sequence[float] | np.ndarray | None = None,
    *,
    points: int = 21,
) -> dict:
    """M(C) over a compute range, its class, and where it crosses 10x and 100x.

    ``C_range``: (low, high) FLOPs for the curve (``points`` log-spaced values; default 1e18-1e28),
    or an array of compute values. The class and the crossings are computed over CROSSING_RANGE
    (1e10-1e40 FLOPs, 4 points a decade): ``crosses_10x_at`` is the least compute there with
    M >= 10 (the range's low end if M >= 10 throughout), None if M < 10 throughout.
    """
    trick = parse_trick(trick) if isinstance(trick, str) else trick
    values = law.param_values(None, params)
    if C_range is None:
        C_range = DEFAULT_CURVE_RANGE
    C_range = np.asarray(C_range, dtype=float)
    if C_range.ndim != 1 or C_range.size < 2:
        raise InputError("C-range", "give at least two compute values (low, high)")
    if C_range.size == 2:
        lo, hi = float(C_range[0]), float(C_range[1])
        if not (lo < hi):
            raise InputError("C-range", "the low end must be below the high end")
        curve_c = np.geomspace(lo, hi, points)
    else:
        curve_c = np.sort(C_range)
    curve_log_c, _ = _log_compute(curve_c, "C-range")
    curve_log_m, floor_change = _log_multiplier(law, values, trick, curve_log_c)
    wide_log_c = np.linspace(math.log(CROSSING_RANGE[0]), math.log(CROSSING_RANGE[1]), _CROSSING_POINTS)
    wide_log_m, _ = _log_multiplier(law, values, trick, wide_log_c)
    base_floor = frontier(law, values).floor
    cls, slopes = _classify(wide_log_c, wide_log_m, floor_change, base_floor)
    with np.errstate(over="ignore"):
        curve_m = np.exp(curve_log_m)
    return {
        "law": law.name,
        "trick": trick.text,
        "trick_meaning": trick.describe(),
        "multiplier_class": cls,
        "log_slope": slopes,
        "floor_change": floor_change,
        "crosses_10x_at": _first_crossing(law, values, trick, wide_log_c, wide_log_m, 10.0),
        "crosses_100x_at": _first_crossing(law, values, trick, wide_log_c, wide_log_m, 100.0),
        "crossing_range": list(CROSSING_RANGE),
        "multiplier_curve": {"compute": curve_c.tolist(), "multiplier": curve_m.tolist()},
    }


def data_multiplier_closed_form(law: Law) -> sp.Expr:
    """The closed-form multiplier of a data:m trick for a law with a power-law optimum, derived by sympy.

    With D -> m D the trick arm's frontier is L_T(C) = F + K_T (C/6)^(-gamma); equating it with the
    baseline's F + K (C_base/6)^(-gamma) gives M = C_base/C = (K/K_T)^(1/gamma). For Chinchilla's
    law sympy reduces it to m: constant in C.
    """
    base = derive(law)
    scaled = derive(_scaled_law(law, "data"))
    if base.loss_exponent is None or scaled.loss_exponent is None:
        raise InputError("law", f"law {law.name!r} has no power-law frontier")
    c_base = sp.Symbol("C_base", positive=True)
    # equal loss: F + K (C_base/6)^(-gamma) = F + K_T (C/6)^(-gamma_T), solved for C_base
    solutions = sp.solve(
        sp.Eq(base.loss_prefactor * (c_base / 6) ** (-base.loss_exponent),
              scaled.loss_prefactor * (C / 6) ** (-scaled.loss_exponent)),
        c_base, check=False, simplify=False,
    )
    ratio = solutions[0] / C
    return sp.simplify(sp.powsimp(sp.expand_power_base(ratio, force=True), force=True))


__all__ = [
    "TRICK_SYNTAX", "Trick", "TrickArm", "apply_trick", "data_multiplier_closed_form", "multiplier",
    "multiplier_analysis", "parse_trick",
]
