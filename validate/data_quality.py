"""Text data quality and repetition with the toy transformer (issue 7 item 4): real runs, effective data.

Two studies of real runs of the toy GPT (sim/transformer, the stdlib byte corpus), each made through the
sweep runner into a results store (resumable; a second call reuses finished runs) and read back from
the store. Loss: final validation nats/byte on the fixed clean validation windows.

**Repetition** (`repetition_study`). At a fixed model and a fixed total of D training tokens, a pool
of U = D/R unique tokens (whole documents in a random order drawn from the run's seed, cut at U bytes:
sim/text.py's ``shuffle_documents`` and ``unique_tokens``, the trainer's ``reseed_data``; pools of
growing U are nested, and differ between seeds so that the seeds' spread includes which documents a
pool holds) is repeated for R = 1, 2, 4, … ≥ 16
epochs. Beside them, fresh-data runs: one epoch over a pool of U tokens for every U used (R = 1 at
each budget D/R). Muennighoff et al.'s data-constrained law (REFERENCES.md §4) at a fixed model is
L = E′ + B/D′^β, with D′ = U + U·R*_D·(1 − exp(−(D/U − 1)/R*_D)) and E′ = E + A/N′^α the model's
share (N′ is not identifiable from one model size: it is folded into E′, so the excess-parameter
decay R*_N plays no part). The fit, with the project's fitter (validate/fit.py):

1. E′, B, β from the fresh-data runs alone (power law in the tokens, R = 1 so D′ = D);
2. R*_D alone from the repeated runs (R ≥ 2), with E′, B, β fixed at stage 1's values.

Intervals: a bootstrap that resamples the seeds within every cell (each pool size for the fresh runs,
each (D, R) for the repeated ones) and refits both stages. Beside the fit, each repeated cell's
effective data is read directly: D_eff = the fresh curve's tokens at the cell's mean loss, shown as
D_eff/D against Muennighoff's prediction (R*_D = 15.4) and against the fitted R*_D.

**Quality** (`quality_study`). At a fixed model and D tokens: a fraction of documents replaced by
random bytes (corrupt_mode documents), a fraction of bytes changed (corrupt_mode bytes), a fraction of
documents duplicated, each trained as is and with sim/text.py's filter (bigram cross-entropy above
ln 256) or exact deduplication. A clean-data curve (random windows of the whole corpus at D/8 … D)
turns each cell's mean loss into its effective data D_eff/D, set beside the effective-data reading
(theory/effective_data.py): 1 − φ for a corrupted share φ of the training bytes, (1 − φ_kept) after a
filter, 1 for duplicates (at D far below the corpus no token is seen twice: a duplicate only doubles a
document's sampling weight).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from theory.errors import InputError

MODEL = {"quick": {"d_model": 32, "layers": 1, "heads": 2, "context": 32, "batch": 16},
         "full": {"d_model": 64, "layers": 2, "heads": 4, "context": 64, "batch": 16}}
EVAL = {"eval_points": 1, "eval_tokens": 32768}  # as validate/shortcut/entries_transformer.py: runs are shared
LR = 3e-3
POOL_KNOBS = "shuffle_documents=true"  # pools are random documents (nested as U grows), not the first files by path
POOL = {"corpus_knobs": POOL_KNOBS, "reseed_data": True}  # a different document order for every seed
REPETITION = {
    "quick": {"totals": (524288,), "epochs": (1, 2, 4, 8, 16), "seeds": (0, 1, 2), "n_bootstrap": 200},
    "full": {"totals": (524288, 2097152), "epochs": (1, 2, 4, 8, 16, 32, 64), "seeds": (0, 1, 2, 3, 4),
             "n_bootstrap": 1000},
}
QUALITY = {
    "quick": {"tokens": 262144, "clean": (32768, 65536, 131072, 262144), "seeds": (0, 1, 2), "n_bootstrap": 200,
              "documents": (0.1, 0.2, 0.4), "bytes": (0.02, 0.1), "duplicates": (0.5,)},
    "full": {"tokens": 2097152, "clean": (262144, 524288, 1048576, 2097152), "seeds": (0, 1, 2, 3, 4),
             "n_bootstrap": 1000, "documents": (0.05, 0.1, 0.2, 0.4), "bytes": (0.01, 0.02, 0.05, 0.1),
             "duplicates": (0.25, 0.5)},
}
R_STAR_STARTS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)


def _mode(quick: bool) -> str:
    return "quick" if quick else "full"


def _values(mode: str, **over) -> dict:
    return {**MODEL[mode], "lr": LR, **EVAL, **over}


# =================================================================================================
# Runs: planned as sweep tasks, run into the store, read back
# =================================================================================================

@dataclass
class PlannedRun:
    role: dict  # what the run is for (study-specific: kind, tokens, epochs, cell, ...)
    values: dict  # the transformer's options (no seed, no device)
    seed: int
    key: str = ""


def _task(values: dict, seed: int, device: str, sweep: str):
    from sim.registry import SIMULATORS
    from sim.transformer.config import TransformerConfig
    from validate.store import run_key
    from validate.sweep import RunTask

    cfg = TransformerConfig(**values, seed=seed, device=device).validate()
    config = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    return RunTask(key=run_key("transformer", config), simulator="transformer", target=SIMULATORS["transformer"],
                   sweep=sweep, seed=seed, config=config)


def run_planned(runs: Sequence[PlannedRun], store, *, name: str, device: str = "cpu", workers: int | None = None,
                on_start: Callable[[int, int], None] | None = None,
                on_result: Callable[[object, int, int], None] | None = None):
    """Run every planned run not yet finished in ``store`` (one sweep named ``name``); sets run.key."""
    from validate.sweep import SweepSpec, run_sweep

    tasks, seen = [], set()
    for r in runs:
        t = _task(r.values, r.seed, device, name)
        r.key = t.key
        if t.key not in seen:
            seen.add(t.key)
            tasks.append(t)
    text = json.dumps({"study": name, "runs": [{"role": r.role, "values": r.values, "seed": r.seed} for r in runs]},
                      default=str)
    spec = SweepSpec(path="<validate/data_quality.py>", name=name, simulator="transformer", target=tasks[0].target,
                     seeds=tuple(sorted({t.seed for t in tasks})), axes={}, fixed={}, predict=None, text=text,
                     tasks=tuple(tasks))
    return run_sweep(spec, store, workers=workers, on_start=on_start, on_result=on_result)


def read_losses(runs: Sequence[PlannedRun], store) -> list[dict]:
    """{**role, seed, loss, tokens, key} for every planned run finished ok in the store."""
    out = []
    for r in runs:
        try:
            rec = store.get(r.key)
        except ValueError:
            continue
        if rec.status != "ok" or not rec.results or rec.results.get("final_val_loss") is None:
            continue
        out.append({**r.role, "seed": r.seed, "loss": float(rec.results["final_val_loss"]),
                    "tokens_trained": float(rec.results["tokens"]), "key": r.key})
    return out


# =================================================================================================
# Fitting: the fresh-data curve and R*_D
# =================================================================================================

def _power_law_fit(x: np.ndarray, y: np.ndarray, starts=None):
    from validate.fit import fit_law

    return fit_law("power-law", {"x": np.asarray(x, float)}, np.asarray(y, float), starts=starts)


def _refit_starts(fit) -> np.ndarray:
    return np.vstack([fit.phi[None, :], fit.refit_starts, fit.candidates])


def repetition_law(E: float, A: float, alpha: float):
    """The data-constrained law at a fixed model with E′, B, β fixed: one parameter, R_D (law text
    through the whitelist parser, so it rebuilds anywhere)."""
    from theory.parse import parse_law

    text = (f"{E!r} + {A!r}*(U + U*R_D*(1 - exp(-max(D/U - 1, 0)/R_D)))**(-{alpha!r})")
    return parse_law(text)


def fit_r_star(fresh: Sequence[tuple[float, float]], repeated: Sequence[tuple[float, float, float]],
               *, starts_fresh=None) -> dict:
    """Two-stage fit (module docstring). ``fresh``: (tokens, loss) of one-epoch runs; ``repeated``:
    (tokens D, unique tokens U, loss) of runs with D/U ≥ 2 epochs. Returns E, A, alpha, R_star and
    the fits' convergence."""
    from validate.fit import fit_law

    f = np.asarray(fresh, dtype=float)
    r = np.asarray(repeated, dtype=float)
    if f.ndim != 2 or f.shape[0] < 4 or r.ndim != 2 or r.shape[0] < 2:
        raise InputError("runs", "need at least 4 fresh-data runs and 2 repeated runs")
    fit1 = _power_law_fit(f[:, 0], f[:, 1], starts=starts_fresh)
    E, A, alpha = (fit1.params[k] for k in ("E", "A", "alpha"))
    law = repetition_law(E, A, alpha)
    starts = np.array([[v] for v in R_STAR_STARTS])
    fit2 = fit_law(law, {"D": r[:, 0], "U": r[:, 1]}, r[:, 2], starts=starts)
    return {"E": E, "A": A, "alpha": alpha, "R_star": float(fit2.params["R_D"]),
            "converged": bool(fit1.converged and fit2.converged), "fit_fresh": fit1, "fit_repeated": fit2}


