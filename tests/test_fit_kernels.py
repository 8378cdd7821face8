"""The fitting objective: the Numba kernel against its numpy reference, gradients against finite
differences, the generic (sympy) path against the Chinchilla log-sum-exp path, and the batched
L-BFGS against scipy's per-start L-BFGS-B."""

import numpy as np
import pytest

from theory.laws import get_law
from validate.fit import Objective, lbfgs_batched, naive_multistart, prepare_data, scipy_polish, start_grid


def _chinchilla_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(5e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(1e9), np.log(4e11), n))
    law = get_law("chinchilla-epoch")
    y = law.evaluate({"N": N, "D": D}) * np.exp(0.01 * rng.standard_normal(n))
    return law, {"N": N, "D": D}, y


def _objective(law, inputs, y, **kw):
    logX, logy, _ = prepare_data(law, inputs, y)
    return Objective(law, logX, logy, **kw)


@pytest.mark.parametrize("loss", ["huber", "squared"])
@pytest.mark.parametrize("per_start_weights", [False, True])
def test_numba_kernel_matches_numpy_reference(loss, per_start_weights):
    law, inputs, y = _chinchilla_data()
    fast = _objective(law, inputs, y, loss=loss, engine="numba")
    ref = _objective(law, inputs, y, loss=loss, engine="numpy")
    assert fast.engine == "numba" and ref.engine == "numpy"
    rng = np.random.default_rng(1)
    Phi = np.column_stack([rng.uniform(0, 25, 64), rng.uniform(0, 25, 64), rng.uniform(-1, 1, 64),
                           rng.uniform(0, 2, 64), rng.uniform(0, 2, 64)])
    # rows where the log-sum-exp must be shifted to avoid overflow or underflow (|max term| > 700)
    Phi[:3] = [[750.0, 5.0, 0.0, 0.3, 0.3], [5.0, 5.0, 0.0, -40.0, 0.3], [-800.0, -800.0, -800.0, 0.3, 0.3]]
    W = rng.integers(0, 3, (64, y.size)).astype(float) if per_start_weights else None
    f1, g1 = fast.value_and_grad(Phi, W)
    f0, g0 = ref.value_and_grad(Phi, W)
    np.testing.assert_allclose(f1, f0, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-12 * np.abs(g0).max())


def _fd_grad(obj, phi, h=1e-6):
    g = np.empty_like(phi)
    for j in range(phi.size):
        e = np.zeros_like(phi)
        e[j] = h
        g[j] = (obj.value_and_grad((phi + e)[None])[0][0] - obj.value_and_grad((phi - e)[None])[0][0]) / (2 * h)
    return g


@pytest.mark.parametrize("law_name", ["chinchilla", "kaplan2020", "power-law"])
def test_gradient_matches_finite_differences(law_name):
    # squared loss: smooth, so central differences are accurate
    rng = np.random.default_rng(2)
    law = get_law(law_name)
    if law_name == "power-law":
        inputs = {"x": np.geomspace(1e2, 1e6, 40)}
        phi = np.array([np.log(0.5), np.log(5.0), 0.4])
        y = 0.5 + 5.0 * inputs["x"] ** -0.4
    else:
        _, inputs, _ = _chinchilla_data(60)
        y = law.evaluate(inputs) * np.exp(0.02 * rng.standard_normal(60))
        phi = None
    obj = _objective(law, inputs, y, loss="squared")
    if phi is None:
        phi = obj.phi_from_params(law.default_param_set.as_dict()) * (1 + 0.05 * rng.standard_normal(len(law.param_names)))
    g = obj.value_and_grad(phi[None])[1][0]
    np.testing.assert_allclose(g, _fd_grad(obj, phi), rtol=1e-5, atol=1e-9 * max(1.0, np.abs(g).max()))


def test_generic_path_equals_log_sum_exp_path():
    """The sympy-lambdified objective and the closed-form LSE objective agree on the same law."""
    law, inputs, y = _chinchilla_data()
    lse = _objective(law, inputs, y)
    generic = _objective(law, inputs, y)
    generic.lse = False  # force the generic path on the same law
    from validate.fit import _value_and_param_grads, parameter_kinds

    generic.engine = "numpy"
    generic.kinds = parameter_kinds(law)
    generic._is_log = np.array([generic.kinds[n] != "exponent" for n in law.param_names])
    generic._fgrad = _value_and_param_grads(law)
    assert generic.kinds == {"E": "floor", "A": "scale", "B": "scale", "alpha": "exponent", "beta": "exponent"}
    params = law.default_param_set.as_dict()
    f_lse, g_lse = lse.value_and_grad(lse.phi_from_params(params)[None])
    f_gen, g_gen = generic.value_and_grad(generic.phi_from_params(params)[None])
    assert f_gen[0] == pytest.approx(f_lse[0], rel=1e-10)
    # same coordinates up to order: LSE (a, b, e, alpha, beta), generic (log E, log A, log B, alpha, beta)
    np.testing.assert_allclose(g_gen[0], g_lse[0][[2, 0, 1, 3, 4]], rtol=1e-8)


def test_batched_lbfgs_finds_the_per_start_scipy_optimum():
    """On a subset of Hoffmann's grid, the batched optimiser's best optimum is the best of one scipy
    L-BFGS-B run per start (the benchmark checks the full grid)."""
    law, inputs, y = _chinchilla_data(100, seed=3)
    obj = _objective(law, inputs, y)
    grid, _ = start_grid(obj)
    starts = grid[np.random.default_rng(0).choice(len(grid), 120, replace=False)]
    batch = lbfgs_batched(lambda X, rows: obj.value_and_grad(X), starts)
    best_batched = scipy_polish(obj, batch.x[np.argmin(batch.f)])
    naive = naive_multistart(obj, starts)
    assert best_batched.fun == pytest.approx(naive.fun, rel=1e-6)
    np.testing.assert_allclose(obj.params_array(best_batched.x), obj.params_array(naive.x), rtol=2e-3)


def test_hoffmann_grid_is_4500_starts():
    law, inputs, y = _chinchilla_data()
    grid, rule = start_grid(_objective(law, inputs, y))
    assert grid.shape == (4500 + 1, 5)  # + the law's built-in parameter set
    assert set(np.unique(grid[:4500, 3])) == {0.0, 0.5, 1.0, 1.5, 2.0}
    assert set(np.unique(grid[:4500, 0])) == {0.0, 5.0, 10.0, 15.0, 20.0, 25.0}
    assert "Hoffmann" in rule
