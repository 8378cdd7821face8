"""The perceptron simulator: exact maximum-margin solver against references, pruned data, contract."""

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erfcinv, erfinv

from sim.errors import InputError
from sim.perceptron import (
    PerceptronConfig, learning_curve, max_margin, max_margin_nnls, pruned_dataset, run,
)
from sim.perceptron import test_error as error_of  # (not collected as a test)
from sim.registry import get_simulator


def _random_problem(rng, N, P):
    teacher = rng.standard_normal(N)
    x = rng.standard_normal((P, N))
    return x * np.sign(x @ teacher)[:, None], teacher


def _qp_reference(xi):
    """min ½‖w‖² s.t. Ξw ≥ 1 by a generic solver (SLSQP) from a feasible start."""
    from scipy.optimize import minimize

    start = max_margin_nnls(xi) * 1.5  # any feasible point; the optimiser must find the optimum itself
    res = minimize(lambda w: 0.5 * w @ w, start, jac=lambda w: w, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda w: xi @ w - 1, "jac": lambda w: xi}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert res.success, res.message
    return res.x


@pytest.mark.parametrize("N,P", [(8, 5), (10, 30), (20, 60)])
def test_max_margin_matches_generic_qp_and_nnls(N, P):
    rng = np.random.default_rng(N * 100 + P)
    xi, _ = _random_problem(rng, N, P)
    fit = max_margin(xi)
    assert fit.exact
    w_qp = _qp_reference(xi)
    w_nnls = max_margin_nnls(xi)
    scale = np.linalg.norm(fit.w)
    assert np.linalg.norm(fit.w - w_qp) / scale < 1e-6
    assert np.linalg.norm(fit.w - w_nnls) / scale < 1e-9
    # KKT conditions of the returned pair: feasibility, dual feasibility, stationarity, slackness
    margins = xi @ fit.w
    assert margins.min() == pytest.approx(1.0, abs=1e-9)
    assert np.all(fit.dual >= 0)
    assert np.allclose(xi.T @ fit.dual, fit.w, atol=1e-9 * scale)
    assert np.all(np.abs(fit.dual * (margins - 1)) < 1e-8)
    assert fit.n_support <= N


@pytest.mark.parametrize("keep,prune,angle", [(0.1, "hard", 0.0), (0.3, "easy", 10.0), (0.2, "hard", 20.0)])
def test_max_margin_on_pruned_sets_matches_nnls(keep, prune, angle):
    data = pruned_dataset(PerceptronConfig(N=40, alpha_tot=12, keep=keep, prune=prune, probe_angle=angle, seed=3))
    fit = max_margin(data.xi)
    w_ref = max_margin_nnls(data.xi)
    assert fit.exact
    assert np.linalg.norm(fit.w - w_ref) / np.linalg.norm(w_ref) < 1e-8
    assert error_of(fit.w, data.teacher)[0] == pytest.approx(error_of(w_ref, data.teacher)[0], rel=1e-7)


def test_thin_band_of_hard_examples_is_solved_exactly():
    """f = 1e-3 with a perfect probe: every kept example lies within 0.0013 of the teacher's boundary,
    the margin is ~1e-4 and there are N support vectors (the problem is at capacity). The Gram-matrix
    route to the support solution lost the margins to 1e-6 here; the QR route certifies."""
    data = pruned_dataset(PerceptronConfig(N=80, alpha_tot=5000, keep=1e-3, prune="hard", probe_angle=0.0, seed=4))
    fit = max_margin(data.xi)
    assert fit.exact and fit.n_support == 80 and fit.margin < 1e-3
    w_ref = max_margin_nnls(data.xi)
    assert error_of(fit.w, data.teacher)[0] == pytest.approx(error_of(w_ref, data.teacher)[0], rel=1e-4)
    assert (data.xi @ fit.w).min() == pytest.approx(1.0, abs=1e-9)


def test_degenerate_support_swap_falls_back_to_lawson_hanson():
    """A case met in `validate pruning` (N = 400, f = 0.1, α_prune = 4, seed 19): 400 support vectors,
    and the interior-point estimate misses one of them at |S| = N; the NNLS fallback certifies."""
    data = pruned_dataset(PerceptronConfig(N=400, alpha_tot=40, keep=0.1, prune="hard", probe_angle=0.0, seed=19))
    fit = max_margin(data.xi)
    assert fit.exact and fit.n_support == 400
    assert error_of(fit.w, data.teacher)[0] == pytest.approx(0.0140245964, rel=1e-8)  # = the NNLS reference


