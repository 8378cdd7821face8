"""Tricks and effective-compute multipliers: exact cases, a brute-force check, classes, crossings."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.errors import InputError
from theory.laws import get_law, law_from_spec
from theory.tricks import (
    MUENNIGHOFF_R_D, MUENNIGHOFF_R_N, TRICK_M, Trick, apply_trick, data_multiplier_closed_form, multiplier,
    multiplier_analysis, parse_trick,
)

chinchilla_params = st.fixed_dictionaries({
    "E": st.floats(0.5, 3.0), "A": st.floats(10.0, 5000.0), "B": st.floats(10.0, 5000.0),
    "alpha": st.floats(0.1, 0.9), "beta": st.floats(0.1, 0.9),
})
log10_compute = st.floats(12.0, 32.0)
factor = st.floats(1e-3, 1e4)
REPO = Path(__file__).resolve().parents[1]


# --- Parsing -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, kind, value",
    [("compute:10", "compute", 10.0), ("params:2.5", "params", 2.5), ("data:4", "data", 4.0),
     ("alpha:+0.05", "alpha", 0.05), ("beta:-0.01", "beta", -0.01), ("floor:-0.1", "floor", -0.1),
     ("unique-data:1e12", "unique-data", 1e12), (" DATA : 4 ", "data", 4.0), ("none", "none", 0.0)],
)
def test_parse_trick(text, kind, value):
    trick = parse_trick(text)
    assert (trick.kind, trick.value) == (kind, value)


@pytest.mark.parametrize(
    "text", ["", "   ", "data", "data:", "data:x", "data:-2", "data:0", "compute:inf", "floor:nan", "alpha:0.1",
             "speed:2", "__import__('os'):1", "data:4:5", "x" * 100],
)
def test_bad_trick_text_is_refused(text):
    with pytest.raises(InputError) as info:
        parse_trick(text)
    assert info.value.field == "trick" and "\n" not in info.value.problem


# --- Exact cases ---------------------------------------------------------------------------------------

@settings(max_examples=25)
@given(p=chinchilla_params, lc=log10_compute, m=factor)
def test_compute_trick_multiplier_is_m(p, lc, m):
    assert multiplier(get_law("chinchilla"), p, Trick("compute", m, f"compute:{m}"), 10.0**lc) == pytest.approx(m, rel=1e-12)


@settings(max_examples=25)
@given(p=chinchilla_params, lc=log10_compute, m=factor)
def test_data_and_params_tricks_are_worth_exactly_m_under_chinchilla(p, lc, m):
    """With C = 6ND, effective data x m at C FLOPs is the baseline at mC FLOPs: M = m, constant in C."""
    law = get_law("chinchilla")
    for kind in ("data", "params"):
        assert multiplier(law, p, Trick(kind, m, f"{kind}:{m}"), 10.0**lc) == pytest.approx(m, rel=1e-11)


def test_data_trick_closed_form_is_m():
    """The closed form, derived by sympy from the two frontiers: M = (K/K_T)^(1/gamma) = m."""
    M = data_multiplier_closed_form(get_law("chinchilla"))
    m = sp.Symbol(TRICK_M, positive=True)
    assert sp.simplify(M - m) == 0
    assert not M.has(sp.Symbol("C", positive=True))


IDENTITY_TRICKS = ["none", "compute:1", "params:1", "data:1", "alpha:+0", "beta:-0", "floor:-0"]


@pytest.mark.parametrize(
    "law_name, text",
    [(law, t) for law in ("chinchilla", "kaplan2020", "muennighoff2023") for t in IDENTITY_TRICKS
     if not (law == "kaplan2020" and t.startswith("floor"))],  # Kaplan has no floor (refusal tested below)
)
def test_identity_tricks_give_one(law_name, text):
    law = get_law(law_name)
    np.testing.assert_allclose(multiplier(law, None, text, np.array([1e15, 1e21, 1e27])), 1.0, rtol=1e-9)


@pytest.mark.parametrize("law_name", ["kaplan2020", "muennighoff2023"])
def test_data_trick_is_m_for_other_laws_too(law_name):
    Cs = np.array([1e16, 1e21, 1e26])
    np.testing.assert_allclose(multiplier(get_law(law_name), None, "data:7", Cs), 7.0, rtol=1e-9)
    np.testing.assert_allclose(multiplier(get_law(law_name), None, "compute:7", Cs), 7.0, rtol=1e-9)


def test_multiplier_is_finite_and_exact_at_extreme_compute():
    Cs = np.array([1e12, 1e30, 1e100, 1e300])
    np.testing.assert_allclose(multiplier(get_law("chinchilla"), None, "data:4", Cs), 4.0, rtol=1e-10)
    np.testing.assert_allclose(multiplier(get_law("kaplan2020"), None, "params:4", Cs), 4.0, rtol=1e-10)
    growing = multiplier(get_law("chinchilla"), None, "alpha:+0.05", Cs)
    assert np.all(np.isfinite(growing)) and np.all(np.diff(growing) > 0)
    np.testing.assert_allclose(multiplier(get_law("muennighoff2023"), None, "compute:2", np.array([1e30, 1e60])), 2.0, rtol=1e-9)


# --- An independent brute-force check ----------------------------------------------------------------

def _brute_frontier(E, A, B, alpha, beta, C):
    """min over N of E + A/N^alpha + B/D^beta with D = C/(6N), on a dense grid in log N (plain numpy)."""
    logN = np.linspace(0.0, math.log(C / 6), 100_001)
    N = np.exp(logN)
    return (E + A * N**-alpha + B * (C / (6 * N)) ** -beta).min()


@pytest.mark.parametrize("trick, change", [("alpha:+0.03", {"alpha": 0.03}), ("floor:-0.02", {"E": -0.02}), ("beta:-0.02", {"beta": -0.02})])
def test_multiplier_agrees_with_brute_force(trick, change):
    p = get_law("chinchilla-rounded").default_param_set.as_dict()
    q = {k: v + change.get(k, 0.0) for k, v in p.items()}
    Cv = 1e22
    loss_trick = _brute_frontier(**q, C=Cv)
    lo, hi = math.log(Cv) - 10, math.log(Cv) + 10  # bisection for the baseline compute at that loss
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _brute_frontier(**p, C=math.exp(mid)) > loss_trick else (lo, mid)
    expected = math.exp((lo + hi) / 2) / Cv
    assert multiplier(get_law("chinchilla-rounded"), None, trick, Cv) == pytest.approx(expected, rel=1e-4)


# --- Classes and crossings ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "law_name, trick, cls",
    [("chinchilla", "compute:3", "constant"), ("chinchilla", "data:4", "constant"),
     ("chinchilla", "alpha:+0.02", "growing"), ("chinchilla", "beta:-0.02", "shrinking"),
     ("chinchilla", "floor:-0.05", "floor-changing"), ("chinchilla", "unique-data:1e12", "shrinking"),
     ("kaplan2020", "beta:+0.01", "growing"), ("muennighoff2023", "unique-data:1e12", "shrinking"),
     ("muennighoff2023", "params:3", "constant")],
)
def test_multiplier_classes(law_name, trick, cls):
    analysis = multiplier_analysis(get_law(law_name), None, trick, (1e18, 1e26), points=5)
    assert analysis["multiplier_class"] == cls
    assert len(analysis["multiplier_curve"]["compute"]) == 5


def test_floor_trick_diverges_and_crosses_10x_then_100x():
    law = get_law("chinchilla")
    analysis = multiplier_analysis(law, None, "floor:-0.05")
    c10, c100 = analysis["crosses_10x_at"], analysis["crosses_100x_at"]
    assert analysis["floor_change"] == pytest.approx(-0.05)
    assert 1e10 < c10 < c100 < 1e40
    assert multiplier(law, None, "floor:-0.05", c10) == pytest.approx(10.0, rel=1e-6)
    assert multiplier(law, None, "floor:-0.05", c100) == pytest.approx(100.0, rel=1e-6)
    # beyond the compute where the trick's loss falls below the baseline's floor, no baseline compute suffices
    E = law.default_param_set.as_dict()["E"]
    from theory.optimal import compute_optimal

    big = 1e35
    assert compute_optimal(law, None, big).reducible_loss < 0.05 and multiplier(law, None, "floor:-0.05", big) == math.inf
    assert E > 0


def test_constant_tricks_cross_at_the_range_start_or_never():
    law = get_law("chinchilla")
    a = multiplier_analysis(law, None, "compute:20", points=3)
    assert a["crosses_10x_at"] == pytest.approx(1e10) and a["crosses_100x_at"] is None
    growing = multiplier_analysis(law, None, "alpha:+0.05", points=3)
    assert growing["crosses_10x_at"] < growing["crosses_100x_at"]
    assert multiplier(law, None, "alpha:+0.05", growing["crosses_100x_at"]) == pytest.approx(100.0, rel=1e-6)


# --- Unique data (Muennighoff) ------------------------------------------------------------------------

@settings(max_examples=20)
@given(logN=st.floats(6, 12), logD=st.floats(8, 13), logU=st.floats(7, 13))
def test_unique_data_transform_of_chinchilla_form_is_muennighoffs_law(logN, logD, logU):
    muennighoff = get_law("muennighoff2023")
    p = muennighoff.default_param_set.as_dict()
    chinchilla_part = {k: p[k] for k in ("E", "A", "B", "alpha", "beta")}
    arm = apply_trick(get_law("chinchilla"), chinchilla_part, parse_trick("unique-data:1e10"))
    assert arm.values["R_D"] == MUENNIGHOFF_R_D == p["R_D"] and arm.values["R_N"] == MUENNIGHOFF_R_N == p["R_N"]
    inputs = {"N": 10.0**logN, "D": 10.0**logD, "U": 10.0**logU}
    assert arm.law.evaluate(inputs, arm.values) == pytest.approx(muennighoff.evaluate(inputs), rel=1e-12)


def test_unique_data_costs_nothing_until_the_data_runs_out():
    law = get_law("chinchilla")
    M = multiplier(law, None, "unique-data:1e13", np.array([1e20, 1e22, 1e26, 1e28]))
    # D_opt(1e22) ~ 2.5e11 << 1e13 unique tokens; by 1e28 FLOPs D_opt ~ 3e14 tokens, ~30 epochs
    np.testing.assert_allclose(M[:2], 1.0, rtol=1e-9)
    assert 0 < M[3] < M[2] < 1


def test_trick_laws_rebuild_from_plain_data_here_and_in_a_fresh_process():
    arm = apply_trick(get_law("chinchilla"), get_law("chinchilla").default_param_set.as_dict(), parse_trick("data:2"))
    assert law_from_spec(arm.law.spec()) is arm.law
    code = (
        "from theory.laws import law_from_spec\n"
        f"law = law_from_spec({arm.law.spec()!r})\n"
        f"print(law.evaluate({{'N': 1e9, 'D': 1e10}}, {arm.values!r}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    expected = get_law("chinchilla").evaluate({"N": 1e9, "D": 2e10})  # data:2 = twice the tokens
    assert float(out.stdout) == pytest.approx(float(expected), rel=1e-14)


# --- Refusals -----------------------------------------------------------------------------------------

def test_tricks_a_law_cannot_take_are_refused():
    with pytest.raises(InputError, match="no floor"):
        multiplier(get_law("kaplan2020"), None, "floor:-0.1", 1e21)
    with pytest.raises(InputError, match="would not be positive"):
        multiplier(get_law("chinchilla"), None, "alpha:-0.5", 1e21)
    with pytest.raises(InputError, match="would be negative"):
        multiplier(get_law("chinchilla"), None, "floor:-5", 1e21)
    with pytest.raises(InputError, match="needs a law in N and D"):
        multiplier(get_law("power-law"), {"E": 1.0, "A": 1.0, "alpha": 0.5}, "data:2", 1e21)
    with pytest.raises(InputError) as info:
        multiplier(get_law("chinchilla"), None, "data:2", -1.0)
    assert info.value.field == "C"
    with pytest.raises(InputError) as info:
        multiplier_analysis(get_law("chinchilla"), None, "data:2", (1e22, 1e20))
    assert info.value.field == "C-range"
