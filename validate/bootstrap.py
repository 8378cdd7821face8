"""Bootstrap uncertainty for fitted scaling laws: standard errors, 95% intervals, predictive intervals.

Method (Besiroglu et al. 2024 used the same nonparametric bootstrap, REFERENCES.md §3): resample the
runs with replacement, refit, and read standard errors (sample standard deviation) and 95% intervals
(2.5th and 97.5th percentiles) off the refits, for every parameter and every derived quantity
(a, b, G, N_opt, D_opt, tokens per parameter and loss at the compute-optimal point of a given C,
predicted loss at new points).

A resample is a vector of counts over the runs, so a refit minimises the same objective with the
counts as weights; many replicates are optimised at once by the batched L-BFGS of `validate.fit`.
Each refit starts from 16 points of the full fit's start grid, spread over those whose run reached the
best optimum (`FitResult.refit_starts`), plus the distinct optima the full fit found
(`FitResult.candidates`), not from the whole grid again; its best end point is polished by scipy's
L-BFGS-B, and replicates whose polish does not converge are counted and left out. Starting only from
the full-data optimum is not enough: with δ = 1e-3 the Huber objective is nearly Σ δ|r|, L-BFGS stalls
at its kinks and stops on the relative-reduction test next to where it started, and the intervals come
out falsely narrow (on the Chinchilla runs: SE(E) 0.006 against 0.027 from the full grid). On the
Chinchilla runs these 16 starts reach the full-grid optimum of every replicate checked.

Reproducible: replicate i draws its resample from SeedSequence(seed, spawn_key=(i,)) over the runs in
the fitter's canonical order, and replicates are processed in fixed chunks, so the numbers depend on
the seed only, not on the number of worker processes or the order of rows in the file.

Parallel: chunks run on a `concurrent.futures.ProcessPoolExecutor`; each worker rebuilds the law from
its plain-data spec (lambdified functions are never pickled) and pins BLAS to one thread
(threadpoolctl), so two workers do not fight over two cores.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from theory.errors import InputError
from validate.fit import (
    FTOL, GTOL, FitResult, Objective, compute_optimal_samples, lbfgs_batched, prepare_data, scipy_polish,
)

NOISE_DRAWS = 4000  # simulated new runs per point for a prediction interval (refits x residual draws)
CHUNK = 50  # replicates per task: fixed, so results do not depend on the number of workers
DEFAULT_COMPUTE = 5.88e23  # FLOPs: Gopher's budget, where Hoffmann compare allocations (REFERENCES.md §3)


@dataclass
class BootstrapResult:
    """Refit parameters and derived quantities for each replicate, and their summaries."""

    param_names: tuple[str, ...]
    estimate: dict[str, float]  # the full-data fit
    samples: np.ndarray  # (B, p) law parameters per replicate (NaN where the refit failed)
    converged: np.ndarray  # (B,) bool
    derived_estimate: dict[str, float] = field(default_factory=dict)
    derived_samples: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int = 0
    compute: float | None = None
    messages: dict[str, int] = field(default_factory=dict)

    @property
    def n_bootstrap(self) -> int:
        return int(self.converged.shape[0])

    @property
    def n_failed(self) -> int:
        return int((~self.converged).sum())

    def _ok(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float)[self.converged]
        return v[np.isfinite(v)]

    def se(self) -> dict[str, float]:
        out = {n: _sd(self._ok(self.samples[:, i])) for i, n in enumerate(self.param_names)}
        out.update({k: _sd(self._ok(v)) for k, v in self.derived_samples.items()})
        return out

    def ci(self, level: float = 0.95) -> dict[str, list[float]]:
        q = (1 - level) / 2
        out = {n: _pct(self._ok(self.samples[:, i]), q) for i, n in enumerate(self.param_names)}
        out.update({k: _pct(self._ok(v), q) for k, v in self.derived_samples.items()})
        return out

    def summary(self) -> dict:
        return {
            "n_bootstrap": self.n_bootstrap,
            "n_failed": self.n_failed,
            "seed": self.seed,
            "se": self.se(),
            "ci95": self.ci(0.95),
        }


def _sd(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1)) if v.size > 1 else float("nan")


def _pct(v: np.ndarray, q: float) -> list[float]:
    if v.size == 0:
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(v, [q, 1 - q])
    return [float(lo), float(hi)]


def resample_counts(n: int, seed: int, replicate: int) -> np.ndarray:
    """How often each run (canonical order) appears in bootstrap replicate ``replicate``."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(int(replicate),)))
    return np.bincount(rng.integers(0, n, n), minlength=n).astype(float)


