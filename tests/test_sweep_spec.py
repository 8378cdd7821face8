"""Sweep specs: expansion into runs, and every malformed spec refused naming file, key and problem."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.sweep_fixtures as fx
from sim.errors import InputError
from validate.sweep import load_spec, parse_spec


@pytest.fixture(autouse=True, scope="module")
def _test_simulators():
    with fx.registered():
        yield


def _write(tmp_path, text: str, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
[sweep]
name = "demo"
simulator = "test-quad"
seeds = [0, 1, 2]
[grid]
x = [1, 2.5]          # ints accepted for a float option
n = [4, 8.0, 1e1]     # integral floats accepted for an int option
label = "fixed"
widths = [[1], [2, 3]]
"""


def test_expansion_is_the_cartesian_product_times_seeds(tmp_path):
    spec = load_spec(_write(tmp_path, GOOD))
    assert (spec.name, spec.simulator, spec.seeds) == ("demo", "test-quad", (0, 1, 2))
    assert spec.total == 2 * 3 * 2 * 3
    got = {(t.config["x"], t.config["n"], t.config["widths"], t.seed) for t in spec.tasks}
    want = set(itertools.product([1.0, 2.5], [4, 8, 10], [(1,), (2, 3)], [0, 1, 2]))
    assert got == want
    for t in spec.tasks:
        assert t.config["label"] == "fixed" and t.config["seed"] == t.seed
        assert t.config["flag"] is False and t.config["device"] == "cpu"  # defaults filled in
        assert type(t.config["x"]) is float and type(t.config["n"]) is int
        assert t.target == "tests.sweep_fixtures:QUAD" and t.sweep == "demo"
    assert len({t.key for t in spec.tasks}) == spec.total
    # The key depends on the configuration only: the same spec gives the same keys.
    assert [t.key for t in load_spec(_write(tmp_path, GOOD, "again.toml")).tasks] == [t.key for t in spec.tasks]


def test_tuple_option_list_is_one_value(tmp_path):
    spec = load_spec(_write(tmp_path, GOOD.replace("widths = [[1], [2, 3]]", "widths = [4, 5, 6]")))
    assert {t.config["widths"] for t in spec.tasks} == {(4, 5, 6)}
    assert spec.total == 2 * 3 * 3


@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3), n_seeds=st.integers(1, 3))
def test_expansion_counts_and_unique_keys(sizes, n_seeds):
    fields = ["x", "n", "label"]
    grid = {}
    for f, k in zip(fields, sizes):
        grid[f] = [float(i) for i in range(k)] if f == "x" else list(range(1, k + 1)) if f == "n" else [f"l{i}" for i in range(k)]
    spec = parse_spec({"sweep": {"name": "h", "simulator": "test-quad", "seeds": list(range(n_seeds))}, "grid": grid})
    assert spec.total == math.prod(sizes) * n_seeds
    assert len({t.key for t in spec.tasks}) == spec.total


