"""Replica theory of data pruning for the teacher–student perceptron (Sorscher et al. 2022, App. A).

Setting (../shared/REFERENCES.md §5): teacher T, inputs x ~ N(0, I_N), labels y = sign(T·x). A probe
at angle θ to the teacher scores each example by z = Ĵ_probe·x; "hard" pruning keeps the fraction f
with |z| < γ (f = 1 − 2H(γ)), "easy" pruning the fraction with |z| > γ (f = 2H(γ)); α = α_prune =
f·α_tot kept examples per dimension. The student is the maximum-margin perceptron on the kept set.
Order parameters: R = Ĵ·T̂ (student–teacher), ρ = Ĵ·Ĵ_probe (student–probe), κ the normalised margin;
test error ε = arccos(R)/π.

How it is solved here
---------------------
REFERENCES.md §5 gives the saddle-point equations (1)–(3) and says they are the stationarity
conditions of the variational form

    F(R, ρ; κ) = 1 − Q − α⟨(κ − sign(u)·t)₊²⟩,   Q = (R² + ρ² − 2ρRc)/s²,  c = cos θ, s = sin θ,

with max_{R,ρ} F = 0 at the maximum margin; t = Ĵ·x, u = T̂·x, z = Ĵ_probe·x are unit Gaussian fields
with ⟨tu⟩ = R, ⟨tz⟩ = ρ, ⟨uz⟩ = c and z restricted to the kept set. That form is Gardner's q → 1
limit (Gardner 1988; Engel & Van den Broeck, Statistical Mechanics of Learning, ch. 4 and 6): the
student's part orthogonal to span(T̂, Ĵ_probe) has squared norm 1 − Q and acts on each example as
an independent Gaussian field of that variance, which must lift every kept example to margin κ;
the cheapest way to do so costs α⟨(κ − y t)₊²⟩.

It is solved through the unnormalised weights, where it is a convex program. Write the student
w = p T̂ + q v̂ + w_⊥ (v̂ the unit vector completing the probe: Ĵ_probe = c T̂ + s v̂) with ‖w_⊥‖ = C.
Its field on an example is p u + q v + C ω (v = v̂·x, ω ~ N(0, 1) the orthogonal field), and
margin 1 is reachable iff

    C² ≥ α E[(h − C ω)₊²],   h = 1 − y(p u + q v),  i.e.  C ≥ √α ‖(h − Cω)₊‖_{L²},

a convex set in (p, q, C) (the L² norm of the positive part of an affine function is convex). The
maximum-margin student minimises ‖w‖² = p² + q² + C² over that set: a strictly convex objective on
a convex set, so the optimum is unique and any local method finds it. E over ω is done in closed
form, E_ω[(h − Cω)₊²] = C² S₂(h/C) with S₂(d) = (1 + d²)Φ(d) + dφ(d) (the same S₂ as REFERENCES'
θ = 0 equations), leaving a two-dimensional average over the kept examples' (z, u), done by
piecewise Gauss–Legendre quadrature graded towards the teacher's boundary (`KeptFieldQuadrature`).
Numerically the program is solved as "maximise the margin over directions" (`_Problem`): for a
direction (φ = angle to the teacher, ψ), κ is the root of the 1-D convex equation F = 0 (Newton),
and κ is maximised over (φ, ψ) by BFGS with the envelope-theorem gradient; at θ = 0 and 90°, and
for f = 1, symmetry puts the student in the (T̂, w_⊥) plane (q = 0) and the search is 1-D (Brent on
∂κ/∂φ). Then R = cos φ, ρ = c cos φ + s sin φ cos ψ, ε = φ/π (accurate near R = 1).

Checks of the transcription (tests/test_pruning_theory.py): the literal equations (1)–(3) of
REFERENCES.md, coded as written in `literal_residuals`, vanish at this solution (residuals below
1e-7 over hard and easy pruning, θ = 10–60°, α = 1–8); the reduced θ = 0 equations vanish too
(`theta0_residuals`, below 1e-7); no pruning gives the classical maximum-margin curve (α = 4:
ε = 0.11366; α·ε → 0.5005, the maximally stable perceptron's constant); and the exact simulation
agrees within 5% on every point of `validate pruning` (N = 400). So no term of the transcription
needed changing: the issue's warning that it was partly garbled predates the verification recorded
in REFERENCES.md, and this independent formulation agrees with it. Easy pruning uses the
complementary density p(z) = φ(z)·1[|z| > γ]/f, f = 2H(γ), which REFERENCES.md had not checked;
the simulation confirms it (within 0.6%).

Large-α asymptote (derived here; checked numerically in the tests): at large α only the kept
examples at the teacher's boundary matter, so ε·α_tot → c/q with c = 0.5005 the unpruned constant
and q = P(kept | u = 0) = 1 − 2H(γ/sin θ) for hard pruning. A perfect probe (q = 1) gives
ε ≈ 0.5005 f/α_prune (REFERENCES.md's f/(2α_prune)); an imperfect one gains at most the factor
f/q → sin θ as f → 0, a constant (5.8× at 10°, 2.9× at 20°): the power law returns.

The number of support vectors per dimension is α·E[Φ(h/C)] (the examples whose cavity field falls
short of the margin), a further check against the exact solver's count.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from theory.errors import InputError

PRUNE_RULES = ("hard", "easy")
NZ, NR = 10, 8  # Gauss–Legendre nodes per piece in z and in r
_R_STEPS = np.array([0.5, 1, 2, 3, 4, 6, 9, 12, 18])  # r-pieces past the grading
_SQRT_2PI = math.sqrt(2 * math.pi)


# --- Gaussian helpers -------------------------------------------------------------------------------------
def _phi(x):
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _Phi(x):
    from scipy.special import ndtr

    return ndtr(x)


def S1(d):
    """S₁(d) = E_ω[(d − ω)₊] = dΦ(d) + φ(d)."""
    return np.maximum(d * _Phi(d) + _phi(d), 0.0)  # the terms cancel far left of 0: clip rounding


def S2(d):
    """S₂(d) = E_ω[(d − ω)₊²] = (1 + d²)Φ(d) + dφ(d); S₂' = 2S₁, S₁' = Φ."""
    return np.maximum((1 + d * d) * _Phi(d) + d * _phi(d), 0.0)


def H(x):
    """Gaussian tail H(x) = ½ erfc(x/√2)."""
    from scipy.special import ndtr

    return ndtr(-np.asarray(x, dtype=float))


def threshold(keep: float, prune: str) -> float:
    """γ with f = 1 − 2H(γ) (hard: keep |z| < γ) or f = 2H(γ) (easy: keep |z| > γ)."""
    from scipy.special import erfcinv, erfinv

    if prune == "hard":
        return math.inf if keep >= 1 else math.sqrt(2) * float(erfinv(keep))
    return 0.0 if keep >= 1 else math.sqrt(2) * float(erfcinv(keep))


def _check(alpha: float | None, keep: float, probe_angle: float, prune: str) -> None:
    if alpha is not None and not (math.isfinite(alpha) and alpha > 0):
        raise InputError("alpha_prune", f"must be a positive number, got {alpha!r}")
    if not (math.isfinite(keep) and 0 < keep <= 1):
        raise InputError("keep", f"must lie in (0, 1], got {keep!r}")
    if not (math.isfinite(probe_angle) and 0 <= probe_angle <= 90):
        raise InputError("probe_angle", f"must lie in [0, 90] degrees, got {probe_angle!r}")
    if prune not in PRUNE_RULES:
        raise InputError("prune", f"must be one of {', '.join(PRUNE_RULES)}, got {prune!r}")
    if keep < 1e-8:
        raise InputError("keep", f"below 1e-8 the kept band is beyond this quadrature, got {keep!r}")


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ a·b without BLAS: on a shared machine BLAS threads spin-waiting on a small dot product
    cost 100× the arithmetic (measured: 1.8 ms against 15 µs for 13k terms)."""
    return float(np.einsum("i,i->", a, b))


