"""Commands that fit laws to runs: `fit`, `validate extrapolation`, `validate huber-reduction`,
`validate fit-coverage`. Thin shells over `validate.fit`, `validate.bootstrap`, `validate.isoflop`,
`validate.extrapolation` and `validate.fit_studies`."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from commands.common import JSON_OPTION_HELP, Apps, CLIError, emit, parse_key_values, stderr_console, stdout_console

FILE_HELP = "Runs: a CSV file with a header, or JSON (a list of records, {\"runs\": [...]}, or column -> list)."
LAW_HELP = "A built-in law name (see `laws`) or law text such as 'E + A/N**alpha + B/D**beta'."
DEFAULT_AT_COMPUTE = 5.88e23


# --- shared pieces --------------------------------------------------------------------------------

def _load_runs(file: Path, law, n_col, c_col, d_col, loss_col, cols, drop_highest_loss, extra_need=()):
    from validate.runs_io import load_runs

    columns = {"N": n_col, "C": c_col, "D": d_col}
    columns.update({k: v for k, v in _parse_cols(cols).items()})
    columns = {k: v for k, v in columns.items() if v is not None}
    need = tuple(law.input_names) + tuple(n for n in extra_need if n not in law.input_names)
    return load_runs(file, columns=columns, loss_col=loss_col, need=need, drop_highest_loss=drop_highest_loss)


def _parse_cols(items) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, col = item.partition("=")
        if not sep or not name.strip() or not col.strip():
            raise CLIError("--col", f"expected INPUT=COLUMN (e.g. x=steps), got {item!r}")
        out[name.strip()] = col.strip()
    return out


def _parse_point(text: str, law) -> dict[str, float]:
    """'N=7e10,D=1.4e12' -> {'N': 7e10, 'D': 1.4e12}, with every input of the law, all positive."""
    point = parse_key_values([t for t in text.split(",") if t.strip()], "--predict-at")
    missing = [n for n in law.input_names if n not in point]
    extra = [n for n in point if n not in law.input_names]
    if missing or extra:
        raise CLIError("--predict-at", f"give exactly the law's inputs {', '.join(law.input_names)} (got {text!r})")
    if any(v <= 0 for v in point.values()):
        raise CLIError("--predict-at", f"inputs must be positive (got {text!r})")
    return point


def _workers(workers: int) -> int | None:
    if workers < 0:
        raise CLIError("--workers", f"must be 0 (one per core) or more, got {workers}")
    return None if workers == 0 else workers


@contextlib.contextmanager
def _progress_callback(description: str, enabled: bool = True):
    """A callback progress(done, total) drawing a bar on stderr (only when stderr is a terminal, so
    logs and captured stderr get nothing but error lines)."""
    if not enabled or not stderr_console.is_terminal:
        yield None
        return
    from commands.common import progress

    with progress() as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _law(law_text: str):
    from validate.fit import resolve_law

    return resolve_law(law_text)


N_COL = Annotated[Optional[str], typer.Option("--n-col", help="Column of parameters N (default: N, 'Model Size', params, ...).")]
C_COL = Annotated[Optional[str], typer.Option("--c-col", help="Column of training FLOPs C (default: C, 'Training FLOP', flops, ...).")]
D_COL = Annotated[Optional[str], typer.Option("--d-col", help="Column of tokens D (default: D, tokens, ...; else D = C/(6N)).")]
LOSS_COL = Annotated[Optional[str], typer.Option("--loss-col", help="Column of final losses (default: loss, Loss, L, ...).")]
COLS = Annotated[list[str], typer.Option("--col", help="Other inputs: INPUT=COLUMN, e.g. x=steps or U=unique_tokens (repeatable).")]
DROP = Annotated[int, typer.Option("--drop-highest-loss", min=0, help="Drop this many runs with the largest loss first (Epoch drops 5).")]
WORKERS = Annotated[int, typer.Option("--workers", help="Processes for the bootstrap (0: one per core).")]
SEED = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resamples.")]
JSON = Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)]


# --- fit ------------------------------------------------------------------------------------------

def fit_command(
    file: Annotated[Path, typer.Argument(help=FILE_HELP, show_default=False)],
    law: Annotated[str, typer.Option("--law", help=LAW_HELP)] = "chinchilla",
    n_col: N_COL = None,
    c_col: C_COL = None,
    d_col: D_COL = None,
    loss_col: LOSS_COL = None,
    col: COLS = [],
    drop_highest_loss: DROP = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap refits for standard errors and 95% intervals (0: none).")] = 200,
    at_compute: Annotated[float, typer.Option("--at-compute", help="FLOPs at which a, b, tokens per parameter and the optimal loss are reported.")] = DEFAULT_AT_COMPUTE,
    huber_reduction: Annotated[str, typer.Option("--huber-reduction", help="sum (Hoffmann/Epoch) or mean (stops L-BFGS early; kept for comparison).")] = "sum",
    loss: Annotated[str, typer.Option("--loss", help="huber or squared, on log losses.")] = "huber",
    delta: Annotated[float, typer.Option("--delta", help="Huber delta.")] = 1e-3,
    bootstrap_from: Annotated[str, typer.Option("--bootstrap-from", help="grid (refits start from grid points that reached the optimum) or estimate (naive; too narrow).")] = "grid",
    isoflop: Annotated[bool, typer.Option("--isoflop/--no-isoflop", help="Also fit isoFLOP parabolas (Approach 2) when the runs have N and C.")] = True,
    predict_at: Annotated[list[str], typer.Option("--predict-at", help="Also report the predicted loss, with its interval, at a point: 'N=7e10,D=1.4e12' (repeatable).")] = [],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write PNG figures (isoFLOP profiles, loss vs compute, residuals) to this directory.")] = None,
    workers: WORKERS = 0,
    seed: SEED = 0,
    json_out: JSON = False,
) -> None:
    """Fit a scaling law to runs (summed Huber on log loss, L-BFGS from a grid) with bootstrap intervals."""
    import numpy as np

    from sim.provenance import run_metadata
    from validate.bootstrap import bootstrap_fit
    from validate.fit import compute_optimal_samples, fit_law, has_compute_optimum
    from validate.runs_io import check_output_dir

    if not (math.isfinite(at_compute) and at_compute > 0):
        raise CLIError("--at-compute", f"must be a positive number of FLOPs, got {at_compute!r}")
    if huber_reduction not in ("sum", "mean"):
        raise CLIError("--huber-reduction", f"expected sum or mean, got {huber_reduction!r}")
    if loss not in ("huber", "squared"):
        raise CLIError("--loss", f"expected huber or squared, got {loss!r}")
    if not (math.isfinite(delta) and delta > 0):
        raise CLIError("--delta", f"must be positive, got {delta!r}")
    if bootstrap_from not in ("grid", "estimate"):
        raise CLIError("--bootstrap-from", f"expected grid or estimate, got {bootstrap_from!r}")
    if bootstrap == 1:
        raise CLIError("--bootstrap", "needs 0 (none) or at least 2 refits")
    check_output_dir(plot, "--plot")
    nworkers = _workers(workers)
    the_law = _law(law)
    points = [_parse_point(text, the_law) for text in predict_at]
    runs = _load_runs(file, the_law, n_col, c_col, d_col, loss_col, col, drop_highest_loss)
    inputs = runs.inputs_for(the_law)
    fit = fit_law(the_law, inputs, runs.loss, loss=loss, delta=delta, reduction=huber_reduction, seed=seed)
    boot = None
    if bootstrap:
        with _progress_callback(f"bootstrap ({bootstrap} refits)") as cb:
            boot = bootstrap_fit(fit, inputs, runs.loss, n_bootstrap=bootstrap, seed=seed, workers=nworkers,
                                 compute=at_compute, predict_at=points, refit_from=bootstrap_from, progress=cb)
    derived = {}
    if has_compute_optimum(the_law):
        co = compute_optimal_samples(the_law, np.array([[fit.params[n] for n in the_law.param_names]]), at_compute)
        derived = {("loss_opt" if k == "loss" else k): float(v[0]) for k, v in co.items()}
    iso = None
    iso_out = None
    if isoflop and has_compute_optimum(the_law) and runs.has("N") and runs.has("C"):
        from theory.errors import InputError
        from validate.isoflop import isoflop_fit

        try:
            iso = isoflop_fit(runs.get("N"), runs.loss, runs.compute(), n_bootstrap=max(bootstrap, 200), seed=seed)
            iso_out = iso.summary()
        except InputError as exc:
            iso_out = {"error": exc.problem}
    from validate.bootstrap import predict_samples

    row = np.array([[fit.params[n] for n in the_law.param_names]])
    se = boot.se() if boot else None
    ci = boot.ci(0.95) if boot else None
    predictions = [{"inputs": p, "loss": float(predict_samples(the_law, row, p)[0, 0]),
                    "se": se[f"loss_at_{j}"] if boot else None,
                    "ci95": ci[f"loss_at_{j}"] if boot else None} for j, p in enumerate(points)]
    out = {
        "law": the_law.name,
        "n_points": runs.n,
        "n_dropped": runs.dropped,
        "params": fit.params,
        "se": se,
        "ci95": ci,
        "a": derived.get("a"),
        "b": derived.get("b"),
        "tokens_per_param": derived.get("tokens_per_param"),
        "at_compute": at_compute if derived else None,
        "compute_optimal": derived or None,
        "converged": fit.converged,
        "message": fit.message,
        "objective": fit.objective,
        "fit": {k: v for k, v in fit.summary().items() if k not in ("params", "converged", "message", "objective")},
        "n_bootstrap": boot.n_bootstrap if boot else 0,
        "n_bootstrap_failed": boot.n_failed if boot else 0,
        "bootstrap_from": bootstrap_from if boot else None,
        "predictions": predictions,
        "isoflop": iso_out,
        "columns": dict(runs.column_names),
        "provenance": run_metadata(seed, {"file": str(file), "law": the_law.spec(), "drop_highest_loss": drop_highest_loss,
                                          "bootstrap": bootstrap, "huber_reduction": huber_reduction, "loss": loss,
                                          "delta": delta, "at_compute": at_compute}, "cpu"),
    }
    if plot is not None:
        out["plots"] = _write_fit_plots(plot, runs, fit, boot, iso)
    if json_out:
        emit(out)
    else:
        _print_fit(out)
    if not fit.converged:
        stderr_console.print(f"[red]the fit did not converge:[/red] {fit.message}")
        raise typer.Exit(1)


def _write_fit_plots(plot: Path, runs, fit, boot, iso) -> list[str]:
    from validate import plots_fit
    from validate.fit import has_compute_optimum

    plot.mkdir(parents=True, exist_ok=True)
    written = []
    if iso is not None:
        written.append(plots_fit.plot_isoflop_profiles(runs, fit, iso, plot / "isoflop_profiles.png"))
    if has_compute_optimum(fit.law) and runs.has("C"):
        written.append(plots_fit.plot_loss_vs_compute(runs, fit, plot / "loss_vs_compute.png", boot))
    elif len(fit.law.input_names) == 1:
        written.append(plots_fit.plot_law_curve(runs, fit, plot / "law_curve.png"))
    written.append(plots_fit.plot_residuals(runs, fit, plot / "residuals.png"))
    return [str(p) for p in written]


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.4g}"


def _print_fit(out: dict) -> None:
    from rich.table import Table

    t = Table(title=f"{out['law']} fitted to {out['n_points']} runs ({out['fit']['reduction']} of {out['fit']['loss']} loss)")
    for c in ("quantity", "estimate", "bootstrap SE", "95% interval"):
        t.add_column(c)
    se, ci = out["se"] or {}, out["ci95"] or {}
    rows = list(out["params"].items()) + [(k, v) for k, v in (out["compute_optimal"] or {}).items()]
    for k, v in rows:
        interval = ci.get(k)
        t.add_row(k, _fmt(v), _fmt(se.get(k)), f"({_fmt(interval[0])}, {_fmt(interval[1])})" if interval else "-")
    stdout_console.print(t)
    if out["compute_optimal"]:
        stdout_console.print(f"compute-optimal quantities at C = {out['at_compute']:.3g} FLOPs")
    for p in out.get("predictions", []):
        where = ", ".join(f"{k} = {v:.3g}" for k, v in p["inputs"].items())
        ci = p["ci95"]
        stdout_console.print(f"predicted loss at {where}: {p['loss']:.4f}" + (f" (95% interval {ci[0]:.4f}, {ci[1]:.4f})" if ci else ""))
    iso = out.get("isoflop")
    if iso and "a" in iso:
        ci_a = iso["ci95"].get("a")
        stdout_console.print(f"isoFLOP profiles (Approach 2): a = {iso['a']:.3f}" + (f" ({ci_a[0]:.3f}, {ci_a[1]:.3f})" if ci_a else "")
                             + f", b = {iso['b']:.3f}, from {sum(p['used'] for p in iso['profiles'])} profiles")
    stdout_console.print(f"converged: {out['converged']} ({out['message']}); {out['n_bootstrap']} bootstrap refits, {out['n_bootstrap_failed']} failed")
    for p in out.get("plots", []):
        stdout_console.print(f"wrote {p}")


# --- validate extrapolation ---------------------------------------------------------------------

def extrapolation_command(
    file: Annotated[Optional[Path], typer.Argument(help=FILE_HELP + " Omit it with --simulator.", show_default=False)] = None,
    holdout_above_compute: Annotated[Optional[float], typer.Option("--holdout-above-compute", help="Fit on runs below this many FLOPs; predict the runs at or above it (with --simulator: default largest compute / 16).", show_default=False)] = None,
    simulator: Annotated[Optional[str], typer.Option("--simulator", help="Instead of FILE: sweep this simulator (rf or transformer), fit below the cut-off, predict the runs 4-16x above it.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="With --simulator: a small design (seconds; for tests).")] = False,
    store: Annotated[Optional[Path], typer.Option("--store", help="With --simulator: keep the runs in this results store (a rerun reuses them); default a temporary one.")] = None,
    law: Annotated[str, typer.Option("--law", help=LAW_HELP)] = "chinchilla",
    min_factor: Annotated[float, typer.Option("--min-factor", help="Hold out only runs with C >= cut-off x this.")] = 1.0,
    max_factor: Annotated[float, typer.Option("--max-factor", help="Hold out only runs with C <= cut-off x this (default: no limit).")] = math.inf,
    n_col: N_COL = None,
    c_col: C_COL = None,
    d_col: D_COL = None,
    loss_col: LOSS_COL = None,
    col: COLS = [],
    drop_highest_loss: DROP = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=2, help="Bootstrap refits for the intervals.")] = 200,
    alpha: Annotated[float, typer.Option("--alpha", help="1 - interval level (0.05: 95% intervals).")] = 0.05,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write extrapolation.png to this directory.")] = None,
    workers: WORKERS = 0,
    seed: SEED = 0,
    json_out: JSON = False,
) -> None:
    """Fit below a compute cut-off and predict held-out larger runs: errors and interval coverage.

    Runs come from FILE, or from a sweep of a simulator (--simulator rf|transformer; the fixed
    design of validate/sim_extrapolation.py, held out 4-16x above the cut-off)."""
    from sim.provenance import run_metadata
    from validate.runs_io import check_output_dir

    if holdout_above_compute is not None and not (math.isfinite(holdout_above_compute) and holdout_above_compute > 0):
        raise CLIError("--holdout-above-compute", f"must be a positive number of FLOPs, got {holdout_above_compute!r}")
    if not 0 < alpha < 1:
        raise CLIError("--alpha", f"must lie between 0 and 1, got {alpha!r}")
    if not (min_factor >= 1 and max_factor >= min_factor):
        raise CLIError("--min-factor", f"need 1 <= --min-factor <= --max-factor, got {min_factor!r}, {max_factor!r}")
    check_output_dir(plot, "--plot")
    nworkers = _workers(workers)
    if simulator is not None:
        from validate.sim_extrapolation import SIMULATORS

        if file is not None:
            raise CLIError("FILE", "give either a runs file or --simulator, not both")
        if simulator not in SIMULATORS:
            raise CLIError("--simulator", f"expected one of {', '.join(SIMULATORS)}, got {simulator!r}")
        if min_factor != 1.0 or not math.isinf(max_factor):
            raise CLIError("--min-factor", "with --simulator the held-out runs are those 4-16x above the cut-off")
        if store is not None:
            from validate.store import Store

            Store.check(store)
        _simulator_extrapolation(simulator, quick, store, holdout_above_compute, law, bootstrap, alpha, plot,
                                 nworkers, seed, json_out)
        return
    if file is None:
        raise CLIError("FILE", "give a runs file, or --simulator rf|transformer")
    if quick or store is not None:
        raise CLIError("--quick" if quick else "--store", "only applies with --simulator")
    if holdout_above_compute is None:
        raise CLIError("--holdout-above-compute", "needed with a runs file (FLOPs: fit below, predict at or above)")
    from validate.extrapolation import extrapolation_test

    the_law = _law(law)
    runs = _load_runs(file, the_law, n_col, c_col, d_col, loss_col, col, drop_highest_loss, extra_need=("C",))
    with _progress_callback(f"bootstrap ({bootstrap} refits)") as cb:
        res = extrapolation_test(the_law, runs, holdout_above_compute, min_factor=min_factor, max_factor=max_factor,
                                 n_bootstrap=bootstrap, alpha=alpha, seed=seed, workers=nworkers, progress=cb)
    out = res.summary()
    out["provenance"] = run_metadata(seed, {"file": str(file), "law": the_law.spec(), "holdout_above_compute": holdout_above_compute,
                                            "min_factor": min_factor, "max_factor": max_factor if math.isfinite(max_factor) else None,
                                            "bootstrap": bootstrap, "alpha": alpha, "drop_highest_loss": drop_highest_loss}, "cpu")
    _finish_extrapolation(res, runs, out, plot, alpha, json_out)


def _simulator_extrapolation(simulator, quick, store, cutoff, law, bootstrap, alpha, plot, nworkers, seed, json_out):
    from sim.provenance import run_metadata
    from validate.sim_extrapolation import simulator_extrapolation

    from validate.bootstrap import default_workers

    the_law = _law(law)
    run_workers = nworkers or default_workers()  # --workers 0: one per core, for the runs and the bootstrap
    with _progress_callback(f"{simulator} runs") as on_run:
        res, runs, info = simulator_extrapolation(simulator, quick=quick, store=store, cutoff=cutoff, law=the_law,
                                                  n_bootstrap=bootstrap, alpha=alpha, seed=seed, workers=run_workers,
                                                  on_run=on_run)
    out = res.summary()
    out["runs"] = info
    out["provenance"] = run_metadata(seed, {"simulator": simulator, "quick": quick, "design": info["design"],
                                            "law": the_law.spec(), "holdout_above_compute": res.cutoff,
                                            "holdout_factors": info["holdout_factors"], "bootstrap": bootstrap,
                                            "alpha": alpha, "store": info["store"]}, "cpu")
    _finish_extrapolation(res, runs, out, plot, alpha, json_out)


def _finish_extrapolation(res, runs, out, plot, alpha, json_out) -> None:
    if plot is not None:
        from validate.plots_fit import plot_extrapolation

        plot.mkdir(parents=True, exist_ok=True)
        out["plots"] = [str(plot_extrapolation(res, runs, plot / "extrapolation.png"))]
    if json_out:
        emit(out)
        return
    from rich.table import Table

    t = Table(title=f"{res.law}: fitted on {res.n_train} runs below {res.cutoff:.3g} FLOPs, {res.n_holdout} held out")
    for c in ("C", "x largest train C", "loss", "predicted", "rel. error", f"{100 * (1 - alpha):.0f}% interval", "inside"):
        t.add_column(c)
    for p in res.points:
        t.add_row(f"{p['C']:.3g}", f"{p['compute_over_largest_train']:.1f}", f"{p['loss']:.4g}", f"{p['predicted']:.4g}",
                  f"{100 * p['rel_err']:.2f}%", f"({p['interval'][0]:.4g}, {p['interval'][1]:.4g})", "yes" if p["inside"] else "no")
    stdout_console.print(t)
    stdout_console.print(f"mean relative error {100 * res.mean_rel_err:.2f}%, max {100 * res.max_rel_err:.2f}%, "
                         f"coverage {100 * res.coverage:.0f}% of prediction intervals (nominal {100 * (1 - alpha):.0f}%), "
                         f"{100 * res.coverage_mean_curve:.0f}% of mean-curve intervals; mean log error {res.mean_log_error:+.4f} "
                         f"against a training residual scale of {res.residual_scale:.4f}")
    for p in out.get("plots", []):
        stdout_console.print(f"wrote {p}")


# --- validate huber-reduction ---------------------------------------------------------------------

def huber_reduction_command(
    file: Annotated[Path, typer.Argument(help=FILE_HELP, show_default=False)],
    law: Annotated[str, typer.Option("--law", help=LAW_HELP)] = "chinchilla",
    n_col: N_COL = None,
    c_col: C_COL = None,
    d_col: D_COL = None,
    loss_col: LOSS_COL = None,
    drop_highest_loss: DROP = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=2, help="Bootstrap refits per setting.")] = 200,
    at_compute: Annotated[float, typer.Option("--at-compute", help="FLOPs for tokens per parameter.")] = DEFAULT_AT_COMPUTE,
    workers: WORKERS = 0,
    seed: SEED = 0,
    json_out: JSON = False,
) -> None:
    """Summed against averaged Huber loss: the fit, and bootstrap intervals with refits from the grid or the estimate."""
    from validate.fit_studies import reduction_comparison

    if not (math.isfinite(at_compute) and at_compute > 0):
        raise CLIError("--at-compute", f"must be a positive number of FLOPs, got {at_compute!r}")
    nworkers = _workers(workers)
    the_law = _law(law)
    runs = _load_runs(file, the_law, n_col, c_col, d_col, loss_col, [], drop_highest_loss)
    with _progress_callback("fits and bootstraps") as cb:
        out = reduction_comparison(the_law, runs.inputs_for(the_law), runs.loss, n_bootstrap=bootstrap,
                                   compute=at_compute, seed=seed, workers=nworkers, progress=cb)
    if json_out:
        emit(out)
        return
    from rich.table import Table

    names = list(the_law.param_names)
    t = Table(title=f"Huber loss summed or averaged: {out['n_points']} runs, {bootstrap} bootstrap refits each")
    for c in ["reduction", "refits from", "summed objective", "iters/start"] + [f"{n} (SE)" for n in names] + ["tokens/param (SE)"]:
        t.add_column(c)
    for r in out["rows"]:
        cells = [f"{r['params'][n]:.4g} ({r['se'][n]:.2g})" for n in names]
        tpp = r["derived"].get("tokens_per_param")
        cells.append(f"{tpp:.3g} ({r['se'].get('tokens_per_param', float('nan')):.2g})" if tpp is not None else "-")
        t.add_row(r["reduction"], r["refit_from"], f"{r['summed_objective']:.6g}", f"{r['mean_iterations_per_start']:.1f}", *cells)
    stdout_console.print(t)


# --- validate fit-coverage ------------------------------------------------------------------------

def fit_coverage_command(
    law: Annotated[str, typer.Option("--law", help=LAW_HELP)] = "chinchilla",
    param: Annotated[list[str], typer.Option("--param", help="Planted value NAME=VALUE (default: the law's first built-in set).")] = [],
    design: Annotated[Optional[Path], typer.Option("--design", help="Take the run inputs from this file (e.g. the Chinchilla runs); default: a built-in design.")] = None,
    noise: Annotated[float, typer.Option("--noise", help="Standard deviation of the multiplicative log-normal noise.")] = 0.02,
    reps: Annotated[int, typer.Option("--reps", min=1, help="Planted data sets.")] = 50,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=2, help="Bootstrap refits per data set.")] = 200,
    workers: WORKERS = 0,
    seed: SEED = 0,
    json_out: JSON = False,
) -> None:
    """Planted-parameter recovery: how often the 95% bootstrap intervals contain the truth."""
    from validate.fit_studies import planted_coverage

    if not (math.isfinite(noise) and noise > 0):
        raise CLIError("--noise", f"must be positive, got {noise!r}")
    nworkers = _workers(workers)
    the_law = _law(law)
    planted = parse_key_values(param, "--param")
    des = None
    if design is not None:
        from validate.runs_io import load_runs

        runs = load_runs(design, need=the_law.input_names)
        des = runs.inputs_for(the_law)
    with _progress_callback(f"planted data sets ({reps})") as cb:
        out = planted_coverage(the_law, planted or None, des, noise=noise, n_reps=reps, n_bootstrap=bootstrap,
                               seed=seed, workers=nworkers, progress=cb)
    if json_out:
        emit(out)
        return
    from rich.table import Table

    t = Table(title=f"{out['law']}: {out['n_converged']} planted data sets of {out['n_points']} runs, noise {noise}")
    for c in ("parameter", "truth", "coverage of 95% CI", "RMSE", "mean CI width"):
        t.add_column(c)
    for n, v in out["truth"].items():
        t.add_row(n, f"{v:.4g}", f"{100 * out['coverage'][n]:.0f}%", f"{out['rmse'][n]:.3g}", f"{out['mean_ci_width'][n]:.3g}")
    stdout_console.print(t)
    stdout_console.print(f"binomial SE of a coverage at the nominal 95%: {100 * out['coverage_se_at_nominal']:.1f}%")


def register(apps: Apps) -> None:
    apps.root.command("fit")(fit_command)
    apps.validate.command("extrapolation")(extrapolation_command)
    apps.validate.command("huber-reduction")(huber_reduction_command)
    apps.validate.command("fit-coverage")(fit_coverage_command)