# --- the refit of a chunk of replicates (runs in the parent or in a worker) ------------------------

def refit_replicates(objective: Objective, starts: np.ndarray, replicates: Sequence[int], seed: int, *,
                     polish: bool = True, gtol: float = GTOL, ftol: float = FTOL):
    """Refit replicates ``replicates``: returns phi (B, p), objective (B,), converged (B,), messages."""
    n = objective.n_points
    W = np.stack([resample_counts(n, seed, i) for i in replicates])  # (B, n)
    K = starts.shape[0]
    B = W.shape[0]
    x0 = np.repeat(starts[None, :, :], B, axis=0).reshape(B * K, -1)  # row = replicate * K + start
    owner = np.repeat(np.arange(B), K)

    def fg(X, rows):
        return objective.value_and_grad(X, W[owner[rows]])

    batch = lbfgs_batched(fg, x0, gtol=gtol, ftol=ftol)
    f = np.where(np.isfinite(batch.f), batch.f, np.inf).reshape(B, K)
    best = np.argmin(f, axis=1)
    phi = batch.x.reshape(B, K, -1)[np.arange(B), best]
    fbest = f[np.arange(B), best]
    conv = batch.converged.reshape(B, K)[np.arange(B), best]
    messages: dict[str, int] = {}
    if polish:
        for b in range(B):
            res = scipy_polish(objective, phi[b], W[b], gtol=gtol, ftol=ftol)
            if np.isfinite(res.fun) and res.fun <= fbest[b] + 1e-15 * max(1.0, abs(fbest[b])):
                phi[b] = res.x
                fbest[b] = res.fun
            conv[b] = bool(res.success)
            messages[str(res.message)] = messages.get(str(res.message), 0) + 1
    return phi, fbest, conv, messages


_WORKER: dict = {}


def _init_worker(spec: dict, log_inputs, log_y, loss, delta, reduction, engine, starts, seed, polish, gtol, ftol):
    from threadpoolctl import threadpool_limits

    from theory.laws import law_from_spec

    _WORKER["limits"] = threadpool_limits(limits=1)  # one BLAS thread per worker process
    law = law_from_spec(spec)  # rebuild from plain data; lambdify happens here, in the worker
    _WORKER["objective"] = Objective(law, log_inputs, log_y, loss=loss, delta=delta, reduction=reduction, engine=engine)
    _WORKER["args"] = (starts, seed, polish, gtol, ftol)