def _gauss_legendre(n: int):
    return np.polynomial.legendre.leggauss(n)


# --- quadrature over the kept examples' fields ------------------------------------------------------------
@dataclass(frozen=True)
class KeptFieldQuadrature:
    """Nodes and weights for E[g(|u|, sign(u)·v)] over kept examples (z kept, u = T̂·x, v = v̂·x).

    Coordinates: z = Ĵ_probe·x (kept density p(z)) and r = −s u + c v ~ N(0, 1) independent of z,
    so u = c z − s r and v = s z + c r. The symmetry (z, r) → (−z, −r) flips y = sign(u) and leaves
    y·u and y·v unchanged, so only z > 0 is integrated, with weight 2p(z). The r-integral is split at
    the teacher's boundary u = 0 (r = cz/s), where sign(u) jumps, so each piece is smooth.

    Piecewise Gauss–Legendre, graded geometrically towards the teacher's boundary (in |u|, from 1
    down to ``resolution``) and towards the ends of the kept band: at large α the margin κ and the
    student's angle to the teacher are small, and the integrand changes on those scales within
    |u| ≲ κ of the boundary. `solve` refines ``resolution`` until it is well below min(κ, σ).
    """

    abs_u: np.ndarray  # y·u = |u|
    y_v: np.ndarray  # y·v
    weight: np.ndarray  # sums to 1
    z: np.ndarray  # probe field of each node (for diagnostics)
    resolution: float

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def build(keep: float, probe_angle: float, prune: str, resolution: float = 1e-3,
              width: float = 9.0) -> "KeptFieldQuadrature":
        theta = math.radians(probe_angle)
        c, s = math.cos(theta), math.sin(theta)
        if probe_angle == 90:
            c = 0.0
        if probe_angle == 0:
            s = 0.0
        gamma = threshold(keep, prune)
        lo, hi = (0.0, min(gamma, width)) if prune == "hard" else (gamma, gamma + width)
        # half-decade steps from ``resolution`` up to 1 (whole decades left 1e-6 errors at α ≈ 20)
        grades = resolution * math.sqrt(10.0) ** np.arange(0, max(1, math.ceil(-2 * math.log10(resolution))) + 1)
        grades = grades[grades <= 1.0]
        breaks = list(np.arange(lo, hi, 1.0)) + [hi]
        breaks += [lo + g * (hi - lo) for g in grades] + [hi - g * (hi - lo) for g in grades]
        if 0 < s < 0.5:  # the integrand varies on the scale s near z = 0 when the probe is good
            breaks += [b for b in s * np.array([0.25, 0.5, 1, 2, 4, 8, 16]) if lo < b < hi]
        breaks = np.unique(np.clip(np.array(breaks, dtype=float), lo, hi))
        z, wz = _piecewise_gl(breaks[:-1], breaks[1:], NZ)
        wz = wz * 2 * _phi(z) / keep  # 2p(z) on z > 0
        if s > 0:
            r0 = np.clip(c * z / s, -width, width)
            # offsets from the boundary r0, in r units: graded in u = s·(offset), then unit steps
            graded = grades[grades / s <= 0.5] / s  # decades in |u| while they are short in r
            last = graded[-1] if len(graded) else 0.0
            offsets = np.concatenate([[0.0], graded, last + _R_STEPS])
        else:  # θ = 0: u = z does not depend on r; one piece over r
            r0 = np.full_like(z, width)
            offsets = np.concatenate([[0.0], _R_STEPS])
        halves = []
        for sign in (1.0, -1.0):  # "+": r ≤ r0 where u > 0 ; "−": r ≥ r0 where u < 0
            edges = np.clip(r0[:, None] - sign * offsets[None, :], -width, width)  # (nz, K)
            a_, b_ = edges[:, 1:], edges[:, :-1]
            nodes, wts = _piecewise_gl(a_, b_, NR)  # (nz, K−1, 8)
            r = nodes.reshape(len(z), -1)
            wr = np.abs(wts.reshape(len(z), -1)) * _phi(r)
            u = c * z[:, None] - s * r
            v = s * z[:, None] + c * r
            halves.append((sign * u, sign * v, wz[:, None] * wr, np.broadcast_to(z[:, None], r.shape)))
        abs_u, y_v, weight, zz = (np.concatenate([h[k] for h in halves], axis=1).ravel() for k in range(4))
        live = weight > 1e-300
        return KeptFieldQuadrature(abs_u[live], y_v[live], weight[live], zz[live], float(resolution))


    def collapsed(self) -> "KeptFieldQuadrature":
        """The same average for integrands of |u| alone (nodes with equal |u| merged, y·v dropped).

        Exact when the student has no component along v̂ (q = 0), which symmetry forces at θ = 0
        (v independent of the kept set and of the labels: v → −v) and at θ = 90° (z = v, and the
        kept band is symmetric in z): there the optimum is found on the line ψ = π/2.
        """
        keys, inverse = np.unique(self.abs_u, return_inverse=True)
        weight = np.bincount(inverse, weights=self.weight)
        return KeptFieldQuadrature(keys, np.zeros_like(keys), weight, np.zeros_like(keys), self.resolution)


