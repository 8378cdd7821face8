"""The whitelist law parser: what it accepts builds the right sympy; everything else is refused."""

import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory.errors import InputError
from theory.laws import INPUTS, get_law, law_from_spec
from theory.parse import MAX_LAW_CHARS, parse_law

CHINCHILLA_TEXT = "E + A/N**alpha + B/D**beta"
REPO = Path(__file__).resolve().parents[1]


def test_chinchilla_text_builds_the_builtin_expression():
    law = parse_law(CHINCHILLA_TEXT)
    assert sp.simplify(law.expr - get_law("chinchilla").expr) == 0
    assert law.input_names == ("N", "D")
    assert law.param_names == ("E", "A", "alpha", "B", "beta")  # order of first appearance
    assert all(p.is_positive for p in law.params)
    assert law.builder == ("text", CHINCHILLA_TEXT, "custom")


@given(
    E=st.floats(0.5, 3), A=st.floats(1, 1e4), B=st.floats(1, 1e4), alpha=st.floats(0.05, 1), beta=st.floats(0.05, 1),
    logN=st.floats(5, 40), logD=st.floats(5, 40),
)
def test_parsed_law_evaluates_like_the_builtin(E, A, B, alpha, beta, logN, logD):
    values = dict(E=E, A=A, B=B, alpha=alpha, beta=beta)
    inputs = {"N": math.exp(logN), "D": math.exp(logD)}
    parsed = parse_law(CHINCHILLA_TEXT).evaluate(inputs, values)
    builtin = get_law("chinchilla").evaluate(inputs, values)
    assert parsed == pytest.approx(builtin, rel=1e-13)


def test_functions_and_operators():
    law = parse_law("max(E, 1) + exp(-k*x) + log(x)/sqrt(x) - min(x, c)**2 / 4 + -(+x)")
    assert law.input_names == ("x",)
    assert set(law.param_names) == {"E", "k", "c"}
    xv, E, k, c = 2.5, 0.7, 0.3, 1.1
    expected = max(E, 1) + math.exp(-k * xv) + math.log(xv) / math.sqrt(xv) - min(xv, c) ** 2 / 4 - xv
    assert law.evaluate({"x": xv}, {"E": E, "k": k, "c": c}) == pytest.approx(expected, rel=1e-13)


def test_inputs_are_the_shared_symbols_and_others_are_parameters():
    law = parse_law("a*N + b*D + c*C + d*P + e*U + f*x")
    assert law.inputs == tuple(INPUTS.values())
    assert law.param_names == ("a", "b", "c", "d", "e", "f")


def test_numeric_powers_are_folded_in_floating_point():
    law = parse_law("2**10 * N + 3**0.5*D")
    assert law.params == ()
    assert law.evaluate({"N": 1.0, "D": 1.0}) == pytest.approx(1024 + math.sqrt(3), rel=1e-14)


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("__import__('os').system('echo hacked')", "only calls of exp"),
        ("__import__('os')", "unknown function '__import__'"),
        ("N.__class__", "attribute"),
        ("(1).__class__.__bases__[0]", "subscript"),
        ("N[0]", "subscript"),
        ("'E' + N", "not str"),
        ("b'x' + N", "not bytes"),
        ("lambda: N", "lambda"),
        ("foo(N)", "unknown function 'foo'"),
        ("exp(N, D)", "exactly one argument"),
        ("max(N)", "at least two"),
        ("exp(x=N)", "keyword"),
        ("exp(*N)", "*argument"),
        ("N^2", "write **"),
        ("N // 2", "'//'"),
        ("N if D else x", "if-expression"),
        ("N < D", "comparison"),
        ("N and D", "and/or"),
        ("[N]", "list"),
        ("N, D", "tuple"),
        ("(N := 3)", "assignment"),
        ("f'{N}'", "f-string"),
        ("not N", "unary"),
        ("N; D", "not a formula"),
        ("import os", "not a formula"),
        ("E + A", "none of the inputs"),
        ("exp + N", "is a function"),
        ("_secret + N", "must not start with '_'"),
        ("1e999 * N", "finite"),
        ("9**9**9**9 * N", "finite real"),
        ("(-1)**0.5 * N", "finite real"),
        ("N / 0", "division by zero"),
        ("True * N", "not bool"),
        ("1j * N", "not complex"),
        ("N" + "+N" * 300, "at most"),
        ("(" * 240 + "N" + ")" * 240, "too many nested parentheses"),
    ],
)
def test_refused_text(text, words):
    with pytest.raises(InputError) as info:
        parse_law(text)
    assert info.value.field == "law"
    assert words in info.value.problem
    assert "\n" not in str(info.value)


def test_refused_text_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    for text in (f"__import__('os').system('touch {marker}')", f"open('{marker}', 'w')", f"exec('open({str(marker)!r}, \"w\")')"):
        with pytest.raises(InputError):
            parse_law(text)
    assert not marker.exists()


def test_deep_unary_nesting_within_the_length_limit_is_fine():
    law = parse_law("-" * (MAX_LAW_CHARS - 2) + "N")  # an even count of minus signs: +N
    assert law.evaluate({"N": 3.0}) == pytest.approx(3.0)


def test_rebuilds_from_plain_data_in_this_process_and_another():
    law = parse_law("E + A/x**alpha", name="mine")
    assert law_from_spec(law.spec()) is law
    assert pickle.loads(pickle.dumps(law)) is law
    code = (
        "from theory.laws import law_from_spec\n"
        f"law = law_from_spec({law.spec()!r})\n"
        "print(law.name, law.evaluate({'x': 4.0}, {'E': 1.0, 'A': 2.0, 'alpha': 0.5}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    name, value = out.stdout.split()
    assert name == "mine" and float(value) == pytest.approx(2.0)


def test_parsed_law_broadcasts_over_arrays():
    law = parse_law(CHINCHILLA_TEXT)
    values = get_law("chinchilla").default_param_set.as_dict()
    N = np.array([1e8, 1e9, 1e10])
    out = law.evaluate({"N": N, "D": 2e10}, values)
    assert out.shape == (3,) and np.all(np.diff(out) < 0)
