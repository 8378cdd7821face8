"""Scaling laws as symbolic objects with provenance.

A `Law` is a sympy expression for the loss over named inputs (N parameters, D tokens, C FLOPs,
P samples, U unique tokens, x a generic scale) with named parameters. Each law carries one or more
`ParamSet`s, each naming its source (paper, equation or table; see ../shared/REFERENCES.md).

Numbers come out of `Law.evaluate`, which goes through the single cached lambdify boundary in
`theory/numeric.py` and works in log space: every input X is substituted by exp(log X) before
lambdifying, so N^(-alpha) becomes exp(-alpha * log N) and inputs such as 1e30 FLOPs never overflow.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import sympy as sp

from theory.errors import InputError
from theory.numeric import array_module, lambdify_cached

# --- Inputs ---------------------------------------------------------------------------------------
# All inputs are positive reals: that lets sympy simplify exp(l)**a -> exp(a*l) in log space.
N = sp.Symbol("N", positive=True)  # parameters
D = sp.Symbol("D", positive=True)  # training tokens
C = sp.Symbol("C", positive=True)  # training FLOPs
P = sp.Symbol("P", positive=True)  # training samples
U = sp.Symbol("U", positive=True)  # unique training tokens (data-constrained law)
X = sp.Symbol("x", positive=True)  # a generic scale (power law, broken power law)

INPUTS: dict[str, sp.Symbol] = {"N": N, "D": D, "C": C, "P": P, "U": U, "x": X}
INPUT_MEANING = {
    "N": "parameters",
    "D": "training tokens",
    "C": "training FLOPs",
    "P": "training samples",
    "U": "unique training tokens",
    "x": "generic scale",
}


def param_symbol(name: str) -> sp.Symbol:
    """Parameters are positive reals unless a law says otherwise (all built-in ones are)."""
    return sp.Symbol(name, positive=True)


@dataclass(frozen=True)
class ParamSet:
    """Named parameter values with their provenance."""

    name: str
    values: tuple[tuple[str, float], ...]
    source: str

    @classmethod
    def of(cls, name: str, source: str, **values: float) -> "ParamSet":
        return cls(name, tuple((k, float(v)) for k, v in values.items()), source)

    def as_dict(self) -> dict[str, float]:
        return dict(self.values)


@dataclass(frozen=True, eq=False)
class Law:
    """A loss law L(inputs; params) = expr.

    ``builder`` is plain data from which the law can be rebuilt in another process (a built-in
    name, or the text and symbol names of a user law); pickling ships that, never a lambdified
    function.
    """

    name: str
    expr: sp.Expr
    inputs: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    param_sets: tuple[ParamSet, ...] = ()
    description: str = ""
    source: str = ""
    builder: tuple = field(default=(), repr=False)

    # -- names --------------------------------------------------------------------------------------
    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.params)

    @property
    def default_param_set(self) -> ParamSet | None:
        return self.param_sets[0] if self.param_sets else None

    def param_set(self, name: str | None = None) -> ParamSet:
        if not self.param_sets:
            raise InputError("param-set", f"law {self.name!r} has no built-in parameter values; give every parameter with --param")
        if name is None:
            return self.param_sets[0]
        for ps in self.param_sets:
            if ps.name == name:
                return ps
        known = ", ".join(ps.name for ps in self.param_sets)
        raise InputError("param-set", f"law {self.name!r} has no parameter set {name!r} (known: {known})")

    def param_values(
        self, set_name: str | None = None, overrides: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Complete, validated parameter values: a built-in set, then overrides on top."""
        overrides = dict(overrides or {})
        for k, v in overrides.items():
            if k not in self.param_names:
                raise InputError("param", f"law {self.name!r} has no parameter {k!r} (parameters: {', '.join(self.param_names)})")
            if not math.isfinite(v):
                raise InputError("param", f"{k} must be a finite number, got {v!r}")
        base: dict[str, float] = {}
        if self.param_sets and (set_name is not None or set(overrides) != set(self.param_names)):
            base = self.param_set(set_name).as_dict()
        base.update(overrides)
        missing = [p for p in self.param_names if p not in base]
        if missing:
            raise InputError("param", f"law {self.name!r} needs values for {', '.join(missing)}")
        return {p: float(base[p]) for p in self.param_names}

    # -- symbolic -----------------------------------------------------------------------------------
    def substitute(self, values: Mapping[str, float]) -> sp.Expr:
        """The expression with numeric parameter values (exact rationals are not needed here)."""
        return self.expr.subs({param_symbol_of(self, k): sp.Float(v, 17) for k, v in values.items()})

    def log_space_expr(self) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
        """The expression with each input X replaced by exp(log_X); returns (expr, log symbols)."""
        logs = tuple(sp.Symbol(f"log_{s.name}", real=True) for s in self.inputs)
        return self.expr.subs({s: sp.exp(l) for s, l in zip(self.inputs, logs)}), logs

    # -- numeric ------------------------------------------------------------------------------------
    def numeric(self, backend: str = "numpy") -> Callable:
        """f(log_input_1, ..., log_input_k, param_1, ..., param_m) -> loss, cached, broadcasting."""
        expr, logs = self.log_space_expr()
        return lambdify_cached(expr, logs + self.params, backend)

    def evaluate(
        self,
        inputs: Mapping[str, object],
        params: Mapping[str, float] | None = None,
        *,
        param_set: str | None = None,
        backend: str = "numpy",
    ):
        """The loss at ``inputs`` (name -> positive scalar or array), with validated parameters.

        Parameters default to the law's first built-in set; ``params`` overrides some or all of them.
        """
        xp = array_module(backend)
        values = self.param_values(param_set, params)
        logs = []
        for name in self.input_names:
            if name not in inputs:
                raise InputError(name, f"law {self.name!r} needs input {name} ({INPUT_MEANING.get(name, name)})")
            arr = xp.asarray(inputs[name], dtype=float)
            if bool(xp.any(~xp.isfinite(arr))) or bool(xp.any(arr <= 0)):
                raise InputError(name, "must be a finite positive number")
            logs.append(xp.log(arr))
        extra = set(inputs) - set(self.input_names)
        if extra:
            raise InputError(sorted(extra)[0], f"law {self.name!r} takes no input {sorted(extra)[0]} (inputs: {', '.join(self.input_names)})")
        out = self.numeric(backend)(*logs, *(values[p] for p in self.param_names))
        return out + sum(0.0 * lg for lg in logs)  # broadcast to the inputs' shape even if a term is constant

    # -- plain data ---------------------------------------------------------------------------------
    def spec(self) -> dict:
        """Plain data from which `law_from_spec` rebuilds this law (for workers and run records)."""
        return {"builder": list(self.builder)} if self.builder else {"name": self.name}

    def describe(self) -> dict:
        return {
            "name": self.name,
            "inputs": list(self.input_names),
            "params": list(self.param_names),
            "expression": sp.sstr(self.expr),
            "source": self.source,
            "description": self.description,
            "param_sets": [
                {"name": ps.name, "values": ps.as_dict(), "source": ps.source} for ps in self.param_sets
            ],
        }

    def __reduce__(self):
        return (law_from_spec, (self.spec(),))