def _piecewise_gl(a, b, n: int):
    """Gauss–Legendre nodes and weights on each interval [a, b] (arrays of any shape; empty → 0)."""
    x, w = _gauss_legendre(n)
    a = np.asarray(a, dtype=float)[..., None]
    b = np.asarray(b, dtype=float)[..., None]
    nodes = 0.5 * (b - a) * x + 0.5 * (a + b)
    weights = 0.5 * (b - a) * w
    if nodes.ndim == 2:  # 1-D list of intervals: flatten
        return nodes.ravel(), weights.ravel()
    return nodes, weights


# --- the convex program -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PruningSolution:
    alpha_prune: float
    keep: float
    probe_angle: float  # degrees
    prune: str
    R: float  # student–teacher overlap
    rho: float  # student–probe overlap
    kappa: float  # maximum normalised margin
    test_error: float  # arccos(R)/π
    support_per_dim: float  # support vectors per input dimension, α·E[Φ(h/C)]
    weights: tuple[float, float, float]  # (p, q, C): w = pT̂ + q v̂ + w_⊥, ‖w_⊥‖ = C, margin 1
    kkt_residual: float  # ‖∇κ‖/κ at the solution (0 at the exact maximum)
    converged: bool

    @property
    def start(self) -> tuple[float, float]:
        """(log φ, ψ) of this solution: a start for a nearby solve."""
        p, q, C = self.weights
        return math.log(math.pi * self.test_error), math.atan2(C, q)

    @property
    def alpha_tot(self) -> float:
        return self.alpha_prune / self.keep

    def as_dict(self) -> dict:
        d = asdict(self)
        d["alpha_tot"] = self.alpha_tot
        return d


