"""Fitting scaling laws to training runs: the Hoffmann/Epoch method, vectorised over many starts.

The method (Hoffmann et al. 2022, App. D.2; Besiroglu et al. 2024; REFERENCES.md §2-3): minimise the
*summed* Huber loss (δ = 1e-3) of the log-loss residuals,

    F(θ) = Σ_i Huber_δ( log L̂(x_i; θ) − log L_i ),

by L-BFGS from a grid of starting points, keeping the best optimum. Huber follows scipy.special.huber:
r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond, so with δ = 1e-3 it is nearly δ·|r|: a robust fit.

For the Chinchilla form L = E + A/N^α + B/D^β the prediction is written as a log-sum-exp,
log L̂ = LSE(a − α log N, b − β log D, e) with A = e^a, B = e^b, E = e^e, started from Hoffmann's grid
α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25} (4,500 starts), gradients in closed
form. Any other `theory.laws.Law` (built in or parsed from text) is fitted through its sympy
expression: value and gradient are lambdified once through `theory.numeric.lambdify_cached`, scale
parameters are fitted as logs, exponents directly, and the grid follows the rule in `start_grid`.

Speed: every start is optimised at once by a batched L-BFGS written over numpy arrays (one objective
evaluation covers all still-running starts), then the best few end points are polished by scipy's
L-BFGS-B with the same tolerances, so the reported optimum and its convergence status come from the
standard implementation. The benchmark (benchmarks/bench_fit.py) checks that this finds the same
optimum as a plain per-start scipy loop over the whole grid.

Convergence is never assumed: `FitResult.converged` is scipy's success flag for the reported optimum
and `FitResult.message` its message.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from theory.errors import InputError

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022, App. D.2
MAX_STARTS = 4500  # the size of Hoffmann's grid; other laws get at most this many starts
# scipy.optimize.minimize(method="L-BFGS-B") defaults; reproducing Epoch's fit needs these.
GTOL = 1e-5
FTOL = 1e7 * np.finfo(float).eps  # factr = 1e7
MAXITER = 15000
MAXLS = 20
MEMORY = 10

# Hoffmann's grid (App. D.2), in the LSE coordinates (a, b, e, alpha, beta).
HOFFMANN_GRID = {
    "alpha": np.arange(0.0, 2.01, 0.5),
    "beta": np.arange(0.0, 2.01, 0.5),
    "e": np.arange(-1.0, 1.01, 0.5),
    "a": np.arange(0.0, 25.01, 5.0),
    "b": np.arange(0.0, 25.01, 5.0),
}

# The grid rule for laws other than the Chinchilla form (see `start_grid`).
EXPONENT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)  # as Hoffmann's alpha, beta
FLOOR_OFFSETS = (-3.0, -2.0, -1.0, -0.5, -0.1)  # log E - log(min observed loss): floors lie below the data
SCALE_LOG_GRID = (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)  # log of coefficients and break points


# =================================================================================================
# Laws and their parameterisation
# =================================================================================================

def resolve_law(law):
    """A `Law` from a Law, a built-in name (``chinchilla``, ``bnsl-2``) or law text (whitelist parser)."""
    from theory.laws import Law, builtin_law_names, get_law

    if isinstance(law, Law):
        return law
    if not isinstance(law, str) or not law.strip():
        raise InputError("law", f"expected a law name or law text, got {law!r}")
    text = law.strip()
    if text in builtin_law_names() or (text.startswith("bnsl-") and text[5:].isdigit()):
        return get_law(text)
    if text.isidentifier():
        return get_law(text)  # an unknown name: get_law says which names exist
    from theory.parse import parse_law  # lazily: the whitelist parser (never sympify on user text)

    return parse_law(text, name="custom")


def _chinchilla_reference():
    import sympy as sp

    from theory.laws import D, N, param_symbol

    E, A, B, alpha, beta = (param_symbol(n) for n in ("E", "A", "B", "alpha", "beta"))
    return E + A / N**alpha + B / D**beta, (N, D)


def is_chinchilla_form(law) -> bool:
    """True when the law is E + A/N^alpha + B/D^beta in inputs N, D with those parameter names."""
    expr, inputs = _chinchilla_reference()
    if set(law.input_names) != {"N", "D"} or set(law.param_names) != {"E", "A", "B", "alpha", "beta"}:
        return False
    return law.expr == expr


def parameter_kinds(law) -> dict[str, str]:
    """'exponent' (appears in an exponent: fitted directly), 'floor' (a lone additive term: fitted as
    a log) or 'scale' (any other positive parameter, a coefficient or a break point: fitted as a log)."""
    import sympy as sp

    in_exponent: set = set()
    for node in sp.preorder_traversal(law.expr):
        if isinstance(node, sp.Pow):
            in_exponent |= node.exp.free_symbols
        elif isinstance(node, sp.exp):
            in_exponent |= node.args[0].free_symbols
    floors = set(law.expr.args) if isinstance(law.expr, sp.Add) else set()
    kinds = {}
    for p in law.params:
        if p in in_exponent:
            kinds[p.name] = "exponent"
        elif p in floors:
            kinds[p.name] = "floor"
        else:
            kinds[p.name] = "scale"
    return kinds


# =================================================================================================
# The objective in the optimiser's coordinates phi
# =================================================================================================

def robust_loss(r: np.ndarray, loss: str, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """rho(r) and its derivative psi(r). Huber as scipy.special.huber; 'squared' is r^2/2."""
    if loss == "huber":
        ar = np.abs(r)
        rho = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))
        return rho, np.clip(r, -delta, delta)
    return 0.5 * r * r, r


class Objective:
    """F(phi) = sum_i w_i rho(log Lhat(x_i; phi) - log L_i) (divided by sum w for reduction='mean').

    ``phi`` holds the optimiser's coordinates: for the Chinchilla form (a, b, e, alpha, beta); for any
    other law one coordinate per law parameter, its log for 'floor'/'scale' parameters and itself for
    'exponent' ones. ``value_and_grad`` evaluates many parameter vectors at once (rows of Phi), each
    with its own weights when ``weights`` has one row per start (bootstrap replicates).
    """

    def __init__(self, law, log_inputs: np.ndarray, log_y: np.ndarray, *, loss: str = "huber",
                 delta: float = HUBER_DELTA, reduction: str = "sum", engine: str = "auto"):
        if loss not in ("huber", "squared"):
            raise InputError("loss", f"expected 'huber' or 'squared', got {loss!r}")
        if reduction not in ("sum", "mean"):
            raise InputError("huber-reduction", f"expected 'sum' or 'mean', got {reduction!r}")
        if not (isinstance(delta, (int, float)) and math.isfinite(delta) and delta > 0):
            raise InputError("delta", f"must be a positive number, got {delta!r}")
        self.law = law
        self.log_inputs = np.ascontiguousarray(log_inputs, dtype=float)  # (k, n) in law input order
        self.log_y = np.ascontiguousarray(log_y, dtype=float)
        self.loss, self.delta, self.reduction = loss, float(delta), reduction
        self.lse = is_chinchilla_form(law)
        if engine not in ("auto", "numba", "numpy"):
            raise InputError("engine", f"expected auto, numba or numpy, got {engine!r}")
        from validate.fit_kernels import HAVE_NUMBA

        # the fused Numba kernel for the Chinchilla form (validate/fit_kernels.py); numpy is its reference
        self.engine = "numba" if (self.lse and engine != "numpy" and HAVE_NUMBA) else "numpy"
        if self.lse:
            self.phi_names = ("a", "b", "e", "alpha", "beta")
            self._iN = law.input_names.index("N")
            self._iD = law.input_names.index("D")
        else:
            self.kinds = parameter_kinds(law)
            self.phi_names = tuple(
                name if self.kinds[name] == "exponent" else f"log_{name}" for name in law.param_names
            )
            self._is_log = np.array([self.kinds[n] != "exponent" for n in law.param_names])
            self._fgrad = _value_and_param_grads(law)

    @property
    def n_points(self) -> int:
        return self.log_y.shape[0]

    # -- coordinates -------------------------------------------------------------------------------
    def params_from_phi(self, phi: np.ndarray) -> dict[str, float]:
        phi = np.asarray(phi, dtype=float)
        if self.lse:
            a, b, e, alpha, beta = phi
            return {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": float(alpha), "beta": float(beta)}
        return {n: float(math.exp(v) if lg else v) for n, v, lg in zip(self.law.param_names, phi, self._is_log)}

    def params_array(self, Phi: np.ndarray) -> np.ndarray:
        """Rows of phi -> rows of law parameters in the law's parameter order."""
        Phi = np.atleast_2d(np.asarray(Phi, dtype=float))
        if self.lse:
            cols = {"E": np.exp(Phi[:, 2]), "A": np.exp(Phi[:, 0]), "B": np.exp(Phi[:, 1]),
                    "alpha": Phi[:, 3], "beta": Phi[:, 4]}
            return np.stack([cols[n] for n in self.law.param_names], axis=1)
        with np.errstate(over="ignore"):
            return np.where(self._is_log, np.exp(Phi), Phi)

    def phi_from_params(self, params: Mapping[str, float]) -> np.ndarray:
        if self.lse:
            return np.array([math.log(params["A"]), math.log(params["B"]), math.log(params["E"]),
                             params["alpha"], params["beta"]])
        return np.array([math.log(params[n]) if lg else float(params[n])
                         for n, lg in zip(self.law.param_names, self._is_log)])

    # -- predictions -------------------------------------------------------------------------------
    def log_predict(self, Phi: np.ndarray, log_inputs: np.ndarray | None = None, *, grad: bool = False):
        """log Lhat for each row of Phi at each point: (S, n); with grad, also d/dphi: (S, p, n)."""
        Phi = np.atleast_2d(np.asarray(Phi, dtype=float))
        X = self.log_inputs if log_inputs is None else np.asarray(log_inputs, dtype=float)
        if self.lse:
            lN, lD = X[self._iN], X[self._iD]
            a, b, e, al, be = (Phi[:, j : j + 1] for j in range(5))
            z0 = a - al * lN
            z1 = b - be * lD
            m = np.maximum(np.maximum(z0, z1), e)
            w0, w1, w2 = np.exp(z0 - m), np.exp(z1 - m), np.exp(e - m)
            s = w0 + w1 + w2
            pred = m + np.log(s)
            if not grad:
                return pred
            w0, w1, w2 = w0 / s, w1 / s, w2 / s  # softmax weights = d pred / d z_k
            G = np.stack([w0, w1, w2 + 0.0 * w0, -w0 * lN, -w1 * lD], axis=1)
            return pred, G
        theta = self.params_array(Phi)
        cols = [theta[:, j : j + 1] for j in range(theta.shape[1])]
        logs = [X[i][None, :] for i in range(X.shape[0])]
        with np.errstate(all="ignore"):
            out = self._fgrad(*logs, *cols)
            shape = (Phi.shape[0], X.shape[1])
            f = np.broadcast_to(np.asarray(out[0], dtype=float), shape)
            pred = np.where(f > 0, np.log(np.where(f > 0, f, 1.0)), np.nan)
            if not grad:
                return pred
            # d log f / d phi_j = (df/dtheta_j / f) * dtheta_j/dphi_j, with dtheta/dphi = theta for logs
            G = np.empty((Phi.shape[0], len(cols), X.shape[1]))
            for j in range(len(cols)):
                dj = np.broadcast_to(np.asarray(out[1 + j], dtype=float), shape) / f
                G[:, j, :] = dj * cols[j] if self._is_log[j] else dj
        return pred, G

    # -- value and gradient ------------------------------------------------------------------------
    def value_and_grad(self, Phi: np.ndarray, weights: np.ndarray | None = None):
        """F and dF/dphi for each row of Phi: (S,), (S, p). Non-finite predictions give F = inf."""
        Phi = np.atleast_2d(np.asarray(Phi, dtype=float))
        if self.engine == "numba":
            from validate.fit_kernels import lse_value_and_grad

            f, g = lse_value_and_grad(Phi, self.log_inputs[self._iN], self.log_inputs[self._iD], self.log_y,
                                      weights, self.delta, self.loss == "huber")
        elif self.lse:
            # the closed form of log_predict(grad=True) without building the (S, p, n) array
            lN, lD = self.log_inputs[self._iN], self.log_inputs[self._iD]
            a, b, e, al, be = (Phi[:, j : j + 1] for j in range(5))
            z0 = a - al * lN
            z1 = b - be * lD
            m = np.maximum(np.maximum(z0, z1), e)
            w0, w1, w2 = np.exp(z0 - m), np.exp(z1 - m), np.exp(e - m)
            s = w0 + w1 + w2
            r = m + np.log(s) - self.log_y
            rho, psi = robust_loss(r, self.loss, self.delta)
            if weights is not None:
                rho = rho * weights
                psi = psi * weights
            psi = psi / s
            p0, p1, p2 = psi * w0, psi * w1, psi * w2
            f = rho.sum(axis=1)
            g = np.stack([p0.sum(axis=1), p1.sum(axis=1), p2.sum(axis=1), -(p0 @ lN), -(p1 @ lD)], axis=1)
        else:
            pred, G = self.log_predict(Phi, grad=True)
            with np.errstate(all="ignore"):
                r = pred - self.log_y
                rho, psi = robust_loss(r, self.loss, self.delta)
                if weights is not None:
                    rho = rho * weights
                    psi = psi * weights
                f = rho.sum(axis=1)
                g = np.einsum("sn,spn->sp", psi, G)
            bad = ~np.isfinite(f) | ~np.all(np.isfinite(g), axis=1)
            f = np.where(bad, np.inf, f)
            g = np.where(bad[:, None], 0.0, g)
        if self.reduction == "mean":
            total = self.n_points if weights is None else np.sum(weights, axis=-1)
            f = f / total
            g = g / np.reshape(total, (-1, 1)) if np.ndim(total) else g / total
        return f, g

    def scalar(self, weights: np.ndarray | None = None) -> Callable:
        """fun(phi) -> (F, grad) for scipy.optimize.minimize(jac=True)."""
        def fun(phi):
            f, g = self.value_and_grad(phi[None, :], weights)
            return float(f[0]), g[0].copy()
        return fun