def param_symbol_of(law: Law, name: str) -> sp.Symbol:
    for s in law.params:
        if s.name == name:
            return s
    raise InputError("param", f"law {law.name!r} has no parameter {name!r}")


# --- Built-in laws --------------------------------------------------------------------------------

def _chinchilla_expr():
    E, A, B, alpha, beta = (param_symbol(n) for n in ("E", "A", "B", "alpha", "beta"))
    return E + A / N**alpha + B / D**beta, (E, A, B, alpha, beta)


_HOFFMANN = "Hoffmann et al. 2022, arXiv 2203.15556, eq. (2)/(10); N counts all parameters"
# Unrounded values from the paper's TeX as used by Epoch (REFERENCES.md §2): log A, log B, log E.
CHINCHILLA_UNROUNDED = ParamSet.of(
    "hoffmann2022-unrounded",
    "Hoffmann et al. 2022, App. D.2 (unrounded, from the paper's TeX via Epoch's notebook): "
    "log A = 6.0073404, log B = 6.0179186, log E = 0.5267228",
    E=math.exp(0.5267228), A=math.exp(6.0073404), B=math.exp(6.0179186), alpha=0.33917084, beta=0.2849083,
)
CHINCHILLA_ROUNDED = ParamSet.of(
    "hoffmann2022-rounded",
    "Hoffmann et al. 2022, eq. (10), published rounded values",
    E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
)
CHINCHILLA_EPOCH = ParamSet.of(
    "besiroglu2024",
    "Besiroglu et al. 2024 (Epoch AI), arXiv 2404.10102, refit of Hoffmann's Figure 4 runs (summed Huber)",
    E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658,
)


