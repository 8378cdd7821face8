"""Extrapolation tests: fit a law on small runs, predict larger runs it never saw.

A law is a prediction only if it holds beyond the runs it was fitted on. Runs are split at a compute
cut-off C_cut: the law is fitted (Hoffmann/Epoch method, `validate.fit`) on the runs with C < C_cut and
predicts every held-out run with C_cut·min_factor <= C <= C_cut·max_factor (all runs at or above the
cut-off by default). Each held-out run gets its relative error |Lhat − L|/L and two bootstrap
intervals (`validate.bootstrap.predictive_interval`; pairs bootstrap of the training runs):

- the **prediction interval** for a new run's observed loss (Davison & Hinkley 1997 §6.3.3; Stine
  1985): each bootstrap refit's prediction times exp(−e) for a log residual e drawn from the training
  fit's leverage-inflated residuals, so the run-to-run scatter around the law is included;
- the **mean-curve (confidence) interval**: the bootstrap refits' predictions alone, the uncertainty
  of the fitted law itself. New runs fall outside it more often than 1 − alpha by construction.

``coverage`` is the fraction of held-out runs inside their prediction interval (nominally 1 − alpha),
``coverage_mean_curve`` inside the mean-curve interval. ``mean_log_error`` (mean of log Lhat − log L
over held-out runs) against ``residual_scale`` (1.4826 × MAD of the training log residuals) tells a
biased extrapolation (a misspecified law) from an interval that is merely too narrow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theory.errors import InputError
from validate.bootstrap import bootstrap_fit, predict_samples, predictive_interval
from validate.fit import FitResult, fit_law, resolve_law
from validate.runs_io import Runs, check_enough_points


INTERVAL_METHOD = ("prediction interval: pairs-bootstrap refits x resampled leverage-inflated log residuals, "
                   "percentiles (Davison & Hinkley 1997 Alg. 6.4; Stine 1985); mean-curve interval: refits only")


@dataclass
class ExtrapolationResult:
    law: str
    cutoff: float
    n_train: int
    n_holdout: int
    params: dict[str, float]
    converged: bool
    message: str
    points: list[dict] = field(default_factory=list)
    mean_rel_err: float = float("nan")
    max_rel_err: float = float("nan")
    coverage: float = float("nan")
    coverage_mean_curve: float = float("nan")
    mean_log_error: float = float("nan")
    residual_scale: float = float("nan")
    alpha: float = 0.05
    n_bootstrap: int = 0
    n_failed: int = 0
    fit: FitResult | None = None

    def summary(self) -> dict:
        return {
            "law": self.law,
            "holdout_above_compute": self.cutoff,
            "n_train": self.n_train,
            "n_holdout": self.n_holdout,
            "mean_rel_err": self.mean_rel_err,
            "max_rel_err": self.max_rel_err,
            "coverage": self.coverage,
            "coverage_mean_curve": self.coverage_mean_curve,
            "interval_level": 1 - self.alpha,
            "interval_method": INTERVAL_METHOD,
            "mean_log_error": self.mean_log_error,
            "residual_scale": self.residual_scale,
            "n_bootstrap": self.n_bootstrap,
            "n_bootstrap_failed": self.n_failed,
            "params": self.params,
            "converged": self.converged,
            "message": self.message,
            "points": self.points,
        }


def split_by_compute(runs: Runs, cutoff: float, min_factor: float = 1.0, max_factor: float = math.inf):
    """(train mask, holdout mask): C < cutoff for training; cutoff·min_factor <= C <= cutoff·max_factor held out."""
    if not (math.isfinite(cutoff) and cutoff > 0):
        raise InputError("holdout-above-compute", f"must be a positive number of FLOPs, got {cutoff!r}")
    if not (min_factor >= 1 and max_factor >= min_factor):
        raise InputError("min-factor", f"need 1 <= min-factor <= max-factor, got {min_factor!r}, {max_factor!r}")
    C = runs.compute()
    train = C < cutoff
    hold = (C >= cutoff * min_factor) & (C <= cutoff * max_factor)
    return train, hold


def extrapolation_test(
    law,
    runs: Runs,
    cutoff: float,
    *,
    min_factor: float = 1.0,
    max_factor: float = math.inf,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    workers: int | None = 1,
    loss: str = "huber",
    delta: float = 1e-3,
    reduction: str = "sum",
    max_starts: int = 4500,
    progress=None,
) -> ExtrapolationResult:
    """Fit below ``cutoff`` FLOPs, predict the held-out runs above it (see the module docstring)."""
    law = resolve_law(law)
    train, hold = split_by_compute(runs, cutoff, min_factor, max_factor)
    n_train, n_hold = int(train.sum()), int(hold.sum())
    if n_hold == 0:
        raise InputError("holdout-above-compute", f"no runs are held out above {cutoff:.3g} FLOPs "
                         f"(largest compute in the runs: {runs.compute().max():.3g})")
    check_enough_points(law, n_train, "holdout-above-compute")
    tr, ho = runs.subset(train), runs.subset(hold)
    fit = fit_law(law, tr.inputs_for(law), tr.loss, loss=loss, delta=delta, reduction=reduction,
                  max_starts=max_starts, seed=seed)
    ho_inputs = ho.inputs_for(law)
    pred = predict_samples(law, np.array([[fit.params[n] for n in law.param_names]]), ho_inputs)[0]
    rel = np.abs(pred - ho.loss) / ho.loss
    boot = bootstrap_fit(fit, tr.inputs_for(law), tr.loss, n_bootstrap=n_bootstrap, seed=seed,
                         workers=workers, progress=progress)
    lo, hi = predictive_interval(fit, boot, ho_inputs, alpha=alpha, noise=True, seed=seed)
    lo_m, hi_m = predictive_interval(fit, boot, ho_inputs, alpha=alpha, noise=False, seed=seed)
    inside = (ho.loss >= lo) & (ho.loss <= hi)
    inside_m = (ho.loss >= lo_m) & (ho.loss <= hi_m)
    log_err = np.log(pred) - np.log(ho.loss)
    r = fit.log_residuals
    resid_scale = float(1.4826 * np.median(np.abs(r - np.median(r))))
    C_train_max = float(tr.compute().max()) if n_train else float("nan")
    Ch = ho.compute()
    points = []
    for j in np.argsort(Ch, kind="stable"):
        pt = {k: float(v[j]) for k, v in ho_inputs.items()}
        pt.update({
            "C": float(Ch[j]),
            "compute_over_largest_train": float(Ch[j] / C_train_max),
            "loss": float(ho.loss[j]),
            "predicted": float(pred[j]),
            "rel_err": float(rel[j]),
            "interval": [float(lo[j]), float(hi[j])],
            "inside": bool(inside[j]),
            "mean_curve_interval": [float(lo_m[j]), float(hi_m[j])],
            "inside_mean_curve": bool(inside_m[j]),
        })
        points.append(pt)
    return ExtrapolationResult(
        law=law.name, cutoff=float(cutoff), n_train=n_train, n_holdout=n_hold, params=fit.params,
        converged=fit.converged, message=fit.message, points=points,
        mean_rel_err=float(rel.mean()), max_rel_err=float(rel.max()), coverage=float(inside.mean()),
        coverage_mean_curve=float(inside_m.mean()), mean_log_error=float(log_err.mean()), residual_scale=resid_scale,
        alpha=alpha, n_bootstrap=boot.n_bootstrap, n_failed=boot.n_failed, fit=fit,
    )
