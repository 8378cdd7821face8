"""Document scores from a small probe transformer, and selection of documents by a score (data pruning).

Sorscher et al. 2022 (REFERENCES.md §5) prune a training set by a difficulty score that a probe model
assigns to each example. Here the probe is a small GPT of a fixed shape (`PROBE_SHAPE`: d_model 16,
one layer, two heads; the run's context, batch and dtype), trained for ``cfg.probe_tokens`` tokens on
random windows of the training text (cosine schedule, peak learning rate `PROBE_LR`, its own fixed
seed `PROBE_SEED`, so every seed of a run sees the same selected documents). A document's score is the
probe's mean loss (nats/byte) over up to `WINDOWS_PER_DOCUMENT` windows of ``context`` bytes spread
evenly over the document (a window starting near a document's end reads into the next one; a document
shorter than a window is scored on the window that starts at it). High score = hard for the probe.

`selected_corpus(corpus, cfg)` keeps the ``cfg.select_fraction`` of documents with the highest or
lowest score (``cfg.select_keep``) through sim/text.py's `Corpus.select_documents` (new content hash,
the scores' hash recorded in its knobs). ``select_by`` = "probe" uses the probe; "bigram_xent" and
"length" use sim/text.py's built-in scores. Scores are computed once per process per corpus and setting.
"""

from __future__ import annotations

import numpy as np

from sim.transformer.config import TransformerConfig

PROBE_SHAPE = {"d_model": 16, "layers": 1, "heads": 2}
PROBE_LR = 3e-3  # a good peak rate for this shape at ~1e5 tokens (the default 1e-3 trains it too slowly)
PROBE_SEED = 0
WINDOWS_PER_DOCUMENT = 4

_SCORES: dict = {}  # (corpus hash, score name, probe settings) -> per-document scores
_SELECTED: dict = {}  # (corpus hash, score key, keep, fraction) -> Corpus


def probe_config(cfg: TransformerConfig) -> TransformerConfig:
    """The probe's configuration for a run configured by ``cfg``."""
    return TransformerConfig(**PROBE_SHAPE, context=cfg.context, batch=cfg.batch, tokens=cfg.probe_tokens,
                             lr=PROBE_LR, schedule="cosine", seed=PROBE_SEED, device=cfg.device, dtype=cfg.dtype,
                             corpus=cfg.corpus, eval_points=1, eval_tokens=cfg.context * cfg.batch)


def train_probe(train_tokens: np.ndarray, pcfg: TransformerConfig, backend=None):
    """Train one probe model on random windows of ``train_tokens``; returns the `Model`."""
    from sim.backend import get_backend
    from sim.text import BatchSampler
    from sim.transformer.optim import schedule_for
    from sim.transformer.train import model_passes

    backend = backend or get_backend(pcfg.device)
    [(_, model, opt)] = model_passes(pcfg, [pcfg.seed], [pcfg.lr], backend)
    B, T = pcfg.batch, pcfg.context
    sampler = BatchSampler(train_tokens, T, B, pcfg.seed, order="random", dtype=np.int32)
    lr_mult = schedule_for(pcfg)
    x = np.zeros((1, B, T), dtype=np.int32)
    y = np.zeros((1, B, T), dtype=np.int32)
    active = np.ones(1, dtype=bool)
    for step in range(pcfg.steps):
        sampler.next(out=(x[0], y[0]))
        model.set_batch(x, y)
        loss = float(backend.to_host(model.forward(backward=True))[0])
        norm = opt.step(lr_mult(step), active)
        if not (np.isfinite(loss) and np.all(np.isfinite(norm))):
            raise ArithmeticError(f"the probe diverged at step {step}")
    return model


def document_windows(documents: np.ndarray, n_tokens: int, context: int, per_document: int) -> tuple[np.ndarray, np.ndarray]:
    """(window starts, owning document) for scoring: up to ``per_document`` windows per document,
    spread evenly from its first byte to its last full window, clipped to the text."""
    b = np.asarray(documents, dtype=np.int64)
    lengths = np.diff(b)
    counts = np.clip(-(-lengths // context), 1, per_document)
    owner = np.repeat(np.arange(lengths.size), counts)
    # position j of c windows over a span s: round(j * s / (c - 1)) (0 when c = 1)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    j = np.arange(owner.size) - first[owner]
    span = np.maximum(lengths - context - 1, 0)[owner]
    c = counts[owner]
    offset = np.where(c > 1, np.round(j * span / np.maximum(c - 1, 1)), 0).astype(np.int64)
    starts = np.minimum(b[:-1][owner] + offset, n_tokens - context - 1)
    return starts, owner


def probe_scores(corpus, cfg: TransformerConfig, backend=None) -> np.ndarray:
    """Each training document's mean loss (nats/byte) under a probe trained as `probe_config` says."""
    pcfg = probe_config(cfg).validate()
    model = train_probe(corpus.train, pcfg, backend)
    B, T = pcfg.batch, pcfg.context
    starts, owner = document_windows(corpus.documents, corpus.train.size, T, WINDOWS_PER_DOCUMENT)
    n = starts.size
    padded = np.concatenate([starts, np.full((-n) % B, starts[-1])])
    offsets = np.arange(T + 1)
    window_loss = np.empty(padded.size)
    for i in range(0, padded.size, B):
        win = corpus.train[padded[i:i + B, None] + offsets].astype(np.int32)
        model.set_batch(win[None, :, :-1], win[None, :, 1:])
        model.forward(backward=False)
        window_loss[i:i + B] = model.backend.to_host(model.losses).astype(np.float64).reshape(B, T).mean(axis=1)
    window_loss = window_loss[:n]
    if not np.all(np.isfinite(window_loss)):
        raise ArithmeticError("the probe's losses are not finite")
    return np.bincount(owner, weights=window_loss, minlength=corpus.n_documents) / np.bincount(owner, minlength=corpus.n_documents)


def _score_key(corpus, cfg: TransformerConfig) -> tuple:
    if cfg.select_by == "probe":
        from sim.backend import get_backend

        device = get_backend(cfg.device).is_gpu
        return (corpus.content_hash, "probe", cfg.probe_tokens, cfg.context, cfg.batch, cfg.dtype, device)
    return (corpus.content_hash, cfg.select_by)


def document_scores(corpus, cfg: TransformerConfig) -> np.ndarray:
    """The per-document scores ``cfg.select_by`` names (cached per process)."""
    key = _score_key(corpus, cfg)
    if key not in _SCORES:
        if cfg.select_by == "probe":
            _SCORES[key] = probe_scores(corpus, cfg)
        else:
            _SCORES[key] = corpus.document_scores(cfg.select_by)
    return _SCORES[key]


def selected_corpus(corpus, cfg: TransformerConfig):
    """``corpus`` with the ``cfg.select_fraction`` of its documents of highest/lowest score kept."""
    if not cfg.select_by:
        return corpus
    key = _score_key(corpus, cfg) + (cfg.select_keep, float(cfg.select_fraction))
    if key not in _SELECTED:
        if len(_SELECTED) >= 8:  # a few selections per process: sweeps alternate between a handful
            _SELECTED.pop(next(iter(_SELECTED)))
        _SELECTED[key] = corpus.select_documents(document_scores(corpus, cfg), cfg.select_fraction, cfg.select_keep)
    return _SELECTED[key]


__all__ = ["PROBE_LR", "PROBE_SEED", "PROBE_SHAPE", "WINDOWS_PER_DOCUMENT", "document_scores", "document_windows",
           "probe_config", "probe_scores", "selected_corpus", "train_probe"]
