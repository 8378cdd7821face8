"""Batch hypothesis sweeps: a TOML spec expanded into runs, run on any `concurrent.futures.Executor`,
each finished run committed to the results store (`validate/store.py`) as it arrives.

The spec (read with the standard library's `tomllib`)::

    [sweep]
    name = "kernel-demo"
    simulator = "kernel"          # a name from sim.registry
    seeds = [0, 1, 2]             # distinct integers; every grid point runs once per seed

    [grid]                        # keys: the simulator config's fields (the `simulate` options)
    spectrum_decay = [1.5, 2.0]   # a list is an axis: the grid is the cartesian product of axes
    target_decay = 2.0            # a scalar is fixed
    P = [64, 256]                 # for a tuple field a list is one value; a list of lists an axis

    [predict]                     # optional: a law evaluated beside every run, stored in its record
    law = "power-law"             # a built-in law name, or law text ("E + A*x**(-alpha)")
    trick = "data:4"              # optional: its multiplier M(C) at the run's compute C (map C in
                                  # [predict.inputs], or the law's N and D: C = 6 N D)
    param_set = "..."             # optional: a built-in parameter set of the law
    [predict.params]              # optional: parameter values (all of them for a law without defaults)
    E = 0.0
    [predict.inputs]              # each law input from "config.FIELD", "results.FIELD[.SUB]" or a number
    x = "config.P"

Every key is checked before anything runs: unknown simulator, section or option, a value of the
wrong type (against the config dataclass's annotation: int, float (ints accepted), str, bool, tuples
as lists), an empty axis, duplicate seeds or axis values, a configuration the simulator's dataclass
refuses (in ``__post_init__``, or in a ``validate()`` method, called when the config has one), a law,
parameter, input mapping or trick that does not fit. Errors are
`InputError("FILE: [section] key", problem)`: the CLI prints one line naming the file, the key and
the problem, and exits 2.

The runner ships plain data only: each task is the simulator's "module:attribute" target, the
configuration as a dict, and the law's `Law.spec()`; the worker imports the simulator, rebuilds the
config dataclass and the law (numeric functions are lambdified there, never pickled), runs, and
returns plain data. A run that raises is recorded as failed with its error text; the sweep goes on.
Local workers are started by forkserver (never a fork of a process with threads), BLAS/OpenMP/Numba
threads capped at cores/workers each; they exit by themselves if the sweep process dies. Short runs
are sent several to a submission (chunks of about 25 ms of work) to keep the executor's per-task
cost small; each run is still committed on its own.

Results are bit-for-bit reproducible for the same configuration and seed at the same BLAS thread
count per worker (a threaded reduction adds in another order): a sweep resumed with another
--workers on the same machine may differ from an uninterrupted one in the last bits of BLAS-heavy
results.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
import types
import typing
from collections import deque
from concurrent.futures import CancelledError, Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, Union

from sim.errors import InputError
from sim.registry import SIMULATORS, get_simulator, simulator_names
from validate.store import RunRecord, Store, plain, run_key

SWEEP_KEYS = ("name", "simulator", "seeds", "description")
PREDICT_KEYS = ("law", "trick", "param_set", "params", "inputs")
SECTIONS = ("sweep", "grid", "predict")
# Thread pools a worker may start: BLAS (OpenBLAS, MKL, BLIS, Accelerate), OpenMP, Numba.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS",
)


# =================================================================================================
# The spec
# =================================================================================================

@dataclass(frozen=True)
class PredictSpec:
    """A law (as plain data) and how to feed it from each run; evaluated in the worker."""

    law: dict  # Law.spec(): rebuilt with theory.laws.law_from_spec
    law_label: str  # what the spec said: a built-in name or the law text
    inputs: dict  # law input -> ("config", field) | ("results", "a.b") | ("value", number)
    params: dict = field(default_factory=dict)
    param_set: str | None = None
    trick: str | None = None  # the trick's text, parsed again in the worker

    def payload(self) -> dict:
        return {
            "law": self.law, "law_label": self.law_label, "inputs": self.inputs,
            "params": self.params, "param_set": self.param_set, "trick": self.trick,
        }


@dataclass(frozen=True)
class RunTask:
    """One run to do: plain data only (it crosses process and machine boundaries)."""

    key: str
    simulator: str
    target: str  # "module:attribute" of the SimulatorSpec, imported by the worker
    sweep: str
    seed: int
    config: dict  # field -> value (tuples as tuples), the full configuration incl. seed and device
    predict: dict | None = None

    def payload(self) -> dict:
        return {"key": self.key, "target": self.target, "config": self.config, "predict": self.predict}


@dataclass(frozen=True)
class SweepSpec:
    path: str
    name: str
    simulator: str
    target: str
    seeds: tuple[int, ...]
    axes: dict  # field -> tuple of values (in file order)
    fixed: dict  # field -> value
    predict: PredictSpec | None
    text: str  # the spec file's text, recorded in the store
    tasks: tuple[RunTask, ...]

    @property
    def total(self) -> int:
        return len(self.tasks)


def load_spec(path: str | Path) -> SweepSpec:
    """Read, validate and expand a sweep spec. Raises InputError naming the file, key and problem."""
    import tomllib

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise InputError(where, "no such spec file")
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise InputError(where, "not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(where, f"not valid TOML: {exc}") from None
    return parse_spec(data, where, text)


def parse_spec(data: Mapping[str, Any], where: str = "<spec>", text: str = "") -> SweepSpec:
    """Validate and expand an already-parsed spec (``where`` names it in errors)."""

    def err(section: str, key: str | None, problem: str) -> InputError:
        return InputError(f"{where}: [{section}]" + (f" {key}" if key else ""), problem)

    for section in data:
        if section not in SECTIONS:
            raise err(section, None, f"unknown section (known: {', '.join(SECTIONS)})")
    for section in ("sweep", "grid"):
        if section not in data:
            raise err(section, None, "missing section")
        if not isinstance(data[section], dict):
            raise err(section, None, "must be a table")

    # -- [sweep] ------------------------------------------------------------------------------------
    sw = data["sweep"]
    for key in sw:
        if key not in SWEEP_KEYS:
            raise err("sweep", key, f"unknown key (known: {', '.join(SWEEP_KEYS)})")
    for key in ("name", "simulator", "seeds"):
        if key not in sw:
            raise err("sweep", key, "missing")
    name = sw["name"]
    if not isinstance(name, str) or not name.strip():
        raise err("sweep", "name", f"expected a non-empty string, got {name!r}")
    sim_name = sw["simulator"]
    if not isinstance(sim_name, str) or sim_name not in SIMULATORS:
        raise err("sweep", "simulator", f"unknown simulator {sim_name!r} (known: {', '.join(simulator_names())})")
    try:
        sim = get_simulator(sim_name)
    except ImportError as exc:
        raise err("sweep", "simulator", f"simulator {sim_name!r} is not available in this checkout ({exc})") from None
    seeds = sw["seeds"]
    if not isinstance(seeds, list) or not seeds:
        raise err("sweep", "seeds", f"expected a non-empty list of integers, got {seeds!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise err("sweep", "seeds", f"seeds must be non-negative integers, got {s!r}")
    dup = _first_duplicate(seeds)
    if dup is not None:
        raise err("sweep", "seeds", f"duplicate seed {dup}")

    # -- [grid] -------------------------------------------------------------------------------------
    hints = _field_types(sim.config_type)
    grid = data["grid"]
    if not grid:
        raise err("grid", None, "empty grid: name at least one option (a fixed value is enough to sweep seeds only)")
    axes: dict[str, tuple] = {}
    fixed: dict[str, Any] = {}
    for key, value in grid.items():
        if key == "seed":
            raise err("grid", key, "seeds are set by [sweep] seeds")
        if key not in hints:
            raise err("grid", key, f"simulator {sim_name!r} has no option {key!r} (options: {', '.join(o for o in hints if o != 'seed')})")
        tp = hints[key]
        if _is_axis(value, tp, lambda p: err("grid", key, p)):
            if not value:
                raise err("grid", key, "empty list: an axis needs at least one value (the grid would be empty)")
            values = tuple(_coerce(v, tp, lambda p: err("grid", key, p)) for v in value)
            dup = _first_duplicate(values)
            if dup is not None:
                raise err("grid", key, f"duplicate value {dup!r} in the axis")
            axes[key] = values
        else:
            fixed[key] = _coerce(value, tp, lambda p: err("grid", key, p))

    # -- [predict] ----------------------------------------------------------------------------------
    predict = None
    if "predict" in data:
        if not isinstance(data["predict"], dict):
            raise err("predict", None, "must be a table")
        predict = _parse_predict(data["predict"], hints, lambda key, p: err("predict", key, p))

    # -- expansion: every configuration built (and so checked by the dataclass) before any run -------
    tasks = []
    target = SIMULATORS[sim_name]
    names = list(axes)
    for point in itertools.product(*(axes[n] for n in names)):
        values = {**fixed, **dict(zip(names, point))}
        for seed in seeds:
            try:
                config = sim.config_type(**values, seed=seed)
                # A config may check itself (``validate()``, as the perceptron's and transformer's
                # do): bad values are then refused here, before anything runs.
                check = getattr(config, "validate", None)
                if callable(check):
                    check()
            except (ValueError, TypeError) as exc:  # InputError is a ValueError
                problem = getattr(exc, "problem", None) or str(exc)
                at = ", ".join(f"{k} = {v!r}" for k, v in zip(names, point)) or "the fixed values"
                raise err("grid", getattr(exc, "field", None), f"the simulator refuses {at}: {problem}") from None
            cfg = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
            tasks.append(RunTask(
                key=run_key(sim_name, cfg), simulator=sim_name, target=target, sweep=name, seed=seed,
                config=cfg, predict=None if predict is None else predict.payload(),
            ))
    return SweepSpec(
        path=where, name=name, simulator=sim_name, target=target, seeds=tuple(seeds), axes=axes,
        fixed=fixed, predict=predict, text=text, tasks=tuple(tasks),
    )


def _first_duplicate(values) -> Any:
    seen = []
    for v in values:
        if v in seen:
            return v
        seen.append(v)
    return None


def _field_types(config_type: type) -> dict[str, Any]:
    """Field name -> resolved annotation of a config dataclass."""
    try:
        hints = typing.get_type_hints(config_type)
    except Exception:  # annotations that do not resolve: fall back to what the dataclass holds
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(config_type)}


def _unwrap_optional(tp):
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_tuple_type(tp) -> bool:
    return typing.get_origin(_unwrap_optional(tp)) is tuple or _unwrap_optional(tp) is tuple


def _is_axis(value, tp, fail: Callable[[str], InputError]) -> bool:
    """A list is an axis, except for a tuple field, where a list of scalars is one value and a list
    of lists is an axis."""
    if not isinstance(value, list):
        return False
    if not _is_tuple_type(tp):
        return True
    nested = [isinstance(v, list) for v in value]
    if value and all(nested):
        return True
    if any(nested):
        raise fail("mixes lists and scalars: give one tuple as a list, or an axis as a list of lists")
    return False


def _describe(tp) -> str:
    tp = _unwrap_optional(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple or tp is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
        return f"a list of {len(args)} values" if args else "a list"
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, fail: Callable[[str], InputError]):
    """``value`` (from TOML) as the config field's type, or an error naming what was expected."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in (a for a in typing.get_args(tp) if a is not type(None)):
            try:
                return _coerce(value, arg, fail)
            except InputError:
                continue
        raise fail(f"expected {' or '.join(_describe(a) for a in typing.get_args(tp) if a is not type(None))}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices and type(value) in {type(c) for c in choices}:
            return value
        raise fail(f"expected {_describe(tp)}, got {value!r}")
    if origin is tuple or tp is tuple:
        if not isinstance(value, list):
            raise fail(f"expected {_describe(tp)}, got {value!r}")
        args = typing.get_args(tp)
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], fail) for v in value)
        if len(value) != len(args):
            raise fail(f"expected {_describe(tp)}, got {len(value)} values")
        return tuple(_coerce(v, a, fail) for v, a in zip(value, args))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)  # 2e5 tokens written in TOML float notation
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise fail(f"must be finite, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise fail(f"options of type {_describe(tp)} cannot be set from a sweep spec")
    raise fail(f"expected {_describe(tp)}, got {value!r}")


# -- [predict] --------------------------------------------------------------------------------------

def _parse_predict(pr: Mapping, hints: Mapping[str, Any], err: Callable[[str | None, str], InputError]) -> PredictSpec:
    for key in pr:
        if key not in PREDICT_KEYS:
            raise err(key, f"unknown key (known: {', '.join(PREDICT_KEYS)})")
    if "law" not in pr:
        raise err("law", "missing")
    law_text = pr["law"]
    if not isinstance(law_text, str) or not law_text.strip():
        raise err("law", f"expected a law name or law text, got {law_text!r}")
    law = _resolve_law(law_text.strip(), lambda p: err("law", p))

    params = pr.get("params", {})
    if not isinstance(params, dict):
        raise err("params", "must be a table of parameter = number")
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise err(f"params.{k}", f"expected a number, got {v!r}")
    params = {k: float(v) for k, v in params.items()}
    param_set = pr.get("param_set")
    if param_set is not None and not isinstance(param_set, str):
        raise err("param_set", f"expected a string, got {param_set!r}")
    try:
        law.param_values(param_set, params)
    except ValueError as exc:
        raise err("params" if getattr(exc, "field", "") == "param" else "param_set", getattr(exc, "problem", str(exc))) from None

    trick = pr.get("trick")
    if trick is not None:
        if not isinstance(trick, str) or not trick.strip():
            raise err("trick", f"expected trick text such as 'data:4', got {trick!r}")
        trick = trick.strip()
        tricks = _tricks_module(lambda p: err("trick", p))
        try:
            # Parsed and applied to the law here, so a trick that does not fit the law (alpha:+0.1
            # on a law without an exponent alpha) is refused before anything runs.
            tricks.apply_trick(law, law.param_values(param_set, params), tricks.parse_trick(trick))
        except ValueError as exc:
            raise err("trick", getattr(exc, "problem", str(exc))) from None

    raw_inputs = pr.get("inputs", {})
    if not isinstance(raw_inputs, dict):
        raise err("inputs", "must be a table of law input = \"config.FIELD\" | \"results.FIELD\" | number")
    wanted = list(law.input_names)
    allowed = set(wanted) | ({"C"} if trick is not None else set())
    inputs: dict[str, tuple] = {}
    for name, ref in raw_inputs.items():
        if name not in allowed:
            raise err(f"inputs.{name}", f"law {law.name!r} takes no input {name!r} (inputs: {', '.join(wanted)})")
        inputs[name] = _parse_ref(ref, hints, lambda p: err(f"inputs.{name}", p))
    missing = [n for n in wanted if n not in inputs]
    if missing:
        raise err("inputs", f"law {law.name!r} needs input {missing[0]}: map it to \"config.FIELD\", \"results.FIELD\" or a number")
    if trick is not None and "C" not in inputs and not {"N", "D"} <= set(inputs):
        raise err("inputs", "a trick's multiplier needs the run's compute: map C, or the law's N and D (C = 6 N D)")
    return PredictSpec(law=law.spec(), law_label=law_text.strip(), inputs=inputs, params=params,
                       param_set=param_set, trick=trick)


def _parse_ref(ref, hints: Mapping[str, Any], fail: Callable[[str], InputError]) -> tuple:
    if isinstance(ref, (int, float)) and not isinstance(ref, bool):
        if not math.isfinite(ref) or ref <= 0:
            raise fail(f"a constant input must be a finite positive number, got {ref!r}")
        return ("value", float(ref))
    if not isinstance(ref, str):
        raise fail(f"expected \"config.FIELD\", \"results.FIELD\" or a number, got {ref!r}")
    source, _, path = ref.partition(".")
    if source == "config":
        if path not in hints:
            raise fail(f"the simulator has no option {path!r}")
        return ("config", path)
    if source in ("results", "result") and path:
        return ("results", path)
    raise fail(f"expected \"config.FIELD\", \"results.FIELD\" or a number, got {ref!r}")


def _resolve_law(text: str, fail: Callable[[str], InputError]):
    from theory.laws import builtin_law_names, get_law

    try:
        return get_law(text)
    except ValueError:
        pass
    if text.replace("-", "").replace("_", "").isalnum():  # a name, not an expression
        raise fail(f"unknown law {text!r} (built-in: {', '.join(builtin_law_names())}, bnsl-K; or law text)")
    try:
        from theory.parse import parse_law
    except ImportError:
        raise fail(f"{text!r} is not a built-in law, and law text needs theory.parse, which this checkout lacks") from None
    try:
        return parse_law(text)
    except ValueError as exc:
        raise fail(f"cannot read the law text: {getattr(exc, 'problem', exc)}") from None


def _tricks_module(fail: Callable[[str], InputError]):
    try:
        import theory.tricks as tricks
    except ImportError:
        raise fail("tricks need theory.tricks, which this checkout lacks") from None
    if not all(hasattr(tricks, f) for f in ("parse_trick", "apply_trick", "multiplier")):
        raise fail("theory.tricks has no parse_trick/apply_trick/multiplier in this checkout")
    return tricks


# =================================================================================================
# The worker side: plain data in, plain data out
# =================================================================================================

_SIM_CACHE: dict[str, Any] = {}
_LAW_CACHE: dict[str, Any] = {}


def _import_target(target: str):
    sim = _SIM_CACHE.get(target)
    if sim is None:
        import importlib

        module, _, attr = target.partition(":")
        sim = _SIM_CACHE[target] = getattr(importlib.import_module(module), attr)
    return sim


def execute_run(payload: dict) -> dict:
    """Run one task in a worker: rebuild the config, run, evaluate the prediction. Never raises for
    a failure of the run itself; returns {"status", "results", "error", "wall_time_s", "device",
    "prediction"} as plain data. (The code version is the launching checkout's, recorded by the
    parent: workers run the same code, and asking git in every worker would slow their start.)"""
    out = {"status": "failed", "results": None, "error": None, "wall_time_s": None, "prediction": None,
           "device": None}
    config = payload["config"]
    t0 = None
    try:
        sim = _import_target(payload["target"])
        cfg = sim.config_type(**config)
        t0 = time.perf_counter()
        results = sim.run(cfg)
        out["wall_time_s"] = time.perf_counter() - t0
        if not isinstance(results, Mapping):
            raise TypeError(f"the simulator returned {type(results).__name__}, not a dict")
        results = plain(results)
        out["results"] = results
        out["status"] = "diverged" if results.get("diverged") else "ok"
        out["device"] = results["device"] if isinstance(results.get("device"), str) else _device_of(config)
    except (Exception, SystemExit) as exc:  # a simulator calling sys.exit is a failed run too
        out["status"] = "failed"
        out["results"] = None
        out["wall_time_s"] = None if t0 is None else time.perf_counter() - t0
        out["error"] = _error_text(exc)
        out["device"] = _device_of(config)
        return out
    if payload.get("predict"):
        out["prediction"] = _predict(payload["predict"], config, out["results"])
    return out


def _error_text(exc: BaseException) -> str:
    """The error's one line, then the innermost frames of its traceback (for `runs show`)."""
    head = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))
    return head + "\n" + tb.rstrip()