def _worker_chunk(replicates: Sequence[int]):
    starts, seed, polish, gtol, ftol = _WORKER["args"]
    return refit_replicates(_WORKER["objective"], starts, replicates, seed, polish=polish, gtol=gtol, ftol=ftol)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def bootstrap_fit(
    fit: FitResult,
    inputs: Mapping[str, object] | np.ndarray,
    y,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    workers: int | None = 1,
    compute: float | None = None,
    predict_at: Sequence[Mapping[str, float]] = (),
    polish: bool = True,
    refit_from: str = "grid",
    progress: Callable[[int, int], None] | None = None,
) -> BootstrapResult:
    """Bootstrap a fit: ``n_bootstrap`` refits on runs resampled with replacement.

    ``inputs``/``y`` are the runs the fit was made on. ``compute`` (FLOPs) adds the compute-optimal
    quantities at that budget (a, b, G, N_opt, D_opt, tokens_per_param, loss_opt) for laws in (N, D);
    ``predict_at`` adds the predicted loss at each given point (``loss_at_0``, ...). ``progress(done,
    total)`` is called as chunks finish. ``workers`` None or 0: one per available core.
    ``refit_from``: 'grid' (the default; see the module docstring) or 'estimate' (each refit starts
    only at the full-data estimate: the naive bootstrap, kept to show how it understates uncertainty).
    """
    if refit_from not in ("grid", "estimate"):
        raise InputError("bootstrap-from", f"expected 'grid' or 'estimate', got {refit_from!r}")
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 2:
        raise InputError("bootstrap", f"needs at least 2 replicates, got {n_bootstrap!r}")
    law = fit.law
    logX, logy, _ = prepare_data(law, inputs, y)
    engine = fit.options.get("engine", "auto")
    objective = Objective(law, logX, logy, loss=fit.loss, delta=fit.delta, reduction=fit.reduction, engine=engine)
    if refit_from == "grid":
        starts = np.vstack([np.atleast_2d(fit.refit_starts).reshape(-1, fit.phi.size),
                            np.atleast_2d(fit.candidates).reshape(-1, fit.phi.size)])
    else:
        starts = fit.phi[None, :]
    chunks = [list(range(i, min(i + CHUNK, n_bootstrap))) for i in range(0, n_bootstrap, CHUNK)]
    workers = default_workers() if not workers else int(workers)
    gtol = fit.options.get("gtol", GTOL)
    ftol = fit.options.get("ftol", FTOL)
    results = []
    done = 0
    if progress:
        progress(0, n_bootstrap)
    if workers <= 1 or len(chunks) == 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # tiny matrices: one BLAS thread (see validate.fit.fit_objective)
            for ch in chunks:
                results.append(refit_replicates(objective, starts, ch, seed, polish=polish, gtol=gtol, ftol=ftol))
                done += len(ch)
                if progress:
                    progress(done, n_bootstrap)
    else:
        init = (law.spec(), logX, logy, fit.loss, fit.delta, fit.reduction, engine, starts, seed, polish, gtol, ftol)
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), initializer=_init_worker, initargs=init) as ex:
            futures = [ex.submit(_worker_chunk, ch) for ch in chunks]
            for ch, fut in zip(chunks, futures):
                results.append(fut.result())
                done += len(ch)
                if progress:
                    progress(done, n_bootstrap)
    phi = np.vstack([r[0] for r in results])
    conv = np.concatenate([r[2] for r in results])
    messages: dict[str, int] = {}
    for r in results:
        for k, v in r[3].items():
            messages[k] = messages.get(k, 0) + v
    samples = objective.params_array(phi)
    samples[~conv] = np.nan
    out = BootstrapResult(
        param_names=law.param_names,
        estimate=dict(fit.params),
        samples=samples,
        converged=conv,
        seed=seed,
        compute=compute,
        messages=messages,
    )
    full = np.array([[fit.params[n] for n in law.param_names]])
    if compute is not None:
        co_full = compute_optimal_samples(law, full, compute)
        co = compute_optimal_samples(law, samples, compute)
        if co is not None:
            for k in co:
                name = "loss_opt" if k == "loss" else k
                out.derived_samples[name] = co[k]
                out.derived_estimate[name] = float(co_full[k][0])
    for j, point in enumerate(predict_at):
        out.derived_samples[f"loss_at_{j}"] = predict_samples(law, samples, point)[:, 0]
        out.derived_estimate[f"loss_at_{j}"] = float(predict_samples(law, full, point)[0, 0])
    return out


def predict_samples(law, params: np.ndarray, inputs: Mapping[str, object]) -> np.ndarray:
    """The law at ``inputs`` (m points) for each row of law parameters: (B, m)."""
    params = np.atleast_2d(np.asarray(params, dtype=float))
    logs = []
    m = None
    for name in law.input_names:
        if name not in inputs:
            raise InputError(name, f"law {law.name!r} needs input {name}")
        a = np.atleast_1d(np.asarray(inputs[name], dtype=float)).ravel()
        if np.any(~np.isfinite(a)) or np.any(a <= 0):
            raise InputError(name, "must be a finite positive number")
        m = a.size if m is None else m
        logs.append(np.log(a)[None, :])
    fn = law.numeric("numpy")
    with np.errstate(all="ignore"):
        out = fn(*logs, *(params[:, j : j + 1] for j in range(params.shape[1])))
    return np.broadcast_to(np.asarray(out, dtype=float), (params.shape[0], m)).copy()


