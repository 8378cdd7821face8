"""ScalingLawRegressor follows the scikit-learn estimator contract without importing scikit-learn."""

import subprocess
import sys

import numpy as np
import pytest

from theory.laws import get_law
from validate.fit import ScalingLawRegressor

TRUTH = {"E": 0.5, "A": 5.0, "alpha": 0.4}


@pytest.fixture(scope="module")
def data():
    x = np.geomspace(1e2, 1e6, 50)
    y = get_law("power-law").evaluate({"x": x}, TRUTH) * np.exp(0.01 * np.random.default_rng(0).standard_normal(50))
    return x, y


def test_module_does_not_import_sklearn():
    code = "import sys, validate.fit; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_init_stores_parameters_only_and_get_set_params():
    est = ScalingLawRegressor(law="power-law", delta=2e-3)
    assert est.get_params() == {"law": "power-law", "loss": "huber", "delta": 2e-3, "reduction": "sum",
                                "max_starts": 4500, "polish": 8, "n_bootstrap": 200, "n_jobs": 1, "random_state": 0}
    assert not [k for k in vars(est) if k.endswith("_")]
    assert est.set_params(delta=1e-3) is est and est.delta == 1e-3
    with pytest.raises(ValueError):
        est.set_params(bogus=1)
    with pytest.raises(AttributeError):
        est.predict(np.ones((3, 1)))


def test_fit_returns_self_and_learns_attributes(data):
    x, y = data
    est = ScalingLawRegressor(law="power-law")
    assert est.fit(x[:, None], y) is est
    assert est.converged_ is True and est.message_
    assert set(est.params_) == set(TRUTH)
    np.testing.assert_allclose(est.coef_, [est.params_[k] for k in ("E", "A", "alpha")])
    assert est.params_["alpha"] == pytest.approx(0.4, abs=0.02)
    pred = est.predict(x[:, None])
    assert pred.shape == (50,) and np.max(np.abs(np.log(pred / y))) < 0.05
    assert est.score(x[:, None], y) > 0.99


def test_input_forms_agree(data):
    x, y = data
    a = ScalingLawRegressor(law="power-law").fit(x[:, None], y).params_
    b = ScalingLawRegressor(law="power-law").fit({"x": x}, y).params_
    rec = np.zeros(50, dtype=[("x", float)])
    rec["x"] = x
    c = ScalingLawRegressor(law="power-law").fit(rec, y).params_
    assert a == b == c


def test_predict_interval(data):
    x, y = data
    est = ScalingLawRegressor(law="power-law", n_bootstrap=40).fit(x[:, None], y)
    pred, lo, hi = est.predict_interval(x[:10, None], alpha=0.05)
    assert np.all(lo < pred) and np.all(pred < hi)
    assert est.bootstrap_.n_bootstrap == 40


def test_clone_and_cross_validation_with_sklearn(data):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    x, y = data
    est = ScalingLawRegressor(law="power-law", max_starts=200)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    scores = cross_val_score(est, x[:, None], y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
