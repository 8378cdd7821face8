"""Compute-optimal allocation under C = 6ND, derived symbolically where sympy can.

For a law L(N, D) the budget C = 6ND (Kaplan et al. 2020 §2.1; Hoffmann et al. 2022 eq. 2) leaves one
free variable. `derive` substitutes D = C/(6N), differentiates, and lets sympy solve the stationarity
condition dL/dN = 0 for N; nothing below types a closed form in. From the solution it reads off

    N_opt(C) = G (C/6)^a,   D_opt(C) = G^(-1) (C/6)^b,   b = 1 - a,
    L_opt(C) = F + K (C/6)^(-gamma)          (F: the law's floor, the terms free of N and D),

by recognising the solution as a power of C (`_power_of`), and inverts L_opt for the compute that
reaches a loss (sympy solves F + K (C/6)^(-gamma) = L). For Chinchilla's law this reproduces
G = (alpha A / (beta B))^(1/(alpha+beta)), a = beta/(alpha+beta) (REFERENCES.md §2).

Where sympy finds no closed form (Muennighoff's law with its min/max terms; user laws sympy cannot
solve), `compute_optimal` minimises over log N numerically: a log-spaced grid over the whole feasible
range (N >= 1 and D >= 1), then Chandrupatla's bracketed minimisation from the best grid cell
(`scipy.optimize.elementwise.find_minimum`), vectorised over C. It minimises the log of the
reducible loss L - F, so the optimum stays sharp even where L - F is a millionth of F.

Everything numeric works in log space (log C, log N, log of the reducible loss): 1e30 or 1e300 FLOPs
neither overflow nor lose the optimum.
"""

from __future__ import annotations

import contextlib
import functools
import math
import signal
import threading
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import sympy as sp

from theory.errors import InputError
from theory.laws import C, D, Law, N, U
from theory.numeric import lambdify_cached

LOG6 = math.log(6.0)
# The largest compute the numeric inverse searches: e^700 ~ 1e304 FLOPs (float64 holds C itself).
LOG_C_MAX = 700.0
_GRID_POINTS = 161
_EDGE_MARGIN = 10.0  # nats of log N beyond N = 1 and D = 1 searched by the numeric optimum
_SOLVE_SECONDS = 5.0  # sympy's solve can run for minutes on hard user laws; then we go numeric
_LOSS = sp.Symbol("L", positive=True)
_LOG_C = sp.Symbol("log_C", real=True)
_LOG_N = sp.Symbol("log_N", real=True)
_LOG_D = sp.Symbol("log_D", real=True)
_LOG_U = sp.Symbol("log_U", real=True)
_PIECEWISE = (sp.Min, sp.Max, sp.Piecewise, sp.Heaviside, sp.Abs, sp.sign)