def _stratified(rows: Sequence[dict], cell_key: Callable[[dict], tuple], rng: np.random.Generator) -> list[dict]:
    cells: dict = {}
    for row in rows:
        cells.setdefault(cell_key(row), []).append(row)
    out = []
    for key in sorted(cells, key=str):
        members = cells[key]
        out.extend(members[i] for i in rng.integers(0, len(members), len(members)))
    return out


def _pct(v, level: float = 0.95) -> list[float] | None:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    q = (1 - level) / 2 * 100
    return [float(np.percentile(v, q)), float(np.percentile(v, 100 - q))]


def invert_power_law(E: float, A: float, alpha: float, loss) -> np.ndarray:
    """Tokens at which E + A x^(−α) equals ``loss`` (inf at or below the floor E)."""
    loss = np.asarray(loss, dtype=float)
    with np.errstate(all="ignore"):
        return np.where(loss > E, (A / (loss - E)) ** (1.0 / alpha), np.inf)


def analyse_repetition(rows: Sequence[dict], *, n_bootstrap: int = 200, seed: int = 0) -> dict:
    """R*_D with a bootstrap interval and the effective data of every cell, from run rows
    {kind: fresh|repeated, tokens, unique_tokens, epochs, loss, seed}."""
    from theory.effective_data import MUENNIGHOFF_R_D, effective_data

    fresh_rows = [r for r in rows if r["kind"] == "fresh"]
    rep_rows = [r for r in rows if r["kind"] == "repeated" and r["epochs"] >= 2]

    def tables(fr, rr):
        return ([(r["tokens"], r["loss"]) for r in fr], [(r["tokens"], r["unique_tokens"], r["loss"]) for r in rr])

    est = fit_r_star(*tables(fresh_rows, rep_rows))
    starts = _refit_starts(est["fit_fresh"])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 4]))
    boot = []
    for _ in range(int(n_bootstrap)):
        fr = _stratified(fresh_rows, lambda r: (r["tokens"],), rng)
        rr = _stratified(rep_rows, lambda r: (r["tokens"], r["epochs"]), rng)
        try:
            b = fit_r_star(*tables(fr, rr), starts_fresh=starts)
        except (ValueError, ArithmeticError):
            continue
        if b["converged"]:
            boot.append((b["E"], b["A"], b["alpha"], b["R_star"], fr, rr))
    r_boot = np.array([b[3] for b in boot])
    ci = _pct(r_boot)
    cells = []
    by_cell: dict = {}
    for r in [x for x in rows if x["kind"] == "repeated"]:
        by_cell.setdefault((r["tokens"], r["epochs"], r["unique_tokens"]), []).append(r["loss"])
    for (D, R, U), losses in sorted(by_cell.items()):
        mean = float(np.mean(losses))
        d_eff = float(invert_power_law(est["E"], est["A"], est["alpha"], mean)) / D
        samples = []
        for E, A, al, _, _, rr in boot:
            cell = [x["loss"] for x in rr if x["tokens"] == D and x["epochs"] == R]
            if not cell:  # R = 1 cells are not resampled with the repeated ones
                cell = losses
            samples.append(float(invert_power_law(E, A, al, np.mean(cell))) / D)
        cells.append({
            "tokens": D, "epochs": R, "unique_tokens": U, "runs": len(losses), "mean_loss": mean,
            "loss_sd": float(np.std(losses, ddof=1)) if len(losses) > 1 else None,
            "effective_data_ratio": d_eff, "ci95": _pct(samples),
            "muennighoff": float(effective_data(D, U, MUENNIGHOFF_R_D) / D),
            "fitted": float(effective_data(D, U, est["R_star"]) / D),
        })
    inside = None if ci is None else bool(ci[0] <= MUENNIGHOFF_R_D <= ci[1])
    return {
        "R_star": {"estimate": est["R_star"], "ci95": ci, "n_bootstrap": int(n_bootstrap), "n_valid": len(boot),
                   "muennighoff": MUENNIGHOFF_R_D, "muennighoff_inside_ci": inside,
                   "bootstrap": "seeds resampled within each cell, both stages refitted"},
        "fresh_fit": {"law": "power-law E + A·D^(−α) on the one-epoch runs", "E": est["E"], "A": est["A"],
                      "alpha": est["alpha"], "converged": bool(est["fit_fresh"].converged),
                      "ci95": {k: _pct([b[i] for b in boot]) for i, k in enumerate(("E", "A", "alpha"))}},
        "fit_note": ("stage 1: E′, B, β from the one-epoch runs; stage 2: R*_D alone from the repeated runs (R ≥ 2) "
                     "with those fixed; N′ folded into E′ (one model size)"),
        "cells": cells,
    }


