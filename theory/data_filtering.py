"""What filtering corrupted labels does to a kernel-regression learning curve: effective sample size and
effective noise after a probe-scored filter, fed to the spectral theory (theory/spectral.py).

The setting is the one simulated in sim/kernel_pruning.py: labels y = f*(x) + ε, where a random
fraction ρ of examples is corrupted (ε ~ N(0, σ_c²)) and the rest carry ε ~ N(0, σ₀²). A probe (kernel
ridge regression on P_probe separate examples with the same noisy labels) scores each example by its
residual r = y − f̂_probe(x) = ε + e(x), e = f* − f̂_probe. Training keeps P examples out of a pool of
P/f.

Where the theory applies, and what it assumes:

1. The probe's error e(x) is Gaussian with variance s_p² = E_g(P_probe; σ² = σ₀² + ρσ_c²), the
   spectral theory's test error of the probe (REFERENCES.md §6). On the synthetic task this is exact
   for a given probe (e is a linear combination of Gaussian features) up to the probe's seed-to-seed
   fluctuation of s_p² about its mean.
2. Per class c (clean: σ_ε² = σ₀², corrupted: σ_ε² = σ₀² + σ_c²) the residual is r ~ N(0, v_c),
   v_c = s_p² + σ_ε², independent of which class. "easy" filtering keeps |r| < t with t set so that
   (1 − ρ)·P(|r| < t | clean) + ρ·P(|r| < t | corrupted) = f; "hard" keeps |r| > t; "random" keeps
   the pool's mix; "oracle" drops corrupted examples first.
3. Given r the noise is Gaussian, ε | r ~ N(r σ_ε²/v_c, σ_ε² s_p²/v_c), so the noise kept per class is
   E[ε² | kept] = (σ_ε²/v_c)² E[r² | kept] + σ_ε² s_p²/v_c, with the truncated-Gaussian moments
   E[r² | |r| < t] = v (1 − 2uφ(u)/(2Φ(u) − 1)) and E[r² | |r| > t] = v (1 + uφ(u)/(1 − Φ(u))),
   u = t/√v. The effective noise variance of the kept set is σ_eff² = Σ_c P(c, kept) E[ε² | kept, c] / f.
4. The kept examples are treated as i.i.d. from the input distribution, with noise of variance σ_eff²
   independent of x, and fed to the spectral theory at P (the kept count): E_g(P; σ² = σ_eff²). This
   is the approximation: the filter keeps examples where |ε + e(x)| is small, so it also prefers
   inputs where the probe's own error e(x) is small, a (mild, when s_p² ≪ σ_c²) distribution shift the
   theory ignores. The noise enters a linear predictor only through its variance, so the non-Gaussian
   mixture of kept noise is not an approximation.

Where it does not apply: pruning clean data ("hard" or "easy" with ρ = 0 and σ₀ = 0) changes nothing
in this theory (σ_eff = 0 either way), while the real effect is entirely the distribution shift of
item 4. `applies()` says so; the prediction for pruning clean data in kernel regression is empirical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theory.errors import InputError
from theory.spectral import learning_curve, power_law_spectrum, power_law_target

RULES = ("easy", "hard", "random", "oracle")


@dataclass(frozen=True)
class FilterOutcome:
    """What a filter leaves: the kept fraction f, its share of corrupted examples and its noise variance."""

    keep: float
    threshold: float | None  # t on |r| (None for random and oracle)
    kept_corrupt_fraction: float
    noise_variance: float  # σ_eff²
    probe_error: float | None  # s_p²


def _norm_cdf(u):
    return 0.5 * (1.0 + math.erf(u / math.sqrt(2.0)))


def _norm_pdf(u):
    return math.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)


def _check(keep, rho, sigma_c2, sigma_02, rule):
    if not (math.isfinite(keep) and 0 < keep <= 1):
        raise InputError("keep", f"must lie in (0, 1], got {keep!r}")
    if not (math.isfinite(rho) and 0 <= rho < 1):
        raise InputError("corrupt_fraction", f"must lie in [0, 1), got {rho!r}")
    for name, v in (("corrupt_variance", sigma_c2), ("noise", sigma_02)):
        if not (math.isfinite(v) and v >= 0):
            raise InputError(name, f"must be a finite variance >= 0, got {v!r}")
    if rule not in RULES:
        raise InputError("prune", f"must be one of {', '.join(RULES)}, got {rule!r}")


def _kept_mass(t: float, v: float, rule: str) -> float:
    """P(kept) for r ~ N(0, v): |r| < t (easy) or |r| > t (hard)."""
    if v == 0:
        inside = 1.0 if t > 0 else 0.0
    else:
        inside = 2.0 * _norm_cdf(t / math.sqrt(v)) - 1.0
    return inside if rule == "easy" else 1.0 - inside


def _kept_r2(t: float, v: float, rule: str) -> float:
    """E[r² | kept] for r ~ N(0, v) (truncated-Gaussian second moments)."""
    if v == 0:
        return 0.0
    u = t / math.sqrt(v)
    if rule == "easy":
        mass = 2.0 * _norm_cdf(u) - 1.0
        if mass <= 1e-300:
            return 0.0
        return v * max(0.0, 1.0 - 2.0 * u * _norm_pdf(u) / mass)
    tail = 1.0 - _norm_cdf(u)
    if tail <= 1e-300:
        return v * (1.0 + u * u)  # the asymptotic E[r² | |r| > t] → t²
    return v * (1.0 + u * _norm_pdf(u) / tail)


def filter_outcome(keep: float, corrupt_fraction: float, corrupt_variance: float, probe_error: float | None,
                   *, noise: float = 0.0, rule: str = "easy") -> FilterOutcome:
    """The kept share of corrupted examples and the kept noise variance σ_eff² (module docstring, 2–3).

    ``probe_error``: s_p², the probe's test error (needed for easy/hard).
    """
    _check(keep, corrupt_fraction, corrupt_variance, noise, rule)
    rho = corrupt_fraction
    classes = ((1.0 - rho, noise), (rho, noise + corrupt_variance))  # (share, σ_ε²)
    if keep == 1.0 or rule == "random":
        noise_var = (1 - rho) * noise + rho * (noise + corrupt_variance)
        return FilterOutcome(keep, None, rho, noise_var, probe_error)
    if rule == "oracle":
        clean = min(keep, 1.0 - rho)
        dirty = keep - clean
        noise_var = (clean * noise + dirty * (noise + corrupt_variance)) / keep
        return FilterOutcome(keep, None, dirty / keep, noise_var, probe_error)
    if probe_error is None or not (math.isfinite(probe_error) and probe_error >= 0):
        raise InputError("probe_error", f"a probe-scored filter needs the probe's test error s_p² >= 0, got {probe_error!r}")
    sp2 = float(probe_error)
    vs = [sp2 + s2 for _, s2 in classes]
    if max(vs) == 0:
        return FilterOutcome(keep, 0.0, rho, 0.0, sp2)

    def kept(t):
        return sum(w * _kept_mass(t, v, rule) for (w, _), v in zip(classes, vs))

    from scipy.optimize import brentq

    hi = 40.0 * math.sqrt(max(vs))
    t = brentq(lambda tt: kept(tt) - keep, 0.0, hi, xtol=1e-14 * hi, rtol=1e-13)
    mass = [w * _kept_mass(t, v, rule) for (w, _), v in zip(classes, vs)]
    noise_kept = 0.0
    for m, (_, s2), v in zip(mass, classes, vs):
        if m <= 0 or v == 0:
            continue
        e2 = (s2 / v) ** 2 * _kept_r2(t, v, rule) + s2 * sp2 / v  # E[ε² | kept, class]
        noise_kept += m * e2
    total = sum(mass)
    return FilterOutcome(keep, float(t), float(mass[1] / total), float(noise_kept / total), sp2)


def applies(keep: float, corrupt_fraction: float, noise: float, rule: str) -> tuple[bool, str]:
    """Whether the effective-noise theory says anything about this selection (module docstring)."""
    if keep == 1.0 or rule == "random":
        return True, "no selection by score: the spectral theory with the pool's noise variance"
    if corrupt_fraction == 0 and noise == 0:
        return False, ("pruning clean labels: the effective-noise theory predicts no change, while the real effect "
                       "comes from the distribution shift of the kept inputs; the prediction is empirical")
    return True, "effective sample size and noise after filtering, fed to the spectral theory"


def filtered_learning_curve(eigenvalues, target_power, P, *, keep: float, corrupt_fraction: float,
                            corrupt_variance: float, noise: float = 0.0, probe_size: int = 64,
                            ridge: float = 0.0, rule: str = "easy") -> dict:
    """E_g(P) of kernel regression trained on P kept examples after the filter (module docstring, 1–4).

    Returns {"P", "test_error", "noise_variance", "kept_corrupt_fraction", "probe_error", "applies", "note"}.
    """
    _check(keep, corrupt_fraction, corrupt_variance, noise, rule)
    if int(probe_size) != probe_size or probe_size < 1:
        raise InputError("probe_size", f"must be a whole number >= 1, got {probe_size!r}")
    pool_noise = noise + corrupt_fraction * corrupt_variance
    probe_error = None
    if rule in ("easy", "hard") and keep < 1.0:
        probe_error = float(learning_curve(eigenvalues, target_power, [probe_size], ridge=ridge,
                                           noise=pool_noise).test_error[0])
    out = filter_outcome(keep, corrupt_fraction, corrupt_variance, probe_error, noise=noise, rule=rule)
    curve = learning_curve(eigenvalues, target_power, P, ridge=ridge, noise=out.noise_variance)
    ok, note = applies(keep, corrupt_fraction, noise, rule)
    return {
        "P": np.asarray(curve.P).tolist(), "test_error": np.asarray(curve.test_error).tolist(),
        "noise_variance": out.noise_variance, "kept_corrupt_fraction": out.kept_corrupt_fraction,
        "probe_error": probe_error, "threshold": out.threshold, "applies": ok, "note": note,
    }


def power_law_filtered_curve(spectrum_decay: float, target_decay: float, P, *, modes: int = 8192, **kwargs) -> dict:
    """`filtered_learning_curve` on the power-law task of sim/kernel_pruning.py (trace-1 spectrum,
    variance-1 target)."""
    return filtered_learning_curve(power_law_spectrum(spectrum_decay, modes), power_law_target(target_decay, modes),
                                   P, **kwargs)


__all__ = ["FilterOutcome", "RULES", "applies", "filter_outcome", "filtered_learning_curve", "power_law_filtered_curve"]