# --- Symbolic derivation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Derivation:
    """The symbolic compute-optimal allocation of a law under C = 6ND.

    Expressions are in C and the law's parameter symbols. Where ``closed_form`` is False, the optimum
    has no closed form here (``note`` says why) and `compute_optimal` finds it numerically; the
    power-law fields (a, b, G, loss_exponent, loss_prefactor) are None where the optimum is not a
    power of C.
    """

    law_name: str
    law_expr: sp.Expr
    closed_form: bool
    loss_at_compute: sp.Expr  # L(N, C/(6N)) (U = D where the law has U: unlimited unique data)
    stationarity: sp.Expr  # dL/dN at fixed C; the optimum solves stationarity = 0
    floor: sp.Expr  # F: the additive terms free of N, D (and U)
    N_opt: sp.Expr | None = None
    D_opt: sp.Expr | None = None
    L_opt: sp.Expr | None = None
    a: sp.Expr | None = None  # N_opt ∝ C^a
    b: sp.Expr | None = None  # D_opt ∝ C^b
    G: sp.Expr | None = None  # N_opt = G (C/6)^a
    tokens_per_param: sp.Expr | None = None
    loss_exponent: sp.Expr | None = None  # gamma: L_opt - F = K (C/6)^(-gamma)
    loss_prefactor: sp.Expr | None = None  # K
    compute_for_loss: sp.Expr | None = None  # C_opt(L): the compute at which the optimum reaches L
    note: str = ""

    @property
    def power_law(self) -> bool:
        return self.a is not None

    def expressions(self) -> dict[str, sp.Expr]:
        """Named expressions, in reading order, leaving out those that do not exist for this law."""
        named = {
            "L": self.law_expr,
            "L(N, C/(6N))": self.loss_at_compute,
            "dL/dN": self.stationarity,
            "N_opt": self.N_opt,
            "D_opt": self.D_opt,
            "L_opt": self.L_opt,
            "a": self.a,
            "b": self.b,
            "G": self.G,
            "tokens_per_param": self.tokens_per_param,
            "floor": self.floor,
            "loss_exponent": self.loss_exponent,
            "loss_prefactor": self.loss_prefactor,
            "C_opt(L)": self.compute_for_loss,
        }
        return {k: v for k, v in named.items() if v is not None}

    def text(self) -> str:
        """The derivation, pretty-printed (unicode)."""
        lines = [f"Law {self.law_name}:  L = {sp.sstr(self.law_expr)}"]
        if self.note.startswith("derived with U = D"):
            lines += ["(unique tokens U = D: unlimited fresh data)"]
        lines += ["", "Budget C = 6 N D, so D = C/(6N):"]
        if self.loss_at_compute.has(*_PIECEWISE):
            # min/max laws pretty-print as pages of Heaviside terms; one line each is more readable
            lines += [sp.sstr(self.loss_at_compute), "", "Stationarity, dL/dN = 0 at fixed C: piecewise (min/max terms);"
                      " the expression is in the JSON output (--json)."]
        else:
            lines += [_pretty(self.loss_at_compute), "", "Stationarity, dL/dN = 0 at fixed C:", _pretty(sp.Eq(self.stationarity, 0))]
        if not self.closed_form:
            lines += ["", f"No closed form: {self.note.replace('derived with U = D (unlimited unique data); ', '')}", "The optimum is found numerically (bracketed minimisation over log N)."]
            return "\n".join(lines)
        for label, expr in (("N_opt(C)", self.N_opt), ("D_opt(C)", self.D_opt)):
            lines += ["", f"{label} ="]
            lines += [_pretty(expr)]
        if self.power_law:
            lines += ["", "N_opt = G (C/6)^a,  D_opt = G^-1 (C/6)^b, with", f"a = {sp.sstr(self.a)}", f"b = {sp.sstr(self.b)}", "G ="]
            lines += [_pretty(self.G)]
        if self.loss_exponent is not None:
            lines += ["", "L_opt(C) = floor + K (C/6)^(-gamma), with", f"floor = {sp.sstr(self.floor)}",
                      f"gamma = {sp.sstr(self.loss_exponent)}", "K ="]
            lines += [_pretty(self.loss_prefactor)]
            lines += ["", "Compute that reaches loss L on the optimal frontier:", _pretty(sp.Eq(sp.Symbol("C_opt"), self.compute_for_loss))]
        elif self.L_opt is not None:
            lines += ["", "L_opt(C) =", _pretty(self.L_opt)]
        if self.tokens_per_param is not None:
            lines += ["", "Tokens per parameter D_opt/N_opt =", _pretty(self.tokens_per_param)]
        return "\n".join(lines)

    def latex(self) -> dict[str, str]:
        return {k: sp.latex(v) for k, v in self.expressions().items()}

    def strings(self) -> dict[str, str]:
        return {k: sp.sstr(v) for k, v in self.expressions().items()}


def _pretty(expr) -> str:
    return sp.pretty(expr, use_unicode=True, wrap_line=False)


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise TimeoutError after ``seconds`` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _alarm(signum, frame):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _same(p: sp.Expr, q: sp.Expr) -> bool:
    diff = sp.cancel(sp.together(sp.expand(p - q)))
    if diff == 0:
        return True
    return sp.simplify(diff) == 0


