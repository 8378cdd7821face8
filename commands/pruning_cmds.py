"""Data pruning in the teacher–student perceptron: `simulate perceptron`, `predict pruning`, `validate pruning`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from commands.common import (
    DEVICE_OPTION_HELP, JSON_OPTION_HELP, Apps, CLIError, emit, parse_float, parse_float_list, progress,
    stdout_console,
)

_ALPHA_TOT = "Examples scanned per input dimension, alpha_tot = P_tot/N, comma-separated."
_KEEP = "Fraction f of the scanned examples kept (alpha_prune = f * alpha_tot); 1 = no pruning."
_PRUNE = "hard (keep the smallest |probe margin|), easy (the largest) or random."
_ANGLE = "Angle between probe and teacher, in degrees (0 = a perfect probe, 90 = no information)."
_PRUNE_RULES = ("hard", "easy", "random")


def _keep(text: str) -> float:
    f = parse_float(text, "--keep", positive=True)
    if f > 1:
        raise CLIError("--keep", f"must lie in (0, 1], got {text!r}")
    return f


def _angle(text: str) -> float:
    theta = parse_float(text, "--probe-angle", nonnegative=True)
    if theta > 90:
        raise CLIError("--probe-angle", f"must lie in [0, 90] degrees, got {text!r}")
    return theta


def _prune(text: str) -> str:
    if text not in _PRUNE_RULES:
        raise CLIError("--prune", f"must be one of {', '.join(_PRUNE_RULES)}, got {text!r}")
    return text


def _table(title: str, columns: list[tuple[str, list]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for name, _ in columns:
        table.add_column(name, justify="right")
    for row in zip(*[vals for _, vals in columns]):
        table.add_row(*["–" if v is None else v if isinstance(v, str) else f"{v:.5g}" for v in row])
    stdout_console.print(table)


def simulate_perceptron(
    N: Annotated[int, typer.Option("--N", help="Input dimension N.")] = 200,
    alpha_tot: Annotated[str, typer.Option("--alpha-tot", help=_ALPHA_TOT)] = "1,2,4,8,16",
    keep: Annotated[str, typer.Option("--keep", help=_KEEP)] = "1",
    prune: Annotated[str, typer.Option("--prune", help=_PRUNE)] = "hard",
    probe_angle: Annotated[str, typer.Option("--probe-angle", help=_ANGLE)] = "0",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds to average (mean and standard error).")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="First seed (seeds seed, seed+1, ...).")] = 0,
    workers: Annotated[int, typer.Option("--workers", help="Threads running seeds in parallel (0: up to 4, one per core).")] = 0,
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP + " The solver is CPU-only: gpu is an error.")] = "cpu",
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Exact maximum-margin perceptron on probe-pruned data: test error over seeds at each alpha_tot."""
    from sim.backend import cpu_backend
    from sim.perceptron import PerceptronConfig, learning_curve
    from sim.provenance import run_metadata

    alphas = parse_float_list(alpha_tot, "--alpha-tot", positive=True)
    f, rule, theta = _keep(keep), _prune(prune), _angle(probe_angle)
    if seeds < 1:
        raise CLIError("--seeds", f"must be at least 1, got {seeds}")
    if seed < 0:
        raise CLIError("--seed", f"must not be negative, got {seed}")
    if workers < 0:
        raise CLIError("--workers", f"must not be negative, got {workers}")
    if device not in ("cpu", "auto", "gpu"):
        raise CLIError("--device", f"must be cpu, gpu or auto, got {device!r}")
    for a in alphas:  # every configuration is checked before any work
        PerceptronConfig(N=N, alpha_tot=a, keep=f, prune=rule, probe_angle=theta, device=device).validate()
    seed_list = list(range(seed, seed + seeds))
    with progress() as bar:
        task = bar.add_task("max-margin fits", total=len(alphas) * seeds)
        curve = learning_curve(alphas, N=N, keep=f, prune=rule, probe_angle=theta, seeds=seed_list,
                               workers=workers or None, on_done=lambda k, r: bar.advance(task))
    result = {
        "alpha_tot": curve["alpha_tot"],
        "alpha_prune": curve["alpha_prune"],
        "test_error": curve["test_error"],
        "test_error_sem": curve["test_error_sem"],
        "N": N, "keep": f, "prune": rule, "probe_angle": theta, "seeds": seeds,
        "all_exact": curve["all_exact"],
        "provenance": run_metadata(seed_list, {"N": N, "alpha_tot": alphas, "keep": f, "prune": rule,
                                               "probe_angle": theta, "device": device}, cpu_backend().description),
    }
    if device == "auto":
        result["device_note"] = "--device auto ran on cpu (the max-margin solver is CPU-only)"
    if json_out:
        emit(result)
        return
    _table(f"max-margin perceptron, N = {N}, f = {f:g} ({rule}), θ = {theta:g}°, {seeds} seeds",
           [("alpha_tot", result["alpha_tot"]), ("alpha_prune", result["alpha_prune"]),
            ("test error", result["test_error"]), ("s.e.m.", result["test_error_sem"])])


