"""Catalogue entries: the toy byte-level GPT (sim/transformer, stdlib text; REFERENCES.md §1-2, §4-5, §9).

Every model is a real training run of the toy transformer. Runs go through the trainer's
many-models-at-once mode (the ``transformer-models`` simulator, validate/shortcut/transformer_models.py):
one run per configuration trains every seed of the protocol in one pass (and, for the learning-rate
trick, every rate of the grid), 1.65–1.7× the tokens per second of one model per process at these
sizes, with the same numbers bit for bit. The repetition runs are the exception (one seed per run:
each seed draws its own pool). Loss: the final validation loss in nats/byte on the
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
  R*_D = 15.4). Muennighoff et al. fitted R*_D on models trained near or beyond compute-optimal
  (tokens ≫ parameters); these entries therefore use a model small for its data (d_model 16, 7.9k
  parameters) from D = 2^17 tokens, D/N = 16.5 to 265 (quick) or 530 (full), U/N ≥ 4 at 4 epochs.
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
entry's own stored runs: the measuring step (validate/shortcut/run.py) passes each arm's finished
stored records to the theory function, which reads one row per model (`runs_rows`) and fits with the
project's fitter. The predicted multipliers of the repetition and data-quality theories do not
depend on that calibration (they are constant); it only places the dashed theory curves. The
allocation theory is a two-input law fitted to both arms jointly: a test that one Chinchilla-form law
explains both allocations, not an independent prediction, and said so in the report.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from validate.shortcut import transformer_models  # noqa: F401  (registers the "transformer-models" simulator)
from validate.shortcut.catalogue import Arm, Protocol, TrickEntry, register
from validate.shortcut.transformer_models import NAME as MODELS, model_rows

# --- the protocols' models and scales -------------------------------------------------------------
# A 22k-parameter model (d_model 32, one layer, context 32, batch 16) for every trick but repetition and
# allocation; token budgets doubling from 2^15 (quick: 5 budgets, 16x, 3 seeds; full: 6 budgets, 32x,
# 5 seeds). Repetition uses an 8k-parameter model (d_model 16) from 2^17 tokens (D/N >= 16.5, near
# Chinchilla's 20 tokens per parameter and far above it at the larger budgets; Muennighoff et al.'s
# fits are for models trained near or beyond compute-optimal, not for an oversized model on a small
# pool it can memorise). Allocation sizes d_model to each rule from d_model 16 at the smallest budget.
# Measured cost (one thread, shared 2-core machine, indicative): the d_model 32 model trains ~160k
# tokens/s alone and ~270k with 6 models per pass; d_model 16 ~255k alone, ~420k with 4 per pass.
MODEL = {"d_model": 32, "layers": 1, "heads": 2, "context": 32, "batch": 16}
REP_MODEL = {"d_model": 16, "layers": 1, "heads": 2, "context": 32, "batch": 16}
QUICK = {
    "model": MODEL,
    "tokens": tuple(2 ** k for k in range(15, 20)),
    "seeds": (0, 1, 2), "n_bootstrap": 200,
    "lr": 3e-3, "lr_grid": (1e-3, 3e-3, 1e-2, 3e-2),
    "prune": ((0.5, "highest"), (0.5, "lowest")), "probe_tokens": 65536,
    "alloc": {"layers": 1, "heads": 2, "context": 32, "batch": 16, "d_min": 16, "doublings": 4},
    "repetition": {"model": REP_MODEL, "tokens": tuple(2 ** k for k in range(17, 22))},
}
FULL = {
    "model": MODEL,
    "tokens": tuple(2 ** k for k in range(15, 21)),
    "seeds": (0, 1, 2, 3, 4), "n_bootstrap": 1000,
    "lr": 3e-3, "lr_grid": (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2),
    "prune": ((0.25, "highest"), (0.5, "highest"), (0.5, "lowest")), "probe_tokens": 131072,
    "alloc": {"layers": 1, "heads": 2, "context": 32, "batch": 16, "d_min": 16, "doublings": 5},
    "repetition": {"model": REP_MODEL, "tokens": tuple(2 ** k for k in range(17, 23))},
}
EVAL = {"eval_points": 1, "eval_tokens": 32768}  # only the final validation loss is used
DEFAULT_LR = 1e-3  # sim/transformer/config.py's default peak learning rate
EPOCHS = 4  # the repetition trick: R = 4 (the largest repetition Muennighoff call nearly free)
CORRUPT_FRACTION = 0.2  # of the documents (sim/text.py corrupt_mode="documents")
FILTER_KNOBS = "filter_corrupted=true"
POOL_KNOBS = "shuffle_documents=true"  # pools are random documents (nested as U grows), not the first files by path
# ... and a different random order for every seed (reseed_data), so the seeds' spread includes which documents a
# pool holds: with pools of a few documents that is the largest source of variation, and one fixed draw shared by
# every seed would be a systematic error that no interval shows. (Each seed then has its own corpus: these runs
# take one seed each; every other transformer arm trains all its seeds in one run, `transformer_models`.)
POOL = {"corpus_knobs": POOL_KNOBS, "reseed_data": True}
TOKENS_PER_PARAM = 20.0  # Chinchilla's split (REFERENCES.md §2)


def _steps_tokens(tokens: float, model: dict) -> int:
    """Tokens rounded to whole steps (the trainer rounds up; here to the nearest step)."""
    per_step = model["batch"] * model["context"]
    return int(max(1, round(tokens / per_step)) * per_step)


# =================================================================================================
# Stored runs to points, and to the rows the theories are calibrated on
# =================================================================================================

def _token_xy(row: dict) -> float:
    return row["tokens"]


def _compute_xy(row: dict) -> float:
    return 6.0 * row["params"] * row["tokens"]


def _points(x_of, lr: float | None = None):
    """An arm's points function: one (scale, loss, seed, {"lr"}) point per model of a stored run (the
    models at peak rate ``lr`` only, when given)."""
    def points(record):
        return [(x_of(r), r["loss"], r["seed"], {"lr": r["lr"]}) for r in model_rows(record)
                if lr is None or math.isclose(r["lr"], lr, rel_tol=1e-9)]

    return points


def runs_rows(runs: Mapping | None, arms: Sequence[str] = ("baseline", "trick")) -> list[dict]:
    """Rows {seed, lr, params, tokens, loss} of every model in the arms' stored runs, as the measuring
    step passes them to a theory (validate/shortcut/run.py)."""
    if not runs:
        raise ValueError("this theory is calibrated on the entry's stored runs, and none were passed")
    rows = [row for arm in arms for rec in runs.get(arm, ()) for row in model_rows(rec)]
    if not rows:
        raise ValueError("this theory is calibrated on the entry's stored runs, and none finished")
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
    baseline = Arm(label="Kaplan's split, N ∝ C^0.73 (through Chinchilla's split at the smallest budget)",
                   simulator=MODELS, configs=_allocation_configs(p, kaplan, budgets), nominal_scales=budgets,
                   points=_points(_compute_xy), seeds_per_run=True)
    trick = Arm(label=f"Chinchilla's split, D = {TOKENS_PER_PARAM:g} N (N ∝ C^0.5)", simulator=MODELS,
                configs=_allocation_configs(p, chinchilla, budgets), nominal_scales=budgets,
                points=_points(_compute_xy), seeds_per_run=True)
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"],
                    params={"c0": c0, "budgets": budgets, "kaplan": kaplan.describe(), "chinchilla": chinchilla.describe()})


def allocation_theory(protocol: Protocol, runs: Mapping | None = None):
    """The Chinchilla-form law fitted to both arms' runs; each rule's loss along a compute grid."""
    from theory.allocation import AllocationRule, allocation_analysis, loss_along
    from theory.laws import get_law
    from theory.optimal import compute_optimal
    from validate.fit import fit_law
    from validate.multiplier import TheoryCurves

    rows = runs_rows(runs)
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


def _rep_params() -> int:
    from sim.transformer.config import TransformerConfig
    from sim.transformer.model import parameter_counts

    m = REP_MODEL
    return int(parameter_counts(TransformerConfig(**{k: m[k] for k in ("d_model", "layers", "heads", "context")}))["params"])


def _rep_ratio(p: dict, at: int = 0) -> float:
    """Tokens per parameter of the repetition protocol at its smallest (``at`` 0) or largest (-1) budget."""
    return sorted(p["repetition"]["tokens"])[at] / _rep_params()


def _repetition_m(R: float) -> float:
    from theory.effective_data import repetition_multiplier

    return float(repetition_multiplier(R))


def repetition_setting(p: dict) -> dict:
    """The repetition protocol's own model and budgets (``p["repetition"]``), as a protocol dict."""
    r = p.get("repetition")
    return {**p, "model": r["model"], "tokens": r["tokens"]} if r else p