def _value_and_param_grads(law) -> Callable:
    """[f, df/dtheta_1, ..., df/dtheta_m](log inputs..., theta...) via the one lambdify boundary."""
    import sympy as sp

    from theory.numeric import lambdify_cached

    expr, logs = law.log_space_expr()
    exprs = [expr] + [sp.diff(expr, p) for p in law.params]
    return lambdify_cached(exprs, logs + law.params, "numpy")


# =================================================================================================
# Starting points
# =================================================================================================

def start_grid(objective: Objective, max_starts: int = MAX_STARTS, seed: int = 0) -> tuple[np.ndarray, str]:
    """Starting points (rows of phi) and the rule that made them.

    Chinchilla form: Hoffmann's 4,500-point grid (module docstring). Any other law, per parameter:
    exponents {0, 0.5, 1, 1.5, 2} (Hoffmann's alpha/beta grid); a floor (a lone additive term such as
    E) at log E = log(min observed loss) + {-3, -2, -1, -0.5, -0.1}; every other (positive) parameter
    at log theta in {-5, 0, 5, ..., 30}. The full product when it has at most ``max_starts`` points,
    otherwise a scrambled Sobol sample (seeded) of the largest power of two <= max_starts in the same
    box. The law's built-in parameter sets are added as starts. Starts where the law is not finite
    are dropped by the fitter.
    """
    if objective.lse:
        g = HOFFMANN_GRID
        rows = [(a, b, e, al, be) for al, be, e, a, b in itertools.product(g["alpha"], g["beta"], g["e"], g["a"], g["b"])]
        grid = np.array(rows, dtype=float)
        rule = "Hoffmann's grid: alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}"
    else:
        floor0 = float(np.min(objective.log_y))
        axes = []
        for name in objective.law.param_names:
            kind = objective.kinds[name]
            if kind == "exponent":
                axes.append(np.array(EXPONENT_GRID))
            elif kind == "floor":
                axes.append(np.log(np.exp(floor0)) + np.array(FLOOR_OFFSETS))
            else:
                axes.append(np.array(SCALE_LOG_GRID))
        size = int(np.prod([len(a) for a in axes]))
        if size <= max_starts:
            grid = np.array(list(itertools.product(*axes)), dtype=float)
            rule = f"product grid of {size} points (exponents {EXPONENT_GRID}, floors log(min loss) + {FLOOR_OFFSETS}, other logs {SCALE_LOG_GRID})"
        else:
            from scipy.stats import qmc

            m = int(math.floor(math.log2(max_starts)))
            lo = np.array([a.min() for a in axes])
            hi = np.array([a.max() for a in axes])
            unit = qmc.Sobol(d=len(axes), scramble=True, seed=seed).random_base2(m)
            grid = qmc.scale(unit, lo, hi)
            rule = f"scrambled Sobol sample of {2**m} points in the box of the product grid ({size} points > {max_starts})"
    extra = []
    for ps in objective.law.param_sets:
        try:
            extra.append(objective.phi_from_params(ps.as_dict()))
        except (ValueError, KeyError):
            pass
    if extra:
        grid = np.vstack([grid, np.array(extra)])
        rule += f"; plus {len(extra)} built-in parameter set(s)"
    return grid, rule


