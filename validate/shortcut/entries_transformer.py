"""Catalogue entries: the toy byte-level GPT (sim/transformer, stdlib text; REFERENCES.md §1-2, §4-5, §9).

Every run is one real training run of the transformer simulator (one seed, one model: the framework
runs one run per configuration and seed, so the trainer's many-models-at-once mode is not used here;
the quick protocol keeps runs small instead). Loss: the final validation loss in nats/byte on the
fixed clean validation windows of the stdlib corpus (the same windows for every run, whatever the
data knobs). Seven entries:

- ``transformer-allocation`` (compute allocation): Kaplan's split N ∝ C^0.73 against Chinchilla's
  D = 20 N (N ∝ C^0.5), both through the same point at the smallest budget, at equal compute.
  Scale: training FLOPs C = 6·N·D with N every parameter (Chinchilla's convention, as theory.optimal's
  C = 6ND) and D the tokens trained. Theory: theory/allocation.py under the Chinchilla-form law fitted
  (with the project's fitter) to this entry's own runs of both arms: the multiplier the law predicts
  along the two rules, its class and where it would reach 10× and 100×.
- ``transformer-repetition`` and ``transformer-repetition-16-epochs`` (repetition): R = 4 (16) epochs
  over a pool of U = D/R unique tokens against one epoch over a pool of D tokens (fresh data), D the
  tokens trained (the scale); pools are whole documents in a random order drawn from the run's seed
  (sim/text.py ``shuffle_documents``, the trainer's ``reseed_data``), nested as U grows. Theory: Muennighoff's effective data
  (theory/effective_data.py): M = D′/D, constant for fixed R (0.93 at R = 4, 0.66 at R = 16, with
  R*_D = 15.4).
- ``transformer-corrupt-filter`` (data quality): 20% of the documents replaced by random bytes,
  trained as is against filtered (sim/text.py's bigram filter). Theory: effective data, the clean
  fraction: M = (1 − φ_kept)/(1 − φ), φ the corrupted share of the training bytes (read from the
  corpus), φ_kept the share the filter leaves (theory/effective_data.py says what that assumes).
- ``transformer-lr-tuning`` and ``transformer-wsd`` (optimiser and schedule): the best learning rate
  of a small grid against the trainer's default 1e-3; warmup-stable-decay against cosine at the same
  rate. No theory: the measured multiplier stands alone.
- ``transformer-probe-pruning`` (data pruning): keep the hardest or easiest half of the documents by
  the loss of a small probe transformer (sim/transformer/probe.py), the best choice at each scale,
  against training on every document. Sorscher et al.'s theory does not transfer (see the entry).

The data tricks' scale is the tokens trained at a fixed model (their compute is 6·N·D with the same
N, so a token multiplier is a compute multiplier of the same size).

How the theories see the runs. Theory curves must be in this model's loss units (nats/byte) for the
framework to compare them at the measured target losses, so each theory here is calibrated on this
entry's own stored runs: the arms' ``points`` functions (which the framework's measuring step calls on
every stored record of the arm before it asks for the theory) hand each record to `_RUNS`; the theory
function takes the records of its protocol's configurations from there, fits with the project's
fitter, and clears them. The predicted multipliers of the repetition and data-quality theories do not
depend on that calibration (they are constant); it only places the dashed theory curves. The
allocation theory is a two-input law fitted to both arms jointly: a test that one Chinchilla-form law
explains both allocations, not an independent prediction, and said so in the report.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Callable, Sequence

import numpy as np

from validate.shortcut.catalogue import Arm, Protocol, TrickEntry, register

# --- the protocols' models and scales -------------------------------------------------------------
# Quick: a 22k-parameter model (d_model 32, one layer) that trains at ~1.5e5 tokens/s on one core;
# 5 token budgets doubling from 2^15 to 2^19 (16x), 3 seeds. Full: d_model 64, two layers, context 64,
# budgets from 2^17 to 2^22 (32x), 5 seeds (resumable; hours on 2 CPU cores).
QUICK = {
    "model": {"d_model": 32, "layers": 1, "heads": 2, "context": 32, "batch": 16},
    "tokens": (32768, 65536, 131072, 262144, 524288),
    "seeds": (0, 1, 2), "n_bootstrap": 200,
    "lr": 3e-3, "lr_grid": (1e-3, 3e-3, 1e-2, 3e-2),
    "prune": ((0.5, "highest"), (0.5, "lowest")), "probe_tokens": 65536,
    "alloc": {"layers": 1, "heads": 2, "context": 32, "batch": 16, "d_min": 16, "doublings": 4},
}
FULL = {
    "model": {"d_model": 64, "layers": 2, "heads": 4, "context": 64, "batch": 16},
    "tokens": (131072, 262144, 524288, 1048576, 2097152, 4194304),
    "seeds": (0, 1, 2, 3, 4), "n_bootstrap": 1000,
    "lr": 3e-3, "lr_grid": (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2),
    "prune": ((0.25, "highest"), (0.5, "highest"), (0.25, "lowest"), (0.5, "lowest")), "probe_tokens": 262144,
    "alloc": {"layers": 2, "heads": 2, "context": 64, "batch": 16, "d_min": 32, "doublings": 6},
}
EVAL = {"eval_points": 1, "eval_tokens": 32768}  # only the final validation loss is used
DEFAULT_LR = 1e-3  # sim/transformer/config.py's default peak learning rate
EPOCHS = 4  # the repetition trick: R = 4 (the largest repetition Muennighoff call nearly free)
CORRUPT_FRACTION = 0.2  # of the documents (sim/text.py corrupt_mode="documents")
FILTER_KNOBS = "filter_corrupted=true"
POOL_KNOBS = "shuffle_documents=true"  # pools are random documents (nested as U grows), not the first files by path
# ... and a different random order for every seed (reseed_data), so the seeds' spread includes which documents a
# pool holds: with pools of a few documents that is the largest source of variation, and one fixed draw shared by
# every seed would be a systematic error that no interval shows
POOL = {"corpus_knobs": POOL_KNOBS, "reseed_data": True}
TOKENS_PER_PARAM = 20.0  # Chinchilla's split (REFERENCES.md §2)


def _steps_tokens(tokens: float, model: dict) -> int:
    """Tokens rounded to whole steps (the trainer rounds up; here to the nearest step)."""
    per_step = model["batch"] * model["context"]
    return int(max(1, round(tokens / per_step)) * per_step)


# =================================================================================================
# Runs seen by the measuring step (for the theories' calibration)
# =================================================================================================

_RUNS: dict[str, dict[str, tuple]] = {}  # trick name -> run key -> (config id, row)


def _config_id(values: dict) -> str:
    drop = ("seed", "device")
    return json.dumps({k: v for k, v in sorted(values.items()) if k not in drop}, sort_keys=True, default=str)


def _full_config_id(values: dict) -> str:
    from sim.transformer.config import TransformerConfig

    cfg = TransformerConfig(**values)
    return _config_id({f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})


def _row(record) -> dict:
    r = record.results
    return {"params": float(r["params"]), "tokens": float(r["tokens"]), "loss": float(r["final_val_loss"]),
            "seed": int(record.seed if record.seed is not None else 0)}


def _capturing(trick: str, to_points: Callable[[dict], list]) -> Callable:
    def points(record):
        row = _row(record)
        _RUNS.setdefault(trick, {})[record.key] = (_config_id(record.config), row)
        return to_points(row)

    return points


def _token_points(row: dict) -> list:
    return [(row["tokens"], row["loss"])]


def _compute_points(row: dict) -> list:
    return [(6.0 * row["params"] * row["tokens"], row["loss"])]


def seen_runs(trick: str, configs: Sequence[dict], *, clear: bool = True) -> list[dict]:
    """Rows {params, tokens, loss, seed} of the stored runs of ``configs`` that the measuring step
    read for ``trick`` (see the module docstring)."""
    wanted = {_full_config_id(c) for c in configs}
    seen = _RUNS.get(trick, {})
    rows = [{**row, "config_id": cid} for cid, row in seen.values() if cid in wanted]
    if clear:
        _RUNS.pop(trick, None)
    if not rows:
        raise ValueError("this theory is calibrated on the entry's stored runs, and none were read")
    return rows


def _fit_one_input(rows: list[dict], x: str):
    from validate.fit import fit_law

    X = np.array([r[x] for r in rows])
    y = np.array([r["loss"] for r in rows])
    return fit_law("power-law", {"x": X}, y)


def _theory_grid(scales: Sequence[float], lo: float = 0.25, hi: float = 4.0, extra: Sequence[float] = ()) -> np.ndarray:
    s = np.asarray(scales, dtype=float)
    return np.unique(np.concatenate([np.geomspace(s.min() * lo, s.max() * hi, 81), s, np.asarray(extra, float)]))


# =================================================================================================
# Compute allocation: Kaplan's split against Chinchilla's
# =================================================================================================

def _d_model_for(params: float, layers: int, heads: int, context: int) -> tuple[int, int]:
    """The d_model (a multiple of heads, >= 8) whose parameter count is nearest ``params`` in log."""
    from sim.transformer.config import TransformerConfig
    from sim.transformer.model import parameter_counts

    best = None
    for d in range(max(8, heads), 1025, heads):
        n = parameter_counts(TransformerConfig(d_model=d, layers=layers, heads=heads, context=context))["params"]
        err = abs(math.log(n / params))
        if best is None or err < best[2]:
            best = (d, n, err)
        if n > 2 * params:
            break
    return best[0], best[1]


def allocation_rules(p: dict):
    """(C0, the nominal budgets, Kaplan's rule, Chinchilla's rule) of a protocol: both rules pass
    through Chinchilla's split at the smallest model (d_min) and its budget C0 = 6 N0 (20 N0)."""
    from sim.transformer.config import TransformerConfig
    from sim.transformer.model import parameter_counts
    from theory.allocation import AllocationRule

    a = p["alloc"]
    n0 = parameter_counts(TransformerConfig(d_model=a["d_min"], layers=a["layers"], heads=a["heads"],
                                            context=a["context"]))["params"]
    c0 = 6.0 * n0 * TOKENS_PER_PARAM * n0
    budgets = tuple(c0 * 2.0 ** k for k in range(a["doublings"] + 1))
    chinchilla = AllocationRule.power(f"Chinchilla D = {TOKENS_PER_PARAM:g} N", 0.5, c0, n0)
    kaplan = AllocationRule.kaplan(c0, n0)
    return c0, budgets, kaplan, chinchilla


