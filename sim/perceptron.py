"""Teacher–student perceptron with data pruning, trained to the maximum margin (Sorscher et al. 2022).

The setting of ../shared/REFERENCES.md §5: a teacher T, inputs x ~ N(0, I_N), labels y = sign(T·x),
α_tot = P_tot/N examples per dimension. A probe J_probe at angle θ to the teacher scores each example
by its margin z = Ĵ_probe·x; pruning keeps the fraction f with the smallest |z| ("hard"), the
largest |z| ("easy"), or a random fraction ("random"), so that α_prune = P_kept/N = f·α_tot. The
student is the maximum-margin (hard-margin SVM, no bias) solution on the kept set,

    w* = argmin ‖w‖²  subject to  Ξ w ≥ 1,      Ξ the P_kept × N matrix of rows y^μ x^μ,

which is what gradient descent converges to on separable data. Test error ε = arccos(R)/π with R the
exact student–teacher overlap (no test set: the input distribution is isotropic).

The kept set is always linearly separable (the teacher separates every example: labels are
noiseless), so the maximum-margin solution exists and is unique (a strictly convex objective on a
non-empty convex set).

Data generation. The probe is built exactly: J_probe = cos θ T̂ + sin θ v̂ with v̂ ⟂ T̂ a random unit
vector. Each example's components along T̂ and v̂ (a, b ~ N(0, 1), independent) are drawn first for
all P_tot examples, so that the probe margin z = a cos θ + b sin θ is known before the example
exists; only the kept examples then get their remaining N − 2 components, x = a T̂ + b v̂ + P_⊥ g
with g ~ N(0, I_N) and P_⊥ the projector off span(T̂, v̂). This is exactly x ~ N(0, I_N), and it
makes pruning from a large pool (α_tot = α_prune/f in the hundreds) cost only 2 numbers per
discarded example.

Solver. `max_margin` is exact: a primal–dual interior-point method finds the support set, the
problem is then solved exactly on that set, and the answer is returned only when it satisfies every
KKT condition (λ ≥ 0, Ξw ≥ 1, complementary slackness), so it is the optimum to rounding error
(see its docstring for why not dual coordinate descent). `max_margin_nnls` is an independent
reference: the non-negative least-squares form of REFERENCES.md §5 (minimise ‖Ξᵀλ‖² + (1 − Σλ)²
over λ ≥ 0, w = Ξᵀλ/(1 − Σλ)) through scipy.optimize.nnls. Measured (benchmarks/bench_perceptron.py):
N = 400, P = 4000 in 0.2–0.3 s on one core, 2–5× faster than the NNLS route (two runs) and ~20× faster than
liblinear's dual coordinate descent, which does not reach the exact hard-margin solution.

Device: the solver is BLAS/LAPACK on the CPU (N × N Cholesky factorisations); ``device`` is
recorded, ``auto`` resolves to cpu and ``gpu`` is an input error. Seeds run in parallel threads
(`run_many`: LAPACK releases the GIL), each with one BLAS thread.
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from sim.backend import cpu_backend
from sim.errors import InputError
from sim.provenance import run_metadata
from sim.registry import SimulatorSpec

PRUNE_RULES = ("hard", "easy", "random")


# --- configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerceptronConfig:
    N: int = 200  # input dimension
    alpha_tot: float = 4.0  # examples scanned per dimension, P_tot = round(alpha_tot · N)
    keep: float = 1.0  # fraction f of the scanned examples kept for training
    prune: str = "hard"  # hard: smallest |probe margin|; easy: largest; random: a random subset
    probe_angle: float = 0.0  # angle θ between probe and teacher, in degrees (0 = perfect probe)
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> "PerceptronConfig":
        if not isinstance(self.N, (int, np.integer)) or self.N < 2:
            raise InputError("N", f"must be a whole number of at least 2, got {self.N!r}")
        if not (math.isfinite(self.alpha_tot) and self.alpha_tot > 0):
            raise InputError("alpha_tot", f"must be a positive number, got {self.alpha_tot!r}")
        if not (math.isfinite(self.keep) and 0 < self.keep <= 1):
            raise InputError("keep", f"must lie in (0, 1], got {self.keep!r}")
        if self.prune not in PRUNE_RULES:
            raise InputError("prune", f"must be one of {', '.join(PRUNE_RULES)}, got {self.prune!r}")
        if not (math.isfinite(self.probe_angle) and 0 <= self.probe_angle <= 90):
            raise InputError("probe_angle", f"must lie in [0, 90] degrees, got {self.probe_angle!r}")
        if self.device not in ("cpu", "auto", "gpu"):
            raise InputError("device", f"must be one of cpu, gpu, auto, got {self.device!r}")
        if self.device == "gpu":
            raise InputError("device", "the perceptron simulator runs on cpu only (a sequential Numba solver)")
        P_tot, P_kept = self.sizes()
        if P_kept < 1:
            raise InputError("keep", f"keeps no example: f·α_tot·N = {self.keep * self.alpha_tot * self.N:.3g} < 1")
        if P_tot > 50_000_000:
            raise InputError("alpha_tot", f"P_tot = {P_tot} examples is more than this simulator scans (5e7)")
        if P_kept * self.N > 60_000_000:
            raise InputError("keep", f"the kept set is {P_kept} × {self.N}: over the 6e7-entry memory limit")
        return self

    def sizes(self) -> tuple[int, int]:
        """(P_tot, P_kept): examples scanned and examples kept."""
        P_tot = int(round(self.alpha_tot * self.N))
        return P_tot, int(round(self.keep * P_tot))


# --- data ----------------------------------------------------------------------------------------------
@dataclass
class PrunedDataset:
    xi: np.ndarray  # (P_kept, N) rows y^μ x^μ
    teacher: np.ndarray  # unit teacher T̂ (N,)
    probe: np.ndarray  # unit probe Ĵ_probe = cos θ T̂ + sin θ v̂ (N,)
    probe_margin: np.ndarray  # z^μ of the kept examples
    P_tot: int


def pruned_dataset(config: PerceptronConfig, rng: np.random.Generator | None = None) -> PrunedDataset:
    """Draw P_tot examples, keep the fraction f by the probe's rule, return the kept rows y·x."""
    cfg = config.validate()
    rng = np.random.default_rng(cfg.seed) if rng is None else rng
    N = cfg.N
    P_tot, P_kept = cfg.sizes()
    teacher = rng.standard_normal(N)
    teacher /= np.linalg.norm(teacher)
    v = rng.standard_normal(N)
    v -= (v @ teacher) * teacher
    v /= np.linalg.norm(v)
    theta = math.radians(cfg.probe_angle)
    probe = math.cos(theta) * teacher + math.sin(theta) * v

    ab = rng.standard_normal((P_tot, 2))  # components along T̂ and v̂ of every scanned example
    z = math.cos(theta) * ab[:, 0] + math.sin(theta) * ab[:, 1]
    if P_kept == P_tot:
        kept = np.arange(P_tot)
    elif cfg.prune == "hard":
        kept = np.argpartition(np.abs(z), P_kept - 1)[:P_kept]
    elif cfg.prune == "easy":
        kept = np.argpartition(-np.abs(z), P_kept - 1)[:P_kept]
    else:  # random
        kept = rng.permutation(P_tot)[:P_kept]
    kept = np.sort(kept)  # the order of the kept set does not matter; sorting makes it seed-stable
    a, b = ab[kept, 0], ab[kept, 1]

    g = rng.standard_normal((P_kept, N))
    # x = a T̂ + b v̂ + (I − T̂T̂ᵀ − v̂v̂ᵀ) g : exactly N(0, I_N) given (a, b)
    x = g
    x -= np.outer(g @ teacher - a, teacher)
    x -= np.outer(g @ v - b, v)
    y = np.where(a > 0, 1.0, -1.0)
    x *= y[:, None]
    return PrunedDataset(xi=x, teacher=teacher, probe=probe, probe_margin=z[kept], P_tot=P_tot)


