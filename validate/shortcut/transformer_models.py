"""The ``transformer-models`` simulator: several models of one shape trained in one run, through the
trainer's many-models-at-once mode (sim/transformer/train.py ``train(cfg, seeds=..., lrs=...)``: a
leading model axis, M models per pass).

The shortcut report's transformer entries use it so that the seeds of a configuration (and, for the
learning-rate trick, a grid of peak learning rates) share one pass instead of one process each: on
this project's 2-core machine (one thread, shared machine, so indicative only) a d_model 16 model
trained 1.65× more tokens per second with 4 models per pass than alone, a d_model 32 one 1.7× with 6.
Each model's numbers are the same bit for bit as when it trains alone (train.py's reproducibility
contract), so nothing but the grouping changes.

A run's configuration is a `TransformerConfig` plus ``seeds`` and ``lrs``: the run trains one model per
(seed, lr) pair of the product seeds × lrs (seed-major); ``seeds`` () means just ``seed``, ``lrs`` ()
just ``lr``. Its result holds one record per model under ``"models"`` (each with its seed, lr,
parameters, tokens and final validation loss); it is ``diverged`` only when every model diverged
(a model that diverged alone has ``diverged`` set in its own record). Data knobs whose random choices
follow the run's seed (``reseed_data``) give each seed its own corpus, which one pass cannot share:
such a configuration takes one seed per run.

This module registers the simulator with sim/registry.py when imported (the entries module imports it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sim.errors import InputError
from sim.registry import SIMULATORS, SimulatorSpec, register
from sim.transformer.config import TransformerConfig

NAME = "transformer-models"


@dataclass(frozen=True)
class TransformerModelsConfig(TransformerConfig):
    seeds: tuple[int, ...] = ()  # the models' seeds; () = (seed,)
    lrs: tuple[float, ...] = ()  # peak learning rates; () = (lr,); one model per (seed, lr) pair

    def model_seeds(self) -> tuple[int, ...]:
        return tuple(self.seeds) if self.seeds else (self.seed,)

    def model_lrs(self) -> tuple[float, ...]:
        return tuple(self.lrs) if self.lrs else (self.lr,)

    def base(self) -> TransformerConfig:
        """The one-model configuration (its ``seed`` the first model's)."""
        names = [f.name for f in dataclasses.fields(TransformerConfig)]
        values = {n: getattr(self, n) for n in names}
        values["seed"] = self.model_seeds()[0]
        return TransformerConfig(**values)

    def validate(self) -> "TransformerModelsConfig":
        super().validate()
        seeds, lrs = self.model_seeds(), self.model_lrs()
        for s in seeds:
            if not isinstance(s, int) or isinstance(s, bool):
                raise InputError("seeds", f"must be whole numbers, got {s!r}")
        if len(set(seeds)) != len(seeds):
            raise InputError("seeds", f"must be distinct, got {list(seeds)}")
        for v in lrs:
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0):
                raise InputError("lrs", f"must be positive numbers, got {v!r}")
        if len(set(lrs)) != len(lrs):
            raise InputError("lrs", f"must be distinct, got {list(lrs)}")
        if self.reseed_data and len(seeds) > 1:
            raise InputError("seeds", "reseed_data gives every seed its own corpus, which one pass cannot share: "
                                      "one seed per run")
        return self


def run(config: TransformerModelsConfig) -> dict:
    """Train every (seed, lr) model of ``config`` in one call of the trainer; plain JSON-safe data."""
    from sim.transformer.train import train

    config.validate()
    pairs = [(s, lr) for s in config.model_seeds() for lr in config.model_lrs()]
    result = train(config.base(), seeds=[s for s, _ in pairs], lrs=[lr for _, lr in pairs])
    models = [r.to_dict() for r in result.runs]
    return {
        "models": models, "n_models": len(models), "corpus": result.corpus, "device": result.device,
        "code_version": result.code_version, "wall_time_s": result.wall_time_s, "train_time_s": result.train_time_s,
        "tokens_per_second_total": result.tokens_per_second_total,
        "diverged": all(m["diverged"] for m in models),
    }


SIMULATOR = SimulatorSpec(
    name=NAME, config_type=TransformerModelsConfig, run=run,
    description="several GPT-style models of one shape (seeds × peak learning rates) trained in one pass",
)

if NAME not in SIMULATORS:
    register(NAME, "validate.shortcut.transformer_models:SIMULATOR")


def model_rows(record) -> list[dict]:
    """One row {seed, lr, params, tokens, loss} per model of a stored run that finished (a
    ``transformer-models`` run gives one per model, a ``transformer`` run one); diverged models left out."""
    r = record.results or {}
    models = r.get("models")
    if models is None:
        models = [{**r, "seed": record.seed if record.seed is not None else r.get("seed", 0)}]
    rows = []
    for m in models:
        loss = m.get("final_val_loss")
        if m.get("diverged") or loss is None:
            continue
        rows.append({"seed": int(m["seed"]), "lr": float(m["lr"]), "params": float(m["params"]),
                     "tokens": float(m["tokens"]), "loss": float(loss)})
    return rows


__all__ = ["NAME", "SIMULATOR", "TransformerModelsConfig", "model_rows", "run"]
