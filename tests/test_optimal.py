"""Compute-optimal allocation: the published figures, the symbolic derivation, and its invariants."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory.errors import InputError
from theory.laws import C, get_law
from theory.optimal import compute_optimal, derivation_values, derive
from theory.parse import parse_law

CHINCHILLA_C = 5.88e23  # Chinchilla's training compute, where REFERENCES.md §3 quotes tokens per parameter


# --- Figures (REFERENCES.md §2-§3) -------------------------------------------------------------------

def test_chinchilla_unrounded_exponent_and_prefactor():
    opt = compute_optimal(get_law("chinchilla"), None, CHINCHILLA_C)
    assert round(opt.a, 4) == 0.4565
    assert round(opt.G, 3) == 1.300
    assert opt.a + opt.b == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("name, tokens_per_param", [("chinchilla", 59.0), ("chinchilla-rounded", 92.8), ("chinchilla-epoch", 18.4)])
def test_tokens_per_parameter_at_chinchilla_compute(name, tokens_per_param):
    opt = compute_optimal(get_law(name), None, CHINCHILLA_C)
    assert round(opt.tokens_per_param, 1) == tokens_per_param


def test_epoch_refit_exponent():
    assert round(compute_optimal(get_law("chinchilla-epoch"), None, CHINCHILLA_C).a, 4) == 0.5126


def test_muennighoff_readme_losses_and_allocation():
    """The datablations README 'Parametric Fit': two losses printed to 16 digits, and its grid search's
    optimal allocation for 8.67B parameters x 178B tokens with 25B unique tokens: 227B tokens,
    9.1 epochs, 6.8B parameters."""
    law = get_law("muennighoff2023")
    assert law.evaluate({"N": 6.34e9, "D": 242e9, "U": 25e9}) == pytest.approx(2.2256440889984477, rel=1e-14)
    assert law.evaluate({"N": 8.67e9, "D": 178e9, "U": 25e9}) == pytest.approx(2.2269634075087867, rel=1e-14)
    opt = compute_optimal(law, None, 6 * 8.67e9 * 178e9, U=25e9)
    assert opt.D_opt == pytest.approx(227e9, rel=0.005)
    assert opt.D_opt / 25e9 == pytest.approx(9.1, abs=0.05)
    assert opt.N_opt == pytest.approx(6.8e9, rel=0.01)
    assert not opt.closed_form and opt.a is None and opt.G is None


def test_muennighoff_unique_pool_larger_than_data_counts_only_data_seen():
    """U_D = min(U, D): a pool of unique tokens larger than the tokens trained on is fresh data."""
    law = get_law("muennighoff2023")
    fresh = law.evaluate({"N": 1e8, "D": 1e10, "U": 1e10})
    assert law.evaluate({"N": 1e8, "D": 1e10, "U": 1e13}) == pytest.approx(fresh, rel=1e-14)


# --- The derivation is symbolic ---------------------------------------------------------------------

def test_chinchilla_derivation_matches_the_published_closed_form():
    law = get_law("chinchilla")
    E, A, B, alpha, beta = law.params
    d = derive(law)
    assert d.closed_form and d.power_law
    assert sp.simplify(d.a - beta / (alpha + beta)) == 0
    assert sp.simplify(d.b - alpha / (alpha + beta)) == 0
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    assert sp.simplify(sp.expand_power_base(d.G / G, force=True)) == 1
    assert d.floor == E
    # the frontier's loss exponent is alpha*beta/(alpha+beta), and C_opt(L) inverts L_opt(C)
    assert sp.simplify(d.loss_exponent - alpha * beta / (alpha + beta)) == 0
    values = {s: v for s, v in zip(law.params, law.default_param_set.as_dict().values())}
    L_at = d.L_opt.subs(values).subs(C, 1e22)
    assert float(d.compute_for_loss.subs(values).subs(sp.Symbol("L", positive=True), L_at)) == pytest.approx(1e22, rel=1e-10)


def test_kaplan_has_a_closed_form_power_law_optimum():
    """Kaplan's eq. 1.5 under C = 6ND: sympy finds N_opt ∝ C^(alpha_D/(alpha_N+alpha_D)) (0.575 with the
    joint fit; Kaplan's 0.73 came from a different, early-stopped analysis), verified numerically."""
    law = get_law("kaplan2020")
    aN, aD, Nc, Dc = law.params
    d = derive(law)
    assert d.closed_form and sp.simplify(d.a - aD / (aN + aD)) == 0
    assert d.floor == 0
    for ps in law.param_sets:
        exact = compute_optimal(law, ps.as_dict(), [1e18, 1e24, 1e30])
        numeric = compute_optimal(law, ps.as_dict(), [1e18, 1e24, 1e30], force_numeric=True)
        np.testing.assert_allclose(numeric.N_opt, exact.N_opt, rtol=1e-6)
        np.testing.assert_allclose(numeric.loss, exact.loss, rtol=1e-13)


