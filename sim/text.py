"""Byte-level text data for the toy transformer: corpora, data-quality knobs, batches.

Tokens are bytes (vocabulary 256), so no tokenizer and no download. Three kinds of corpus:

- ``"stdlib"``: the ``*.py`` files of the running Python's standard library (the directory of the
  ``os`` module), without ``site-packages``/``dist-packages``/``__pycache__`` and, unless
  ``include_tests=True``, without test folders (any folder named ``test``, ``tests`` or
  ``idle_test``). Real text nobody on this project wrote: 731 non-empty files, 12.1 MB on CPython
  3.11.7.
  It differs between Python versions, so every corpus carries a content hash.
- a path: a text file, or a directory read recursively (all files matching ``glob``, default
  ``"*"``; hidden files/folders, empty files and binary files, those with a NUL byte, are skipped).
- ``"markov"``: an order-k Markov chain over an alphabet of A symbols with Zipf-distributed
  transitions (`MarkovSource`), whose exact entropy rate, the irreducible loss of a byte model, is
  computed from the stationary distribution of its contexts.

Documents and the train/validation split:

- file collections (stdlib, directories): one document per file, in sorted order of the relative
  path; a file goes to validation when the first 8 bytes of sha256(relative path), read as a
  fraction of 2^64, fall below ``val_fraction`` (so about that fraction of the FILES, not of the
  bytes: 82 of 731 files, 1.77 of 12.1 MB, on CPython 3.11.7). The split depends on nothing but the path (not on
  the seed, the filesystem's order or the other files), so validation text stays put when files
  are added; at least one file lands on each side.
- a single file, and the markov source: documents are chunks of about ``document_bytes`` bytes
  (for text, cut at the first line end after each multiple of ``document_bytes``); validation is the
  contiguous tail of ``val_fraction`` of the bytes, starting at a document boundary.
- ``max_bytes`` caps the bytes read before the split (files in sorted order, the last one cut).

Knobs, applied to the TRAINING text only (validation stays clean, so validation losses compare
across knob settings), in this order, each seeded from its own stream of ``seed`` so turning one knob
does not move the random choices of another:

1. ``corrupt_fraction=q`` with ``corrupt_mode="documents"`` (default): round(q·n) documents chosen
   uniformly without replacement have every byte replaced by a uniform random byte (length kept;
   labels kept in ``Corpus.corrupted``). With ``corrupt_mode="bytes"``: round(q·n_bytes) byte
   positions chosen uniformly without replacement each get one of the 255 OTHER byte values, so
   exactly that fraction of training bytes differ from the clean text (no per-document labels).
2. ``duplicate_fraction=d``: round(d·n) documents chosen without replacement get one exact copy each,
   inserted at a uniform random place after the original (labels in ``Corpus.duplicate``).
3. ``filter_corrupted=True``: drop every document whose cross-entropy under a byte-bigram model
   fitted on the validation text (`bigram_model`) exceeds ``filter_threshold_nats`` (default
   ln 256 = 5.545 nats/byte). Why ln 256: uniform random bytes have cross-entropy
   ln 256 + KL(uniform ‖ q) ≥ ln 256 under ANY model q (Gibbs' inequality), while text the model
   knows scores well below. The filter never looks at the labels; it reports how many documents it
   dropped and, where labels exist, its precision and recall against them.
4. ``deduplicate=True``: exact-content dedup, keeping the first occurrence of each document (copies
   are inserted after their originals, so it removes exactly the inserted copies plus any natural
   duplicates, which it counts separately).
5. ``unique_tokens=U``: keep only the first U training bytes (a fixed pool; the last document is
   cut). With ``shuffle_documents=True`` the training documents are put in a seeded random order
   first (its own stream of ``seed``), so the pool is a random sample of documents rather than the
   first files in path order (pools of growing U stay nested). The trainer repeats the pool for as many epochs as its token budget needs:
   ``Corpus.epochs(tokens)`` = tokens / U. ``epochs=R`` (needs ``unique_tokens``) is recorded as the
   planned repetition and gives ``Corpus.token_budget`` = U·R; `unique_tokens_for(D, R)` is the pool
   for a fixed budget D.

Selection and weighting by a caller's per-document score (e.g. a probe model's loss, as in data
pruning): ``corpus.select_documents(scores, keep_fraction, keep="highest"|"lowest")`` returns a new
Corpus with a new hash ("hard" examples = highest loss, "easy" = lowest); ``corpus.document_scores(
"bigram_xent"|"length")`` gives built-in scores; ``BatchSampler(..., documents=, weights=)`` samples
windows in proportion to a per-document weight instead.

Bad specs or knob values raise ``InputError("corpus", ...)`` with one problem each.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sim.errors import InputError

VOCAB_SIZE = 256
LN_256 = math.log(256.0)

# Independent random streams per use of the seed (numpy SeedSequence entropy [seed, stream]).
_STREAM_MARKOV, _STREAM_CORRUPT, _STREAM_DUPLICATE = 0, 1, 2
_STREAM_SHUFFLE = 3

_TEST_FOLDERS = frozenset({"test", "tests", "idle_test"})
_NEVER_FOLDERS = frozenset({"site-packages", "dist-packages", "__pycache__"})

# Training-text knobs: name -> (default, parser from CLI text). Defaults are "off".
_TRAIN_KNOBS: dict[str, tuple[Any, Callable[[str], Any]]] = {
    "corrupt_fraction": (0.0, float),
    "corrupt_mode": ("documents", str),
    "duplicate_fraction": (0.0, float),
    "filter_corrupted": (False, lambda s: _parse_bool(s)),
    "filter_threshold_nats": (LN_256, float),
    "deduplicate": (False, lambda s: _parse_bool(s)),
    "shuffle_documents": (False, lambda s: _parse_bool(s)),
    "unique_tokens": (None, lambda s: int(float(s))),
    "epochs": (None, float),
}
# Source knobs, per kind of corpus.
_SOURCE_KNOBS: dict[str, dict[str, tuple[Any, Callable[[str], Any]]]] = {
    "stdlib": {"include_tests": (False, lambda s: _parse_bool(s))},
    "directory": {"glob": ("*", str)},
    "file": {"document_bytes": (4096, lambda s: int(float(s)))},
    "markov": {
        "order": (2, int),
        "alphabet": (32, int),
        "zipf": (1.0, float),
        "zipf_spread": (0.5, float),
        "length": (1 << 20, lambda s: int(float(s))),
        "document_bytes": (4096, lambda s: int(float(s))),
    },
}
CORRUPT_MODES = ("documents", "bytes")


def _bad(problem: str) -> InputError:
    return InputError("corpus", problem)


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def knob_names() -> list[str]:
    """Every knob `load_corpus` accepts, for help texts."""
    names = set(_TRAIN_KNOBS)
    for kind in _SOURCE_KNOBS.values():
        names.update(kind)
    return sorted(names)


def parse_knobs(items: Sequence[str]) -> dict:
    """``["corrupt_fraction=0.1", "deduplicate=true"]`` -> typed knobs, for a repeated CLI option.

    Values are converted by the knob's own type (never evaluated); unknown names raise InputError.
    """
    parsers: dict[str, Callable[[str], Any]] = {k: p for k, (_, p) in _TRAIN_KNOBS.items()}
    for kind in _SOURCE_KNOBS.values():
        parsers.update({k: p for k, (_, p) in kind.items()})
    parsers.update({"val_fraction": float, "max_bytes": lambda s: int(float(s)), "seed": int})
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise _bad(f"knob {item!r} is not NAME=VALUE")
        if name not in parsers:
            raise _bad(f"unknown knob {name!r} (known: {', '.join(sorted(parsers))})")
        try:
            out[name] = parsers[name](value.strip())
        except ValueError:
            raise _bad(f"knob {name}: cannot read {value!r}") from None
    return out


# --------------------------------------------------------------------------------------------------
# The Markov source


def _markov_walk_py(cdf, n_contexts, alphabet, state, u, out):  # pragma: no cover - numba compiles it
    for t in range(u.shape[0]):
        row = cdf[state]
        x = np.searchsorted(row, u[t], side="right")
        if x >= alphabet:
            x = alphabet - 1
        out[t] = x
        state = (state * alphabet + x) % n_contexts
    return state


@functools.lru_cache(maxsize=1)
def _markov_walk():
    """The sequential walk, compiled once (the chain is inherently sequential: one draw per byte)."""
    from numba import njit

    return njit(cache=True, nogil=True)(_markov_walk_py)


@dataclass(frozen=True, eq=False)
class MarkovSource:
    """An order-k Markov chain over ``alphabet`` symbols.

    ``transition[c, x]`` = P(next symbol x | context c), where the context c encodes the last k symbols
    in base A (oldest most significant), so the next context is (c·A + x) mod A^k. The entropy rate
    is H = Σ_c π_c · H(transition[c]) nats/symbol with π the stationary distribution of contexts
    (Cover & Thomas, Elements of Information Theory, Thm 4.2.4), computed exactly for this chain.
    Symbols become bytes through ``symbol_bytes`` (printable ASCII from '!' when A ≤ 94).
    """

    order: int
    alphabet: int
    transition: np.ndarray  # (A^k, A) float64, rows sum to 1

    def __post_init__(self):
        P = np.asarray(self.transition, dtype=np.float64)
        S = self.alphabet ** self.order
        if self.order < 1 or self.alphabet < 2 or self.alphabet > VOCAB_SIZE:
            raise _bad(f"markov needs order ≥ 1 and 2 ≤ alphabet ≤ 256, got order {self.order}, alphabet {self.alphabet}")
        if P.shape != (S, self.alphabet):
            raise _bad(f"markov transition must have shape ({S}, {self.alphabet}), got {P.shape}")
        if not np.all(np.isfinite(P)) or np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-12):
            raise _bad("markov transition rows must be non-negative and sum to 1")
        P = P / P.sum(axis=1, keepdims=True)
        P.flags.writeable = False
        object.__setattr__(self, "transition", P)

    @property
    def n_contexts(self) -> int:
        return self.alphabet ** self.order

    @property
    def symbol_bytes(self) -> np.ndarray:
        start = 33 if self.alphabet <= 94 else 0
        return np.arange(start, start + self.alphabet, dtype=np.uint8)

    @classmethod
    def zipf(cls, order: int, alphabet: int, exponent: float, spread: float, seed: int) -> "MarkovSource":
        """Zipf transitions: in each context c, the symbols in a random order σ_c get probabilities
        ∝ rank^(−s_c), with s_c = exponent·(1 + spread·(2u_c − 1)), u_c ~ U(0, 1). The spread makes
        contexts differ in entropy, so the stationary weights matter to the entropy rate."""
        if exponent < 0 or not math.isfinite(exponent):
            raise _bad(f"zipf must be a finite exponent ≥ 0, got {exponent}")
        if not 0 <= spread < 1:
            raise _bad(f"zipf_spread must be in [0, 1), got {spread}")
        if order < 1 or not 2 <= alphabet <= VOCAB_SIZE:
            raise _bad(f"markov needs order ≥ 1 and 2 ≤ alphabet ≤ 256, got order {order}, alphabet {alphabet}")
        S = alphabet ** order
        if S * alphabet > 1 << 22:
            raise _bad(f"markov alphabet^(order+1) = {S * alphabet} exceeds 2^22 transition entries")
        rng = np.random.default_rng([seed, _STREAM_MARKOV])
        s_c = exponent * (1.0 + spread * (2.0 * rng.random(S) - 1.0))
        ranks = np.arange(1, alphabet + 1, dtype=np.float64)
        w = ranks[None, :] ** (-s_c[:, None])
        w /= w.sum(axis=1, keepdims=True)
        perm = np.argsort(rng.random((S, alphabet)), axis=1)  # σ_c: rank i -> symbol perm[c, i]
        P = np.empty_like(w)
        np.put_along_axis(P, perm, w, axis=1)
        return cls(order=order, alphabet=alphabet, transition=P)

    def _next_contexts(self) -> np.ndarray:
        S, A = self.n_contexts, self.alphabet
        return (np.arange(S, dtype=np.int64)[:, None] * A + np.arange(A)[None, :]) % S

    def stationary(self, method: str = "auto", tol: float = 1e-15, max_iter: int = 100_000) -> np.ndarray:
        """π over contexts with π = π·T. ``"dense"``: solve (Tᵀ − I)π = 0 with Σπ = 1 directly;
        ``"power"``: iterate the lazy chain π ← (π + πT)/2 (same π, always aperiodic) until the L1
        change is below ``tol`` (converged to float64 rounding: exact for this chain, not estimated
        from samples). ``"auto"``: dense up to 256 contexts, power beyond."""
        if method == "auto" and tol == 1e-15:
            return self._stationary_auto.copy()
        return self._solve_stationary(method, tol, max_iter)

    @functools.cached_property
    def _stationary_auto(self) -> np.ndarray:
        return self._solve_stationary("auto", 1e-15, 100_000)

    def _solve_stationary(self, method: str, tol: float, max_iter: int) -> np.ndarray:
        S, A = self.n_contexts, self.alphabet
        nxt = self._next_contexts()
        if method == "auto":
            method = "dense" if S <= 256 else "power"
        if method == "dense":
            T = np.zeros((S, S))
            np.add.at(T, (np.repeat(np.arange(S), A), nxt.ravel()), self.transition.ravel())
            M = T.T - np.eye(S)
            M[-1, :] = 1.0  # replace one (redundant) balance equation by the normalisation
            b = np.zeros(S)
            b[-1] = 1.0
            pi = np.linalg.solve(M, b)
        elif method == "power":
            pi = np.full(S, 1.0 / S)
            flat_next = nxt.ravel()
            for _ in range(max_iter):
                step = np.bincount(flat_next, weights=(pi[:, None] * self.transition).ravel(), minlength=S)
                new = 0.5 * (pi + step)
                if np.abs(new - pi).sum() < tol:
                    pi = new
                    break
                pi = new
            else:
                raise _bad(f"markov stationary distribution did not converge in {max_iter} iterations")
        else:
            raise _bad(f"unknown stationary method {method!r}")
        pi = np.clip(pi, 0.0, None)
        return pi / pi.sum()

    def context_entropies(self) -> np.ndarray:
        P = self.transition
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(P > 0, -P * np.log(P), 0.0)
        return terms.sum(axis=1)

    def entropy_rate(self, method: str = "auto") -> float:
        """Exact entropy rate in nats per symbol (= per byte): Σ_c π_c H(P[c, ·])."""
        return float(self.stationary(method) @ self.context_entropies())

    def conditional_entropies(self) -> np.ndarray:
        """h_j = H(X_t | the j symbols before it) in nats for j = 0..k: from the stationary block
        entropies H_j of the last j symbols (marginals of π), h_j = H_{j+1} − H_j; h_k is the
        entropy rate. A model whose window gives position t only t symbols of history cannot beat
        h_min(t, k) there (see `window_loss_floor`)."""
        pi = self.stationary()
        contexts = np.arange(self.n_contexts, dtype=np.int64)
        block = [0.0]
        for j in range(1, self.order + 1):
            p = np.bincount(contexts % self.alphabet**j, weights=pi, minlength=self.alphabet**j)
            p = p[p > 0]
            block.append(float(-(p * np.log(p)).sum()))
        h = [block[j + 1] - block[j] for j in range(self.order)] + [self.entropy_rate()]
        return np.array(h)

    def window_loss_floor(self, context: int) -> float:
        """The least mean loss (nats/byte) over a window of ``context`` targets, target t predicted
        from the t + 1 bytes x[0..t]: (Σ_{j=1..context} h_min(j,k)) / context. For context ≥ k this is
        the entropy rate plus Σ_{1≤j<k}(h_j − h_k)/context (the first k − 1 targets see less than k
        bytes of history)."""
        return _window_floor(self.conditional_entropies(), context)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n bytes of the chain, started from the stationary distribution (so the whole sample is
        stationary). Inverse-CDF draws, one uniform per byte, in a compiled sequential walk."""
        pi = self.stationary()
        state = int(rng.choice(self.n_contexts, p=pi))
        u = rng.random(n)
        cdf = np.cumsum(self.transition, axis=1)
        cdf[:, -1] = 1.0
        out = np.empty(n, dtype=np.int64)
        _markov_walk()(cdf, self.n_contexts, self.alphabet, state, u, out)
        return self.symbol_bytes[out]


