"""Commands over sweeps and the results store: `sweep SPEC.toml`, `runs list|show|export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from commands.common import JSON_OPTION_HELP, Apps, CLIError, emit, progress, stdout_console, to_json

STORE_HELP = "The results store (an SQLite file; created when missing)."
STATUS_HELP = "Only runs of this status: ok, failed, diverged or all."


def sweep_command(
    spec: Annotated[Path, typer.Argument(help="The sweep spec (TOML): \\[sweep] name, simulator, seeds; \\[grid] options (a list is an axis); optional \\[predict] law, trick, inputs. See examples/sweeps/.", show_default=False)],
    store: Annotated[str, typer.Option("--store", help=STORE_HELP)] = "runs.db",
    workers: Annotated[Optional[int], typer.Option("--workers", help="Runs at once (local: processes; dask: worker processes). Default: the CPU count.")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (a process pool), dask (a dask.distributed local cluster; the 'cluster' extra) or tcp://HOST:PORT (join a running dask scheduler).")] = "local",
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Rerun runs already finished in the store (their rows are replaced, never duplicated). By default they are skipped; failed runs are always rerun.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Run a batch of simulations from a TOML spec, committing each finished run to the store.

    Resumable: rerun the same command after a crash or Ctrl-C and only the missing (and failed) runs
    run. Exit code 1 when any run failed (its error is in the store: `runs show KEY`).
    """
    import os

    from validate.sweep import check_executor, load_spec

    # Everything is checked before the store file is created or any run starts.
    if workers is not None and workers < 1:
        raise CLIError("--workers", f"must be at least 1, got {workers}")
    sweep_spec = load_spec(spec)
    executor = check_executor(executor)
    n_workers = workers or os.cpu_count() or 1

    try:
        summary = _run_with_progress(sweep_spec, store, executor, n_workers, not no_resume)
    except KeyboardInterrupt:
        # typer turns Ctrl-C into a silent exit 130; say what happened to the work.
        import sys

        print(f"error: interrupted; finished runs are kept in {store}: rerun the same command to resume", file=sys.stderr)
        raise typer.Exit(code=130) from None
    if json_out:
        emit({**summary.counts(), "sweep": summary.sweep, "store": str(store), "wall_time_s": summary.wall_time_s})
    else:
        c = summary.counts()
        stdout_console.print(
            f"sweep {summary.sweep}: {c['total']} runs: {c['ok']} ok, {c['failed']} failed, {c['diverged']} diverged, "
            f"{c['skipped']} already in the store; {summary.wall_time_s:.1f} s; store {store}",
            highlight=False, soft_wrap=True,
        )
        for key, error in summary.failures[:5]:
            stdout_console.print(f"  failed {key[:12]}: {error}", highlight=False, markup=False)
        if len(summary.failures) > 5:
            stdout_console.print(f"  ... and {len(summary.failures) - 5} more (python cli.py runs list --status failed)", highlight=False)
    if summary.failed:
        raise typer.Exit(code=1)


def _run_with_progress(sweep_spec, store: str, executor: str, n_workers: int, resume: bool):
    from validate.store import Store
    from validate.sweep import open_executor, run_sweep

    Store.check(store)  # a bad store is refused before a cluster starts; nothing is created yet
    with open_executor(executor, n_workers) as handle:  # an unreachable scheduler: exit 2, no file
        with Store(store) as db, progress() as bar:
            task = bar.add_task(f"sweep {sweep_spec.name}", total=None)

            def on_start(todo: int, skipped: int) -> None:
                bar.update(task, total=todo, description=f"sweep {sweep_spec.name}" + (f" ({skipped} done before)" if skipped else ""))

            def on_result(record, done: int, todo: int) -> None:
                bar.update(task, completed=done)

            return run_sweep(
                sweep_spec, db, executor=handle.executor, workers=n_workers, capacity=handle.capacity,
                resume=resume, on_start=on_start, on_result=on_result,
            )


def _status(status: str):
    from validate.store import STATUSES

    status = status.strip().lower()
    if status == "all":
        return None
    if status not in STATUSES:
        raise CLIError("--status", f"expected ok, failed, diverged or all, got {status!r}")
    return status


def _open_existing(store: str):
    from validate.store import Store

    return Store(store, create=False)


