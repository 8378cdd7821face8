"""`python cli.py sweep` and `runs list|show|export`: exit codes, JSON, refusals, and a sweep that is
SIGKILLed mid-way (a real subprocess) then resumed to exactly the results of an uninterrupted one."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cli
import tests.sweep_fixtures as fx
from validate.store import Store
from validate.sweep import load_spec, run_sweep

REPO = Path(__file__).resolve().parent.parent
# The CLI's own entry point, in a fresh interpreter that also registers the test simulators.
ENTRY = "import sys, tests.sweep_fixtures as f, cli; f.register_all(); sys.exit(cli.main(sys.argv[1:]))"

QUAD_SPEC = """
[sweep]
name = "cli-demo"
simulator = "test-quad"
seeds = [0, 1]
[grid]
x = [0.5, 2.0, -1.0, 300.0]
n = 6
"""


@pytest.fixture(autouse=True, scope="module")
def _test_simulators():
    with fx.registered():
        yield


def _write(tmp_path, text, name="spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _main(capsys, *args) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_sweep_json_exit_code_and_runs_commands(tmp_path, capsys):
    spec, db = _write(tmp_path, QUAD_SPEC), tmp_path / "runs.db"
    rc, out, _ = _main(capsys, "sweep", spec, "--store", db, "--workers", "2", "--json")
    assert rc == 1  # two runs failed (x = -1)
    res = json.loads(out)
    assert {k: res[k] for k in ("total", "ok", "failed", "diverged", "skipped")} == {
        "total": 8, "ok": 4, "failed": 2, "diverged": 2, "skipped": 0}
    # The rerun skips the finished runs and reruns the failed ones: still failing, still exit 1.
    rc, out, _ = _main(capsys, "sweep", spec, "--store", db, "--json")
    assert rc == 1 and json.loads(out)["skipped"] == 6 and json.loads(out)["failed"] == 2

    rc, out, _ = _main(capsys, "runs", "list", "--store", db, "--json")
    listed = json.loads(out)
    assert rc == 0 and len(listed["runs"]) == 8
    assert listed["sweeps"][0]["name"] == "cli-demo" and listed["sweeps"][0]["failed"] == 2
    failed = [r for r in listed["runs"] if r["status"] == "failed"]
    assert len(failed) == 2 and all(r["error"].startswith("ValueError") for r in failed)

    rc, out, _ = _main(capsys, "runs", "show", failed[0]["key"][:10], "--store", db, "--json")
    shown = json.loads(out)
    assert rc == 0 and shown["key"] == failed[0]["key"] and "Traceback" in shown["error"]

    out_csv = tmp_path / "runs.csv"
    rc, out, _ = _main(capsys, "runs", "export", "--store", db, "--status", "ok", "--out", out_csv, "--json")
    assert rc == 0 and json.loads(out) == {"out": str(out_csv), "format": "csv", "rows": 4}
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == 4 and {float(r["config.x"]) for r in rows} == {0.5, 2.0}
    assert all(json.loads(r["results.curve"]) and r["status"] == "ok" for r in rows)

    rc, out, _ = _main(capsys, "runs", "export", "--store", db, "--format", "json", "--sweep", "cli-demo")
    assert rc == 0 and len(json.loads(out)["runs"]) == 8
    rc, out, _ = _main(capsys, "runs", "export", "--store", db, "--sweep", "other", "--format", "json")
    assert rc == 0 and json.loads(out)["runs"] == []


def test_successful_sweep_exits_0(tmp_path, capsys):
    spec = _write(tmp_path, QUAD_SPEC.replace("x = [0.5, 2.0, -1.0, 300.0]", "x = [0.5, 300.0]"))
    rc, out, _ = _main(capsys, "sweep", spec, "--store", tmp_path / "r.db", "--workers", "1")
    assert rc == 0 and "2 ok, 0 failed, 2 diverged" in out


@pytest.mark.parametrize(
    "args,field",
    [
        (["--workers", "0"], "--workers"),
        (["--executor", "slurm"], "--executor"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, args, field):
    db = tmp_path / "r.db"
    rc, out, err = _main(capsys, "sweep", _write(tmp_path, QUAD_SPEC), "--store", db, *args)
    assert rc == 2 and out == "" and err.startswith(f"error: {field}: ") and len(err.strip().splitlines()) == 1
    assert not db.exists()


def test_a_file_that_is_not_a_store_is_refused_untouched(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("my notes, not a database\n" * 50)
    before = junk.read_bytes()
    rc, out, err = _main(capsys, "sweep", _write(tmp_path, QUAD_SPEC), "--store", junk)
    assert rc == 2 and out == "" and err.startswith("error: --store: ") and "not a results store" in err
    assert junk.read_bytes() == before


def test_malformed_spec_exit_2_one_line_naming_file_and_key(tmp_path, capsys):
    spec = _write(tmp_path, QUAD_SPEC.replace("n = 6", 'n = "six"'), "bad.toml")
    db = tmp_path / "r.db"
    rc, out, err = _main(capsys, "sweep", spec, "--store", db, "--json")
    assert rc == 2 and out == ""
    assert err.strip() == f"error: {spec}: [grid] n: expected an integer, got 'six'"
    assert not db.exists()  # refused before anything was written
    rc, _, err = _main(capsys, "sweep", tmp_path / "absent.toml", "--store", db)
    assert rc == 2 and "no such spec file" in err and not db.exists()


def test_dask_missing_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the 'cluster' extra were absent
    db = tmp_path / "r.db"
    rc, out, err = _main(capsys, "sweep", _write(tmp_path, QUAD_SPEC), "--store", db, "--executor", "dask")
    assert rc == 2 and out == "" and not db.exists()
    assert err.startswith("error: --executor: ") and "'cluster' extra" in err and len(err.strip().splitlines()) == 1


def test_runs_commands_refuse_a_missing_store(tmp_path, capsys):
    rc, _, err = _main(capsys, "runs", "list", "--store", tmp_path / "none.db")
    assert rc == 2 and err.startswith("error: --store: no results store")
    assert not (tmp_path / "none.db").exists()


# --- SIGKILL mid-way, then resume --------------------------------------------------------------------

# 96 runs of >= 60 ms on 2 workers: about 3 s, so a loaded machine's lag between the 4th commit and the
# signal cannot let the sweep finish first (a 32-run spec once did, under a 2-worker job beside it).
KILL_SPEC = """
[sweep]
name = "kill-me"
simulator = "test-quad"
seeds = [0, 1]
[grid]
x = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0, 4.25, 4.5, 4.75, 5.0, 5.25, 5.5, 5.75, 6.0, 6.25, 6.5, 6.75, 7.0, 7.25, 7.5, 7.75, 8.0, 8.25, 8.5, 8.75, 9.0, 9.25, 9.5, 9.75, 10.0, 10.25, 10.5, 10.75, 11.0, 11.25, 11.5, 11.75]
n = 5
sleep_s = 0.06
"""


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        con.close()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc); empty elsewhere."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            for k in kids:
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _start_sweep(spec: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, "sweep", str(spec), "--store", str(db), "--workers", "2", "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _kill_when_committed(proc: subprocess.Popen, db: Path, at_least: int, sig: int) -> set[int]:
    deadline = time.monotonic() + 120
    while _count(db) < at_least:
        assert proc.poll() is None, f"the sweep ended before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline, "no runs committed in time"
        time.sleep(0.02)
    family = _descendants(proc.pid)
    os.kill(proc.pid, sig)
    return family


def _assert_no_orphans(family: set[int]) -> None:
    deadline = time.monotonic() + 15
    while any(_running(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in family if _running(p)], "worker processes outlived their sweep"


def test_sigkill_mid_sweep_then_resume_matches_uninterrupted(tmp_path):
    spec_path = _write(tmp_path, KILL_SPEC)
    spec = load_spec(spec_path)
    db = tmp_path / "runs.db"
    proc = _start_sweep(spec_path, db)
    family = _kill_when_committed(proc, db, 6, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = _count(db)
    assert 6 <= killed_at < spec.total, "the kill should land mid-way"
    _assert_no_orphans(family)

    resumed = subprocess.run(
        [sys.executable, "-c", ENTRY, "sweep", str(spec_path), "--store", str(db), "--workers", "2", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    counts = json.loads(resumed.stdout)
    assert counts["skipped"] == killed_at and counts["ok"] == spec.total - killed_at and counts["failed"] == 0

    with Store(tmp_path / "reference.db") as ref:
        run_sweep(spec, ref, workers=2)
        reference = {r.key: r.results for r in ref.runs()}
    con = sqlite3.connect(db)
    keys = [k for (k,) in con.execute("SELECT key FROM runs")]
    con.close()
    assert sorted(keys) == sorted(t.key for t in spec.tasks)  # every run, each exactly once
    with Store(db) as resumed_db:
        got = {r.key: r.results for r in resumed_db.runs()}
    assert got == reference


def test_ctrl_c_keeps_finished_runs_and_exits_130(tmp_path):
    spec_path = _write(tmp_path, KILL_SPEC)
    db = tmp_path / "runs.db"
    proc = _start_sweep(spec_path, db)
    family = _kill_when_committed(proc, db, 4, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "error: interrupted; finished runs are kept in" in err and out == ""
    _assert_no_orphans(family)
    n = _count(db)
    assert 4 <= n < load_spec(spec_path).total
    with Store(db) as s:
        assert all(r.status == "ok" for r in s.runs(status=None)) and len(s.runs()) == n


# --- the real kernel simulator, through `python cli.py sweep` ------------------------------------------

KERNEL_SPEC = """
[sweep]
name = "kernel-tiny"
simulator = "kernel"
seeds = [0, 1]
[grid]
spectrum_decay = [1.5, 2.5]
target_decay = 2.0
P = [8, 32]
modes = 200
ridge = 1e-3
"""


def test_real_kernel_simulator_sweep_matches_direct_runs(tmp_path):
    kernel = pytest.importorskip("sim.kernel", reason="the kernel simulator is not in this checkout")
    spec_path, db = _write(tmp_path, KERNEL_SPEC), tmp_path / "k.db"
    cmd = [sys.executable, "cli.py", "sweep", str(spec_path), "--store", str(db), "--workers", "2", "--json"]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["ok"] == 4
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["skipped"] == 4
    with Store(db) as s:
        runs = s.runs()
    assert len(runs) == 4
    for r in runs:
        # The worker's run is the simulator's own run of the same configuration. (Equal to the last
        # bits only at the same BLAS thread count: the worker runs with fewer threads than this
        # process, and a threaded reduction adds in another order.)
        direct = kernel.run(kernel.KernelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.config.items()}))
        assert r.results["P"] == [8, 32]
        assert r.results["test_error"] == pytest.approx(direct["test_error"], rel=1e-10)
    # Noise-free learning curves fall with P (the mean over seeds, per spectrum).
    for b in (1.5, 2.5):
        curves = [r.results["test_error"] for r in runs if r.config["spectrum_decay"] == b]
        assert len(curves) == 2 and sum(c[1] for c in curves) < sum(c[0] for c in curves)
