"""Running the catalogue through the sweep runner into a results store, and measuring it from the store.

`plan` expands the chosen tricks of a mode into `validate.sweep.RunTask`s (plain data: simulator
target, full configuration with seed and device, run key). `run_plan` runs them with the sweep runner
(`validate.sweep.run_sweep`; local process pool or any Executor, resumable: runs already finished in
the store are skipped) as one sweep per simulator, and records each (trick, mode, arm) as a sweep of
its own in the store, so `python cli.py runs list` shows which runs belong to what.

`measure_entry` reads the runs of one trick back from the store (by run key: nothing typed in, nothing
carried over in memory from the run), turns each record into (scale, loss, seed) points, applies the
arm's frontier selection, and measures the multiplier with validate/multiplier.py; the theory's
curves come from the entry's theory function (theory/ code) and are compared by the stated test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from theory.errors import InputError
from validate.shortcut.catalogue import MODES, Arm, Protocol, TrickEntry, build_config, validate_entry


# =================================================================================================
# Planning
# =================================================================================================

@dataclass
class Plan:
    mode: str
    device: str
    entries: list  # of TrickEntry
    tasks: dict  # trick name -> arm name -> list of RunTask
    by_simulator: dict  # simulator -> list of distinct RunTask

    @property
    def n_runs(self) -> int:
        return sum(len(v) for v in self.by_simulator.values())

    def keys(self, trick: str, arm: str) -> list[str]:
        return [t.key for t in self.tasks[trick][arm]]


def member_sweep(mode: str, trick: str, arm: str) -> str:
    return f"shortcut/{mode}/{trick}/{arm}"


def plan(entries: Sequence[TrickEntry], mode: str, device: str = "cpu") -> Plan:
    """Every run of ``entries`` in ``mode``, each configuration built and checked before anything runs."""
    from sim.registry import SIMULATORS
    from validate.store import plain, run_key
    from validate.sweep import RunTask

    if mode not in MODES:
        raise InputError("mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    tasks: dict = {}
    by_sim: dict = {}
    seen: set = set()
    for entry in entries:
        validate_entry(entry)
        proto = entry.protocol(mode)
        dev = entry.device_for(device)
        tasks[entry.name] = {}
        for arm_name, arm in proto.arms().items():
            where = f"{entry.name} ({mode}) {arm_name}"
            lst = []
            for values in arm.configs:
                for seed, run_values in arm.run_values(values, proto.seeds):
                    spec, config = build_config(arm.simulator, run_values, seed, dev, where)
                    cfg = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
                    key = run_key(arm.simulator, cfg)
                    task = RunTask(key=key, simulator=arm.simulator, target=SIMULATORS[arm.simulator],
                                   sweep=f"shortcut-{mode}-{arm.simulator}", seed=seed, config=cfg)
                    lst.append(task)
                    if key not in seen:
                        seen.add(key)
                        by_sim.setdefault(arm.simulator, []).append(task)
            tasks[entry.name][arm_name] = lst
    return Plan(mode, device, list(entries), tasks, by_sim)


def cost_hint(task) -> float:
    """A rough relative cost of a run, for ordering only (never for results): transformer runs by model
    tokens × width², perceptron runs by the examples the solver sees, kernel runs by samples × modes."""
    c = task.config
    if "d_model" in c:
        n_models = len(c.get("seeds") or (1,)) * len(c.get("lrs") or (1,))
        return float(c["tokens"]) * n_models * (float(c["d_model"]) ** 2 * c.get("layers", 1) + 256.0 * c["d_model"])
    if "alpha_tot" in c:
        return (float(c["alpha_tot"]) * float(c.get("keep", 1.0)) * float(c.get("N", 1))) ** 2
    P = c.get("P")
    p_max = max(P) if isinstance(P, (list, tuple)) and P else float(P or 1)
    return float(p_max) / float(c.get("keep", 1.0) or 1.0) * float(c.get("modes", 1))


def _protocol_text(entry: TrickEntry, mode: str, arm: str) -> str:
    proto = entry.protocol(mode)
    a = proto.arms()[arm]
    return json.dumps({"trick": entry.name, "mode": mode, "arm": arm, "seeds": list(proto.seeds), **a.describe()},
                      default=str, indent=1)


def run_plan(p: Plan, store, *, workers: int | None = None, executor=None, capacity: int | None = None,
             on_start: Callable[[str, int, int], None] | None = None,
             on_result: Callable[[str, Any, int, int], None] | None = None) -> dict:
    """Run every planned run not yet finished in ``store`` (one sweep per simulator); returns counts
    per simulator. Membership sweeps (trick/mode/arm) are recorded first, so an interrupted run
    still leaves the store saying what each finished run was for."""
    from validate.sweep import SweepSpec, run_sweep

    for entry in p.entries:
        for arm_name, lst in p.tasks[entry.name].items():
            sim_name = entry.protocol(p.mode).arms()[arm_name].simulator
            store.add_sweep(member_sweep(p.mode, entry.name, arm_name), sim_name,
                            _protocol_text(entry, p.mode, arm_name), (t.key for t in lst), "<shortcut catalogue>")
    summaries = {}
    for sim_name, tasks in p.by_simulator.items():
        # longest first, so the workers' last runs are short ones (a long run started last would leave
        # the other worker idle until it ends)
        tasks = sorted(tasks, key=cost_hint, reverse=True)
        name = f"shortcut-{p.mode}-{sim_name}"
        text = json.dumps({"shortcut": p.mode, "tricks": [e.name for e in p.entries], "simulator": sim_name})
        spec = SweepSpec(path="<shortcut catalogue>", name=name, simulator=sim_name, target=tasks[0].target,
                         seeds=tuple(sorted({t.seed for t in tasks})), axes={}, fixed={}, predict=None, text=text,
                         tasks=tuple(tasks))
        summary = run_sweep(
            spec, store, executor=executor, workers=workers, capacity=capacity,
            on_start=(lambda todo, skipped, _n=name: on_start(_n, todo, skipped)) if on_start else None,
            on_result=(lambda rec, done, todo, _n=name: on_result(_n, rec, done, todo)) if on_result else None,
        )
        summaries[sim_name] = summary
    return summaries


# =================================================================================================
# From stored runs to points
# =================================================================================================

def _get_path(record, path: str):
    source, _, rest = path.partition(".")
    obj = record.results if source == "results" else record.config
    for part in rest.split("."):
        if not isinstance(obj, Mapping) or part not in obj:
            raise KeyError(path)
        obj = obj[part]
    return obj


def record_points(arm: Arm, record) -> list[tuple]:
    """(scale, loss) points of one stored run (a list field gives one point per element), or, from an
    arm's ``points`` function, (scale, loss, seed[, setting]) where a run holds several models: the
    model's seed, and its values of the arm's ``frontier_over`` fields where they differ from the run's
    configuration (a learning-rate grid trained in one run)."""
    if arm.points is not None:
        out = []
        for p in arm.points(record):
            if len(p) == 2:
                out.append((float(p[0]), float(p[1])))
            else:
                out.append((float(p[0]), float(p[1]), int(p[2]), dict(p[3]) if len(p) > 3 else {}))
        return out
    s = _get_path(record, arm.scale)
    l = _get_path(record, arm.loss)
    if isinstance(s, list) or isinstance(l, list):
        if not (isinstance(s, list) and isinstance(l, list) and len(s) == len(l)):
            raise KeyError(f"{arm.scale} and {arm.loss} must both be lists of one length")
        return [(float(a), float(b)) for a, b in zip(s, l) if a is not None and b is not None]
    return [(float(s), float(l))]


@dataclass
class ArmPoints:
    """An arm's points from the store, after frontier selection."""

    data: Any  # validate.multiplier.ArmData (None when no run finished)
    records: list  # the arm's finished stored records (what the theory may be calibrated on)
    candidates: dict  # frontier setting (tuple) -> list of (scale, loss, seed): every point before selection
    chosen: list  # per scale: {"scale", "setting", "geo_mean_loss"} (frontier arms)
    runs_planned: int
    runs_ok: int
    runs_failed: int
    runs_missing: int
    devices: list
    code_versions: list