def _repetition(p: dict, epochs: int = EPOCHS, name: str = "transformer-repetition") -> Protocol:
    from sim.transformer.config import TransformerConfig
    from sim.transformer.model import parameter_counts

    p = repetition_setting(p)
    scales = _tokens(p)
    # one seed per run: each seed draws its own pool (reseed_data), so its corpus is its own
    baseline = Arm(label="fresh data: one epoch over a pool of D tokens", simulator="transformer",
                   configs=tuple(_base(p, tokens=t, unique_tokens=t, **POOL) for t in scales),
                   nominal_scales=scales, points=_points(_token_xy))
    trick = Arm(label=f"{epochs} epochs over a pool of D/{epochs} unique tokens", simulator="transformer",
                configs=tuple(_base(p, tokens=t, unique_tokens=t // epochs, **POOL) for t in scales),
                nominal_scales=scales, points=_points(_token_xy))
    m = p["model"]
    n = parameter_counts(TransformerConfig(**{k: m[k] for k in ("d_model", "layers", "heads", "context")}))["params"]
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"],
                    params={"epochs": epochs, "name": name, "params": n,
                            "tokens_per_param": [min(scales) / n, max(scales) / n],
                            "unique_tokens_per_param": [min(scales) / epochs / n, max(scales) / epochs / n]})


def repetition_theory(protocol: Protocol, runs: Mapping | None = None):
    from theory.effective_data import MUENNIGHOFF_R_D, effective_data, repetition_multiplier
    from validate.multiplier import TheoryCurves

    base_rows = runs_rows(runs, ("baseline",))
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


def _corrupt_filter(p: dict) -> Protocol:
    scales = _tokens(p)
    common = {"corrupt_fraction": CORRUPT_FRACTION}
    baseline = Arm(label=f"{CORRUPT_FRACTION:.0%} of documents random bytes, trained as is", simulator=MODELS,
                   configs=tuple(_base(p, tokens=t, **common) for t in scales), nominal_scales=scales,
                   points=_points(_token_xy), seeds_per_run=True)
    trick = Arm(label="the same corpus filtered (bigram cross-entropy > ln 256 dropped)", simulator=MODELS,
                configs=tuple(_base(p, tokens=t, corpus_knobs=FILTER_KNOBS, **common) for t in scales),
                nominal_scales=scales, points=_points(_token_xy), seeds_per_run=True)
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


def corrupt_filter_theory(protocol: Protocol, runs: Mapping | None = None):
    from theory.effective_data import corrupted_data_multiplier
    from validate.multiplier import TheoryCurves

    trick_rows = runs_rows(runs, ("trick",))
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
    baseline = Arm(label="every document", simulator=MODELS,
                   configs=tuple(_base(p, tokens=t, **plain) for t in scales), nominal_scales=scales,
                   points=_points(_token_xy), seeds_per_run=True)
    settings = [plain] + [{"select_by": "probe", "select_keep": keep, "select_fraction": f,
                           "probe_tokens": p["probe_tokens"]} for f, keep in p["prune"]]
    choices = ", ".join(f"{'hardest' if k == 'highest' else 'easiest'} {f:g}" for f, k in p["prune"])
    trick = Arm(label=f"the best of: every document, or the probe's {choices} of the documents",
                simulator=MODELS,
                configs=tuple(_base(p, tokens=t, **s) for t in scales for s in settings), nominal_scales=scales,
                points=_points(_token_xy), seeds_per_run=True, frontier_over=("select_keep", "select_fraction"))
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"],
                    params={"prune": p["prune"], "probe_tokens": p["probe_tokens"]})


