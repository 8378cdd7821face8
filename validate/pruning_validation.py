"""`validate pruning`: the replica theory of data pruning against exact maximum-margin simulation.

Two parts (Sorscher et al. 2022; ../shared/REFERENCES.md §5):

1. **Cases**: learning curves over a grid of (α_tot, f, θ, hard/easy/random pruning), simulated by
   `sim.perceptron` (N = 400; 20 seeds, then batches of 20 more until the standard error is at most
   1.5% of the mean, 100 at most: a precision fixed in advance, so that points on a transition,
   where single seeds scatter widely, are as well measured as the rest) and predicted by `theory.pruning` at the same
   α_prune and f (the simulation's actual kept count). Each case reports the mean and largest
   relative error |ε_sim − ε_theory|/ε_theory over its points. Points sit away from the θ = 0
   "cliff" at α_prune ≈ 2 (f ≤ 0.3), where finite-N simulations at N ≤ 800 deviate by up to 16%
   (REFERENCES.md §5, finite size). Random pruning and a probe at θ = 90° are compared with the
   unpruned curve at the same α_prune: such a probe carries no information.
2. **Pareto frontier**: min over f ∈ [keep_min, 1] of ε(α_prune, f, θ) for no pruning, a perfect
   probe (θ = 0) and imperfect probes (θ = 10°, 20°), with local exponents d log ε / d log α_prune
   fitted on windows, simulation points at the theory's best f, and f_min(θ): the kept fraction
   below which pruning hurts at a given α_prune (`theory.pruning.f_min`).

With ``plot_dir``: pruning_validation.json, pruning_pareto.png (frontiers, local exponents, best f)
and pruning_cases.png (each case's curves, theory lines and simulation points ± 2 s.e.m.).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sim.backend import cpu_backend
from sim.errors import InputError
from validate.runs_io import check_output_dir
from sim.perceptron import learning_curve as simulate_curve
from sim.provenance import run_metadata
from theory import pruning as theory
from validate.store import plain


@dataclass(frozen=True)
class PruningCase:
    name: str
    keep: float
    prune: str  # hard, easy, random
    probe_angle: float  # degrees
    alpha_tot: tuple[float, ...]
    note: str = ""


CASES: tuple[PruningCase, ...] = (
    PruningCase("no-pruning", 1.0, "hard", 0.0, (1, 2, 4, 8, 16), "the classical max-margin curve"),
    PruningCase("hard-f0.3-perfect", 0.3, "hard", 0.0, (2, 4, 12, 24)),
    PruningCase("hard-f0.1-perfect", 0.1, "hard", 0.0, (5, 10, 40, 100)),
    PruningCase("hard-f0.2-theta10", 0.2, "hard", 10.0, (5, 10, 20, 50)),
    PruningCase("hard-f0.3-theta20", 0.3, "hard", 20.0, (2, 5, 10, 30)),
    PruningCase("hard-f0.1-theta20", 0.1, "hard", 20.0, (10, 40, 100)),
    PruningCase("easy-f0.3-perfect", 0.3, "easy", 0.0, (2, 4, 8)),
    PruningCase("easy-f0.5-theta10", 0.5, "easy", 10.0, (1, 2, 4, 8)),
    PruningCase("hard-f0.3-theta90", 0.3, "hard", 90.0, (3, 10, 30), "an orthogonal probe: theory = no pruning"),
    PruningCase("random-f0.3", 0.3, "random", 0.0, (3, 10, 30), "random subsampling: theory = no pruning"),
)
QUICK_CASES = ("no-pruning", "hard-f0.3-theta20", "hard-f0.3-theta90")

PARETO_ANGLES = (0.0, 10.0, 20.0)
PARETO_WINDOWS = ((0.5, 1), (1, 1.5), (1.5, 2.2), (2.2, 4), (4, 8), (8, 16), (16, 32), (32, 64),
                  (64, 128), (128, 256), (256, 500))
PARETO_SIM_ALPHA = (1.0, 4.0, 10.0)  # α_prune of the simulated frontier points
F_MIN_ANGLES = (5.0, 10.0, 20.0, 30.0)
F_MIN_ALPHA = (10.0, 100.0)


def case_names() -> list[str]:
    return [c.name for c in CASES]


def select_cases(names: Sequence[str] | None, quick: bool) -> list[PruningCase]:
    if names:
        unknown = [n for n in names if n not in case_names()]
        if unknown:
            raise InputError("cases", f"unknown case {unknown[0]!r} (known: {', '.join(case_names())})")
        return [c for c in CASES if c.name in names]
    if quick:
        return [_quick(c) for c in CASES if c.name in QUICK_CASES]
    return list(CASES)


def _quick(case: PruningCase) -> PruningCase:
    a = case.alpha_tot
    return PruningCase(case.name, case.keep, case.prune, case.probe_angle, (a[0], a[-2]), case.note)


def _rel_errors(sim: Sequence[float], pred: Sequence[float]) -> list[float]:
    return [abs(s - p) / p for s, p in zip(sim, pred)]


def run_case(case: PruningCase, *, N: int, seeds: int, workers: int | None = None, precision: float | None = None,
             max_seeds: int = 100, on_fit: Callable[[], None] | None = None) -> dict:
    """Simulate one case over seeds and compare it point by point with the theory.

    ``precision``: a target for the standard error relative to the mean; a point whose first
    ``seeds`` seeds miss it gets further batches of ``seeds`` new seeds, up to ``max_seeds``. The
    target is fixed before any comparison (it does not look at the theory), so points on a
    transition, where single seeds scatter widely, are measured as precisely as the others.
    """
    sims = []
    for a in case.alpha_tot:
        seed_list = list(range(seeds))
        sim = simulate_curve([a], N=N, keep=case.keep, prune=case.prune, probe_angle=case.probe_angle,
                             seeds=seed_list, workers=workers, on_done=(lambda k, r: on_fit()) if on_fit else None)
        errors = list(sim["test_errors"][0])
        while precision is not None and len(errors) < max_seeds:
            e = np.asarray(errors)
            if e.std(ddof=1) / math.sqrt(len(e)) <= precision * e.mean():
                break
            more = list(range(len(errors), min(len(errors) + seeds, max_seeds)))
            extra = simulate_curve([a], N=N, keep=case.keep, prune=case.prune, probe_angle=case.probe_angle,
                                   seeds=more, workers=workers)
            errors += extra["test_errors"][0]
            sim["all_exact"] = sim["all_exact"] and extra["all_exact"]
        e = np.asarray(errors)
        sims.append({"alpha_tot": sim["alpha_tot"][0], "alpha_prune": sim["alpha_prune"][0], "mean": float(e.mean()),
                     "sem": float(e.std(ddof=1) / math.sqrt(len(e))), "seeds": len(e), "all_exact": sim["all_exact"]})
    # theory at the simulation's own α_prune and kept fraction (rounding of P_kept)
    uninformative = case.prune == "random" or case.probe_angle == 90.0
    pred = []
    for s in sims:
        if uninformative:  # random subsampling, or a probe orthogonal to the teacher: no pruning
            pred.append(theory.solve(s["alpha_prune"], 1.0, 0.0, "hard").test_error)
        else:
            f = min(s["alpha_prune"] / s["alpha_tot"], 1.0)
            pred.append(theory.solve(s["alpha_prune"], f, case.probe_angle, case.prune).test_error)
    # a dense theory curve for the plot (the points alone would be joined by straight lines)
    a_lo, a_hi = min(s["alpha_prune"] for s in sims), max(s["alpha_prune"] for s in sims)
    dense = np.geomspace(a_lo, a_hi, 30).tolist()
    if uninformative:
        curve = theory.learning_curve(dense, 1.0, 0.0, "hard")
    else:
        curve = theory.learning_curve(dense, case.keep, case.probe_angle, case.prune)
    sim_err = [s["mean"] for s in sims]
    sem = [s["sem"] for s in sims]
    rel = _rel_errors(sim_err, pred)
    return {
        "name": case.name,
        "keep": case.keep,
        "prune": case.prune,
        "probe_angle": case.probe_angle,
        "note": case.note,
        "alpha_tot": [s["alpha_tot"] for s in sims],
        "alpha_prune": [s["alpha_prune"] for s in sims],
        "test_error_sim": sim_err,
        "test_error_sem": sem,
        "seeds": [s["seeds"] for s in sims],
        "test_error_theory": pred,
        "theory_curve": {"alpha_prune": dense, "test_error": [c.test_error for c in curve]},
        "rel_err": rel,
        "mean_rel_err": float(np.mean(rel)),
        "max_rel_err": float(np.max(rel)),
        # the deviation in units of the simulation's standard error (is it noise?)
        "z_scores": [float((s - p) / e) if e and e > 0 else None for s, p, e in zip(sim_err, pred, sem)],
        "all_exact": all(s["all_exact"] for s in sims),
    }


def pareto_section(*, alpha_grid: Sequence[float], angles: Sequence[float], keep_min: float, N: int,
                   seeds: int, sim_alpha: Sequence[float], workers: int | None = None,
                   f_min_angles: Sequence[float] = F_MIN_ANGLES, f_min_alpha: Sequence[float] = F_MIN_ALPHA,
                   n_grid: int = 13, on_step: Callable[[], None] | None = None) -> dict:
    """Theory frontiers, their local exponents, simulated frontier points and f_min(θ)."""
    alpha_grid = sorted(float(a) for a in alpha_grid)
    unpruned = theory.learning_curve(alpha_grid, 1.0, 0.0, "hard")
    frontiers = {"none": {"alpha_prune": alpha_grid, "test_error": [s.test_error for s in unpruned],
                          "best_keep": [1.0] * len(alpha_grid), "probe_angle": None}}
    frontiers["none"]["local_exponents"] = theory.local_exponents(alpha_grid, frontiers["none"]["test_error"], PARETO_WINDOWS)
    if on_step:
        on_step()
    for theta in angles:
        grid = alpha_grid
        if theta == 0.0:  # cheap: resolve the cliff at α_prune ≈ 2 finely
            grid = sorted(set(alpha_grid) | set(np.round(np.linspace(1.5, 2.5, 11), 6).tolist()))
        front = theory.pareto_frontier(grid, theta, "hard", keep_min=keep_min, n_grid=n_grid, on_step=None)
        front["local_exponents"] = theory.local_exponents(front["alpha_prune"], front["test_error"], PARETO_WINDOWS)
        frontiers[f"theta={theta:g}"] = front
        if on_step:
            on_step()
    # simulated points on each frontier, at the theory's best f
    sim_points = []
    for theta in angles:
        for a in sim_alpha:
            best = theory.best_keep(float(a), theta, "hard", keep_min=keep_min, n_grid=n_grid)
            alpha_tot = a / best.keep
            sim = simulate_curve([alpha_tot], N=N, keep=best.keep, prune="hard", probe_angle=theta, seeds=seeds,
                                 workers=workers)
            pred = theory.solve(sim["alpha_prune"][0], sim["alpha_prune"][0] / sim["alpha_tot"][0], theta, "hard")
            sim_points.append({
                "probe_angle": theta, "alpha_prune": sim["alpha_prune"][0], "keep": best.keep,
                "alpha_tot": sim["alpha_tot"][0], "test_error_sim": sim["test_error"][0],
                "test_error_sem": sim["test_error_sem"][0], "test_error_theory": pred.test_error,
                "rel_err": abs(sim["test_error"][0] - pred.test_error) / pred.test_error,
            })
            if on_step:
                on_step()
    fmin = []
    for theta in f_min_angles:
        for a in f_min_alpha:
            fmin.append({"probe_angle": theta, "alpha_prune": a, "f_min": theory.f_min(theta, a, "hard")})
        if on_step:
            on_step()
    return {"keep_min": keep_min, "frontiers": frontiers, "simulated": sim_points, "f_min": fmin,
            "windows": [list(w) for w in PARETO_WINDOWS], "summary": _pareto_summary(frontiers)}


def _pareto_summary(frontiers: dict) -> dict:
    """The claims in numbers: largest-magnitude local exponent before the floor, last exponent."""
    out = {}
    for key, front in frontiers.items():
        exps = [(w["window"], w["exponent"]) for w in front["local_exponents"] if w["exponent"] is not None]
        steepest = min(exps, key=lambda t: t[1]) if exps else (None, None)
        out[key] = {"steepest_window": steepest[0], "steepest_exponent": steepest[1],
                    "last_window": exps[-1][0] if exps else None, "last_exponent": exps[-1][1] if exps else None,
                    "error_times_alpha_at_end": front["test_error"][-1] * front["alpha_prune"][-1]}
    return out


def validate_pruning(*, quick: bool = False, cases: Sequence[str] | None = None, N: int | None = None,
                     seeds: int | None = None, keep_min: float = 1e-3, workers: int | None = None,
                     precision: float | None = None, max_seeds: int = 100,
                     plot_dir: str | Path | None = None, pareto: bool = True,
                     on_progress: Callable[[str, int], None] | None = None,
                     on_advance: Callable[[], None] | None = None) -> dict:
    """Run the comparison; write JSON and PNGs to ``plot_dir`` when given.

    ``on_progress(label, total)`` announces each stage with its number of steps; ``on_advance()``
    marks one step done (progress bars). ``precision`` (default 1.5%, none with ``quick``): the
    standard error each simulated point is run to, in batches of ``seeds`` seeds up to ``max_seeds``.
    """
    out_dir = check_output_dir(plot_dir, "plot")
    N = (200 if quick else 400) if N is None else int(N)
    seeds = (6 if quick else 20) if seeds is None else int(seeds)
    if N < 10:
        raise InputError("N", f"must be at least 10, got {N}")
    if seeds < 2:
        raise InputError("seeds", f"need at least 2 seeds for a standard error, got {seeds}")
    if not (0 < keep_min < 1):
        raise InputError("keep_min", f"must lie in (0, 1), got {keep_min}")
    if precision is None and not quick:
        precision = 0.015
    if precision is not None and not (0 < precision < 1):
        raise InputError("precision", f"must lie in (0, 1), got {precision}")
    chosen = select_cases(cases, quick)
    adv = on_advance or (lambda: None)
    results = []
    if on_progress:
        on_progress("simulate cases", sum(len(c.alpha_tot) for c in chosen) * seeds)
    timings = {}
    t0 = time.perf_counter()
    for case in chosen:
        t_case = time.perf_counter()
        results.append(run_case(case, N=N, seeds=seeds, workers=workers, precision=precision,
                                max_seeds=max(max_seeds, seeds), on_fit=adv))
        timings[case.name] = time.perf_counter() - t_case
    timings["cases"] = time.perf_counter() - t0
    report: dict = {
        "cases": results,
        "settings": {"N": N, "seeds": seeds, "quick": quick, "keep_min": keep_min, "precision": precision,
                     "max_seeds": max(max_seeds, seeds)},
    }
    if pareto:
        alpha_grid = np.geomspace(0.5, 20, 6).tolist() if quick else np.geomspace(0.5, 500, 25).tolist()
        angles = (0.0, 20.0) if quick else PARETO_ANGLES
        sim_alpha = (1.0, 4.0) if quick else PARETO_SIM_ALPHA
        f_angles = (20.0,) if quick else F_MIN_ANGLES
        f_alpha = (10.0,) if quick else F_MIN_ALPHA
        if on_progress:
            on_progress("pareto frontiers", 1 + len(angles) + len(angles) * len(sim_alpha) + len(f_angles))
        report["pareto"] = pareto_section(alpha_grid=alpha_grid, angles=angles, keep_min=keep_min, N=N,
                                          seeds=seeds, sim_alpha=sim_alpha, workers=workers,
                                          f_min_angles=f_angles, f_min_alpha=f_alpha, n_grid=7 if quick else 13,
                                          on_step=adv)
        timings["pareto"] = time.perf_counter() - t0 - timings["cases"]
    report["seconds"] = timings
    report["all_within_5pct"] = all(r["max_rel_err"] <= 0.05 for r in results)
    report["provenance"] = run_metadata(list(range(seeds)), {"N": N, "cases": [c.name for c in chosen],
                                                             "quick": quick, "keep_min": keep_min}, cpu_backend().description)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        plots = [str(plot_cases(results, out_dir / "pruning_cases.png"))]
        if pareto:
            plots.append(str(plot_pareto(report["pareto"], out_dir / "pruning_pareto.png")))
        report["plots"] = plots
        (out_dir / "pruning_validation.json").write_text(json.dumps(plain(report), indent=1))
    return report


# --- plots ---------------------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_cases(results: Sequence[dict], path: Path) -> Path:
    """One panel per case: theory (a dense curve) and simulation ± 2 s.e.m."""
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    n = len(results)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, r in zip(axes.ravel(), results):
        a = np.asarray(r["alpha_prune"])
        ax.plot(r["theory_curve"]["alpha_prune"], r["theory_curve"]["test_error"], "-", color="k", lw=1.2,
                label="replica theory")
        ax.errorbar(a, r["test_error_sim"], yerr=2 * np.asarray(r["test_error_sem"], dtype=float), fmt="o", ms=4,
                    color="C1", capsize=2, label="simulation ± 2 s.e.m.")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{r['name']}\nmax rel. err {100 * r['max_rel_err']:.1f}%", fontsize=8)
        ax.set_xlabel("α_prune", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    axes.ravel()[0].set_ylabel("test error ε")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_pareto(pareto: dict, path: Path) -> Path:
    """Frontiers on log–log axes (with simulated points), local exponents, and the best f."""
    plt = _pyplot()
    fig, (ax, ax_exp, ax_f) = plt.subplots(1, 3, figsize=(15, 4.6))
    styles = {"none": ("k", "no pruning"), "theta=0": ("C0", "perfect probe (θ = 0)")}
    for i, (key, front) in enumerate(pareto["frontiers"].items()):
        if key in styles:
            color, label = styles[key]
        else:
            color, label = f"C{i + 1}", f"probe θ = {front['probe_angle']:g}°"
        a = np.asarray(front["alpha_prune"])
        ax.plot(a, front["test_error"], "-", color=color, label=label + (" (Pareto, f ≥ %g)" % pareto["keep_min"]
                                                                          if key != "none" else ""))
        mids = [math.sqrt(w["window"][0] * w["window"][1]) for w in front["local_exponents"] if w["exponent"] is not None]
        exps = [w["exponent"] for w in front["local_exponents"] if w["exponent"] is not None]
        ax_exp.plot(mids, exps, "o-", color=color, label=label)
        if key != "none":
            ax_f.plot(a, front["best_keep"], "-", color=color, label=label)
        for p in pareto["simulated"]:
            if key == f"theta={p['probe_angle']:g}":
                ax.errorbar([p["alpha_prune"]], [p["test_error_sim"]], yerr=[2 * (p["test_error_sem"] or 0)], fmt="s",
                            color=color, ms=5, capsize=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("α_prune = P_kept / N")
    ax.set_ylabel("test error ε (Pareto-optimal over f)")
    ax.set_title("Pareto frontiers: theory (lines), simulation (squares ± 2 s.e.m.)", fontsize=9)
    ax.legend(fontsize=7)
    ax_exp.set_xscale("log")
    ax_exp.axhline(-1, color="grey", lw=0.8, ls="--")
    ax_exp.set_ylim(max(-25, min(-1.5, ax_exp.get_ylim()[0])), 0.2)
    ax_exp.set_xlabel("α_prune (window centre)")
    ax_exp.set_ylabel("local exponent d log ε / d log α_prune")
    ax_exp.set_title("a power law is a flat line; −1 is the unpruned asymptote", fontsize=9)
    ax_exp.legend(fontsize=7)
    ax_f.set_xscale("log")
    ax_f.set_yscale("log")
    ax_f.set_xlabel("α_prune")
    ax_f.set_ylabel("best kept fraction f")
    ax_f.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
