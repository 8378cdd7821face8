"""validate/multiplier.py: planted multipliers recovered from synthetic runs with noise (constant, growing,
none), the stated theory test, inversions, design checks, frontier shape."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory.errors import InputError
from validate.multiplier import (
    ArmData, TheoryCurves, check_design, compare_with_theory, group_scales, invert_law, local_exponents,
    measure_multiplier, scale_to_reach, verdict,
)

E, A, ALPHA = 0.05, 3.0, 0.5
SCALES = (16, 32, 64, 128, 256, 512)
B = 120  # bootstrap replicates: enough for a 95% interval to be stable in these tests


def base_law(x):
    return E + A * np.asarray(x, float) ** -ALPHA


def arm(f, seeds=range(4), scales=SCALES, noise=0.03, seed=0, label=""):
    rng = np.random.default_rng(seed)
    rows = [(x, float(f(x)) * math.exp(noise * rng.standard_normal()), s) for x in scales for s in seeds]
    return ArmData.from_runs(rows, label)


def test_planted_constant_multiplier_is_recovered():
    m_true = 4.0
    b = arm(base_law, seed=1)
    t = arm(lambda x: base_law(m_true * np.asarray(x, float)), seed=2)
    m = measure_multiplier(b, t, n_bootstrap=B, seed=0)
    assert m.status == "measured" and m.n_valid >= 0.95 * B
    for tg in m.targets:
        assert tg["ci95"][0] <= m_true <= tg["ci95"][1], tg
    assert m.trend == "constant"
    assert m.no_effect is False
    assert m.targets[0]["loss"] > m.targets[-1]["loss"]  # targets from high to low loss
    grid = np.geomspace(1, 1e5, 400)
    cmp = compare_with_theory(m, TheoryCurves(grid, base_law(grid), base_law(m_true * grid), "planted"))
    assert cmp.agrees is True and cmp.profile["class"] == "constant"
    assert cmp.profile["crosses_10x_at"] is None
    agrees, text = verdict(m, cmp)
    assert agrees is True and "agrees with theory" in text and "does not reach 10×" in text


def test_planted_exponent_change_grows_and_a_wrong_theory_is_refused():
    b = arm(base_law, seed=3)
    t = arm(lambda x: E + A * np.asarray(x, float) ** -0.8, seed=4)
    m = measure_multiplier(b, t, n_bootstrap=B, seed=0)
    assert m.trend == "growing"
    assert m.slope_ci95[0] > 0
    grid = np.geomspace(1, 1e7, 600)
    right = compare_with_theory(m, TheoryCurves(grid, base_law(grid), E + A * grid ** -0.8, "planted"))
    assert right.agrees is True and right.profile["class"] == "growing"
    # a theory claiming a constant 2x is refused by the stated test
    wrong = compare_with_theory(m, TheoryCurves(grid, base_law(grid), base_law(2 * grid), "constant 2x"))
    assert wrong.agrees is False
    agrees, text = verdict(m, wrong)
    assert agrees is False and "disagrees with theory" in text


def test_no_effect_when_the_arms_are_the_same_law():
    b = arm(base_law, seed=5)
    t = arm(base_law, seed=6)
    m = measure_multiplier(b, t, n_bootstrap=B, seed=0)
    assert m.no_effect is True
    assert all(tg["ci95"][0] <= 1.0 <= tg["ci95"][1] for tg in m.targets)
    agrees, text = verdict(m, None)
    assert agrees is None and text.startswith("no effect") and "no theory" in text


def test_seed_cluster_bootstrap_and_no_overlap_bound():
    b = arm(base_law, seeds=range(5), seed=7)
    t = arm(lambda x: base_law(3 * np.asarray(x, float)), seeds=range(5), seed=8)
    m = measure_multiplier(b, t, n_bootstrap=60, resample="seed", seed=1)
    assert m.resample == "seed" and m.status == "measured"
    assert any(tg["ci95"][0] <= 3.0 <= tg["ci95"][1] for tg in m.targets)
    # a trick so good that its worst loss beats the baseline's best: a lower bound, no value
    far = arm(lambda x: base_law(1e5 * np.asarray(x, float)), seed=9)
    m2 = measure_multiplier(b, far, n_bootstrap=20)
    assert m2.status == "no-overlap" and m2.bound["kind"] == "lower"
    assert m2.bound["value"] == pytest.approx(512 / 16)
    assert m2.reaches(10.0) is True  # the bound itself exceeds 10


def test_design_is_checked():
    good = arm(base_law)
    check_design(good, "baseline")
    with pytest.raises(InputError, match="distinct scales"):
        check_design(arm(base_law, scales=(16, 64, 256)), "baseline")
    with pytest.raises(InputError, match="span"):
        check_design(arm(base_law, scales=(16, 20, 24, 28, 32)), "baseline")
    with pytest.raises(InputError, match="seeds"):
        check_design(arm(base_law, seeds=range(2)), "trick")
    with pytest.raises(InputError):
        ArmData.from_runs([(1.0, -1.0, 0)])


def test_inversions_agree_and_reach():
    # closed-form power-law inversion against the grid inversion of the same law written as text
    from theory.laws import get_law
    from theory.parse import parse_law

    params = np.array([[E, A, ALPHA]])
    targets = np.array([0.5, 0.2, 0.1, 0.06])
    closed = invert_law(get_law("power-law"), params, targets, (16, 512))[0]
    text_law = parse_law("E + A*x**(-alpha)")
    order = [text_law.param_names.index(n) for n in ("E", "A", "alpha")]
    p2 = np.empty((1, 3))
    p2[0, order] = params[0]
    grid = invert_law(text_law, p2, targets, (16, 512))[0]
    np.testing.assert_allclose(grid, closed, rtol=2e-3)
    np.testing.assert_allclose(base_law(closed), targets, rtol=1e-10)
    assert np.isinf(invert_law(get_law("power-law"), params, [0.04], (16, 512))[0, 0])  # below the floor E
    x = np.geomspace(1, 100, 50)
    assert scale_to_reach(x, 1 / x, [0.1])[0] == pytest.approx(10.0, rel=1e-2)
    assert np.isinf(scale_to_reach(x, 1 / x, [1e-3])[0])


def test_theory_profile_crossing_matches_the_closed_form():
    # L_b = x^-0.5, L_t = x^-1: x_t(L) = L^-1, so M = x_b / x_b^0.5 = x_b^0.5: crosses 10 at x_b = 100
    grid = np.geomspace(1, 1e6, 2000)
    prof = TheoryCurves(grid, grid ** -0.5, grid ** -1.0, "closed form").profile()
    assert prof["class"] == "growing"
    assert prof["crosses_10x_at"] == pytest.approx(100.0, rel=0.02)
    assert prof["crosses_100x_at"] == pytest.approx(1e4, rel=0.02)
    with pytest.raises(InputError):
        TheoryCurves(grid[::-1], grid, grid, "decreasing grid")


def test_frontier_shape_power_law_and_cliff():
    pl = arm(lambda x: 2.0 * np.asarray(x, float) ** -0.7, seed=11)
    sh = local_exponents(pl, n_bootstrap=100)
    assert sh["power_law"] is True and "one power law" in sh["shape"]
    assert np.mean(sh["exponent"]) == pytest.approx(0.7, abs=0.05)
    cliff = arm(lambda x: np.exp(-np.asarray(x, float) / 40.0), seed=12)  # faster than any power law
    sh2 = local_exponents(cliff, n_bootstrap=100)
    assert sh2["power_law"] is False and sh2["steepening"]
    assert "faster than a power law" in sh2["shape"]


def test_group_scales_merges_rounded_sample_counts():
    g, values = group_scales(np.array([3.995, 4.0, 8.0, 7.99, 16.0]))
    assert values.size == 3 and g[0] == g[1] and g[2] == g[3]


def test_shape_test_tells_a_cliff_from_a_rescaled_or_steeper_power_law():
    from validate.multiplier import frontier_shape_test

    eight = range(8)
    base = arm(lambda x: 2.0 * np.asarray(x, float) ** -0.5, seeds=eight, seed=21)
    rescaled = arm(lambda x: 2.0 * (3.0 * np.asarray(x, float)) ** -0.5, seeds=eight, seed=22)  # a constant 3x
    st = frontier_shape_test(base, rescaled, "reverts", n_bootstrap=B)
    assert st["faster_than_power_law"] is False and st["reverted"] is True
    assert st["reverts_to_power_law"] is False and st["passed"] is False  # it never left the power law
    steeper = arm(lambda x: 2.0 * np.asarray(x, float) ** -0.9, seeds=eight, seed=23)  # another exponent: a power law
    st = frontier_shape_test(base, steeper, "faster", n_bootstrap=B)
    assert st["faster_than_power_law"] is False and st["passed"] is False
    assert np.allclose(st["excess_exponent"], 0.4, atol=0.08)
    assert st["reverted"] is False  # parallel means the same exponent, not a steeper one
    # a cliff (exponential decay beyond a point): the excess exponent rises
    x0 = 40.0
    cliff = arm(lambda x: np.where(np.asarray(x, float) < x0, 2.0 * np.asarray(x, float) ** -0.5,
                                   2.0 * x0 ** -0.5 * np.exp(-(np.asarray(x, float) - x0) / 60.0)), seeds=eight, seed=25)
    st = frontier_shape_test(base, cliff, "faster", n_bootstrap=B)
    assert st["faster_than_power_law"] is True and st["passed"] is True and st["rises"]
    assert "faster than a power law, as claimed" in st["statement"]
    # a transient: a power law, a steeper stretch, then parallel to the baseline again (reverts)
    x1 = 100.0
    bump = arm(lambda x: np.where(np.asarray(x, float) < x0, 2.0 * np.asarray(x, float) ** -0.5,
                                  np.where(np.asarray(x, float) < x1, 2.0 * x0 ** -0.5 * (np.asarray(x, float) / x0) ** -2.0,
                                           2.0 * x0 ** -0.5 * (x1 / x0) ** -2.0 * (np.asarray(x, float) / x1) ** -0.5)),
               seeds=eight, seed=26)
    st = frontier_shape_test(base, bump, "reverts", n_bootstrap=B)
    assert st["faster_than_power_law"] is True and st["reverts_to_power_law"] is True and st["passed"] is True
    assert st["reverted"] is True
    with pytest.raises(InputError):
        frontier_shape_test(base, cliff, "slower", n_bootstrap=B)
