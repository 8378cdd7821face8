"""The sweep runner: every run recorded once with its status, resume, crashes, thread limits, dask."""

from __future__ import annotations

import pytest

import tests.sweep_fixtures as fx
from validate.store import Store, plain
from validate.sweep import WORKER_DIED, parse_spec, run_sweep, threads_per_worker


@pytest.fixture(autouse=True, scope="module")
def _test_simulators():
    with fx.registered():
        yield


def _spec(grid: dict, seeds=(0, 1), name="t", simulator="test-quad", predict=None):
    data = {"sweep": {"name": name, "simulator": simulator, "seeds": list(seeds)}, "grid": grid}
    if predict:
        data["predict"] = predict
    return parse_spec(data, "test.toml")


POWER_LAW = {"law": "power-law", "params": {"E": 0.5, "A": 2.0, "alpha": 0.5}, "inputs": {"x": "config.n"}}


def test_statuses_results_and_predictions(tmp_path):
    spec = _spec({"x": [-1.0, 0.5, 200.0], "n": [4, 9]}, predict=POWER_LAW)
    with Store(tmp_path / "r.db") as db:
        summary = run_sweep(spec, db, workers=2)
        assert summary.counts() == {"total": 12, "ok": 4, "failed": 4, "diverged": 4, "skipped": 0}
        records = {r.key: r for r in db.runs(status=None)}
    assert set(records) == {t.key for t in spec.tasks}
    for task in spec.tasks:
        r = records[task.key]
        assert r.config == plain(task.config) and r.seed == task.seed and r.sweep == "t"
        assert r.code_version and r.device.startswith("cpu") and r.created
        x = task.config["x"]
        if x < 0:
            assert r.status == "failed" and r.results is None
            assert r.error.startswith("ValueError: x must be non-negative, got -1.0")
            assert r.prediction is None
        elif x > 100:
            assert r.status == "diverged" and r.results["diverged"] is True and r.results["loss"] is None
        else:
            # The runner's record is exactly what the simulator returns, as plain data.
            assert r.status == "ok" and r.results == plain(fx.run_quad(fx.QuadConfig(**task.config)))
            assert r.wall_time_s is not None and r.wall_time_s >= 0
        if x >= 0:
            # power-law E + A x^-alpha, rebuilt from plain data in the worker, at x = n.
            n = task.config["n"]
            assert r.prediction["loss"] == pytest.approx(0.5 + 2.0 * n**-0.5, rel=1e-12)
            assert r.prediction["inputs"] == {"x": n} and r.prediction["law"] == "power-law"


def test_text_law_and_trick_multiplier_are_rebuilt_and_evaluated_in_the_worker(tmp_path):
    from theory.laws import get_law

    # Law text (whitelist-parsed, shipped as text, parsed again in the worker), fed from results.
    text_law = {"law": "E + A*x**(-alpha)", "params": {"E": 1.0, "A": 3.0, "alpha": 0.25},
                "inputs": {"x": "results.compute"}}
    spec = _spec({"x": [1.0, 2.0], "n": 5}, seeds=(0,), predict=text_law)
    with Store(tmp_path / "r.db") as db:
        run_sweep(spec, db, workers=1)
        for r in db.runs():
            c = r.results["compute"]
            assert r.prediction["inputs"] == {"x": c}
            assert r.prediction["loss"] == pytest.approx(1.0 + 3.0 * c**-0.25, rel=1e-12)
    # A built-in law with a trick: the multiplier at the run's compute C = 6 N D.
    chin = {"law": "chinchilla", "trick": "params:3", "inputs": {"N": "results.compute", "D": 1e9}}
    spec = _spec({"n": [1000, 4000], "x": 50.0}, seeds=(0,), predict=chin, name="t2")
    with Store(tmp_path / "r2.db") as db:
        run_sweep(spec, db, workers=1)
        runs = db.runs()
    law = get_law("chinchilla")
    assert len(runs) == 2
    for r in runs:
        n = r.results["compute"]
        assert n == 6 * 50.0 * r.config["n"]
        assert r.prediction["loss"] == pytest.approx(float(law.evaluate({"N": n, "D": 1e9})), rel=1e-12)
        assert r.prediction["trick"] == "params:3"
        # Under the Chinchilla form, N -> 3N scales A by 3^-alpha, hence the optimal frontier's
        # prefactor by 3^-gamma with gamma = alpha beta / (alpha + beta): exactly 3x compute.
        assert r.prediction["multiplier"] == pytest.approx(3.0, rel=1e-9)


