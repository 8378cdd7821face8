"""The configuration of one transformer training run (nanoGPT's GPTConfig plus its train.py knobs).

A frozen dataclass, as the simulator registry requires (sim/registry.py): field names are the
`simulate transformer` options with underscores, every field has a default, units are in the
comments. Byte-level tokens: the vocabulary is the 256 byte values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sim.errors import InputError

VOCAB_SIZE = 256  # byte-level tokens
SCHEDULES = ("cosine", "linear", "wsd")
DTYPES = ("float32", "float64")
SELECT_BY = ("", "probe", "bigram_xent", "length")  # document scores for select_by ("": no selection)


@dataclass(frozen=True)
class TransformerConfig:
    # --- model (decoder-only, pre-LayerNorm, GPT-2 layout) ---
    d_model: int = 64  # residual stream width (channels)
    layers: int = 2  # transformer blocks
    heads: int = 2  # attention heads; d_model must divide by it
    context: int = 64  # tokens (bytes) per training sequence
    tied: bool = True  # output head shares the token-embedding matrix (GPT-2, nanoGPT)
    init_std: float = 0.02  # std of weight init; residual projections get init_std/sqrt(2*layers) (GPT-2)
    # --- training ---
    batch: int = 32  # sequences per step (tokens per step = batch * context)
    tokens: int = 200_000  # training tokens per model (rounded up to whole steps)
    lr: float = 1e-3  # peak learning rate (AdamW step size)
    min_lr_ratio: float = 0.1  # final learning rate as a fraction of the peak (cosine, linear, wsd)
    schedule: str = "cosine"  # cosine | linear | wsd (warmup-stable-decay)
    warmup_fraction: float = 0.05  # fraction of the steps spent in linear warmup
    decay_fraction: float = 0.2  # wsd only: fraction of the steps in the final linear decay
    weight_decay: float = 0.1  # decoupled (AdamW) on matrices and embeddings, not on biases/LayerNorm
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient L2 norm per model; 0 disables clipping
    dtype: str = "float32"  # float32 for training; float64 for checks
    models_per_pass: int = 0  # models sharing one pass when several train together; 0 = fit the cache (train.py)
    # --- evaluation ---
    eval_points: int = 20  # validation evaluations along the run (the loss curve's points)
    eval_tokens: int = 32_768  # validation tokens per evaluation (fixed windows of the validation split)
    # --- data (sim/text.py) ---
    corpus: str = "stdlib"  # stdlib | markov | a path to a text file or directory
    unique_tokens: int = 0  # cap on unique training tokens (repeated for several epochs); 0 = no cap
    corrupt_fraction: float = 0.0  # fraction of training bytes replaced by random bytes
    duplicate_fraction: float = 0.0  # fraction of training documents duplicated
    corpus_knobs: str = ""  # any other sim/text.py knobs as "name=value,name=value" (deduplicate=true, order=3, ...)
    # --- document selection by a score (data pruning; sim/transformer/probe.py), after the knobs ---
    select_by: str = ""  # "" (none) | probe (a small probe transformer's loss) | bigram_xent | length
    select_keep: str = "highest"  # highest score (hard documents, by a loss) | lowest (easy ones)
    select_fraction: float = 1.0  # fraction of training documents kept, in (0, 1]
    probe_tokens: int = 65_536  # select_by=probe: tokens the probe trains on (probe.py fixes its shape)
    reseed_data: bool = False  # the data knobs' random choices (document order, corruption) use the run's seed
    # --- provenance ---
    seed: int = 0  # init and batch order; the same seed gives the same loss curve on CPU
    device: str = "cpu"  # cpu | gpu | auto

    @property
    def head_size(self) -> int:
        return self.d_model // self.heads

    @property
    def tokens_per_step(self) -> int:
        return self.batch * self.context

    @property
    def steps(self) -> int:
        return max(1, -(-int(self.tokens) // self.tokens_per_step))

    def replace(self, **changes) -> "TransformerConfig":
        return dataclasses.replace(self, **changes)

    def validate(self) -> "TransformerConfig":
        """Raise InputError naming the first bad field; return self when all is well."""
        positive_ints = ("d_model", "layers", "heads", "context", "batch", "tokens", "eval_points", "eval_tokens")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(name, f"must be a positive whole number, got {value!r}")
        if self.d_model % self.heads:
            raise InputError("heads", f"d_model {self.d_model} must be divisible by heads {self.heads}")
        if not (self.lr > 0):
            raise InputError("lr", f"must be positive, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise InputError("schedule", f"must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.dtype not in DTYPES:
            raise InputError("dtype", f"must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("min_lr_ratio", "warmup_fraction", "decay_fraction", "corrupt_fraction", "duplicate_fraction"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise InputError(name, f"must lie in [0, 1], got {value!r}")
        if self.warmup_fraction + (self.decay_fraction if self.schedule == "wsd" else 0.0) > 1.0:
            raise InputError("decay_fraction", "warmup_fraction + decay_fraction must not exceed 1")
        for name in ("weight_decay", "grad_clip", "init_std", "adam_eps"):
            if not (getattr(self, name) >= 0):
                raise InputError(name, f"must not be negative, got {getattr(self, name)!r}")
        for name in ("beta1", "beta2"):
            if not (0.0 <= getattr(self, name) < 1.0):
                raise InputError(name, f"must lie in [0, 1), got {getattr(self, name)!r}")
        if self.models_per_pass < 0:
            raise InputError("models_per_pass", f"must not be negative, got {self.models_per_pass!r}")
        if self.unique_tokens < 0:
            raise InputError("unique_tokens", f"must not be negative, got {self.unique_tokens!r}")
        self.parsed_corpus_knobs()  # unknown names and unreadable values are refused here
        if self.select_by not in SELECT_BY:
            raise InputError("select_by", f"must be one of {', '.join(repr(s) for s in SELECT_BY)}, got {self.select_by!r}")
        if self.select_keep not in ("highest", "lowest"):
            raise InputError("select_keep", f"must be 'highest' or 'lowest', got {self.select_keep!r}")
        if not (0.0 < self.select_fraction <= 1.0):
            raise InputError("select_fraction", f"must lie in (0, 1], got {self.select_fraction!r}")
        if not isinstance(self.probe_tokens, int) or isinstance(self.probe_tokens, bool) or self.probe_tokens < 1:
            raise InputError("probe_tokens", f"must be a positive whole number, got {self.probe_tokens!r}")
        if self.reseed_data and "seed" in self.parsed_corpus_knobs():
            raise InputError("reseed_data", "the data's seed is the run's seed here; drop seed= from corpus_knobs")
        return self

    def parsed_corpus_knobs(self) -> dict:
        """``corpus_knobs`` typed by sim/text.py's own parsers (never evaluated)."""
        from sim.text import parse_knobs

        items = [item for item in self.corpus_knobs.split(",") if item.strip()]
        knobs = parse_knobs(items)
        for name in ("unique_tokens", "corrupt_fraction", "duplicate_fraction"):
            if name in knobs:
                raise InputError("corpus_knobs", f"{name} has its own option; give it there")
        return knobs
