"""Conventions shared by every command.

- ``--json`` prints exactly one JSON object on stdout (`emit`); human output is a rich table.
- Bad input raises `CLIError` (or an `InputError` from a package); `cli.main` prints one line on
  stderr, ``error: FIELD: PROBLEM``, and exits 2 before anything is written.
- Progress bars go to stderr (`progress`), so ``--json`` output stays clean.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any, Iterable

import typer
from rich.console import Console

stderr_console = Console(stderr=True)
stdout_console = Console()


class CLIError(Exception):
    """Bad input found by a command: one line, exit 2."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@dataclass
class Apps:
    """The typer apps commands register into."""

    root: typer.Typer
    predict: typer.Typer
    simulate: typer.Typer
    validate: typer.Typer
    runs: typer.Typer


def _plain(obj: Any) -> Any:
    """JSON-safe plain data: numpy scalars/arrays to Python, non-finite floats to null."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if np is not None:
        if isinstance(obj, np.ndarray):
            return _plain(obj.tolist())
        if isinstance(obj, np.generic):
            return _plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def to_json(obj: Any) -> str:
    return json.dumps(_plain(obj), allow_nan=False)


def emit(obj: dict) -> None:
    """Print one JSON object on stdout (the only thing a ``--json`` command prints there)."""
    sys.stdout.write(to_json(obj) + "\n")
    sys.stdout.flush()


def parse_float(text: str, field: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CLIError(field, f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise CLIError(field, f"must be finite, got {text!r}")
    if positive and value <= 0:
        raise CLIError(field, f"must be positive, got {text!r}")
    if nonnegative and value < 0:
        raise CLIError(field, f"must not be negative, got {text!r}")
    return value


def parse_float_list(text: str, field: str, *, positive: bool = False, nonnegative: bool = False) -> list[float]:
    """'16,64,256' or '1e3, 2e3' -> floats; empty items are an error."""
    items = [t.strip() for t in str(text).split(",")]
    if not items or any(t == "" for t in items):
        raise CLIError(field, f"expected a comma-separated list of numbers, got {text!r}")
    return [parse_float(t, field, positive=positive, nonnegative=nonnegative) for t in items]


def parse_int_list(text: str, field: str, *, minimum: int = 1) -> list[int]:
    """'16,64,256' (or '1e3') -> integers >= minimum."""
    out = []
    for v in parse_float_list(text, field):
        if v != int(v):
            raise CLIError(field, f"expected whole numbers, got {v!r}")
        if v < minimum:
            raise CLIError(field, f"must be at least {minimum}, got {int(v)}")
        out.append(int(v))
    return out


def parse_key_values(items: Iterable[str], field: str) -> dict[str, float]:
    """['E=1.8', 'A=482'] -> {'E': 1.8, 'A': 482.0}. Names must be identifiers."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise CLIError(field, f"expected NAME=VALUE, got {item!r}")
        out[name] = parse_float(value.strip(), field)
    return out


def progress(transient: bool = True):
    """A rich progress bar on stderr with a bar, counts, elapsed time and ETA."""
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=stderr_console,
        transient=transient,
    )


JSON_OPTION_HELP = "Print one JSON object on stdout and nothing else."
DEVICE_OPTION_HELP = "cpu, gpu (an error if none works) or auto (the GPU when one works; says which ran)."