class _Problem:
    """The margin κ(φ, ψ) of a student direction, and its maximisation.

    Student direction: ŵ = cos φ T̂ + sin φ (cos ψ v̂ + sin ψ n̂), n̂ ⟂ span(T̂, v̂): φ = πε is the
    angle to the teacher and ψ places the rest between the probe's plane and the orthogonal space.
    In the unnormalised weights of the module docstring, (p, q, C) = (cos φ, sin φ cos ψ,
    sin φ sin ψ)/κ. For a direction, the largest margin κ solves

        G(κ) = α E[S₂(d)] − 1 = 0,   d = (κ − t∥)/σ,  t∥ = cos φ |u| + sin φ cos ψ (y v),  σ = sin φ sin ψ,

    (F = 0 of REFERENCES.md §5 divided by 1 − Q = σ²); G is increasing in κ, so the root is unique.
    κ(ŵ) extended 1-homogeneously is concave (it is the large-N limit of min_μ ξ^μ·w), so κ on the
    sphere has one local maximum: the maximum-margin student. It is found by BFGS in (log φ, ψ) with
    the gradient from the envelope theorem, ∂κ = −∂G/∂_κG.
    """

    def __init__(self, alpha: float, quad: KeptFieldQuadrature):
        self.alpha = alpha
        self.quad = quad
        self._kappa = None  # last root, the next Newton start

    def fields(self, log_phi: float, psi: float):
        phi = math.exp(log_phi)
        cp, sp_, cs, ss = math.cos(phi), math.sin(phi), math.cos(psi), math.sin(psi)
        t_par = cp * self.quad.abs_u + sp_ * cs * self.quad.y_v
        sigma = sp_ * ss
        return phi, t_par, sigma

    def margin(self, log_phi: float, psi: float) -> tuple[float, np.ndarray, float]:
        """κ for this direction, with d and σ at the root.

        Newton on g(κ) = √(α E[S₂(d)]) − 1 rather than on G: √E[S₂] = ‖(d − ω)₊‖_{L²} is convex in
        κ and grows linearly, so Newton's iterates are monotone after the first step and never
        overshoot far (on G itself, which grows quadratically, a start far left of the root throws
        the iterate far right and the way back takes dozens of halvings).
        """
        phi, t_par, sigma = self.fields(log_phi, psi)
        w = self.quad.weight
        alpha = self.alpha
        def g_and_slope(k):
            d = (k - t_par) / sigma
            Phi = _Phi(d)
            ph = _phi(d)
            # S₂, S₁ ≥ 0; far below the margin (d ≪ 0) the two terms cancel to rounding: clip
            s2 = _dot(w, np.maximum((1 + d * d) * Phi + d * ph, 0.0))
            s1 = _dot(w, np.maximum(d * Phi + ph, 0.0))
            root = math.sqrt(alpha * s2)
            return root - 1.0, (alpha * s1 / (sigma * root) if root > 0 else 0.0)

        # Newton from the last root (or 0). g is convex and increasing, so from the right of the
        # root the iterates decrease monotonically to it, and from the left the first step lands
        # on its right; only where g is flat to rounding (far left of every field) a jump is needed.
        # Far left of the root g is flat (every field clears the margin by many σ) and Newton's
        # step would be huge: walk right by doubling steps instead until g ≥ 0 or Newton is sane.
        k = self._kappa if self._kappa is not None and math.isfinite(self._kappa) else 0.0
        for self.newton_steps in range(1, 201):
            g, dg = g_and_slope(k)
            if abs(g) < 4e-16:
                break
            scale = max(sigma, abs(k), 0.1)
            if g < 0 and not (dg > 0 and -g / dg < 8 * scale):
                k += scale
                continue
            step = g / dg
            k -= step
            if abs(step) <= 1e-15 * max(abs(k), sigma):
                break
        d = (k - t_par) / sigma
        self._kappa = k
        return k, d, sigma

    def margin_and_gradient(self, x) -> tuple[float, np.ndarray]:
        log_phi, psi = float(x[0]), float(x[1])
        kappa, d, sigma = self.margin(log_phi, psi)
        phi = math.exp(log_phi)
        cp, sp_, cs, ss = math.cos(phi), math.sin(phi), math.cos(psi), math.sin(psi)
        s1 = S1(d) * self.quad.weight
        au, yv = self.quad.abs_u, self.quad.y_v
        # ∂d = (∂κ − ∂t∥ − d ∂σ)/σ ;  G_x = 2α E[S₁ ∂_x d]
        g_kappa = float(s1.sum()) / sigma
        dt_dphi = -sp_ * au + cp * cs * yv
        dt_dpsi = -sp_ * ss * yv
        g_phi = _dot(s1, -dt_dphi - d * (cp * ss)) / sigma
        g_psi = _dot(s1, -dt_dpsi - d * (sp_ * cs)) / sigma
        grad = np.array([-g_phi / g_kappa * phi, -g_psi / g_kappa])  # ∂κ/∂log φ, ∂κ/∂ψ
        return kappa, grad


