"""`simulate kernel`, `predict kernel`, `simulate rf`, `validate kernel` through the real entry point (`cli.main`)."""

import json

import pytest

import cli
from theory.spectral import power_law_spectrum, power_law_target, test_error


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    assert out.count("\n") == 1  # exactly one JSON object on stdout, nothing else
    return json.loads(out)


def test_simulate_kernel_json(capsys):
    out = run_json(capsys, "simulate", "kernel", "--spectrum-decay", "1.5", "--target-decay", "2", "--noise", "0",
                   "--ridge", "1e-3", "--P", "8,32", "--seeds", "3", "--modes", "400")
    assert out["P"] == [8, 32] and len(out["test_error"]) == len(out["test_error_sem"]) == 2
    assert out["test_error"][1] < out["test_error"][0] and all(s > 0 for s in out["test_error_sem"])
    assert out["device"] == "cpu" and out["provenance"]["seed"] == [0, 1, 2]


def test_device_auto_says_what_ran(capsys):
    out = run_json(capsys, "simulate", "kernel", "--P", "8", "--seeds", "1", "--modes", "100", "--device", "auto")
    assert out["device"] in ("cpu", "gpu") and out["device"] in out["device_note"]


def test_predict_kernel_json_matches_the_library(capsys):
    out = run_json(capsys, "predict", "kernel", "--spectrum-decay", "1.5", "--target-decay", "2", "--noise", "0.1",
                   "--ridge", "1e-3", "--P", "0,16,256", "--modes", "5000")
    assert out["P"] == [0, 16, 256] and out["exponent"] == pytest.approx(1.0)
    expected = test_error(power_law_spectrum(1.5, 5000), power_law_target(2.0, 5000), [0, 16, 256], ridge=1e-3, noise=0.1)
    assert out["test_error"] == pytest.approx(expected.tolist(), rel=1e-12)
    assert out["local_exponent"][0] is None and isinstance(out["local_exponent"][2], float)


def test_predict_kernel_on_digits(capsys):
    out = run_json(capsys, "predict", "kernel", "--data", "digits", "--ridge", "0.1", "--P", "10,100")
    assert out["exponent"] is None and 0 < out["test_error"][1] < out["test_error"][0] < 1


def test_simulate_rf_ridge_and_gd(capsys):
    ridge = run_json(capsys, "simulate", "rf", "--features", "8,32", "--P", "16,64", "--latent-dim", "200", "--seeds", "2")
    assert ridge["features"] == [8, 32] and ridge["P"] == [16, 64] and "steps" not in ridge
    assert len(ridge["test_error"]) == 2 and len(ridge["test_error"][0]) == 2
    gd = run_json(capsys, "simulate", "rf", "--features", "8,32", "--P", "16,64", "--steps", "1,10,100",
                  "--latent-dim", "200", "--seeds", "2")
    assert gd["steps"] == [1, 10, 100] and len(gd["test_error"][1][1]) == 3 and gd["diverged"] is False


def test_validate_kernel_quick_json_and_plots(capsys, tmp_path):
    out = run_json(capsys, "validate", "kernel", "--quick", "--cases", "prior-target,digits-rbf", "--plot", str(tmp_path))
    assert [c["name"] for c in out["cases"]] == ["prior-target", "digits-rbf"]
    for case in out["cases"]:
        assert {"name", "kind", "P", "theory", "simulation", "simulation_sem", "mean_rel_err", "max_rel_err"} <= set(case)
        assert len(case["P"]) == len(case["theory"]) == len(case["simulation"])
        assert case["max_rel_err"] >= case["mean_rel_err"] >= 0
        assert case["mean_rel_err"] < 0.15  # quick runs: few seeds, but theory and simulation must still meet
        assert case["passed"] is None  # the figures to reach apply to full runs only
        assert (tmp_path / f"kernel_{case['name']}.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "kernel_validation.json").read_text())
    assert [c["name"] for c in saved["cases"]] == ["prior-target", "digits-rbf"]


@pytest.mark.parametrize("args,field", [
    (["simulate", "kernel", "--P", "16,abc"], "--P"),
    (["simulate", "kernel", "--ridge", "-1"], "--ridge"),
    (["simulate", "kernel", "--seeds", "0"], "--seeds"),
    (["simulate", "kernel", "--data", "imagenet"], "data"),
    (["simulate", "kernel", "--device", "tpu"], "device"),
    (["simulate", "kernel", "--ridge", "0", "--modes", "10", "--P", "8,64", "--seeds", "1"], "ridge"),
    (["predict", "kernel", "--spectrum-decay", "0"], "--spectrum-decay"),
    (["predict", "kernel", "--data", "digits", "--ridge", "0"], "--ridge"),
    (["simulate", "rf", "--features", "8", "--P", "8", "--ridge", "0"], "ridge"),
    (["simulate", "rf", "--steps", "1,x"], "--steps"),
    (["validate", "kernel", "--cases", "nope"], "cases"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, field):
    code, out, err = run(capsys, *args, "--json")
    assert code == 2 and out == ""
    assert err.startswith(f"error: {field}:") and err.count("\n") == 1 and "Traceback" not in err


def test_validate_kernel_writes_nothing_on_a_bad_plot_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run(capsys, "validate", "kernel", "--quick", "--cases", "prior-target", "--plot", str(blocker))
    assert code == 2 and out == "" and err.startswith("error: plot:")
    assert blocker.read_text() == "x"


def test_infinite_spectrum_predict_and_simulate(capsys):
    from theory.spectral import infinite_power_law_curve

    theory = run_json(capsys, "predict", "kernel", "--spectrum", "infinite", "--spectrum-decay", "1.5", "--target-decay",
                      "2", "--ridge", "1e-3", "--P", "0,16,64", "--modes", "2000")
    assert theory["spectrum"] == "infinite" and theory["test_error"][0] == 1.0
    assert theory["test_error"][1:] == pytest.approx(infinite_power_law_curve(1.5, 2.0, [16, 64], ridge=1e-3).test_error.tolist(), rel=1e-12)
    assert theory["truncation_rel_error"][0] is None and all(abs(e) < 1e-3 for e in theory["truncation_rel_error"][1:])
    sim = run_json(capsys, "simulate", "kernel", "--spectrum", "infinite", "--spectrum-decay", "1.5", "--target-decay",
                   "2", "--ridge", "1e-3", "--P", "16,64", "--modes", "2000", "--seeds", "40")
    assert sim["provenance"]["config"]["spectrum"] == "infinite"
    for s, t, sem in zip(sim["test_error"], theory["test_error"][1:], sim["test_error_sem"]):
        assert abs(s / t - 1) <= 0.06 + 3 * sem / s


@pytest.mark.parametrize("args,field", [
    (["predict", "kernel", "--spectrum", "infinite", "--spectrum-decay", "1"], "spectrum_decay"),
    (["predict", "kernel", "--spectrum", "both"], "--spectrum"),
    (["simulate", "kernel", "--spectrum", "infinite", "--target-decay", "0.5"], "target_decay"),
    (["predict", "kernel", "--spectrum", "infinite", "--data", "digits"], "--spectrum"),
])
def test_infinite_spectrum_bad_input(capsys, args, field):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.startswith(f"error: {field}:")