def _power_of(expr: sp.Expr, var: sp.Symbol) -> tuple[sp.Expr, sp.Expr] | None:
    """(p, K) with expr = K var^p exactly, K free of var; None when expr is not a power of var.

    A structural walk (powers, products, sums of terms with equal exponents), so it recognises the
    optimum of Chinchilla's and Kaplan's laws without relying on sympy's simplifier to merge powers.
    """
    if not expr.has(var):
        return sp.Integer(0), expr
    if expr == var:
        return sp.Integer(1), sp.Integer(1)
    if expr.is_Pow:
        base, exponent = expr.as_base_exp()
        if exponent.has(var):
            return None
        inner = _power_of(base, var)
        if inner is None:
            return None
        return sp.cancel(inner[0] * exponent), inner[1] ** exponent
    if expr.is_Mul:
        p, k = sp.Integer(0), sp.Integer(1)
        for factor in expr.args:
            part = _power_of(factor, var)
            if part is None:
                return None
            p, k = p + part[0], k * part[1]
        return sp.cancel(p), k
    if expr.is_Add:
        parts = [_power_of(term, var) for term in expr.args]
        if any(part is None for part in parts):
            return None
        p0 = parts[0][0]
        if not all(_same(part[0], p0) for part in parts[1:]):
            return None
        return sp.cancel(p0), sp.Add(*(part[1] for part in parts))
    return None


def _tidy(expr: sp.Expr) -> sp.Expr:
    """A readable form: merge powers of the same base (all symbols are positive, so force is exact),
    cancel the merged exponents, then let simplify try briefly on small expressions."""
    for _ in range(2):
        expr = sp.powdenest(sp.expand_power_base(expr, force=True), force=True)
        expr = sp.powsimp(expr, force=True, combine="exp", deep=True)
        expr = expr.replace(lambda e: e.is_Pow and not e.exp.is_Number, lambda e: sp.Pow(e.base, sp.factor(sp.cancel(e.exp))))
    if sp.count_ops(expr) > 60:
        return expr
    try:
        with _time_limit(1.0):
            simpler = sp.simplify(expr)
        return simpler if sp.count_ops(simpler) <= sp.count_ops(expr) else expr
    except TimeoutError:
        return expr


def _checks_as_minimum(law_expr_c: sp.Expr, candidate: sp.Expr, params: tuple[sp.Symbol, ...]) -> bool:
    """Numerically confirm that ``candidate`` makes dL/dlogN vanish and is a minimum.

    Seeded positive parameter values and two budgets, in 30-digit arithmetic: a cheap guard against
    spurious branches of ``solve(check=False)`` (e.g. roots of negative numbers).
    """
    rng = np.random.default_rng(0)
    log_n = sp.Symbol("log_n", real=True)
    in_log = law_expr_c.subs(N, sp.exp(log_n))
    first = sp.diff(in_log, log_n)
    second = sp.diff(first, log_n)
    for trial in range(2):
        values = {p: sp.Float(float(rng.uniform(0.2, 0.9)), 30) for p in params}
        for c_value in (sp.Float(1e6, 30), sp.Float(1e12, 30)):
            subs = dict(values)
            subs[C] = c_value
            n_star = candidate.evalf(30, subs=subs)
            if not (n_star.is_real and n_star.is_positive):
                return False
            subs[log_n] = sp.log(n_star)
            slope = first.evalf(30, subs=subs)
            curvature = second.evalf(30, subs=subs)
            scale = abs(in_log.evalf(30, subs=subs)) + 1
            if not (slope.is_real and curvature.is_real):
                return False
            if abs(slope) > 1e-15 * scale or curvature <= 0:
                return False
    return True


def _law_in_N_D(law: Law) -> sp.Expr:
    """The law's expression in N and D only: U (unique tokens) set to D, i.e. unlimited fresh data."""
    names = set(law.input_names)
    if not {"N", "D"} <= names or not names <= {"N", "D", "U"}:
        raise InputError(
            "law",
            f"compute-optimal allocation needs a law in N and D (optionally U); {law.name!r} has inputs "
            f"{', '.join(law.input_names)}",
        )
    return law.expr.subs(U, D) if "U" in names else law.expr