def _allocation_configs(p: dict, rule, budgets) -> tuple:
    a = p["alloc"]
    model = {k: a[k] for k in ("layers", "heads", "context", "batch")}
    out = []
    for C in budgets:
        d, n = _d_model_for(float(rule.params(C)), a["layers"], a["heads"], a["context"])
        out.append({**model, "d_model": d, "tokens": _steps_tokens(C / (6.0 * n), model), "lr": p["lr"], **EVAL})
    return tuple(out)


def _allocation(p: dict) -> Protocol:
    c0, budgets, kaplan, chinchilla = allocation_rules(p)
    name = "transformer-allocation"
    baseline = Arm(label="Kaplan's split, N ∝ C^0.73 (through Chinchilla's split at the smallest budget)",
                   simulator="transformer", configs=_allocation_configs(p, kaplan, budgets), nominal_scales=budgets,
                   points=_capturing(name, _compute_points))
    trick = Arm(label=f"Chinchilla's split, D = {TOKENS_PER_PARAM:g} N (N ∝ C^0.5)", simulator="transformer",
                configs=_allocation_configs(p, chinchilla, budgets), nominal_scales=budgets,
                points=_capturing(name, _compute_points))
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"],
                    params={"c0": c0, "budgets": budgets, "kaplan": kaplan.describe(), "chinchilla": chinchilla.describe()})