def arm_points(arm: Arm, keys: Sequence[str], store) -> ArmPoints:
    from validate.multiplier import ArmData, group_scales

    records = _records(store, keys)
    ok = [r for r in records.values() if r.status == "ok"]
    failed = sum(1 for r in records.values() if r.status != "ok")
    missing = len(set(keys)) - len(records)
    candidates: dict = {}
    used = []
    for rec in ok:
        try:
            pts = record_points(arm, rec)
        except KeyError:
            failed += 1
            continue
        used.append(rec)
        for pt in pts:
            s, l = pt[0], pt[1]
            seed = pt[2] if len(pt) > 2 else int(rec.seed if rec.seed is not None else 0)
            over = pt[3] if len(pt) > 3 else {}
            setting = tuple(over.get(f, rec.config.get(f)) for f in arm.frontier_over)
            if math.isfinite(s) and s > 0 and math.isfinite(l) and l > 0:
                candidates.setdefault(setting, []).append((s, l, int(seed)))
    chosen = []
    rows: list = []
    if candidates and arm.frontier_over:
        every = [pt for pts in candidates.values() for pt in pts]
        groups, values = group_scales(np.array([pt[0] for pt in every]))
        owner = [st for st, pts in candidates.items() for _ in pts]
        for j, x in enumerate(values):
            best, best_val = None, math.inf
            for st in candidates:
                ls = [every[i][1] for i in range(len(every)) if groups[i] == j and owner[i] == st]
                if ls:
                    g = float(np.exp(np.mean(np.log(ls))))
                    if g < best_val:
                        best, best_val = st, g
            chosen.append({"scale": float(x), "setting": dict(zip(arm.frontier_over, best)), "geo_mean_loss": best_val})
            rows.extend(every[i] for i in range(len(every)) if groups[i] == j and owner[i] == best)
    else:
        rows = [pt for pts in candidates.values() for pt in pts]
    data = ArmData.from_runs(rows, arm.label) if rows else None
    return ArmPoints(data, used, candidates, chosen, len(set(keys)), len(ok), failed, missing,
                     sorted({r.device for r in ok if r.device}), sorted({r.code_version for r in ok if r.code_version}))