# =================================================================================================
# Batched L-BFGS
# =================================================================================================

STATUS_MESSAGES = {
    0: "running",
    1: "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
    2: "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
    3: "ABNORMAL: LINE SEARCH FAILED",
    4: "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
}


@dataclass
class BatchResult:
    x: np.ndarray  # (S, p) end points
    f: np.ndarray  # (S,)
    status: np.ndarray  # (S,) codes of STATUS_MESSAGES
    nit: np.ndarray
    nfev: np.ndarray

    @property
    def converged(self) -> np.ndarray:
        return (self.status == 1) | (self.status == 2)


def lbfgs_batched(
    fg: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: np.ndarray,
    *,
    memory: int = MEMORY,
    gtol: float = GTOL,
    ftol: float = FTOL,
    maxiter: int = MAXITER,
    maxls: int = MAXLS,
) -> BatchResult:
    """Minimise S independent problems at once by L-BFGS (Nocedal & Wright 2006, Alg. 7.4/7.5).

    ``fg(X, rows)`` returns F and its gradient for the parameter rows X of problems ``rows`` (indices
    into x0). Each problem keeps its own history of ``memory`` pairs; the step is found by a weak
    Wolfe bracketing search from 1 (from 1/|g| on the first iteration, as L-BFGS-B does). Stopping rules are
    scipy's: max |g| <= gtol, or (f_k - f_k+1)/max(|f_k|, |f_k+1|, 1) <= ftol. Finished problems leave
    the active set, so later iterations cost only what still runs.
    """
    x = np.array(x0, dtype=float, copy=True)
    S, p = x.shape
    rows_all = np.arange(S)
    f, g = fg(x, rows_all)
    f = np.array(f, dtype=float)
    g = np.array(g, dtype=float)
    Sh = np.zeros((memory, S, p))
    Yh = np.zeros((memory, S, p))
    rho = np.zeros((memory, S))
    valid = np.zeros((memory, S), bool)
    gamma = np.ones(S)
    first = np.ones(S, bool)
    status = np.zeros(S, np.int8)
    nit = np.zeros(S, np.int64)
    nfev = np.ones(S, np.int64)
    status[~np.isfinite(f)] = 3
    status[(status == 0) & (np.abs(g).max(axis=1) <= gtol)] = 1
    eps = np.finfo(float).eps
    for it in range(maxiter):
        act = np.flatnonzero(status == 0)
        if act.size == 0:
            break
        xa, ga, fa = x[act], g[act], f[act]
        # two-loop recursion over each problem's own history (newest first)
        q = ga.copy()
        alph = np.zeros((memory, act.size))
        order = [(it - 1 - j) % memory for j in range(memory)]
        for i in order:
            v = valid[i, act]
            if not v.any():
                continue
            alph[i] = np.where(v, rho[i, act] * np.einsum("sp,sp->s", Sh[i, act], q), 0.0)
            q -= alph[i][:, None] * Yh[i, act]
        r = gamma[act][:, None] * q
        for i in reversed(order):
            v = valid[i, act]
            if not v.any():
                continue
            beta = np.where(v, rho[i, act] * np.einsum("sp,sp->s", Yh[i, act], r), 0.0)
            r += Sh[i, act] * (alph[i] - beta)[:, None]
        d = -r
        gd = np.einsum("sp,sp->s", ga, d)
        uphill = ~(gd < 0)
        if uphill.any():  # not a descent direction: forget the history, step along -g
            d[uphill] = -ga[uphill]
            gd[uphill] = -np.einsum("sp,sp->s", ga[uphill], ga[uphill])
            valid[:, act[uphill]] = False
            gamma[act[uphill]] = 1.0
            first[act[uphill]] = True
        gnorm = np.linalg.norm(ga, axis=1)
        t = np.where(first[act], np.minimum(1.0, 1.0 / np.maximum(gnorm, 1e-300)), 1.0)
        # Weak Wolfe line search by bracketing (Lewis & Overton 2013, "Nonsmooth optimization via
        # quasi-Newton methods", Alg. 4.6.2): halve the bracket when the sufficient-decrease (Armijo)
        # test fails, double the step when the curvature test fails. Robust on the kinks of the
        # near-L1 Huber objective, and every accepted pair has s.y > 0.
        lo = np.zeros(act.size)
        hi = np.full(act.size, np.inf)
        done = np.zeros(act.size, bool)
        fn = np.empty(act.size)
        gn = np.empty_like(ga)
        f_lo = np.full(act.size, np.nan)  # the last step that passed Armijo (fallback)
        g_lo = np.empty_like(ga)
        for _ in range(maxls):
            todo = np.flatnonzero(~done)
            if todo.size == 0:
                break
            ft, gt = fg(xa[todo] + t[todo, None] * d[todo], act[todo])
            nfev[act[todo]] += 1
            armijo = np.isfinite(ft) & (ft <= fa[todo] + 1e-4 * t[todo] * gd[todo])
            curv = np.einsum("sp,sp->s", gt, d[todo]) >= 0.9 * gd[todo]
            ok = armijo & curv
            idx = todo[ok]
            fn[idx] = ft[ok]
            gn[idx] = gt[ok]
            done[idx] = True
            short = todo[armijo & ~curv]  # sufficient decrease but still steep: step longer
            f_lo[short] = ft[armijo & ~curv]
            g_lo[short] = gt[armijo & ~curv]
            lo[short] = t[short]
            longer = todo[~armijo]
            hi[longer] = t[longer]
            t[short] = np.where(np.isfinite(hi[short]), 0.5 * (lo[short] + hi[short]), 2.0 * lo[short])
            t[longer] = 0.5 * (lo[longer] + hi[longer])
        # no Wolfe point within maxls evaluations: take the last Armijo point if there is one
        fallback = np.flatnonzero(~done & np.isfinite(f_lo))
        t[fallback] = lo[fallback]
        fn[fallback] = f_lo[fallback]
        gn[fallback] = g_lo[fallback]
        done[fallback] = True
        status[act[~done]] = 3
        ok_rows = np.flatnonzero(done)
        ai = act[ok_rows]
        s = t[ok_rows, None] * d[ok_rows]
        y = gn[ok_rows] - ga[ok_rows]
        sy = np.einsum("sp,sp->s", s, y)
        yy = np.einsum("sp,sp->s", y, y)
        accept = sy > eps * yy  # curvature condition: keep the pair only if it is positive definite
        slot = it % memory
        valid[slot, ai] = False
        aa = ai[accept]
        Sh[slot, aa] = s[accept]
        Yh[slot, aa] = y[accept]
        rho[slot, aa] = 1.0 / sy[accept]
        valid[slot, aa] = True
        gamma[aa] = sy[accept] / yy[accept]
        first[ai] = False
        f_old = fa[ok_rows]
        f_new = fn[ok_rows]
        x[ai] = xa[ok_rows] + s
        f[ai] = f_new
        g[ai] = gn[ok_rows]
        nit[ai] += 1
        st = np.zeros(ai.size, np.int8)
        scale = np.maximum(np.maximum(np.abs(f_old), np.abs(f_new)), 1.0)
        st[(f_old - f_new) <= ftol * scale] = 2
        st[np.abs(gn[ok_rows]).max(axis=1) <= gtol] = 1
        st[(st == 0) & (nit[ai] >= maxiter)] = 4
        status[ai] = st
    status[status == 0] = 4
    return BatchResult(x, f, status, nit, nfev)


