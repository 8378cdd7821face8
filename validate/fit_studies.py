"""Studies of the fitter itself: does it recover planted parameters with honest intervals, and why
does the averaged Huber loss give falsely narrow intervals?

- `planted_coverage`: draw noisy runs from a law with known parameters, fit and bootstrap each draw,
  and count how often the 95% intervals contain the truth (nominally 95%).
- `reduction_comparison`: the same fit and bootstrap with the Huber loss summed (Hoffmann's stated
  method, Epoch's refit) and averaged, with bootstrap refits started from the grid or only from the
  estimate. Averaging divides the objective and its gradient by the number of runs; L-BFGS's default
  stopping tests (max |g| <= 1e-5; relative reduction <= 2.2e-9 with the denominator max(|f|, 1))
  then fire next to the starting point, so the fit stops early and refits started at the estimate
  barely move: the bootstrap spread collapses (Besiroglu et al. 2024, REFERENCES.md §3).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from theory.errors import InputError
from validate.bootstrap import bootstrap_fit, predict_samples
from validate.fit import Objective, fit_law, prepare_data, resolve_law

KEY_DERIVED = ("a", "b", "tokens_per_param")


def default_design(law) -> dict[str, np.ndarray]:
    """Planted-run design: for the Chinchilla form 9 compute budgets 6e18..3e21 FLOPs (Hoffmann's
    isoFLOP range) x 16 sizes spanning 1/8..8 x the compute-optimal N of Epoch's fit, D = C/(6N)
    (144 runs); for one-input laws 60 log-spaced points of the input over 1e2..1e6."""
    names = law.input_names
    if set(names) == {"N", "D"}:
        Ns, Ds = [], []
        for C in np.geomspace(6e18, 3e21, 9):
            n_opt = 0.1132 * (C / 6) ** 0.5139  # Epoch's fit, G and a (REFERENCES.md §2-3)
            N = np.geomspace(n_opt / 8, n_opt * 8, 16)
            Ns.append(N)
            Ds.append(C / (6 * N))
        return {"N": np.concatenate(Ns), "D": np.concatenate(Ds)}
    if len(names) == 1:
        return {names[0]: np.geomspace(1e2, 1e6, 60)}
    raise InputError("design", f"no default design for law {law.name!r}; give runs to take the inputs from")


def planted_coverage(
    law="chinchilla",
    params: Mapping[str, float] | None = None,
    design: Mapping[str, np.ndarray] | None = None,
    *,
    noise: float = 0.02,
    n_reps: int = 50,
    n_bootstrap: int = 200,
    seed: int = 0,
    workers: int | None = 1,
    max_starts: int = 4500,
    progress=None,
) -> dict:
    """Coverage of the 95% bootstrap intervals of each parameter over ``n_reps`` planted data sets.

    Runs: the law with ``params`` (default: its first built-in set) at the ``design`` inputs, times
    exp(noise * z), z standard normal (multiplicative noise, as the fit is in log space).
    """
    law = resolve_law(law)
    truth = law.param_values(None, params) if params or law.param_sets else None
    if truth is None:
        raise InputError("param", f"law {law.name!r} has no built-in values; give the planted parameters")
    design = dict(design or default_design(law))
    clean = predict_samples(law, np.array([[truth[n] for n in law.param_names]]), design)[0]
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    covered = {n: 0 for n in law.param_names}
    errors = {n: [] for n in law.param_names}
    widths = {n: [] for n in law.param_names}
    n_ok = 0
    for rep in range(int(n_reps)):
        y = clean * np.exp(noise * rng.standard_normal(clean.shape))
        fit = fit_law(law, design, y, max_starts=max_starts, seed=seed + rep)
        if not fit.converged:
            continue
        boot = bootstrap_fit(fit, design, y, n_bootstrap=n_bootstrap, seed=seed + rep, workers=workers)
        ci = boot.ci(0.95)
        n_ok += 1
        for n in law.param_names:
            lo, hi = ci[n]
            covered[n] += int(lo <= truth[n] <= hi)
            errors[n].append(fit.params[n] - truth[n])
            widths[n].append(hi - lo)
        if progress:
            progress(rep + 1, n_reps)
    cov = {n: covered[n] / n_ok if n_ok else float("nan") for n in law.param_names}
    return {
        "law": law.name,
        "truth": truth,
        "noise": noise,
        "n_points": int(clean.size),
        "n_reps": int(n_reps),
        "n_converged": n_ok,
        "n_bootstrap": int(n_bootstrap),
        "coverage": cov,
        # binomial standard error of a coverage estimate at the nominal 95%
        "coverage_se_at_nominal": math.sqrt(0.95 * 0.05 / n_ok) if n_ok else float("nan"),
        "rmse": {n: float(np.sqrt(np.mean(np.square(errors[n])))) if errors[n] else float("nan") for n in law.param_names},
        "mean_ci_width": {n: float(np.mean(widths[n])) if widths[n] else float("nan") for n in law.param_names},
    }


def reduction_comparison(
    law,
    inputs: Mapping[str, np.ndarray],
    y,
    *,
    n_bootstrap: int = 200,
    compute: float = 5.88e23,
    seed: int = 0,
    workers: int | None = 1,
    reductions: Sequence[str] = ("sum", "mean"),
    refit_from: Sequence[str] = ("grid", "estimate"),
    progress=None,
) -> dict:
    """The fit and its bootstrap under summed and averaged Huber loss (see the module docstring)."""
    law = resolve_law(law)
    logX, logy, _ = prepare_data(law, inputs, y)
    summed = Objective(law, logX, logy, reduction="sum")
    rows = []
    total = len(reductions) * len(refit_from)
    k = 0
    for red in reductions:
        fit = fit_law(law, inputs, y, reduction=red, seed=seed)
        f_sum = float(summed.value_and_grad(summed.phi_from_params(fit.params)[None, :])[0][0])
        for start in refit_from:
            boot = bootstrap_fit(fit, inputs, y, n_bootstrap=n_bootstrap, seed=seed, workers=workers,
                                 compute=compute, refit_from=start)
            se, ci = boot.se(), boot.ci()
            keys = list(law.param_names) + [d for d in KEY_DERIVED if d in se]
            rows.append({
                "reduction": red,
                "refit_from": start,
                "params": fit.params,
                "summed_objective": f_sum,
                "converged": fit.converged,
                "mean_iterations_per_start": fit.mean_nit,
                "derived": boot.derived_estimate,
                "se": {n: se[n] for n in keys},
                "ci95": {n: ci[n] for n in keys},
                "n_bootstrap_failed": boot.n_failed,
            })
            k += 1
            if progress:
                progress(k, total)
    return {"law": law.name, "n_points": int(len(logy)), "n_bootstrap": int(n_bootstrap), "compute": compute, "rows": rows}
