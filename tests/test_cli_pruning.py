"""`simulate perceptron`, `predict pruning`, `validate pruning` through the real entry point (`cli.main`)."""

import json

import pytest

import cli


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    assert out.count("\n") == 1  # exactly one JSON object on stdout, nothing else
    return json.loads(out)


def test_simulate_perceptron_json(capsys):
    out = run_json(capsys, "simulate", "perceptron", "--N", "60", "--alpha-tot", "1,4", "--keep", "0.5", "--prune",
                   "hard", "--probe-angle", "10", "--seeds", "3", "--workers", "1")
    assert {"alpha_tot", "alpha_prune", "test_error", "test_error_sem"} <= set(out)
    assert out["alpha_tot"] == [1.0, 4.0] and out["alpha_prune"] == [0.5, 2.0]
    assert all(0 < e < 0.5 for e in out["test_error"]) and out["test_error"][1] < out["test_error"][0]
    assert all(s > 0 for s in out["test_error_sem"]) and out["all_exact"]
    assert out["provenance"]["seed"] == [0, 1, 2] and out["provenance"]["device"].startswith("cpu")


def test_simulate_is_reproducible(capsys):
    args = ("simulate", "perceptron", "--N", "40", "--alpha-tot", "3", "--seeds", "2", "--seed", "5")
    assert run_json(capsys, *args)["test_error"] == run_json(capsys, *args, "--workers", "2")["test_error"]


def test_predict_pruning_json(capsys):
    out = run_json(capsys, "predict", "pruning", "--alpha-tot", "4,8", "--keep", "1")
    assert set(out) >= {"alpha_tot", "alpha_prune", "test_error", "R", "rho", "kappa"}
    assert out["test_error"][0] == pytest.approx(0.11366, abs=1e-5)  # the classical max-margin curve
    hard = run_json(capsys, "predict", "pruning", "--alpha-tot", "22", "--keep", "0.1", "--prune", "hard",
                    "--probe-angle", "0")
    assert hard["alpha_prune"] == [pytest.approx(2.2)] and hard["test_error"][0] == pytest.approx(0.0356, abs=2e-4)
    rand = run_json(capsys, "predict", "pruning", "--alpha-tot", "8", "--keep", "0.5", "--prune", "random")
    assert rand["test_error"][0] == pytest.approx(out["test_error"][0])  # random half of 8 = all of 4


def test_predict_pruning_pareto(capsys):
    out = run_json(capsys, "predict", "pruning", "--alpha-tot", "10", "--probe-angle", "20", "--pareto", "20",
                   "--keep-min", "0.01")
    p = out["pareto"]
    assert p["alpha_prune"] == [20.0] and len(p["best_keep"]) == len(p["f_min"]) == 1
    assert 0.1 < p["best_keep"][0] < 0.3 and p["test_error"][0] < 0.5 * out["test_error"][0]  # vs f = 1
    assert 0.01 < p["f_min"][0] < p["best_keep"][0]


def test_validate_pruning_quick_with_plots(capsys, tmp_path):
    out = run_json(capsys, "validate", "pruning", "--quick", "--N", "80", "--seeds", "3", "--plot", str(tmp_path),
                   "--workers", "1")
    names = [c["name"] for c in out["cases"]]
    assert names == ["no-pruning", "hard-f0.3-theta20", "hard-f0.3-theta90"]
    assert all(set(c) >= {"name", "mean_rel_err", "max_rel_err"} for c in out["cases"])
    assert all(c["max_rel_err"] < 0.25 for c in out["cases"])  # N = 80, 3 seeds: a smoke test
    fronts = out["pareto"]["frontiers"]
    assert set(fronts) == {"none", "theta=0", "theta=20"}
    assert all(w["window"] and "exponent" in w for w in fronts["theta=20"]["local_exponents"])
    for name in ("pruning_pareto.png", "pruning_cases.png", "pruning_validation.json"):
        assert (tmp_path / name).stat().st_size > 1000
    assert json.loads((tmp_path / "pruning_validation.json").read_text())["settings"]["N"] == 80


@pytest.mark.parametrize("args,field", [
    (("simulate", "perceptron", "--keep", "0"), "--keep"),
    (("simulate", "perceptron", "--keep", "1.2"), "--keep"),
    (("simulate", "perceptron", "--alpha-tot", "1,,2"), "--alpha-tot"),
    (("simulate", "perceptron", "--alpha-tot", "-3"), "--alpha-tot"),
    (("simulate", "perceptron", "--prune", "medium"), "--prune"),
    (("simulate", "perceptron", "--probe-angle", "100"), "--probe-angle"),
    (("simulate", "perceptron", "--seeds", "0"), "--seeds"),
    (("simulate", "perceptron", "--device", "gpu"), "device"),
    (("simulate", "perceptron", "--N", "1"), "N"),
    (("predict", "pruning", "--keep", "nan"), "--keep"),
    (("predict", "pruning", "--pareto", "1,x"), "--pareto"),
    (("predict", "pruning", "--keep-min", "1"), "--keep-min"),
    (("validate", "pruning", "--cases", "nope"), "--cases"),
    (("validate", "pruning", "--seeds", "1"), "--seeds"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, field):
    code, out, err = run(capsys, *args, "--json")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:")


def test_plot_path_that_is_a_file_writes_nothing(capsys, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, out, err = run(capsys, "validate", "pruning", "--quick", "--plot", str(target), "--json")
    assert code == 2 and out == "" and err.startswith("error: plot:")
    assert target.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