def _window_floor(h: Sequence[float], context: int) -> float:
    context = int(context)
    if context < 1:
        raise InputError("context", f"context must be ≥ 1, got {context}")
    # target t of a window (t = 0..context−1) is predicted from the t + 1 bytes x[0..t]
    k = len(h) - 1
    return float(sum(h[min(j, k)] for j in range(1, min(context, k) + 1)) + max(context - k, 0) * h[k]) / context


@functools.lru_cache(maxsize=8)
def _markov_text(order: int, alphabet: int, zipf: float, spread: float, length: int, seed: int):
    """One Markov sample per setting per process (sweeps load the same corpus for every run)."""
    src = MarkovSource.zipf(order, alphabet, zipf, spread, seed)
    data = src.sample(length, np.random.default_rng([seed, _STREAM_MARKOV, 1]))
    data.flags.writeable = False
    return src.n_contexts, data, src.entropy_rate(), tuple(src.conditional_entropies().tolist())


def empirical_conditional_entropy(data: np.ndarray, order: int, alphabet_bytes: np.ndarray | None = None) -> float:
    """Plug-in estimate of H(X_t | X_{t-k..t-1}) in nats from a sample (a check on `entropy_rate`;
    biased low by about (#contexts·(A−1))/(2n))."""
    x = np.asarray(data, dtype=np.int64)
    if alphabet_bytes is not None:
        lut = np.full(VOCAB_SIZE, -1, dtype=np.int64)
        lut[np.asarray(alphabet_bytes, dtype=np.int64)] = np.arange(len(alphabet_bytes))
        x = lut[x]
        A = len(alphabet_bytes)
    else:
        A = VOCAB_SIZE
    n = x.size - order
    ctx = np.zeros(n, dtype=np.int64)
    for j in range(order):
        ctx = ctx * A + x[j : j + n]
    joint = np.unique(ctx * A + x[order:], return_counts=True)[1].astype(np.float64)
    marg = np.unique(ctx, return_counts=True)[1].astype(np.float64)
    # H(X|C) = H(C, X) − H(C)
    return float(-(joint / n * np.log(joint / n)).sum() + (marg / n * np.log(marg / n)).sum())