def modified_residuals(fit: FitResult) -> np.ndarray:
    """The fit's log residuals (log Lhat - log L), leverage-inflated and centred: the noise a new run's log loss has
    around the fitted law (Davison & Hinkley 1997, Bootstrap Methods and their Application, eq. 6.9:
    r_i / sqrt(1 - h_i), centred). In-sample residuals are smaller than a new run's deviation because
    the fit bends toward each run (by its leverage h_i); dividing by sqrt(1 - h_i) undoes that.
    Centring uses the mean for least squares (as Davison & Hinkley) and the median for the Huber
    loss (with delta = 1e-3 it is nearly a least-absolute-deviation fit, whose residuals have median
    zero, not mean zero)."""
    r = np.asarray(fit.log_residuals, dtype=float)
    h = getattr(fit, "leverage", None)
    if h is not None and np.all(np.isfinite(h)):
        r = r / np.sqrt(1.0 - np.clip(h, 0.0, 0.99))
    r = np.sort(r[np.isfinite(r)])  # sorted: draws from it do not depend on the order of the runs
    return r - (np.mean(r) if fit.loss == "squared" else np.median(r))


def predictive_interval(fit: FitResult, boot: BootstrapResult, inputs: Mapping[str, object], *,
                        alpha: float = 0.05, noise: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of a 1 - alpha bootstrap interval for the loss at ``inputs``.

    ``noise=False``: a confidence interval for the law's mean curve, the 2.5th and 97.5th percentiles
    of the bootstrap refits' predictions (parameter uncertainty only). It is too narrow for a new run,
    whose loss also scatters around the law (seed, data order, measurement).

    ``noise=True``: a prediction interval for a new run's observed loss, by the bootstrap prediction
    method of Davison & Hinkley (1997, §6.3.3, Algorithm 6.4) and Stine (1985, "Bootstrap prediction
    intervals for regression", JASA 80:1026): for every converged replicate b and every point, a
    simulated new observation log L* = log Lhat_b(x) - e*, where Lhat_b is the refit on runs
    resampled with replacement (parameter uncertainty) and e* is drawn with replacement from the
    full fit's leverage-inflated, centred log residuals (`modified_residuals`: the run-to-run
    scatter, with its real shape and tails rather than an assumed normal), several draws per refit
    (NOISE_DRAWS simulated runs a point in all). The interval is the alpha/2 and 1 - alpha/2
    percentiles of the simulated L*. It assumes the law is right and the
    scatter the same at the new point as in the fitted runs; a misspecified law extrapolated far
    can still under-cover (the planted simulation in tests/test_fit_extrapolation.py checks the
    calibration when those assumptions hold).
    """
    if not 0 < alpha < 1:
        raise InputError("alpha", f"must lie between 0 and 1, got {alpha!r}")
    ok = boot.converged & np.all(np.isfinite(boot.samples), axis=1)
    if ok.sum() < 2:
        raise InputError("bootstrap", "fewer than 2 bootstrap refits converged; no interval")
    pred = predict_samples(fit.law, boot.samples[ok], inputs)  # (B, m)
    if noise:
        eps = modified_residuals(fit)
        rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(2**31,)))
        # several residual draws per refit (at least NOISE_DRAWS simulated runs a point), so the
        # interval's ends carry little Monte Carlo noise of their own
        k = max(1, -(-NOISE_DRAWS // pred.shape[0]))
        pred = np.repeat(pred, k, axis=0)
        pred = pred * np.exp(-eps[rng.integers(0, eps.size, pred.shape)])  # log L = log Lhat - residual
    lo, hi = np.quantile(pred, [alpha / 2, 1 - alpha / 2], axis=0)
    return lo, hi