def _device_of(config: Mapping) -> str:
    """What ran, for runs whose results do not say: the backend's description of the config's
    device (without importing numpy into a worker whose simulator never needed it)."""
    import sys

    device = config.get("device", "cpu")
    if device == "cpu" and "numpy" not in sys.modules:
        import platform

        return f"cpu: {platform.machine()}"
    try:
        from sim.backend import get_backend

        return get_backend(device).description
    except Exception:
        return str(device)


def _lookup(results: Mapping, path: str):
    cur: Any = results
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            raise KeyError(f"the run's results have no {path!r}")
        cur = cur[part]
    return cur


def _predict(pr: dict, config: Mapping, results: Mapping) -> dict:
    """Evaluate the spec's law (rebuilt here from plain data) at this run's inputs. Errors are
    recorded in the prediction, never fail the run."""
    import json

    from theory.laws import law_from_spec

    out: dict = {"law": pr["law_label"]}
    try:
        spec_key = json.dumps(pr["law"], sort_keys=True)
        law = _LAW_CACHE.get(spec_key)
        if law is None:
            law = _LAW_CACHE[spec_key] = law_from_spec(pr["law"])
        inputs = {}
        for name, (source, ref) in pr["inputs"].items():
            value = ref if source == "value" else config[ref] if source == "config" else _lookup(results, ref)
            inputs[name] = list(value) if isinstance(value, tuple) else value
        out["inputs"] = inputs
        law_inputs = {k: v for k, v in inputs.items() if k in law.input_names}
        loss = law.evaluate(law_inputs, pr["params"] or None, param_set=pr["param_set"])
        out["loss"] = plain(loss)
        if pr.get("trick"):
            import numpy as np
            import theory.tricks as tricks

            compute = inputs["C"] if "C" in inputs else 6.0 * np.asarray(inputs["N"], float) * np.asarray(inputs["D"], float)
            trick = tricks.parse_trick(pr["trick"])
            out["trick"] = pr["trick"]
            out["multiplier"] = plain(_multiplier(tricks, law, trick, compute, pr))
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return out