@functools.lru_cache(maxsize=64)
def _derive_cached(expr: sp.Expr, params: tuple[sp.Symbol, ...]) -> Derivation:
    floor, _ = expr.as_independent(N, D, as_Add=True)
    loss_c = expr.subs(D, C / (6 * N))
    stationarity = sp.diff(loss_c, N)
    base = dict(law_name="", law_expr=expr, loss_at_compute=loss_c, stationarity=stationarity, floor=floor)
    if expr.has(*_PIECEWISE):
        return Derivation(closed_form=False, note="the law is piecewise (min/max), so dL/dN = 0 has no single closed form", **base)
    try:
        with _time_limit(_SOLVE_SECONDS):
            candidates = sp.solve(stationarity, N, check=False, simplify=False, rational=False)
    except TimeoutError:
        return Derivation(closed_form=False, note=f"sympy found no solution within {_SOLVE_SECONDS:g} s", **base)
    except (NotImplementedError, ValueError, TypeError):
        return Derivation(closed_form=False, note="sympy cannot solve dL/dN = 0 for N", **base)
    candidates = [s for s in candidates if s.has(C) and s.is_positive is not False and not s.has(sp.I)]
    candidates = [s for s in candidates if _checks_as_minimum(loss_c, s, params)]
    if len(candidates) != 1:
        why = "no positive minimum" if not candidates else f"{len(candidates)} stationary points"
        return Derivation(closed_form=False, note=f"sympy's solutions of dL/dN = 0 give {why}", **base)
    n_opt = candidates[0]
    d_opt = C / (6 * n_opt)
    l_opt = loss_c.subs(N, n_opt)
    fields: dict = dict(N_opt=_tidy(n_opt), D_opt=_tidy(d_opt), L_opt=l_opt)
    n_power = _power_of(n_opt, C)
    if n_power is not None:
        a = sp.factor(n_power[0])
        G = _tidy(n_power[1] * sp.Integer(6) ** a)
        b = sp.factor(sp.cancel(1 - a))
        fields.update(a=a, b=b, G=G, tokens_per_param=_tidy(G ** -2 * (C / 6) ** (b - a)))
        fields.update(N_opt=G * (C / 6) ** a, D_opt=(C / 6) ** b / G)
    else:
        fields.update(tokens_per_param=_tidy(d_opt / n_opt))
    reducible = sp.expand(l_opt - floor) if floor != 0 else l_opt
    r_power = _power_of(reducible, C)
    if r_power is not None and r_power[0] != 0:
        gamma = sp.factor(-r_power[0])
        K = _tidy(r_power[1] * sp.Integer(6) ** (-gamma))
        # Invert the frontier for the compute that reaches a loss L: solved by sympy on placeholders
        # (fast), then the placeholders are replaced by the law's expressions.
        k_, g_, f_ = sp.symbols("k_ g_ f_", positive=True)
        inverse = sp.solve(sp.Eq(f_ + k_ * (C / 6) ** (-g_), _LOSS), C, check=False, simplify=False)
        if len(inverse) == 1:
            fields.update(
                loss_exponent=gamma, loss_prefactor=K,
                compute_for_loss=inverse[0].subs({k_: K, g_: gamma, f_: floor}),
                L_opt=floor + K * (C / 6) ** (-gamma),
            )
    return Derivation(closed_form=True, **base, **fields)


def derive(law: Law) -> Derivation:
    """The symbolic compute-optimal allocation of ``law`` under C = 6ND (cached per expression)."""
    derivation = replace(_derive_cached(_law_in_N_D(law), law.params), law_name=law.name)
    if "U" in law.input_names:  # say that the derivation is the unconstrained case
        note = "derived with U = D (unlimited unique data)" + (f"; {derivation.note}" if derivation.note else "")
        derivation = replace(derivation, note=note)
    return derivation


# --- Numbers ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OptimalAllocation:
    """The compute-optimal point at each compute C (arrays broadcasting over C, or floats).

    ``a``, ``b``, ``G`` are None where the law has no power-law optimum. ``floor`` is the loss's
    irreducible part F (terms free of N and D) and ``reducible_loss`` = loss - F, computed without
    cancellation (what multipliers compare).
    """

    compute: object
    N_opt: object
    D_opt: object
    tokens_per_param: object
    loss: object
    a: float | None
    b: float | None
    G: float | None
    closed_form: bool = False
    floor: float = 0.0
    reducible_loss: object = None

    def as_dict(self) -> dict:
        return {
            "compute": self.compute, "N_opt": self.N_opt, "D_opt": self.D_opt,
            "tokens_per_param": self.tokens_per_param, "loss": self.loss,
            "a": self.a, "b": self.b, "G": self.G, "closed_form": self.closed_form,
        }