def _chinchilla(name: str, ps: ParamSet, description: str) -> Law:
    expr, params = _chinchilla_expr()
    return Law(name, expr, (N, D), params, (ps,), description, _HOFFMANN, ("builtin", name))


def _kaplan() -> Law:
    # Kaplan et al. 2020, eq. (1.5): L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D,
    # N = non-embedding parameters, L in nats/token. Never mix with Chinchilla's constants.
    aN, aD, Nc, Dc = (param_symbol(n) for n in ("alpha_N", "alpha_D", "N_c", "D_c"))
    expr = ((Nc / N) ** (aN / aD) + Dc / D) ** aD
    sets = (
        ParamSet.of(
            "kaplan2020-joint",
            "Kaplan et al. 2020, arXiv 2001.08361, sec. 4 / Table 2: joint fit of eq. (1.5)",
            alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13,
        ),
        ParamSet.of(
            "kaplan2020-separate",
            "Kaplan et al. 2020, eqs. (1.1)-(1.2): constants of the separate L(N) and L(D) fits",
            alpha_N=0.076, alpha_D=0.095, N_c=8.8e13, D_c=5.4e13,
        ),
    )
    return Law(
        "kaplan2020", expr, (N, D), (aN, aD, Nc, Dc), sets,
        "Kaplan joint law in N (non-embedding parameters) and D (tokens); no irreducible floor",
        "Kaplan et al. 2020, arXiv 2001.08361, eq. (1.5)", ("builtin", "kaplan2020"),
    )


def _muennighoff() -> Law:
    # Muennighoff et al. 2023, arXiv 2305.16264, eq. (5)-(7) and the datablations README
    # "Parametric Fit" (REFERENCES.md §4). Inputs: N parameters, D total tokens, U unique tokens.
    #   U_D = min(U, D), R_D = max(D/U_D - 1, 0), D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D))
    #   U_N = min(N, N_opt(U_D)), R_N = max(N/U_N - 1, 0), N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N))
    # N_opt(U) is the compute-optimal parameter count for U tokens under the same law's Chinchilla
    # part: alpha A N^-alpha = beta B D^-beta at the optimum of C = 6ND, so
    # N_opt(D) = (alpha A D^beta / (beta B))^(1/alpha).
    E, A, B, alpha, beta, RD, RN = (
        param_symbol(n) for n in ("E", "A", "B", "alpha", "beta", "R_D", "R_N")
    )
    # U_D = min(U, D): the unique tokens actually seen. The README's scaling_law asserts U <= D and
    # its optimal_allocation passes U = min(U_BASE, D); taking the min here keeps D' <= D when the
    # pool of unique tokens is larger than the tokens trained on (checked in tests/test_optimal.py
    # against the README's printed losses).
    U_D = sp.Min(U, D)
    R_D = sp.Max(D / U_D - 1, 0)
    D_eff = U_D + U_D * RD * (1 - sp.exp(-R_D / RD))
    N_opt_U = (alpha * A * U_D**beta / (beta * B)) ** (1 / alpha)
    U_N = sp.Min(N, N_opt_U)
    R_N = sp.Max(N / U_N - 1, 0)
    N_eff = U_N + U_N * RN * (1 - sp.exp(-R_N / RN))
    expr = E + A / N_eff**alpha + B / D_eff**beta
    ps = ParamSet.of(
        "muennighoff2023",
        "Muennighoff et al. 2023, datablations README 'Parametric Fit': a = 6.255414, b = 7.3049974, "
        "e = 0.6254804, alpha = beta = 0.3526596, R*_D = 15.387756, R*_N = 5.309743",
        E=math.exp(0.6254804), A=math.exp(6.255414), B=math.exp(7.3049974),
        alpha=0.3526596, beta=0.3526596, R_D=15.387756, R_N=5.309743,
    )
    return Law(
        "muennighoff2023", expr, (N, D, U), (E, A, B, alpha, beta, RD, RN), (ps,),
        "Data-constrained law: Chinchilla form in effective parameters N' and effective data D' "
        "(D tokens drawn from U unique tokens, repeated D/U epochs)",
        "Muennighoff et al. 2023, arXiv 2305.16264, eqs. (5)-(7)", ("builtin", "muennighoff2023"),
    )