def _multiplier(tricks, law, trick, compute, pr: dict):
    """M(C) of the trick on the law at the run's compute C (theory.tricks.multiplier: both arms
    compute-optimal, M = C_base(L_trick(C)) / C), scalar or one per compute."""
    params = law.param_values(pr["param_set"], pr["params"] or None)
    return tricks.multiplier(law, params, trick, compute)


# -- worker processes --------------------------------------------------------------------------------

def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def limit_worker_threads(threads: int) -> None:
    """Cap BLAS/OpenMP/Numba threads in this process so N workers use N x threads cores, not N x all.
    Environment variables cover libraries loaded later; threadpoolctl the ones already loaded."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except Exception:  # threadpoolctl is a dependency, but never let a limit stop a sweep
        pass
    numba = __import__("sys").modules.get("numba")
    if numba is not None:
        try:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        except Exception:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_parent(sweep_pid: int, ppid: int, period_s: float = 0.5) -> None:
    # A worker blocked on the pool's queue does not notice its sweep process being SIGKILLed (the
    # queue's pipe stays open in the worker itself): exit once the parent is gone.
    while True:
        time.sleep(period_s)
        if os.getppid() != ppid or not _alive(sweep_pid):
            os._exit(3)


def _worker_init(threads: int, sweep_pid: int) -> None:
    # Ctrl-C goes to the whole process group; the parent handles it and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_worker_threads(threads)
    threading.Thread(target=_watch_parent, args=(sweep_pid, os.getppid()), daemon=True, name="watch-parent").start()


def local_executor(workers: int) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes with BLAS/OpenMP/Numba threads capped per worker.
    Started by forkserver where available (no fork of a process with threads), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["validate.sweep"])
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init,
        initargs=(threads_per_worker(workers), os.getpid()),
    )


def _kill_local_pool(executor: ProcessPoolExecutor) -> None:
    """Stop a process pool now, running work included (Ctrl-C): what finished is already stored."""
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        try:
            terminate()
            return
        except Exception:
            pass
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(5)


# -- executors by name -------------------------------------------------------------------------------

EXECUTOR_HELP = "local (a process pool), dask (a dask.distributed local cluster) or tcp://HOST:PORT (a running dask scheduler)."


def check_executor(name: str) -> str:
    """Validate an --executor value (and that dask.distributed is importable when it is needed),
    before anything is written."""
    name = name.strip()
    if name == "local":
        return name
    if name == "dask" or (name.startswith(("tcp://", "tls://")) and len(name) > 6):
        _import_distributed(f"--executor {name}")
        return name
    raise InputError("--executor", f"expected local, dask or tcp://HOST:PORT, got {name!r}")


def _import_distributed(what: str):
    try:
        import distributed
    except ImportError:
        raise InputError(
            "--executor",
            f"{what} needs dask.distributed, which is not installed: install the 'cluster' extra "
            "(pip install -e '.[cluster]')",
        ) from None
    return distributed


@dataclass
class ExecutorHandle:
    """An executor for `run_sweep`: ``executor`` None means "the runner's own local pool"."""

    executor: Executor | None
    capacity: int  # how many runs it runs at once
    description: str


@contextmanager
def open_executor(name: str, workers: int) -> Iterator[ExecutorHandle]:
    """The executor named on the command line, closed afterwards. Local pools are made by the runner
    itself (it rebuilds one whose worker died); dask ones here, through `Client.get_executor`."""
    name = check_executor(name)
    if name == "local":
        yield ExecutorHandle(None, workers, f"local process pool, {workers} worker(s)")
        return
    distributed = _import_distributed(f"--executor {name}")
    import logging

    cluster = None
    if name == "dask":
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(name, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError("--executor", f"cannot reach the dask scheduler at {name}: {exc}") from None
    try:
        # dask's own worker settings pin OMP/MKL/OpenBLAS threads to 1 by default (nanny
        # pre-spawn-environ); a local cluster here has one thread per worker process.
        capacity = max(1, sum(client.nthreads().values()))
        desc = f"dask {'local cluster' if cluster else 'scheduler ' + name}, {capacity} thread(s)"
        yield ExecutorHandle(client.get_executor(pure=False), capacity, desc)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# =================================================================================================
# The runner
# =================================================================================================

@dataclass
class SweepSummary:
    sweep: str
    total: int  # runs the spec asks for
    ok: int = 0
    failed: int = 0
    diverged: int = 0
    skipped: int = 0  # already finished in the store (resume)
    wall_time_s: float = 0.0
    failures: list = field(default_factory=list)  # (key, first line of the error), this invocation

    def counts(self) -> dict:
        return {"total": self.total, "ok": self.ok, "failed": self.failed, "diverged": self.diverged, "skipped": self.skipped}


WORKER_DIED = "worker process died while running this configuration (a crash, or killed for memory)"

# Short runs travel in chunks (several runs per submission) so the per-submission cost of the
# executor (pickling, queues, the pool's manager thread; about 1 ms a task on dask) is paid once per
# chunk: a chunk aims at CHUNK_TARGET_S of work. Runs of CHUNK_TARGET_S or longer travel alone.
# Each run of a chunk is still committed in its own transaction when the chunk comes back.
CHUNK_TARGET_S = 0.025
MAX_CHUNK = 64


def execute_chunk(payloads: list) -> list:
    """`execute_run` over several tasks in one submission (in order)."""
    return [execute_run(p) for p in payloads]


def run_sweep(
    spec: SweepSpec,
    store: Store,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    capacity: int | None = None,
    resume: bool = True,
    on_start: Callable[[int, int], None] | None = None,
    on_result: Callable[[RunRecord, int, int], None] | None = None,
) -> SweepSummary:
    """Run every task of ``spec`` not already finished in ``store``; commit each as it finishes.

    ``executor``: any `concurrent.futures.Executor` (e.g. dask's `client.get_executor()`), with
    ``capacity`` the runs it runs at once; None makes a local process pool of ``workers``
    processes (default: the CPU count), rebuilt if a worker dies (the runs in flight are then
    retried one at a time, so the run that kills its worker is found and recorded as failed).
    ``resume=False`` reruns finished runs too (their rows are replaced, not duplicated).
    ``on_start(todo, skipped)`` is called once the store has been read, ``on_result(record, done,
    todo)`` after each commit. A KeyboardInterrupt stops the workers and propagates; finished runs
    are already committed.
    """
    from sim.provenance import code_version  # parent only: keeps numpy out of the forkserver

    t_start = time.perf_counter()
    summary = SweepSummary(spec.name, spec.total)
    store.add_sweep(spec.name, spec.simulator, spec.text, (t.key for t in spec.tasks), spec.path)
    finished = store.finished_keys() if resume else set()
    todo = [t for t in spec.tasks if t.key not in finished]
    summary.skipped = spec.total - len(todo)
    if on_start is not None:
        on_start(len(todo), summary.skipped)
    if not todo:
        summary.wall_time_s = time.perf_counter() - t_start
        return summary

    own = executor is None
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    capacity = max(1, capacity or (workers if own else 1))
    # Two submissions per worker in flight: one running, one queued, so no worker waits for the
    # parent to commit; few enough that a kill loses little and a broken pool has little to retry.
    window = 2 * capacity
    pool = local_executor(workers) if own else executor

    pending: deque[RunTask] = deque(todo)
    suspects: deque[RunTask] = deque()  # in flight when a worker died: retried alone
    inflight: dict = {}  # future -> (tasks, alone)
    done_q: queue.SimpleQueue = queue.SimpleQueue()
    pool_broken = False
    n_done = n_timed = 0
    mean_run_s: float | None = None  # running mean of the runs' own time, sizes the chunks

    def chunk_size() -> int:
        if mean_run_s is None:
            return 1  # the first submissions measure how long a run takes
        size = int(CHUNK_TARGET_S / max(mean_run_s, 1e-6))
        # Leave work for every worker until the end (no straggling last chunk).
        fair = -(-len(pending) // (2 * capacity))
        return max(1, min(size, MAX_CHUNK, fair))

    def submit(tasks: list, alone: bool) -> bool:
        nonlocal pool_broken
        try:
            if len(tasks) == 1:
                fut = pool.submit(execute_run, tasks[0].payload())
            else:
                fut = pool.submit(execute_chunk, [t.payload() for t in tasks])
        except BrokenProcessPool:
            if not own:
                raise
            pool_broken = True  # found out at submission: the tasks wait for the rebuilt pool
            (suspects if alone else pending).extendleft(reversed(tasks))
            return False
        inflight[fut] = (tasks, alone)
        fut.add_done_callback(done_q.put)
        return True

    def record(task: RunTask, outcome: dict) -> None:
        nonlocal n_done, n_timed, mean_run_s
        rec = RunRecord(
            key=task.key, simulator=task.simulator, sweep=task.sweep, seed=task.seed, config=plain(task.config),
            status=outcome["status"], results=outcome.get("results"), error=outcome.get("error"),
            prediction=outcome.get("prediction"), code_version=code_version(),
            device=outcome.get("device"), wall_time_s=outcome.get("wall_time_s"),
        )
        store.put(rec)  # its own transaction
        n_done += 1
        if rec.wall_time_s is not None:
            n_timed += 1
            mean_run_s = rec.wall_time_s if mean_run_s is None else mean_run_s + (rec.wall_time_s - mean_run_s) / n_timed
        setattr(summary, rec.status, getattr(summary, rec.status) + 1)
        if rec.status == "failed":
            summary.failures.append((rec.key, (rec.error or "").splitlines()[0] if rec.error else ""))
        if on_result is not None:
            on_result(rec, n_done, len(todo))

    def failed(error: str) -> dict:
        return {"status": "failed", "error": error, "results": None}

    try:
        first = True
        while pending or suspects or inflight:
            if pool_broken and not inflight:
                pool.shutdown(wait=False, cancel_futures=True)
                pool = local_executor(workers)
                pool_broken = False
            if not pool_broken:
                if suspects:
                    if not inflight:
                        submit([suspects.popleft()], alone=True)
                else:
                    while pending and len(inflight) < window:
                        n = chunk_size()
                        if not submit([pending.popleft() for _ in range(min(n, len(pending)))], alone=False):
                            break
            if first:  # while the workers start: ask git for the code version once (cached)
                code_version()
                first = False
            try:
                fut = done_q.get(timeout=0.5)  # a timeout keeps Ctrl-C responsive
            except queue.Empty:
                continue
            tasks, alone = inflight.pop(fut)
            try:
                outcome = fut.result()
                outcomes = outcome if isinstance(outcome, list) else [outcome]
            except BrokenProcessPool:
                if own and not alone:
                    pool_broken = True
                    suspects.extend(tasks)
                    continue
                pool_broken = own
                outcomes = [failed(WORKER_DIED)] * len(tasks)
            except CancelledError:
                outcomes = [failed("cancelled by the executor")] * len(tasks)
            except Exception as exc:  # an executor-side failure (dask KilledWorker, lost connection, ...)
                outcomes = [failed(_error_text(exc))] * len(tasks)
            for task, outcome in zip(tasks, outcomes):
                record(task, outcome)
    except BaseException:
        if own:
            _kill_local_pool(pool)
        else:
            for fut in inflight:
                fut.cancel()
        raise
    else:
        if own:
            pool.shutdown(wait=True)
    summary.wall_time_s = time.perf_counter() - t_start
    return summary