# --------------------------------------------------------------------------------------------------
# Scores: a byte-bigram model


@dataclass(frozen=True, eq=False)
class BigramModel:
    """Byte bigram with interpolated smoothing: P(b|a) = (c(a,b) + β·P₁(b)) / (c(a) + β), P₁(b) =
    (c(b) + α)/(n + 256α) (Jelinek–Mercer-style backoff to the unigram for rare contexts)."""

    log_prob: np.ndarray  # (256, 256) log P(b | a), float64
    log_unigram: np.ndarray  # (256,)

    @classmethod
    def fit(cls, data: np.ndarray, alpha: float = 0.5, beta: float = 1.0) -> "BigramModel":
        x = np.asarray(data, dtype=np.int64)
        uni = np.bincount(x, minlength=VOCAB_SIZE).astype(np.float64)
        p1 = (uni + alpha) / (uni.sum() + VOCAB_SIZE * alpha)
        pair = np.bincount(x[:-1] * VOCAB_SIZE + x[1:], minlength=VOCAB_SIZE**2).reshape(VOCAB_SIZE, VOCAB_SIZE)
        P = (pair + beta * p1[None, :]) / (pair.sum(axis=1, keepdims=True) + beta)
        return cls(log_prob=np.log(P), log_unigram=np.log(p1))

    def document_cross_entropy(self, tokens: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
        """Mean −log P per byte of each document [boundaries[i], boundaries[i+1]) in nats; each
        document's first byte is scored by the unigram (documents are independent)."""
        x = np.asarray(tokens)
        b = np.asarray(boundaries, dtype=np.int64)
        if x.size == 0:
            return np.zeros(len(b) - 1)
        nll = np.empty(x.size, dtype=np.float32)
        nll[1:] = -self.log_prob[x[:-1], x[1:]]
        starts = b[:-1]
        nll[starts[starts < x.size]] = -self.log_unigram[x[starts[starts < x.size]]]
        lengths = np.diff(b)
        sums = np.zeros(len(lengths))
        nonempty = lengths > 0
        if nonempty.any():
            sums[nonempty] = np.add.reduceat(nll, starts[nonempty], dtype=np.float64)
        return sums / np.maximum(lengths, 1)


# --------------------------------------------------------------------------------------------------
# The corpus


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _boundaries(docs: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([d.size for d in docs], dtype=np.int64)]).astype(np.int64)