def _maximise_margin(alpha: float, quad: KeptFieldQuadrature, x0, symmetric: bool = False
                     ) -> tuple[np.ndarray, float, float, bool]:
    """argmax of κ over (log φ, ψ); returns (x, κ, relative gradient norm, converged).

    ``symmetric``: ψ = π/2 is known (θ = 0 or 90°, see `KeptFieldQuadrature.collapsed`), so the
    maximum is the root of ∂κ/∂log φ on that line (Brent's method on the analytic derivative).
    """
    from scipy.optimize import brentq, minimize

    prob = _Problem(alpha, quad)
    if symmetric:
        half_pi = math.pi / 2

        def slope(l):
            return prob.margin_and_gradient(np.array([l, half_pi]))[1][0]

        l0 = float(x0[0])
        lo, hi = l0 - 0.5, l0 + 0.5
        l_min, l_max = math.log(1e-14), math.log(math.pi / 2)
        lo, hi = max(lo, l_min), min(hi, l_max)
        g_lo, g_hi = slope(lo), slope(hi)
        while g_lo < 0 and lo > l_min:  # κ rises with φ at the root's left: move left until it does
            lo, hi, g_hi = max(lo - 2 * (hi - lo), l_min), lo, g_lo
            g_lo = slope(lo)
        while g_hi > 0 and hi < l_max:
            lo, hi, g_lo = hi, min(hi + 2 * (hi - lo), l_max), g_hi
            g_hi = slope(hi)
        if g_lo > 0 > g_hi:
            l_star = brentq(slope, lo, hi, xtol=1e-14, rtol=1e-13, maxiter=200)
        else:
            l_star = lo if g_lo <= 0 else hi
        x = np.array([l_star, half_pi])
        kappa, grad = prob.margin_and_gradient(x)
        resid = abs(grad[0]) / max(abs(kappa), 1e-300)
        return x, kappa, resid, bool(resid < 1e-5 and kappa > 0)

    # Unconstrained coordinates: φ = π·S(l), ψ = π·S(t) with S the logistic function, so that
    # 0 < φ, ψ < π always (σ = sin φ sin ψ > 0) and l ≈ log(φ/π) for small φ (errors of any size).
    # BFGS (scipy, pure Python): L-BFGS-B's compiled core cost 1.8 ms a call on a busy machine,
    # several times a margin evaluation.
    def to_angles(y):
        return math.pi * _logistic(y[0]), math.pi * _logistic(y[1])

    cache = {}

    def fun(y):
        key = (float(y[0]), float(y[1]))
        if key not in cache:
            cache.clear()
            phi, psi = to_angles(y)
            k, g = prob.margin_and_gradient(np.array([math.log(phi), psi]))
            # chain rule: ∂κ/∂l = ∂κ/∂log φ · (1 − φ/π), ∂κ/∂t = ∂κ/∂ψ · ψ(1 − ψ/π)
            cache[key] = (k, np.array([g[0] * (1 - phi / math.pi), g[1] * psi * (1 - psi / math.pi)]))
        k, g = cache[key]
        return -k, -g

    phi0 = min(math.exp(float(x0[0])), math.pi * (1 - 1e-9))
    psi0 = min(max(float(x0[1]), 1e-9), math.pi * (1 - 1e-9))
    y = np.array([_logit(phi0 / math.pi), _logit(psi0 / math.pi)])
    with np.errstate(all="ignore"):
        res = minimize(fun, y, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 300})
    phi, psi = to_angles(res.x)
    x = np.array([math.log(phi), psi])
    kappa, grad = prob.margin_and_gradient(x)
    resid = float(np.linalg.norm(grad) / max(abs(kappa), 1e-300))
    return x, kappa, resid, bool(resid < 1e-5 and kappa > 0)


