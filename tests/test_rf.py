"""Random-feature regression (sim/rf.py): closed-form gradient descent, ridge, and the kernel limit."""

import json

import numpy as np
import pytest

from sim.backend import get_backend
from sim.errors import InputError
from sim.registry import get_simulator
from sim.rf import RFConfig, draw, gd_reference, gd_surface, ridge_surface, run, simulate
from theory.spectral import power_law_spectrum, power_law_target, test_error

CPU = get_backend("cpu")


def test_closed_form_gd_equals_literal_iteration():
    config = RFConfig(features=(12, 40), P=(30,), steps=(0, 1, 7, 60), latent_dim=150, ridge=1e-3, noise=0.1)
    data = draw(config, seed=3, backend=CPU)
    losses, diverged = gd_surface(data, np.array([12, 40]), np.array([30]), np.array([0, 1, 7, 60]), 1e-3, 0.7, CPU)
    assert not diverged.any()
    for i, n in enumerate((12, 40)):  # N < P and N > P: both eigendecomposition branches
        F = data.features(n, 30)
        reference = [data.test_loss(n, gd_reference(F, data.y[:30], t, 1e-3, 0.7), np) for t in (0, 1, 7, 60)]
        np.testing.assert_allclose(losses[i, 0], reference, rtol=1e-9)
    assert losses[0, 0, 0] == pytest.approx(1.0)  # θ = 0 at t = 0: the target's variance


def test_long_gd_reaches_the_ridge_solution():
    config = RFConfig(features=(10, 50), P=(20, 35), latent_dim=120, ridge=1e-2)
    data = draw(config, seed=1, backend=CPU)
    feats, sizes = np.array([10, 50]), np.array([20, 35])
    ridge = ridge_surface(data, feats, sizes, 1e-2, CPU)
    gd, _ = gd_surface(data, feats, sizes, np.array([10**8]), 1e-2, 0.5, CPU)
    np.testing.assert_allclose(gd[:, :, 0], ridge, rtol=1e-7)


def test_ridge_surface_equals_primal_ridge():
    config = RFConfig(features=(8, 30), P=(12, 25), latent_dim=80, ridge=1e-3)
    data = draw(config, seed=2, backend=CPU)
    surface = ridge_surface(data, np.array([8, 30]), np.array([12, 25]), 1e-3, CPU)
    for i, n in enumerate((8, 30)):
        for j, p in enumerate((12, 25)):
            F = data.features(n, p)
            theta = np.linalg.solve(F.T @ F + 1e-3 * np.eye(n), F.T @ data.y[:p])
            assert surface[i, j] == pytest.approx(data.test_loss(n, theta, np), rel=1e-8)


def test_many_features_approach_kernel_regression_theory():
    # N >> P: the feature kernel FFᵀ -> ZΛZᵀ, kernel regression on the task (Λ, v); corrections O(P/N).
    surface = simulate(RFConfig(features=(3000,), P=(16, 64), latent_dim=600, ridge=1e-3, spectrum_decay=1.5,
                                target_decay=1.5), seeds=24)
    theory = test_error(power_law_spectrum(1.5, 600), power_law_target(1.5, 600), [16, 64], ridge=1e-3)
    rel = surface.mean[0] / theory - 1
    assert np.all(np.abs(rel) <= 0.06 + 2 * surface.sem[0] / surface.mean[0]), rel


def test_loss_falls_with_features_at_large_P():
    # P >> N: the model-size bottleneck (variance-free regime), L falls with N
    surface = simulate(RFConfig(features=(4, 16, 64), P=(1024,), latent_dim=300, ridge=1e-4), seeds=3)
    assert np.all(np.diff(surface.mean[:, 0]) < 0)


def test_divergence_is_reported_not_hidden():
    out = run(RFConfig(features=(20,), P=(20,), steps=(10, 1000), latent_dim=100, learning_rate=50.0))
    assert out["diverged"] is True
    json.dumps(out, allow_nan=False)  # JSON-safe: diverged losses are null
    assert out["test_error"][0][0][1] is None


def test_registry_contract():
    spec = get_simulator("rf")
    assert spec.config_type is RFConfig and {"seed", "device", "features", "P", "steps"} <= set(spec.option_names())
    config = RFConfig(features=(8, 16), P=(10, 20), latent_dim=50, seed=4)
    first, second = spec.run(config), spec.run(config)
    assert first["test_error"] == second["test_error"] and np.shape(first["test_error"]) == (2, 2)
    assert "steps" not in first and first["provenance"]["seed"] == 4


@pytest.mark.parametrize("config,field", [
    (RFConfig(features=(0,)), "features"),
    (RFConfig(P=()), "P"),
    (RFConfig(ridge=0.0), "ridge"),
    (RFConfig(steps=(10,), learning_rate=0.0), "learning_rate"),
    (RFConfig(steps=(-1,)), "steps"),
    (RFConfig(latent_dim=0), "latent_dim"),
])
def test_bad_configs_name_the_field(config, field):
    with pytest.raises(InputError) as e:
        config.validate()
    assert e.value.field == field