def _records(store, keys: Sequence[str]) -> dict:
    """The stored records of ``keys`` (any status), by key; keys not in the store are left out."""
    out = {}
    for key in dict.fromkeys(keys):
        try:
            rec = store.get(key)
        except ValueError as exc:  # the store's InputError("KEY", ...): no run with this key yet
            if getattr(exc, "field", None) == "KEY":
                continue
            raise
        out[rec.key] = rec
    return out


# =================================================================================================
# Measuring one trick
# =================================================================================================

@dataclass
class TrickResult:
    entry: TrickEntry
    mode: str
    arms: dict  # "baseline"/"trick" -> ArmPoints
    measurement: Any = None  # MultiplierMeasurement or None
    theory: Any = None  # TheoryCurves or None
    comparison: Any = None  # TheoryComparison or None
    shapes: dict = field(default_factory=dict)  # arm -> local exponents
    shape_test: dict | None = None  # validate.multiplier.frontier_shape_test, for entries with expected_shape
    agrees: bool | None = None
    verdict: str = ""
    error: str | None = None  # why it was not measured
    theory_error: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict:
        """The issue's JSON record for this trick (plus detail fields)."""
        e, m, c = self.entry, self.measurement, self.comparison
        theory = {"multiplier": None, "class": None, "crosses_10x_at": None, "crosses_100x_at": None,
                  "available": e.theory is not None and self.theory is not None, "source": e.theory_source,
                  "note": e.theory_note}
        if self.theory is not None:
            prof = c.profile if c is not None else self.theory.profile()
            theory.update({"class": prof["class"], "crosses_10x_at": prof["crosses_10x_at"],
                           "crosses_100x_at": prof["crosses_100x_at"], "grid": prof.get("grid"),
                           "source": self.theory.source})
            if c is not None and c.multiplier:
                theory["multiplier"] = c.multiplier[-1]
                theory["at_targets"] = c.multiplier
                theory["slope"] = c.slope
        if self.theory_error:
            theory["error"] = self.theory_error
        measured: dict = {"multiplier": None, "ci95": None, "trend": None, "seeds": None, "scales": None}
        if m is not None:
            d = m.design
            measured.update({
                "status": m.status, "seeds": len(set(d["baseline"]["seeds"]) | set(d["trick"]["seeds"])),
                "scales": {"baseline": d["baseline"]["scales"], "trick": d["trick"]["scales"]},
                "trend": m.trend, "slope": m.slope, "slope_ci95": m.slope_ci95, "targets": m.targets,
                "law": m.law, "fits": m.fits, "no_effect": m.no_effect, "bound": m.bound,
                "reaches_10x": m.reaches(10.0), "reaches_100x": m.reaches(100.0), "n_bootstrap": m.n_bootstrap,
                "n_valid": m.n_valid, "extrapolate": m.extrapolate, "resample": m.resample, "note": m.note,
            })
            if m.headline:
                measured.update({"multiplier": m.headline["multiplier"], "ci95": m.headline["ci95"],
                                 "at_loss": m.headline["loss"], "at_scale": m.headline["x_base"]})
        measured["runs"] = {k: {"planned": a.runs_planned, "ok": a.runs_ok, "failed": a.runs_failed,
                                "missing": a.runs_missing} for k, a in self.arms.items()}
        frontier = {k: a.chosen for k, a in self.arms.items() if a.chosen}
        if frontier:
            measured["frontier_choice"] = frontier
        if self.shapes:
            measured["local_exponents"] = self.shapes
        if self.shape_test is not None:
            measured["shape_test"] = self.shape_test
        if self.error:
            measured["error"] = self.error
        return {
            "name": e.name, "kind": e.kind, "setting": e.setting, "description": e.description,
            "scale_axis": e.scale_axis, "scale_unit": e.scale_unit,
            "theory": theory, "measured": measured, "agrees": self.agrees, "verdict": self.verdict,
        }