def test_resume_skips_finished_reruns_failed_and_never_duplicates(tmp_path):
    grid = {"x": [-1.0, 1.0, 300.0]}
    with Store(tmp_path / "r.db") as db:
        first = run_sweep(_spec(grid, seeds=(0,)), db, workers=1)
        assert first.counts() == {"total": 3, "ok": 1, "failed": 1, "diverged": 1, "skipped": 0}
        before = {r.key: r for r in db.runs(status=None)}
        # Same sweep with one more seed: the finished seed-0 runs are skipped, the failed one reruns.
        second = run_sweep(_spec(grid, seeds=(0, 1)), db, workers=2)
        assert second.counts() == {"total": 6, "ok": 1, "failed": 2, "diverged": 1, "skipped": 2}
        after = {r.key: r for r in db.runs(status=None)}
        assert db.count() == 6 and len(after) == 6
        for key, r in before.items():
            if r.status != "failed":
                assert after[key] == r  # untouched, same created time
        # --no-resume reruns everything, still one row per run, same results.
        third = run_sweep(_spec(grid, seeds=(0, 1)), db, workers=2, resume=False)
        assert third.skipped == 0 and third.ok + third.failed + third.diverged == 6
        assert db.count() == 6
        assert {k: r.results for k, r in after.items()} == {r.key: r.results for r in db.runs(status=None)}


def test_a_worker_that_dies_fails_only_its_own_run(tmp_path):
    # Short runs travel several to a submission, so a crash also takes innocent runs down with it:
    # those are retried alone, and only the crashing configurations end up failed.
    spec = _spec({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "crash": [False, True]}, seeds=(0,))
    with Store(tmp_path / "r.db") as db:
        summary = run_sweep(spec, db, workers=2)
        assert summary.counts() == {"total": 12, "ok": 6, "failed": 6, "diverged": 0, "skipped": 0}
        assert db.count() == 12
        for r in db.runs(status=None):
            assert (r.status == "failed") == r.config["crash"]
            if r.config["crash"]:
                assert r.error == WORKER_DIED


def test_interrupt_keeps_finished_runs_and_stops(tmp_path):
    spec = _spec({"x": [float(i) for i in range(12)]}, seeds=(0,))
    seen = []

    def on_result(record, done, todo):
        seen.append(record.key)
        if done == 3:
            raise KeyboardInterrupt

    with Store(tmp_path / "r.db") as db:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(spec, db, workers=2, on_result=on_result)
        assert sorted(r.key for r in db.runs()) == sorted(seen) and len(seen) == 3
        rest = run_sweep(spec, db, workers=2)
        assert rest.skipped == 3 and rest.ok == 9 and db.count() == 12


def test_blas_threads_are_capped_per_worker(tmp_path):
    spec = _spec({"device": "cpu"}, seeds=(0, 1, 2, 3), simulator="test-threads")
    with Store(tmp_path / "r.db") as db:
        run_sweep(spec, db, workers=2)
        runs = db.runs()
    want = threads_per_worker(2)
    assert len(runs) == 4
    for r in runs:
        assert r.results["omp_env"] == str(want)
        assert r.results["pools"], "numpy's BLAS should be visible to threadpoolctl"
        for pool in r.results["pools"]:
            assert pool["num_threads"] == want, pool


def test_dask_in_process_cluster_matches_the_process_pool(tmp_path):
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (the optional 'cluster' extra)"
    )
    spec = _spec({"x": [0.5, 2.0, -3.0, 500.0], "widths": [[1], [1, 2]]}, seeds=(0, 7), predict=POWER_LAW)
    with Store(tmp_path / "pool.db") as db:
        run_sweep(spec, db, workers=2)
        pool_runs = {r.key: (r.status, r.results, r.prediction) for r in db.runs(status=None)}
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            with Store(tmp_path / "dask.db") as db:
                summary = run_sweep(spec, db, executor=client.get_executor(pure=False), capacity=2)
                dask_runs = {r.key: (r.status, r.results, r.prediction) for r in db.runs(status=None)}
    assert summary.counts() == {"total": 16, "ok": 8, "failed": 4, "diverged": 4, "skipped": 0}
    assert dask_runs == pool_runs


def test_worker_thread_cap_keeps_numbas_sleeping_threading_layer():
    """Capping Numba's threads launches its threading layer; a worker that does so before importing
    the transformer kernels must still get "workqueue" (OpenMP spins: ~10x slower on 2 cores)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    code = ("import numba, validate.sweep as sw; sw.limit_worker_threads(1); "
            "print(numba.threading_layer())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=str(Path(__file__).resolve().parents[1]), check=True)
    assert out.stdout.strip() == "workqueue"
