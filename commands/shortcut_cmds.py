"""`shortcut`: does any trick beat plain scaling by 10–100×? And `simulate kernel-pruning`."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated, Optional

import typer

from commands.common import (
    DEVICE_OPTION_HELP, JSON_OPTION_HELP, Apps, CLIError, emit, parse_int_list, progress, stdout_console,
)


def shortcut_command(
    quick: Annotated[bool, typer.Option("--quick", help="Small scales and few seeds (minutes on 2 CPU cores); without it the full protocol.")] = False,
    store: Annotated[str, typer.Option("--store", help="The results store (SQLite; created when missing). Finished runs in it are reused: rerunning resumes.")] = "runs.db",
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP + " Part of every run's key; CPU-only simulators always run on cpu.")] = "cpu",
    out: Annotated[str, typer.Option("--out", help="Folder for report.md, report.json and the plots (created).")] = "out/shortcut",
    workers: Annotated[Optional[int], typer.Option("--workers", help="Runs at once (processes). Default: the CPU count.")] = None,
    only: Annotated[Optional[str], typer.Option("--only", help="Comma-separated trick names (default: the whole catalogue; see --list).")] = None,
    bootstrap: Annotated[Optional[int], typer.Option("--bootstrap", help="Bootstrap replicates per trick (default: the protocol's, 200 quick / 1000 full).")] = None,
    list_tricks: Annotated[bool, typer.Option("--list", help="List the catalogue and exit.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Run the catalogue of tricks (baseline and trick arms over scales, several seeds) into the results
    store, measure each trick's effective-scale multiplier with 95% intervals and its trend, set it beside
    the theory's prediction, and write report.md, report.json and plots into --out.

    Every number comes from runs in the store; nothing is typed in. Exit code 1 when any run failed.
    """
    from validate.shortcut.catalogue import catalogue, skipped_modules

    if list_tricks:
        entries = catalogue()
        data = {"tricks": [{"name": e.name, "kind": e.kind, "setting": e.setting, "scale_axis": e.scale_axis,
                            "theory": e.theory_source if e.theory else None} for e in entries],
                "skipped_modules": skipped_modules()}
        if json_out:
            emit(data)
        else:
            for e in entries:
                stdout_console.print(f"{e.name:32s} {e.kind:18s} {e.setting}", highlight=False, markup=False)
        return
    names = [n.strip() for n in only.split(",")] if only is not None else None
    if names is not None and (not names or any(not n for n in names)):
        raise CLIError("--only", f"expected comma-separated trick names, got {only!r}")
    command = "python cli.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["shortcut"] else None

    from validate.shortcut import prepare, run_prepared

    # everything checked before the progress bar starts and before any file is written
    prep = prepare(quick=quick, store=store, out=out, device=device, workers=workers, only=names,
                   n_bootstrap=bootstrap, command=command)
    try:
        with progress() as bar:
            task = bar.add_task("shortcut: runs", total=None)

            def on_sweep_start(name: str, todo: int, skipped: int) -> None:
                bar.update(task, total=todo, completed=0,
                           description=f"{name}" + (f" ({skipped} in the store)" if skipped else ""))

            def on_run(name: str, record, done: int, todo: int) -> None:
                bar.update(task, completed=done)

            def on_trick(result) -> None:
                bar.update(task, description=f"measured {result.entry.name}")

            outcome = run_prepared(prep, on_sweep_start=on_sweep_start, on_run=on_run, on_trick=on_trick)
    except KeyboardInterrupt:
        print(f"error: interrupted; finished runs are kept in {store}: rerun the same command to resume", file=sys.stderr)
        raise typer.Exit(code=130) from None
    if json_out:
        emit(outcome.report)
    else:
        _print_table(outcome)
    if outcome.failed_runs:
        raise typer.Exit(code=1)


def _print_table(outcome) -> None:
    from rich.table import Table

    from validate.shortcut.report import table_rows

    t = Table(title=f"shortcut ({outcome.meta['mode']}): effective-scale multipliers", title_justify="left")
    for col in ("trick", "axis", "theory M (class)", "theory 10× at", "measured M [95% CI]", "at loss", "trend", "verdict"):
        t.add_column(col, overflow="fold")
    for row in table_rows(outcome.results):
        t.add_row(row["trick"], row["axis"], row["theory"], row["crosses_10x"], row["measured"], row["at_loss"],
                  row["trend"], row["verdict"])
    stdout_console.print(t)
    m = outcome.meta
    stdout_console.print(outcome.report["summary"], highlight=False, soft_wrap=True)
    stdout_console.print(
        f"runs: {m['runs']['planned']} planned, {m['runs']['ran_now']} run now, {m['runs']['already_in_store']} already in "
        f"{m['store']}, {m['runs']['failed']} failed; {m['wall_time_s']:.0f} s. Report: {outcome.out_dir / 'report.md'}",
        highlight=False, soft_wrap=True,
    )


