"""Training runs as plain arrays: loading CSV/JSON files, mapping columns to a law's inputs, refusing
bad files.

A run is one trained model: its inputs (N parameters, D tokens, C FLOPs, ...) and its final loss.
Files are tables with a header: CSV, or JSON as a list of records, ``{"runs": [records]}``, or a
mapping of column name -> list. Columns are found by name: ``--n-col`` etc. choose them, otherwise the
usual names are tried (``N``, ``Model Size``, ``params``; ``C``, ``Training FLOP``, ``flops``; ...).

Tokens and compute are linked by the training-FLOP approximation C ≈ 6ND (Kaplan et al. 2020 §2.1;
Hoffmann et al. 2022 use the same to place runs; REFERENCES.md §1, §3): a law that needs D gets
D = C/(6N) when the file gives C and N but no D (as Epoch did for the Chinchilla runs), and compute is
C = 6ND when only N and D are given.

Every problem is an `InputError(field, problem)` naming the file or column, so the CLI prints one line
and exits 2 before anything is written.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from theory.errors import InputError

# Names tried, in order, when no column is chosen for an input (case-insensitive).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "N": ("N", "Model Size", "params", "parameters", "n_params", "model_size"),
    "D": ("D", "tokens", "Training Tokens", "n_tokens", "data"),
    "C": ("C", "Training FLOP", "flops", "compute", "training_flops"),
    "P": ("P", "samples", "n_samples"),
    "U": ("U", "unique_tokens", "Unique Tokens"),
    "x": ("x", "scale"),
}
DEFAULT_LOSS_COLUMNS = ("loss", "Loss", "L", "final_loss", "test_loss", "error")
FLOPS_PER_PARAM_TOKEN = 6.0  # C ≈ 6 N D (Kaplan et al. 2020 §2.1)


@dataclass(frozen=True)
class Runs:
    """Runs as arrays: ``columns`` maps an input name (N, D, C, ...) to positive floats; ``loss`` the
    observed final losses; ``source`` says where they came from and ``column_names`` which file
    column each input was read from (or how it was derived)."""

    columns: Mapping[str, np.ndarray]
    loss: np.ndarray
    source: str = ""
    column_names: Mapping[str, str] = field(default_factory=dict)
    dropped: int = 0

    @property
    def n(self) -> int:
        return int(self.loss.shape[0])

    def has(self, name: str) -> bool:
        return name in self.columns or (name == "D" and {"C", "N"} <= set(self.columns)) or (
            name == "C" and {"N", "D"} <= set(self.columns)
        )

    def get(self, name: str) -> np.ndarray:
        """An input column; D from C/(6N) or C from 6ND when the file gives only the other two."""
        if name in self.columns:
            return self.columns[name]
        if name == "D" and {"C", "N"} <= set(self.columns):
            return self.columns["C"] / (FLOPS_PER_PARAM_TOKEN * self.columns["N"])
        if name == "C" and {"N", "D"} <= set(self.columns):
            return FLOPS_PER_PARAM_TOKEN * self.columns["N"] * self.columns["D"]
        raise InputError(
            f"{name}-col" if name in DEFAULT_COLUMNS else name,
            f"{self.source or 'the runs'} has no column for {name} (found: {', '.join(self.columns) or 'none'})",
        )

    def compute(self) -> np.ndarray:
        """Training FLOPs per run (given, or 6ND)."""
        return self.get("C")

    def inputs_for(self, law) -> dict[str, np.ndarray]:
        """The law's inputs, in its input order, as a name -> array dict."""
        return {name: self.get(name) for name in law.input_names}

    def subset(self, mask: np.ndarray) -> "Runs":
        mask = np.asarray(mask)
        return replace(self, columns={k: v[mask] for k, v in self.columns.items()}, loss=self.loss[mask])