def measure_entry(entry: TrickEntry, mode: str, store, *, device: str = "cpu", n_bootstrap: int | None = None,
                  seed: int = 0, theory: bool = True) -> TrickResult:
    """Measure one trick from the runs in ``store`` (see the module docstring); ``device`` is the one the
    runs were made with (it is part of every run's key)."""
    t0 = time.perf_counter()
    p = plan([entry], mode, device)
    keys = {arm: p.keys(entry.name, arm) for arm in ("baseline", "trick")}
    return _measure(entry, mode, store, entry.protocol(mode), n_bootstrap, seed, theory, t0, keys)


def _measure(entry, mode, store, proto: Protocol, n_bootstrap, seed, want_theory, t0, keys=None) -> TrickResult:
    from validate.multiplier import check_design, compare_with_theory, local_exponents, measure_multiplier, verdict

    arms = {}
    for arm_name, arm in proto.arms().items():
        arms[arm_name] = arm_points(arm, keys[arm_name], store)
    res = TrickResult(entry, mode, arms)
    th = None
    if want_theory and entry.theory is not None:
        try:
            # the theory hook: the protocol, and each arm's finished stored runs (for theories calibrated
            # on the entry's own runs; the others ignore them)
            th = entry.theory(proto, {k: list(a.records) for k, a in arms.items()})
        except ImportError as exc:
            res.theory_error = f"theory unavailable in this checkout ({exc})"
        except (ValueError, ArithmeticError) as exc:  # InputError included
            res.theory_error = f"{type(exc).__name__}: {exc}"
    res.theory = th
    problems = []
    for arm_name, a in arms.items():
        if a.data is None:
            problems.append(f"{arm_name}: no finished runs ({a.runs_failed} failed, {a.runs_missing} not run)")
            continue
        try:
            check_design(a.data, arm_name)
        except InputError as exc:
            problems.append(f"{exc.field}: {exc.problem} ({a.runs_failed} failed, {a.runs_missing} not run)")
    if problems:
        res.error = "; ".join(problems)
        res.verdict = "not measured: " + res.error
        res.seconds = time.perf_counter() - t0
        return res
    B = int(n_bootstrap or proto.n_bootstrap)
    try:
        m = measure_multiplier(arms["baseline"].data, arms["trick"].data, law=proto.law, trick_law=proto.trick_law,
                               n_targets=proto.n_targets, extrapolate=proto.extrapolate, n_bootstrap=B,
                               resample=proto.resample, seed=seed)
    except (ValueError, ArithmeticError) as exc:
        res.error = f"{type(exc).__name__}: {getattr(exc, 'problem', exc)}"
        res.verdict = "not measured: " + res.error
        res.seconds = time.perf_counter() - t0
        return res
    res.measurement = m
    res.shapes = {k: local_exponents(a.data, n_bootstrap=B, seed=seed) for k, a in arms.items()}
    if th is not None:
        from validate.multiplier import theory_local_exponents

        for k, sh in res.shapes.items():
            sh["theory"] = theory_local_exponents(th, k, sh["segments"])
    res.comparison = compare_with_theory(m, th) if th is not None else None
    agrees, text = verdict(m, res.comparison)
    if entry.expected_shape:
        from validate.multiplier import frontier_shape_test

        res.shape_test = frontier_shape_test(arms["baseline"].data, arms["trick"].data, entry.expected_shape,
                                             theory=th, n_bootstrap=B, seed=seed)
        text += "; frontier shape (stated test): " + res.shape_test["statement"]
    if th is None and entry.theory is not None:
        text += f" ({res.theory_error or 'theory not computed'})"
    res.agrees, res.verdict = agrees, text
    res.seconds = time.perf_counter() - t0
    return res