def allocation_theory(protocol: Protocol):
    """The Chinchilla-form law fitted to both arms' runs; each rule's loss along a compute grid."""
    from theory.allocation import AllocationRule, allocation_analysis, loss_along
    from theory.laws import get_law
    from theory.optimal import compute_optimal
    from validate.fit import fit_law
    from validate.multiplier import TheoryCurves

    rows = seen_runs("transformer-allocation", protocol.baseline.configs + protocol.trick.configs)
    if len({(r["params"], r["tokens"]) for r in rows}) < 6:
        raise ValueError("the allocation law needs runs at >= 6 distinct (N, D) to fit 5 parameters")
    law = get_law("chinchilla")
    fit = fit_law(law, {"N": [r["params"] for r in rows], "D": [r["tokens"] for r in rows]}, [r["loss"] for r in rows])
    params = fit.params
    q = protocol.params
    kaplan = AllocationRule(**q["kaplan"])
    chinchilla = AllocationRule(**q["chinchilla"])
    budgets = np.asarray(q["budgets"], float)
    # the grid runs far beyond the runs (to 1e7 x the largest budget) so that the class and the 10x
    # and 100x crossings of the fitted law can be read; the frontier plot shows only the runs' range
    grid = _theory_grid(budgets, 0.25, 1e7)
    base = loss_along(law, params, kaplan, grid)
    trick = loss_along(law, params, chinchilla, grid)
    opt = compute_optimal(law, params, float(budgets[len(budgets) // 2]))
    wide = allocation_analysis(law, params, kaplan, chinchilla, (budgets[0], budgets[-1]))
    fitted = ", ".join(f"{k} = {v:.4g}" for k, v in params.items())
    return TheoryCurves(
        grid, base, trick,
        source=(f"theory/allocation.py under the Chinchilla-form law fitted to this entry's {len(rows)} runs "
                f"(validate.fit, summed Huber): {fitted}; its optimum at C = {budgets[len(budgets) // 2]:.3g} FLOPs "
                f"has N_opt ∝ C^{opt.a:.3g}, {opt.tokens_per_param:.3g} tokens/parameter; over 1e10–1e40 FLOPs "
                f"Chinchilla's rule against Kaplan's is {wide['multiplier_class']} (10× at "
                f"{_fmt_or_dash(wide['crosses_10x_at'])}, 100× at {_fmt_or_dash(wide['crosses_100x_at'])} FLOPs spent "
                f"on Chinchilla's rule; the grid below reads M at the baseline's compute)"),
        note="fitted to both arms' runs: a consistency test of one two-input law, not an independent prediction",
    )


def _fmt_or_dash(x) -> str:
    return "–" if x is None else f"{x:.3g}"


# =================================================================================================
# Data tricks at a fixed model: repetition, corrupted documents, pruning by a probe
# =================================================================================================

def _base(p: dict, **over) -> dict:
    return {**p["model"], "lr": p["lr"], **EVAL, **over}


def _tokens(p: dict) -> tuple:
    return tuple(_steps_tokens(t, p["model"]) for t in p["tokens"])


def _repetition_m(R: float) -> float:
    from theory.effective_data import repetition_multiplier

    return float(repetition_multiplier(R))


def _repetition(p: dict, epochs: int = EPOCHS, name: str = "transformer-repetition") -> Protocol:
    scales = _tokens(p)
    baseline = Arm(label="fresh data: one epoch over a pool of D tokens", simulator="transformer",
                   configs=tuple(_base(p, tokens=t, unique_tokens=t, **POOL) for t in scales),
                   nominal_scales=scales,
                   points=_capturing(name, _token_points))
    trick = Arm(label=f"{epochs} epochs over a pool of D/{epochs} unique tokens", simulator="transformer",
                configs=tuple(_base(p, tokens=t, unique_tokens=t // epochs, **POOL) for t in scales),
                nominal_scales=scales,
                points=_capturing(name, _token_points))
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"], params={"epochs": epochs, "name": name})


def repetition_theory(protocol: Protocol):
    from theory.effective_data import MUENNIGHOFF_R_D, effective_data, repetition_multiplier
    from validate.multiplier import TheoryCurves

    rows = seen_runs(protocol.params["name"], protocol.baseline.configs + protocol.trick.configs)
    base_rows = _rows_of(rows, protocol.baseline.configs)
    if not base_rows:
        raise ValueError("no runs of the fresh-data arm were read")
    fit = _fit_one_input(base_rows, "tokens")
    E, A, alpha = fit.params["E"], fit.params["A"], fit.params["alpha"]
    R = float(protocol.params["epochs"])
    grid = _theory_grid(protocol.baseline.nominal_scales)
    base = E + A * grid ** (-alpha)
    trick = E + A * effective_data(grid, grid / R, MUENNIGHOFF_R_D) ** (-alpha)
    m = float(repetition_multiplier(R))
    return TheoryCurves(
        grid, base, trick,
        source=(f"Muennighoff et al. 2023 eq. 5 (theory/effective_data.py), R*_D = {MUENNIGHOFF_R_D:g}: "
                f"{R:g} epochs give D′/D = {m:.4f} at every scale; curves placed on the power law fitted to "
                f"the fresh-data arm (E = {E:.4g}, A = {A:.4g}, α = {alpha:.4g})"),
    )


def _rows_of(rows: list[dict], configs: Sequence[dict]) -> list[dict]:
    """The rows (from `seen_runs`) of the runs of ``configs``."""
    wanted = {_full_config_id(c) for c in configs}
    return [r for r in rows if r.get("config_id") in wanted]


def _corrupt_filter(p: dict) -> Protocol:
    name = "transformer-corrupt-filter"
    scales = _tokens(p)
    common = {"corrupt_fraction": CORRUPT_FRACTION}
    baseline = Arm(label=f"{CORRUPT_FRACTION:.0%} of documents random bytes, trained as is", simulator="transformer",
                   configs=tuple(_base(p, tokens=t, **common) for t in scales), nominal_scales=scales,
                   points=_capturing(name, _token_points))
    trick = Arm(label="the same corpus filtered (bigram cross-entropy > ln 256 dropped)", simulator="transformer",
                configs=tuple(_base(p, tokens=t, corpus_knobs=FILTER_KNOBS, **common) for t in scales),
                nominal_scales=scales, points=_capturing(name, _token_points))
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"],
                    params={"corrupt_fraction": CORRUPT_FRACTION})


def corrupted_shares(corrupt_fraction: float) -> dict:
    """The corrupted share of the training bytes before and after sim/text.py's filter, read from the
    corpus itself (its knobs' effects)."""
    from sim.text import load_corpus

    raw = load_corpus("stdlib", corrupt_fraction=corrupt_fraction)
    filt = load_corpus("stdlib", corrupt_fraction=corrupt_fraction, filter_corrupted=True)
    bad = raw.effects["corrupt"]["bytes"]
    f = filt.effects["filter"]
    recall = f["recall"] if f["recall"] is not None else 0.0
    kept_bad = bad * (1.0 - recall)
    return {"phi": bad / raw.train.size, "phi_kept": kept_bad / filt.train.size, "precision": f["precision"],
            "recall": f["recall"], "train_bytes": int(raw.train.size), "kept_bytes": int(filt.train.size)}


def corrupt_filter_theory(protocol: Protocol):
    from theory.effective_data import corrupted_data_multiplier
    from validate.multiplier import TheoryCurves

    rows = seen_runs("transformer-corrupt-filter", protocol.baseline.configs + protocol.trick.configs)
    trick_rows = _rows_of(rows, protocol.trick.configs)
    if not trick_rows:
        raise ValueError("no runs of the filtered arm were read")
    s = corrupted_shares(protocol.params["corrupt_fraction"])
    m = corrupted_data_multiplier(s["phi"], s["phi_kept"])
    fit = _fit_one_input(trick_rows, "tokens")
    E, A, alpha = fit.params["E"], fit.params["A"], fit.params["alpha"]
    grid = _theory_grid(protocol.baseline.nominal_scales)
    trick = E + A * grid ** (-alpha)
    base = E + A * (grid / m) ** (-alpha)
    return TheoryCurves(
        grid, base, trick,
        source=(f"effective data (theory/effective_data.py): φ = {s['phi']:.4f} of the training bytes corrupted, "
                f"φ_kept = {s['phi_kept']:.4f} after the filter (precision {s['precision']}, recall {s['recall']}), "
                f"M = (1 − φ_kept)/(1 − φ) = {m:.4f} at every scale; curves placed on the power law fitted to the "
                f"filtered arm (E = {E:.4g}, A = {A:.4g}, α = {alpha:.4g})"),
        note=("assumes a corrupted token costs its share of the budget and nothing more (no gradient noise, no "
              "capacity spent on noise) and that the filter leaves the clean text's distribution unchanged"),
    )


def _pruning(p: dict) -> Protocol:
    scales = _tokens(p)
    plain = {"select_by": "", "select_keep": "highest", "select_fraction": 1.0}
    baseline = Arm(label="every document", simulator="transformer",
                   configs=tuple(_base(p, tokens=t, **plain) for t in scales), nominal_scales=scales,
                   scale="results.tokens", loss="results.final_val_loss")
    settings = [plain] + [{"select_by": "probe", "select_keep": keep, "select_fraction": f,
                           "probe_tokens": p["probe_tokens"]} for f, keep in p["prune"]]
    choices = ", ".join(f"{'hardest' if k == 'highest' else 'easiest'} {f:g}" for f, k in p["prune"])
    trick = Arm(label=f"the best of: every document, or the probe's {choices} of the documents",
                simulator="transformer",
                configs=tuple(_base(p, tokens=t, **s) for t in scales for s in settings), nominal_scales=scales,
                scale="results.tokens", loss="results.final_val_loss", frontier_over=("select_keep", "select_fraction"))
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"],
                    params={"prune": p["prune"], "probe_tokens": p["probe_tokens"]})


# =================================================================================================
# Optimiser and schedule
# =================================================================================================

def _lr_tuning(p: dict) -> Protocol:
    scales = _tokens(p)
    baseline = Arm(label=f"the trainer's default peak learning rate {DEFAULT_LR:g}", simulator="transformer",
                   configs=tuple(_base(p, tokens=t, lr=DEFAULT_LR) for t in scales), nominal_scales=scales,
                   scale="results.tokens", loss="results.final_val_loss")
    grid = tuple(sorted(set(p["lr_grid"]) | {DEFAULT_LR}))
    trick = Arm(label=f"the best peak learning rate of {{{', '.join(f'{v:g}' for v in grid)}}} at each scale",
                simulator="transformer",
                configs=tuple(_base(p, tokens=t, lr=v) for t in scales for v in grid), nominal_scales=scales,
                scale="results.tokens", loss="results.final_val_loss", frontier_over=("lr",))
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"], params={"lr_grid": grid})


def _wsd(p: dict) -> Protocol:
    scales = _tokens(p)
    baseline = Arm(label=f"cosine schedule (5% warmup, to 0.1× peak), peak {p['lr']:g}", simulator="transformer",
                   configs=tuple(_base(p, tokens=t) for t in scales), nominal_scales=scales,
                   scale="results.tokens", loss="results.final_val_loss")
    trick = Arm(label=f"warmup-stable-decay (5% warmup, last 20% linear to 0.1×), peak {p['lr']:g}",
                simulator="transformer",
                configs=tuple(_base(p, tokens=t, schedule="wsd") for t in scales), nominal_scales=scales,
                scale="results.tokens", loss="results.final_val_loss")
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"])


# =================================================================================================
# The entries
# =================================================================================================

SETTING = "toy GPT (sim/transformer) on the stdlib byte corpus, {what}; loss: validation nats/byte"


def _setting(what: str = "") -> str:
    q, f = QUICK["model"], FULL["model"]
    shape = (f"d_model {q['d_model']}, {q['layers']} layer, context {q['context']} (quick) / d_model {f['d_model']}, "
             f"{f['layers']} layers, context {f['context']} (full), batch {q['batch']}")
    return SETTING.format(what=shape + (", " + what if what else ""))


ENTRIES: list[TrickEntry] = [
    TrickEntry(
        name="transformer-allocation", kind="compute allocation",
        setting=SETTING.format(what="d_model sized to each rule (1 layer quick, 2 full), peak lr 3e-3"),
        description=("spend each compute budget as Chinchilla does (D = 20 N) instead of as Kaplan does "
                     "(N ∝ C^0.73); both rules meet at the smallest budget"),
        scale_axis="C", scale_unit="training FLOPs, 6·N·D (N: every parameter)",
        scale_why="the budget both arms spend; the rules differ only in how they split it",
        quick=_allocation(QUICK), full=_allocation(FULL),
        theory=allocation_theory,
        theory_source="theory/allocation.py + theory/optimal.py under the Chinchilla-form law fitted to the runs",
        theory_note=("under a Chinchilla-form law a rule whose exponent differs from the optimum's is off by k ∝ "
                     "C^(a_A − a_opt) and costs M = h(k)^(1/γ) (theory/allocation.py): it grows without bound"),
    ),
    *[TrickEntry(
        name=name, kind="repetition",
        setting=_setting(f"peak lr {QUICK['lr']:g}"),
        description=f"train on {R} epochs of a pool of D/{R} unique tokens instead of D fresh tokens",
        scale_axis="D", scale_unit="training tokens (bytes)",
        scale_why=f"at a fixed model, compute ∝ tokens; the pool is 1/{R} of them",
        quick=_repetition(QUICK, R, name), full=_repetition(FULL, R, name),
        theory=repetition_theory,
        theory_source="theory/effective_data.py (Muennighoff et al. 2023 eq. 5; REFERENCES.md §4)",
        theory_note=(f"repeated data is worth D′ = U + U R*_D (1 − e^(−R_D/R*_D)); at {R} epochs M = D′/D = "
                     f"{_repetition_m(R):.3g}, constant in scale; the fresh-data arm is one epoch over a pool of D tokens; "
                     f"pools are whole documents in a random order drawn per seed (the D/{R} pool is part of the D pool)"),
        group="transformer-repetition",
    ) for name, R in (("transformer-repetition", EPOCHS), ("transformer-repetition-16-epochs", 16))],
    TrickEntry(
        name="transformer-corrupt-filter", kind="data quality",
        setting=_setting(f"peak lr {QUICK['lr']:g}, {CORRUPT_FRACTION:.0%} of the documents replaced by random bytes"),
        description="filter the corrupted documents out (bigram cross-entropy above ln 256 nats/byte) before training",
        scale_axis="D", scale_unit="training tokens (bytes)",
        scale_why="at a fixed model, compute ∝ tokens; the corpus is far larger than any run, so filtering costs no data",
        quick=_corrupt_filter(QUICK), full=_corrupt_filter(FULL),
        theory=corrupt_filter_theory,
        theory_source="theory/effective_data.py: effective data = the clean fraction",
        theory_note=("assumes corrupted tokens are only wasted budget (no harm to learning the clean text) and that "
                     "the filter does not change the clean text's distribution"),
    ),
    TrickEntry(
        name="transformer-lr-tuning", kind="optimiser",
        setting=_setting("cosine schedule"),
        description="the best peak learning rate of a small grid at each scale instead of the trainer's default 1e-3",
        scale_axis="D", scale_unit="training tokens (bytes)",
        scale_why="at a fixed model, compute ∝ tokens",
        quick=_lr_tuning(QUICK), full=_lr_tuning(FULL),
        theory=None,
        theory_source="none: no theory here predicts the learning-rate multiplier; the measured one stands alone",
    ),
    TrickEntry(
        name="transformer-wsd", kind="optimiser",
        setting=_setting(f"peak lr {QUICK['lr']:g}"),
        description="warmup-stable-decay learning-rate schedule instead of cosine, same peak rate",
        scale_axis="D", scale_unit="training tokens (bytes)",
        scale_why="at a fixed model, compute ∝ tokens",
        quick=_wsd(QUICK), full=_wsd(FULL),
        theory=None,
        theory_source="none: no theory here predicts a schedule's multiplier; the measured one stands alone",
        group="transformer-fresh-data",
    ),
    TrickEntry(
        name="transformer-probe-pruning", kind="data pruning",
        setting=_setting(f"peak lr {QUICK['lr']:g}"),
        description=("keep the hardest or easiest half of the documents by the loss of a probe transformer "
                     "(d_model 16, 1 layer, 65k tokens), the better choice (or no pruning) at each scale"),
        scale_axis="D", scale_unit="training tokens (bytes)",
        scale_why="the tokens trained on; the corpus is far larger than any run, so no token repeats in either arm",
        quick=_pruning(QUICK), full=_pruning(FULL),
        theory=None,
        theory_source=("none (empirical only). Sorscher et al.'s replica theory (theory/pruning.py) is for a linear "
                       "teacher–student trained to convergence on a pool that limits it; here the runs are single-pass "
                       "and compute-limited (every kept document is fresh), so pruning only reweights the training "
                       "distribution against a fixed validation distribution. What transfers is qualitative: with "
                       "abundant data keep hard examples, with scarce data easy ones, and an imperfect probe caps the gain"),
        group="transformer-fresh-data",
    ),
]

for _e in ENTRIES:
    register(_e)