@functools.lru_cache(maxsize=16)
def bnsl_law(n_breaks: int = 1) -> Law:
    """Broken neural scaling law with ``n_breaks`` breaks (Caballero et al. 2022, arXiv 2210.14891, eq. 1):
    y = a + b x^(-c0) * prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i).
    """
    if not isinstance(n_breaks, int) or n_breaks < 0 or n_breaks > 8:
        raise InputError("law", "bnsl takes 0 to 8 breaks (bnsl, bnsl-2, ...)")
    a, b, c0 = (param_symbol(n) for n in ("a", "b", "c0"))
    expr = b * X ** (-c0)
    params = [a, b, c0]
    for i in range(1, n_breaks + 1):
        ci, di, fi = (param_symbol(f"{n}{i}") for n in ("c", "d", "f"))
        expr = expr * (1 + (X / di) ** (1 / fi)) ** (-ci * fi)
        params += [ci, di, fi]
    name = "bnsl" if n_breaks == 1 else f"bnsl-{n_breaks}"
    return Law(
        name, a + expr, (X,), tuple(params), (),
        f"Broken neural scaling law with {n_breaks} break(s) in a generic scale x; no built-in values",
        "Caballero et al. 2022, 'Broken Neural Scaling Laws', arXiv 2210.14891, eq. (1)",
        ("bnsl", n_breaks),
    )


def _power_law() -> Law:
    E, A, alpha = (param_symbol(n) for n in ("E", "A", "alpha"))
    return Law(
        "power-law", E + A * X ** (-alpha), (X,), (E, A, alpha), (),
        "Saturating power law E + A x^(-alpha) in a generic scale x; no built-in values",
        "the standard single-variable form (e.g. Kaplan 2020 eq. 1.1 with a floor)", ("builtin", "power-law"),
    )


_BUILTIN_FACTORIES: dict[str, Callable[[], Law]] = {
    "kaplan2020": _kaplan,
    "chinchilla": lambda: _chinchilla(
        "chinchilla", CHINCHILLA_UNROUNDED, "Chinchilla parametric law, Hoffmann's unrounded values"),
    "chinchilla-rounded": lambda: _chinchilla(
        "chinchilla-rounded", CHINCHILLA_ROUNDED, "Chinchilla parametric law, published rounded values"),
    "chinchilla-epoch": lambda: _chinchilla(
        "chinchilla-epoch", CHINCHILLA_EPOCH, "Chinchilla parametric law, Epoch AI's refit of the same runs"),
    "muennighoff2023": _muennighoff,
    "bnsl": lambda: bnsl_law(1),
    "power-law": _power_law,
}
_CACHE: dict[str, Law] = {}


def builtin_law_names() -> list[str]:
    return list(_BUILTIN_FACTORIES)


def get_law(name: str) -> Law:
    """A built-in law by name (``bnsl-K`` gives K breaks). Unknown names raise InputError('law')."""
    if name in _CACHE:
        return _CACHE[name]
    if name in _BUILTIN_FACTORIES:
        law = _BUILTIN_FACTORIES[name]()
    elif name.startswith("bnsl-") and name[5:].isdigit():
        law = bnsl_law(int(name[5:]))
    else:
        raise InputError("law", f"unknown law {name!r} (known: {', '.join(builtin_law_names())}, bnsl-K, custom)")
    _CACHE[name] = law
    return law


def builtin_laws() -> list[Law]:
    return [get_law(n) for n in builtin_law_names()]


# Rebuilders for laws that are not plain built-ins, registered by the modules that make them
# (e.g. the whitelist parser registers "text"). Keeps this module free of parser imports.
SPEC_BUILDERS: dict[str, Callable[..., Law]] = {
    "builtin": get_law,
    "bnsl": bnsl_law,
}


def law_from_spec(spec: Mapping) -> Law:
    """Rebuild a law from `Law.spec()` plain data (in a worker process, say)."""
    if "name" in spec:
        return get_law(spec["name"])
    kind, *args = spec["builder"]
    if kind not in SPEC_BUILDERS:
        if kind == "text":
            import theory.parse  # noqa: F401  (registers the "text" builder)
        elif kind == "trick":
            import theory.tricks  # noqa: F401  (registers the "trick" builder: a law transformed by a trick)
        if kind not in SPEC_BUILDERS:
            raise InputError("law", f"cannot rebuild a law of kind {kind!r}")
    return SPEC_BUILDERS[kind](*args)