def measure_plan(p: Plan, store, *, n_bootstrap: int | None = None, seed: int = 0,
                 on_done: Callable[[TrickResult], None] | None = None) -> list[TrickResult]:
    out = []
    for entry in p.entries:
        t0 = time.perf_counter()
        keys = {arm: p.keys(entry.name, arm) for arm in ("baseline", "trick")}
        r = _measure(entry, p.mode, store, entry.protocol(p.mode), n_bootstrap, seed, True, t0, keys)
        out.append(r)
        if on_done:
            on_done(r)
    return out


def summarise(results: Sequence[TrickResult]) -> dict:
    """What the whole report says, in numbers and one paragraph."""
    measured = [r for r in results if r.measurement is not None and r.measurement.status == "measured"]
    reach10 = [r.entry.name for r in results if r.measurement is not None and r.measurement.reaches(10.0)]
    reach100 = [r.entry.name for r in results if r.measurement is not None and r.measurement.reaches(100.0)]
    no_effect = [r.entry.name for r in measured if r.measurement.no_effect]
    growing = [r.entry.name for r in measured if r.measurement.trend == "growing"]
    agree = [r.entry.name for r in results if r.agrees is True]
    disagree = [r.entry.name for r in results if r.agrees is False]
    no_theory = [r.entry.name for r in results if r.entry.theory is None]
    not_measured = [r.entry.name for r in results if r.measurement is None or r.measurement.status != "measured"]
    theory10 = [r.entry.name for r in results if r.theory is not None and r.theory.profile()["crosses_10x_at"] is not None]
    shape_tests = {r.entry.name: {"expected": r.shape_test["expected"], "passed": r.shape_test["passed"],
                                  "matches_theory": r.shape_test["matches_theory"]}
                   for r in results if r.shape_test is not None}
    parts = [f"{len(measured)} of {len(results)} tricks measured"]
    parts.append(("reaching 10× (lower 95% bound ≥ 10 at some target loss): " + ", ".join(reach10)) if reach10
                 else "none reaches 10× with its lower 95% bound")
    if reach100:
        parts.append("reaching 100×: " + ", ".join(reach100))
    if growing:
        parts.append("multiplier growing with scale: " + ", ".join(growing))
    if no_effect:
        parts.append("no effect (interval contains 1 at every target): " + ", ".join(no_effect))
    if theory10:
        parts.append("theory predicts ≥ 10× somewhere on its grid for: " + ", ".join(theory10))
    parts.append(f"theory agrees (stated test) for {len(agree)}: {', '.join(agree) or '–'}; disagrees for "
                 f"{len(disagree)}: {', '.join(disagree) or '–'}; no theory: {', '.join(no_theory) or '–'}")
    if shape_tests:
        words = {"faster": "falls faster than a power law", "reverts": "reverts to a power law"}
        parts.append("frontier shape tests: " + ", ".join(
            f"{n} {words[t['expected']]}: {'shown' if t['passed'] else 'not shown' if t['passed'] is False else 'not tested'}"
            + (" (theory's local shape inside every interval)" if t["matches_theory"] else "")
            for n, t in shape_tests.items()))
    if not_measured:
        parts.append("not measured: " + ", ".join(not_measured))
    return {"text": "; ".join(parts) + ".", "measured": len(measured), "total": len(results),
            "reaches_10x": reach10, "reaches_100x": reach100, "growing": growing, "no_effect": no_effect,
            "agrees": agree, "disagrees": disagree, "no_theory": no_theory, "not_measured": not_measured,
            "theory_crosses_10x": theory10, "shape_tests": shape_tests}


__all__ = ["Plan", "TrickResult", "arm_points", "measure_plan", "member_sweep", "plan", "record_points",
           "run_plan", "summarise"]