def scipy_polish(objective: Objective, x0: np.ndarray, weights: np.ndarray | None = None, *,
                 gtol: float = GTOL, ftol: float = FTOL, maxiter: int = MAXITER):
    """One scipy L-BFGS-B run (analytic gradient) from x0; returns the OptimizeResult."""
    from scipy.optimize import minimize

    return minimize(objective.scalar(weights), np.asarray(x0, dtype=float), jac=True, method="L-BFGS-B",
                    options={"gtol": gtol, "ftol": ftol, "maxiter": maxiter, "maxls": MAXLS, "maxcor": MEMORY})


# =================================================================================================
# Fitting
# =================================================================================================

@dataclass
class FitResult:
    """The best optimum of a multi-start fit, with its convergence status."""

    law: Any  # theory.laws.Law (pickles as its spec)
    params: dict[str, float]
    phi: np.ndarray
    phi_names: tuple[str, ...]
    objective: float
    converged: bool
    message: str
    n_points: int
    n_starts: int
    n_starts_finite: int
    n_starts_converged: int
    grid_rule: str
    candidates: np.ndarray  # distinct local optima (rows of phi), best first
    refit_starts: np.ndarray  # grid starts that reached the best optimum: the starts of bootstrap refits
    log_residuals: np.ndarray  # log Lhat - log L per run, in the caller's row order
    loss: str = "huber"
    delta: float = HUBER_DELTA
    reduction: str = "sum"
    nit: int = 0  # scipy iterations of the final polish
    mean_nit: float = 0.0  # mean L-BFGS iterations per start over the grid
    options: dict = field(default_factory=dict)
    # Gauss-Newton leverage of each run (caller's row order): h_i = [J (J^T J)^+ J^T]_ii with
    # J = d log Lhat / d phi at the optimum; used to inflate residuals for predictive intervals.
    leverage: np.ndarray | None = None

    def summary(self) -> dict:
        return {
            "law": self.law.name,
            "params": self.params,
            "objective": self.objective,
            "converged": self.converged,
            "message": self.message,
            "n_points": self.n_points,
            "n_starts": self.n_starts,
            "n_starts_converged": self.n_starts_converged,
            "mean_iterations_per_start": self.mean_nit,
            "grid_rule": self.grid_rule,
            "loss": self.loss,
            "delta": self.delta,
            "reduction": self.reduction,
        }


