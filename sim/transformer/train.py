"""Training: configuration in, loss curves and accounting out (nanoGPT's train.py, top-down).

Sections: data, evaluation, the loop, accounting. One call trains M models of one shape in one pass
(seeds and learning rates given per model); the result holds one record per model.

Reproducibility: model m's initial weights and batch order come from numpy Generators seeded with
its seed alone, every kernel reduces in a fixed order, so the same seed gives the same loss curve on
CPU bit for bit, whether the model trains alone or beside others (a test checks both).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from sim.backend import Backend, get_backend
from sim.provenance import code_version
from sim.transformer.config import TransformerConfig
from sim.transformer.model import Model, activation_bytes, flops_per_token, parameter_counts
from sim.transformer.optim import AdamW, schedule_for

LN2 = math.log(2.0)
CORPUS_SEED = 0  # the data (and its knobs' random choices) are fixed; the run seed moves init and batch order


# ---------------------------------------------------------------------------------------------- data
def corpus_knobs(cfg: TransformerConfig) -> dict:
    """The data-pipeline knobs of sim/text.py that this configuration turns on."""
    knobs: dict = cfg.parsed_corpus_knobs()
    if cfg.unique_tokens:
        knobs["unique_tokens"] = int(cfg.unique_tokens)
    if cfg.corrupt_fraction:
        knobs["corrupt_fraction"] = float(cfg.corrupt_fraction)
    if cfg.duplicate_fraction:
        knobs["duplicate_fraction"] = float(cfg.duplicate_fraction)
    if cfg.reseed_data:  # the knobs' random choices follow the run's seed
        knobs["seed"] = int(cfg.seed)
    return knobs


@functools.lru_cache(maxsize=4)
def _load_corpus_cached(spec: str, knob_items: tuple):
    from sim.text import load_corpus

    knobs = dict(knob_items)
    seed = knobs.pop("seed", CORPUS_SEED)  # the data's own seed, a knob like the others
    return load_corpus(spec, seed=seed, **knobs)


def load_training_corpus(cfg: TransformerConfig):
    corpus = _load_corpus_cached(cfg.corpus, tuple(sorted(corpus_knobs(cfg).items())))
    if cfg.select_by:  # keep a fraction of the documents by a score (data pruning)
        from sim.transformer.probe import selected_corpus

        corpus = selected_corpus(corpus, cfg)
    return corpus


# ---------------------------------------------------------------------------------------- results
@dataclass
class RunRecord:
    """One model's run: identity, accounting and curves."""

    seed: int
    lr: float
    params: int
    params_nonembedding: int
    flops_per_token: float
    tokens: int = 0  # training tokens seen (bytes)
    steps: int = 0
    diverged: bool = False
    diverged_step: int | None = None
    train_losses: list = field(default_factory=list)  # per step, nats/byte
    loss_curve: list = field(default_factory=list)  # [{step, tokens, lr, train_loss, val_loss}]
    final_val_loss: float | None = None  # nats/byte
    tokens_per_second: float = 0.0  # this model's training tokens / training wall time

    @property
    def compute(self) -> float:
        """Training FLOPs: flops_per_token x tokens (C ~ 6ND plus attention)."""
        return self.flops_per_token * self.tokens

    @property
    def final_val_bits_per_byte(self) -> float | None:
        return None if self.final_val_loss is None else self.final_val_loss / LN2

    def to_dict(self, with_train_losses: bool = False) -> dict:
        out = {
            "seed": self.seed, "lr": self.lr, "params": self.params,
            "params_nonembedding": self.params_nonembedding, "flops_per_token": self.flops_per_token,
            "tokens": self.tokens, "compute": self.compute, "steps": self.steps,
            "final_val_loss": self.final_val_loss, "final_val_bits_per_byte": self.final_val_bits_per_byte,
            "loss_curve": self.loss_curve, "tokens_per_second": self.tokens_per_second,
            "diverged": self.diverged, "diverged_step": self.diverged_step,
        }
        if with_train_losses:
            out["train_losses"] = list(self.train_losses)
        return out


@dataclass
class TrainResult:
    config: TransformerConfig
    runs: list[RunRecord]
    corpus: dict  # name, content_hash, entropy_rate_nats and the description
    device: str
    wall_time_s: float  # everything, evaluation included
    train_time_s: float  # forward, backward and update only
    tokens_per_second_total: float  # all models' training tokens / train_time_s
    code_version: str = ""

    def to_dict(self, with_train_losses: bool = False) -> dict:
        return {
            "runs": [r.to_dict(with_train_losses) for r in self.runs],
            "corpus": self.corpus, "device": self.device, "code_version": self.code_version,
            "wall_time_s": self.wall_time_s, "train_time_s": self.train_time_s,
            "tokens_per_second_total": self.tokens_per_second_total,
        }