# =================================================================================================
# Optimiser and schedule
# =================================================================================================

def _lr_tuning(p: dict) -> Protocol:
    scales = _tokens(p)
    grid = tuple(sorted(set(p["lr_grid"]) | {DEFAULT_LR}))
    # one run per budget trains every seed at every rate of the grid (seeds x rates models in one pass);
    # both arms read the same runs: the baseline its models at the default rate, the trick the best rate
    configs = tuple(_base(p, tokens=t, lr=DEFAULT_LR, lrs=grid) for t in scales)
    baseline = Arm(label=f"the trainer's default peak learning rate {DEFAULT_LR:g}", simulator=MODELS,
                   configs=configs, nominal_scales=scales, points=_points(_token_xy, lr=DEFAULT_LR), seeds_per_run=True)
    trick = Arm(label=f"the best peak learning rate of {{{', '.join(f'{v:g}' for v in grid)}}} at each scale",
                simulator=MODELS, configs=configs, nominal_scales=scales, points=_points(_token_xy),
                seeds_per_run=True, frontier_over=("lr",))
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"], params={"lr_grid": grid})


def _wsd(p: dict) -> Protocol:
    scales = _tokens(p)
    baseline = Arm(label=f"cosine schedule (5% warmup, to 0.1× peak), peak {p['lr']:g}", simulator=MODELS,
                   configs=tuple(_base(p, tokens=t) for t in scales), nominal_scales=scales,
                   points=_points(_token_xy), seeds_per_run=True)
    trick = Arm(label=f"warmup-stable-decay (5% warmup, last 20% linear to 0.1×), peak {p['lr']:g}",
                simulator=MODELS,
                configs=tuple(_base(p, tokens=t, schedule="wsd") for t in scales), nominal_scales=scales,
                points=_points(_token_xy), seeds_per_run=True)
    return Protocol(baseline, trick, seeds=p["seeds"], n_bootstrap=p["n_bootstrap"])