def _concat(docs: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(docs).astype(np.uint8, copy=False) if docs else np.zeros(0, np.uint8)


def _content_hash(train: np.ndarray, val: np.ndarray, documents: np.ndarray, knobs: dict) -> str:
    h = hashlib.sha256()
    header = {"knobs": knobs, "train_bytes": int(train.size), "val_bytes": int(val.size), "vocab": VOCAB_SIZE}
    h.update(json.dumps(header, sort_keys=True, default=str).encode())
    h.update(train.tobytes())
    h.update(b"\x00val\x00")
    h.update(val.tobytes())
    h.update(np.asarray(documents, dtype="<i8").tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Corpus:
    """A byte corpus ready to train on. Arrays are read-only.

    ``documents`` are int64 offsets into ``train`` (n_documents + 1 of them, from 0 to len(train));
    ``corrupted``/``duplicate`` are per-document labels of what the knobs did (for measuring filters,
    never used by them). ``content_hash`` is sha256 over the knobs, the train and validation bytes
    and the document boundaries."""

    name: str
    content_hash: str
    train: np.ndarray
    val: np.ndarray
    entropy_rate_nats: float | None
    documents: np.ndarray
    val_documents: np.ndarray
    knobs: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    effects: dict = field(default_factory=dict)
    corrupted: np.ndarray | None = None
    duplicate: np.ndarray | None = None

    @property
    def n_documents(self) -> int:
        return len(self.documents) - 1

    def document(self, i: int) -> np.ndarray:
        return self.train[self.documents[i] : self.documents[i + 1]]

    @property
    def token_budget(self) -> int | None:
        """U·R when ``epochs=R`` was given with ``unique_tokens=U``."""
        R = self.knobs.get("epochs")
        return None if R is None else int(round(self.train.size * R))

    def irreducible_loss(self, context: int) -> float | None:
        """The least achievable mean validation loss (nats/byte) over windows of ``context`` bytes,
        for the markov source (`MarkovSource.window_loss_floor`); None for real text."""
        h = self.source.get("conditional_entropies_nats")
        return None if h is None else _window_floor(h, context)

    def epochs(self, tokens: float) -> float:
        """Passes over the training text that a budget of ``tokens`` training tokens makes."""
        return float(tokens) / self.train.size

    def describe(self) -> dict:
        """Plain data for run records."""
        H = self.entropy_rate_nats
        return {
            "name": self.name,
            "content_hash": self.content_hash,
            "train_tokens": int(self.train.size),
            "val_tokens": int(self.val.size),
            "train_documents": self.n_documents,
            "val_documents": len(self.val_documents) - 1,
            "knobs": dict(self.knobs),
            "source": dict(self.source),
            "effects": json.loads(json.dumps(self.effects)),
            "entropy_rate_nats": H,
            "entropy_rate_bits": None if H is None else H / math.log(2.0),
            "token_budget": self.token_budget,
        }

    def document_scores(self, name: str = "bigram_xent") -> np.ndarray:
        """Built-in per-document scores: ``"bigram_xent"`` (nats/byte under a bigram fitted on the
        validation text; high = unlike clean text), ``"length"`` (bytes)."""
        if name == "bigram_xent":
            return BigramModel.fit(self.val).document_cross_entropy(self.train, self.documents)
        if name == "length":
            return np.diff(self.documents).astype(np.float64)
        raise _bad(f"unknown document score {name!r} (known: bigram_xent, length)")

    def select_documents(self, scores, keep_fraction: float, keep: str = "highest") -> "Corpus":
        """Keep the ``keep_fraction`` of training documents with the highest (or lowest) score, in
        their original order; validation unchanged; a new hash. With a probe model's loss as the
        score, ``keep="highest"`` keeps the hard examples, ``"lowest"`` the easy ones (Sorscher et
        al. 2022, REFERENCES §5). Ties break by document order."""
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (self.n_documents,):
            raise InputError("scores", f"need one score per training document ({self.n_documents}), got shape {s.shape}")
        if not np.all(np.isfinite(s)):
            raise InputError("scores", "scores must be finite")
        _check_fraction("keep_fraction", keep_fraction, open_low=True)
        if keep not in ("highest", "lowest"):
            raise _bad(f"keep must be 'highest' or 'lowest', got {keep!r}")
        n_keep = max(1, int(round(keep_fraction * self.n_documents)))
        order = np.argsort(-s if keep == "highest" else s, kind="stable")
        kept = np.sort(order[:n_keep])
        docs = [self.document(i) for i in kept]
        knobs = dict(self.knobs)
        knobs["select"] = {
            "keep_fraction": float(keep_fraction),
            "keep": keep,
            "scores_sha256": hashlib.sha256(s.astype("<f8").tobytes()).hexdigest(),
        }
        effects = dict(self.effects)
        effects["select"] = {"kept_documents": int(n_keep), "dropped_documents": int(self.n_documents - n_keep)}
        return _make_corpus(
            self.name, docs, self.val, self.val_documents, self.entropy_rate_nats, knobs, self.source, effects,
            None if self.corrupted is None else self.corrupted[kept],
            None if self.duplicate is None else self.duplicate[kept],
        )


def _make_corpus(name, docs, val, val_documents, entropy, knobs, source, effects, corrupted, duplicate) -> Corpus:
    train = _readonly(_concat(docs))
    documents = _readonly(_boundaries(docs))
    val = _readonly(np.asarray(val, dtype=np.uint8))
    return Corpus(
        name=name,
        content_hash=_content_hash(train, val, documents, knobs),
        train=train,
        val=val,
        entropy_rate_nats=entropy,
        documents=documents,
        val_documents=_readonly(np.asarray(val_documents, dtype=np.int64)),
        knobs=knobs,
        source=source,
        effects=effects,
        corrupted=None if corrupted is None else _readonly(np.asarray(corrupted, dtype=bool)),
        duplicate=None if duplicate is None else _readonly(np.asarray(duplicate, dtype=bool)),
    )


def _check_fraction(name: str, value, *, open_low: bool = False, open_high: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _bad(f"{name} must be a number, got {value!r}") from None
    lo_ok = v > 0 if open_low else v >= 0
    hi_ok = v < 1 if open_high else v <= 1
    if not (math.isfinite(v) and lo_ok and hi_ok):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise _bad(f"{name} must be in {interval}, got {value!r}")
    return v


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise _bad(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < minimum:
        raise _bad(f"{name} must be ≥ {minimum}, got {v}")
    return v


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise _bad(f"{name} must be true or false, got {value!r}")
    return bool(value)


# ---- sources: each returns (train docs, val bytes, val boundaries, source info, entropy, source knobs)


def _file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise _bad(f"cannot read {str(path)!r}: {e.strerror or e}") from None


@functools.lru_cache(maxsize=2)
def _stdlib_files(include_tests: bool) -> tuple[str, tuple[tuple[str, bytes], ...]]:
    """The standard library's .py files, sorted by relative path, read once per process (~0.7 s)."""
    root = Path(os.__file__).resolve().parent
    found = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        folders = set(rel.parts[:-1])
        if folders & _NEVER_FOLDERS or (not include_tests and folders & _TEST_FOLDERS) or not p.is_file():
            continue
        found.append((rel.as_posix(), p))
    files = tuple((rel, p.read_bytes()) for rel, p in sorted(found))
    return str(root), files


def _directory_files(root: Path, pattern: str) -> list[tuple[str, bytes]]:
    out = []
    for p in root.rglob(pattern):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        out.append((rel.as_posix(), p))
    files = []
    for rel, p in sorted(out):
        b = _file_bytes(p)
        if b and b"\x00" not in b:
            files.append((rel, b))
    return files


def _path_fraction(rel: str) -> float:
    return int.from_bytes(hashlib.sha256(rel.encode()).digest()[:8], "big") / 2.0**64


def _cap_files(files, max_bytes):
    if max_bytes is None:
        return list(files)
    out, total = [], 0
    for rel, b in files:
        if total >= max_bytes:
            break
        b = b[: max_bytes - total]
        out.append((rel, b))
        total += len(b)
    return out


def _split_files(files, val_fraction):
    """By file: validation when the path's hash fraction < val_fraction; one file at least each side."""
    files = [(rel, b) for rel, b in files if len(b) > 0]
    if len(files) < 2:
        return None
    u = np.array([_path_fraction(rel) for rel, _ in files])
    is_val = u < val_fraction
    if not is_val.any():
        is_val[np.argmin(u)] = True
    if is_val.all():
        is_val[np.argmax(u)] = False
    train = [np.frombuffer(b, dtype=np.uint8) for (_, b), v in zip(files, is_val) if not v]
    val = [np.frombuffer(b, dtype=np.uint8) for (_, b), v in zip(files, is_val) if v]
    return train, val, int(is_val.sum())


def _chunk_boundaries(data: np.ndarray, document_bytes: int, at_lines: bool) -> np.ndarray:
    """Cuts near each multiple of document_bytes: for text, the first line end after it (if within
    another document_bytes), else the multiple itself."""
    n = data.size
    marks = np.arange(document_bytes, n, document_bytes, dtype=np.int64)
    cuts = marks
    if at_lines and marks.size:
        line_ends = np.flatnonzero(data == 10).astype(np.int64) + 1
        if line_ends.size:
            j = np.searchsorted(line_ends, marks, side="left")
            ok = j < line_ends.size
            nearest = np.where(ok, line_ends[np.minimum(j, line_ends.size - 1)], n)
            cuts = np.where(ok & (nearest - marks < document_bytes), nearest, marks)
    cuts = np.unique(cuts[(cuts > 0) & (cuts < n)])
    return np.concatenate([[0], cuts, [n]]).astype(np.int64)


def _split_stream(data: np.ndarray, document_bytes: int, at_lines: bool, val_fraction: float):
    """A single stream: validation is the tail from the first document boundary at or after
    (1 − val_fraction)·n; documents are chunks."""
    b = _chunk_boundaries(data, document_bytes, at_lines)
    target = (1.0 - val_fraction) * data.size
    inner = b[1:-1]
    after = inner[inner >= target]
    split = int(after[0]) if after.size else int(round(target))
    if not 0 < split < data.size:
        split = int(round(target))
    if not 0 < split < data.size:
        raise _bad(f"corpus of {data.size} bytes is too small to split with val_fraction {val_fraction}")
    tb = np.concatenate([b[b < split], [split]])
    vb = np.concatenate([[split], b[b > split]]) - split
    docs = [data[tb[i] : tb[i + 1]] for i in range(len(tb) - 1)]
    return docs, data[split:], vb


def _load_source(spec: str, seed: int, val_fraction: float, max_bytes, source_knobs: dict):
    if spec == "stdlib":
        include_tests = source_knobs["include_tests"]
        root, files = _stdlib_files(include_tests)
        capped = _cap_files(files, max_bytes)
        split = _split_files(capped, val_fraction)
        if split is None:
            raise _bad("stdlib corpus has fewer than 2 non-empty files (max_bytes too small?)")
        train_docs, val_docs, n_val = split
        info = {
            "kind": "stdlib",
            "root": root,
            "python": sys.version.split()[0],
            "implementation": sys.implementation.name,
            "files": len(train_docs) + len(val_docs),
            "val_files": n_val,
            "excluded": sorted(_NEVER_FOLDERS | (set() if include_tests else _TEST_FOLDERS)),
        }
        return train_docs, _concat(val_docs), _boundaries(val_docs), info, None, {"include_tests": include_tests}
    if spec == "markov":
        k = source_knobs
        length = k["length"] if max_bytes is None else min(k["length"], max_bytes)
        n_contexts, data, rate, h = _markov_text(k["order"], k["alphabet"], k["zipf"], k["zipf_spread"], length, seed)
        docs, val, vb = _split_stream(data, k["document_bytes"], False, val_fraction)
        info = {"kind": "markov", "contexts": n_contexts, "conditional_entropies_nats": list(h)}
        knobs = {name: k[name] for name in _SOURCE_KNOBS["markov"]}
        knobs["length"] = length
        return docs, val, vb, info, rate, knobs
    path = Path(spec).expanduser()
    if not path.exists():
        raise _bad(f"no such file or directory: {spec!r} (or use 'stdlib' or 'markov')")
    if path.is_dir():
        files = _cap_files(_directory_files(path, source_knobs.get("glob", "*")), max_bytes)
        if not files:
            raise _bad(f"directory {spec!r} has no non-empty text files matching {source_knobs.get('glob', '*')!r}")
        split = _split_files(files, val_fraction)
        info = {"kind": "directory", "path": str(path.resolve()), "files": len(files)}
        if split is not None:
            train_docs, val_docs, n_val = split
            info["val_files"] = n_val
            return train_docs, _concat(val_docs), _boundaries(val_docs), info, None, {"glob": source_knobs.get("glob", "*")}
        data = np.frombuffer(files[0][1], dtype=np.uint8)  # one file: split it like a single file
        docs, val, vb = _split_stream(data, 4096, True, val_fraction)
        return docs, val, vb, info, None, {"glob": source_knobs.get("glob", "*")}
    raw = _file_bytes(path)
    if max_bytes is not None:
        raw = raw[:max_bytes]
    if not raw:
        raise _bad(f"file {spec!r} is empty")
    data = np.frombuffer(raw, dtype=np.uint8)
    db = source_knobs["document_bytes"]
    docs, val, vb = _split_stream(data, db, True, val_fraction)
    info = {"kind": "file", "path": str(path.resolve())}
    return docs, val, vb, info, None, {"document_bytes": db}


def _source_kind(spec: str) -> str:
    if spec in ("stdlib", "markov"):
        return spec
    p = Path(spec).expanduser()
    return "directory" if p.is_dir() else "file"


def _validate_knobs(kind: str, knobs: dict) -> tuple[dict, dict]:
    """Split the caller's knobs into source knobs (defaults filled) and training-text knobs."""
    allowed_source = _SOURCE_KNOBS[kind]
    for name in knobs:
        if name in _TRAIN_KNOBS or name in allowed_source:
            continue
        owners = [k for k, v in _SOURCE_KNOBS.items() if name in v]
        if owners:
            raise _bad(f"knob {name!r} applies only to {' or '.join(owners)} corpora, not {kind}")
        raise _bad(f"unknown knob {name!r} (known: {', '.join(knob_names())})")
    source = {name: knobs.get(name, default) for name, (default, _) in allowed_source.items()}
    for name in ("include_tests",):
        if name in source:
            _check_bool(name, source[name])
    if "glob" in source and (not isinstance(source["glob"], str) or not source["glob"]):
        raise _bad(f"glob must be a non-empty pattern, got {source['glob']!r}")
    if "document_bytes" in source:
        source["document_bytes"] = _check_int("document_bytes", source["document_bytes"], 1)
    if kind == "markov":
        source["order"] = _check_int("order", source["order"], 1)
        source["alphabet"] = _check_int("alphabet", source["alphabet"], 2)
        if source["alphabet"] > VOCAB_SIZE:
            raise _bad(f"alphabet must be ≤ 256 (bytes), got {source['alphabet']}")
        source["length"] = _check_int("length", source["length"], 2)
        try:
            source["zipf"], source["zipf_spread"] = float(source["zipf"]), float(source["zipf_spread"])
        except (TypeError, ValueError):
            raise _bad("zipf and zipf_spread must be numbers") from None

    train = {name: knobs.get(name, default) for name, (default, _) in _TRAIN_KNOBS.items()}
    train["corrupt_fraction"] = _check_fraction("corrupt_fraction", train["corrupt_fraction"])
    train["duplicate_fraction"] = _check_fraction("duplicate_fraction", train["duplicate_fraction"])
    if train["corrupt_mode"] not in CORRUPT_MODES:
        raise _bad(f"corrupt_mode must be one of {', '.join(CORRUPT_MODES)}, got {train['corrupt_mode']!r}")
    train["filter_corrupted"] = _check_bool("filter_corrupted", train["filter_corrupted"])
    train["deduplicate"] = _check_bool("deduplicate", train["deduplicate"])
    train["shuffle_documents"] = _check_bool("shuffle_documents", train["shuffle_documents"])
    try:
        train["filter_threshold_nats"] = float(train["filter_threshold_nats"])
    except (TypeError, ValueError):
        raise _bad(f"filter_threshold_nats must be a number, got {train['filter_threshold_nats']!r}") from None
    if not train["filter_threshold_nats"] > 0:
        raise _bad(f"filter_threshold_nats must be > 0, got {train['filter_threshold_nats']}")
    if train["unique_tokens"] is not None:
        train["unique_tokens"] = _check_int("unique_tokens", train["unique_tokens"], 2)
    if train["epochs"] is not None:
        if train["unique_tokens"] is None:
            raise _bad("epochs needs unique_tokens (the pool the epochs repeat)")
        try:
            train["epochs"] = float(train["epochs"])
        except (TypeError, ValueError):
            raise _bad(f"epochs must be a number, got {train['epochs']!r}") from None
        if not (math.isfinite(train["epochs"]) and train["epochs"] > 0):
            raise _bad(f"epochs must be > 0, got {train['epochs']}")
    return source, train


def _apply_train_knobs(docs: list[np.ndarray], val: np.ndarray, k: dict, seed: int):
    """The knobs in their fixed order (module docstring); returns docs, labels, effects."""
    n = len(docs)
    corrupted = np.zeros(n, dtype=bool)
    duplicate = np.zeros(n, dtype=bool)
    effects: dict[str, Any] = {}

    q = k["corrupt_fraction"]
    if q > 0:
        rng = np.random.default_rng([seed, _STREAM_CORRUPT])
        if k["corrupt_mode"] == "documents":
            n_bad = int(round(q * n))
            chosen = np.sort(rng.choice(n, size=n_bad, replace=False))
            docs = list(docs)
            for i in chosen:
                docs[i] = rng.integers(0, VOCAB_SIZE, size=docs[i].size, dtype=np.uint8)
            corrupted[chosen] = True
            effects["corrupt"] = {
                "mode": "documents",
                "documents": n_bad,
                "bytes": int(sum(docs[i].size for i in chosen)),
            }
        else:
            flat = _concat(docs).copy()
            n_bytes = int(round(q * flat.size))
            pos = rng.choice(flat.size, size=n_bytes, replace=False)
            # one of the 255 other values, so exactly n_bytes bytes differ from the clean text
            flat[pos] = (flat[pos].astype(np.int64) + rng.integers(1, VOCAB_SIZE, size=n_bytes)) % VOCAB_SIZE
            b = _boundaries(docs)
            docs = [flat[b[i] : b[i + 1]] for i in range(n)]
            effects["corrupt"] = {"mode": "bytes", "bytes": n_bytes, "fraction": n_bytes / max(flat.size, 1)}

    d = k["duplicate_fraction"]
    if d > 0:
        rng = np.random.default_rng([seed, _STREAM_DUPLICATE])
        n_dup = int(round(d * n))
        originals = np.sort(rng.choice(n, size=n_dup, replace=False))
        # sort key: original i sits at i; its copy at a uniform point in (i, n], i.e. after it
        keys = np.concatenate([np.arange(n, dtype=np.float64), originals + (n - originals) * (1.0 - rng.random(n_dup))])
        order = np.argsort(keys, kind="stable")
        source_index = np.concatenate([np.arange(n), originals])[order]
        docs = [docs[i] for i in source_index]
        corrupted = corrupted[source_index]
        duplicate = order >= n
        effects["duplicate"] = {"documents": n_dup, "bytes": int(sum(docs[i].size for i in np.flatnonzero(duplicate)))}

    if k["filter_corrupted"]:
        model = BigramModel.fit(val)
        scores = model.document_cross_entropy(_concat(docs), _boundaries(docs))
        drop = scores > k["filter_threshold_nats"]
        n_drop = int(drop.sum())
        labelled = q > 0 and k["corrupt_mode"] == "documents"
        true_pos = int((drop & corrupted).sum())
        effects["filter"] = {
            "score": "bigram cross-entropy (nats/byte) under the validation text",
            "threshold_nats": k["filter_threshold_nats"],
            "dropped_documents": n_drop,
            "dropped_bytes": int(sum(docs[i].size for i in np.flatnonzero(drop))),
            "precision": (true_pos / n_drop if n_drop else None) if labelled else None,
            "recall": (true_pos / int(corrupted.sum()) if corrupted.any() else None) if labelled else None,
        }
        keep = ~drop
        docs = [x for x, kp in zip(docs, keep) if kp]
        corrupted, duplicate = corrupted[keep], duplicate[keep]

    if k["deduplicate"]:
        seen: set[bytes] = set()
        keep = np.ones(len(docs), dtype=bool)
        for i, x in enumerate(docs):
            key = x.tobytes()
            if key in seen:
                keep[i] = False
            else:
                seen.add(key)
        removed = ~keep
        effects["deduplicate"] = {
            "removed_documents": int(removed.sum()),
            "removed_inserted_copies": int((removed & duplicate).sum()),
            "removed_natural_duplicates": int((removed & ~duplicate).sum()),
            "inserted_copies_left": int((keep & duplicate).sum()),
        }
        docs = [x for x, kp in zip(docs, keep) if kp]
        corrupted, duplicate = corrupted[keep], duplicate[keep]

    if k["shuffle_documents"]:  # a seeded random document order, so the pool below is a random sample
        order = np.random.default_rng([seed, _STREAM_SHUFFLE]).permutation(len(docs))
        docs = [docs[i] for i in order]
        corrupted, duplicate = corrupted[order], duplicate[order]

    U = k["unique_tokens"]
    if U is not None:
        total = sum(x.size for x in docs)
        if U > total:
            raise _bad(f"unique_tokens {U} exceeds the {total} training tokens available")
        b = _boundaries(docs)
        last = int(np.searchsorted(b, U, side="left"))  # documents [0, last) cover U bytes
        docs = docs[:last]
        docs[-1] = docs[-1][: U - int(b[last - 1])]
        corrupted, duplicate = corrupted[:last], duplicate[:last]
        effects["unique_tokens"] = {"documents": last, "cut_from": total}

    if not docs or sum(x.size for x in docs) == 0:
        raise _bad("no training text left after the knobs")
    return docs, corrupted, duplicate, effects


def load_corpus(
    spec: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    max_bytes: int | None = None,
    **knobs,
) -> Corpus:
    """Load ``"stdlib"``, ``"markov"`` or a file/directory path, split it, apply the training-text
    knobs (module docstring) and return a `Corpus` with its content hash."""
    if not isinstance(spec, str) or not spec:
        raise _bad("give 'stdlib', 'markov' or a path to a text file or directory")
    seed = _check_int("seed", seed, 0)
    val_fraction = _check_fraction("val_fraction", val_fraction, open_low=True, open_high=True)
    if max_bytes is not None:
        max_bytes = _check_int("max_bytes", max_bytes, 2)
    kind = _source_kind(spec)
    source_knobs, train_knobs = _validate_knobs(kind, knobs)

    docs, val, val_b, info, entropy, source_record = _load_source(spec, seed, val_fraction, max_bytes, source_knobs)
    docs = [d for d in docs if d.size > 0]
    if not docs:
        raise _bad(f"corpus {spec!r} has no training text")
    if val.size < 2:
        raise _bad(f"corpus {spec!r} has no validation text (val_fraction {val_fraction})")

    docs, corrupted, duplicate, effects = _apply_train_knobs(docs, val, train_knobs, seed)

    # What the hash and the record carry: the split, the source's knobs, the knobs turned on.
    record: dict[str, Any] = {"val_fraction": val_fraction, "max_bytes": max_bytes, **source_record}
    defaults = {name: default for name, (default, _) in _TRAIN_KNOBS.items()}
    active = {name: v for name, v in train_knobs.items() if v != defaults[name]}
    if not train_knobs["filter_corrupted"]:
        active.pop("filter_threshold_nats", None)
    if train_knobs["corrupt_fraction"] == 0:
        active.pop("corrupt_mode", None)
    record.update(active)
    random_knobs = (kind == "markov" or train_knobs["corrupt_fraction"] > 0 or train_knobs["duplicate_fraction"] > 0
                    or train_knobs["shuffle_documents"])
    if random_knobs:
        record["seed"] = seed
    name = spec if kind in ("stdlib", "markov") else Path(spec).name
    labelled = train_knobs["corrupt_fraction"] > 0 and train_knobs["corrupt_mode"] == "documents"
    return _make_corpus(
        name, docs, val, val_b, entropy, record, info, effects,
        corrupted if labelled else None,
        duplicate if train_knobs["duplicate_fraction"] > 0 else None,
    )


def unique_tokens_for(token_budget: float, epochs: float) -> int:
    """The pool U = D/R that a budget of D training tokens repeats R times (Muennighoff et al. 2023,
    REFERENCES §4: R_D = D/U_D − 1 repetitions beyond the first pass)."""
    if not (token_budget > 0 and epochs > 0):
        raise _bad(f"token_budget and epochs must be > 0, got {token_budget}, {epochs}")
    return int(round(token_budget / epochs))


# --------------------------------------------------------------------------------------------------
# Batches


class BatchSampler:
    """Training windows of ``context`` bytes with their next-byte targets.

    ``next()`` returns ``(x, y)``, both (batch, context) ``dtype`` arrays, y[:, t] = x[:, t+1] and
    y[:, -1] the byte after the window. The sequence depends only on the seed (a numpy Generator).

    ``order="random"`` (default): window starts uniform over every position. ``order="epoch"``: each
    pass cuts the text at a random offset into non-overlapping windows and visits them in a random
    order, so every target byte (but the ≤ context at the ends) is trained on once per pass, which
    is what the repetition experiments mean by an epoch. ``documents`` (offsets) with ``weights`` (one
    per document, ≥ 0) sample a document with probability ∝ weight × length, then a start inside it
    (random order only).
    """

    def __init__(
        self,
        tokens: np.ndarray,
        context: int,
        batch: int,
        seed: int,
        *,
        order: str = "random",
        documents: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        dtype=np.int64,
    ):
        self.tokens = np.asarray(tokens)
        if self.tokens.ndim != 1:
            raise InputError("tokens", "need a 1-d array of byte tokens")
        context, batch = int(context), int(batch)
        if context < 1 or batch < 1:
            raise InputError("context", f"context and batch must be ≥ 1, got {context}, {batch}")
        if self.tokens.size < context + 1:
            raise InputError("context", f"context {context} needs more than {self.tokens.size} tokens")
        if order not in ("random", "epoch"):
            raise InputError("order", f"order must be 'random' or 'epoch', got {order!r}")
        self.context, self.batch, self.order, self.dtype = context, batch, order, dtype
        self.rng = np.random.default_rng(seed)
        self.tokens_consumed = 0
        self._offsets = np.arange(context + 1, dtype=np.int64)
        self._last_start = self.tokens.size - context - 1  # inclusive
        self._doc_cdf = None
        if weights is not None:
            if documents is None or order != "random":
                raise InputError("weights", "weights need documents and order='random'")
            b = np.asarray(documents, dtype=np.int64)
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(b) - 1,) or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise InputError("weights", f"need {len(b) - 1} finite weights ≥ 0")
            mass = w * np.diff(b)
            if mass.sum() <= 0:
                raise InputError("weights", "all documents have zero weight")
            self._doc_bounds = b
            self._doc_cdf = np.cumsum(mass) / mass.sum()
        self._perm = np.zeros(0, dtype=np.int64)
        self._pos = 0

    def _starts(self) -> np.ndarray:
        if self.order == "epoch":
            out = np.empty(self.batch, dtype=np.int64)
            filled = 0
            while filled < self.batch:
                if self._pos >= self._perm.size:
                    offset = int(self.rng.integers(0, self.context))
                    if offset > self._last_start:
                        offset = 0
                    m = (self._last_start - offset) // self.context + 1
                    self._perm = offset + self.context * self.rng.permutation(m)
                    self._pos = 0
                take = min(self.batch - filled, self._perm.size - self._pos)
                out[filled : filled + take] = self._perm[self._pos : self._pos + take]
                filled += take
                self._pos += take
            return out
        if self._doc_cdf is not None:
            d = np.searchsorted(self._doc_cdf, self.rng.random(self.batch), side="right")
            d = np.minimum(d, len(self._doc_cdf) - 1)
            lo, hi = self._doc_bounds[d], self._doc_bounds[d + 1]
            s = lo + np.floor(self.rng.random(self.batch) * (hi - lo)).astype(np.int64)
            return np.minimum(s, self._last_start)
        return self.rng.integers(0, self._last_start + 1, size=self.batch)

    def next(self, out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The next (x, y); with ``out=(x, y)`` fills those arrays instead of allocating."""
        windows = self.tokens[self._starts()[:, None] + self._offsets]
        self.tokens_consumed += self.batch * self.context
        if out is None:
            return windows[:, :-1].astype(self.dtype), windows[:, 1:].astype(self.dtype)
        out[0][...] = windows[:, :-1]
        out[1][...] = windows[:, 1:]
        return out

    __next__ = next

    def __iter__(self):
        return self

    def epochs_seen(self, tokens_consumed: float | None = None) -> float:
        """Training tokens (targets) consumed over the text's length: passes over the data."""
        t = self.tokens_consumed if tokens_consumed is None else tokens_consumed
        return float(t) / self.tokens.size


def val_batches(tokens: np.ndarray, context: int, batch: int, max_batches: int, dtype=np.int64) -> list:
    """A fixed set of validation windows, the same for every run on this text (no randomness):
    K = min(max_batches·batch, the number of non-overlapping windows, rounded down to whole batches,
    but at least one batch) starts spread evenly over the text, so every batch has shape
    (batch, context) (windows overlap only when the text is shorter than one batch of them)."""
    x = np.asarray(tokens)
    context, batch, max_batches = int(context), int(batch), int(max_batches)
    if context < 1 or batch < 1 or max_batches < 1:
        raise InputError("context", f"context, batch and max_batches must be ≥ 1, got {context}, {batch}, {max_batches}")
    if x.size < context + 1:
        raise InputError("context", f"context {context} needs more than {x.size} validation tokens")
    last = x.size - context - 1
    n_windows = last // context + 1
    K = max(batch, min(max_batches * batch, (n_windows // batch) * batch))
    starts = np.round(np.linspace(0, last, K)).astype(np.int64)
    win = x[starts[:, None] + np.arange(context + 1)]
    return [
        (win[i : i + batch, :-1].astype(dtype), win[i : i + batch, 1:].astype(dtype)) for i in range(0, K, batch)
    ]