# -------------------------------------------------------------------------------- models per pass
CACHE_BYTES = 24 << 20  # activations of one pass kept within most of a 32 MB L3 (PERF_NOTES machine)
SMALL_MODEL_BYTES = 64 << 20  # up to this many activation bytes a model, passes of 2 x threads models


def models_per_pass(cfg: TransformerConfig, n_models: int, backend: Backend) -> int:
    """How many of the models share one pass (the model axis M of one `Model`).

    ``cfg.models_per_pass`` when set; else on the GPU all of them; else as many as keep the pass's
    activations within CACHE_BYTES (at least one), and with several CPU threads at least 2 x threads
    for models of at most SMALL_MODEL_BYTES of activations. Measured on 2 CPU cores, one thread (shared
    machine): config (a) has 30 MB of activations per model and trained 17% slower per token at
    M = 16 than at M = 1, while d_model 32, context 32, batch 16 (4 MB) trained 25% faster at M = 4.
    Results do not depend on the grouping: each model's numbers are the same bit for bit.
    """
    if cfg.models_per_pass:
        return max(1, min(n_models, cfg.models_per_pass))
    if backend.is_gpu:
        return n_models
    per_model = activation_bytes(cfg)
    group = max(1, min(n_models, CACHE_BYTES // max(1, per_model)))
    if per_model <= SMALL_MODEL_BYTES:
        # Several threads: a pass of 2 x threads models beat one model a pass even past the cache.
        # Measured on 2 cores, 2 threads, 16 models of config (a) (30 MB each), alternating runs:
        # 137-142k tokens/s at 4 models a pass against 128-131k at 1 (one thread: the cache rule).
        from sim.transformer.model import _cpu_threads, cpu_kernels

        cpu_kernels()  # Numba's threading layer is chosen there, before _cpu_threads launches it
        threads = _cpu_threads()
        if threads > 1:
            group = max(group, min(n_models, 2 * threads))
    return group


def model_passes(cfg: TransformerConfig, seeds: Sequence[int], lrs: Sequence[float], backend: Backend,
                 kernels=None) -> list:
    """The models, in passes of `models_per_pass` that share one set of buffers (the model axis M of
    one `Model`), each initialised and with its optimiser: ``[(g, model, opt)]``, g the pass's slice of
    the models. Slices, not index lists: a step's x[g], losses[g] are then views, not copies."""
    seeds, lrs = list(seeds), list(lrs)
    n = len(seeds)
    G = models_per_pass(cfg, n, backend)
    passes = []
    for g in (slice(i, min(n, i + G)) for i in range(0, n, G)):
        model = Model(cfg, n_models=len(seeds[g]), backend=backend, kernels=kernels)
        model.init_parameters(seeds[g])
        opt = AdamW(model, lrs[g], beta1=cfg.beta1, beta2=cfg.beta2, eps=cfg.adam_eps,
                    weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)
        passes.append((g, model, opt))
    return passes


# ---------------------------------------------------------------------------------------- evaluation
def validation_batches(cfg: TransformerConfig, val_tokens: np.ndarray, batch: int) -> list:
    """Fixed validation windows (no randomness, the same for every run on this text):
    about eval_tokens tokens in whole batches."""
    from sim.text import val_batches

    max_batches = max(1, round(cfg.eval_tokens / (batch * cfg.context)))
    return val_batches(val_tokens, cfg.context, batch, max_batches, dtype=np.int32)


def evaluate(model: Model, batches: list) -> np.ndarray:
    """Mean validation loss of each model (host (M,), nats/byte) over the fixed batches."""
    total = np.zeros(model.M)
    for x, y in batches:
        model.set_batch(np.broadcast_to(x, (model.M,) + x.shape), np.broadcast_to(y, (model.M,) + y.shape))
        total += model.backend.to_host(model.forward(backward=False)).astype(np.float64)
    return total / len(batches)


def eval_steps(total_steps: int, points: int) -> set[int]:
    """The steps (1-based: after that many updates) at which validation runs; the last is always one."""
    pts = np.unique(np.round(np.linspace(0, total_steps, min(points, total_steps) + 1)[1:]).astype(int))
    return set(int(s) for s in pts)


# -------------------------------------------------------------------------------------------- loop
def train(cfg: TransformerConfig, *, seeds: Sequence[int] | None = None, lrs: Sequence[float] | None = None,
          corpus=None, backend: Backend | None = None, kernels=None,
          progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train len(seeds) models of the shape in ``cfg`` in one pass, model m with seeds[m] and lrs[m]
    (defaults: cfg.seed and cfg.lr). ``corpus``: a sim.text Corpus (default: load cfg.corpus with its
    knobs). ``progress(step, total)`` is called after each step."""
    cfg.validate()
    seeds = [cfg.seed] if seeds is None else [int(s) for s in seeds]
    lrs = [cfg.lr] * len(seeds) if lrs is None else [float(v) for v in lrs]
    if len(lrs) != len(seeds):
        raise ValueError(f"need one learning rate per seed, got {len(lrs)} for {len(seeds)}")
    backend = backend or get_backend(cfg.device)
    corpus = corpus if corpus is not None else load_training_corpus(cfg)
    from sim.text import BatchSampler

    M, B, T = len(seeds), cfg.batch, cfg.context
    t_start = time.perf_counter()
    passes = model_passes(cfg, seeds, lrs, backend, kernels)
    order = "epoch" if cfg.unique_tokens else "random"  # a capped pool is repeated pass by pass
    samplers = [BatchSampler(corpus.train, T, B, seed, order=order, dtype=np.int32) for seed in seeds]
    val = validation_batches(cfg, corpus.val, B)
    lr_mult = schedule_for(cfg)
    steps = cfg.steps
    at_eval = eval_steps(steps, cfg.eval_points)

    counts = parameter_counts(cfg)
    fpt = flops_per_token(cfg)
    runs = [RunRecord(seed=s, lr=lr, params=counts["params"], params_nonembedding=counts["params_nonembedding"],
                      flops_per_token=fpt) for s, lr in zip(seeds, lrs)]
    active = np.ones(M, dtype=bool)
    x = np.zeros((M, B, T), dtype=np.int32)
    y = np.zeros((M, B, T), dtype=np.int32)
    since_eval = [[] for _ in range(M)]
    train_time = 0.0
    # a diverging model overflows by design: it is marked diverged below, not warned about
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step in range(steps):
            t0 = time.perf_counter()
            for m, sampler in enumerate(samplers):
                sampler.next(out=(x[m], y[m]))
            mult = lr_mult(step)
            losses = np.zeros(M)
            norms = np.zeros(M)
            for g, model, opt in passes:
                if not active[g].any():
                    losses[g] = np.nan
                    continue
                model.set_batch(x[g], y[g])
                losses[g] = backend.to_host(model.forward(backward=True)).astype(np.float64)
                norms[g] = opt.step(mult, active[g] & np.isfinite(losses[g]))
            finite = np.isfinite(losses)
            train_time += time.perf_counter() - t0
            for m in range(M):
                if not active[m]:
                    continue
                if not (finite[m] and np.isfinite(norms[m])):
                    active[m] = False  # divergence: stop this model, keep the others going
                    runs[m].diverged, runs[m].diverged_step = True, step
                    runs[m].train_losses.append(float(losses[m]))
                    continue
                runs[m].train_losses.append(float(losses[m]))
                since_eval[m].append(float(losses[m]))
                runs[m].steps = step + 1
                runs[m].tokens = (step + 1) * B * T
            if (step + 1) in at_eval or not active.any():
                vl = np.full(M, np.nan)
                for g, model, _ in passes:
                    if active[g].any():
                        vl[g] = evaluate(model, val)
                for m in range(M):
                    if runs[m].diverged and runs[m].diverged_step < step:
                        continue
                    entry = {"step": step + 1, "tokens": (step + 1) * B * T, "lr": lrs[m] * mult,
                             "train_loss": float(np.mean(since_eval[m])) if since_eval[m] else None,
                             "val_loss": float(vl[m]) if active[m] and np.isfinite(vl[m]) else None}
                    runs[m].loss_curve.append(entry)
                    since_eval[m] = []
                    if active[m]:
                        runs[m].final_val_loss = entry["val_loss"]
            if progress is not None:
                progress(step + 1, steps)
            if not active.any():
                break
    wall = time.perf_counter() - t_start
    for r in runs:
        r.tokens_per_second = r.tokens / train_time if train_time > 0 else 0.0
        if r.diverged:
            r.final_val_loss = None
    corpus_info = {"name": corpus.name, "content_hash": corpus.content_hash,
                   "entropy_rate_nats": corpus.entropy_rate_nats}
    return TrainResult(config=cfg, runs=runs, corpus=corpus_info, device=backend.description,
                       wall_time_s=wall, train_time_s=train_time,
                       tokens_per_second_total=sum(r.tokens for r in runs) / train_time if train_time > 0 else 0.0,
                       code_version=code_version())


def run(config: TransformerConfig) -> dict:
    """The simulator-registry entry point (sim/registry.py): one seed, one model, plain JSON-safe
    data; {"diverged": True, ...} when training diverged."""
    result = train(config)
    out = result.runs[0].to_dict()
    out.update({"corpus": result.corpus, "device": result.device, "code_version": result.code_version,
                "wall_time_s": result.wall_time_s})
    return out