def predict_pruning(
    alpha_tot: Annotated[str, typer.Option("--alpha-tot", help=_ALPHA_TOT)] = "1,2,4,8,16",
    keep: Annotated[str, typer.Option("--keep", help=_KEEP)] = "1",
    prune: Annotated[str, typer.Option("--prune", help=_PRUNE + " Random pruning is no pruning at alpha_prune.")] = "hard",
    probe_angle: Annotated[str, typer.Option("--probe-angle", help=_ANGLE)] = "0",
    pareto: Annotated[Optional[str], typer.Option("--pareto", help="Also the Pareto-optimal error over f at these alpha_prune (comma-separated), the best f, and f_min (the f below which pruning hurts) at each.")] = None,
    keep_min: Annotated[str, typer.Option("--keep-min", help="Smallest f the Pareto search may choose (the largest pool is alpha_prune/keep_min).")] = "1e-3",
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Replica theory (Sorscher et al. 2022): test error, R, rho, kappa of the max-margin student."""
    from theory import pruning

    alphas = parse_float_list(alpha_tot, "--alpha-tot", positive=True)
    f, rule, theta = _keep(keep), _prune(prune), _angle(probe_angle)
    pareto_alpha = parse_float_list(pareto, "--pareto", positive=True) if pareto is not None else None
    fmin_floor = parse_float(keep_min, "--keep-min", positive=True)
    if fmin_floor >= 1:
        raise CLIError("--keep-min", f"must lie in (0, 1), got {keep_min!r}")
    if f < 1e-8:
        raise CLIError("--keep", f"below 1e-8 the theory's quadrature does not resolve the kept band, got {keep!r}")
    if max(alphas) * f > 1e7:
        raise CLIError("--alpha-tot", "alpha_prune above 1e7 is beyond this solver")
    if rule == "random":  # a random subset is an unpruned set of α_prune examples
        out = pruning.predict([a * f for a in alphas], 1.0, 0.0, "hard")
        out["alpha_tot"] = alphas
    else:
        out = pruning.predict(alphas, f, theta, rule)
    result = {k: out[k] for k in ("alpha_tot", "alpha_prune", "test_error", "R", "rho", "kappa")}
    result.update({"support_per_dim": out["support_per_dim"], "converged": out["converged"],
                   "keep": f, "prune": rule, "probe_angle": theta})
    if pareto_alpha is not None:
        with progress() as bar:
            task = bar.add_task("Pareto frontier", total=len(pareto_alpha) + len(pareto_alpha))
            front = pruning.pareto_frontier(pareto_alpha, theta, "hard", keep_min=fmin_floor,
                                            on_step=lambda i: bar.advance(task))
            fmins = []
            for a in front["alpha_prune"]:
                fmins.append(pruning.f_min(theta, a, "hard"))
                bar.advance(task)
        front["f_min"] = fmins
        front["f_min_definition"] = ("at fixed alpha_prune, the smallest f < 1 at which hard pruning by this probe "
                                     "still gives an error no larger than a random subset of the same size; 1.0: "
                                     "pruning hurts for every f < 1; 0.0: it never hurts down to f = 1e-6")
        result["pareto"] = front
    if json_out:
        emit(result)
        return
    _table(f"replica theory, f = {f:g} ({rule}), θ = {theta:g}°",
           [("alpha_tot", result["alpha_tot"]), ("alpha_prune", result["alpha_prune"]),
            ("test error", result["test_error"]), ("R", result["R"]), ("rho", result["rho"]),
            ("kappa", result["kappa"])])
    if pareto_alpha is not None:
        p = result["pareto"]
        _table(f"Pareto frontier over f ≥ {fmin_floor:g}, θ = {theta:g}°",
               [("alpha_prune", p["alpha_prune"]), ("best test error", p["test_error"]),
                ("best f", p["best_keep"]), ("f_min", p["f_min"])])


def validate_pruning(
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
    plot: Annotated[Optional[str], typer.Option("--plot", help="Folder for pruning_pareto.png, pruning_cases.png and pruning_validation.json.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Three cases at N = 200 with 6 seeds and a short Pareto grid (a smoke test, not the 5% claim).")] = False,
    N: Annotated[Optional[int], typer.Option("--N", help="Input dimension (default 400; 200 with --quick).")] = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", help="Seeds per point and per batch (default 20; 6 with --quick).")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="Add batches of seeds until the standard error is at most this fraction of the mean (default 0.015; off with --quick).")] = None,
    max_seeds: Annotated[int, typer.Option("--max-seeds", help="Most seeds per point when --precision asks for more.")] = 100,
    cases: Annotated[Optional[str], typer.Option("--cases", help="Comma-separated case names (default: all).")] = None,
    keep_min: Annotated[str, typer.Option("--keep-min", help="Smallest f of the Pareto search.")] = "1e-3",
    no_pareto: Annotated[bool, typer.Option("--no-pareto", help="Only the cases, no Pareto frontiers.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Threads running seeds in parallel (0: up to 4, one per core).")] = 0,
) -> None:
    """Replica theory against exact simulation over (alpha_tot, f, theta), and the Pareto frontiers."""
    from validate.pruning_validation import case_names, validate_pruning as run
    from validate.runs_io import check_output_dir

    names = None
    if cases is not None:
        names = [c.strip() for c in cases.split(",")]
        unknown = [n for n in names if n not in case_names()]
        if not names or unknown:
            raise CLIError("--cases", f"unknown case {(unknown or [cases])[0]!r} (known: {', '.join(case_names())})")
    fmin = parse_float(keep_min, "--keep-min", positive=True)
    if fmin >= 1:
        raise CLIError("--keep-min", f"must lie in (0, 1), got {keep_min!r}")
    prec = None
    if precision is not None:
        prec = parse_float(precision, "--precision", positive=True)
        if prec >= 1:
            raise CLIError("--precision", f"must lie in (0, 1), got {precision!r}")
    if max_seeds < 2:
        raise CLIError("--max-seeds", f"must be at least 2, got {max_seeds}")
    if N is not None and N < 10:
        raise CLIError("--N", f"must be at least 10, got {N}")
    if seeds is not None and seeds < 2:
        raise CLIError("--seeds", f"need at least 2 for a standard error, got {seeds}")
    if workers < 0:
        raise CLIError("--workers", f"must not be negative, got {workers}")
    check_output_dir(plot, "plot")
    with progress() as bar:
        state = {"task": None}

        def stage(label, total):
            if state["task"] is not None:
                bar.update(state["task"], completed=bar.tasks[state["task"]].total)
            state["task"] = bar.add_task(label, total=total)

        report = run(quick=quick, cases=names, N=N, seeds=seeds, keep_min=fmin, workers=workers or None,
                     precision=prec, max_seeds=max_seeds,
                     plot_dir=plot, pareto=not no_pareto, on_progress=stage,
                     on_advance=lambda: bar.advance(state["task"]))
    out = {
        "cases": [{k: r[k] for k in ("name", "mean_rel_err", "max_rel_err", "alpha_prune", "test_error_sim",
                                     "test_error_sem", "test_error_theory", "seeds")} for r in report["cases"]],
        "settings": report["settings"],
        "all_within_5pct": report["all_within_5pct"],
    }
    if "pareto" in report:
        out["pareto"] = report["pareto"]
    if "plots" in report:
        out["plots"] = report["plots"]
    out["provenance"] = report["provenance"]
    if json_out:
        emit(out)
        return
    _table(f"theory against simulation (N = {report['settings']['N']}, {report['settings']['seeds']} seeds)",
           [("case", [r["name"] for r in report["cases"]]), ("mean rel. err", [r["mean_rel_err"] for r in report["cases"]]),
            ("max rel. err", [r["max_rel_err"] for r in report["cases"]])])
    if "pareto" in report:
        summ = report["pareto"]["summary"]
        _table("Pareto frontiers: local exponents d log ε / d log α_prune",
               [("frontier", list(summ)), ("steepest", [v["steepest_exponent"] for v in summ.values()]),
                ("at window", [str(v["steepest_window"]) for v in summ.values()]),
                ("last", [v["last_exponent"] for v in summ.values()]),
                ("ε·α_prune at the end", [v["error_times_alpha_at_end"] for v in summ.values()])])
    if "plots" in report:
        stdout_console.print("plots: " + ", ".join(report["plots"]))


def register(apps: Apps) -> None:
    apps.simulate.command("perceptron")(simulate_perceptron)
    apps.predict.command("pruning")(predict_pruning)
    apps.validate.command("pruning")(validate_pruning)
