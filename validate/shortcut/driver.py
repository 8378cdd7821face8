"""`shortcut(...)`: check everything, run the catalogue into the store, measure, write the report."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from theory.errors import InputError
from validate.runs_io import check_output_dir


@dataclass
class ShortcutOutcome:
    report: dict  # report.json's content
    results: list  # TrickResult per trick
    meta: dict
    out_dir: Path
    failed_runs: int


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    return f"{platform.system()} {platform.machine()} ({cpu}), {cores} CPU core(s) available, Python {platform.python_version()}"


@dataclass
class Prepared:
    """Everything checked, nothing written yet: the plan of runs and where they go."""

    mode: str
    plan: object  # validate.shortcut.run.Plan
    store: str
    out_dir: Path
    device: str
    workers: int | None
    n_bootstrap: int | None
    command: str
    quick: bool


def prepare(*, quick: bool = True, store: str | Path = "runs.db", out: str | Path = "out/shortcut", device: str = "cpu",
            workers: int | None = None, only: Sequence[str] | None = None, n_bootstrap: int | None = None,
            command: str | None = None) -> Prepared:
    """Check every input before anything is written: trick names, the catalogue's configurations (each
    built by its simulator's config class), the device, the store and the output folder."""
    from validate.shortcut.catalogue import select
    from validate.shortcut.run import plan
    from validate.store import Store

    mode = "quick" if quick else "full"
    if workers is not None and workers < 1:
        raise InputError("--workers", f"must be at least 1, got {workers}")
    if n_bootstrap is not None and n_bootstrap < 20:
        raise InputError("--bootstrap", f"needs at least 20 replicates, got {n_bootstrap}")
    if device not in ("cpu", "gpu", "auto"):
        raise InputError("--device", f"expected cpu, gpu or auto, got {device!r}")
    entries = select(list(only) if only else None)
    if not entries:
        raise InputError("--only", "no tricks in the catalogue")
    if device == "gpu":
        from sim.backend import get_backend

        get_backend("gpu")  # DeviceUnavailable (an InputError) when no GPU works here
    p = plan(entries, mode, device)
    Store.check(store)
    out_dir = check_output_dir(out, "--out")
    command = command or ("python cli.py shortcut" + (" --quick" if quick else "") + f" --store {shlex.quote(str(store))}")
    return Prepared(mode, p, str(store), out_dir, device, workers, n_bootstrap, command, quick)


def run_prepared(prep: Prepared, *, executor=None, capacity: int | None = None,
                 on_sweep_start: Callable[[str, int, int], None] | None = None,
                 on_run: Callable[[str, object, int, int], None] | None = None,
                 on_trick: Callable[[object], None] | None = None) -> ShortcutOutcome:
    """Run (resumably) and measure a prepared plan; write report.md, report.json and plots."""
    from sim.provenance import code_version
    from validate.shortcut.catalogue import skipped_modules
    from validate.shortcut.report import write_report
    from validate.shortcut.run import measure_plan, run_plan, summarise
    from validate.store import Store

    t_start = time.perf_counter()
    p = prep.plan
    with Store(prep.store) as db:
        finished_before = db.finished_keys()
        planned = {t.key for tasks in p.by_simulator.values() for t in tasks}
        t_runs = time.perf_counter()
        summaries = run_plan(p, db, workers=prep.workers, executor=executor, capacity=capacity,
                             on_start=on_sweep_start, on_result=on_run)
        run_time = time.perf_counter() - t_runs
        t_meas = time.perf_counter()
        results = measure_plan(p, db, n_bootstrap=prep.n_bootstrap, on_done=on_trick)
        measure_time = time.perf_counter() - t_meas
    failed = sum(s.failed for s in summaries.values())
    ran_now = sum(s.ok + s.failed + s.diverged for s in summaries.values())
    summary = summarise(results)
    devices = sorted({d for r in results for a in r.arms.values() for d in a.devices})
    meta = {
        "mode": prep.mode,
        "store": prep.store,
        "store_path": str(Path(prep.store).resolve()),
        "command": prep.command,
        "machine": machine_description(),
        "devices": devices,
        "device_option": prep.device,
        "code_version": code_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "runs": {"planned": len(planned), "ran_now": ran_now, "already_in_store": len(planned & finished_before),
                 "failed": failed},
        "run_time_s": run_time,
        "measure_time_s": measure_time,
        "skipped_modules": sorted(skipped_modules()),
        "python": sys.version.split()[0],
    }
    prep.out_dir.mkdir(parents=True, exist_ok=True)
    meta["wall_time_s"] = time.perf_counter() - t_start
    report = write_report(results, summary, meta, prep.out_dir)
    return ShortcutOutcome(report, results, meta, prep.out_dir, failed)


def shortcut(*, quick: bool = True, store: str | Path = "runs.db", out: str | Path = "out/shortcut", device: str = "cpu",
             workers: int | None = None, only: Sequence[str] | None = None, n_bootstrap: int | None = None,
             executor=None, capacity: int | None = None, command: str | None = None,
             on_sweep_start=None, on_run=None, on_trick=None) -> ShortcutOutcome:
    """`prepare` then `run_prepared`: the whole `python cli.py shortcut`."""
    prep = prepare(quick=quick, store=store, out=out, device=device, workers=workers, only=only,
                   n_bootstrap=n_bootstrap, command=command)
    return run_prepared(prep, executor=executor, capacity=capacity, on_sweep_start=on_sweep_start, on_run=on_run,
                        on_trick=on_trick)