def simulate_kernel_pruning_command(
    P: Annotated[str, typer.Option("--P", help="Examples trained on (after selection), comma-separated, increasing.")] = "32,64,128,256,512,1024",
    keep: Annotated[float, typer.Option("--keep", help="Fraction f of the scanned pool kept (the pool is P/f).")] = 1.0,
    prune: Annotated[str, typer.Option("--prune", help="easy (drop the worst-fitting: noise filtering), hard (keep the worst-fitting), random, oracle (drop corrupted first).")] = "easy",
    corrupt_fraction: Annotated[float, typer.Option("--corrupt-fraction", help="Fraction of labels corrupted.")] = 0.0,
    corrupt_variance: Annotated[float, typer.Option("--corrupt-variance", help="Variance of the corruption added to the target.")] = 2.0,
    noise: Annotated[float, typer.Option("--noise", help="Label-noise variance of the other examples.")] = 0.0,
    probe_size: Annotated[int, typer.Option("--probe-size", help="Examples the probe is fitted on (a separate draw).")] = 64,
    spectrum_decay: Annotated[float, typer.Option("--spectrum-decay", help="b: eigenvalues ∝ k^(−b).")] = 2.0,
    target_decay: Annotated[float, typer.Option("--target-decay", help="a: target power ∝ k^(−a).")] = 2.0,
    modes: Annotated[int, typer.Option("--modes", help="Modes of the synthetic spectrum.")] = 4096,
    ridge: Annotated[float, typer.Option("--ridge", help="Ridge λ in (K + λI)α = y.")] = 0.03,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds (0, 1, ...).")] = 5,
    theory: Annotated[bool, typer.Option("--theory/--no-theory", help="Also the effective-noise theory (theory/data_filtering.py).")] = True,
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP)] = "cpu",
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Kernel ridge regression trained on a subset chosen by a probe's residuals (label-noise filtering,
    pruning) on the synthetic power-law task; with the effective-noise theory beside it."""
    from sim.kernel_pruning import KernelPruningConfig, learning_curve

    sizes = parse_int_list(P, "--P")
    if seeds < 1:
        raise CLIError("--seeds", f"must be at least 1, got {seeds}")
    config = KernelPruningConfig(spectrum_decay=spectrum_decay, target_decay=target_decay, modes=modes, ridge=ridge,
                                 P=tuple(sizes), keep=keep, prune=prune, corrupt_fraction=corrupt_fraction,
                                 corrupt_variance=corrupt_variance, noise=noise, probe_size=probe_size,
                                 device=device).validate()
    if device == "gpu":
        from sim.backend import get_backend

        get_backend("gpu")
    with progress() as bar:
        task = bar.add_task("kernel-pruning seeds", total=seeds)
        result = learning_curve(config, seeds=seeds, on_seed=lambda s: bar.update(task, completed=s + 1))
    out = {k: result[k] for k in ("P", "P_tot", "test_error", "test_error_sem", "kept_corrupt_fraction", "probe_error",
                                  "seeds", "device")}
    if theory:
        from theory.data_filtering import power_law_filtered_curve

        th = power_law_filtered_curve(spectrum_decay, target_decay, sizes, modes=modes, keep=keep, rule=prune,
                                      corrupt_fraction=corrupt_fraction, corrupt_variance=corrupt_variance,
                                      noise=noise, probe_size=probe_size, ridge=ridge)
        out["theory"] = {k: th[k] for k in ("test_error", "noise_variance", "kept_corrupt_fraction", "probe_error",
                                            "applies", "note")}
    if json_out:
        emit(out)
        return
    from rich.table import Table

    t = Table(title=f"kernel-pruning: keep {keep:g} ({prune}), {corrupt_fraction:g} corrupted, {seeds} seeds")
    for col in ("P", "P_tot", "E_g", "± sem", "kept corrupted", "theory E_g"):
        t.add_column(col, justify="right")
    th_err = out.get("theory", {}).get("test_error", [None] * len(sizes))
    for i, p in enumerate(out["P"]):
        t.add_row(str(p), str(out["P_tot"][i]), f"{out['test_error'][i]:.4g}", f"{out['test_error_sem'][i]:.2g}",
                  f"{out['kept_corrupt_fraction'][i]:.3f}", "–" if th_err[i] is None else f"{th_err[i]:.4g}")
    stdout_console.print(t)
    if "theory" in out:
        stdout_console.print(f"theory: {out['theory']['note']}", highlight=False, soft_wrap=True)


def register(apps: Apps) -> None:
    apps.root.command("shortcut")(shortcut_command)
    apps.simulate.command("kernel-pruning")(simulate_kernel_pruning_command)
