#!/usr/bin/env python3
"""Sweep runner overhead and parallel throughput, as ratios measured in one run.

1. Overhead: 1,000 trivial runs (a fixed pure-Python CPU burn of about --run-ms milliseconds each) on
   one worker. The runs' own time is the sum of the wall times the worker measured around each
   `run(config)`; the sweep's time is the whole `run_sweep` call (process start-up, store commits,
   everything). Target: sweep time <= 1.2 x the runs' own time.
2. Scaling: CPU-bound runs (pure Python, holding the GIL, no BLAS) on 1 worker and on 2 workers.
   Target: 2 workers >= 1.7 x the throughput (runs per second) of one.

    python benchmarks/bench_sweep.py            # the full figures (quiet machine, >= 2 cores)
    python benchmarks/bench_sweep.py --quick    # a smoke run: 100 trivial runs, small scaling test

Prints a table (or one JSON object with --json). Exit code 1 when a full run misses a target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project (and this module) importable
    sys.path.insert(0, str(REPO))

from sim.registry import SimulatorSpec, register  # noqa: E402


# --- the simulators measured (importable by workers as benchmarks.bench_sweep:...) ------------------

@dataclass(frozen=True)
class BurnConfig:
    work: int = 1000  # iterations of a linear congruential generator (pure Python, GIL-bound)
    seed: int = 0
    device: str = "cpu"


def run_burn(config: BurnConfig) -> dict:
    # t_start/t_end: time.perf_counter is CLOCK_MONOTONIC on Linux, one clock for every process,
    # so the parent can split the sweep's time into start-up, runs, gaps between runs, and tail.
    t_start = time.perf_counter()
    s = config.seed + 1
    for _ in range(config.work):
        s = (1103515245 * s + 12345) & 0x7FFFFFFF
    return {"state": s, "work": config.work, "t_start": t_start, "t_end": time.perf_counter()}


BURN = SimulatorSpec("bench-burn", BurnConfig, run_burn, "benchmark: a fixed pure-Python CPU burn")
register("bench-burn", "benchmarks.bench_sweep:BURN")


def calibrate(ms: float) -> int:
    """LCG iterations that take about ``ms`` milliseconds here (best of a few tries)."""
    n = 20_000
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        run_burn(BurnConfig(work=n))
        best = min(best, time.perf_counter() - t0)
    return max(1, int(n * (ms / 1e3) / best))


def burn_sweep(name: str, work: int, n_runs: int):
    from validate.sweep import parse_spec

    # n_runs distinct runs: one grid point, n_runs seeds.
    return parse_spec(
        {"sweep": {"name": name, "simulator": "bench-burn", "seeds": list(range(n_runs))}, "grid": {"work": work}},
        f"<{name}>",
    )


def timed_sweep(spec, workers: int, folder: str) -> dict:
    """Sweep wall seconds, the runs' own seconds, and (one worker) where the rest went."""
    from validate.store import Store
    from validate.sweep import run_sweep

    path = Path(folder) / f"{spec.name}-{workers}.db"
    t0 = time.perf_counter()
    with Store(path) as store:
        summary = run_sweep(spec, store, workers=workers)
        t1 = time.perf_counter()
        runs = store.runs()
    own = sum(r.wall_time_s for r in runs)
    starts = sorted(r.results["t_start"] for r in runs)
    ends = sorted(r.results["t_end"] for r in runs)
    out = {"sweep_s": t1 - t0, "own_s": own, "ok": summary.ok}
    if workers == 1 and runs:
        out["startup_s"] = starts[0] - t0  # until the first run began: pool start, imports
        out["gaps_s"] = sum(b - a for a, b in zip(ends[:-1], starts[1:]))  # worker idle between runs
        out["tail_s"] = t1 - ends[-1]  # last result home, committed, pool shut down
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small smoke run (100 trivial runs, a short scaling test)")
    ap.add_argument("--runs", type=int, default=None, help="trivial runs (default 1000; 100 with --quick)")
    ap.add_argument("--run-ms", type=float, default=2.0, help="the trivial run's own time in ms (default 2)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    n_trivial = args.runs or (100 if args.quick else 1000)
    n_cpu, cpu_ms = (16, 25.0) if args.quick else (160, 60.0)
    cores = os.cpu_count() or 1

    trivial_work = calibrate(args.run_ms)
    cpu_work = calibrate(cpu_ms)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        # 1. overhead on one worker
        trivial = timed_sweep(burn_sweep("trivial", trivial_work, n_trivial), 1, folder)
        sweep_s, own_s, ok = trivial["sweep_s"], trivial["own_s"], trivial["ok"]
        overhead_ratio = sweep_s / own_s
        per_run_us = (sweep_s - own_s) / n_trivial * 1e6
        # 2. throughput, 1 worker against 2, same runs
        spec = burn_sweep("cpu", cpu_work, n_cpu)
        one, two = timed_sweep(spec, 1, folder), timed_sweep(spec, 2, folder)
        one_s, one_own, ok1 = one["sweep_s"], one["own_s"], one["ok"]
        two_s, ok2 = two["sweep_s"], two["ok"]
    speedup = (n_cpu / two_s) / (n_cpu / one_s)

    result = {
        "quick": args.quick,
        "cores": cores,
        "trivial_runs": n_trivial,
        "trivial_run_ms": own_s / n_trivial * 1e3,
        "trivial_sweep_s": sweep_s,
        "trivial_runs_own_s": own_s,
        "overhead_ratio": overhead_ratio,
        "overhead_per_run_us": per_run_us,
        "startup_s": trivial["startup_s"],
        "gap_between_runs_us": trivial["gaps_s"] / max(1, n_trivial - 1) * 1e6,
        "tail_s": trivial["tail_s"],
        "overhead_target": 1.2,
        "cpu_runs": n_cpu,
        "cpu_run_ms": one_own / n_cpu * 1e3,
        "one_worker_runs_per_s": n_cpu / one_s,
        "two_workers_runs_per_s": n_cpu / two_s,
        "two_worker_speedup": speedup,
        "speedup_target": 1.7,
        "all_ok": ok == n_trivial and ok1 == ok2 == n_cpu,
    }
    met = overhead_ratio <= 1.2 and speedup >= 1.7 and result["all_ok"]
    result["targets_met"] = met
    if args.json:
        print(json.dumps(result))
    else:
        print(f"trivial runs: {n_trivial} x {result['trivial_run_ms']:.2f} ms on 1 worker: sweep {sweep_s:.2f} s, "
              f"runs' own time {own_s:.2f} s -> ratio {overhead_ratio:.3f} (target <= 1.2); "
              f"overhead {per_run_us:.0f} us/run")
        print(f"  where the overhead went: start-up {trivial['startup_s']:.3f} s, worker idle between runs "
              f"{result['gap_between_runs_us']:.0f} us/run, tail {trivial['tail_s']:.3f} s")
        print(f"CPU-bound runs: {n_cpu} x {result['cpu_run_ms']:.1f} ms: 1 worker {n_cpu / one_s:.1f} runs/s, "
              f"2 workers {n_cpu / two_s:.1f} runs/s -> {speedup:.2f}x (target >= 1.7; {cores} cores here)")
        if args.quick:
            print("(quick: a smoke run; the figures are for a full run on a quiet machine)")
    if cores < 2:
        print("note: fewer than 2 cores: the scaling target cannot be met here", file=sys.stderr)
    return 0 if (met or args.quick) else 1


if __name__ == "__main__":
    sys.exit(main())