def _logistic(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _initial_guess(alpha: float) -> np.ndarray:
    """Start at the no-pruning asymptote ε ≈ 0.5/α (capped), student in the teacher–⊥ plane."""
    eps = min(0.4, 0.5 / (alpha + 1.0))
    return np.array([math.log(math.pi * eps), math.pi / 2])


def _solution(alpha, keep, probe_angle, prune, quad, x, kappa, resid, ok) -> PruningSolution:
    phi, psi = math.exp(float(x[0])), float(x[1])
    theta = math.radians(probe_angle)
    c, s = math.cos(theta), math.sin(theta)
    R = math.cos(phi)
    rho = c * math.cos(phi) + s * math.sin(phi) * math.cos(psi)
    prob = _Problem(alpha, quad)
    _, d, _ = prob.margin(float(x[0]), psi)
    weights = tuple(float(v) / kappa for v in (math.cos(phi), math.sin(phi) * math.cos(psi), math.sin(phi) * math.sin(psi)))
    return PruningSolution(
        alpha_prune=float(alpha), keep=float(keep), probe_angle=float(probe_angle), prune=prune,
        R=R, rho=rho, kappa=float(kappa), test_error=phi / math.pi,
        support_per_dim=alpha * _dot(quad.weight, _Phi(d)),
        weights=weights, kkt_residual=resid, converged=ok,
    )


def solve(alpha_prune: float, keep: float = 1.0, probe_angle: float = 0.0, prune: str = "hard",
          x0: Sequence[float] | None = None) -> PruningSolution:
    """The replica solution (R, ρ, κ, ε) at α_prune kept examples per dimension.

    ``probe_angle`` θ in degrees; ``keep`` the kept fraction f (α_tot = α_prune/f); ``x0`` an
    optional start (log φ, ψ) from a nearby solution (continuation; `PruningSolution.start`).
    """
    _check(alpha_prune, keep, probe_angle, prune)
    starts = [np.asarray(x0, dtype=float)] if x0 is not None else []
    starts.append(_initial_guess(alpha_prune))
    starts.append(np.array([math.log(math.pi * 0.25), math.pi / 2]))
    symmetric = probe_angle in (0.0, 90.0) or keep == 1.0  # q = 0 by symmetry (f = 1: θ is irrelevant)
    resolution = 1e-3
    for _refine in range(8):
        quad = KeptFieldQuadrature.build(float(keep), float(probe_angle) if keep < 1 else 0.0, prune, resolution)
        if symmetric:
            quad = quad.collapsed()
        best = None
        for start in starts:
            x, kappa, resid, ok = _maximise_margin(alpha_prune, quad, start, symmetric)
            if best is None or (ok and not best[3]) or (ok == best[3] and kappa > best[1]):
                best = (x, kappa, resid, ok)
            if ok:
                break
        x, kappa, resid, ok = best
        # the integrand changes on the scales κ and σ = sin φ sin ψ near the teacher's boundary
        scale = min(abs(kappa), math.sin(math.exp(x[0])) * math.sin(x[1]))
        if scale >= 30 * resolution or resolution <= 1e-12:
            break
        resolution = 10.0 ** math.floor(math.log10(max(scale / 30, 1e-12)))
        starts = [x] + starts
    return _solution(alpha_prune, keep, probe_angle, prune, quad, x, kappa, resid, ok)


def learning_curve(alpha_prune: Sequence[float], keep: float = 1.0, probe_angle: float = 0.0,
                   prune: str = "hard") -> list[PruningSolution]:
    """Solutions along α_prune (any order), by continuation in increasing α."""
    alphas = [float(a) for a in alpha_prune]
    for a in alphas:
        _check(a, keep, probe_angle, prune)
    order = np.argsort(alphas)
    out: list[PruningSolution | None] = [None] * len(alphas)
    prev = None
    for k in order:
        a = alphas[k]
        sol = solve(a, keep, probe_angle, prune, x0=None if prev is None else prev.start)
        out[k] = sol
        prev = sol
    return out  # type: ignore[return-value]


def predict(alpha_tot: Sequence[float], keep: float = 1.0, probe_angle: float = 0.0,
            prune: str = "hard") -> dict:
    """The `predict pruning` numbers: α_tot → α_prune = f·α_tot → (ε, R, ρ, κ)."""
    for a in alpha_tot:
        if not (math.isfinite(a) and a > 0):
            raise InputError("alpha_tot", f"must be positive numbers, got {a!r}")
    sols = learning_curve([keep * a for a in alpha_tot], keep, probe_angle, prune)
    return {
        "alpha_tot": [float(a) for a in alpha_tot],
        "alpha_prune": [s.alpha_prune for s in sols],
        "test_error": [s.test_error for s in sols],
        "R": [s.R for s in sols],
        "rho": [s.rho for s in sols],
        "kappa": [s.kappa for s in sols],
        "support_per_dim": [s.support_per_dim for s in sols],
        "converged": all(s.converged for s in sols),
    }


def no_pruning_error(alpha: float) -> float:
    """The classical maximum-margin perceptron learning curve ε(α) (f = 1)."""
    return solve(alpha, 1.0, 0.0, "hard").test_error


# --- the literal equations of REFERENCES.md §5, for checking ----------------------------------------------
def _kept_z_nodes(keep: float, prune: str, n: int = 400, half: bool = False):
    """Nodes over the kept z-range (both signs, or z > 0 only) with weights p(z)dz, graded
    geometrically towards z = 0 and the band's edges (where the θ = 0 integrands are sharp)."""
    gamma = threshold(keep, prune)
    lo, hi = (0.0, min(gamma, 10.0)) if prune == "hard" else (gamma, gamma + 10.0)
    g = 10.0 ** np.arange(-12, 1)
    breaks = np.unique(np.clip(np.concatenate([[lo, hi], lo + g * (hi - lo), hi - g * (hi - lo),
                                               np.arange(lo, hi, 0.5)]), lo, hi))
    zp, wp = _piecewise_gl(breaks[:-1], breaks[1:], max(4, n // len(breaks)))
    wp = wp * _phi(zp) / keep
    if half:
        return zp, wp
    return np.concatenate([-zp[::-1], zp]), np.concatenate([wp[::-1], wp])


def literal_residuals(sol: PruningSolution, n_t: int = 240, n_z: int = 1200) -> tuple[float, float, float]:
    """Residuals (LHS − RHS) of equations (1), (2), (3) of REFERENCES.md §5, as transcribed there.

    Defined for 0 < θ < 90° (at θ = 0 they are singular; see `theta0_residuals`).
    """
    theta = math.radians(sol.probe_angle)
    c, s = math.cos(theta), math.sin(theta)
    s2 = s * s
    R, rho, kappa, alpha = sol.R, sol.rho, sol.kappa, sol.alpha_prune
    z, wz = _kept_z_nodes(sol.keep, sol.prune, n_z)
    x, w = _gauss_legendre(n_t)
    t = 0.5 * 14 * x + kappa - 7.0  # t over [κ − 14, κ]
    wt = 0.5 * 14 * w
    Z, T = z[:, None], t[None, :]
    lam = math.sqrt(s2 - R * R - rho * rho + 2 * rho * R * c)
    gam = Z * (rho * R - c) - T * (R - rho * c)
    delta = Z ** 2 * (rho ** 2 + c ** 2 - 2 * rho * R * c) + 2 * T * Z * (R * c - rho) + T ** 2 * s2
    g = np.exp(-(T - rho * Z) ** 2 / (2 * (1 - rho ** 2))) / (_SQRT_2PI * math.sqrt(1 - rho ** 2))
    h = H(gam / (math.sqrt(1 - rho ** 2) * lam))
    e = np.exp(-delta / (2 * lam ** 2))

    def avg(M):
        return float(wz @ (M @ wt))

    r1 = (R - rho * c) / s2 - alpha / (math.pi * lam) * avg(e * (kappa - T))
    r2 = 1 - (rho ** 2 + R ** 2 - 2 * rho * R * c) / s2 - 2 * alpha * avg(g * h * (kappa - T) ** 2)
    r3 = (rho - R * c) / s2 - 2 * alpha * avg(
        g * h * ((Z - rho * T) / (1 - rho ** 2)) * (kappa - T)
        + e / (2 * math.pi * lam) * ((rho * R - c) / (1 - rho ** 2)) * (kappa - T))
    return r1, r2, r3


def theta0_residuals(sol: PruningSolution, n: int = 1200) -> tuple[float, float]:
    """Residuals of the reduced θ = 0 equations of REFERENCES.md §5 (hard or easy pruning):
    1 − R² = 2α∫dz p(z)(1 − R²)S₂(d) and R = 2α∫dz p(z)[z√(1−R²)S₁(d) + RΦ(d)], z > 0,
    d = (κ − Rz)/√(1 − R²)."""
    R, kappa, alpha = sol.R, sol.kappa, sol.alpha_prune
    z, wz = _kept_z_nodes(sol.keep, sol.prune, n, half=True)
    sig = math.sqrt(1 - R * R)
    d = (kappa - R * z) / sig
    r1 = (1 - R * R) - 2 * alpha * float(wz @ ((1 - R * R) * S2(d)))
    r2 = R - 2 * alpha * float(wz @ (z * sig * S1(d) + R * _Phi(d)))
    return r1, r2


# --- Pareto frontier and f_min ----------------------------------------------------------------------------
def _refine_keep(alpha_prune, probe_angle, prune, grid_logf, grid_sols, keep_min, keep_max=1.0):
    """Bounded Brent in log f around the best point of a scanned grid (warm-started solves)."""
    from scipy.optimize import minimize_scalar

    errs = [s.test_error for s in grid_sols]
    k = int(np.argmin(errs))
    sols = {round(s.keep, 15): s for s in grid_sols}

    def err(logf):
        f = min(max(math.exp(logf), keep_min), keep_max)
        key = round(f, 15)
        if key not in sols:
            nearest = min(sols.values(), key=lambda s: abs(math.log(s.keep) - logf))
            sols[key] = solve(alpha_prune, f, probe_angle, prune, x0=nearest.start)
        return sols[key].test_error

    a, b = grid_logf[max(k - 1, 0)], grid_logf[min(k + 1, len(grid_logf) - 1)]
    if b > a:
        minimize_scalar(err, bounds=(a, b), method="bounded", options={"xatol": 2e-3})
    return min(sols.values(), key=lambda s: s.test_error)


def best_keep(alpha_prune: float, probe_angle: float, prune: str = "hard", keep_min: float = 1e-3,
              keep_max: float = 1.0, n_grid: int = 13) -> PruningSolution:
    """The kept fraction f in [keep_min, keep_max] with the lowest ε at this α_prune.

    A scan on a log grid of f (ε(f) can have two local minima near the θ = 0 cliff, so no local
    search alone), then a bounded scalar minimisation in log f around the best grid point.
    """
    _check(alpha_prune, keep_min, probe_angle, prune)
    grid = np.linspace(math.log(keep_min), math.log(keep_max), n_grid)
    sols, prev = [], None
    for g in grid[::-1]:  # from f = keep_max down, each solve starting at the last
        prev = solve(alpha_prune, math.exp(g), probe_angle, prune, x0=None if prev is None else prev.start)
        sols.append(prev)
    return _refine_keep(alpha_prune, probe_angle, prune, grid, sols[::-1], keep_min, keep_max)


def pareto_frontier(alpha_prune: Sequence[float], probe_angle: float, prune: str = "hard",
                    keep_min: float = 1e-3, n_grid: int = 13,
                    on_step: Callable[[int], None] | None = None) -> dict:
    """min over f ∈ [keep_min, 1] of ε(α_prune, f, θ) at each α_prune, with the best f.

    The floor keep_min matters: with a perfect probe ε ≈ f/(2α_prune) beyond α_prune ≈ 2
    (REFERENCES.md §5), so without a floor the frontier would fall to 0 there; the floor is the
    largest pool one can scan, α_tot ≤ α_prune/keep_min. Computed by continuation: the learning
    curve of every f on a log grid is followed in α (each solve starting at the last), and the
    best grid point is refined by a bounded Brent search in log f.
    """
    alphas = sorted(float(a) for a in alpha_prune)
    for a in alphas:
        _check(a, keep_min, probe_angle, prune)
    grid = np.linspace(math.log(keep_min), 0.0, n_grid)
    last: list[PruningSolution | None] = [None] * n_grid
    best = []
    for step, a in enumerate(alphas):
        sols = []
        for j, g in enumerate(grid):
            x0 = last[j].start if last[j] is not None else (sols[-1].start if sols else None)
            last[j] = solve(a, math.exp(g), probe_angle, prune, x0=x0)
            sols.append(last[j])
        best.append(_refine_keep(a, probe_angle, prune, grid, sols, keep_min))
        if on_step:
            on_step(step)
    return {
        "alpha_prune": alphas,
        "test_error": [s.test_error for s in best],
        "best_keep": [s.keep for s in best],
        "probe_angle": float(probe_angle),
        "keep_min": float(keep_min),
    }


def local_exponents(alpha: Sequence[float], error: Sequence[float], windows: Sequence[tuple[float, float]]) -> list[dict]:
    """Least-squares slope of log ε against log α over each window [a, b] (the local exponent)."""
    a = np.asarray(alpha, dtype=float)
    e = np.asarray(error, dtype=float)
    out = []
    for lo, hi in windows:
        m = (a >= lo * (1 - 1e-9)) & (a <= hi * (1 + 1e-9)) & (e > 0)
        if m.sum() < 2:
            out.append({"window": [lo, hi], "exponent": None, "points": int(m.sum())})
            continue
        slope = float(np.polyfit(np.log(a[m]), np.log(e[m]), 1)[0])
        out.append({"window": [lo, hi], "exponent": slope, "points": int(m.sum())})
    return out


def f_min(probe_angle: float, alpha_prune: float = 100.0, prune: str = "hard") -> float:
    """The kept fraction below which pruning hurts, at a given training-set size α_prune.

    Definition: at fixed α_prune (the data trained on, i.e. the training cost), keeping the
    fraction f of a pool of α_prune/f examples by this probe beats keeping a random α_prune
    (f = 1) iff ε(α_prune, f, θ) < ε(α_prune, 1, θ). f_min(θ; α_prune) is the lower end of the
    range of f where pruning helps (the crossing ε(f) = ε(1), located by a scan over
    f ∈ [1e-6, 0.999] and Brent's method): below it pruning hurts. Returns 1.0 when pruning
    hurts for every f < 1 (hard pruning at small α_prune), 0.0 when it helps down to f = 1e-6 (a
    perfect probe past the cliff at α_prune ≈ 2).

    It depends on α_prune and falls towards 0 as α_prune grows (θ = 20°: 0.107 at α_prune = 10,
    0.026 at 100): by the large-α asymptote of the module docstring, the pruned curve's prefactor
    0.5005·f/q is below the unpruned 0.5005 for every f < 1, so at large enough α_prune any
    hard pruning by a probe better than random helps; what it cannot do is beat a power law.
    """
    from scipy.optimize import brentq

    _check(alpha_prune, 0.5, probe_angle, prune)
    base = solve(alpha_prune, 1.0, probe_angle, prune)
    cache: dict[float, PruningSolution] = {}

    def gain(logf):
        if logf not in cache:
            nearest = min(cache.values(), key=lambda s: abs(math.log(s.keep) - logf)) if cache else base
            cache[logf] = solve(alpha_prune, math.exp(logf), probe_angle, prune, x0=nearest.start)
        return cache[logf].test_error - base.test_error

    grid = np.linspace(math.log(0.999), math.log(1e-6), 15)  # from f ≈ 1 down, warm starts
    vals = np.array([gain(g) for g in grid])
    helps = vals < 0
    if not helps.any():
        return 1.0
    last_help = int(np.flatnonzero(helps).max())  # smallest f on the grid where pruning helps
    if last_help == len(grid) - 1:
        return 0.0
    return float(math.exp(brentq(gain, grid[last_help + 1], grid[last_help], xtol=1e-4)))