def test_muennighoff_has_no_closed_form_and_says_why():
    d = derive(get_law("muennighoff2023"))
    assert not d.closed_form and "piecewise" in d.note
    assert d.N_opt is None and "No closed form" in d.text()


def test_unsolvable_user_law_goes_numeric_and_still_optimises():
    law = parse_law("E + A/N**alpha + B/D**beta + K*exp(-N/D)")
    d = derive(law)
    values = dict(E=1.7, A=400.0, B=400.0, alpha=0.34, beta=0.28, K=0.1)
    opt = compute_optimal(law, values, 1e21)
    assert not opt.closed_form
    N = opt.N_opt * np.exp(np.linspace(-0.5, 0.5, 201))
    others = law.evaluate({"N": N, "D": 1e21 / (6 * N)}, values)
    assert opt.loss <= others.min() + 1e-14
    assert d.note


def test_renderings():
    d = derive(get_law("chinchilla"))
    text = d.text()
    assert "N_opt(C)" in text and "α" in text
    tex = d.latex()
    assert tex["a"] == r"\frac{\beta}{\alpha + \beta}"
    assert set(d.strings()) == set(tex)
    values = derivation_values(get_law("chinchilla"), None, CHINCHILLA_C)
    assert values["a"] == pytest.approx(0.4565259, rel=1e-6)
    assert values["at_compute"]["tokens_per_param"] == pytest.approx(59.04, abs=0.01)
    assert "C**0.45653" in values["with_values"]["N_opt"]


# --- Invariants over random valid parameters -----------------------------------------------------------

chinchilla_params = st.fixed_dictionaries({
    "E": st.floats(0.5, 3.0), "A": st.floats(10.0, 5000.0), "B": st.floats(10.0, 5000.0),
    "alpha": st.floats(0.1, 0.9), "beta": st.floats(0.1, 0.9),
})
log10_compute = st.floats(12.0, 32.0)


@given(p=chinchilla_params, logN=st.floats(3, 14), logD=st.floats(3, 14), k=st.floats(1.01, 100.0))
def test_loss_decreases_in_N_and_D_and_tends_to_E(p, logN, logD, k):
    law = get_law("chinchilla")
    N, D = 10.0**logN, 10.0**logD
    base = law.evaluate({"N": N, "D": D}, p)
    assert law.evaluate({"N": k * N, "D": D}, p) < base
    assert law.evaluate({"N": N, "D": k * D}, p) < base
    assert base > p["E"]
    far = law.evaluate({"N": 1e250, "D": 1e250}, p)
    assert far == pytest.approx(p["E"], rel=1e-9)


@given(p=chinchilla_params, lc=log10_compute, shift=st.floats(-3.0, 3.0).filter(lambda s: abs(s) > 1e-6))
def test_optimal_loss_beats_every_other_split_and_spends_the_budget(p, lc, shift):
    law = get_law("chinchilla")
    Cv = 10.0**lc
    opt = compute_optimal(law, p, Cv)
    assert 6 * opt.N_opt * opt.D_opt == pytest.approx(Cv, rel=1e-12)
    assert opt.tokens_per_param == pytest.approx(opt.D_opt / opt.N_opt, rel=1e-12)
    N_other = opt.N_opt * math.exp(shift)
    other = law.evaluate({"N": N_other, "D": Cv / (6 * N_other)}, p)
    assert opt.loss <= other + 1e-15 * other