def _positive_array(value, field: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(field, f"expected numbers, got {value!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(field, "must be finite positive numbers")
    return arr


def _ordered_values(law: Law, values: Mapping[str, float]) -> tuple[float, ...]:
    return tuple(float(values[p]) for p in law.param_names)


class _Frontier:
    """Vectorised numbers of one law's optimum: floor F and log(L_opt - F) as functions of log C.

    Closed forms are lambdified once (cached in `theory.numeric`); otherwise the numeric optimum.
    ``fixed_U``: the law's U input is given (log U broadcast with C); None means U = D.
    """

    def __init__(self, law: Law, values: Mapping[str, float], log_U=None, *, force_numeric: bool = False):
        self.law = law
        self.values = _ordered_values(law, values)
        self.derivation = derive(law)
        self.expr = law.expr if log_U is not None else _law_in_N_D(law)
        self.log_U = log_U
        self.params = law.params
        self.floor = float(lambdify_cached(self.derivation.floor, self.params)(*self.values)) if self.params else float(self.derivation.floor)
        self.closed = self.derivation.closed_form and log_U is None and not force_numeric
        if self.closed:
            self._closed_functions()

    # -- closed form ------------------------------------------------------------------------------
    def _closed_functions(self) -> None:
        d = self.derivation
        log_n = sp.expand_log(sp.log(d.N_opt), force=True).subs(C, sp.exp(_LOG_C))
        if d.loss_exponent is not None:
            log_r = (sp.log(d.loss_prefactor) - d.loss_exponent * (_LOG_C - sp.log(6)))
        else:
            log_r = sp.log(sp.expand(d.L_opt - d.floor)).subs(C, sp.exp(_LOG_C))
        self._log_n = lambdify_cached(log_n, (_LOG_C,) + self.params)
        self._log_r = lambdify_cached(log_r, (_LOG_C,) + self.params)
        constants = [d.a, d.b, d.G] if d.power_law else []
        if d.loss_exponent is not None:
            constants += [d.loss_exponent, d.loss_prefactor]
        self._constants = lambdify_cached(constants, self.params)(*self.values) if constants else []

    def power_law_constants(self) -> tuple[float | None, float | None, float | None]:
        if self.closed and self.derivation.power_law:
            a, b, G = (float(v) for v in self._constants[:3])
            return a, b, G
        return None, None, None

    # -- numeric ----------------------------------------------------------------------------------
    @functools.cached_property
    def _objective(self):
        """f(log_N, log_D[, log_U], *params) -> log(L - F) (or L itself where L - F is not positive)."""
        inputs = [N, D] + ([U] if self.log_U is not None else [])
        logs = [_LOG_N, _LOG_D] + ([_LOG_U] if self.log_U is not None else [])
        reducible = sp.expand(self.expr - self.derivation.floor) if self.derivation.floor != 0 else self.expr
        in_logs = reducible.subs({s: sp.exp(l) for s, l in zip(inputs, logs)})
        return lambdify_cached(in_logs, tuple(logs) + self.params)

    def _reducible_at(self, log_n, log_c, log_u):
        log_d = log_c - LOG6 - log_n
        args = (log_n, log_d) + ((log_u,) if self.log_U is not None else ())
        with np.errstate(all="ignore"):
            r = self._objective(*args, *self.values)
        return np.asarray(r, dtype=float) + 0.0 * log_n

    def _numeric(self, log_c: np.ndarray):
        """(log N_opt, log(L_opt - F)) at each log C by grid search, then bracketed minimisation."""
        from scipy.optimize.elementwise import find_minimum

        log_c = np.asarray(log_c, dtype=float)
        log_u = np.broadcast_to(self.log_U, log_c.shape) if self.log_U is not None else None
        # Search N from e^-10 to C/(6 e^-10): the whole range of at least one parameter and one token,
        # with a margin so that an optimum near N = 1 or D = 1 is still bracketed (as the closed form
        # would place it); a minimum at the grid's edge is reported there.
        upper = log_c - LOG6 + _EDGE_MARGIN
        fraction = np.linspace(0.0, 1.0, _GRID_POINTS).reshape((-1,) + (1,) * log_c.ndim)
        grid = fraction * (upper + _EDGE_MARGIN) - _EDGE_MARGIN
        r = self._reducible_at(grid, log_c, log_u)
        use_log = bool(np.all(r > 0))

        def objective(log_n, log_c_, *rest):
            value = self._reducible_at(log_n, log_c_, rest[0] if rest else None)
            if use_log:
                with np.errstate(all="ignore"):
                    return np.log(value)
            return value

        values = np.log(r) if use_log else r
        values = np.where(np.isfinite(values), values, np.inf)
        best = np.argmin(values, axis=0)
        last = _GRID_POINTS - 1
        inner = np.clip(best, 1, last - 1)
        take = lambda i: np.take_along_axis(grid, i[None, ...], axis=0)[0]  # noqa: E731
        x1, x2, x3 = take(inner - 1), take(inner), take(inner + 1)
        args = (log_c,) + ((log_u,) if log_u is not None else ())
        result = find_minimum(objective, (x1, x2, x3), args=args, tolerances=dict(xatol=1e-12, xrtol=1e-14), maxiter=200)
        log_n = np.where((best == 0) | (best == last), take(best), result.x)
        log_r = objective(log_n, *args)
        if not use_log:
            with np.errstate(all="ignore"):
                log_r = np.log(log_r)
        return log_n, log_r

    # -- public -----------------------------------------------------------------------------------
    def at(self, log_c) -> tuple[np.ndarray, np.ndarray]:
        """(log N_opt, log(L_opt - F)) at log C."""
        log_c = np.asarray(log_c, dtype=float)
        if self.closed:
            with np.errstate(all="ignore"):
                log_n = np.asarray(self._log_n(log_c, *self.values), dtype=float) + 0.0 * log_c
                log_r = np.asarray(self._log_r(log_c, *self.values), dtype=float) + 0.0 * log_c
            return log_n, log_r
        return self._numeric(log_c)

    def log_compute_for(self, log_r, log_c_guess) -> np.ndarray:
        """log C at which the optimum's reducible loss L_opt - F equals exp(log_r).

        +inf where the frontier never gets that low (below 1e304 FLOPs), -inf where it is already
        lower at the smallest budget.
        """
        log_r = np.asarray(log_r, dtype=float)
        guess = np.broadcast_to(np.asarray(log_c_guess, dtype=float), log_r.shape)
        if self.closed and self.derivation.loss_exponent is not None:
            gamma, K = (float(v) for v in self._constants[-2:])
            # C_opt(L): (C/6) = (K / (L - F))^(1/gamma), taken in logs
            return LOG6 + (math.log(K) - log_r) / gamma
        lo = LOG6 + 1.0  # at least e FLOPs beyond one parameter and one token
        return solve_log_compute(lambda lc, lr: self.at(lc)[1] - lr, log_r, guess, lo)


def solve_log_compute(gap, log_r, guess, lo: float) -> np.ndarray:
    """Roots in log C of ``gap(log_C, log_r) = 0`` for a gap that falls with compute (a log reducible
    loss minus its target), elementwise over ``log_r``, bracketed in [lo, LOG_C_MAX] from ``guess``.

    log_r = -inf (no reducible loss left to reach) gives +inf (never reached); +inf gives -inf
    (reached at any budget); a target with no bracket is +inf when the frontier is still above it at
    the largest budget, else -inf.
    """
    from scipy.optimize.elementwise import bracket_root, find_root

    out = np.where(np.isneginf(log_r), np.inf, np.where(log_r == np.inf, -np.inf, np.nan))
    finite = np.isfinite(log_r)
    if np.any(finite):
        lr = log_r[finite]
        start = np.clip(guess[finite], lo + 1.0, LOG_C_MAX - 1.0)
        bracket = bracket_root(gap, start - 0.5, start + 0.5, xmin=lo, xmax=LOG_C_MAX, args=(lr,), maxiter=200)
        ok = bracket.status == 0
        solved = np.full(lr.shape, np.nan)
        if np.any(ok):
            root = find_root(gap, (bracket.bracket[0][ok], bracket.bracket[1][ok]), args=(lr[ok],),
                             tolerances=dict(xatol=1e-13, xrtol=1e-15), maxiter=200)
            solved[ok] = root.x
        above_at_max = gap(np.full(lr.shape, LOG_C_MAX), lr) > 0
        solved[~ok] = np.where(above_at_max[~ok], np.inf, -np.inf)
        out[finite] = solved
    return out


@functools.lru_cache(maxsize=128)
def _frontier_cached(law: Law, values: tuple[tuple[str, float], ...], log_U: float | None, force_numeric: bool) -> _Frontier:
    return _Frontier(law, dict(values), log_U, force_numeric=force_numeric)


def frontier(law: Law, values: Mapping[str, float], U=None, *, force_numeric: bool = False) -> _Frontier:
    """The (cached) optimal frontier of ``law`` at complete parameter ``values``; U as in `compute_optimal`."""
    log_U = None
    if U is not None:
        if "U" not in law.input_names:
            raise InputError("U", f"law {law.name!r} takes no unique-token input U")
        u = _positive_array(U, "U")
        if u.ndim != 0:
            raise InputError("U", "give one number of unique tokens")
        log_U = float(np.log(u))
    key = tuple(sorted((k, float(v)) for k, v in values.items()))
    return _frontier_cached(law, key, log_U, force_numeric)


def _scalar_or_array(x, scalar: bool):
    arr = np.asarray(x, dtype=float)
    return float(arr) if scalar else arr


def compute_optimal(law: Law, params: Mapping[str, float] | None, C, *, U=None, force_numeric: bool = False) -> OptimalAllocation:
    """The compute-optimal allocation of ``law`` at compute ``C`` (FLOPs; scalar or array) under C = 6ND.

    ``params``: parameter values (None: the law's default set; a partial dict overrides it).
    ``U``: unique tokens available, for laws with a U input (None: unlimited, U = D).
    ``force_numeric``: use the numeric optimum even where a closed form exists (to check one with
    the other). The numeric optimum searches N from e^-10 to C/(6 e^-10), i.e. every allocation with
    at least one parameter and one token and a margin; a minimum outside is reported at that edge.
    """
    values = law.param_values(None, params)
    compute = _positive_array(C, "C")
    if np.any(compute <= 6.0):
        raise InputError("C", "compute must exceed 6 FLOPs (one parameter trained on one token)")
    front = frontier(law, values, U, force_numeric=force_numeric)
    log_c = np.log(compute)
    log_n, log_r = front.at(log_c)
    a, b, G = front.power_law_constants()
    scalar = compute.ndim == 0
    with np.errstate(all="ignore"):
        reducible = np.exp(log_r)
        return OptimalAllocation(
            compute=_scalar_or_array(compute, scalar),
            N_opt=_scalar_or_array(np.exp(log_n), scalar),
            D_opt=_scalar_or_array(np.exp(log_c - LOG6 - log_n), scalar),
            tokens_per_param=_scalar_or_array(np.exp(log_c - LOG6 - 2 * log_n), scalar),
            loss=_scalar_or_array(front.floor + reducible, scalar),
            a=a, b=b, G=G,
            closed_form=front.closed,
            floor=front.floor,
            reducible_loss=_scalar_or_array(reducible, scalar),
        )


def derivation_values(law: Law, params: Mapping[str, float] | None = None, C: float | None = None) -> dict:
    """Numbers of a derivation at parameter values: a, b, G, gamma, K, and the optimum at C."""
    values = law.param_values(None, params)
    d = derive(law)
    out: dict = {}
    subs = {law.params[i]: sp.Float(values[p], 17) for i, p in enumerate(law.param_names)}
    for key in ("a", "b", "G", "loss_exponent", "loss_prefactor", "floor"):
        expr = getattr(d, key)
        if expr is not None:
            out[key] = float(expr.evalf(17, subs=subs))
    with_values = {}
    for key in ("N_opt", "D_opt", "L_opt", "tokens_per_param", "C_opt(L)"):
        expr = d.expressions().get(key)
        if expr is not None:
            with_values[key] = sp.sstr(sp.N(expr.subs(subs), 5))
    out["with_values"] = with_values
    if C is not None:
        out["at_compute"] = compute_optimal(law, values, C).as_dict()
    return out


__all__ = ["Derivation", "OptimalAllocation", "compute_optimal", "derive", "derivation_values", "frontier"]
