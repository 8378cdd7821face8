"""Effective data: what a token budget is worth when it is repeated or partly corrupted.

- Repetition (Muennighoff et al. 2023, arXiv 2305.16264, eq. 5; datablations README "Parametric
  Fit"; REFERENCES.md §4): D tokens drawn from a pool of U unique tokens (R_D = D/U − 1 repetitions
  beyond the first pass) are worth

      D′ = U + U·R*_D·(1 − exp(−R_D / R*_D)),

  so the effective-data multiplier at fixed model size is D′/D; for a fixed number of epochs R = D/U
  it is the constant (1 + R*_D (1 − e^(−(R−1)/R*_D)))/R. The same expression sits inside
  `theory.laws` "muennighoff2023" (with U_D = min(U, D)); tests check the two agree.
- Corruption (the plain effective-data reading of data quality): a fraction φ of the training tokens
  replaced by noise carries no information about the clean text, so D tokens are worth (1 − φ)·D
  clean tokens, and a filter that leaves a corrupted fraction φ_kept is worth (1 − φ_kept)/(1 − φ)
  in data. What that assumes: a corrupted token costs its share of the budget and nothing else (no
  gradient noise that slows the clean part, no capacity spent modelling noise), the filter does not
  change the distribution of the clean text it keeps, and the corpus is large enough that dropping
  documents removes no unique clean data the run would have used.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from theory.errors import InputError

MUENNIGHOFF_R_D = 15.387756  # R*_D, datablations README "Parametric Fit" (REFERENCES.md §4)

D_SYM, U_SYM = sp.Symbol("D", positive=True), sp.Symbol("U", positive=True)
R_STAR = sp.Symbol("R_D", positive=True)


def effective_data_expr() -> sp.Expr:
    """Muennighoff's D′(D, U; R*_D) (eq. 5) as a sympy expression, U ≤ D."""
    R = sp.Max(D_SYM / U_SYM - 1, 0)
    return U_SYM + U_SYM * R_STAR * (1 - sp.exp(-R / R_STAR))


def effective_data(D, U, R_star: float = MUENNIGHOFF_R_D) -> np.ndarray:
    """D′ for D tokens drawn from U unique ones (U_D = min(U, D), as the datablations code)."""
    D = np.asarray(D, dtype=float)
    U = np.asarray(U, dtype=float)
    if np.any(~np.isfinite(D)) or np.any(D <= 0) or np.any(~np.isfinite(U)) or np.any(U <= 0):
        raise InputError("D", "tokens D and unique tokens U must be finite and positive")
    if not (math.isfinite(R_star) and R_star > 0):
        raise InputError("R_D", f"R*_D must be finite and positive, got {R_star!r}")
    U_D = np.minimum(U, D)
    R = np.maximum(D / U_D - 1.0, 0.0)
    return U_D + U_D * R_star * (-np.expm1(-R / R_star))


def repetition_multiplier(epochs, R_star: float = MUENNIGHOFF_R_D) -> np.ndarray:
    """D′/D for R = D/U epochs over a pool: (1 + R*(1 − e^(−(R−1)/R*)))/R (1 for R ≤ 1)."""
    R = np.asarray(epochs, dtype=float)
    if np.any(~np.isfinite(R)) or np.any(R <= 0):
        raise InputError("epochs", "epochs must be finite and positive")
    return effective_data(R, np.ones_like(R), R_star) / R


def repetition_limit(R_star: float = MUENNIGHOFF_R_D) -> float:
    """The most a pool of U unique tokens is ever worth, in units of U: 1 + R*_D (REFERENCES.md §4)."""
    return 1.0 + float(R_star)


def corrupted_data_multiplier(corrupt_fraction: float, kept_corrupt_fraction: float = 0.0) -> float:
    """Effective-data multiplier of filtering: (1 − φ_kept)/(1 − φ) (module docstring for what it assumes)."""
    for name, v in (("corrupt_fraction", corrupt_fraction), ("kept_corrupt_fraction", kept_corrupt_fraction)):
        if not (math.isfinite(v) and 0.0 <= v < 1.0):
            raise InputError(name, f"must lie in [0, 1), got {v!r}")
    return (1.0 - kept_corrupt_fraction) / (1.0 - corrupt_fraction)


__all__ = ["MUENNIGHOFF_R_D", "corrupted_data_multiplier", "effective_data", "effective_data_expr",
           "repetition_limit", "repetition_multiplier"]
