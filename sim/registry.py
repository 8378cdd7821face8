"""The simulators a sweep (or the shortcut report) can run, by name.

Contract for a simulator module: it defines ``SIMULATOR = SimulatorSpec(...)`` where

- ``config_type`` is a frozen dataclass whose fields are the simulator's options with underscores
  (the same names as the `simulate` command's options: ``spectrum_decay``, ``P``, ``d_model``), typed
  ``int``, ``float``, ``str``, ``bool`` or ``tuple[int, ...]`` / ``tuple[float, ...]``, all with
  defaults, and which includes ``seed: int`` and ``device: str``;
- ``run(config) -> dict`` trains one run and returns plain JSON-safe data (numbers, strings, lists).
  It raises on failure (the sweep records the error text) and returns ``{"diverged": True, ...}``
  when training diverged. It must be deterministic in ``config`` on CPU.

Entries are imported lazily, so listing a simulator costs nothing until it is used.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, Callable

from sim.errors import InputError


@dataclass(frozen=True)
class SimulatorSpec:
    name: str
    config_type: type
    run: Callable[[Any], dict]
    description: str = ""

    def option_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.config_type)]


# name -> "module:attribute"
SIMULATORS: dict[str, str] = {
    "kernel": "sim.kernel:SIMULATOR",
    "rf": "sim.rf:SIMULATOR",
    "transformer": "sim.transformer:SIMULATOR",
    "perceptron": "sim.perceptron:SIMULATOR",
    "kernel-pruning": "sim.kernel_pruning:SIMULATOR",
}


def register(name: str, target: str) -> None:
    SIMULATORS[name] = target


def simulator_names() -> list[str]:
    return sorted(SIMULATORS)


def get_simulator(name: str) -> SimulatorSpec:
    if name not in SIMULATORS:
        raise InputError("simulator", f"unknown simulator {name!r} (known: {', '.join(simulator_names()) or 'none'})")
    module, _, attr = SIMULATORS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