def prepare_data(law, inputs: Mapping[str, object] | np.ndarray, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated log inputs (k, n) in law order, log losses (n,), and the canonical row order.

    Rows are put in a canonical order (sorted by inputs, then loss) before fitting, so the result does
    not depend on the order of the rows in a file, bit for bit.
    """
    y = np.asarray(y, dtype=float).ravel()
    if isinstance(inputs, np.ndarray):
        X = np.atleast_2d(np.asarray(inputs, dtype=float))
        if X.shape[0] == y.shape[0] and X.shape[1] == len(law.input_names):
            X = X.T
        cols = {name: X[i] for i, name in enumerate(law.input_names)}
    else:
        cols = {}
        for name in law.input_names:
            if name not in inputs:
                raise InputError(name, f"law {law.name!r} needs input {name}")
            cols[name] = np.asarray(inputs[name], dtype=float).ravel()
    for name, v in list(cols.items()) + [("loss", y)]:
        if v.shape != y.shape:
            raise InputError(name, f"has {v.size} values but there are {y.size} losses")
        if np.any(np.isnan(v)):
            raise InputError(name, "contains NaN")
        if np.any(~np.isfinite(v)) or np.any(v <= 0):
            raise InputError(name, "values must be finite and positive")
    from validate.runs_io import check_enough_points

    check_enough_points(law, y.size)
    logX = np.log(np.stack([cols[n] for n in law.input_names]))
    logy = np.log(y)
    order = np.lexsort((logy,) + tuple(logX[::-1]))  # primary key: the first input
    return logX[:, order], logy[order], order


def make_objective(law, inputs, y, *, loss: str = "huber", delta: float = HUBER_DELTA,
                   reduction: str = "sum", engine: str = "auto") -> tuple[Objective, np.ndarray]:
    law = resolve_law(law)
    logX, logy, order = prepare_data(law, inputs, y)
    return Objective(law, logX, logy, loss=loss, delta=delta, reduction=reduction, engine=engine), order


def _distinct_rows(X: np.ndarray, f: np.ndarray, k: int, rel: float = 1e-3) -> np.ndarray:
    """Up to k rows of X with the lowest f, skipping rows within ``rel`` (relative) of a kept one."""
    kept: list[np.ndarray] = []
    for i in np.argsort(f, kind="stable"):
        if not np.isfinite(f[i]):
            break
        xi = X[i]
        if all(np.max(np.abs(xi - xk) / np.maximum(np.abs(xk), 1.0)) > rel for xk in kept):
            kept.append(xi)
            if len(kept) >= k:
                break
    return np.array(kept) if kept else X[:0]


def fit_objective(
    objective: Objective,
    starts: np.ndarray | None = None,
    *,
    max_starts: int = MAX_STARTS,
    polish: int = 8,
    n_candidates: int = 8,
    n_refit_starts: int = 16,
    gtol: float = GTOL,
    ftol: float = FTOL,
    maxiter: int = MAXITER,
    seed: int = 0,
) -> tuple[dict, BatchResult]:
    """Multi-start fit of one objective: batched L-BFGS over all starts, scipy polish of the best few."""
    from threadpoolctl import threadpool_limits

    # Every matrix here is tiny (5 x 5 L-BFGS-B updates, matrix-vector products): with several BLAS
    # threads the synchronisation costs more than the work (scipy's L-BFGS-B ran 10-30x slower with 2
    # OpenBLAS threads on a busy 2-core machine), so BLAS runs on one thread during a fit.
    with threadpool_limits(limits=1):
        return _fit_objective(objective, starts, max_starts=max_starts, polish=polish, n_candidates=n_candidates,
                              n_refit_starts=n_refit_starts, gtol=gtol, ftol=ftol, maxiter=maxiter, seed=seed)


def _fit_objective(objective, starts, *, max_starts, polish, n_candidates, n_refit_starts, gtol, ftol, maxiter, seed):
    if starts is None:
        starts, rule = start_grid(objective, max_starts, seed)
    else:
        starts = np.atleast_2d(np.asarray(starts, dtype=float))
        rule = f"{len(starts)} given starts"
    f0, _ = objective.value_and_grad(starts)
    finite = np.isfinite(f0)
    if not finite.any():
        raise InputError("law", f"law {objective.law.name!r} is not finite at any starting point on these runs")
    x0 = starts[finite]
    batch = lbfgs_batched(lambda X, rows: objective.value_and_grad(X), x0, gtol=gtol, ftol=ftol, maxiter=maxiter)
    best = None
    for phi in _distinct_rows(batch.x, batch.f, polish, rel=1e-9):
        res = scipy_polish(objective, phi, gtol=gtol, ftol=ftol, maxiter=maxiter)
        if best is None or (np.isfinite(res.fun) and res.fun < best.fun):
            best = res
    candidates = _distinct_rows(np.vstack([best.x[None, :], batch.x]), np.concatenate([[best.fun], batch.f]), n_candidates)
    # Starting points for refits (bootstrap): grid starts whose run reached the best optimum, spread
    # evenly over them. Refits started at the optimum itself stall at the kinks of the near-L1 Huber
    # objective (L-BFGS stops on its relative-reduction test), which would make intervals falsely
    # narrow; starts from the grid approach the resampled optimum from afar, as the full fit does.
    fmin = np.min(batch.f)
    basin = np.flatnonzero(batch.f <= fmin + 1e-6 * abs(fmin) + 1e-300)
    pick = basin[np.unique(np.linspace(0, basin.size - 1, min(n_refit_starts, basin.size)).round().astype(int))]
    refit_starts = x0[pick]
    info = {
        "phi": np.asarray(best.x, dtype=float),
        "objective": float(best.fun),
        "converged": bool(best.success),
        "message": str(best.message),
        "nit": int(best.nit),
        "n_starts": int(len(starts)),
        "n_starts_finite": int(finite.sum()),
        "n_starts_converged": int(batch.converged.sum()),
        "grid_rule": rule,
        "candidates": candidates,
        "refit_starts": refit_starts,
        "mean_nit": float(batch.nit.mean()),
    }
    return info, batch


def gauss_newton_leverage(J: np.ndarray) -> np.ndarray:
    """Diagonal of the hat matrix J (J^T J)^+ J^T for a Jacobian J (n points, p parameters).

    The leverage of nonlinear least squares at the optimum (Seber & Wild 1989, Nonlinear Regression,
    §4.6): h_i is how much run i pulls its own fitted value. In-sample residuals are shrunk by about
    sqrt(1 - h_i) relative to the noise of a new run, which `validate.bootstrap.predictive_interval`
    undoes. Computed from the thin SVD (rank-revealing, so a flat direction of the law costs nothing).
    """
    J = np.asarray(J, dtype=float)
    if J.size == 0 or not np.all(np.isfinite(J)):
        return np.full(J.shape[0], np.nan)
    U, s, _ = np.linalg.svd(J, full_matrices=False)
    rank = int(np.sum(s > s.max() * max(J.shape) * np.finfo(float).eps)) if s.size else 0
    return np.sum(U[:, :rank] ** 2, axis=1)


def fit_law(
    law,
    inputs: Mapping[str, object] | np.ndarray,
    y,
    *,
    loss: str = "huber",
    delta: float = HUBER_DELTA,
    reduction: str = "sum",
    starts: np.ndarray | None = None,
    max_starts: int = MAX_STARTS,
    polish: int = 8,
    gtol: float = GTOL,
    ftol: float = FTOL,
    maxiter: int = MAXITER,
    seed: int = 0,
    engine: str = "auto",
) -> FitResult:
    """Fit ``law`` (a Law, built-in name or law text) to runs: inputs (name -> array, or an (n, k)
    array in the law's input order) and observed losses ``y``. See the module docstring."""
    law = resolve_law(law)
    objective, order = make_objective(law, inputs, y, loss=loss, delta=delta, reduction=reduction, engine=engine)
    info, _ = fit_objective(objective, starts, max_starts=max_starts, polish=polish, gtol=gtol, ftol=ftol,
                            maxiter=maxiter, seed=seed)
    pred_sorted, G = objective.log_predict(info["phi"], grad=True)
    resid_sorted = pred_sorted[0] - objective.log_y
    resid = np.empty_like(resid_sorted)
    resid[order] = resid_sorted
    lev = np.empty_like(resid_sorted)
    lev[order] = gauss_newton_leverage(G[0].T)
    return FitResult(
        law=law,
        params=objective.params_from_phi(info["phi"]),
        phi=info["phi"],
        phi_names=objective.phi_names,
        objective=info["objective"],
        converged=info["converged"],
        message=info["message"],
        n_points=objective.n_points,
        n_starts=info["n_starts"],
        n_starts_finite=info["n_starts_finite"],
        n_starts_converged=info["n_starts_converged"],
        grid_rule=info["grid_rule"],
        candidates=info["candidates"],
        refit_starts=info["refit_starts"],
        log_residuals=resid,
        leverage=lev,
        loss=loss,
        delta=delta,
        reduction=reduction,
        nit=info["nit"],
        mean_nit=info["mean_nit"],
        options={"max_starts": max_starts, "polish": polish, "gtol": gtol, "ftol": ftol, "maxiter": maxiter, "seed": seed,
                 "engine": objective.engine},
    )


def naive_multistart(objective: Objective, starts: np.ndarray, *, gtol: float = GTOL, ftol: float = FTOL):
    """The peer of the batched fit: one scipy L-BFGS-B run per start, best kept (as Epoch's notebook),
    with BLAS on one thread as in the batched fit."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _naive_multistart(objective, starts, gtol=gtol, ftol=ftol)


def _naive_multistart(objective, starts, *, gtol, ftol):
    best = None
    for phi in np.atleast_2d(starts):
        f0, _ = objective.value_and_grad(phi[None, :])
        if not np.isfinite(f0[0]):
            continue
        res = scipy_polish(objective, phi, gtol=gtol, ftol=ftol)
        if best is None or res.fun < best.fun:
            best = res
    return best


# =================================================================================================
# Derived quantities: the compute-optimal allocation
# =================================================================================================

def has_compute_optimum(law) -> bool:
    return set(law.input_names) == {"N", "D"}


def compute_optimal_samples(law, params: np.ndarray, compute: float) -> dict[str, np.ndarray] | None:
    """a, b, G, N_opt, D_opt, tokens per parameter and loss at the optimum of C = 6ND, for each row of
    law parameters (law parameter order). None when the law has no (N, D) allocation.

    For the Chinchilla form the closed form of REFERENCES.md §2 (Hoffmann et al. 2022 eq. 4/App. D):
    G = (alpha A/(beta B))^(1/(alpha+beta)), a = beta/(alpha+beta), b = alpha/(alpha+beta),
    N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b; any other (N, D) law through
    `theory.optimal.compute_optimal`, one row at a time.
    """
    if not has_compute_optimum(law):
        return None
    params = np.atleast_2d(np.asarray(params, dtype=float))
    names = law.param_names
    if is_chinchilla_form(law):
        P = {n: params[:, i] for i, n in enumerate(names)}
        al, be, A, B, E = P["alpha"], P["beta"], P["A"], P["B"], P["E"]
        with np.errstate(all="ignore"):
            s = al + be
            logG = (np.log(al * A) - np.log(be * B)) / s
            a, b = be / s, al / s
            logc = math.log(compute / 6.0)
            logN = logG + a * logc
            logD = -logG + b * logc
            loss = E + A * np.exp(-al * logN) + B * np.exp(-be * logD)
            return {"a": a, "b": b, "G": np.exp(logG), "N_opt": np.exp(logN), "D_opt": np.exp(logD),
                    "tokens_per_param": np.exp(logD - logN), "loss": loss}
    from theory.optimal import compute_optimal

    keys = ("a", "b", "G", "N_opt", "D_opt", "tokens_per_param", "loss")
    out = {k: np.full(params.shape[0], np.nan) for k in keys}
    for i, row in enumerate(params):
        try:
            co = compute_optimal(law, dict(zip(names, map(float, row))), compute)
        except (ValueError, ArithmeticError):
            continue
        for k in keys:
            v = getattr(co, k, None)
            out[k][i] = np.nan if v is None else float(v)
    return out


# =================================================================================================
# Estimator (scikit-learn contract, without importing scikit-learn)
# =================================================================================================

class ScalingLawRegressor:
    """A scaling law fitted by the Hoffmann/Epoch method, as a scikit-learn style estimator.

    Parameters (stored as given by ``__init__``; validated in ``fit``):
      law: a built-in law name, law text for the whitelist parser, or a `theory.laws.Law`.
      loss: 'huber' (default) or 'squared' on log losses; delta: Huber's delta (1e-3).
      reduction: 'sum' (Hoffmann/Epoch, the default) or 'mean' (kept to show why it misleads).
      max_starts, polish: the size of the start grid for non-Chinchilla laws; how many end points scipy polishes.
      n_bootstrap, n_jobs, random_state: the defaults of `bootstrap`/`predict_interval`.

    X: an (n, k) array whose columns are the law's inputs in its input order (``law.input_names``;
    (N, D) for chinchilla), or a mapping input name -> 1-D array (a dict, a pandas DataFrame, a numpy
    structured array with those field names). y: observed losses, positive.

    Fitted attributes: ``law_`` (the Law), ``params_`` (name -> value), ``coef_`` (values in the law's
    parameter order), ``converged_``, ``message_``, ``objective_``, ``n_features_in_``, ``result_`` (the
    FitResult); after ``bootstrap``: ``bootstrap_`` (a BootstrapResult).
    """

    def __init__(self, law="chinchilla", loss="huber", delta=HUBER_DELTA, reduction="sum",
                 max_starts=MAX_STARTS, polish=8, n_bootstrap=200, n_jobs=1, random_state=0):
        self.law = law
        self.loss = loss
        self.delta = delta
        self.reduction = reduction
        self.max_starts = max_starts
        self.polish = polish
        self.n_bootstrap = n_bootstrap
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- scikit-learn plumbing ---------------------------------------------------------------------
    _param_names = ("law", "loss", "delta", "reduction", "max_starts", "polish", "n_bootstrap", "n_jobs", "random_state")

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._param_names}

    def set_params(self, **params) -> "ScalingLawRegressor":
        for k, v in params.items():
            if k not in self._param_names:
                raise ValueError(f"invalid parameter {k!r} for ScalingLawRegressor (valid: {', '.join(self._param_names)})")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._param_names)
        return f"ScalingLawRegressor({args})"

    def __sklearn_tags__(self):  # pragma: no cover - only used when scikit-learn is present
        from sklearn.utils import Tags, TargetTags, RegressorTags, InputTags  # noqa: F401

        tags = Tags(estimator_type="regressor", target_tags=TargetTags(required=True),
                    regressor_tags=RegressorTags(), input_tags=InputTags())
        return tags

    _estimator_type = "regressor"

    # -- helpers -----------------------------------------------------------------------------------
    def _inputs(self, X, law) -> dict[str, np.ndarray]:
        names = law.input_names
        if hasattr(X, "dtype") and getattr(X.dtype, "names", None):
            return {n: np.asarray(X[n], dtype=float) for n in names}
        if hasattr(X, "keys") and callable(X.keys):
            missing = [n for n in names if n not in X.keys()]
            if missing:
                raise InputError(missing[0], f"X has no column {missing[0]} (law inputs: {', '.join(names)})")
            return {n: np.asarray(X[n], dtype=float).ravel() for n in names}
        arr = np.asarray(X, dtype=float)
        if arr.ndim == 1 and len(names) == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise InputError("X", f"expected an (n, {len(names)}) array with columns {', '.join(names)}, got shape {arr.shape}")
        return {n: arr[:, i] for i, n in enumerate(names)}

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise AttributeError("this ScalingLawRegressor is not fitted yet; call fit(X, y) first")

    # -- the estimator -----------------------------------------------------------------------------
    def fit(self, X, y) -> "ScalingLawRegressor":
        law = resolve_law(self.law)
        inputs = self._inputs(X, law)
        res = fit_law(law, inputs, y, loss=self.loss, delta=self.delta, reduction=self.reduction,
                      max_starts=self.max_starts, polish=self.polish,
                      seed=int(self.random_state or 0))
        self.law_ = law
        self.result_ = res
        self.params_ = dict(res.params)
        self.coef_ = np.array([res.params[n] for n in law.param_names])
        self.converged_ = res.converged
        self.message_ = res.message
        self.objective_ = res.objective
        self.n_features_in_ = len(law.input_names)
        self._X_fit = inputs
        self._y_fit = np.asarray(y, dtype=float).ravel()
        if hasattr(self, "bootstrap_"):
            del self.bootstrap_
        return self

    def predict(self, X) -> np.ndarray:
        self._check_fitted()
        inputs = self._inputs(X, self.law_)
        return np.asarray(self.law_.evaluate(inputs, self.params_), dtype=float)

    def score(self, X, y) -> float:
        """R^2 of log losses (scale-free, as the fit itself is in log space)."""
        pred = np.log(self.predict(X))
        ly = np.log(np.asarray(y, dtype=float).ravel())
        return float(1.0 - np.sum((ly - pred) ** 2) / np.sum((ly - ly.mean()) ** 2))

    def bootstrap(self, n_bootstrap: int | None = None, *, compute: float | None = None,
                  n_jobs: int | None = None, random_state: int | None = None, progress=None):
        """Refit on runs resampled with replacement; stores and returns a BootstrapResult."""
        from validate.bootstrap import bootstrap_fit

        self._check_fitted()
        self.bootstrap_ = bootstrap_fit(
            self.result_, self._X_fit, self._y_fit,
            n_bootstrap=self.n_bootstrap if n_bootstrap is None else n_bootstrap,
            seed=int(self.random_state or 0) if random_state is None else random_state,
            workers=self.n_jobs if n_jobs is None else n_jobs,
            compute=compute, progress=progress,
        )
        return self.bootstrap_

    def predict_interval(self, X, alpha: float = 0.05, *, noise: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prediction, lower, upper) at level 1 - alpha from the bootstrap fits (run if not yet).

        With ``noise`` (a prediction interval for a new run) each replicate's prediction is combined
        with a log residual drawn from the full fit's leverage-inflated residuals (Davison & Hinkley
        1997, Alg. 6.4; see `validate.bootstrap.predictive_interval`); without, it is a confidence
        interval for the law's mean curve.
        """
        from validate.bootstrap import predictive_interval

        self._check_fitted()
        if not hasattr(self, "bootstrap_"):
            self.bootstrap()
        inputs = self._inputs(X, self.law_)
        lo, hi = predictive_interval(self.result_, self.bootstrap_, inputs, alpha=alpha, noise=noise,
                                     seed=int(self.random_state or 0))
        return self.predict(X), lo, hi
