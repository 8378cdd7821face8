"""Spectral learning-curve theory against kernel-regression simulation (`python cli.py validate kernel`).

For each built-in case, the theory (theory/spectral.py, ../shared/REFERENCES.md §6) predicts E_g at
every sample size and the simulator (sim/kernel.py) measures it, averaged over seeds; the report gives
the relative error (simulation − theory)/theory at each P, its mean and maximum in absolute value,
and the figure the case must reach.

- Synthetic power-law cases: theory and simulation use the same arrays (η, v²) built here by
  theory.spectral.power_law_spectrum / power_law_target and handed to the simulator, so the task is
  the same by construction. P from 16 to 4096; more seeds at small P, where one seed's error scatters
  most and costs least (seed tiers).
- An infinite power-law spectrum: the theory sums every mode (theory.spectral.infinite_power_law_curve,
  tail by Hurwitz-zeta series); the simulator keeps 8,192 explicit modes and treats the tail as an
  extra ridge and extra label noise (sim.kernel.infinite_power_law_task). The record adds the theory's
  estimate of that approximation's own error (``truncation_rel_error``: at most 0.9%, at P = 4096).
- Digits with an RBF kernel: the population is the 1,797 digits (uniform); η and v² come from the
  eigendecomposition of K_pool / N (theory.spectral.spectrum_from_kernel); training sets are i.i.d.
  draws from the pool, E_g is the error over the pool (sim.kernel.pool_learning_curve).

Known limit (measured): on digits the theory's error
grows with P for sharp kernels and small ridges (a discrete population of 1,797 points is far from the
Gaussian-feature limit the theory assumes); the built-in case uses ℓ = 6 (about twice the median
distance) and λ = 0.1.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from sim.backend import get_backend
from sim.errors import InputError
from sim.kernel import dataset_kernel, infinite_power_law_task, pool_learning_curve, synthetic_learning_curve
from sim.provenance import run_metadata
from validate.runs_io import check_output_dir
from theory.spectral import (
    infinite_power_law_curve, power_law_spectrum, power_law_target, spectrum_from_kernel, test_error, truncation_error,
)

P_SYNTHETIC = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
SEEDS_SYNTHETIC = (1000, 500, 250, 120, 60, 32, 16, 8, 4)
P_DIGITS = (16, 32, 64, 128, 256, 512, 1024)
SEEDS_DIGITS = (400, 200, 100, 60, 40, 30, 20)


@dataclass(frozen=True)
class KernelCase:
    name: str
    kind: str  # "synthetic" or "digits"
    P: tuple[int, ...]
    seeds: tuple[int, ...]  # one count per P
    ridge: float
    target_mean_rel_err: float  # the figure to reach (mean |relative error| over P)
    spectrum_decay: float = 0.0  # b (synthetic)
    target_decay: float = 0.0  # a (synthetic)
    noise: float = 0.0  # σ² (synthetic)
    modes: int = 8192  # M (synthetic; explicit modes when spectrum = infinite)
    spectrum: str = "finite"  # finite | infinite (synthetic): see sim.kernel.infinite_power_law_task
    kernel: str = "rbf"  # (digits)
    lengthscale: float = 6.0  # (digits)
    description: str = ""

    def params(self) -> dict:
        d = asdict(self)
        keep = ("ridge",) + (("spectrum_decay", "target_decay", "noise", "modes", "spectrum") if self.kind == "synthetic" else ("kernel", "lengthscale"))
        return {k: d[k] for k in keep}


BUILTIN_CASES: tuple[KernelCase, ...] = (
    KernelCase("prior-target", "synthetic", P_SYNTHETIC, SEEDS_SYNTHETIC, ridge=1e-3, target_mean_rel_err=0.03,
               spectrum_decay=1.5, target_decay=1.5,
               description="target drawn from the kernel's prior (a = b): E_g ~ P^-(b-1)"),
    KernelCase("smooth-target", "synthetic", P_SYNTHETIC, SEEDS_SYNTHETIC, ridge=1e-4, target_mean_rel_err=0.03,
               spectrum_decay=1.5, target_decay=3.0,
               description="target smoother than the prior (a > b): E_g ~ P^-min(a-1, 2b)"),
    KernelCase("noisy-labels", "synthetic", P_SYNTHETIC, SEEDS_SYNTHETIC, ridge=1e-2, target_mean_rel_err=0.03,
               spectrum_decay=1.3, target_decay=2.0, noise=0.1,
               description="label noise 0.1 against a ridge of 1e-2"),
    KernelCase("steep-spectrum", "synthetic", P_SYNTHETIC, SEEDS_SYNTHETIC, ridge=1e-3, target_mean_rel_err=0.03,
               spectrum_decay=2.0, target_decay=2.5, noise=0.01,
               description="a fast-decaying spectrum (b = 2) with a little noise"),
    KernelCase("infinite-spectrum", "synthetic", P_SYNTHETIC, SEEDS_SYNTHETIC, ridge=1e-3, target_mean_rel_err=0.03,
               spectrum_decay=1.5, target_decay=2.0, spectrum="infinite",
               description="all modes k >= 1 (eta ~ k^-1.5/zeta(1.5)): theory summed to infinity, simulation with "
                           "8,192 explicit modes and the tail as extra ridge and noise"),
    KernelCase("digits-rbf", "digits", P_DIGITS, SEEDS_DIGITS, ridge=0.1, target_mean_rel_err=0.10,
               kernel="rbf", lengthscale=6.0,
               description="scikit-learn digits (1,797 points, one-hot targets), RBF kernel, spectrum from K/N"),
)


def case_names() -> list[str]:
    return [c.name for c in BUILTIN_CASES]


def quick_case(case: KernelCase) -> KernelCase:
    """A small version of a case (P up to 256, few seeds, fewer modes) for tests and smoke runs."""
    keep = [i for i, p in enumerate(case.P) if p <= 256]
    P = tuple(case.P[i] for i in keep)
    seeds = tuple(max(4, case.seeds[i] // 10) for i in keep)
    return replace(case, P=P, seeds=seeds, modes=min(case.modes, 2048))


def run_case(case: KernelCase, *, device: str = "cpu", seed: int = 0, targets_apply: bool = True,
             on_seed: Callable[[int], None] | None = None) -> dict:
    """Theory and simulation of one case: the JSON record of `validate kernel`.

    ``passed`` is null when the case's figure does not apply (a quick run's few seeds and sizes)."""
    backend = get_backend(device)
    extra = {}
    if case.kind == "synthetic" and case.spectrum == "infinite":
        eta, v, tail_eta, tail_power = infinite_power_law_task(case.spectrum_decay, case.target_decay, case.modes)
        curve = synthetic_learning_curve(eta, v, case.P, ridge=case.ridge, noise=case.noise, seeds=case.seeds, seed=seed,
                                         backend=backend, on_seed=on_seed, tail_eta=tail_eta, tail_power=tail_power)
        theory = infinite_power_law_curve(case.spectrum_decay, case.target_decay, curve.P, ridge=case.ridge,
                                          noise=case.noise).test_error
        # what the simulation's mean-field tail costs, by the theory (part of rel_err, not noise)
        extra["truncation_rel_error"] = truncation_error(case.spectrum_decay, case.target_decay, curve.P,
                                                         modes=case.modes, ridge=case.ridge, noise=case.noise).tolist()
    elif case.kind == "synthetic":
        eta = power_law_spectrum(case.spectrum_decay, case.modes)
        power = power_law_target(case.target_decay, case.modes)
        curve = synthetic_learning_curve(eta, np.sqrt(power), case.P, ridge=case.ridge, noise=case.noise,
                                         seeds=case.seeds, seed=seed, backend=backend, on_seed=on_seed)
        theory = test_error(eta, power, curve.P, ridge=case.ridge, noise=case.noise)
    elif case.kind == "digits":
        K, Y = dataset_kernel("digits", kernel=case.kernel, lengthscale=case.lengthscale, backend=backend)
        eta, power = spectrum_from_kernel(backend.to_host(K), backend.to_host(Y))
        curve = pool_learning_curve(K, Y, case.P, ridge=case.ridge, seeds=case.seeds, seed=seed, backend=backend,
                                    on_seed=on_seed)
        theory = test_error(eta, power, curve.P, ridge=case.ridge)
    else:
        raise InputError("case", f"unknown kind {case.kind!r}")
    sim = curve.mean
    rel = (sim - theory) / theory
    return {
        "name": case.name,
        "kind": case.kind,
        "description": case.description,
        "params": case.params(),
        "P": [int(p) for p in curve.P],
        "theory": theory.tolist(),
        "simulation": sim.tolist(),
        "simulation_sem": curve.sem.tolist(),
        "n_seeds": curve.n_seeds.tolist(),
        "rel_err": rel.tolist(),
        "mean_rel_err": float(np.mean(np.abs(rel))),
        "max_rel_err": float(np.max(np.abs(rel))),
        "target_mean_rel_err": case.target_mean_rel_err,
        "passed": bool(np.mean(np.abs(rel)) <= case.target_mean_rel_err) if targets_apply else None,
        "device": curve.device,
        **extra,
    }


def select_cases(names: list[str] | None, quick: bool) -> list[KernelCase]:
    cases = list(BUILTIN_CASES)
    if names:
        unknown = [n for n in names if n not in case_names()]
        if unknown:
            raise InputError("cases", f"unknown case {unknown[0]!r} (known: {', '.join(case_names())})")
        cases = [c for c in cases if c.name in names]
    return [quick_case(c) for c in cases] if quick else cases


def validate_kernel(cases: list[KernelCase], *, device: str = "cpu", plot_dir: str | Path | None = None,
                    targets_apply: bool = True, on_case: Callable[[KernelCase], None] | None = None,
                    on_seed: Callable[[int], None] | None = None) -> dict:
    """Run the cases; write kernel_validation.json and one PNG per case to ``plot_dir`` when given."""
    out_dir = check_output_dir(plot_dir, "plot")
    backend = get_backend(device)  # fail on --device gpu without one before any work
    results = []
    for case in cases:
        if on_case:
            on_case(case)
        results.append(run_case(case, device=backend.name, targets_apply=targets_apply, on_seed=on_seed))
    report = {
        "cases": results,
        "device": backend.name,
        "all_passed": all(r["passed"] for r in results) if targets_apply else None,
        "provenance": run_metadata(0, {"cases": [c.name for c in cases], "device": device}, backend.description),
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "kernel_validation.json").write_text(json.dumps(_finite(report), indent=1))
        report["plots"] = [str(plot_case(r, out_dir / f"kernel_{r['name']}.png")) for r in results]
    return report


def _finite(obj):
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def plot_case(result: dict, path: Path) -> Path:
    """Theory (line) and simulation (points ± 2 s.e.m.) on log-log axes, relative error below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = np.asarray(result["P"], dtype=float)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(5.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.loglog(P, result["theory"], "-", color="C0", label="theory (BCP 2020)")
    ax.errorbar(P, result["simulation"], yerr=2 * np.asarray(result["simulation_sem"]), fmt="o", ms=4, color="C1",
                capsize=2, label="simulation (mean ± 2 s.e.m.)")
    ax.set_ylabel("test error $E_g$")
    params = ", ".join(f"{k}={v}" for k, v in result["params"].items())
    import textwrap

    ax.set_title(f"{result['name']} ({result['kind']})\n" + "\n".join(textwrap.wrap(params, 90)), fontsize=8)
    ax.legend(fontsize=8)
    rel_sem = 2 * np.asarray(result["simulation_sem"]) / np.asarray(result["theory"])
    ax2.errorbar(P, 100 * np.asarray(result["rel_err"]), yerr=100 * rel_sem, fmt="o-", color="C2", ms=3, capsize=2)
    ax2.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax2.xaxis.set_minor_formatter(NullFormatter())
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_ylabel("rel. err. (%)")
    ax2.set_xlabel("training samples P")
    ax2.set_title(f"mean |rel. err.| {100 * result['mean_rel_err']:.1f}%, max {100 * result['max_rel_err']:.1f}%", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
