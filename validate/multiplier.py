"""Effective-compute (or effective-data) multipliers measured from real runs, with honest intervals.

What is measured (REFERENCES.md §9): a baseline arm and a trick arm are each run at several scales x
(compute, samples, α_prune, ...) with several seeds. Each arm's loss-against-scale frontier is fitted
with the project's fitter (`validate.fit.fit_law`: summed Huber on log losses, multi-start L-BFGS)
using a one-input law, by default the built-in ``power-law`` L(x) = E + A x^(−α). Each fit is
inverted to the scale an arm needs to reach a loss, x_arm(L), and the multiplier at that loss is

    M(L) = x_base(L) / x_trick(L)          (M > 1: the trick needs less scale for the same loss).

Target losses (no extrapolation beyond a stated margin). Each arm's fitted curve is evaluated at the
ends of its own measured scale window widened by the factor ``extrapolate`` (default 1: no
extrapolation at all), [x_min/m, x_max·m]; that gives the range of losses the arm reached. The
targets are ``n_targets`` losses spaced evenly in log L across the overlap of the two ranges, ends
included, so every target is a loss both arms reached within their measured scales (times m). When
the ranges do not overlap the multiplier is not measured; a bound is reported instead (the trick at
its smallest scale already beats the baseline at its largest: M > x_base,max / x_trick,min).

Intervals: a bootstrap that resamples within each arm and refits both arms. ``resample="run"``
(default) redraws, at each scale, that scale's runs (seeds) with replacement (stratified by scale, so
every replicate keeps every scale); ``resample="seed"`` redraws whole seeds with every run they made
(a cluster bootstrap, for learning curves whose points share a seed's data). Each replicate is a
weighted refit of the same objective (`validate.fit.Objective`, weights = resample counts), started
from the full fit's basin starts and distinct optima (as `validate.bootstrap` does), run batched by
`validate.fit.lbfgs_batched` and polished by scipy; replicates whose polish does not converge are
left out and counted. 95% intervals are the 2.5th and 97.5th percentiles. (With n runs per scale the
bootstrap's spread is that of the plug-in estimate, about √((n−1)/n) of the usual standard error:
with 3 seeds the intervals are some 18% narrower than a t-interval would be. More seeds, not a
correction, is the remedy; the full protocols use 10–16.)

Trend with scale: the least-squares slope s of log M against log x_base across the targets, per
replicate; its 95% interval decides the class: "constant" if the interval contains 0, otherwise
"growing" (s > 0) or "shrinking" (s < 0). (A trick that rescales scale by a constant gives s = 0; one
that changes the exponent from α_b to α_t gives s = 1 − α_b/α_t; one that lowers the floor gives an
s that grows without bound near the baseline's floor.)

Verdict (`compare_with_theory`, `verdict`), stated tests, no judgement calls:
- **no effect**: the 95% interval of M contains 1 at every target loss.
- **agrees with theory**: the theory's M at every target lies inside that target's measured 95%
  interval AND the theory's slope of log M against log x_base across the same targets lies inside
  the measured slope's 95% interval. (Requiring every target is stricter than one 95% test; it
  rejects a correct theory more often than 5% of the time, never less.)
- a trick without theory says so and reports the measured multiplier only.
- **reaches 10× (100×)**: the lower end of M's 95% interval is at least 10 (100) at some target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from theory.errors import InputError

MIN_SCALES = 4  # distinct scales per arm
MIN_SPAN = 16.0  # x_max / x_min per arm
MIN_SEEDS = 3  # runs (seeds) at every scale
DEFAULT_TARGETS = 5
DEFAULT_BOOTSTRAP = 200
SCALE_RTOL = 0.01  # scales within 1% of each other are the same scale (rounding of sample counts)
_INVERT_GRID = 4001  # log-spaced points for inverting a law without a closed-form inverse
_INVERT_WIDEN = 1e3  # the inversion grid reaches this factor beyond the arm's measured window
THRESHOLDS = (10.0, 100.0)


# =================================================================================================
# Runs of one arm
# =================================================================================================

def group_scales(scale: np.ndarray, rtol: float = SCALE_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """(group index per run, representative scale per group): sorted scales within ``rtol`` of the
    previous one share a group (e.g. α_prune = 3.995 and 4.0 from rounded sample counts)."""
    scale = np.asarray(scale, dtype=float)
    order = np.argsort(scale, kind="stable")
    groups = np.empty(scale.size, dtype=np.int64)
    reps: list[list[float]] = []
    for i in order:
        if reps and scale[i] <= reps[-1][0] * (1 + rtol):
            reps[-1].append(scale[i])
        else:
            reps.append([scale[i]])
        groups[i] = len(reps) - 1
    values = np.array([math.exp(np.mean(np.log(r))) for r in reps])
    return groups, values


@dataclass(frozen=True)
class ArmData:
    """The runs of one arm: scale (positive), loss (positive) and seed per run."""

    scale: np.ndarray
    loss: np.ndarray
    seed: np.ndarray
    label: str = ""

    @classmethod
    def from_runs(cls, runs: Iterable[tuple[float, float, int]], label: str = "") -> "ArmData":
        rows = list(runs)
        if not rows:
            raise InputError(label or "runs", "no runs")
        scale, loss, seed = (np.array(c) for c in zip(*rows))
        return cls(scale.astype(float), loss.astype(float), seed.astype(np.int64), label)

    def __post_init__(self):
        s, l, d = (np.asarray(a).ravel() for a in (self.scale, self.loss, self.seed))
        if not (s.size == l.size == d.size) or s.size == 0:
            raise InputError(self.label or "runs", "scale, loss and seed need one value per run")
        if not (np.all(np.isfinite(s)) and np.all(s > 0)):
            raise InputError(self.label or "runs", "scales must be finite and positive")
        if not (np.all(np.isfinite(l)) and np.all(l > 0)):
            raise InputError(self.label or "runs", "losses must be finite and positive")
        object.__setattr__(self, "scale", s.astype(float))
        object.__setattr__(self, "loss", l.astype(float))
        object.__setattr__(self, "seed", d.astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.scale.size)

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        return group_scales(self.scale)

    def scale_summary(self) -> list[dict]:
        """Per scale: the scale, runs, mean and geometric mean of the loss."""
        g, values = self.groups()
        out = []
        for j, x in enumerate(values):
            ls = self.loss[g == j]
            out.append({"scale": float(x), "runs": int(ls.size), "mean_loss": float(ls.mean()),
                        "geo_mean_loss": float(np.exp(np.log(ls).mean()))})
        return out

    def design(self) -> dict:
        g, values = self.groups()
        per_scale = np.bincount(g)
        return {
            "runs": self.n,
            "scales": [float(v) for v in values],
            "n_scales": int(values.size),
            "span": float(values.max() / values.min()),
            "seeds": sorted(int(s) for s in np.unique(self.seed)),
            "min_runs_per_scale": int(per_scale.min()),
        }


def check_design(arm: ArmData, field_name: str, *, min_scales: int = MIN_SCALES, min_span: float = MIN_SPAN,
                 min_seeds: int = MIN_SEEDS) -> None:
    """Refuse an arm with fewer than ``min_scales`` scales, a span under ``min_span``, or a scale with
    fewer than ``min_seeds`` runs (the protocol of issue 8: >= 4 scales, >= 16x, >= 3 seeds)."""
    d = arm.design()
    if d["n_scales"] < min_scales:
        raise InputError(field_name, f"{d['n_scales']} distinct scales; the protocol needs at least {min_scales}")
    if d["span"] < min_span * (1 - 1e-9):
        raise InputError(field_name, f"the scales span {d['span']:.3g}x; the protocol needs at least {min_span:g}x")
    if d["min_runs_per_scale"] < min_seeds:
        raise InputError(field_name, f"a scale has only {d['min_runs_per_scale']} run(s); the protocol needs at least {min_seeds} seeds at every scale")


# =================================================================================================
# Fitting and inverting one arm
# =================================================================================================

def _one_input_law(law):
    from validate.fit import resolve_law

    law = resolve_law(law)
    if len(law.input_names) != 1:
        raise InputError("law", f"a frontier law has one input (the scale); {law.name!r} has {', '.join(law.input_names)}")
    return law


@dataclass
class ArmFit:
    """The project's fit of one arm's loss against scale, and what the bootstrap needs to refit it."""

    arm: ArmData
    law: object  # theory.laws.Law
    result: object  # validate.fit.FitResult
    objective: object  # validate.fit.Objective (rows in the fitter's canonical order)
    order: np.ndarray  # objective row i is run order[i]

    @property
    def params_row(self) -> np.ndarray:
        return np.array([[self.result.params[n] for n in self.law.param_names]])

    def window(self, extrapolate: float) -> tuple[float, float]:
        return float(self.arm.scale.min() / extrapolate), float(self.arm.scale.max() * extrapolate)


def fit_arm(arm: ArmData, law="power-law", *, seed: int = 0) -> ArmFit:
    from validate.fit import fit_law, make_objective

    law = _one_input_law(law)
    inputs = {law.input_names[0]: arm.scale}
    result = fit_law(law, inputs, arm.loss, seed=seed)
    objective, order = make_objective(law, inputs, arm.loss)
    return ArmFit(arm, law, result, objective, order)


def law_curve(law, params: np.ndarray, scale) -> np.ndarray:
    """The law at ``scale`` for each row of parameters: (B, m)."""
    from validate.bootstrap import predict_samples

    return predict_samples(law, np.atleast_2d(params), {law.input_names[0]: np.atleast_1d(np.asarray(scale, float))})


def scale_to_reach(scale: np.ndarray, loss: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The least scale at which a curve (scale increasing; loss per row) first reaches each target.

    ``loss``: (m,) or (B, m); returns (K,) or (B, K). The curve's running minimum is inverted by linear
    interpolation in (log loss, log scale). inf where the curve never reaches the target on the grid;
    where the curve is already below the target at the first grid point, the first grid point (a
    bound: such a value is flagged by the callers that need it).
    """
    scale = np.asarray(scale, dtype=float)
    L = np.atleast_2d(np.asarray(loss, dtype=float))
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        logL = np.log(np.where(np.isfinite(L) & (L > 0), L, np.inf))
        env = np.minimum.accumulate(logL, axis=1)  # non-increasing
        lx = np.log(scale)
        lt = np.log(targets)
        out = np.full((L.shape[0], targets.size), np.inf)
        for b in range(L.shape[0]):
            e = env[b]
            # first index with env <= target: env is non-increasing, so search on its negation
            idx = np.searchsorted(-e, -lt, side="left")
            for k, i in enumerate(idx):
                if i >= e.size:
                    continue  # never reached
                if i == 0:
                    out[b, k] = scale[0]
                    continue
                e0, e1 = e[i - 1], e[i]
                if not np.isfinite(e0):
                    out[b, k] = scale[i]
                    continue
                t = 0.0 if e0 == e1 else (e0 - lt[k]) / (e0 - e1)
                out[b, k] = math.exp(lx[i - 1] + t * (lx[i] - lx[i - 1]))
    return out[0] if np.ndim(loss) == 1 else out


