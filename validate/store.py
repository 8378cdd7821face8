"""The results store: one SQLite file (standard library) holding every run of every sweep.

Guarantees (what the sweep runner and its tests rely on):

- **One row per run**, keyed by `run_key`: the sha256 of the canonical JSON of the simulator's name
  and the run's full configuration (every option of the simulator's config dataclass, defaults
  included, seed and device among them). The same run asked for twice, by two sweeps or by a
  resumed one, is the same row: never duplicated.
- **Each finished run is its own transaction** (``BEGIN IMMEDIATE`` ... ``COMMIT``) in WAL mode, so
  a sweep killed at any moment, SIGKILL included, loses only the runs still in flight. With
  ``synchronous=NORMAL`` a commit survives the death of the process (it is in the WAL file once the
  commit returns); only an operating-system crash or power cut can roll back the last few commits,
  never corrupt the file (SQLite's WAL documentation).
- **Resume policy**: runs whose status is ``ok`` or ``diverged`` are finished (divergence is a
  deterministic outcome of the configuration on CPU: rerunning gives the same answer) and are
  skipped. Runs whose status is ``failed`` are run again on resume, because failures are often
  transient (out of memory, a killed worker, a bug fixed since); their row is replaced, not added.
- **Sweep membership** is kept apart from the run row: a run produced by sweep A and later asked for
  by sweep B is stored once and belongs to both (`Store.runs(sweep="B")` finds it). The row's own
  ``sweep`` column names the sweep that first produced it.

The query API is for later readers (the fitter, the shortcut report): `Store.runs` returns
`RunRecord`s, `Store.to_rows` flattens configuration, results and prediction into flat dicts for CSV.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sim.errors import InputError

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "diverged")
FINISHED = ("ok", "diverged")  # skipped on resume; "failed" runs are retried

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key          TEXT PRIMARY KEY,   -- sha256 of canonical JSON {simulator, config}
    simulator    TEXT NOT NULL,
    sweep        TEXT NOT NULL,      -- the sweep that first produced this row
    seed         INTEGER,
    config       TEXT NOT NULL,      -- JSON of the full configuration (field order)
    status       TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'diverged')),
    error        TEXT,               -- the error text of a failed run
    results      TEXT,               -- JSON of what the simulator returned (NULL when failed)
    prediction   TEXT,               -- JSON of the [predict] law evaluated beside the run, or NULL
    code_version TEXT,
    device       TEXT,
    wall_time_s  REAL,               -- the run's own time, measured in the worker
    created      TEXT NOT NULL       -- UTC, ISO 8601
);
CREATE INDEX IF NOT EXISTS runs_simulator ON runs (simulator, status);
CREATE TABLE IF NOT EXISTS sweeps (
    name      TEXT PRIMARY KEY,
    simulator TEXT NOT NULL,
    spec      TEXT NOT NULL,         -- the spec file's text as last run
    spec_path TEXT,
    updated   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_runs (
    sweep TEXT NOT NULL,
    key   TEXT NOT NULL,
    PRIMARY KEY (sweep, key)
) WITHOUT ROWID;
"""


# --- Plain data and keys ---------------------------------------------------------------------------