@settings(max_examples=25)
@given(p=chinchilla_params, lc=log10_compute)
def test_symbolic_and_numeric_optima_agree(p, lc):
    law = get_law("chinchilla")
    Cv = np.array([10.0**lc, 10.0 ** (lc + 3)])
    exact = compute_optimal(law, p, Cv)
    # the numeric optimum searches physical allocations (N and D of at least about one); extreme
    # draws (A = 10, B = 2000, C = 1e12) put the formula's optimum below one parameter
    assume(np.all(exact.N_opt >= 1) and np.all(exact.D_opt >= 1))
    numeric = compute_optimal(law, p, Cv, force_numeric=True)
    assert exact.closed_form and not numeric.closed_form
    np.testing.assert_allclose(numeric.N_opt, exact.N_opt, rtol=2e-6)
    np.testing.assert_allclose(numeric.loss, exact.loss, rtol=1e-13)
    # and the closed form is the published one, G (C/6)^a
    a = p["beta"] / (p["alpha"] + p["beta"])
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    np.testing.assert_allclose(exact.N_opt, G * (Cv / 6) ** a, rtol=1e-10)


@settings(max_examples=15)
@given(lc=st.floats(19.0, 26.0), logU=st.floats(9.0, 13.0), shift=st.floats(-2.0, 2.0).filter(lambda s: abs(s) > 1e-3))
def test_muennighoff_numeric_optimum_beats_other_splits(lc, logU, shift):
    law = get_law("muennighoff2023")
    Cv, Uv = 10.0**lc, 10.0**logU
    opt = compute_optimal(law, None, Cv, U=Uv)
    assert 6 * opt.N_opt * opt.D_opt == pytest.approx(Cv, rel=1e-12)
    N_other = opt.N_opt * math.exp(shift)
    other = law.evaluate({"N": N_other, "D": Cv / (6 * N_other), "U": Uv})
    assert opt.loss <= other + 1e-14


def test_muennighoff_with_unlimited_data_is_chinchilla_with_its_parameters():
    law = get_law("muennighoff2023")
    p = law.default_param_set.as_dict()
    chinchilla_part = {k: p[k] for k in ("E", "A", "B", "alpha", "beta")}
    Cv = np.geomspace(1e18, 1e26, 5)
    unlimited = compute_optimal(law, None, Cv)
    closed = compute_optimal(get_law("chinchilla"), chinchilla_part, Cv)
    np.testing.assert_allclose(unlimited.loss, closed.loss, rtol=1e-12)
    np.testing.assert_allclose(unlimited.N_opt, closed.N_opt, rtol=1e-5)


def test_extreme_compute_stays_finite_and_on_the_power_law():
    law = get_law("chinchilla")
    opt = compute_optimal(law, None, np.array([1e30, 1e100, 1e300]))
    assert np.all(np.isfinite(opt.N_opt)) and np.all(np.isfinite(opt.loss))
    np.testing.assert_allclose(opt.N_opt, opt.G * (np.array([1e30, 1e100, 1e300]) / 6) ** opt.a, rtol=1e-9)
    assert np.all(opt.reducible_loss > 0) and np.all(np.diff(opt.reducible_loss) < 0)
    numeric = compute_optimal(law, None, np.array([1e30, 1e100, 1e300]), force_numeric=True)
    np.testing.assert_allclose(numeric.N_opt, opt.N_opt, rtol=1e-5)


def test_shapes_follow_compute():
    law = get_law("chinchilla")
    assert isinstance(compute_optimal(law, None, 1e21).N_opt, float)
    grid = compute_optimal(law, None, np.full((2, 3), 1e21))
    assert grid.N_opt.shape == (2, 3) and grid.loss.shape == (2, 3)


@pytest.mark.parametrize("bad", [0.0, -1e21, math.nan, math.inf, 6.0, "many"])
def test_bad_compute_is_refused(bad):
    with pytest.raises(InputError) as info:
        compute_optimal(get_law("chinchilla"), None, bad)
    assert info.value.field == "C"


def test_refusals():
    with pytest.raises(InputError, match="needs a law in N and D"):
        compute_optimal(get_law("power-law"), {"E": 1.0, "A": 1.0, "alpha": 0.5}, 1e21)
    with pytest.raises(InputError) as info:
        compute_optimal(get_law("chinchilla"), None, 1e21, U=1e10)
    assert info.value.field == "U"
    with pytest.raises(InputError) as info:
        compute_optimal(get_law("chinchilla"), {"nope": 1.0}, 1e21)
    assert info.value.field == "param"
    with pytest.raises(InputError) as info:
        compute_optimal(get_law("muennighoff2023"), None, 1e21, U=-5)
    assert info.value.field == "U"