# =================================================================================================
# The repetition study
# =================================================================================================

def repetition_plan(quick: bool = True) -> list[PlannedRun]:
    mode = _mode(quick)
    d = REPETITION[mode]
    per_step = MODEL[mode]["batch"] * MODEL[mode]["context"]
    runs = []
    for D in d["totals"]:
        for R in d["epochs"]:
            U = int(D // R)
            if U % per_step or U < 2 * per_step:
                raise InputError("epochs", f"pool D/R = {U} must be whole steps of {per_step} tokens")
            for s in d["seeds"]:
                runs.append(PlannedRun({"kind": "repeated", "tokens": D, "unique_tokens": U, "epochs": R},
                                       _values(mode, tokens=D, unique_tokens=U, **POOL), s))
                runs.append(PlannedRun({"kind": "fresh", "tokens": U, "unique_tokens": U, "epochs": 1},
                                       _values(mode, tokens=U, unique_tokens=U, **POOL), s))
    return runs


def repetition_study(*, quick: bool = True, store: str | Path = "runs.db", device: str = "cpu",
                     workers: int | None = None, n_bootstrap: int | None = None, seed: int = 0,
                     on_start=None, on_result=None) -> dict:
    mode = _mode(quick)
    d = REPETITION[mode]
    return _run_study(repetition_plan(quick), "repetition", mode, d, store, device, workers, on_start, on_result,
                      lambda rows: analyse_repetition(rows, n_bootstrap=int(n_bootstrap or d["n_bootstrap"]), seed=seed))


def _run_study(runs: Sequence[PlannedRun], study: str, mode: str, design: dict, store, device: str,
               workers: int | None, on_start, on_result, analyse: Callable[[list[dict]], dict]) -> dict:
    """Run (or resume) a study's planned runs in ``store``, analyse the finished ones and record how it ran."""
    from validate.store import Store

    t0 = time.perf_counter()
    with Store(store) as db:
        summary = run_planned(runs, db, name=f"data-quality/{mode}/{study}", device=device, workers=workers,
                              on_start=on_start, on_result=on_result)
        rows = read_losses(runs, db)
    out = analyse(rows)
    out.update({"mode": mode, "store": str(store), "model": MODEL[mode], "lr": LR, "design": _design(design),
                "runs": {"planned": len({r.key for r in runs}), "ok": len({r["key"] for r in rows}),
                         "failed": summary.failed, "diverged": summary.diverged,
                         "ran_now": summary.ok + summary.failed + summary.diverged},
                "wall_time_s": time.perf_counter() - t0})
    return out


def _design(d: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


# =================================================================================================
# The quality study
# =================================================================================================

def quality_cells(quick: bool = True) -> list[dict]:
    """The cells of the quality study: name, the corpus knobs, and what the effective-data reading needs."""
    q = QUALITY[_mode(quick)]
    cells = []
    for f in q["documents"]:
        for filt in (False, True):
            cells.append({"name": f"documents {f:g}" + (" filtered" if filt else ""), "kind": "corrupt-documents",
                          "fraction": f, "cleaned": filt,
                          "values": {"corrupt_fraction": f, **({"corpus_knobs": "filter_corrupted=true"} if filt else {})}})
    for f in q["bytes"]:
        for filt in (False, True):
            knobs = "corrupt_mode=bytes" + (",filter_corrupted=true" if filt else "")
            cells.append({"name": f"bytes {f:g}" + (" filtered" if filt else ""), "kind": "corrupt-bytes",
                          "fraction": f, "cleaned": filt, "values": {"corrupt_fraction": f, "corpus_knobs": knobs}})
    for f in q["duplicates"]:
        for dedup in (False, True):
            cells.append({"name": f"duplicates {f:g}" + (" deduplicated" if dedup else ""), "kind": "duplicates",
                          "fraction": f, "cleaned": dedup,
                          "values": {"duplicate_fraction": f, **({"corpus_knobs": "deduplicate=true"} if dedup else {})}})
    return cells


def quality_plan(quick: bool = True) -> list[PlannedRun]:
    mode = _mode(quick)
    q = QUALITY[mode]
    runs = [PlannedRun({"kind": "clean", "tokens": D, "cell": "clean"}, _values(mode, tokens=D), s)
            for D in q["clean"] for s in q["seeds"]]
    for c in quality_cells(quick):
        runs += [PlannedRun({"kind": c["kind"], "tokens": q["tokens"], "cell": c["name"]},
                            _values(mode, tokens=q["tokens"], **c["values"]), s) for s in q["seeds"]]
    return runs


def corpus_effects(cell: dict) -> dict:
    """What the knobs did to the training text (sim/text.py's record of its effects) and the
    effective-data reading of the cell (theory/effective_data.py)."""
    from sim.text import load_corpus, parse_knobs
    from theory.effective_data import corrupted_data_multiplier

    v = cell["values"]
    knobs = parse_knobs([k for k in v.get("corpus_knobs", "").split(",") if k])
    for name in ("corrupt_fraction", "duplicate_fraction"):
        if name in v:
            knobs[name] = v[name]
    c = load_corpus("stdlib", **knobs)
    eff = c.effects
    out: dict = {"train_bytes": int(c.train.size), "effects": json.loads(json.dumps(eff, default=str))}
    if cell["kind"] == "corrupt-documents":
        raw = load_corpus("stdlib", corrupt_fraction=v["corrupt_fraction"])
        bad = raw.effects["corrupt"]["bytes"]
        phi = bad / raw.train.size
        if cell["cleaned"]:
            recall = eff["filter"]["recall"] or 0.0
            phi_kept = bad * (1.0 - recall) / c.train.size
        else:
            phi_kept = phi
        out.update({"corrupted_share": phi, "corrupted_share_kept": phi_kept,
                    "theory": 1.0 - phi_kept, "filter_multiplier": corrupted_data_multiplier(phi, phi_kept),
                    "theory_note": "effective data: the clean share of the bytes trained on"})
    elif cell["kind"] == "corrupt-bytes":
        phi = eff["corrupt"]["fraction"]
        dropped = eff.get("filter", {}).get("dropped_bytes", 0) if cell["cleaned"] else 0
        out.update({"corrupted_share": phi, "filter_dropped_bytes": dropped, "theory": 1.0 - phi,
                    "theory_note": ("effective data: 1 − φ, each changed byte worth nothing (it also corrupts the context "
                                    "of the bytes after it, which this reading ignores); the document filter cannot see "
                                    "scattered bytes")})
    else:
        out.update({"theory": 1.0,
                    "theory_note": ("effective data: no token repeats at D far below the corpus, so duplicates only "
                                    "reweight documents; deduplication changes nothing either")})
    return out


def analyse_quality(rows: Sequence[dict], cells: Sequence[dict], tokens: int, *, n_bootstrap: int = 200,
                    seed: int = 0) -> dict:
    """Each cell's effective data D_eff/D from the clean curve, with a bootstrap interval (seeds
    resampled within every cell and every clean budget, clean curve refitted)."""
    clean = [r for r in rows if r["kind"] == "clean"]
    if len({r["tokens"] for r in clean}) < 3:
        raise InputError("runs", "the clean curve needs runs at >= 3 budgets")
    fit = _power_law_fit([r["tokens"] for r in clean], [r["loss"] for r in clean])
    E, A, alpha = (fit.params[k] for k in ("E", "A", "alpha"))
    starts = _refit_starts(fit)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 5]))
    by_cell: dict = {}
    for r in rows:
        if r["kind"] != "clean":
            by_cell.setdefault(r["cell"], []).append(r)
    boot = []
    for _ in range(int(n_bootstrap)):
        cr = _stratified(clean, lambda r: (r["tokens"],), rng)
        try:
            f = _power_law_fit([r["tokens"] for r in cr], [r["loss"] for r in cr], starts=starts)
        except (ValueError, ArithmeticError):
            continue
        if not f.converged:
            continue
        means = {name: float(np.mean([x["loss"] for x in _stratified(members, lambda r: (), rng)]))
                 for name, members in by_cell.items()}
        boot.append((f.params["E"], f.params["A"], f.params["alpha"], means))
    lo_tok, hi_tok = min(r["tokens"] for r in clean), max(r["tokens"] for r in clean)
    out_cells = []
    for c in cells:
        members = by_cell.get(c["name"], [])
        entry = {"name": c["name"], "kind": c["kind"], "fraction": c["fraction"], "cleaned": c["cleaned"],
                 "runs": len(members), **corpus_effects(c)}
        if members:
            mean = float(np.mean([m["loss"] for m in members]))
            ratio = float(invert_power_law(E, A, alpha, mean)) / tokens
            samples = [float(invert_power_law(b[0], b[1], b[2], b[3][c["name"]])) / tokens for b in boot]
            ci = _pct(samples)
            entry.update({"mean_loss": mean, "effective_data_ratio": ratio, "ci95": ci,
                          "theory_inside_ci": None if ci is None else bool(ci[0] <= entry["theory"] <= ci[1]),
                          "extrapolated": bool(not (lo_tok <= ratio * tokens <= hi_tok))})
        out_cells.append(entry)
    return {"clean_fit": {"law": "power-law E + A·D^(−α) on clean runs (random windows of the whole corpus)",
                          "E": E, "A": A, "alpha": alpha, "converged": bool(fit.converged)},
            "n_bootstrap": int(n_bootstrap), "n_valid": len(boot), "tokens": tokens, "cells": out_cells}