# =================================================================================================
# The entries
# =================================================================================================

SETTING = "toy GPT (sim/transformer) on the stdlib byte corpus, {what}; loss: validation nats/byte"


def _setting(what: str = "", model: dict = MODEL) -> str:
    q = model
    shape = f"d_model {q['d_model']}, {q['layers']} layer, {q['heads']} heads, context {q['context']}, batch {q['batch']}"
    return SETTING.format(what=shape + (", " + what if what else ""))


ENTRIES: list[TrickEntry] = [
    TrickEntry(
        name="transformer-allocation", kind="compute allocation",
        setting=SETTING.format(what="d_model sized to each rule from 16 at the smallest budget, 1 layer, context 32, "
                               "peak lr 3e-3"),
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
        setting=_setting(f"peak lr {QUICK['lr']:g}", REP_MODEL),
        description=f"train on {R} epochs of a pool of D/{R} unique tokens instead of D fresh tokens",
        scale_axis="D", scale_unit="training tokens (bytes)",
        scale_why=f"at a fixed model, compute ∝ tokens; the pool is 1/{R} of them",
        quick=_repetition(QUICK, R, name), full=_repetition(FULL, R, name),
        theory=repetition_theory,
        theory_source="theory/effective_data.py (Muennighoff et al. 2023 eq. 5; REFERENCES.md §4)",
        theory_note=(f"repeated data is worth D′ = U + U R*_D (1 − e^(−R_D/R*_D)); at {R} epochs M = D′/D = "
                     f"{_repetition_m(R):.3g}, constant in scale; the fresh-data arm is one epoch over a pool of D tokens; "
                     f"pools are whole documents in a random order drawn per seed (the D/{R} pool is part of the D pool). "
                     f"Regime: Muennighoff et al. fitted R*_D on models trained near or beyond compute-optimal; here a "
                     f"{_rep_params():,}-parameter model trains on D/N = {_rep_ratio(QUICK):.3g}–{_rep_ratio(QUICK, -1):.3g} "
                     f"(quick) or {_rep_ratio(FULL):.3g}–{_rep_ratio(FULL, -1):.3g} (full) tokens per parameter, "
                     f"the unique pool U/N = {_rep_ratio(QUICK) / R:.3g} and up"),
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
        description=("keep the hardest or easiest half (full mode also the hardest quarter) of the documents by the loss of a "
                     "probe transformer (d_model 16, 1 layer, 65k tokens quick / 131k full), the best choice (or no "
                     "pruning) at each scale"),
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