def check_enough_points(law, n: int, field_name: str = "runs") -> None:
    """A law with k parameters needs more than k runs (k + 1 at least) to be fitted at all."""
    k = len(law.param_names)
    if n < k + 1:
        raise InputError(field_name, f"{n} runs are too few to fit law {law.name!r} with {k} parameters (need at least {k + 1})")


# --- reading --------------------------------------------------------------------------------------

def _read_table(path: Path) -> tuple[list[str], list[Mapping[str, object]]]:
    name = str(path)
    if not path.exists():
        raise InputError("FILE", f"{name} does not exist")
    if path.is_dir():
        raise InputError("FILE", f"{name} is a directory, not a CSV or JSON file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("FILE", f"cannot read {name}: {exc.__class__.__name__}") from None
    if not text.strip():
        raise InputError("FILE", f"{name} is empty")
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped[:1] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError("FILE", f"{name} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(data, dict) and "runs" in data:
            data = data["runs"]
        if isinstance(data, dict):  # column name -> list
            cols = list(data)
            lengths = {len(v) if isinstance(v, list) else -1 for v in data.values()}
            if -1 in lengths or len(lengths) != 1:
                raise InputError("FILE", f"{name}: a JSON object must map each column to a list of equal length")
            n = lengths.pop()
            return cols, [{c: data[c][i] for c in cols} for i in range(n)]
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            cols: list[str] = []
            for r in data:
                cols.extend(k for k in r if k not in cols)
            return cols, data
        raise InputError("FILE", f"{name}: expected a list of records, {{\"runs\": [...]}} or a mapping of columns")
    try:
        reader = csv.DictReader(text.splitlines())
        rows = list(reader)
        cols = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise InputError("FILE", f"{name} is not a valid CSV file ({exc})") from None
    if not cols:
        raise InputError("FILE", f"{name} has no header row")
    return cols, rows


def _find_column(cols: Sequence[str], wanted: str | None, candidates: Sequence[str]) -> str | None:
    if wanted is not None:
        return wanted if wanted in cols else None
    lower = {c.lower(): c for c in cols}
    for cand in candidates:
        if cand in cols:
            return cand
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def _column_values(rows, col: str, source: str) -> np.ndarray:
    out = np.empty(len(rows))
    for i, r in enumerate(rows):
        raw = r.get(col)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            raise InputError(col, f"{source} row {i + 1}: missing value")
        if isinstance(raw, bool):
            raise InputError(col, f"{source} row {i + 1}: expected a number, got {raw!r}")
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise InputError(col, f"{source} row {i + 1}: expected a number, got {raw!r}") from None
        if math.isnan(v):
            raise InputError(col, f"{source} row {i + 1}: value is NaN")
        if not math.isfinite(v):
            raise InputError(col, f"{source} row {i + 1}: value is infinite")
        if v <= 0:
            raise InputError(col, f"{source} row {i + 1}: value must be positive, got {v!r}")
        out[i] = v
    return out


def load_runs(
    path: str | Path,
    *,
    columns: Mapping[str, str | None] | None = None,
    loss_col: str | None = None,
    need: Sequence[str] = (),
    drop_highest_loss: int = 0,
) -> Runs:
    """Read runs from a CSV or JSON file.

    ``columns`` maps an input name (N, D, C, P, U, x) to a file column chosen by the caller (None:
    try the default names); ``need`` lists the inputs that must be available (directly or through
    C ≈ 6ND). ``drop_highest_loss`` removes that many runs with the largest loss (Epoch drops 5 of the
    Chinchilla runs, REFERENCES.md §3).
    """
    path = Path(path)
    source = path.name
    cols, rows = _read_table(path)
    chosen = dict(columns or {})
    found: dict[str, str] = {}
    for name, cands in DEFAULT_COLUMNS.items():
        wanted = chosen.get(name)
        col = _find_column(cols, wanted, cands)
        if wanted is not None and col is None:
            raise InputError(f"{name.lower()}-col", f"column {wanted!r} is not in {source} (columns: {', '.join(cols)})")
        if col is not None:
            found[name] = col
    for name in chosen:
        if name not in DEFAULT_COLUMNS:
            raise InputError("column", f"unknown input {name!r} (inputs: {', '.join(DEFAULT_COLUMNS)})")
    lcol = _find_column(cols, loss_col, DEFAULT_LOSS_COLUMNS)
    if lcol is None:
        if loss_col is not None:
            raise InputError("loss-col", f"column {loss_col!r} is not in {source} (columns: {', '.join(cols)})")
        raise InputError("loss-col", f"{source} has no loss column (tried {', '.join(DEFAULT_LOSS_COLUMNS)}; columns: {', '.join(cols)}); choose one with --loss-col")
    if not rows:
        raise InputError("FILE", f"{source} has a header but no runs")
    # Only the columns that are used are checked, so unrelated text columns (colours) are fine.
    data = {name: _column_values(rows, col, source) for name, col in found.items() if _is_used(name, need, found)}
    loss = _column_values(rows, lcol, source)
    runs = Runs(data, loss, source, {**{k: found[k] for k in data}, "loss": lcol})
    for name in need:
        if not runs.has(name):
            alts = ", ".join(DEFAULT_COLUMNS.get(name, (name,)))
            extra = " (or C and N, for D = C/(6N))" if name == "D" else (" (or N and D, for C = 6ND)" if name == "C" else "")
            raise InputError(
                f"{name.lower()}-col" if name in DEFAULT_COLUMNS else name,
                f"{source} has no column for input {name}{extra}; tried {alts}; columns: {', '.join(cols)}",
            )
    if drop_highest_loss:
        runs = drop_highest(runs, drop_highest_loss)
    return runs


def _is_used(name: str, need: Sequence[str], found: Mapping[str, str]) -> bool:
    if not need or name in need:
        return True
    # C and N feed D = C/(6N); N and D feed C = 6ND; compute is also used for grouping and cut-offs.
    return name in ("N", "C", "D")


def drop_highest(runs: Runs, k: int) -> Runs:
    """Remove the ``k`` runs with the largest loss (ties broken by position, stably)."""
    if k < 0:
        raise InputError("drop-highest-loss", f"must not be negative, got {k}")
    if k >= runs.n:
        raise InputError("drop-highest-loss", f"dropping {k} of {runs.n} runs leaves none")
    if k == 0:
        return runs
    order = np.argsort(runs.loss, kind="stable")
    keep = np.zeros(runs.n, bool)
    keep[order[: runs.n - k]] = True
    out = runs.subset(keep)
    return replace(out, dropped=runs.dropped + k)


def runs_from_arrays(inputs: Mapping[str, object], loss: object, source: str = "arrays") -> Runs:
    """Runs from in-memory arrays, validated like a file (positive, finite, equal lengths)."""
    y = np.asarray(loss, dtype=float).ravel()
    cols = {}
    for k, v in inputs.items():
        a = np.asarray(v, dtype=float).ravel()
        if a.shape != y.shape:
            raise InputError(k, f"has {a.size} values but there are {y.size} losses")
        cols[k] = a
    for k, a in {**cols, "loss": y}.items():
        if np.any(np.isnan(a)):
            raise InputError(k, "contains NaN")
        if np.any(~np.isfinite(a)) or np.any(a <= 0):
            raise InputError(k, "values must be finite and positive")
    return Runs(cols, y, source, {k: k for k in cols})


def check_output_dir(path: str | Path | None, field: str) -> Path | None:
    """Refuse an output folder before any work, so nothing is half-written: an existing non-folder, or
    a place where no folder can be made. The nearest existing ancestor gets a scratch folder made and
    removed (permission bits alone do not say that, e.g. under /proc as root). None passes through."""
    import os
    import tempfile

    if path is None:
        return None
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(field, f"{str(out)!r} exists and is not a folder")
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".out-check-"))
    except OSError as exc:
        raise InputError(field, f"cannot write under {parent}: {exc.strerror or exc}") from None
    return out