def quality_study(*, quick: bool = True, store: str | Path = "runs.db", device: str = "cpu",
                  workers: int | None = None, n_bootstrap: int | None = None, seed: int = 0,
                  on_start=None, on_result=None) -> dict:
    mode = _mode(quick)
    q = QUALITY[mode]
    return _run_study(quality_plan(quick), "quality", mode, q, store, device, workers, on_start, on_result,
                      lambda rows: analyse_quality(rows, quality_cells(quick), q["tokens"],
                                                   n_bootstrap=int(n_bootstrap or q["n_bootstrap"]), seed=seed))


# =================================================================================================
# Plots
# =================================================================================================

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_repetition(result: dict, out_dir: str | Path) -> list[str]:
    """repetition-effective-data.png: D_eff/D against epochs (measured with 95% intervals; Muennighoff's
    R*_D = 15.4 and the fitted R*_D as lines); repetition-loss.png: loss against epochs."""
    from theory.effective_data import repetition_multiplier

    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    cells = result["cells"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    grid = np.geomspace(1, max(c["epochs"] for c in cells) * 1.5, 100)
    rs = result["R_star"]
    ax.plot(grid, repetition_multiplier(grid, rs["muennighoff"]), "-", color="k", lw=1.2,
            label=f"Muennighoff R*_D = {rs['muennighoff']:.3g}")
    ci = rs["ci95"] or [float("nan")] * 2
    ax.plot(grid, repetition_multiplier(grid, rs["estimate"]), "--", color="C3", lw=1.2,
            label=f"fitted R*_D = {rs['estimate']:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]")
    for k, D in enumerate(sorted({c["tokens"] for c in cells})):
        cs = [c for c in cells if c["tokens"] == D]
        x = np.array([c["epochs"] for c in cs], float)
        y = np.array([c["effective_data_ratio"] for c in cs])
        lo = np.array([(c["ci95"] or [v, v])[0] for c, v in zip(cs, y)])
        hi = np.array([(c["ci95"] or [v, v])[1] for c, v in zip(cs, y)])
        hi = np.where(np.isfinite(hi), hi, y)
        ax.errorbar(x * (1 + 0.03 * k), y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], fmt="o", capsize=3,
                    color=f"C{k}", label=f"measured, D = {D:.3g} tokens")
    ax.set_xscale("log")
    ax.set_xlabel("epochs R = D/U")
    ax.set_ylabel("effective data D_eff / D")
    ax.set_title("repetition: effective data of repeated tokens (toy GPT, stdlib)", fontsize=10)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = out / "repetition-effective-data.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(str(p))

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for k, D in enumerate(sorted({c["tokens"] for c in cells})):
        cs = [c for c in cells if c["tokens"] == D]
        ax.errorbar([c["epochs"] for c in cs], [c["mean_loss"] for c in cs],
                    yerr=[c["loss_sd"] or 0.0 for c in cs], fmt="o-", capsize=3, color=f"C{k}", label=f"D = {D:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("epochs R = D/U (total tokens fixed)")
    ax.set_ylabel("validation loss (nats/byte)")
    ax.set_title("repetition: loss at a fixed token budget", fontsize=10)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = out / "repetition-loss.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(str(p))
    return files


def plot_quality(result: dict, out_dir: str | Path) -> list[str]:
    """quality-effective-data.png: each cell's measured D_eff/D (95% interval) beside its effective-data reading."""
    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells = [c for c in result["cells"] if c.get("effective_data_ratio") is not None]
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    x = np.arange(len(cells))
    y = np.array([c["effective_data_ratio"] for c in cells])
    lo = np.array([(c["ci95"] or [v, v])[0] for c, v in zip(cells, y)])
    hi = np.array([(c["ci95"] or [v, v])[1] for c, v in zip(cells, y)])
    ax.errorbar(x, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], fmt="o", capsize=3, color="C3",
                label="measured D_eff/D, 95% CI")
    ax.plot(x, [c["theory"] for c in cells], "x", color="k", ms=8, label="effective-data reading")
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([c["name"] for c in cells], rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("effective data D_eff / D")
    ax.set_title(f"data quality at D = {result['tokens']:.3g} tokens (toy GPT, stdlib)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.2)
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = out / "quality-effective-data.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return [str(p)]


__all__ = [
    "PlannedRun", "analyse_quality", "analyse_repetition", "corpus_effects", "fit_r_star", "invert_power_law",
    "plot_quality", "plot_repetition", "quality_cells", "quality_plan", "quality_study", "read_losses",
    "repetition_law", "repetition_plan", "repetition_study", "run_planned",
]