def plain(obj: Any) -> Any:
    """JSON-safe plain data: numpy scalars and arrays to Python, tuples to lists, non-finite floats
    to None. Anything else that JSON cannot hold raises TypeError (the run is then recorded failed)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):  # float(): numpy's float64 is a float subclass
        return float(obj) if math.isfinite(obj) else None
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays (and cupy ones)
    if callable(tolist):
        return plain(tolist())
    raise TypeError(f"{type(obj).__name__} is not JSON-safe plain data")


def canonical_json(obj: Any) -> str:
    """One text per value: sorted keys, no spaces, no NaN, floats by repr (shortest round trip)."""
    return json.dumps(plain(obj), sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def _dumps(obj: Any) -> str:
    """Stored JSON: plain data in its own key order (canonical order is only for keys)."""
    return json.dumps(plain(obj), separators=(",", ":"), allow_nan=False)


def run_key(simulator: str, config: Mapping[str, Any]) -> str:
    """The stable identity of a run: sha256 over the simulator's name and its full configuration
    (which includes the seed and the device)."""
    text = canonical_json({"simulator": simulator, "config": dict(config)})
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# --- Records ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunRecord:
    key: str
    simulator: str
    sweep: str
    seed: int | None
    config: dict
    status: str  # ok | failed | diverged
    results: dict | None = None
    error: str | None = None
    prediction: dict | None = None
    code_version: str | None = None
    device: str | None = None
    wall_time_s: float | None = None
    created: str = field(default_factory=utc_now)

    def as_dict(self) -> dict:
        return {
            "key": self.key, "simulator": self.simulator, "sweep": self.sweep, "seed": self.seed,
            "status": self.status, "error": self.error, "config": self.config, "results": self.results,
            "prediction": self.prediction, "code_version": self.code_version, "device": self.device,
            "wall_time_s": self.wall_time_s, "created": self.created,
        }

    def to_row(self) -> dict:
        """A flat dict: record columns, then ``config.X``, ``results.Y`` and ``prediction.Z`` (nested
        dicts flattened with dots; lists kept as lists, written as JSON text in CSV)."""
        row = {k: getattr(self, k) for k in ROW_COLUMNS}
        row.update(_flatten(self.config, "config."))
        row.update(_flatten(self.results or {}, "results."))
        row.update(_flatten(self.prediction or {}, "prediction."))
        return row


_COLUMNS = "key, simulator, sweep, seed, config, status, error, results, prediction, code_version, device, wall_time_s, created"
ROW_COLUMNS = ("key", "simulator", "sweep", "seed", "status", "error", "wall_time_s", "device", "code_version", "created")


def _flatten(d: Mapping, prefix: str) -> dict:
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def rows_to_csv(rows: Sequence[Mapping], fh) -> None:
    """Write flat rows as CSV: the union of their columns in first-seen order; lists as JSON text."""
    import csv

    columns: dict[str, None] = {}
    for r in rows:
        for k in r:
            columns.setdefault(k, None)
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(
            "" if r.get(c) is None else json.dumps(r[c]) if isinstance(r.get(c), (list, dict)) else r[c]
            for c in columns
        )


# --- The store -------------------------------------------------------------------------------------

class Store:
    """An SQLite results store. Use one `Store` per thread (sqlite3 connections are not shared).

    ``Store(path)`` creates the file when it is missing; ``Store(path, create=False)`` insists that
    it exists (for the `runs` commands). Errors about the file are `InputError('--store', ...)`.
    """

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise InputError("--store", f"{self.path} is not a file")
        if not self.path.exists():
            if not create:
                raise InputError("--store", f"no results store at {self.path}")
            if not self.path.parent.is_dir():
                raise InputError("--store", f"folder {self.path.parent} does not exist")
        try:
            # isolation_level=None: no implicit transactions; each write says BEGIN/COMMIT itself.
            self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise InputError("--store", f"{self.path}: SQLite could not use a WAL journal here (got {mode})")
            self._db.execute("PRAGMA synchronous = NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise InputError("--store", f"{self.path} was written by a newer version (schema {version})")
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "runs" not in tables:
                raise InputError("--store", f"{self.path} is an SQLite file but not a results store")
            self._db.executescript(_SCHEMA)
            if version == 0:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise InputError("--store", f"{self.path} is not a results store ({exc})") from None

    @staticmethod
    def check(path: str | Path) -> None:
        """Raise InputError now if ``Store(path)`` would fail, creating nothing when the file is
        missing (so a command can check its store before it starts other work)."""
        path = Path(path)
        if path.exists():
            Store(path, create=False).close()
        elif not path.parent.is_dir():
            raise InputError("--store", f"folder {path.parent} does not exist")

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------------
    def add_sweep(self, name: str, simulator: str, spec_text: str, keys: Iterable[str], spec_path: str | None = None) -> None:
        """Record a sweep and which runs belong to it (one transaction)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO sweeps (name, simulator, spec, spec_path, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET simulator = excluded.simulator, spec = excluded.spec, "
                "spec_path = excluded.spec_path, updated = excluded.updated",
                (name, simulator, spec_text, spec_path, utc_now()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO sweep_runs (sweep, key) VALUES (?, ?)", ((name, k) for k in keys)
            )

    def put(self, record: RunRecord) -> None:
        """Commit one finished run in its own transaction, replacing any earlier row of the same key
        (a failed run retried, or a run redone with --no-resume)."""
        if record.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {record.status!r}")
        values = (
            record.key, record.simulator, record.sweep, record.seed, _dumps(record.config),
            record.status, record.error,
            None if record.results is None else _dumps(record.results),
            None if record.prediction is None else _dumps(record.prediction),
            record.code_version, record.device, record.wall_time_s, record.created,
        )
        with self._transaction():
            self._db.execute(
                "INSERT INTO runs (key, simulator, sweep, seed, config, status, error, results, prediction, "
                "code_version, device, wall_time_s, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET status = excluded.status, error = excluded.error, "
                "results = excluded.results, prediction = excluded.prediction, "
                "code_version = excluded.code_version, device = excluded.device, "
                "wall_time_s = excluded.wall_time_s, created = excluded.created",
                values,
            )

    def _transaction(self):
        db = self._db

        class _Tx:
            def __enter__(self_inner):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, exc_type, exc, tb):
                db.execute("COMMIT" if exc_type is None else "ROLLBACK")
                return False

        return _Tx()

    # -- reading ------------------------------------------------------------------------------------
    def finished_keys(self) -> set[str]:
        """Keys of runs that a resumed sweep skips (status ok or diverged)."""
        q = f"SELECT key FROM runs WHERE status IN ({', '.join('?' * len(FINISHED))})"
        return {r[0] for r in self._db.execute(q, FINISHED)}

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def runs(
        self,
        simulator: str | None = None,
        sweep: str | None = None,
        status: str | Sequence[str] | None = "ok",
    ) -> list[RunRecord]:
        """Finished runs, oldest first. ``status``: one status, several, or None for all.
        ``sweep`` selects the runs that belong to that sweep (including ones another sweep made)."""
        where, args = [], []
        if simulator is not None:
            where.append("r.simulator = ?")
            args.append(simulator)
        if sweep is not None:
            where.append("r.key IN (SELECT key FROM sweep_runs WHERE sweep = ?)")
            args.append(sweep)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise InputError("--status", f"unknown status {bad[0]!r} (known: {', '.join(STATUSES)}, all)")
            where.append(f"r.status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        q = f"SELECT {_COLUMNS} FROM runs r" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.created, r.rowid"
        return [self._record(row) for row in self._select(q, args)]

    def get(self, key: str) -> RunRecord:
        """One run by its key or a unique prefix of it (at least 6 hex digits)."""
        key = key.strip().lower()
        if len(key) < 6 or any(c not in "0123456789abcdef" for c in key):
            raise InputError("KEY", f"expected a run key or a prefix of at least 6 hex digits, got {key!r}")
        rows = self._select(f"SELECT {_COLUMNS} FROM runs WHERE key >= ? AND key < ? ORDER BY key LIMIT 2", (key, key + "g"))
        if not rows:
            raise InputError("KEY", f"no run with key {key!r} in {self.path}")
        if len(rows) > 1:
            raise InputError("KEY", f"key prefix {key!r} matches several runs; give more digits")
        return self._record(rows[0])

    def to_rows(self, simulator: str | None = None, sweep: str | None = None, status: str | Sequence[str] | None = "ok") -> list[dict]:
        """`runs(...)` flattened for CSV: see `RunRecord.to_row`."""
        return [r.to_row() for r in self.runs(simulator=simulator, sweep=sweep, status=status)]

    def sweeps(self) -> list[dict]:
        """Every sweep recorded, with how many of its runs are in each status (and not yet run)."""
        out = []
        for name, simulator, spec_path, updated in self._select(
            "SELECT name, simulator, spec_path, updated FROM sweeps ORDER BY updated, name", ()
        ):
            counts = dict(self._select(
                "SELECT r.status, COUNT(*) FROM sweep_runs s JOIN runs r ON r.key = s.key WHERE s.sweep = ? GROUP BY r.status",
                (name,),
            ))
            planned = self._select("SELECT COUNT(*) FROM sweep_runs WHERE sweep = ?", (name,))[0][0]
            done = sum(counts.values())
            out.append({
                "name": name, "simulator": simulator, "spec_path": spec_path, "updated": updated,
                "planned": planned, **{s: counts.get(s, 0) for s in STATUSES}, "not_run": planned - done,
            })
        return out

    def _select(self, q: str, args) -> list:
        try:
            return self._db.execute(q, tuple(args)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise InputError("--store", f"{self.path}: {exc}") from None

    def _record(self, row) -> RunRecord:
        (key, simulator, sweep, seed, config, status, error, results, prediction,
         code_version, device, wall_time_s, created) = row
        return RunRecord(
            key=key, simulator=simulator, sweep=sweep, seed=seed, config=json.loads(config), status=status,
            results=None if results is None else json.loads(results), error=error,
            prediction=None if prediction is None else json.loads(prediction),
            code_version=code_version, device=device, wall_time_s=wall_time_s, created=created,
        )