def invert_law(law, params: np.ndarray, targets, window: tuple[float, float]) -> np.ndarray:
    """x(L) for each row of law parameters (B, p) at each target loss: (B, K).

    The built-in power law E + A x^(−α) is inverted in closed form, x = (A/(L − E))^(1/α) (inf where
    L <= E: the curve never gets there). Any other one-input law through `scale_to_reach` on a
    log grid reaching a factor of 1000 beyond ``window``.
    """
    params = np.atleast_2d(np.asarray(params, dtype=float))
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    names = law.param_names
    if law.name == "power-law" and set(names) == {"E", "A", "alpha"}:
        E = params[:, names.index("E")][:, None]
        A = params[:, names.index("A")][:, None]
        al = params[:, names.index("alpha")][:, None]
        gap = targets[None, :] - E
        with np.errstate(all="ignore"):
            x = np.exp((np.log(A) - np.log(np.where(gap > 0, gap, np.nan))) / al)
        return np.where(gap > 0, x, np.inf)
    lo, hi = window
    grid = np.geomspace(lo / _INVERT_WIDEN, hi * _INVERT_WIDEN, _INVERT_GRID)
    return scale_to_reach(grid, law_curve(law, params, grid), targets)


# =================================================================================================
# Bootstrap refits
# =================================================================================================