# --- maximum-margin solver -------------------------------------------------------------------------------
@dataclass
class MaxMarginResult:
    w: np.ndarray  # the maximum-margin weights (margin 1: min_μ ξ^μ·w = 1)
    dual: np.ndarray  # λ ≥ 0, w = Ξᵀλ
    n_support: int
    kkt_violation: float  # max over μ of (1 − ξ^μ·w)₊ and of −λ, relative: 0 at the exact optimum
    iterations: int  # interior-point iterations
    exact: bool  # the support-set solve satisfied every KKT condition

    @property
    def margin(self) -> float:
        """The normalised margin κ = min_μ ξ^μ·w / ‖w‖ = 1/‖w‖."""
        return 1.0 / float(np.linalg.norm(self.w))


def _solve_spd(K: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve K x = rhs for symmetric positive (semi)definite K: Cholesky, else least squares."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        return cho_solve(cho_factor(K, lower=True, check_finite=False), rhs, check_finite=False)
    except (LinAlgError, ValueError):
        return np.linalg.lstsq(K, rhs, rcond=None)[0]


def _certify(xi: np.ndarray, support: np.ndarray, feas_tol: float):
    """Exact hard-margin solution on a candidate support set, if it satisfies every KKT condition.

    With all support constraints tight, w = Ξ_Sᵀλ_S and Ξ_S w = 1. The pair (w, λ) is the optimum
    of min ½‖w‖² s.t. Ξw ≥ 1 iff λ_S ≥ 0 (dual feasibility) and Ξw ≥ 1 (primal feasibility, up to
    ``feas_tol`` for rounding); stationarity and complementary slackness hold by construction.
    Solved through a QR factorisation of Ξ_Sᵀ = QR (w = Q R⁻ᵀ1, λ_S = R⁻¹R⁻ᵀ1), not the Gram matrix
    Ξ_SΞ_Sᵀ, whose condition number is the square: with close to N support vectors from a thin
    band of hard examples, Ξ_S has condition ~1e5 and the Gram route lost the margins to 1e-6.
    Returns (w, λ_S, margins, certified).
    """
    from scipy.linalg import LinAlgError, qr, solve_triangular

    xs = xi[support]
    ones = np.ones(len(support))
    try:
        q, r = qr(xs.T, mode="economic", check_finite=False)
        if np.min(np.abs(np.diag(r))) <= 1e-13 * np.max(np.abs(np.diag(r))):
            raise LinAlgError("dependent support vectors")
        z = solve_triangular(r, ones, trans="T", check_finite=False)
        w = q @ z
        lam_s = solve_triangular(r, z, check_finite=False)
    except (LinAlgError, ValueError):  # dependent candidates
        lam_s = _solve_spd(xs @ xs.T, ones)
        w = xs.T @ lam_s
    margins = xi @ w
    ok = bool(np.all(lam_s >= 0) and margins.min() >= 1 - feas_tol)
    return w, lam_s, margins, ok


def _certify_with_corrections(xi: np.ndarray, support: np.ndarray, feas_tol: float, rounds: int = 3):
    """`_certify`, then up to ``rounds`` primal–dual active-set corrections (drop negative
    multipliers, add violated constraints) while the set stays no larger than N."""
    N = xi.shape[1]
    for _ in range(rounds):
        if len(support) == 0 or len(support) > N:  # more than N tight constraints: not yet
            return None
        w, lam_s, margins, ok = _certify(xi, support, feas_tol)
        if ok:
            return w, lam_s, margins, support
        viol = margins < 1 - feas_tol
        viol[support] = False
        new_support = np.union1d(support[lam_s >= 0], np.flatnonzero(viol))
        if len(new_support) > N or np.array_equal(new_support, support):
            return None
        support = new_support
    return None


def max_margin(xi: np.ndarray, *, feas_tol: float = 1e-9, max_iter: int = 200,
               drop: float = 1e-9) -> MaxMarginResult:
    """The maximum-margin w for rows ξ^μ = y^μ x^μ: argmin ½‖w‖² subject to Ξw ≥ 1 (exact).

    A primal–dual interior-point method (Mehrotra's predictor–corrector; Nocedal & Wright,
    Numerical Optimization, §16.6) on
        min ½‖w‖²  s.t.  Ξw − s = 1,  s ≥ 0,   multipliers λ ≥ 0, w = Ξᵀλ,
    whose Newton systems reduce to one N × N Cholesky of I + Ξᵀ diag(λ/s) Ξ per iteration. Once the
    duality gap is small, the support set {λ > s} is read off and the problem is solved exactly on
    it (`_certify`): the answer is returned only when it satisfies every KKT condition, so it is
    the optimum to rounding error, whatever tolerance the interior-point iterates had. Rows whose
    weight λ/s is below ``drop`` × the largest are left out of the normal matrix (examples far from
    the margin): an inexact Newton direction, which the certificate makes harmless as long as the
    iteration still converges; 1e-6 saved a fifth of the time on easy problems but stalled on a
    thin band of hard examples (f = 1e-3, θ = 0), so 1e-9.

    Why not dual coordinate descent (Hsieh et al. 2008; the Adatron of Anlauf & Biehl 1989 is the
    same update): it was the first version here, in Numba, and at N = 400, P = 4000 without pruning
    it had not reached margin 1 after 1,000 sweeps nor certified after 20,000: close to N support
    vectors make Ξ_SΞ_Sᵀ nearly singular, and the coordinate method's rate goes with its
    conditioning. Interior-point iterations do not (about 12–20 here, whatever the data).
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve
    from scipy.linalg.blas import dsyrk

    xi = np.ascontiguousarray(xi, dtype=np.float64)
    P, N = xi.shape
    if P == 0:
        raise InputError("xi", "no examples")
    w = np.zeros(N)
    s = np.ones(P)
    lam = np.ones(P)
    diag = np.diag_indices(N)
    last_try = math.inf

    def step_to_boundary(v, dv):
        neg = dv < 0
        return min(1.0, float(np.min(-v[neg] / dv[neg]))) if neg.any() else 1.0

    for it in range(1, max_iter + 1):
        margins = xi @ w
        r_dual = w - xi.T @ lam
        r_primal = margins - s - 1.0
        gap = float(s @ lam)
        # try the exact support solve once the gap is small, and again each time it fell 10×
        if gap < min(1e-2 * lam.sum(), 0.1 * last_try) and np.abs(r_primal).max() < 1e-2:
            last_try = gap
            found = _certify_with_corrections(xi, np.flatnonzero(lam > s), feas_tol)
            if found is not None:
                w_exact, lam_s, m_exact, support = found
                dual = np.zeros(P)
                dual[support] = lam_s
                return MaxMarginResult(w_exact, dual, len(support), max(0.0, float(1 - m_exact.min())), it, True)
        if gap < 1e-13 * lam.sum():
            break
        mu = gap / P
        D = lam / s
        rows = np.flatnonzero(D > drop * D.max())
        X = xi[rows] * np.sqrt(D[rows])[:, None]
        M = dsyrk(1.0, X, trans=1, lower=1)  # lower triangle of Xᵀ X
        M[diag] += 1.0
        try:
            factor = cho_factor(M, lower=True, check_finite=False)
        except LinAlgError:  # rounding at the very end of the path: regularise slightly
            M[diag] += 1e-12 * np.trace(M)
            factor = cho_factor(M, lower=True, check_finite=False)

        def newton(r_comp):
            # Δw from (I + ΞᵀDΞ)Δw = −r_d + Ξᵀ((r_c − λ∘r_p)/s); then Δs = ΞΔw + r_p, Δλ = (r_c − λ∘Δs)/s
            dw = cho_solve(factor, -r_dual + xi.T @ ((r_comp - lam * r_primal) / s), check_finite=False)
            ds = xi @ dw + r_primal
            return dw, ds, (r_comp - lam * ds) / s

        dw, ds, dl = newton(-s * lam)  # predictor (affine scaling)
        a_p, a_d = step_to_boundary(s, ds), step_to_boundary(lam, dl)
        mu_aff = float((s + a_p * ds) @ (lam + a_d * dl)) / P
        sigma = (mu_aff / mu) ** 3
        dw, ds, dl = newton(-s * lam + sigma * mu - ds * dl)  # corrector with centring
        step = 0.99 * min(step_to_boundary(s, ds), step_to_boundary(lam, dl))
        w += step * dw
        s += step * ds
        lam += step * dl
    # The interior-point support estimate would not certify: a degenerate case near capacity
    # (about N support vectors, one of them swapped for a constraint the estimate missed; the
    # corrections above cannot swap at |S| = N). Lawson–Hanson's active-set NNLS handles that: run
    # it on the examples near the margin, certify its support, add any example it left violated.
    margins = xi @ w
    candidates = np.union1d(np.flatnonzero(lam > s), np.argsort(margins)[: min(P, 2 * N)])
    for _ in range(5):
        lam_sub = _nnls_multipliers(xi[candidates])
        found = _certify_with_corrections(xi, candidates[lam_sub > 0], feas_tol)
        if found is not None:
            w_exact, lam_s, m_exact, support = found
            dual = np.zeros(P)
            dual[support] = lam_s
            return MaxMarginResult(w_exact, dual, len(support), max(0.0, float(1 - m_exact.min())), it, True)
        w_sub = xi[candidates].T @ lam_sub / (1.0 - lam_sub.sum())
        violated = np.flatnonzero(xi @ w_sub < 1 - feas_tol)
        if np.isin(violated, candidates).all():
            break
        candidates = np.union1d(candidates, violated)
    # Not certified (never seen in testing): the last iterate, rescaled to margin 1.
    m = float(margins.min())
    w = w / m
    return MaxMarginResult(w, lam / m, int((lam > s).sum()), float(abs(1 - m)), it, False)


def _nnls_multipliers(xi: np.ndarray) -> np.ndarray:
    """λ ≥ 0 minimising ‖Ξᵀλ‖² + (1 − Σλ)² (Lawson–Hanson via scipy.optimize.nnls): the
    maximum-margin w is Ξᵀλ/(1 − Σλ) and its support vectors are {λ > 0} (REFERENCES.md §5)."""
    from scipy.optimize import nnls

    P, N = xi.shape
    A = np.vstack([xi.T, -np.ones((1, P))])
    b = np.zeros(N + 1)
    b[-1] = -1.0
    return nnls(A, b, maxiter=50 * (P + N))[0]


def max_margin_nnls(xi: np.ndarray) -> np.ndarray:
    """Reference maximum-margin w via non-negative least squares (REFERENCES.md §5).

    Minimise ‖Ξᵀλ‖² + (1 − Σλ)² over λ ≥ 0, then w = Ξᵀλ/(1 − Σλ): the KKT conditions of this
    problem are those of min ‖w‖² subject to Ξw ≥ 1 (with the multipliers scaled by 1/(1 − Σλ)).
    """
    xi = np.asarray(xi, dtype=np.float64)
    lam = _nnls_multipliers(xi)
    return xi.T @ lam / (1.0 - lam.sum())


def test_error(w: np.ndarray, teacher: np.ndarray) -> tuple[float, float]:
    """(ε, R): ε = arccos(R)/π with R the normalised overlap, via atan2 for accuracy near R = 1."""
    t = teacher / np.linalg.norm(teacher)
    along = float(w @ t)
    perp = float(np.linalg.norm(w - along * t))
    nrm = math.hypot(along, perp)
    return math.atan2(perp, along) / math.pi, along / nrm


# --- one run, and many ----------------------------------------------------------------------------------
def run(config: PerceptronConfig) -> dict:
    """One seed: draw, prune, fit the maximum-margin student, measure the test error."""
    cfg = config.validate()
    data = pruned_dataset(cfg)
    fit = max_margin(data.xi)
    eps, R = test_error(fit.w, data.teacher)
    w_hat = fit.w / np.linalg.norm(fit.w)
    P_tot, P_kept = cfg.sizes()
    return {
        "test_error": eps,
        "R": R,
        "rho": float(w_hat @ data.probe),
        "kappa": fit.margin,
        "alpha_tot": P_tot / cfg.N,
        "alpha_prune": P_kept / cfg.N,
        "P_tot": P_tot,
        "P_kept": P_kept,
        "n_support": fit.n_support,
        "solver": {"exact": fit.exact, "kkt_violation": fit.kkt_violation, "iterations": fit.iterations},
        "metadata": run_metadata(cfg.seed, dataclasses.asdict(cfg), cpu_backend().description),
    }


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def run_many(configs: Sequence[PerceptronConfig], *, workers: int | None = None,
             on_done: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Run many configurations (seeds, points of a curve) on a thread pool; results in input order.

    The Numba kernel releases the GIL, so threads run in parallel; BLAS is held to one thread per
    worker so they do not fight (../shared/PERF_NOTES.md, Threads).
    """
    for c in configs:
        c.validate()
    workers = default_workers() if workers is None else max(1, int(workers))
    out: list[dict | None] = [None] * len(configs)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        if workers == 1:
            for k, c in enumerate(configs):
                out[k] = run(c)
                if on_done:
                    on_done(k, out[k])
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(run, c): k for k, c in enumerate(configs)}
                from concurrent.futures import as_completed

                for fut in as_completed(futures):
                    k = futures[fut]
                    out[k] = fut.result()
                    if on_done:
                        on_done(k, out[k])
    return out  # type: ignore[return-value]