def runs_list(
    store: Annotated[str, typer.Option("--store", help="The results store (an SQLite file).")] = "runs.db",
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="Only runs of this sweep.")] = None,
    simulator: Annotated[Optional[str], typer.Option("--simulator", help="Only runs of this simulator.")] = None,
    status: Annotated[str, typer.Option("--status", help=STATUS_HELP)] = "all",
    limit: Annotated[int, typer.Option("--limit", help="Rows in the table (the newest); --json lists all.")] = 50,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """The sweeps in a store with their counts, and its runs (key, sweep, seed, status, wall time)."""
    wanted = _status(status)
    with _open_existing(store) as db:
        sweeps = db.sweeps()
        records = db.runs(simulator=simulator, sweep=sweep, status=wanted)
    if json_out:
        emit({
            "store": store,
            "sweeps": sweeps,
            "runs": [
                {"key": r.key, "sweep": r.sweep, "simulator": r.simulator, "seed": r.seed, "status": r.status,
                 "error": r.error.splitlines()[0] if r.error else None, "wall_time_s": r.wall_time_s,
                 "created": r.created, "config": r.config}
                for r in records
            ],
        })
        return
    from rich.table import Table

    t = Table(title=f"Sweeps in {store}")
    for col in ("sweep", "simulator", "planned", "ok", "failed", "diverged", "not run"):
        t.add_column(col, justify="left" if col in ("sweep", "simulator") else "right")
    for s in sweeps:
        t.add_row(s["name"], s["simulator"], *(str(s[k]) for k in ("planned", "ok", "failed", "diverged", "not_run")))
    stdout_console.print(t)
    shown = records[-limit:] if limit > 0 else []
    varying = _varying_fields(r.config for r in records)
    t = Table(title=f"Runs ({len(shown)} of {len(records)}, newest last)")
    t.add_column("key", no_wrap=True, min_width=12)
    for col in ("sweep", "seed", "status", "wall s", *varying):
        t.add_column(col)
    t.add_column("error", no_wrap=True, overflow="ellipsis", max_width=28)
    for r in shown:
        t.add_row(
            r.key[:12], r.sweep, str(r.seed), r.status,
            "" if r.wall_time_s is None else f"{r.wall_time_s:.3g}",
            *(to_json(r.config.get(k)) for k in varying),
            (r.error or "").splitlines()[0][:60] if r.error else "",
        )
    stdout_console.print(t)


def _varying_fields(configs) -> list[str]:
    """Config fields (other than seed) whose value differs between runs: the grid's axes."""
    seen: dict[str, set] = {}
    for c in configs:
        for k, v in c.items():
            seen.setdefault(k, set()).add(to_json(v))
    return [k for k, vals in seen.items() if len(vals) > 1 and k != "seed"]


def runs_show(
    key: Annotated[str, typer.Argument(help="A run key, or a unique prefix of it (at least 6 hex digits).", show_default=False)],
    store: Annotated[str, typer.Option("--store", help="The results store (an SQLite file).")] = "runs.db",
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """One run in full: configuration, seed, status and error, results, prediction, provenance."""
    with _open_existing(store) as db:
        record = db.get(key)
    if json_out:
        emit(record.as_dict())
        return
    import json

    d = record.as_dict()
    error = d.pop("error")
    for k, v in d.items():
        if isinstance(v, dict):
            text = "".join(f"\n  {kk}: {json.dumps(vv)}" for kk, vv in v.items())
        else:
            text = json.dumps(v) if isinstance(v, list) else str(v)
        stdout_console.print(f"[bold]{k}[/bold]: ", text, sep="", highlight=False, soft_wrap=True, markup=True)
    if error:
        stdout_console.print("[bold]error[/bold]:", highlight=False)
        stdout_console.print(error, markup=False, highlight=False, soft_wrap=True)


def runs_export(
    store: Annotated[str, typer.Option("--store", help="The results store (an SQLite file).")] = "runs.db",
    fmt: Annotated[str, typer.Option("--format", help="csv (one flat row per run: config.X, results.Y, prediction.Z) or json.")] = "csv",
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="Only runs of this sweep.")] = None,
    simulator: Annotated[Optional[str], typer.Option("--simulator", help="Only runs of this simulator.")] = None,
    status: Annotated[str, typer.Option("--status", help=STATUS_HELP)] = "all",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write here instead of stdout.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="With --out: print one JSON object saying what was written. Without --out and --format json: the export itself.")] = False,
) -> None:
    """Export runs as CSV or JSON: to --out FILE, or to stdout."""
    import io
    import sys

    from validate.store import rows_to_csv

    fmt = fmt.strip().lower()
    if fmt not in ("csv", "json"):
        raise CLIError("--format", f"expected csv or json, got {fmt!r}")
    if json_out and out is None and fmt == "csv":
        raise CLIError("--out", "--json prints one JSON object: give --out FILE for the CSV, or use --format json")
    if out is not None and not out.parent.is_dir():
        raise CLIError("--out", f"folder {out.parent} does not exist")
    wanted = _status(status)
    with _open_existing(store) as db:
        rows = db.to_rows(simulator=simulator, sweep=sweep, status=wanted)
    if fmt == "csv":
        buf = io.StringIO()
        rows_to_csv(rows, buf)
        text = buf.getvalue()
    else:
        text = to_json({"runs": rows}) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)  # a reader never sees half a file
    if json_out:
        emit({"out": str(out), "format": fmt, "rows": len(rows)})
    else:
        stdout_console.print(f"wrote {len(rows)} runs to {out} ({fmt})", highlight=False)


def register(apps: Apps) -> None:
    apps.root.command("sweep")(sweep_command)
    apps.runs.command("list")(runs_list)
    apps.runs.command("show")(runs_show)
    apps.runs.command("export")(runs_export)
