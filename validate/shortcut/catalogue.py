"""The catalogue of tricks: each trick as plain data (its arms' run configurations over scales for the
``quick`` and ``full`` modes, its scale axis and units) plus the function that asks `theory/` for its
prediction.

A trick is a `TrickEntry`. Its two arms (`Arm`) name a simulator of `sim.registry` and list the
simulator's option values, one dict per configuration (seed and device are added by the runner for
every seed of the `Protocol`). Where a run's scale and loss are found is said by paths into its stored
record ("results.P", "config.alpha_tot"; a list-valued field gives one point per element, so one
kernel run is a whole learning curve), or, for axes a path cannot express (compute C = 6·N·D from a
transformer's results), by a ``points(record)`` function. ``frontier_over`` makes an arm the frontier
over some options: at each scale only the setting with the lowest geometric-mean loss is kept (the
Pareto-best keep fraction of data pruning; the best learning rate of LR tuning).

Adding a trick is adding an entry: a module that builds `TrickEntry`s and calls `register` for each,
listed in ENTRY_MODULES. A module whose simulator is not in this checkout is skipped (the catalogue
says so) rather than breaking the others.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from theory.errors import InputError

MODES = ("quick", "full")

# Modules that register catalogue entries, in report order. A later module adds tricks by itself
# (e.g. "validate.shortcut.entries_transformer" for the toy-transformer tricks).
ENTRY_MODULES = [
    "validate.shortcut.entries_perceptron",
    "validate.shortcut.entries_kernel",
    "validate.shortcut.entries_transformer",  # Kaplan vs Chinchilla, repetition, corrupted text, LR/WSD, probe pruning
]


@dataclass(frozen=True)
class Arm:
    """One arm of a trick: what runs, and how each stored run becomes (scale, loss) points."""

    label: str  # "no pruning", "Pareto-best keep fraction (perfect probe)"
    simulator: str  # a name in sim.registry
    configs: tuple  # of dicts: simulator option -> value (no seed, no device)
    nominal_scales: tuple  # the scales this arm is meant to reach (checked by `validate`)
    scale: str = "results.P"  # "results.FIELD" | "config.FIELD"; a list field gives one point per element
    loss: str = "results.test_error"
    frontier_over: tuple = ()  # config fields: at each scale keep the setting with the lowest loss
    points: Callable[[Any], list] | None = None  # record -> [(scale, loss[, seed[, setting]])]; overrides the paths
    seeds_per_run: bool = False  # every seed of the protocol trains in one run (the simulator's ``seeds`` option)

    def describe(self) -> dict:
        return {
            "label": self.label, "simulator": self.simulator, "configs": [dict(c) for c in self.configs],
            "nominal_scales": list(self.nominal_scales), "scale": self.scale, "loss": self.loss,
            "frontier_over": list(self.frontier_over), "seeds_per_run": self.seeds_per_run,
        }

    def run_values(self, values: Mapping, seeds: Sequence[int]) -> list[tuple[int, dict]]:
        """(seed, option values) of each run of one configuration: one run per seed, or one run for all
        seeds (``seeds_per_run``; its ``seed`` the first)."""
        if self.seeds_per_run:
            return [(int(seeds[0]), {**values, "seeds": tuple(int(s) for s in seeds)})]
        return [(int(s), dict(values)) for s in seeds]


@dataclass(frozen=True)
class Protocol:
    """The runs and the measurement of one mode of a trick."""

    baseline: Arm
    trick: Arm
    seeds: tuple
    law: str = "power-law"  # the frontier law fitted to each arm (one input: the scale)
    trick_law: str | None = None  # a different law for the trick arm (None: the same)
    resample: str = "run"  # bootstrap: "run" (seeds within each scale) or "seed" (whole seeds)
    n_targets: int = 5
    extrapolate: float = 1.0  # targets may sit this factor beyond an arm's measured scales (1: none)
    n_bootstrap: int = 200
    params: Mapping = field(default_factory=dict)  # task parameters shared by the arms and the theory

    def arms(self) -> dict[str, Arm]:
        return {"baseline": self.baseline, "trick": self.trick}


@dataclass(frozen=True)
class TrickEntry:
    name: str  # e.g. "perceptron-pruning-perfect"
    kind: str  # data pruning | data quality | representation | compute allocation | repetition | optimiser
    setting: str  # the simulator and task in words
    description: str  # what the trick does
    scale_axis: str  # the symbol of the scale ("alpha_prune", "P", "C")
    scale_unit: str  # what one unit of scale is
    scale_why: str  # why this axis
    quick: Protocol
    full: Protocol
    # (Protocol, runs) -> validate.multiplier.TheoryCurves; None: no theory. ``runs`` is {"baseline": [...],
    # "trick": [...]}: the arm's finished stored records (validate.store.RunRecord), for theories calibrated
    # on the entry's own runs; the measuring step passes them (validate/shortcut/run.py)
    theory: Callable[[Protocol, Mapping], Any] | None
    theory_source: str  # the theory/ code and paper (or why there is none)
    theory_note: str = ""
    group: str = ""  # entries of a group (with the same baseline arm) share an overlay figure
    cpu_only: bool = False  # the simulator runs on the CPU only: its runs use device "cpu"
    # a qualitative claim about the trick frontier's shape, tested on the runs (validate.multiplier.
    # frontier_shape_test): "faster" (than a power law) or "reverts" (to a power law); "" for none
    expected_shape: str = ""

    def protocol(self, mode: str) -> Protocol:
        if mode not in MODES:
            raise InputError("mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
        return self.quick if mode == "quick" else self.full

    def device_for(self, device: str) -> str:
        return "cpu" if self.cpu_only else device


# =================================================================================================
# The registry
# =================================================================================================

_ENTRIES: dict[str, TrickEntry] = {}
_SKIPPED: dict[str, str] = {}
_LOADED = False


def register(entry: TrickEntry) -> TrickEntry:
    if entry.name in _ENTRIES and _ENTRIES[entry.name] is not entry:
        raise ValueError(f"a trick named {entry.name!r} is already in the catalogue")
    _ENTRIES[entry.name] = entry
    return entry


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    for module in ENTRY_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:  # a simulator or theory module not in this checkout
            _SKIPPED[module] = f"{type(exc).__name__}: {exc}"
    _LOADED = True


def catalogue() -> list[TrickEntry]:
    """Every registered trick, in ENTRY_MODULES order."""
    _load()
    return list(_ENTRIES.values())


def skipped_modules() -> dict[str, str]:
    _load()
    return dict(_SKIPPED)


def select(names: Sequence[str] | None) -> list[TrickEntry]:
    """The entries named (all when None or empty), in catalogue order; unknown names refused."""
    entries = catalogue()
    if not names:
        return entries
    known = {e.name for e in entries}
    for n in names:
        if n not in known:
            raise InputError("--only", f"no trick named {n!r} (known: {', '.join(sorted(known))})")
    wanted = set(names)
    return [e for e in entries if e.name in wanted]


# =================================================================================================
# Validation: every entry checked before anything runs
# =================================================================================================

def _check_path(path: str, where: str) -> None:
    source, _, rest = path.partition(".")
    if source not in ("results", "config") or not rest:
        raise InputError(where, f"expected 'results.FIELD' or 'config.FIELD', got {path!r}")


def build_config(simulator: str, values: Mapping, seed: int, device: str, where: str):
    """The simulator's config dataclass for ``values`` at ``seed``/``device``, checked (``validate()``
    where the config has one). Errors name ``where``."""
    from sim.registry import get_simulator

    spec = get_simulator(simulator)
    fields = {f.name for f in dataclasses.fields(spec.config_type)}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise InputError(where, f"simulator {simulator!r} has no option {unknown[0]!r}")
    kwargs = dict(values)
    if "seed" in fields:
        kwargs["seed"] = seed
    if "device" in fields:
        kwargs["device"] = device
    try:
        config = spec.config_type(**kwargs)
        check = getattr(config, "validate", None)
        if callable(check):
            check()
    except (TypeError, ValueError) as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(where, f"simulator {simulator!r} refuses {dict(values)}: {problem}") from None
    return spec, config


def validate_entry(entry: TrickEntry, *, min_scales: int = 4, min_span: float = 16.0, min_seeds: int = 3) -> None:
    """Check an entry's data: arms build valid configurations in both modes, the design meets the
    protocol (>= ``min_scales`` nominal scales spanning >= ``min_span``, >= ``min_seeds`` seeds), the
    law has one input, paths are well formed. Raises InputError naming the entry and field."""
    from validate.fit import resolve_law

    if not entry.name or not entry.name.replace("-", "").replace("_", "").isalnum():
        raise InputError("catalogue", f"trick names are words joined by '-' or '_', got {entry.name!r}")
    for mode in MODES:
        proto = entry.protocol(mode)
        where = f"{entry.name} ({mode})"
        if len(set(proto.seeds)) != len(proto.seeds) or len(proto.seeds) < min_seeds:
            raise InputError(where, f"needs at least {min_seeds} distinct seeds, got {list(proto.seeds)}")
        for law in (proto.law, proto.trick_law):
            if law is None:
                continue
            lw = resolve_law(law)
            if len(lw.input_names) != 1:
                raise InputError(where, f"law {lw.name!r} must have one input (the scale)")
        if entry.expected_shape not in ("", "faster", "reverts"):
            raise InputError(where, f"expected_shape must be '', 'faster' or 'reverts', got {entry.expected_shape!r}")
        if proto.resample not in ("run", "seed"):
            raise InputError(where, f"resample must be 'run' or 'seed', got {proto.resample!r}")
        if not (math.isfinite(proto.extrapolate) and proto.extrapolate >= 1):
            raise InputError(where, "extrapolate must be a factor >= 1")
        for arm_name, arm in proto.arms().items():
            aw = f"{where} {arm_name}"
            if not arm.configs:
                raise InputError(aw, "no configurations")
            scales = sorted(set(float(s) for s in arm.nominal_scales))
            if len(scales) < min_scales or scales[0] <= 0 or scales[-1] / scales[0] < min_span * (1 - 1e-9):
                raise InputError(aw, f"nominal scales {scales} must be >= {min_scales} positive values spanning >= {min_span:g}x")
            if arm.points is None:
                _check_path(arm.scale, aw)
                _check_path(arm.loss, aw)
            if arm.seeds_per_run and arm.points is None:
                raise InputError(aw, "an arm whose runs hold several seeds needs a points function (one point per model)")
            for f in arm.frontier_over:
                if arm.points is None and not all(f in c for c in arm.configs):
                    raise InputError(aw, f"frontier_over field {f!r} must be set in every configuration")
            for values in arm.configs:
                seed, run_values = arm.run_values(values, proto.seeds)[0]
                build_config(arm.simulator, run_values, seed, entry.device_for("cpu"), aw)


def validate_catalogue(entries: Sequence[TrickEntry] | None = None) -> None:
    entries = catalogue() if entries is None else entries
    seen = set()
    for e in entries:
        if e.name in seen:
            raise InputError("catalogue", f"duplicate trick {e.name!r}")
        seen.add(e.name)
        validate_entry(e)


__all__ = [
    "Arm", "ENTRY_MODULES", "MODES", "Protocol", "TrickEntry", "build_config", "catalogue", "register", "select",
    "skipped_modules", "validate_catalogue", "validate_entry",
]
