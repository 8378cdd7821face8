"""`validate repetition` and `validate text-quality`: data repetition and quality with the toy transformer."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from commands.common import DEVICE_OPTION_HELP, JSON_OPTION_HELP, Apps, CLIError, emit, progress, stdout_console

QUICK_HELP = "Small design (about a minute or two on 2 CPU cores); without it the full design (resumable)."
STORE_HELP = "The results store (SQLite; created when missing). Finished runs in it are reused: rerunning resumes."
PLOT_HELP = "Folder for the PNG plots (created)."


def _check(device: str, workers: Optional[int], bootstrap: Optional[int], store: str, plot: Optional[str]) -> None:
    """Every input checked before anything runs or is written."""
    from validate.runs_io import check_output_dir
    from validate.store import Store

    if device not in ("cpu", "gpu", "auto"):
        raise CLIError("--device", f"expected cpu, gpu or auto, got {device!r}")
    if device == "gpu":
        from sim.backend import get_backend

        get_backend("gpu")  # DeviceUnavailable (an InputError) when no GPU works here
    if workers is not None and workers < 1:
        raise CLIError("--workers", f"must be at least 1, got {workers}")
    if bootstrap is not None and bootstrap < 20:
        raise CLIError("--bootstrap", f"needs at least 20 replicates, got {bootstrap}")
    Store.check(store)
    check_output_dir(plot, "--plot")


def _run(study, quick: bool, store: str, device: str, workers: Optional[int], bootstrap: Optional[int]) -> dict:
    try:
        with progress() as bar:
            task = bar.add_task("runs", total=None)

            def on_start(todo: int, skipped: int) -> None:
                bar.update(task, total=todo, completed=0,
                           description="runs" + (f" ({skipped} in the store)" if skipped else ""))

            def on_result(record, done: int, todo: int) -> None:
                bar.update(task, completed=done)

            return study(quick=quick, store=store, device=device, workers=workers, n_bootstrap=bootstrap,
                         on_start=on_start, on_result=on_result)
    except KeyboardInterrupt:
        print(f"error: interrupted; finished runs are kept in {store}: rerun the same command to resume", file=sys.stderr)
        raise typer.Exit(code=130) from None


def _fmt(x, spec: str = ".3g") -> str:
    return "–" if x is None else format(x, spec)


def _ci(ci) -> str:
    return "–" if not ci else f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def validate_repetition(
    quick: Annotated[bool, typer.Option("--quick", help=QUICK_HELP)] = False,
    store: Annotated[str, typer.Option("--store", help=STORE_HELP)] = "runs.db",
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP)] = "cpu",
    workers: Annotated[Optional[int], typer.Option("--workers", help="Runs at once (processes). Default: the CPU count.")] = None,
    bootstrap: Annotated[Optional[int], typer.Option("--bootstrap", help="Bootstrap replicates (default 200 quick / 1000 full).")] = None,
    plot: Annotated[Optional[str], typer.Option("--plot", help=PLOT_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """A pool of U = D/R unique tokens repeated for R = 1 … ≥ 16 epochs at a fixed total of D tokens
    (toy transformer, stdlib text), beside one-epoch runs; Muennighoff's R*_D fitted with the project's
    fitter (stage 1: E′, B, β from the one-epoch runs; stage 2: R*_D alone) with a bootstrap interval,
    against Muennighoff's 15.4."""
    from validate.data_quality import plot_repetition, repetition_study

    _check(device, workers, bootstrap, store, plot)
    result = _run(repetition_study, quick, store, device, workers, bootstrap)
    if plot is not None:
        result["plots"] = plot_repetition(result, plot)
    if json_out:
        emit(result)
        return
    from rich.table import Table

    rs = result["R_star"]
    t = Table(title=f"repetition ({result['mode']}): effective data D_eff/D at a fixed token budget", title_justify="left")
    for col in ("D (tokens)", "epochs", "U (unique)", "loss", "D_eff/D [95% CI]", "Muennighoff (15.4)", "fitted R*_D"):
        t.add_column(col)
    for c in result["cells"]:
        t.add_row(f"{c['tokens']:.4g}", f"{c['epochs']:g}", f"{c['unique_tokens']:.4g}", f"{c['mean_loss']:.4f}",
                  f"{c['effective_data_ratio']:.3g} {_ci(c['ci95'])}", f"{c['muennighoff']:.3g}", f"{c['fitted']:.3g}")
    stdout_console.print(t)
    stdout_console.print(
        f"R*_D = {rs['estimate']:.3g} {_ci(rs['ci95'])} ({rs['n_valid']}/{rs['n_bootstrap']} bootstrap refits); "
        f"Muennighoff's {rs['muennighoff']:.3g} is {'inside' if rs['muennighoff_inside_ci'] else 'outside'} the interval. "
        f"{result['fit_note']}. Runs: {result['runs']['ok']}/{result['runs']['planned']} ok in {result['store']}; "
        f"{result['wall_time_s']:.0f} s.", highlight=False, soft_wrap=True)
    if result["runs"]["failed"]:
        raise typer.Exit(code=1)