BAD = [
    # (spec text, expected field substring, expected problem substring)
    ("[grid]\nx = 1", "[sweep]", "missing section"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]', "[grid]", "missing section"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[extra]\ny = 2', "[extra]", "unknown section"),
    ('[sweep]\nname = "a"\nsimulator = "nope"\nseeds = [0]\n[grid]\nx = 1', "[sweep] simulator", "unknown simulator 'nope'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\nseed = 3\n[grid]\nx = 1', "[sweep] seed", "unknown key"),
    ('[sweep]\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1', "[sweep] name", "missing"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0, 1, 0]\n[grid]\nx = 1', "[sweep] seeds", "duplicate seed 0"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = []\n[grid]\nx = 1', "[sweep] seeds", "non-empty list"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0, 1.5]\n[grid]\nx = 1', "[sweep] seeds", "non-negative integers"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nwidth = 1', "[grid] width", "has no option 'width'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nn = "ten"', "[grid] n", "expected an integer, got 'ten'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nn = [4, 4.5]', "[grid] n", "expected an integer, got 4.5"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nn = true', "[grid] n", "expected an integer, got True"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nflag = 1', "[grid] flag", "expected true or false"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nlabel = 3', "[grid] label", "expected a string"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = "big"', "[grid] x", "expected a number"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = nan', "[grid] x", "must be finite"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nwidths = [[1], 2]', "[grid] widths", "mixes lists and scalars"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nwidths = [[1], ["a"]]', "[grid] widths", "expected an integer"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = []', "[grid] x", "empty list"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]', "[grid]", "empty grid"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = [1, 2, 1.0]', "[grid] x", "duplicate value 1.0"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nseed = [1, 2]', "[grid] seed", "[sweep] seeds"),
    ('[sweep]\nname = "a"\nsimulator = "test-checked"\nseeds = [0]\n[grid]\nP = [4, 0]', "[grid] P", "refuses P = 0: must be at least 1"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "nolaw"\n',
     "[predict] law", "unknown law 'nolaw'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "power-law"\n'
     '[predict.params]\nE = 0.1\nA = 1.0\nalpha = 0.5\n', "[predict] inputs", "needs input x"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "power-law"\n'
     '[predict.params]\nE = 0.1\nA = 1.0\nalpha = 0.5\n[predict.inputs]\nx = "config.nope"\n', "[predict] inputs.x", "no option 'nope'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "power-law"\n'
     '[predict.params]\nE = 0.1\nA = 1.0\nalpha = 0.5\n[predict.inputs]\nx = "config.n"\nN = "config.n"\n', "[predict] inputs.N", "takes no input 'N'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "power-law"\n'
     '[predict.params]\nE = 0.1\nA = 1.0\nalpha = 0.5\n[predict.inputs]\nx = "n"\n', "[predict] inputs.x", "expected \"config.FIELD\""),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "power-law"\n'
     '[predict.inputs]\nx = "config.n"\n', "[predict] param", "needs values for E"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "chinchilla"\n'
     '[predict.params]\nZ = 1.0\n[predict.inputs]\nN = 1e9\nD = "results.tokens"\n', "[predict] params", "no parameter 'Z'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "E + A*x**(-alpha"\n',
     "[predict] law", "cannot read the law text"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "E + __import__(x)"\n',
     "[predict] law", "cannot read the law text"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "chinchilla"\n'
     'trick = "magic:10"\n[predict.inputs]\nN = 1e9\nD = 2e10\n', "[predict] trick", "unknown trick 'magic:10'"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "E + A*x**(-gamma)"\n'
     'trick = "alpha:+0.1"\n[predict.params]\nE = 1.0\nA = 2.0\ngamma = 0.3\n[predict.inputs]\nx = "config.n"\nC = 1e20\n',
     "[predict] trick", "alpha"),
    ('[sweep]\nname = "a"\nsimulator = "test-quad"\nseeds = [0]\n[grid]\nx = 1\n[predict]\nlaw = "power-law"\n'
     'trick = "data:2"\n[predict.params]\nE = 1.0\nA = 2.0\nalpha = 0.3\n[predict.inputs]\nx = "config.n"\n',
     "[predict] inputs", "needs the run's compute"),
    ("[sweep\nname = 1", "spec.toml", "not valid TOML"),
]


@pytest.mark.parametrize("text,field,problem", BAD, ids=[f"{i}:{b[2][:24]}" for i, b in enumerate(BAD)])
def test_malformed_spec_names_file_key_and_problem(tmp_path, text, field, problem):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_spec(path)
    assert info.value.field.startswith(str(path)), info.value.field
    assert field in info.value.field, (info.value.field, info.value.problem)
    assert problem in info.value.problem, (info.value.field, info.value.problem)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such spec file"):
        load_spec(tmp_path / "absent.toml")


EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "sweeps").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_specs_are_valid(path):
    import tomllib

    from sim.registry import SIMULATORS

    module = SIMULATORS[tomllib.loads(path.read_text())["sweep"]["simulator"]].partition(":")[0]
    pytest.importorskip(module, reason=f"{module} (the example's simulator) is not in this checkout")
    spec = load_spec(path)
    assert spec.total >= 1 and len({t.key for t in spec.tasks}) == spec.total


def test_a_config_validate_method_refuses_bad_values_before_anything_runs(tmp_path):
    pytest.importorskip("sim.perceptron", reason="the perceptron simulator is not in this checkout")
    text = '[sweep]\nname = "p"\nsimulator = "perceptron"\nseeds = [0]\n[grid]\nkeep = [0.5, 1.5]\n'
    with pytest.raises(InputError) as info:
        load_spec(_write(tmp_path, text))
    assert info.value.field.endswith("[grid] keep") and "keep = 1.5" in info.value.problem


def test_tasks_cross_process_boundaries_as_plain_data(tmp_path):
    # What a worker receives is JSON-able plain data: the simulator's import target, the config,
    # and the law's description (never a sympy object or a lambdified function).
    import json

    text = GOOD + '[predict]\nlaw = "E + A*x**(-alpha)"\n[predict.params]\nE = 1.0\nA = 2.0\nalpha = 0.5\n[predict.inputs]\nx = "config.x"\n'
    spec = load_spec(_write(tmp_path, text))
    for task in spec.tasks:
        payload = json.loads(json.dumps(task.payload()))
        assert payload["target"] == "tests.sweep_fixtures:QUAD"
        assert payload["predict"]["law"] == {"builder": ["text", "E + A*x**(-alpha)", "custom"]}
        assert payload["predict"]["inputs"] == {"x": ["config", "x"]}
