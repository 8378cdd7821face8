"""Law objects: built-in values, log-space evaluation, rebuilding from plain data."""

import math
import pickle

import numpy as np
import pytest

from theory.errors import InputError
from theory.laws import builtin_law_names, get_law, law_from_spec


def test_chinchilla_unrounded_values_from_logs():
    ps = get_law("chinchilla").default_param_set.as_dict()
    assert ps["A"] == pytest.approx(406.40, abs=0.01)
    assert ps["B"] == pytest.approx(410.72, abs=0.01)
    assert ps["E"] == pytest.approx(1.6934, abs=1e-4)


def test_chinchilla_evaluates_its_formula():
    law = get_law("chinchilla-rounded")
    N, D = 7e10, 1.4e12
    expected = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28
    assert law.evaluate({"N": N, "D": D}) == pytest.approx(expected, rel=1e-12)


def test_extreme_inputs_do_not_overflow():
    law = get_law("chinchilla")
    out = law.evaluate({"N": np.array([1e30, 1e200]), "D": np.array([1e30, 1e250])})
    assert np.all(np.isfinite(out))
    assert out == pytest.approx([law.default_param_set.as_dict()["E"]] * 2, rel=1e-6)
    kap = get_law("kaplan2020")
    assert np.isfinite(kap.evaluate({"N": 1e30, "D": 1e30}))


def test_kaplan_both_parameter_sets():
    law = get_law("kaplan2020")
    names = [ps.name for ps in law.param_sets]
    assert len(names) == 2
    a = law.evaluate({"N": 1e9, "D": 1e10}, param_set=names[0])
    b = law.evaluate({"N": 1e9, "D": 1e10}, param_set=names[1])
    assert a != b
    # joint fit, eq. 1.5 by hand
    expected = ((6.4e13 / 1e9) ** (0.076 / 0.103) + 1.8e13 / 1e10) ** 0.103
    assert a == pytest.approx(expected, rel=1e-12)


def test_muennighoff_unique_data_equals_chinchilla_form():
    """With one epoch (D = U) and N below N_opt(U), effective data and parameters are the real ones."""
    law = get_law("muennighoff2023")
    p = law.default_param_set.as_dict()
    N, D = 1e8, 1e10
    expected = p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    assert law.evaluate({"N": N, "D": D, "U": D}) == pytest.approx(expected, rel=1e-12)
    # repeated data is worth less than fresh data, but more than the unique tokens alone
    rep = law.evaluate({"N": N, "D": 4 * D, "U": D})
    fresh = law.evaluate({"N": N, "D": 4 * D, "U": 4 * D})
    assert fresh < rep < law.evaluate({"N": N, "D": D, "U": D})


@pytest.mark.parametrize("name", builtin_law_names())
def test_every_builtin_law_rebuilds_from_plain_data(name):
    law = get_law(name)
    assert law_from_spec(law.spec()) is law
    assert pickle.loads(pickle.dumps(law)) is law


def test_bad_inputs_are_input_errors():
    law = get_law("chinchilla")
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(InputError):
            law.evaluate({"N": bad, "D": 1e9})
    with pytest.raises(InputError):
        law.evaluate({"N": 1e9})
    with pytest.raises(InputError):
        law.evaluate({"N": 1e9, "D": 1e9}, {"nope": 1.0})
    with pytest.raises(InputError):
        get_law("not-a-law")
