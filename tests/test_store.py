"""The results store: stable keys, one row per run, one transaction per run, the query API."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import InputError
from validate.store import RunRecord, Store, canonical_json, rows_to_csv, run_key


def _rec(key_cfg: dict, status="ok", sweep="s1", results=None, **kw) -> RunRecord:
    return RunRecord(
        key=run_key("sim-a", key_cfg), simulator="sim-a", sweep=sweep, seed=key_cfg.get("seed"),
        config=key_cfg, status=status, results=results if results is not None else ({"loss": 1.5} if status != "failed" else None),
        error="ValueError: boom" if status == "failed" else None, **kw,
    )


json_scalars = st.one_of(
    st.integers(-10**9, 10**9), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5), st.booleans()
)
configs = st.dictionaries(st.text(min_size=1, max_size=6), st.one_of(json_scalars, st.lists(json_scalars, max_size=3)), max_size=6)


@given(configs)
def test_run_key_is_independent_of_key_order_and_tuple_vs_list(cfg):
    reordered = dict(reversed(list(cfg.items())))
    as_tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
    assert run_key("sim-a", cfg) == run_key("sim-a", reordered) == run_key("sim-a", as_tuples)
    assert run_key("sim-a", cfg) != run_key("sim-b", cfg)


def test_run_key_tells_apart_what_differs():
    base = {"P": 64, "ridge": 0.1, "seed": 0, "device": "cpu"}
    keys = {run_key("k", base), run_key("k", {**base, "seed": 1}), run_key("k", {**base, "P": 65}),
            run_key("k", {**base, "device": "gpu"}), run_key("k", {**base, "ridge": 0.1000001})}
    assert len(keys) == 5
    # A pinned value: a change to the hashing would silently orphan every store on disk.
    assert run_key("k", base) == "5a19716e452975ca2169e4d1723514a1d504ca610fb0879072b0aa53a68341eb"
    assert canonical_json({"b": 1.0, "a": [1, 2]}) == '{"a":[1,2],"b":1.0}'


def test_put_replaces_and_never_duplicates(tmp_path):
    with Store(tmp_path / "r.db") as db:
        cfg = {"P": 4, "seed": 0}
        db.put(_rec(cfg, status="failed"))
        assert db.finished_keys() == set()  # failed runs are retried on resume
        db.put(_rec(cfg, status="ok", results={"loss": 0.25}))
        db.put(_rec(cfg, status="ok", results={"loss": 0.25}))
        assert db.count() == 1
        (r,) = db.runs()
        assert r.results == {"loss": 0.25} and r.error is None and r.config == cfg
        db.put(_rec({"P": 4, "seed": 1}, status="diverged", results={"diverged": True, "loss": float("nan")}))
        assert db.finished_keys() == {run_key("sim-a", cfg), run_key("sim-a", {"P": 4, "seed": 1})}
        (d,) = db.runs(status="diverged")
        assert d.results == {"diverged": True, "loss": None}  # NaN stored as null, valid JSON


def test_wal_and_committed_rows_visible_to_other_connections(tmp_path):
    path = tmp_path / "r.db"
    with Store(path) as db:
        db.put(_rec({"P": 1, "seed": 0}))
        other = sqlite3.connect(path)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # Committed without closing: another connection (a process that outlives a SIGKILL) sees it.
        assert other.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        other.close()


def test_query_api_filters_and_sweep_membership(tmp_path):
    with Store(tmp_path / "r.db") as db:
        a = _rec({"P": 1, "seed": 0}, sweep="A")
        b = _rec({"P": 2, "seed": 0}, sweep="A", status="failed")
        db.add_sweep("A", "sim-a", "spec A", [a.key, b.key])
        db.put(a)
        db.put(b)
        # Sweep B asks for run a again: it is not rerun or duplicated, but belongs to B as well.
        db.add_sweep("B", "sim-a", "spec B", [a.key])
        assert [r.key for r in db.runs(sweep="B")] == [a.key]
        assert [r.key for r in db.runs(sweep="A")] == [a.key]
        assert {r.key for r in db.runs(sweep="A", status=None)} == {a.key, b.key}
        assert [r.key for r in db.runs(status="failed")] == [b.key]
        assert db.runs(simulator="other") == []
        assert db.runs(sweep="nope") == []
        sweeps = {s["name"]: s for s in db.sweeps()}
        assert sweeps["A"]["planned"] == 2 and sweeps["A"]["ok"] == 1 and sweeps["A"]["failed"] == 1
        assert sweeps["B"]["planned"] == 1 and sweeps["B"]["not_run"] == 0
        with pytest.raises(InputError):
            db.runs(status="done")
        assert db.get(a.key[:8]).key == a.key
        with pytest.raises(InputError, match="no run"):
            db.get("ffffff" if not a.key.startswith("ffffff") else "eeeeee")


def test_to_rows_flattens_and_csv_round_trips(tmp_path):
    with Store(tmp_path / "r.db") as db:
        db.put(_rec({"P": 3, "widths": [1, 2], "seed": 0}, results={"loss": 0.5, "curve": [1.0, 0.5], "acc": {"top1": 0.9}},
                    prediction={"law": "power-law", "loss": 0.45}, wall_time_s=0.01, device="cpu: x"))
        (row,) = db.to_rows()
    assert row["config.P"] == 3 and row["config.widths"] == [1, 2]
    assert row["results.loss"] == 0.5 and row["results.acc.top1"] == 0.9 and row["results.curve"] == [1.0, 0.5]
    assert row["prediction.loss"] == 0.45 and row["status"] == "ok" and row["seed"] == 0
    buf = io.StringIO()
    rows_to_csv([row], buf)
    header, line = buf.getvalue().splitlines()
    import csv

    parsed = dict(zip(next(csv.reader([header])), next(csv.reader([line]))))
    assert json.loads(parsed["results.curve"]) == [1.0, 0.5] and float(parsed["results.loss"]) == 0.5


def test_bad_store_files_are_input_errors(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite, just text " * 100)
    with pytest.raises(InputError, match="not a results store"):
        Store(junk)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match="not a results store"):
        Store(other)
    with pytest.raises(InputError, match="no results store"):
        Store(tmp_path / "missing.db", create=False)
    with pytest.raises(InputError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "dir.db")
