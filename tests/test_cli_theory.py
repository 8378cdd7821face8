"""`laws`, `predict LAW`, `predict custom`, `derive LAW` through the real CLI entry point (`cli.main`)."""

import json

import pytest

import cli
from commands.theory_cmds import BUILTIN_LAW_NAMES, TRICK_SYNTAX_TEXT
from theory.laws import builtin_law_names, get_law
from theory.tricks import TRICK_SYNTAX

EPOCH = ["--param", "E=1.8172", "--param", "A=482.01", "--param", "B=2085.43", "--param", "alpha=0.3478", "--param", "beta=0.3658"]
CHINCHILLA_LAW = "E + A/N**alpha + B/D**beta"


def run(capsys, *args):
    """(exit code, stdout, stderr) of `python cli.py ARGS`."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    assert out.count("\n") == 1  # exactly one JSON object, nothing else
    return json.loads(out)


def test_spelled_out_names_match_the_library():
    assert BUILTIN_LAW_NAMES == tuple(builtin_law_names())
    assert TRICK_SYNTAX_TEXT == TRICK_SYNTAX


def test_laws_lists_every_builtin(capsys):
    out = run_json(capsys, "laws")
    assert [law["name"] for law in out["laws"]] == list(BUILTIN_LAW_NAMES)
    assert all({"name", "inputs", "params", "expression", "source"} <= set(law) for law in out["laws"])


PREDICT_LOSS_CASES = {
    "kaplan2020": (["--N", "1e9", "--D", "2e10"], {}),
    "chinchilla": (["--N", "1e9", "--D", "2e10"], {}),
    "chinchilla-rounded": (["--N", "1e9", "--D", "2e10"], {}),
    "chinchilla-epoch": (["--N", "1e9", "--D", "2e10"], {}),
    "muennighoff2023": (["--N", "1e9", "--D", "2e10", "--U", "5e9"], {}),
    "bnsl": (["--x", "1e6"], {"a": 1.0, "b": 2.0, "c0": 0.3, "c1": 0.2, "d1": 1e4, "f1": 0.5}),
    "power-law": (["--x", "1e6"], {"E": 1.0, "A": 2.0, "alpha": 0.3}),
}


@pytest.mark.parametrize("name", BUILTIN_LAW_NAMES)
def test_predict_loss_for_every_builtin_law(capsys, name):
    args, params = PREDICT_LOSS_CASES[name]
    param_args = [a for k, v in params.items() for a in ("--param", f"{k}={v}")]
    out = run_json(capsys, "predict", name, *args, *param_args)
    inputs = {k.lstrip("-"): float(v) for k, v in zip(args[::2], args[1::2])}
    assert out["loss"] == pytest.approx(float(get_law(name).evaluate(inputs, params or None)), rel=1e-14)
    assert out["inputs"] == inputs


@pytest.mark.parametrize("name, tokens, a", [("chinchilla", 59.0, 0.4565), ("chinchilla-rounded", 92.8, 0.4516), ("chinchilla-epoch", 18.4, 0.5126)])
def test_predict_compute_optimal_figures(capsys, name, tokens, a):
    out = run_json(capsys, "predict", name, "--C", "5.88e23")
    assert {"compute", "N_opt", "D_opt", "tokens_per_param", "loss", "a", "b"} <= set(out)
    assert round(out["tokens_per_param"], 1) == tokens and round(out["a"], 4) == a
    assert 6 * out["N_opt"] * out["D_opt"] == pytest.approx(5.88e23, rel=1e-12)


def test_predict_compute_optimal_without_closed_form(capsys):
    out = run_json(capsys, "predict", "muennighoff2023", "--C", "1e22", "--U", "1e10")
    assert out["a"] is None and out["b"] is None and out["closed_form"] is False
    assert out["U"] == 1e10 and out["D_opt"] > 1e10  # more than one epoch of the unique data


def test_predict_with_a_trick(capsys):
    out = run_json(capsys, "predict", "chinchilla", "--C", "1e21", "--trick", "data:4")
    assert out["multiplier"] == pytest.approx(4.0, rel=1e-12)
    assert out["multiplier_class"] == "constant"
    assert out["crosses_10x_at"] is None and out["crosses_100x_at"] is None
    curve = out["multiplier_curve"]
    assert len(curve["compute"]) == len(curve["multiplier"]) == 21
    assert all(m == pytest.approx(4.0, rel=1e-12) for m in curve["multiplier"])
    floor = run_json(capsys, "predict", "chinchilla", "--C", "1e21", "--trick", "floor:-0.05", "--C-range", "1e20,1e22")
    assert floor["multiplier_class"] == "floor-changing" and floor["crosses_10x_at"] < floor["crosses_100x_at"]
    assert floor["multiplier_curve"]["compute"][0] == pytest.approx(1e20)


def test_predict_custom_matches_the_builtin_with_the_same_values(capsys):
    custom = run_json(capsys, "predict", "custom", "--law", CHINCHILLA_LAW, *EPOCH, "--N", "1e9", "--D", "2e10")
    builtin = run_json(capsys, "predict", "chinchilla-epoch", "--N", "1e9", "--D", "2e10")
    assert custom["loss"] == pytest.approx(builtin["loss"], rel=1e-14)
    custom_opt = run_json(capsys, "predict", "custom", "--law", CHINCHILLA_LAW, *EPOCH, "--C", "5.88e23")
    assert round(custom_opt["tokens_per_param"], 1) == 18.4 and round(custom_opt["a"], 4) == 0.5126


def test_derive_json(capsys):
    out = run_json(capsys, "derive", "chinchilla")
    assert out["closed_form"] is True
    assert out["expressions"]["a"] == "beta/(alpha + beta)"
    assert out["expressions"]["G"] == "(A*alpha/(B*beta))**(1/(alpha + beta))"
    assert out["latex"]["a"] == r"\frac{\beta}{\alpha + \beta}"
    assert round(out["values"]["a"], 4) == 0.4565 and round(out["values"]["G"], 3) == 1.300
    assert round(out["at_compute"]["tokens_per_param"], 1) == 59.0
    kaplan = run_json(capsys, "derive", "kaplan2020", "--C", "1e22")
    assert kaplan["expressions"]["a"] == "alpha_D/(alpha_D + alpha_N)" and kaplan["at_compute"]["compute"] == 1e22
    muennighoff = run_json(capsys, "derive", "muennighoff2023")
    assert muennighoff["closed_form"] is False and muennighoff["note"] and "N_opt" not in muennighoff["expressions"]
    assert muennighoff["at_compute"]["N_opt"] > 0
    custom = run_json(capsys, "derive", "custom", "--law", CHINCHILLA_LAW)  # no values: expressions only
    assert custom["expressions"]["a"] == "beta/(alpha + beta)" and "values" not in custom


def test_human_output(capsys):
    code, out, err = run(capsys, "derive", "chinchilla")
    assert code == 0 and "N_opt(C)" in out and "LaTeX" in out and "0.456526" in out
    code, out, err = run(capsys, "predict", "chinchilla", "--C", "1e21", "--trick", "alpha:+0.02")
    assert code == 0 and "compute-optimal allocation" in out and "growing" in out
    code, out, err = run(capsys, "predict", "chinchilla", "--N", "1e9", "--D", "2e10")
    assert code == 0 and "loss" in out


def test_help_documents_the_trick_syntax(capsys):
    code, out, err = run(capsys, "predict", "chinchilla", "--help")
    flat = " ".join(out.split())
    assert code == 0 and "compute:M" in flat and "unique-data:U" in flat and "floor:-X" in flat


def test_plot_writes_png_and_json(capsys, tmp_path):
    target = tmp_path / "plots"
    out = run_json(capsys, "predict", "chinchilla", "--C", "1e21", "--trick", "alpha:+0.02", "--plot", str(target))
    assert sorted(p.name for p in target.iterdir()) == ["multiplier_curve.json", "multiplier_curve.png"]
    assert (target / "multiplier_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((target / "multiplier_curve.json").read_text())["multiplier_class"] == "growing"
    assert out["plot"] == [str(target / "multiplier_curve.png"), str(target / "multiplier_curve.json")]


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "chinchilla", "--N", "-1", "--D", "1e9"],
        ["predict", "chinchilla", "--N", "0", "--D", "1e9"],
        ["predict", "chinchilla", "--N", "nan", "--D", "1e9"],
        ["predict", "chinchilla", "--N", "inf", "--D", "1e9"],
        ["predict", "chinchilla", "--N", "many", "--D", "1e9"],
        ["predict", "chinchilla", "--N", "1e9"],
        ["predict", "chinchilla", "--C", "-5"],
        ["predict", "chinchilla", "--C", "nan"],
        ["predict", "chinchilla", "--C", "3"],
        ["predict", "no-such-law", "--N", "1e9"],
        ["derive", "no-such-law"],
        ["predict", "chinchilla", "--N", "1e9", "--D", "1e9", "--param", "Z=1"],
        ["predict", "chinchilla", "--N", "1e9", "--D", "1e9", "--param", "E=nan"],
        ["predict", "chinchilla", "--N", "1e9", "--D", "1e9", "--param", "E"],
        ["predict", "chinchilla", "--N", "1e9", "--D", "1e9", "--param-set", "bogus"],
        ["predict", "chinchilla", "--N", "1e9", "--D", "1e9", "--U", "1e9"],
        ["predict", "chinchilla", "--N", "1e9", "--D", "1e9", "--law", CHINCHILLA_LAW],
        ["predict", "custom", "--law", "__import__('os').system('echo hacked')", "--N", "1"],
        ["predict", "custom", "--law", "N.__class__", "--N", "1"],
        ["predict", "custom", "--law", "", "--N", "1"],
        ["predict", "custom", "--N", "1e9", "--D", "1e9"],
        ["predict", "custom", "--law", CHINCHILLA_LAW, "--N", "1e9", "--D", "1e9", "--param", "E=1"],
        ["predict", "custom", "--law", "log(N - 1e12) + E", "--N", "1e9", "--param", "E=1"],
        ["predict", "chinchilla", "--N", "1e9", "--D", "1e9", "--trick", "data:4"],
        ["predict", "chinchilla", "--C", "1e21", "--trick", "warp:9"],
        ["predict", "chinchilla", "--C", "1e21", "--trick", "data:-4"],
        ["predict", "chinchilla", "--C", "1e21", "--trick", "alpha:-1"],
        ["predict", "kaplan2020", "--C", "1e21", "--trick", "floor:-0.1"],
        ["predict", "chinchilla", "--C", "1e21", "--trick", "data:4", "--C-range", "1e22,1e20"],
        ["predict", "chinchilla", "--C", "1e21", "--trick", "data:4", "--C-range", "1e20"],
        ["predict", "chinchilla", "--C", "1e21", "--N", "1e9"],
        ["predict", "power-law", "--C", "1e21", "--param", "E=1", "--param", "A=1", "--param", "alpha=0.5"],
        ["predict", "bnsl", "--x", "1e6"],
        ["derive", "power-law", "--param", "E=1", "--param", "A=1", "--param", "alpha=0.5"],
        ["derive", "chinchilla", "--C", "0"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args):
    for json_flag in ([], ["--json"]):
        code, out, err = run(capsys, *args, *json_flag)
        assert code == 2
        assert out == ""
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err and "hacked" not in out


def test_nothing_is_written_on_bad_input(capsys, tmp_path):
    target = tmp_path / "plots"
    code, out, err = run(capsys, "predict", "chinchilla", "--C", "1e21", "--trick", "warp:9", "--plot", str(target))
    assert code == 2 and not target.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, out, err = run(capsys, "predict", "chinchilla", "--C", "1e21", "--trick", "data:2", "--plot", str(a_file))
    assert code == 2 and a_file.read_text() == "x"
