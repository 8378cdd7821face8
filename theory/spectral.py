"""Spectral theory of kernel-regression learning curves (Bordelon, Canatar & Pehlevan 2020; Canatar,
Bordelon & Pehlevan 2021). Equations as in ../shared/REFERENCES.md §6, verified against the official
code (Pehlevan-Group/kernel-generalization, kernel_simulation.py: kappa_fn, gamma_fn, mode_error_pure).

For a kernel with eigenvalues η_ρ (under the data distribution), target power v_ρ² in mode ρ
(= η_ρ w̄_ρ² in the paper's notation), p training samples, ridge λ (the λ of (K + λI)α = y with the
unnormalised Gram matrix K) and label-noise variance σ²:

    κ = λ + κ Σ_ρ η_ρ / (p η_ρ + κ)                                              (BCP eq. for κ)
    γ = Σ_ρ p η_ρ² / (p η_ρ + κ)²
    E_g = [ Σ_ρ v_ρ² κ² / (p η_ρ + κ)² + σ² γ ] / (1 − γ)                        (test error vs f*)
    E_ρ = [ v_ρ² κ² + σ² p η_ρ² ] / [ (p η_ρ + κ)² (1 − γ) ]   (per-mode errors; Σ_ρ E_ρ = E_g)

Numerics. With z = κ/p the κ equation becomes p = λ/z + h(z), h(z) = Σ_ρ η_ρ/(η_ρ + z), whose right
side falls strictly in z: one root, bracketed by z ∈ [λ/p, (λ + Σ η)/p] when λ > 0. It is solved in
u = log z (so a ridge of 1e-300 is as easy as 1), vectorised over all p at once: a start from a
log-binned compression of the spectrum (a few thousand bins), then safeguarded Newton steps on the
full spectrum, each a single fused pass (a Numba loop, one division per mode and sample size).
Ridgeless (λ = 0): a positive root exists while p < M₊ (the number of positive eigenvalues); for
p ≥ M₊ the solution is κ = 0, γ = M₊/p, E_g = [Σ_{η=0} v² + σ² M₊/p] / (1 − M₊/p) (infinite at p = M₊).
At p = 0: κ = λ + Σ η, γ = 0, E_g = Σ v² (the target's variance).

Power laws (η_k ∝ k^(−b), v_k² ∝ k^(−a), λ → 0, σ = 0): E_g ∝ p^(−min(a−1, 2b)), derived
symbolically in `derive_power_law_exponent` and checked against the numeric solution in the tests.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numba
import numpy as np

from theory.errors import InputError

# --- Tasks ---------------------------------------------------------------------------------------------


def power_law_spectrum(decay: float, modes: int) -> np.ndarray:
    """η_k = k^(−decay) / Σ_j j^(−decay), k = 1..modes (trace 1; the same normalisation as sim/kernel.py)."""
    if not (math.isfinite(decay) and decay > 0):
        raise InputError("spectrum_decay", f"must be a positive number, got {decay!r}")
    return _normalised_power(decay, modes)


def power_law_target(decay: float, modes: int) -> np.ndarray:
    """Target power v_k² = k^(−decay) / Σ_j j^(−decay) (target variance 1)."""
    if not math.isfinite(decay):
        raise InputError("target_decay", f"must be a finite number, got {decay!r}")
    return _normalised_power(decay, modes)


def _normalised_power(decay: float, modes: int) -> np.ndarray:
    if int(modes) != modes or modes < 1:
        raise InputError("modes", f"must be a whole number >= 1, got {modes!r}")
    log_w = -decay * np.log(np.arange(1, int(modes) + 1, dtype=np.float64))
    w = np.exp(log_w - log_w.max())  # log space: no underflow for steep decays
    return w / w.sum()


def spectrum_from_kernel(K: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(η, v²) of a finite population of N points with the uniform distribution on them.

    The kernel operator's eigenproblem on the empirical measure is K/N u = η u; its orthonormal
    eigenfunctions are φ_ρ(x_i) = sqrt(N) U_iρ, so the target coefficients are v_ρ = Uᵀy / sqrt(N)
    (summed in square over output columns). Σ v² = mean |y|², the population's target second moment.
    """
    K = np.asarray(K, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    n = K.shape[0]
    if K.shape != (n, n) or Y.shape[0] != n:
        raise InputError("kernel", f"expected a square kernel matrix and one target row per point, got {K.shape}, {Y.shape}")
    import scipy.linalg

    eta, U = scipy.linalg.eigh(K / n, check_finite=False)
    eta = np.clip(eta, 0.0, None)  # round-off gives tiny negative eigenvalues of a PSD matrix
    v = U.T @ Y / math.sqrt(n)
    return eta[::-1].copy(), np.sum(v * v, axis=1)[::-1].copy()


# --- Fused passes over the spectrum (one core) --------------------------------------------------------

# The reciprocals 1/(η + z) are formed block by block as an array expression, which LLVM vectorises
# (an explicit scalar loop with the division inside it stays scalar: measured 2-3x slower); the
# reductions over the block then vectorise as multiply-adds. ``reassoc`` permits the reordered sums.
_BLOCK = 4096
_FASTMATH = {"reassoc", "contract", "nsz"}


@numba.njit(cache=True, fastmath=_FASTMATH)
def _newton_sums(eta, weight, z):
    """For each z_i: h = Σ w η/(η+z), dh = Σ w η z/(η+z)²  (−dh is ∂h/∂log z)."""
    n = z.shape[0]
    m = eta.shape[0]
    h = np.empty(n)
    dh = np.empty(n)
    weta = weight * eta
    for i in range(n):
        zi = z[i]
        s0 = 0.0
        s1 = 0.0
        for start in range(0, m, _BLOCK):
            stop = min(start + _BLOCK, m)
            r = 1.0 / (eta[start:stop] + zi)
            t = weta[start:stop]
            for k in range(r.shape[0]):
                q = t[k] * r[k]
                s0 += q
                s1 += q * r[k]
        h[i] = s0
        dh[i] = s1 * zi
    return h, dh


@numba.njit(cache=True, fastmath=_FASTMATH)
def _error_sums(eta, power, z):
    """For each z_i: g = Σ η²/(η+z)² (γ = g/p) and bias = Σ v² z²/(η+z)²."""
    n = z.shape[0]
    m = eta.shape[0]
    g = np.empty(n)
    bias = np.empty(n)
    for i in range(n):
        zi = z[i]
        s0 = 0.0
        s1 = 0.0
        for start in range(0, m, _BLOCK):
            stop = min(start + _BLOCK, m)
            r = 1.0 / (eta[start:stop] + zi)
            e = eta[start:stop]
            v2 = power[start:stop]
            for k in range(r.shape[0]):
                q = e[k] * r[k]
                s0 += q * q
                s1 += v2[k] * r[k] * r[k]
        g[i] = s0
        bias[i] = s1 * zi * zi
    return g, bias


def _compress(eta: np.ndarray, bins_per_e: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A few thousand (η̄, count) bins in log η: h(z) to ~1e-3, a Newton start for the full spectrum."""
    pos = eta[eta > 0]
    if len(pos) <= 4096:
        return pos, np.ones(len(pos))
    logs = np.log(pos)
    lo, hi = logs.min(), logs.max()
    nbins = max(1, int(math.ceil((hi - lo) * bins_per_e)) + 1)
    which = np.minimum(((logs - lo) * bins_per_e).astype(np.int64), nbins - 1)
    counts = np.bincount(which, minlength=nbins).astype(np.float64)
    sums = np.bincount(which, weights=pos, minlength=nbins)
    keep = counts > 0
    return sums[keep] / counts[keep], counts[keep]


def _solve_z(eta_w: tuple[np.ndarray, np.ndarray], p: np.ndarray, ridge: float, u0: np.ndarray,
             lo: np.ndarray, hi: np.ndarray, tol: float, max_iter: int, tail=None) -> np.ndarray:
    """Safeguarded Newton on F(u) = λ e^(−u) + h(e^u) − p (decreasing in u), vectorised over p.

    [lo, hi] brackets the root (F(lo) > 0 > F(hi)); a Newton step leaving the bracket is replaced by
    bisection. Each sample size stops once its step is below ``tol``, so later passes over the
    spectrum cover only the sizes still moving."""
    eta, w = eta_w
    u = np.clip(u0, lo, hi)
    lo, hi = lo.copy(), hi.copy()
    active = np.arange(len(u))
    for _ in range(max_iter):
        if len(active) == 0:
            break
        ua, pa = u[active], p[active]
        z = np.exp(ua)
        h, dh = _newton_sums(eta, w, z)
        if tail is not None:  # modes beyond the explicit ones (an infinite spectrum)
            th, tdh = tail.newton_sums(z)
            h, dh = h + th, dh + tdh
        F = ridge / z + h - pa
        dF = -ridge / z - dh  # ∂F/∂u < 0
        la = np.where(F > 0, ua, lo[active])
        ha = np.where(F < 0, ua, hi[active])
        lo[active], hi[active] = la, ha
        with np.errstate(divide="ignore", invalid="ignore"):
            u_new = ua - F / dF
        bad = ~np.isfinite(u_new) | (u_new < la) | (u_new > ha)
        u_new = np.where(bad, 0.5 * (la + ha), u_new)
        done = (np.abs(u_new - ua) < tol) | (F == 0)
        u[active] = np.where(F == 0, ua, u_new)
        active = active[~done]
    return u


def solve_z(eta: np.ndarray, p: np.ndarray, ridge: float, *, tol: float = 1e-13, max_iter: int = 100) -> np.ndarray:
    """z = κ/p for each p > 0 (NaN where the ridgeless solution is κ = 0, i.e. p >= M₊)."""
    eta = np.ascontiguousarray(eta, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    total = float(eta.sum())
    n_pos = int(np.count_nonzero(eta > 0))
    z = np.full(p.shape, np.nan)
    active = p < n_pos if ridge == 0 else np.ones(p.shape, bool)
    if not np.any(active) or n_pos == 0:
        return z
    pa = p[active]
    hi = np.log((ridge + total) / pa) + 1e-12  # F(hi) < 0: h(z) < Σ η / z there
    if ridge > 0:
        lo = np.log(ridge / pa) - 1e-12  # F(lo) = h(λ/p) > 0
    else:
        # ridgeless: h(0) = M₊ > p; walk down until h(z) > p (a few passes on the compressed spectrum)
        ce, cw = _compress(eta)
        lo = hi.copy()
        for _ in range(200):
            h, _ = _newton_sums(ce, cw, np.exp(lo))
            need = h <= pa
            if not np.any(need):
                break
            lo = np.where(need, lo - 5.0, lo)
        lo = lo - 5.0  # margin for the compression error
    # Start: the same equation on the compressed spectrum (cheap), then polish on the full spectrum.
    compressed = _compress(eta)
    u0 = _solve_z(compressed, pa, ridge, 0.5 * (lo + hi), lo, hi, 1e-6, 200)
    ones = np.ones(len(eta))
    u = _solve_z((eta, ones), pa, ridge, u0, lo, hi, tol, max_iter)
    z[active] = np.exp(u)
    return z


# --- Learning curves ------------------------------------------------------------------------------------

@dataclass
class SpectralCurve:
    P: np.ndarray
    kappa: np.ndarray
    gamma: np.ndarray
    test_error: np.ndarray
    mode_errors: np.ndarray | None = field(default=None, repr=False)  # (len(P), modes) when asked


def _validate(eta, power, P, ridge, noise):
    eta = np.ascontiguousarray(eta, dtype=np.float64).ravel()
    power = np.ascontiguousarray(power, dtype=np.float64).ravel()
    P = np.atleast_1d(np.asarray(P, dtype=np.float64))
    if eta.shape != power.shape:
        raise InputError("target", f"expected one target power per eigenvalue ({eta.shape}), got {power.shape}")
    if len(eta) == 0 or not np.all(np.isfinite(eta)) or np.any(eta < 0):
        raise InputError("spectrum", "eigenvalues must be finite and non-negative (and at least one)")
    if not np.all(np.isfinite(power)) or np.any(power < 0):
        raise InputError("target", "target powers must be finite and non-negative")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise InputError("P", "sample sizes must be finite and non-negative")
    if not (math.isfinite(ridge) and ridge >= 0):
        raise InputError("ridge", f"must be a finite number >= 0, got {ridge!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise InputError("noise", f"must be a finite variance >= 0, got {noise!r}")
    return eta, power, P


def learning_curve(eigenvalues, target_power, P, *, ridge: float = 0.0, noise: float = 0.0,
                   mode_errors: bool = False) -> SpectralCurve:
    """κ, γ and E_g (and per-mode errors E_ρ when asked) at every sample size in P (vectorised)."""
    eta, power, P = _validate(eigenvalues, target_power, P, ridge, noise)
    n_pos = int(np.count_nonzero(eta > 0))
    kappa = np.empty_like(P)
    gamma = np.empty_like(P)
    err = np.empty_like(P)
    modes = np.empty((len(P), len(eta))) if mode_errors else None

    zero = P == 0
    kappa[zero] = ridge + eta.sum()
    gamma[zero] = 0.0
    err[zero] = power.sum()
    if modes is not None:
        modes[zero] = power

    pos = ~zero
    z = solve_z(eta, P[pos], ridge) if np.any(pos) else np.empty(0)
    interior = np.isfinite(z)
    idx_in = np.flatnonzero(pos)[interior]
    if len(idx_in):
        zi, pi = z[interior], P[idx_in]
        g, bias = _error_sums(eta, power, zi)
        gam = g / pi
        kappa[idx_in] = zi * pi
        gamma[idx_in] = gam
        err[idx_in] = (bias + noise * gam) / (1.0 - gam)
        if modes is not None:
            for r, (zz, pp, gg) in enumerate(zip(zi, pi, gam)):
                d = eta + zz
                modes[idx_in[r]] = (power * zz * zz + noise * eta * eta / pp) / (d * d * (1.0 - gg))
    idx_rl = np.flatnonzero(pos)[~interior]  # ridgeless beyond interpolation: κ = 0
    if len(idx_rl):
        pr = P[idx_rl]
        gam = n_pos / pr
        unreachable = float(power[eta == 0].sum())
        kappa[idx_rl] = 0.0
        gamma[idx_rl] = gam
        with np.errstate(divide="ignore"):
            err[idx_rl] = np.where(gam < 1, (unreachable + noise * gam) / (1.0 - gam), np.inf)
        if modes is not None:
            for r, (pp, gg) in enumerate(zip(pr, gam)):
                m = np.where(eta > 0, noise / pp, power)
                modes[idx_rl[r]] = m / (1.0 - gg) if gg < 1 else np.inf
    return SpectralCurve(P, kappa, gamma, err, modes)


def test_error(eigenvalues, target_power, P, *, ridge: float = 0.0, noise: float = 0.0) -> np.ndarray:
    """E_g(P) for a spectrum, a target and a noise level: one call, vectorised over P."""
    return learning_curve(eigenvalues, target_power, P, ridge=ridge, noise=noise).test_error


test_error.__test__ = False  # a library function, not a pytest test when imported into a test module


def kappa_residual(eigenvalues, P, kappa, ridge: float) -> np.ndarray:
    """|κ − λ − κ Σ η/(pη + κ)| / κ: how well κ satisfies its equation (for checks)."""
    eta = np.asarray(eigenvalues, dtype=np.float64)
    P = np.atleast_1d(np.asarray(P, dtype=np.float64))
    kappa = np.atleast_1d(np.asarray(kappa, dtype=np.float64))
    out = np.empty(len(P))
    for i, (p, k) in enumerate(zip(P, kappa)):
        s = math.fsum(eta / (p * eta + k))  # exact summation: the check must be better than the solver
        out[i] = abs(k - ridge - k * s) / k
    return out


def power_law_curve(spectrum_decay: float, target_decay: float, P, *, modes: int = 10_000, ridge: float = 0.0,
                    noise: float = 0.0, spectrum: str = "finite") -> SpectralCurve:
    """E_g(P) for the power-law task of sim/kernel.py (same normalisation: trace 1, target variance 1).

    ``spectrum``: "finite" (M = ``modes`` modes, normalised over them) or "infinite" (all modes,
    normalised by ζ; ``modes`` is not used: see `infinite_power_law_curve`)."""
    if spectrum not in SPECTRA:
        raise InputError("spectrum", f"must be one of {', '.join(SPECTRA)}, got {spectrum!r}")
    if spectrum == "infinite":
        return infinite_power_law_curve(spectrum_decay, target_decay, P, ridge=ridge, noise=noise)
    return learning_curve(power_law_spectrum(spectrum_decay, modes), power_law_target(target_decay, modes), P,
                          ridge=ridge, noise=noise)


def local_exponent(eigenvalues, target_power, P, *, ridge: float = 0.0, noise: float = 0.0, rel_step: float = 1e-3) -> np.ndarray:
    """−d log E_g / d log P at each P > 0 (central differences in log P)."""
    P = np.atleast_1d(np.asarray(P, dtype=np.float64))
    up = test_error(eigenvalues, target_power, P * (1 + rel_step), ridge=ridge, noise=noise)
    down = test_error(eigenvalues, target_power, P / (1 + rel_step), ridge=ridge, noise=noise)
    return -(np.log(up) - np.log(down)) / (2 * math.log1p(rel_step))


# --- Infinite power-law spectra ---------------------------------------------------------------------------

SPECTRA = ("finite", "infinite")
_TAIL_RATIO = 0.25  # η_{K+1}/z at most this at every solved z: the tail series gains 0.6 digits a term
_TAIL_TERMS = 40  # 0.25^40 ≈ 1e-24 (terms carry weights up to n: still far below 1e-16)
_MAX_EXPLICIT_MODES = 50_000_000


@dataclass(frozen=True)
class PowerLawTail:
    """The modes k > K of η_k = c k^(−b), v_k² = d k^(−a), summed exactly as series in η/z.

    For x = η/z < 1: η/(η+z) = Σ_{n≥1} (−1)^(n+1) xⁿ, and Σ_{k>K} k^(−s) = ζ(s, K+1) (Hurwitz zeta), so

        h_tail(z)    = Σ_{k>K} η/(η+z)       = Σ_{n≥1} (−1)^(n+1)     (c/z)ⁿ ζ(nb, K+1)
        dh_tail(z)   = Σ_{k>K} η z/(η+z)²    = Σ_{n≥1} (−1)^(n+1) n   (c/z)ⁿ ζ(nb, K+1)
        g_tail(z)    = Σ_{k>K} η²/(η+z)²     = Σ_{n≥2} (−1)ⁿ (n−1)    (c/z)ⁿ ζ(nb, K+1)
        bias_tail(z) = Σ_{k>K} v² z²/(η+z)²  = Σ_{n≥0} (−1)ⁿ (n+1)  d (c/z)ⁿ ζ(a + nb, K+1)

    Successive terms shrink by about η_{K+1}/z (≤ 1/4 where used: K is chosen so, see
    `infinite_power_law_curve`), so 40 terms reach double precision. The zeta values are computed
    once per curve with mpmath (sympy's dependency) in log form: ζ(nb, K+1) ≈ (K+1)^(−nb) underflows
    a double for large n, the products (c/z)ⁿ ζ(nb, K+1) ≈ (η_{K+1}/z)ⁿ do not.
    """

    b: float
    a: float
    c: float
    d: float
    K: int
    log_zeta_b: np.ndarray  # log ζ(nb, K+1), n = 0..N (n = 0 unused)
    log_zeta_ab: np.ndarray  # log ζ(a + nb, K+1), n = 0..N

    @classmethod
    def make(cls, b: float, a: float, c: float, d: float, K: int, terms: int = _TAIL_TERMS) -> "PowerLawTail":
        import mpmath

        n = np.arange(terms + 1)
        lzb = np.array([-np.inf] + [float(mpmath.log(mpmath.zeta(k * b, K + 1))) for k in n[1:]])
        lzab = np.array([float(mpmath.log(mpmath.zeta(a + k * b, K + 1))) for k in n])
        return cls(b, a, c, d, int(K), lzb, lzab)

    def _powers(self, z: np.ndarray, log_zeta: np.ndarray) -> np.ndarray:
        """(N+1, len(z)): (c/z)ⁿ ζ(·, K+1) for n = 0..N, formed in log space."""
        n = np.arange(len(log_zeta))[:, None]
        with np.errstate(invalid="ignore"):
            return np.exp(n * np.log(self.c / np.asarray(z, dtype=np.float64))[None, :] + log_zeta[:, None])

    def newton_sums(self, z):
        t = self._powers(z, self.log_zeta_b)
        n = np.arange(t.shape[0])[:, None]
        sign = np.where(n % 2 == 1, 1.0, -1.0)
        return np.sum((sign * t)[1:], axis=0), np.sum((sign * n * t)[1:], axis=0)

    def error_sums(self, z):
        t = self._powers(z, self.log_zeta_b)
        n = np.arange(t.shape[0])[:, None]
        g = np.sum(((-1.0) ** n * (n - 1) * t)[2:], axis=0)
        tb = self._powers(z, self.log_zeta_ab)
        bias = self.d * np.sum((-1.0) ** n * (n + 1) * tb, axis=0)
        return g, bias

    def ratio(self, z) -> np.ndarray:
        """η_{K+1}/z: the series' contraction per term."""
        return self.c * (self.K + 1.0) ** (-self.b) / np.asarray(z, dtype=np.float64)

    def trace(self) -> float:
        """Σ_{k>K} η_k = c ζ(b, K+1)."""
        return self.c * math.exp(self.log_zeta_b[1])

    def power(self) -> float:
        """Σ_{k>K} v_k² = d ζ(a, K+1)."""
        return self.d * math.exp(self.log_zeta_ab[0])


def check_infinite_decays(spectrum_decay: float, target_decay: float) -> None:
    if not (math.isfinite(spectrum_decay) and spectrum_decay > 1):
        raise InputError("spectrum_decay", f"an infinite spectrum needs b > 1 (finite trace), got {spectrum_decay!r}")
    if not (math.isfinite(target_decay) and target_decay > 1):
        raise InputError("target_decay", f"an infinite spectrum needs a > 1 (finite target variance), got {target_decay!r}")


def infinite_power_law_curve(spectrum_decay: float, target_decay: float, P, *, ridge: float = 0.0, noise: float = 0.0,
                             min_explicit_modes: int = 10_000) -> SpectralCurve:
    """E_g(P) for the infinite power law η_k = k^(−b)/ζ(b), v_k² = k^(−a)/ζ(a), k = 1, 2, ... (trace 1,
    target variance 1; b > 1, a > 1): the BCP equations summed over ALL modes.

    Modes k ≤ K are summed explicitly (the fused passes), the rest by `PowerLawTail`'s zeta series.
    K is chosen before solving from a lower bound on the root: h(z) ≥ #{k: η_k ≥ z}/2, so the root z*
    of p = λ/z + h(z) satisfies z* ≥ z_L = c (2p + 2)^(−b) (there h ≥ p + 1 > p); taking
    K + 1 ≥ (2p + 2) · 4^(1/b) makes η_{K+1}/z* ≤ 1/4 for every p (about 5p explicit modes at b = 1.5).
    The bound also brackets the ridgeless root (an infinite spectrum interpolates at any p: κ > 0).
    """
    import scipy.special

    check_infinite_decays(spectrum_decay, target_decay)
    eta_dummy = np.ones(1)
    _, _, P = _validate(eta_dummy, eta_dummy, P, ridge, noise)
    b, a = float(spectrum_decay), float(target_decay)
    c, d = 1.0 / float(scipy.special.zeta(b)), 1.0 / float(scipy.special.zeta(a))
    p_max = float(P.max()) if len(P) else 0.0
    K = max(int(min_explicit_modes), int(math.ceil((2 * p_max + 2) * _TAIL_RATIO ** (-1.0 / b))))
    if K > _MAX_EXPLICIT_MODES:
        raise InputError("P", f"sample sizes up to {p_max:g} need {K:,} explicit modes (limit {_MAX_EXPLICIT_MODES:,})")
    k = np.arange(1, K + 1, dtype=np.float64)
    eta = c * np.exp(-b * np.log(k))
    power = d * np.exp(-a * np.log(k))
    tail = PowerLawTail.make(b, a, c, d, K)

    kappa = np.empty_like(P)
    gamma = np.empty_like(P)
    err = np.empty_like(P)
    zero = P == 0
    kappa[zero], gamma[zero], err[zero] = ridge + 1.0, 0.0, 1.0  # κ = λ + Σ η; E_g = Σ v²
    pos = ~zero
    if np.any(pos):
        pa = P[pos]
        hi = np.log((ridge + 1.0) / pa) + 1e-12  # h(z) < Σ η / z = 1/z
        lo = np.log(c) - b * np.log(2 * pa + 2) - 1e-12
        if ridge > 0:
            lo = np.maximum(lo, np.log(ridge / pa) - 1e-12)
        u0 = _solve_z(_compress(eta), pa, ridge, 0.5 * (lo + hi), lo, hi, 1e-6, 200, tail=tail)
        u = _solve_z((eta, np.ones(K)), pa, ridge, u0, lo, hi, 1e-13, 100, tail=tail)
        z = np.exp(u)
        if np.any(tail.ratio(z) > _TAIL_RATIO * (1 + 1e-9)):  # the bound above guarantees it
            raise AssertionError("tail series outside its convergence margin")
        g, bias = _error_sums(eta, power, z)
        tg, tbias = tail.error_sums(z)
        gam = (g + tg) / pa
        kappa[pos], gamma[pos] = z * pa, gam
        err[pos] = (bias + tbias + noise * gam) / (1.0 - gam)
    return SpectralCurve(P, kappa, gamma, err)


def infinite_kappa_residual(spectrum_decay: float, P, kappa, ridge: float) -> np.ndarray:
    """|κ − λ − κ Σ_{k≥1} η_k/(pη_k + κ)| / κ for the infinite power law, the sum to ~1e-15 by brute
    force plus Euler–Maclaurin (an independent check of the zeta series): Σ_{k≤K} exactly
    (math.fsum), the rest as ∫_K^∞ f − f(K)/2 − f'(K)/12 with f(k) = η_k/(pη_k + κ) ≈ η_k/κ there."""
    import scipy.integrate
    import scipy.special

    b = float(spectrum_decay)
    c = 1.0 / float(scipy.special.zeta(b))
    out = []
    for p, kap in zip(np.atleast_1d(P), np.atleast_1d(kappa)):
        K = int(max(1e5, 50 * p))
        k = np.arange(1, K + 1, dtype=np.float64)
        eta = c * k ** (-b)
        head = math.fsum(eta / (p * eta + kap))

        def f(x):
            e = c * x ** (-b)
            return e / (p * e + kap)

        # in s = log x the integrand f(e^s) e^s decays like e^((1 - b) s): quad converges cleanly
        # (cut where it has fallen by e^-42 ≈ 1e-18)
        integral = scipy.integrate.quad(lambda s: f(math.exp(s)) * math.exp(s), math.log(K),
                                        math.log(K) + 42.0 / (b - 1.0), epsabs=0, epsrel=1e-13, limit=200)[0]
        h = 1e-3 * K
        fprime = (f(K + h) - f(K - h)) / (2 * h)
        s = head + integral - f(K) / 2 - fprime / 12
        out.append(abs(kap - ridge - kap * s) / kap)
    return np.array(out)


def truncated_power_law_task(spectrum_decay: float, target_decay: float, modes: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(η, v², T_η, T_v) of the infinite power law cut after ``modes`` explicit modes: η_k = k^(−b)/ζ(b)
    and v_k² = k^(−a)/ζ(a) for k ≤ M, and the tail's trace T_η = ζ(b, M+1)/ζ(b) and target power
    T_v = ζ(a, M+1)/ζ(a) (the numbers sim/kernel.py's truncated-infinite task uses)."""
    import scipy.special

    check_infinite_decays(spectrum_decay, target_decay)
    if int(modes) != modes or modes < 1:
        raise InputError("modes", f"must be a whole number >= 1, got {modes!r}")
    b, a = float(spectrum_decay), float(target_decay)
    zb, za = float(scipy.special.zeta(b)), float(scipy.special.zeta(a))
    k = np.arange(1, int(modes) + 1, dtype=np.float64)
    eta = np.exp(-b * np.log(k)) / zb
    power = np.exp(-a * np.log(k)) / za
    return eta, power, float(scipy.special.zeta(b, modes + 1)) / zb, float(scipy.special.zeta(a, modes + 1)) / za


def truncated_power_law_curve(spectrum_decay: float, target_decay: float, P, *, modes: int, ridge: float = 0.0,
                              noise: float = 0.0) -> SpectralCurve:
    """The theory of the SIMULATOR's truncated-infinite task (sim/kernel.py): M explicit modes, the tail's
    kernel replaced by its mean T_η·I (an extra ridge) and its target by independent noise of variance
    T_v that is also never learned: E_g = E_M(λ + T_η, σ² + T_v) + T_v.

    Against `infinite_power_law_curve` this is exact to first order in p η_{M+1}/κ: the full κ equation
    has κ Σ_{k>M} η_k/(pη_k + κ) = T_η − Σ_{k>M} pη_k²/(pη_k + κ), and the tail's error term
    Σ_{k>M} v_k² κ²/(pη_k + κ)² = T_v − O(pη_{M+1}/κ)·T_v. The relative difference of the two curves is
    therefore the approximation's error, to leading order (`truncation_error`)."""
    eta, power, t_eta, t_v = truncated_power_law_task(spectrum_decay, target_decay, modes)
    curve = learning_curve(eta, power, P, ridge=ridge + t_eta, noise=noise + t_v)
    curve.test_error = curve.test_error + t_v
    return curve


def truncation_error(spectrum_decay: float, target_decay: float, P, *, modes: int, ridge: float = 0.0,
                     noise: float = 0.0) -> np.ndarray:
    """Relative error E_g(truncated model)/E_g(infinite) − 1 at each P: what simulating ``modes``
    explicit modes plus the mean-field tail costs, according to the theory."""
    inf = infinite_power_law_curve(spectrum_decay, target_decay, P, ridge=ridge, noise=noise).test_error
    trunc = truncated_power_law_curve(spectrum_decay, target_decay, P, modes=modes, ridge=ridge, noise=noise).test_error
    return trunc / inf - 1.0


# --- Symbolic asymptotics ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ExponentDerivation:
    exponent: object  # sympy expression in a, b: E_g ∝ P^(−exponent)
    kappa_scaling: object  # κ as a function of p (ridgeless power law)
    steps: tuple[tuple[str, object], ...]


@functools.lru_cache(maxsize=1)
def derive_power_law_exponent() -> ExponentDerivation:
    """E_g ∝ p^(−min(a − 1, 2b)) for η_k ∝ k^(−b) (b > 1), v_k² ∝ k^(−a) (a > 1), λ → 0, σ = 0.

    Continuum derivation (sums as integrals, valid as p → ∞):
    1. κ: with λ = 0 the equation is 1 = Σ_k η_k/(p η_k + κ) ≈ ∫₀^∞ dk k^(−b)/(p k^(−b) + κ). The
       substitution k = (p/κ)^(1/b) s gives (p/κ)^(1/b)/p · I_b with I_b = ∫₀^∞ ds/(1 + s^b) = (π/b)/sin(π/b),
       so κ = I_b^b p^(1−b).
    2. Modes with p η_k > κ, i.e. k < k* = (p/κ)^(1/b) ∝ p, are learned; the rest are not.
    3. E_g ≈ Σ_{k<k*} v_k² κ²/(p η_k)² + Σ_{k>k*} v_k²  (1/(1−γ) tends to a constant):
       the tail is ∫_{k*}^∞ k^(−a) dk ∝ k*^(1−a); the head is (κ/p)² ∫₁^{k*} k^(2b−a) dk, and
       ∫₁^K k^c dk grows like K^max(c+1, 0).
    4. E_g ∝ p^max(tail power, head power); the exponent is minus that.
    """
    import sympy as sp

    a, b, p, kappa, s, I = sp.symbols("a b p kappa s I_b", positive=True)
    # Step 1: the ridgeless κ equation after the substitution k = (p/κ)^(1/b) s.
    kappa_eq = sp.Eq((p / kappa) ** (1 / b) / p * I, 1)
    kappa_sol = sp.solve(kappa_eq, kappa)[0]  # I_b^b p^(1 - b)
    I_b = sp.pi / b / sp.sin(sp.pi / b)  # ∫₀^∞ ds/(1 + s^b), b > 1

    def p_power(expr):
        """The exponent of p in a monomial expression (p d log f / dp)."""
        return sp.simplify(p * sp.diff(sp.log(expr), p))

    kappa_power = p_power(kappa_sol)  # 1 - b
    k_star = (p / kappa_sol) ** (1 / b)
    k_star_power = p_power(k_star)  # 1
    tail_power = sp.expand((1 - a) * k_star_power)
    c = 2 * b - a  # head integrand k^(2b - a)
    head_growth = sp.Max(c + 1, 0) * k_star_power
    prefactor = sp.expand(2 * kappa_power - 2)  # (κ/p)²
    head_power = sp.Max(*[sp.expand(prefactor + arg) for arg in head_growth.args]) if isinstance(head_growth, sp.Max) else prefactor + head_growth
    eg_power = sp.Max(tail_power, head_power)
    exponent = sp.Min(*[sp.expand(-arg) for arg in eg_power.args]) if isinstance(eg_power, sp.Max) else -eg_power
    steps = (
        ("kappa equation (continuum, lambda = 0)", kappa_eq),
        ("kappa", kappa_sol),
        ("I_b", I_b),
        ("learned modes k*", sp.simplify(k_star)),
        ("tail power of p", tail_power),
        ("head power of p", head_power),
        ("E_g power of p", eg_power),
    )
    return ExponentDerivation(exponent=exponent, kappa_scaling=kappa_sol.subs(I, I_b), steps=steps)


def power_law_exponent(spectrum_decay: float, target_decay: float) -> float:
    """min(a − 1, 2b), evaluated from the symbolic derivation."""
    import sympy as sp

    a, b = sp.symbols("a b", positive=True)
    return float(derive_power_law_exponent().exponent.subs({a: target_decay, b: spectrum_decay}))