def learning_curve(alpha_tot: Sequence[float], *, N: int = 200, keep: float = 1.0, prune: str = "hard",
                   probe_angle: float = 0.0, seeds: int | Sequence[int] = 20, workers: int | None = None,
                   on_done: Callable[[int, dict], None] | None = None) -> dict:
    """Mean and standard error of the test error over seeds at each α_tot (the `simulate` command)."""
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list:
        raise InputError("seeds", "need at least one seed")
    configs = [PerceptronConfig(N=N, alpha_tot=float(a), keep=keep, prune=prune, probe_angle=probe_angle,
                                seed=s) for a in alpha_tot for s in seed_list]
    results = run_many(configs, workers=workers, on_done=on_done)
    S = len(seed_list)
    err = np.array([r["test_error"] for r in results]).reshape(len(alpha_tot), S)
    a_prune = [results[k * S]["alpha_prune"] for k in range(len(alpha_tot))]
    a_tot = [results[k * S]["alpha_tot"] for k in range(len(alpha_tot))]
    sem = err.std(axis=1, ddof=1) / np.sqrt(S) if S > 1 else np.full(len(alpha_tot), float("nan"))
    return {
        "alpha_tot": a_tot,
        "alpha_prune": a_prune,
        "test_error": err.mean(axis=1).tolist(),
        "test_error_sem": sem.tolist(),
        "test_errors": err.tolist(),  # per α_tot, per seed
        "seeds": seed_list,
        "all_exact": bool(all(r["solver"]["exact"] for r in results)),
    }


SIMULATOR = SimulatorSpec(
    name="perceptron",
    config_type=PerceptronConfig,
    run=run,
    description="Teacher–student perceptron, pruned by a probe at angle θ, maximum-margin student (Sorscher et al. 2022).",
)
