"""Small deterministic simulators for the sweep tests, registered in `sim.registry` by `registered()`
(a context manager the sweep test modules hold for their duration) or `register_all()`.

They follow the contract of `sim/registry.py` (a frozen config dataclass with ``seed`` and
``device``; ``run(config) -> dict``) and live in an importable module so worker processes (process
pool, dask) can import them by their "module:attribute" target.

- ``test-quad``: a noisy quadratic with every kind of option (int, float, str, bool, tuple); fails
  for x < 0, diverges for x > 100, can sleep (``sleep_s``) so a test can kill a sweep mid-way, and
  can kill its own worker process (``crash = true``).
- ``test-burn``: CPU-bound pure-Python work (no BLAS, no I/O): ``work`` iterations of an LCG.
- ``test-checked``: a config whose ``__post_init__`` refuses P < 1, as a real simulator's would.
- ``test-threads``: reports the BLAS/OpenMP thread pools of the worker it runs in.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from sim.errors import InputError
from sim.registry import SIMULATORS, SimulatorSpec, register


@dataclass(frozen=True)
class QuadConfig:
    x: float = 1.0
    n: int = 8
    label: str = "a"
    flag: bool = False
    widths: tuple[int, ...] = (1, 2)
    sleep_s: float = 0.0
    crash: bool = False
    seed: int = 0
    device: str = "cpu"


def run_quad(config: QuadConfig) -> dict:
    if config.sleep_s > 0:
        time.sleep(config.sleep_s)
    if config.crash:
        os._exit(7)  # a worker that dies (as from a segfault or the OOM killer)
    if config.x < 0:
        raise ValueError(f"x must be non-negative, got {config.x}")
    rng = np.random.default_rng(config.seed)
    if config.x > 100:
        return {"diverged": True, "loss": math.nan, "steps": 3}
    noise = rng.normal(size=config.n)
    curve = (config.x**2 + 0.01 * np.cumsum(noise) / np.arange(1, config.n + 1)) * sum(config.widths)
    return {
        "loss": float(curve[-1]),
        "curve": curve,  # a numpy array: the runner makes it plain data
        "label": config.label + ("!" if config.flag else ""),
        "compute": float(config.n * 6 * max(config.x, 1.0)),
        "diverged": False,
    }


QUAD = SimulatorSpec("test-quad", QuadConfig, run_quad, "test fixture: noisy quadratic")


@dataclass(frozen=True)
class BurnConfig:
    work: int = 100_000
    seed: int = 0
    device: str = "cpu"


def run_burn(config: BurnConfig) -> dict:
    # A linear congruential generator: pure-Python integer work, holds the GIL, touches no BLAS.
    s = config.seed + 1
    for _ in range(config.work):
        s = (1103515245 * s + 12345) & 0x7FFFFFFF
    return {"state": s}


BURN = SimulatorSpec("test-burn", BurnConfig, run_burn, "test fixture: CPU-bound pure-Python loop")


@dataclass(frozen=True)
class CheckedConfig:
    P: int = 4
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if self.P < 1:
            raise InputError("P", f"must be at least 1, got {self.P}")


CHECKED = SimulatorSpec("test-checked", CheckedConfig, lambda c: {"P": c.P}, "test fixture: validating config")

@dataclass(frozen=True)
class ThreadsConfig:
    seed: int = 0
    device: str = "cpu"


def run_threads(config: ThreadsConfig) -> dict:
    # What the worker's thread pools look like from inside (numpy's BLAS is loaded by now).
    from threadpoolctl import threadpool_info

    return {
        "pools": [{"api": i.get("internal_api"), "num_threads": i["num_threads"]} for i in threadpool_info()],
        "omp_env": os.environ.get("OMP_NUM_THREADS"),
    }


THREADS = SimulatorSpec("test-threads", ThreadsConfig, run_threads, "test fixture: reports its thread pools")

TARGETS = {
    "test-quad": "tests.sweep_fixtures:QUAD",
    "test-threads": "tests.sweep_fixtures:THREADS",
    "test-burn": "tests.sweep_fixtures:BURN",
    "test-checked": "tests.sweep_fixtures:CHECKED",
}


def register_all() -> None:
    for name, target in TARGETS.items():
        register(name, target)


@contextmanager
def registered():
    """The test simulators in the registry for the duration (other tests never see them)."""
    register_all()
    try:
        yield
    finally:
        for name in TARGETS:
            SIMULATORS.pop(name, None)