def resample_weights(arm: ArmData, order: np.ndarray, n_bootstrap: int, seed: int, stream: int,
                     resample: str) -> np.ndarray:
    """(B, n) resample counts in the objective's row order. Replicate b of stream s draws from
    SeedSequence(seed, spawn_key=(s, b)): the numbers depend on the seed only."""
    if resample not in ("run", "seed"):
        raise InputError("resample", f"expected 'run' (within each scale) or 'seed' (whole seeds), got {resample!r}")
    if resample == "run":
        labels, _ = arm.groups()
    else:
        labels = arm.seed
    units = [np.flatnonzero(labels == u) for u in np.unique(labels)]
    W = np.zeros((n_bootstrap, arm.n))
    for b in range(n_bootstrap):
        rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(int(stream), int(b))))
        if resample == "run":
            for idx in units:
                np.add.at(W[b], idx[rng.integers(0, idx.size, idx.size)], 1.0)
        else:
            picks = rng.integers(0, len(units), len(units))
            for p in picks:
                W[b, units[p]] += 1.0
    return W[:, order]


def refit_weighted(fit: ArmFit, W: np.ndarray, *, polish: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Refit the arm for each row of weights: (law parameters (B, p), converged (B,))."""
    from validate.fit import lbfgs_batched, scipy_polish

    res = fit.result
    starts = np.vstack([np.atleast_2d(res.refit_starts).reshape(-1, res.phi.size),
                        np.atleast_2d(res.candidates).reshape(-1, res.phi.size)])
    B, K = W.shape[0], starts.shape[0]
    x0 = np.repeat(starts[None, :, :], B, axis=0).reshape(B * K, -1)
    owner = np.repeat(np.arange(B), K)
    obj = fit.objective
    batch = lbfgs_batched(lambda X, rows: obj.value_and_grad(X, W[owner[rows]]), x0,
                          gtol=res.options.get("gtol", 1e-5), ftol=res.options.get("ftol", 2.2e-9))
    f = np.where(np.isfinite(batch.f), batch.f, np.inf).reshape(B, K)
    best = np.argmin(f, axis=1)
    phi = batch.x.reshape(B, K, -1)[np.arange(B), best]
    conv = batch.converged.reshape(B, K)[np.arange(B), best].copy()
    if polish:
        for b in range(B):
            r = scipy_polish(obj, phi[b], W[b])
            if np.isfinite(r.fun) and r.fun <= f[b, best[b]] + 1e-15 * max(1.0, abs(f[b, best[b]])):
                phi[b] = r.x
            conv[b] = bool(r.success)
    return obj.params_array(phi), conv


# =================================================================================================
# The measurement
# =================================================================================================

@dataclass
class MultiplierMeasurement:
    """M(L) = x_base(L)/x_trick(L) at target losses, with bootstrap intervals and its trend."""

    status: str  # "measured" | "no-overlap"
    law: str
    trick_law: str
    design: dict  # per arm: runs, scales, span, seeds, min_runs_per_scale
    fits: dict  # per arm: params, converged, message
    extrapolate: float
    resample: str
    targets: list = field(default_factory=list)  # [{loss, x_base, x_trick, multiplier, ci95}], loss decreasing
    slope: float | None = None
    slope_ci95: list | None = None
    trend: str | None = None
    n_bootstrap: int = 0
    n_valid: int = 0  # replicates where both refits converged
    bound: dict | None = None  # when status == "no-overlap"
    note: str = ""
    samples: dict = field(default_factory=dict, repr=False)  # bootstrap arrays (not in as_dict)

    @property
    def headline(self) -> dict | None:
        """The target at the lowest loss (the largest scales both arms reached)."""
        return self.targets[-1] if self.targets else None

    @property
    def no_effect(self) -> bool | None:
        if self.status != "measured":
            return None
        return all(t["ci95"][0] <= 1.0 <= t["ci95"][1] for t in self.targets)

    def reaches(self, threshold: float) -> bool:
        """The lower end of M's 95% interval is at least ``threshold`` at some target (or the bound)."""
        if self.status == "measured":
            return any(t["ci95"][0] >= threshold for t in self.targets)
        return bool(self.bound and self.bound.get("kind") == "lower" and self.bound["value"] >= threshold)

    def as_dict(self) -> dict:
        return {
            "status": self.status, "law": self.law, "trick_law": self.trick_law, "design": self.design,
            "fits": self.fits, "extrapolate": self.extrapolate, "resample": self.resample,
            "targets": self.targets, "slope": self.slope, "slope_ci95": self.slope_ci95, "trend": self.trend,
            "n_bootstrap": self.n_bootstrap, "n_valid": self.n_valid, "bound": self.bound, "note": self.note,
            "no_effect": self.no_effect, "reaches_10x": self.reaches(10.0), "reaches_100x": self.reaches(100.0),
        }


def _pct(v: np.ndarray, level: float = 0.95) -> list[float]:
    v = np.asarray(v, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return [float("nan"), float("nan")]
    q = (1 - level) / 2
    lo, hi = np.quantile(v, [q, 1 - q])
    return [float(lo), float(hi)]


def log_slope(log_x: np.ndarray, log_m: np.ndarray) -> np.ndarray:
    """Least-squares slope of log M against log x along the last axis (NaN where < 2 finite points)."""
    log_x = np.atleast_2d(log_x)
    log_m = np.atleast_2d(log_m)
    ok = np.isfinite(log_x) & np.isfinite(log_m)
    out = np.full(log_x.shape[0], np.nan)
    for b in range(log_x.shape[0]):
        if ok[b].sum() >= 2:
            x, y = log_x[b, ok[b]], log_m[b, ok[b]]
            xc = x - x.mean()
            den = float(xc @ xc)
            if den > 0:
                out[b] = float(xc @ (y - y.mean())) / den
    return out


def _trend(ci: list[float]) -> str:
    if not all(np.isfinite(ci)):
        return "undetermined"
    if ci[0] <= 0.0 <= ci[1]:
        return "constant"
    return "growing" if ci[0] > 0 else "shrinking"


def _max_scale_residual(fit: ArmFit) -> float:
    """How far the fitted law misses the data: the largest |log L̂ − log L̄| over scales (L̄ the geometric
    mean of a scale's runs). 0.1 is a 10% miss at some scale."""
    g, _ = fit.arm.groups()
    r = np.asarray(fit.result.log_residuals, dtype=float)
    return float(max(abs(r[g == j].mean()) for j in np.unique(g)))


def choose_targets(base: ArmFit, trick: ArmFit, n_targets: int, extrapolate: float) -> tuple[np.ndarray | None, dict]:
    """Target losses in the overlap of what both fitted arms reach inside their windows (see module
    docstring), evenly spaced in log loss, decreasing. Returns (targets or None, ranges)."""
    ranges = {}
    for name, f in (("baseline", base), ("trick", trick)):
        lo_x, hi_x = f.window(extrapolate)
        ends = law_curve(f.law, f.params_row, [lo_x, hi_x])[0]
        ranges[name] = {"scale": [lo_x, hi_x], "loss": [float(min(ends)), float(max(ends))]}
    lo = max(ranges["baseline"]["loss"][0], ranges["trick"]["loss"][0])
    hi = min(ranges["baseline"]["loss"][1], ranges["trick"]["loss"][1])
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi * (1 - 1e-9):
        return None, ranges
    return np.exp(np.linspace(math.log(hi), math.log(lo), n_targets)), ranges


def measure_multiplier(
    baseline: ArmData,
    trick: ArmData,
    *,
    law="power-law",
    trick_law=None,
    n_targets: int = DEFAULT_TARGETS,
    extrapolate: float = 1.0,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    resample: str = "run",
    seed: int = 0,
    check: bool = True,
) -> MultiplierMeasurement:
    """Measure M(L) = x_base(L)/x_trick(L) from the runs of two arms (see the module docstring).

    ``law`` fits the baseline (and the trick unless ``trick_law`` is given): a one-input law, a
    built-in name such as ``power-law`` or law text. ``extrapolate`` >= 1: how far beyond each arm's
    measured scales a target may sit (1 = not at all). ``check`` enforces the protocol's design
    (>= 4 scales spanning >= 16x with >= 3 seeds each) on both arms.
    """
    if not (isinstance(n_targets, int) and n_targets >= 2):
        raise InputError("targets", f"need at least 2 target losses, got {n_targets!r}")
    if not (math.isfinite(extrapolate) and extrapolate >= 1.0):
        raise InputError("extrapolate", f"must be a factor >= 1 (1 = no extrapolation), got {extrapolate!r}")
    if not (isinstance(n_bootstrap, int) and n_bootstrap >= 20):
        raise InputError("bootstrap", f"need at least 20 bootstrap replicates, got {n_bootstrap!r}")
    if check:
        check_design(baseline, "baseline")
        check_design(trick, "trick")
    base_law = _one_input_law(law)
    tr_law = _one_input_law(trick_law) if trick_law is not None else base_law
    fb = fit_arm(baseline, base_law, seed=seed)
    ft = fit_arm(trick, tr_law, seed=seed)
    design = {"baseline": baseline.design(), "trick": trick.design()}
    fits = {name: {"law": f.law.name, "params": dict(f.result.params), "converged": bool(f.result.converged),
                   "message": f.result.message, "max_scale_log_residual": _max_scale_residual(f)}
            for name, f in (("baseline", fb), ("trick", ft))}
    out = MultiplierMeasurement(status="measured", law=base_law.name, trick_law=tr_law.name, design=design,
                                fits=fits, extrapolate=float(extrapolate), resample=resample)
    targets, ranges = choose_targets(fb, ft, n_targets, extrapolate)
    out.samples["ranges"] = ranges
    out.samples["fits"] = (fb, ft)
    if targets is None:
        out.status = "no-overlap"
        b_lo, b_hi = ranges["baseline"]["loss"]
        t_lo, t_hi = ranges["trick"]["loss"]
        if t_hi < b_lo:  # the trick's worst loss is better than the baseline's best
            value = baseline.scale.max() / trick.scale.min()
            out.bound = {"kind": "lower", "value": float(value)}
            out.note = (f"the trick at its smallest scale beats the baseline at its largest: M > {value:.3g} "
                        "(measure the baseline at larger or the trick at smaller scales for a value)")
        else:
            value = baseline.scale.min() / trick.scale.max()
            out.bound = {"kind": "upper", "value": float(value)}
            out.note = (f"the trick at its largest scale is worse than the baseline at its smallest: M < {value:.3g}")
        return out

    xb = invert_law(fb.law, fb.params_row, targets, fb.window(extrapolate))[0]
    xt = invert_law(ft.law, ft.params_row, targets, ft.window(extrapolate))[0]
    m = xb / xt

    Wb = resample_weights(baseline, fb.order, n_bootstrap, seed, 0, resample)
    Wt = resample_weights(trick, ft.order, n_bootstrap, seed, 1, resample)
    pb, cb = refit_weighted(fb, Wb)
    pt, ct = refit_weighted(ft, Wt)
    ok = cb & ct & np.all(np.isfinite(pb), axis=1) & np.all(np.isfinite(pt), axis=1)
    XB = invert_law(fb.law, pb[ok], targets, fb.window(extrapolate))
    XT = invert_law(ft.law, pt[ok], targets, ft.window(extrapolate))
    with np.errstate(all="ignore"):
        MB = XB / XT  # inf where the baseline refit never reaches the target; 0 where the trick's never does
        slopes = log_slope(np.log(XB), np.log(MB))
    out.n_bootstrap = n_bootstrap
    out.n_valid = int(ok.sum())
    for k, L in enumerate(targets):
        out.targets.append({
            "loss": float(L), "x_base": float(xb[k]), "x_trick": float(xt[k]), "multiplier": float(m[k]),
            "ci95": _pct(MB[:, k]), "x_base_ci95": _pct(XB[:, k]),
        })
    with np.errstate(all="ignore"):
        out.slope = float(log_slope(np.log(xb)[None, :], np.log(m)[None, :])[0])
    out.slope_ci95 = _pct(slopes)
    out.trend = _trend(out.slope_ci95)
    out.samples.update({"multiplier": MB, "x_base": XB, "x_trick": XT, "slope": slopes,
                        "params_base": pb[ok], "params_trick": pt[ok]})
    failed = n_bootstrap - out.n_valid
    if failed:
        out.note = f"{failed} of {n_bootstrap} bootstrap refits did not converge and are left out"
    return out


# =================================================================================================
# Frontier shape: local exponents between consecutive scales
# =================================================================================================

def local_exponents(arm: ArmData, *, n_bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0, stream: int = 7) -> dict:
    """The frontier's shape: local exponents s_k = −Δ log L̄ / Δ log x between consecutive scales (L̄ the
    geometric-mean loss over a scale's runs), each with a 95% interval from resampling each scale's
    runs. Stated reading:

    - *one power law*: every s_k's interval contains a common value (max of lower ends <= min of upper ends);
    - *steepens* (faster than a power law) between x_k and x_k+1 where s_k's interval lies wholly above
      the previous segment's;
    - otherwise it *bends* (exponents differ, none significantly steeper than the one before).
    """
    values, est, boot = _exponent_samples(arm, n_bootstrap, seed, stream)
    n_groups = values.size
    cis = [_pct(boot[:, j]) for j in range(n_groups - 1)]
    segments = [[float(values[j]), float(values[j + 1])] for j in range(n_groups - 1)]
    out = {"segments": segments, "exponent": est.tolist(), "ci95": cis, "steepening": [], "power_law": None,
           "peak": None, "last": None, "shape": "undetermined"}
    if n_groups < 2:
        return out
    k = int(np.argmax(est))
    out["peak"] = {"exponent": float(est[k]), "ci95": cis[k], "segment": segments[k]}
    out["last"] = {"exponent": float(est[-1]), "ci95": cis[-1], "segment": segments[-1]}
    lows = [c[0] for c in cis]
    highs = [c[1] for c in cis]
    out["power_law"] = bool(max(lows) <= min(highs))
    for j in range(1, n_groups - 1):
        if cis[j][0] > cis[j - 1][1]:
            out["steepening"].append({"segment": segments[j], "from": float(est[j - 1]), "to": float(est[j])})
    pk, last = out["peak"], out["last"]
    tail = (f"; local exponent peaks at {pk['exponent']:.3g} [{pk['ci95'][0]:.3g}, {pk['ci95'][1]:.3g}] over "
            f"{pk['segment'][0]:.3g}–{pk['segment'][1]:.3g} and ends at {last['exponent']:.3g} "
            f"[{last['ci95'][0]:.3g}, {last['ci95'][1]:.3g}]")
    if out["power_law"]:
        out["shape"] = "consistent with one power law (the local exponents' intervals share a value)" + tail
    elif out["steepening"]:
        out["shape"] = "faster than a power law: steepens over " + ", ".join(
            f"{st['segment'][0]:.3g}–{st['segment'][1]:.3g} ({st['from']:.3g} → {st['to']:.3g})" for st in out["steepening"]) + tail
    else:
        out["shape"] = "bends (the local exponents differ; none significantly steeper than the one before)" + tail
    return out


SHAPES = ("faster", "reverts")  # the qualitative frontier claims a shape test can state


def _exponent_samples(arm: ArmData, n_bootstrap: int, seed: int, stream: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scales, estimate (S−1,), bootstrap samples (B, S−1)) of an arm's local exponents −Δ log L̄/Δ log x
    between consecutive scales (L̄ the geometric-mean loss; runs resampled within each scale)."""
    g, values = arm.groups()
    logs = np.log(arm.loss)

    def exps(w: np.ndarray) -> np.ndarray:
        means = np.array([np.sum(w[g == j] * logs[g == j]) / np.sum(w[g == j]) for j in range(values.size)])
        return -np.diff(means) / np.diff(np.log(values))

    W = resample_weights(arm, np.arange(arm.n), n_bootstrap, seed, stream, "run")
    return values, exps(np.ones(arm.n)), np.array([exps(W[b]) for b in range(n_bootstrap)]).reshape(n_bootstrap, values.size - 1)


def frontier_shape_test(baseline: ArmData, trick: ArmData, expected: str, *, theory: "TheoryCurves | None" = None,
                        n_bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict:
    """A stated test of a frontier's shape against the baseline's power law (issue 8's perceptron figure:
    "faster-than-power-law error decay with a perfect metric, reverting to a power law with an imperfect one").

    On the segments between consecutive scales that both arms ran, the *excess exponent* κ_k = s_trick,k −
    s_base,k is how much faster the trick's frontier falls than the baseline's learning curve there (s the
    local exponents of `local_exponents`; intervals from resampling each arm's runs within each scale).
    Against a power-law baseline, a trick that rescales it has κ ≡ 0 and one that changes its exponent a
    constant κ ≠ 0: both are power laws. Subtracting the baseline removes most of the bend the learning
    curve has by itself (the max-margin perceptron's local exponent rises from ≈0.3 towards its asymptote 1
    over these scales); a rescaled copy of a bending curve keeps a small κ of the bend's sign (the theory's
    κ, given beside, shows how large).

    Comparisons between segments are many, so their intervals are Bonferroni-widened to 1 − 0.05/(number of
    pairs) (family-wise 95%; with few bootstrap replicates the ends are extreme replicates, so the tests err
    towards "not shown"):

    - **faster than a power law** (claim "faster"): κ rises significantly, k < j with the interval of
      κ_j − κ_k wholly above 0 (the frontier steepens beyond any power law relative to the baseline);
    - **reverts to a power law** (claim "reverts"): κ rises significantly (as above) and falls back
      significantly by the last segment, k < last with the interval of κ_k − κ_last wholly above 0 (the
      frontier bends back towards the baseline's power law). Whether it got all the way back is said apart (``reverted``: the 95%
      interval of κ on the last segment contains 0).
    - **matches theory** (with ``theory``): the theory's κ lies inside the 95% interval of κ on every segment.

    ``passed`` says whether the runs show the ``expected`` claim.
    """
    if expected not in SHAPES:
        raise InputError("expected_shape", f"expected one of {', '.join(SHAPES)}, got {expected!r}")
    xb, eb, Bb = _exponent_samples(baseline, n_bootstrap, seed, 11)
    xt, et, Bt = _exponent_samples(trick, n_bootstrap, seed, 12)

    def index(values: np.ndarray, x: float) -> int | None:
        hit = np.flatnonzero(np.abs(np.log(values / x)) <= math.log1p(SCALE_RTOL))
        return int(hit[0]) if hit.size else None

    segments, kappa, samples = [], [], []
    for k in range(xb.size - 1):
        i, j = index(xt, xb[k]), index(xt, xb[k + 1])
        if i is None or j != i + 1:
            continue
        segments.append([float(xb[k]), float(xb[k + 1])])
        kappa.append(float(et[i] - eb[k]))
        samples.append(Bt[:, i] - Bb[:, k])
    out = {"expected": expected, "segments": segments, "excess_exponent": kappa,
           "ci95": [_pct(v) for v in samples], "rises": [], "falls": [], "faster_than_power_law": None,
           "reverts_to_power_law": None, "reverted": None, "passed": None, "theory_excess_exponent": None,
           "theory_inside": None, "matches_theory": None, "statement": ""}
    if len(segments) < 2:
        out["statement"] = "not tested: the arms share fewer than two segments between scales"
        return out
    S = np.array(samples)  # (segments, B)
    n = len(segments)
    n_pairs = n * (n - 1) // 2
    level = 1.0 - 0.05 / n_pairs
    out["pair_level"] = level
    for k in range(n):
        for j in range(k + 1, n):
            lo, hi = _pct(S[j] - S[k], level)
            if lo > 0:
                out["rises"].append({"from": segments[k], "to": segments[j], "rise": kappa[j] - kappa[k], "ci": [lo, hi]})
            lo, hi = _pct(S[k] - S[j], level)
            if lo > 0 and j == n - 1:
                out["falls"].append({"from": segments[k], "to": segments[j], "fall": kappa[k] - kappa[j], "ci": [lo, hi]})
    out["faster_than_power_law"] = bool(out["rises"])
    last = out["ci95"][-1]
    out["reverted"] = bool(last[0] <= 0.0 <= last[1])
    out["reverts_to_power_law"] = bool(out["rises"]) and bool(out["falls"])  # it left the power law and came back
    out["passed"] = out["faster_than_power_law"] if expected == "faster" else out["reverts_to_power_law"]
    k_peak = int(np.argmax(kappa))
    peak = (f"κ peaks at {kappa[k_peak]:.3g} [{out['ci95'][k_peak][0]:.3g}, {out['ci95'][k_peak][1]:.3g}] over "
            f"{segments[k_peak][0]:.3g}–{segments[k_peak][1]:.3g} and is {kappa[-1]:.3g} [{last[0]:.3g}, {last[1]:.3g}] "
            f"on the last segment ({'back to' if out['reverted'] else 'not back to'} the baseline's power law there)")
    if theory is not None:
        tb = theory_local_exponents(theory, "baseline", segments)
        tt = theory_local_exponents(theory, "trick", segments)
        tk = [float(b - a) if np.isfinite(a) and np.isfinite(b) else None for a, b in zip(tb, tt)]
        out["theory_excess_exponent"] = tk
        out["theory_inside"] = [None if t is None else bool(c[0] <= t <= c[1]) for t, c in zip(tk, out["ci95"])]
        known = [v for v in out["theory_inside"] if v is not None]
        out["matches_theory"] = bool(known) and all(known)
    pairs = f"{100 * level:.3g}% intervals, Bonferroni over {n_pairs} pairs"
    rise = max(out["rises"], key=lambda d: d["ci"][0]) if out["rises"] else None
    fall = max(out["falls"], key=lambda d: d["ci"][0]) if out["falls"] else None
    rise_txt = (f"κ rises by {rise['rise']:.3g} [{rise['ci'][0]:.3g}, {rise['ci'][1]:.3g}] from "
                f"{rise['from'][0]:.3g}–{rise['from'][1]:.3g} to {rise['to'][0]:.3g}–{rise['to'][1]:.3g}") if rise else ""
    fall_txt = (f"κ falls by {fall['fall']:.3g} [{fall['ci'][0]:.3g}, {fall['ci'][1]:.3g}] from "
                f"{fall['from'][0]:.3g}–{fall['from'][1]:.3g} to the last segment") if fall else ""
    if expected == "faster":
        claim = (f"faster than a power law, as claimed: {rise_txt} ({pairs})" if rise else
                 f"NOT shown faster than a power law: no rise of κ is significant ({pairs})")
    else:
        claim = (f"reverts towards a power law, as claimed: {rise_txt}, then {fall_txt} ({pairs})" if out["reverts_to_power_law"]
                 else "NOT shown reverting to a power law: " + ("κ never rose significantly" if not rise else
                      "κ on the last segment is not significantly below any earlier one") + f" ({pairs})")
    parts = [claim, peak]
    if out["matches_theory"] is not None:
        inside = sum(bool(v) for v in out["theory_inside"] if v is not None)
        parts.append(f"the theory's κ lies inside the 95% interval on {inside} of {len(segments)} segments"
                     + (" (matches the theory's shape)" if out["matches_theory"] else ""))
    out["statement"] = "; ".join(parts)
    return out


def theory_local_exponents(theory: "TheoryCurves", which: str, segments: Sequence[Sequence[float]]) -> list:
    """The theory's −Δ log L / Δ log x over the same segments (its curve interpolated in log-log)."""
    curve = getattr(theory, which)
    lx, ly = np.log(theory.scale), np.log(np.maximum(curve, 1e-300))
    out = []
    for a, b in segments:
        if a < theory.scale[0] or b > theory.scale[-1]:
            out.append(float("nan"))
            continue
        ya, yb = np.interp(math.log(a), lx, ly), np.interp(math.log(b), lx, ly)
        out.append(float(-(yb - ya) / (math.log(b) - math.log(a))))
    return out


# =================================================================================================
# Theory: curves of both arms on the same scale axis
# =================================================================================================

@dataclass(frozen=True)
class TheoryCurves:
    """What a theory predicts for both arms: loss against the same scale axis (increasing)."""

    scale: np.ndarray
    baseline: np.ndarray
    trick: np.ndarray
    source: str
    note: str = ""

    def __post_init__(self):
        s = np.asarray(self.scale, dtype=float)
        if s.ndim != 1 or s.size < 2 or np.any(np.diff(s) <= 0) or np.any(s <= 0):
            raise InputError("theory", "the theory's scale grid must be positive and increasing")
        for name in ("baseline", "trick"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.shape != s.shape:
                raise InputError("theory", f"the theory's {name} curve needs one loss per scale")
            object.__setattr__(self, name, v)
        object.__setattr__(self, "scale", s)

    def multiplier_at(self, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(M, x_base, x_trick) at target losses; NaN where a value would lie off the theory's grid."""
        targets = np.atleast_1d(np.asarray(targets, dtype=float))
        xb = scale_to_reach(self.scale, self.baseline, targets)
        xt = scale_to_reach(self.scale, self.trick, targets)
        first = self.scale[0]
        with np.errstate(all="ignore"):
            m = xb / xt
        # a scale equal to the grid's first point is only a bound: say nothing there
        off = (xb <= first) | (xt <= first) | ~np.isfinite(xb)
        m = np.where(off, np.nan, m)
        return m, xb, xt

    def profile(self) -> dict:
        """M against the baseline's scale along the theory grid, its class and 10x/100x crossings.

        At each grid scale the baseline reaches its loss L_b (running minimum); the trick reaches it
        at x_t; M = x_b/x_t. Class over the grid: "constant" when log10 M stays within 0.01 of its
        first value (2%), else "growing"/"shrinking" by the sign of its overall change. Crossings: the
        least baseline scale with M >= 10 (100), interpolated in log-log; None if never on the grid.
        """
        env = np.minimum.accumulate(self.baseline)
        m, xb, _ = self.multiplier_at(env)
        valid = np.isfinite(m) & (m > 0)
        mv, xv = m[valid], xb[valid]
        out = {"scale": xv.tolist(), "multiplier": mv.tolist(), "class": "undetermined",
               "crosses_10x_at": None, "crosses_100x_at": None,
               "grid": [float(self.scale[0]), float(self.scale[-1])]}
        if mv.size < 2:
            return out
        lm = np.log10(mv)
        if np.all(np.abs(lm - lm[0]) < 0.01):
            out["class"] = "constant"
        else:
            out["class"] = "growing" if lm[-1] > lm[0] else "shrinking"
        for thr, key in ((10.0, "crosses_10x_at"), (100.0, "crosses_100x_at")):
            above = mv >= thr
            if not above.any():
                continue
            i = int(np.argmax(above))
            if i == 0:
                out[key] = float(xv[0])
                continue
            l0, l1 = math.log(mv[i - 1]), math.log(mv[i])
            t = (math.log(thr) - l0) / (l1 - l0)
            out[key] = float(math.exp(math.log(xv[i - 1]) + t * (math.log(xv[i]) - math.log(xv[i - 1]))))
        return out


@dataclass
class TheoryComparison:
    source: str
    multiplier: list  # theory M at each measured target (NaN: off the theory's grid)
    x_base: list
    covered: list  # bool per target: theory M inside the measured 95% interval
    slope: float | None
    slope_covered: bool | None
    agrees: bool | None
    profile: dict
    note: str = ""

    def as_dict(self) -> dict:
        return {"source": self.source, "multiplier": self.multiplier, "x_base": self.x_base,
                "covered": self.covered, "slope": self.slope, "slope_covered": self.slope_covered,
                "agrees": self.agrees, "class": self.profile.get("class"),
                "crosses_10x_at": self.profile.get("crosses_10x_at"),
                "crosses_100x_at": self.profile.get("crosses_100x_at"), "note": self.note}


def compare_with_theory(measured: MultiplierMeasurement, theory: TheoryCurves) -> TheoryComparison:
    """The stated test (module docstring): every target's theory M inside its measured 95% interval,
    and the theory's slope across the targets inside the measured slope's 95% interval."""
    profile = theory.profile()
    if measured.status != "measured":
        return TheoryComparison(theory.source, [], [], [], None, None, None, profile,
                                "no multiplier was measured to compare with")
    targets = np.array([t["loss"] for t in measured.targets])
    m, xb, _ = theory.multiplier_at(targets)
    covered = [bool(np.isfinite(mk) and t["ci95"][0] <= mk <= t["ci95"][1]) for mk, t in zip(m, measured.targets)]
    with np.errstate(all="ignore"):
        slope = float(log_slope(np.log(xb)[None, :], np.log(m)[None, :])[0])
    note = ""
    if np.isnan(m).any():
        note = "the theory's grid does not reach every target loss"
    slope_ok = None
    if np.isfinite(slope) and measured.slope_ci95 and all(np.isfinite(measured.slope_ci95)):
        slope_ok = bool(measured.slope_ci95[0] <= slope <= measured.slope_ci95[1])
    agrees = bool(all(covered) and slope_ok) if slope_ok is not None else False
    return TheoryComparison(theory.source, [float(v) for v in m], [float(v) for v in xb], covered,
                            slope if np.isfinite(slope) else None, slope_ok, agrees, profile, note)


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "∞" if x is not None and x == np.inf else "n/a"
    return f"{x:.3g}"


def verdict(measured: MultiplierMeasurement, comparison: TheoryComparison | None) -> tuple[bool | None, str]:
    """(agrees, one-paragraph verdict) from the stated tests; ``agrees`` is None without theory."""
    parts = []
    if measured.status != "measured":
        parts.append(f"not measured inside the runs' range: {measured.note}")
    else:
        h = measured.headline
        if measured.no_effect:
            parts.append(f"no effect: the 95% interval of M contains 1 at every target loss "
                         f"(M = {_fmt(h['multiplier'])}, 95% CI {_fmt(h['ci95'][0])}–{_fmt(h['ci95'][1])} at loss {h['loss']:.3g})")
        else:
            parts.append(f"measured M = {_fmt(h['multiplier'])} (95% CI {_fmt(h['ci95'][0])}–{_fmt(h['ci95'][1])}) "
                         f"at loss {h['loss']:.3g}, {measured.trend} with scale "
                         f"(slope {_fmt(measured.slope)}, CI {_fmt(measured.slope_ci95[0])}–{_fmt(measured.slope_ci95[1])})")
        reach = [f"{int(t)}×" for t in THRESHOLDS if measured.reaches(t)]
        parts.append(("reaches " + " and ".join(reach) + " (lower CI bound)") if reach else "does not reach 10× (lower CI bound < 10 at every target)")
    if comparison is None:
        parts.append("no theory: the measured multiplier stands alone")
        return None, "; ".join(parts)
    if comparison.agrees is None:
        parts.append(f"theory ({comparison.profile.get('class')}) not compared: {comparison.note}")
        return None, "; ".join(parts)
    miss = sum(not c for c in comparison.covered)
    if comparison.agrees:
        parts.append("agrees with theory: its M lies inside every target's 95% interval and its slope inside the slope's interval")
    else:
        why = []
        if miss:
            why.append(f"its M lies outside the 95% interval at {miss} of {len(comparison.covered)} targets")
        if comparison.slope_covered is False:
            why.append(f"its slope {_fmt(comparison.slope)} lies outside the measured slope's interval")
        if comparison.slope_covered is None:
            why.append("its slope could not be compared")
        parts.append("disagrees with theory: " + "; ".join(why))
    return comparison.agrees, "; ".join(parts)


__all__ = [
    "ArmData", "ArmFit", "MultiplierMeasurement", "SHAPES", "TheoryComparison", "TheoryCurves", "check_design",
    "compare_with_theory", "fit_arm", "frontier_shape_test", "group_scales", "invert_law", "local_exponents", "measure_multiplier",
    "scale_to_reach", "theory_local_exponents", "verdict",
]