def validate_text_quality(
    quick: Annotated[bool, typer.Option("--quick", help=QUICK_HELP)] = False,
    store: Annotated[str, typer.Option("--store", help=STORE_HELP)] = "runs.db",
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP)] = "cpu",
    workers: Annotated[Optional[int], typer.Option("--workers", help="Runs at once (processes). Default: the CPU count.")] = None,
    bootstrap: Annotated[Optional[int], typer.Option("--bootstrap", help="Bootstrap replicates (default 200 quick / 1000 full).")] = None,
    plot: Annotated[Optional[str], typer.Option("--plot", help=PLOT_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Corrupted documents, corrupted bytes and duplicated documents, each trained as is and filtered
    (or deduplicated), at a fixed token budget (toy transformer, stdlib text): each cell's effective
    data D_eff/D read off a clean-data curve, with a bootstrap interval, beside the effective-data
    reading (the clean share of the bytes; 1 for duplicates)."""
    from validate.data_quality import plot_quality, quality_study

    _check(device, workers, bootstrap, store, plot)
    result = _run(quality_study, quick, store, device, workers, bootstrap)
    if plot is not None:
        result["plots"] = plot_quality(result, plot)
    if json_out:
        emit(result)
        return
    from rich.table import Table

    t = Table(title=f"text quality ({result['mode']}): effective data D_eff/D at D = {result['tokens']:.3g} tokens",
              title_justify="left")
    for col in ("cell", "corrupted share", "loss", "D_eff/D [95% CI]", "reading", "inside CI"):
        t.add_column(col)
    for c in result["cells"]:
        inside = c.get("theory_inside_ci")
        t.add_row(c["name"], _fmt(c.get("corrupted_share_kept", c.get("corrupted_share"))), _fmt(c.get("mean_loss"), ".4f"),
                  f"{_fmt(c.get('effective_data_ratio'))} {_ci(c.get('ci95'))}" + (" (extrapolated)" if c.get("extrapolated") else ""),
                  f"{c['theory']:.3g}", "–" if inside is None else ("yes" if inside else "no"))
    stdout_console.print(t)
    f = result["clean_fit"]
    stdout_console.print(
        f"clean curve: E = {f['E']:.4g}, A = {f['A']:.4g}, α = {f['alpha']:.4g}; runs: {result['runs']['ok']}/"
        f"{result['runs']['planned']} ok in {result['store']}; {result['wall_time_s']:.0f} s.", highlight=False, soft_wrap=True)
    if result["runs"]["failed"]:
        raise typer.Exit(code=1)


def register(apps: Apps) -> None:
    apps.validate.command("repetition")(validate_repetition)
    apps.validate.command("text-quality")(validate_text_quality)
