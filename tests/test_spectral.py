"""The spectral learning-curve theory (theory/spectral.py): the κ equation, E_g's properties, asymptotics."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import spectral
from theory.errors import InputError

decays = st.floats(min_value=1.05, max_value=4.0)
ridges = st.one_of(st.just(0.0), st.floats(min_value=1e-14, max_value=1.0))
sizes = st.lists(st.floats(min_value=1.0, max_value=5e3), min_size=1, max_size=6)


def _task(b, a, modes=2000):
    return spectral.power_law_spectrum(b, modes), spectral.power_law_target(a, modes)


@given(b=decays, a=st.floats(min_value=0.5, max_value=6.0), ridge=ridges, P=sizes)
def test_kappa_satisfies_its_equation(b, a, ridge, P):
    eta, power = _task(b, a)
    P = [p for p in P if ridge > 0 or p < len(eta)]  # ridgeless: κ > 0 only below interpolation
    if not P:
        return
    curve = spectral.learning_curve(eta, power, P, ridge=ridge)
    assert np.all(curve.kappa > 0)
    assert np.all(spectral.kappa_residual(eta, P, curve.kappa, ridge) <= 1e-10)


@given(b=decays, extra=st.floats(min_value=0.0, max_value=4.0), ridge=ridges)
def test_error_falls_with_P_without_noise(b, extra, ridge):
    # For targets at least as smooth as the kernel's prior (a >= b). A rougher target's power in
    # poorly represented modes acts as noise, and the ridgeless curve can rise (next test).
    eta, power = _task(b, b + extra)
    P = np.geomspace(1, 1500, 25)
    err = spectral.test_error(eta, power, P, ridge=ridge, noise=0.0)
    assert np.all(np.diff(err) <= 1e-12 * err[:-1])


def test_a_rough_target_acts_as_noise():
    # b = 2, a = 1, λ = 0: the interpolant of a target with most power in weak modes does worse than
    # predicting 0 at first (E_g > Σ v² = 1), the non-monotonic curve of Canatar et al. 2021.
    eta, power = _task(2.0, 1.0)
    err = spectral.test_error(eta, power, [0, 1, 10, 1000], ridge=0.0)
    assert err[1] > err[0] == pytest.approx(1.0) and err[3] < err[0]


@given(b=decays, a=st.floats(min_value=-1.0, max_value=6.0), ridge=ridges, noise=st.floats(min_value=0, max_value=2))
def test_error_at_zero_samples_is_the_target_variance(b, a, ridge, noise):
    rng = np.random.default_rng(0)
    eta, _ = _task(b, a, modes=500)
    power = rng.random(500) * np.arange(1, 501.0) ** -a
    curve = spectral.learning_curve(eta, power, [0, 10], ridge=ridge, noise=noise)
    assert curve.test_error[0] == pytest.approx(power.sum(), rel=1e-12)
    assert curve.kappa[0] == pytest.approx(ridge + eta.sum(), rel=1e-12)
    assert curve.gamma[0] == 0.0


@given(b=decays, a=st.floats(min_value=0.5, max_value=6.0), ridge=st.floats(min_value=1e-8, max_value=1.0),
       noise=st.floats(min_value=0, max_value=1), scale=st.floats(min_value=1e-6, max_value=1e6))
def test_error_is_invariant_to_scaling_spectrum_and_ridge_together(b, a, ridge, noise, scale):
    eta, power = _task(b, a)
    P = [1, 10, 100, 1000, 3000]
    base = spectral.learning_curve(eta, power, P, ridge=ridge, noise=noise)
    scaled = spectral.learning_curve(scale * eta, power, P, ridge=scale * ridge, noise=noise)
    np.testing.assert_allclose(scaled.test_error, base.test_error, rtol=1e-9)
    np.testing.assert_allclose(scaled.kappa, scale * base.kappa, rtol=1e-9)


def test_mode_errors_sum_to_the_test_error():
    eta, power = _task(1.5, 2.0, modes=3000)
    for ridge, P in ((1e-3, [0, 5, 50, 500, 5000]), (0.0, [5, 50, 500, 2999, 3000, 4000])):
        curve = spectral.learning_curve(eta, power, P, ridge=ridge, noise=0.2, mode_errors=True)
        finite = np.isfinite(curve.test_error)
        np.testing.assert_allclose(curve.mode_errors[finite].sum(axis=1), curve.test_error[finite], rtol=1e-10)


def test_ridgeless_beyond_interpolation_is_the_closed_form():
    # λ = 0, p >= M: κ = 0, γ = M/p, E_g = σ² (M/p)/(1 − M/p); at p = M the variance diverges.
    eta, power = _task(2.0, 2.0, modes=100)
    curve = spectral.learning_curve(eta, power, [100, 200, 400], ridge=0.0, noise=0.5)
    assert math.isinf(curve.test_error[0])
    np.testing.assert_allclose(curve.test_error[1:], [0.5 * 0.5 / 0.5, 0.5 * 0.25 / 0.75], rtol=1e-12)
    # and just below interpolation the positive root takes over continuously: the error is large
    below = spectral.test_error(eta, power, [99.0, 99.9], ridge=0.0, noise=0.5)
    assert below[1] > below[0] > 10


def test_tiny_ridges_converge_to_ridgeless():
    eta, power = _task(1.5, 2.0, modes=5000)
    P = [10, 100, 1000]
    ridgeless = spectral.test_error(eta, power, P, ridge=0.0)
    for ridge in (1e-12, 1e-30, 1e-300):
        np.testing.assert_allclose(spectral.test_error(eta, power, P, ridge=ridge), ridgeless, rtol=1e-8)


def test_a_million_modes_at_a_hundred_sizes():
    # The workload of the speed target (benchmarks/bench_kernel.py times it): accurate, not only fast.
    eta, power = spectral.power_law_spectrum(1.5, 10**6), spectral.power_law_target(2.0, 10**6)
    P = np.geomspace(1, 1e5, 100)
    curve = spectral.learning_curve(eta, power, P, ridge=1e-6)
    idx = np.arange(0, 100, 9)
    assert np.all(spectral.kappa_residual(eta, P[idx], curve.kappa[idx], 1e-6) <= 1e-10)
    assert np.all(np.diff(curve.test_error) < 0)


def test_symbolic_exponent_is_min_a_minus_1_2b():
    a, b = sp.symbols("a b", positive=True)
    derivation = spectral.derive_power_law_exponent()
    assert sp.simplify(derivation.exponent - sp.Min(a - 1, 2 * b)) == 0
    p = sp.Symbol("p", positive=True)
    assert sp.simplify(sp.diff(sp.log(derivation.kappa_scaling), p) * p - (1 - b)) == 0  # κ ∝ p^(1−b)
    assert spectral.power_law_exponent(1.5, 1.5) == pytest.approx(0.5)  # prior target: b − 1
    assert spectral.power_law_exponent(1.5, 8.0) == pytest.approx(3.0)  # smooth target: 2b


@pytest.mark.parametrize("b,a", [(1.5, 2.0), (2.0, 1.5), (1.5, 1.5), (1.2, 5.0)])
def test_numeric_slope_matches_the_symbolic_exponent(b, a):
    eta, power = spectral.power_law_spectrum(b, 10**6), spectral.power_law_target(a, 10**6)
    slope = spectral.local_exponent(eta, power, [1000.0], ridge=0.0)[0]
    assert slope == pytest.approx(spectral.power_law_exponent(b, a), abs=0.1)


def test_the_kernel_theory_on_an_empirical_spectrum():
    # A population whose kernel is exactly K = Φ diag(η) Φᵀ with orthonormal columns Φ/sqrt(N):
    # the eigendecomposition of K/N must return η and the target's coefficients.
    rng = np.random.default_rng(0)
    n = 300
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    phi = Q * math.sqrt(n)  # φ_ρ(x_i), orthonormal under the uniform measure
    eta = np.sort(rng.random(n))[::-1] ** 3
    v = rng.standard_normal(n) * eta
    K = (phi * eta) @ phi.T
    y = phi @ v
    eta_hat, power_hat = spectral.spectrum_from_kernel(K, y)
    np.testing.assert_allclose(eta_hat, eta, atol=1e-12)
    np.testing.assert_allclose(power_hat, v**2, atol=1e-10)
    assert power_hat.sum() == pytest.approx(np.mean(y**2))


def test_power_law_normalisation_matches_the_simulator():
    from sim.kernel import power_law_task

    eta, v = power_law_task(1.7, 2.3, 5000)
    np.testing.assert_allclose(spectral.power_law_spectrum(1.7, 5000), eta, rtol=1e-14)
    np.testing.assert_allclose(spectral.power_law_target(2.3, 5000), v**2, rtol=1e-14)
    assert eta.sum() == pytest.approx(1.0) and (v**2).sum() == pytest.approx(1.0)


def test_bad_input_names_the_field():
    eta, power = _task(1.5, 2.0, 10)
    with pytest.raises(InputError) as e:
        spectral.test_error(eta, power[:5], [10])
    assert e.value.field == "target"
    with pytest.raises(InputError) as e:
        spectral.test_error(eta, power, [10], ridge=-1.0)
    assert e.value.field == "ridge"
    with pytest.raises(InputError) as e:
        spectral.test_error(-eta, power, [10])
    assert e.value.field == "spectrum"


# --- Infinite power-law spectra (tail sums by Hurwitz zeta series) -------------------------------------

def test_tail_series_equal_brute_force_sums():
    # brute force: k ≤ N = 2·10^6 exactly, beyond that η ≪ z so each sum's rest is ≈ Σ_{k>N} η/z or
    # Σ_{k>N} v² ≈ ∫_{N+1/2}^∞ (midpoint rule; relative error ~1/N² of a rest already ~1e-7 of the sum)
    b, a, K, N = 3.0, 3.5, 1000, 2_000_000
    c, d = 1 / 1.2020569031595942, 1 / 1.1267338673170566  # 1/ζ(3), 1/ζ(3.5)
    tail = spectral.PowerLawTail.make(b, a, c, d, K)
    k = np.arange(K + 1, N + 1, dtype=np.float64)
    eta, power = c * k**-b, d * k**-a
    rest_eta = c * (N + 0.5) ** (1 - b) / (b - 1)
    rest_power = d * (N + 0.5) ** (1 - a) / (a - 1)
    for rho in (0.25, 0.05):
        z = c * (K + 1.0) ** -b / rho
        h, dh = tail.newton_sums(np.array([z]))
        g, bias = tail.error_sums(np.array([z]))
        brute = [math.fsum(eta / (eta + z)) + rest_eta / z, math.fsum(eta * z / (eta + z) ** 2) + rest_eta / z,
                 math.fsum(eta**2 / (eta + z) ** 2), math.fsum(power * z * z / (eta + z) ** 2) + rest_power]
        np.testing.assert_allclose([h[0], dh[0], g[0], bias[0]], brute, rtol=1e-10)
    assert tail.trace() == pytest.approx(math.fsum(eta) + rest_eta, rel=1e-12)
    assert tail.power() == pytest.approx(math.fsum(power) + rest_power, rel=1e-12)


@pytest.mark.parametrize("b,a,ridge,noise", [(1.5, 2.0, 0.0, 0.0), (1.2, 3.0, 1e-5, 0.1), (2.5, 1.5, 1e-8, 0.0)])
def test_infinite_spectrum_kappa_satisfies_its_equation(b, a, ridge, noise):
    # the check sums all modes independently: exact head plus Euler–Maclaurin for the rest
    P = np.array([1.0, 37.0, 1e3, 4e4])
    curve = spectral.infinite_power_law_curve(b, a, P, ridge=ridge, noise=noise)
    assert np.all(spectral.infinite_kappa_residual(b, P, curve.kappa, ridge) < 1e-10)
    assert np.all(curve.gamma < 1) and (noise > 0 or np.all(np.diff(curve.test_error) < 0))


def test_infinite_spectrum_at_zero_samples_and_against_a_long_explicit_spectrum():
    curve = spectral.power_law_curve(2.5, 3.0, [0, 10, 300], spectrum="infinite", ridge=1e-3)
    assert curve.test_error[0] == 1.0 and curve.kappa[0] == pytest.approx(1.001)
    # 10^6 explicit modes of a steep spectrum leave out a trace of ~5e-10 against κ ≳ 1e-3: the same
    # curve to a few 1e-7
    k = np.arange(1, 1_000_001, dtype=np.float64)
    eta, power = k**-2.5 / 1.341487257250917, k**-3.0 / 1.2020569031595942  # ζ(2.5), ζ(3)
    explicit = spectral.learning_curve(eta, power, [10, 300], ridge=1e-3)
    np.testing.assert_allclose(curve.test_error[1:], explicit.test_error, rtol=2e-6)
    assert abs(curve.test_error[2] / explicit.test_error[1] - 1) > 1e-8  # and the tail is not nothing


@pytest.mark.parametrize("b,a", [(1.5, 2.0), (2.0, 2.5), (1.2, 3.0)])
def test_infinite_spectrum_reaches_the_symbolic_exponent(b, a):
    # the derivation's setting exactly: all modes, λ → 0, σ = 0; the local slope at P = 10^5 is within
    # 1% of min(a − 1, 2b) (measured: 1e-5, 1e-5 and 4e-3 off)
    P = np.array([1e5 / 1.01, 1e5 * 1.01])
    err = spectral.infinite_power_law_curve(b, a, P).test_error
    slope = -(math.log(err[1]) - math.log(err[0])) / (2 * math.log(1.01))
    assert slope == pytest.approx(spectral.power_law_exponent(b, a), rel=0.01)


def test_truncation_error_vanishes_as_explicit_modes_grow():
    errs = [abs(spectral.truncation_error(1.5, 2.0, [256], modes=m, ridge=1e-3)[0]) for m in (64, 256, 1024, 8192)]
    assert errs[0] > 0.5 and all(x > y for x, y in zip(errs, errs[1:])) and errs[-1] < 1e-4


@pytest.mark.parametrize("b,a,field", [(1.0, 2.0, "spectrum_decay"), (1.5, 1.0, "target_decay"), (0.5, 2.0, "spectrum_decay")])
def test_infinite_spectrum_needs_finite_trace_and_variance(b, a, field):
    with pytest.raises(InputError) as e:
        spectral.infinite_power_law_curve(b, a, [10])
    assert e.value.field == field