def test_pruned_dataset_geometry():
    theta = 15.0
    cfg = PerceptronConfig(N=300, alpha_tot=10, keep=0.25, prune="hard", probe_angle=theta, seed=7)
    data = pruned_dataset(cfg)
    P_tot, P_kept = cfg.sizes()
    assert data.xi.shape == (P_kept, 300) and data.P_tot == P_tot == 3000 and P_kept == 750
    assert np.linalg.norm(data.probe) == pytest.approx(1.0) and np.linalg.norm(data.teacher) == pytest.approx(1.0)
    assert data.probe @ data.teacher == pytest.approx(math.cos(math.radians(theta)), abs=1e-12)
    # every row is correctly labelled by the teacher; the kept probe margins are the hard quarter
    assert np.all(data.xi @ data.teacher > 0)
    assert np.allclose(np.abs(data.xi @ data.probe), np.abs(data.probe_margin))
    gamma = math.sqrt(2) * float(erfinv(0.25))  # |z| < γ keeps a quarter of N(0, 1)
    assert np.max(np.abs(data.probe_margin)) < gamma * 1.15
    # the directions orthogonal to teacher and probe are untouched standard Gaussians
    basis = np.linalg.qr(np.column_stack([data.teacher, data.probe, np.random.default_rng(0).standard_normal((300, 2))]))[0]
    other = data.xi @ basis[:, 2:]
    assert np.abs(other.mean()) < 0.05 and other.var() == pytest.approx(1.0, abs=0.08)


def test_easy_pruning_keeps_the_largest_margins():
    data = pruned_dataset(PerceptronConfig(N=50, alpha_tot=20, keep=0.1, prune="easy", probe_angle=0.0, seed=1))
    gamma = math.sqrt(2) * float(erfcinv(0.1))  # 2H(γ) = 0.1
    assert np.min(np.abs(data.probe_margin)) > gamma * 0.9


def test_run_is_deterministic_and_json_safe():
    cfg = PerceptronConfig(N=60, alpha_tot=5, keep=0.4, prune="hard", probe_angle=10.0, seed=11)
    a, b = run(cfg), run(cfg)
    assert a["test_error"] == b["test_error"] and a["R"] == b["R"]
    assert run(dataclasses.replace(cfg, seed=12))["test_error"] != a["test_error"]
    json.dumps(a)  # plain data only
    assert a["solver"]["exact"] and a["metadata"]["seed"] == 11 and a["alpha_prune"] == pytest.approx(2.0)
    assert 0 <= a["test_error"] <= 0.5 and a["n_support"] <= 60


def test_registry_entry():
    spec = get_simulator("perceptron")
    assert spec.config_type is PerceptronConfig
    assert {"seed", "device", "N", "alpha_tot", "keep", "prune", "probe_angle"} <= set(spec.option_names())
    out = spec.run(PerceptronConfig(N=30, alpha_tot=3, seed=2))
    assert out["P_kept"] == 90 and "test_error" in out


@settings(max_examples=8)
@given(N=st.integers(20, 60), alpha=st.floats(0.5, 6), seed=st.integers(0, 10_000))
def test_keeping_everything_is_no_pruning(N, alpha, seed):
    """f = 1 keeps the same examples whatever the rule or probe: the same student."""
    base = run(PerceptronConfig(N=N, alpha_tot=alpha, keep=1.0, prune="hard", probe_angle=0.0, seed=seed))
    for prune, angle in (("easy", 30.0), ("random", 0.0), ("hard", 90.0)):
        other = run(PerceptronConfig(N=N, alpha_tot=alpha, keep=1.0, prune=prune, probe_angle=angle, seed=seed))
        assert other["test_error"] == pytest.approx(base["test_error"], abs=1e-9)


def test_orthogonal_probe_is_random_subsampling():
    """A probe at 90° to the teacher carries no information: same error as a random subset."""
    kw = dict(N=150, keep=0.3, seeds=list(range(16)), workers=1)
    ortho = learning_curve([10.0], prune="hard", probe_angle=90.0, **kw)
    rand = learning_curve([10.0], prune="random", **kw)
    perfect = learning_curve([10.0], prune="hard", probe_angle=0.0, **kw)
    diff = ortho["test_error"][0] - rand["test_error"][0]
    sem = math.hypot(ortho["test_error_sem"][0], rand["test_error_sem"][0])
    assert abs(diff) < 3.5 * sem
    assert perfect["test_error"][0] < 0.5 * rand["test_error"][0]  # while a perfect probe helps a lot


@pytest.mark.parametrize("field,kwargs", [
    ("keep", {"keep": 0.0}), ("keep", {"keep": 1.5}), ("prune", {"prune": "medium"}),
    ("probe_angle", {"probe_angle": 120.0}), ("N", {"N": 1}), ("alpha_tot", {"alpha_tot": -1.0}),
    ("device", {"device": "gpu"}), ("keep", {"keep": 1e-4, "N": 10}),
])
def test_bad_configurations(field, kwargs):
    with pytest.raises(InputError) as err:
        PerceptronConfig(**kwargs).validate()
    assert err.value.field == field
