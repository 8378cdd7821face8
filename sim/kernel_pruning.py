"""Kernel ridge regression trained on a selected subset: probe-scored pruning and label-noise filtering.

The task is the synthetic power-law eigenbasis task of sim/kernel.py (../shared/REFERENCES.md §6):
features φ_k(x) i.i.d. N(0, 1) for k = 1..M, kernel K(x, x') = Σ_k η_k φ_k(x) φ_k(x'), η_k ∝ k^(−b)
(trace 1), target f*(x) = Σ_k v_k φ_k(x) with v_k² ∝ k^(−a) (variance 1). The test error is exact,
E_g = Σ_k (ŵ_k − v_k)² with ŵ = η ⊙ (Φ_keptᵀ α), the excess error against the clean target under the
ORIGINAL input distribution, whatever subset was trained on.

Labels. Every example gets y = f*(x) + ε. A fraction ``corrupt_fraction`` (ρ) of examples, chosen at
random, is corrupted: ε ~ N(0, ``corrupt_variance``) (σ_c²; the default 2 is the variance of
"label replaced by an independent draw of the same variance", y − f* = ξ − f*); the rest carry
``noise`` (σ₀², default 0). The corruption is additive and independent of x, so for the (linear)
kernel predictor only its variance matters to the expected error: the spectral theory applies with
σ² = σ₀² + ρσ_c² (theory/data_filtering.py).

Selection. A probe, kernel ridge regression fitted on ``probe_size`` separate examples drawn the same
way (noisy labels included), scores each example of the scanned pool by its residual r = y − f̂_probe(x).
To train on P examples with keep fraction f the pool has P_tot = round(P/f) examples, and

    easy    keeps the P with the smallest |r| (label-noise filtering: corrupted labels fit badly),
    hard    keeps the P with the largest |r| (pruning to the examples the probe gets most wrong),
    random  keeps a random P (the control),
    oracle  keeps the clean examples first (a filter that knows which labels are corrupted).

f = 1 trains on the whole pool (no probe is fitted). The scale axis of a run is P, the examples
trained on; the pool scanned is larger by 1/f (recorded as P_tot).

Sizes. All sizes of a run share one pool: size j scans the first P_tot_j examples (nested pools), but
the kept sets are not nested, so each size has its own Gram matrix and Cholesky factor (solved with
sim.kernel.nested_ridge_solve at one size). Features are drawn in blocks of modes from numpy
Generators seeded by (seed, stream, block) and drawn again on each pass instead of being stored, so a
run's memory is O(P_tot × block) whatever M is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from sim.backend import Backend, get_backend
from sim.errors import InputError
from sim.kernel import nested_ridge_solve, power_law_task
from sim.provenance import run_metadata
from sim.registry import SimulatorSpec, register

SELECT_RULES = ("easy", "hard", "random", "oracle")
MODE_BLOCK = 1024  # modes per random-number block (part of the definition of a seed's draws)
# Random streams of a seed: (seed, stream[, block]).
_POOL, _PROBE, _POOL_LABELS, _PROBE_LABELS, _RANDOM_KEEP = 10, 11, 12, 13, 14
MAX_POOL = 200_000


@dataclass(frozen=True)
class KernelPruningConfig:
    """One seed of a learning curve trained on selected subsets (options of `simulate kernel-pruning`)."""

    spectrum_decay: float = 2.0  # b: η_k ∝ k^(−b)
    target_decay: float = 2.0  # a: target power ∝ k^(−a)
    modes: int = 8192  # M
    ridge: float = 0.03  # λ in (K + λI) α = y, for the probe and the student
    P: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)  # examples trained on (after selection)
    keep: float = 1.0  # f: the fraction of the scanned pool kept (P_tot = P/f)
    prune: str = "easy"  # easy | hard | random | oracle (see the module docstring)
    corrupt_fraction: float = 0.0  # ρ: fraction of examples with corrupted labels
    corrupt_variance: float = 2.0  # σ_c²: variance of the corruption added to f*
    noise: float = 0.0  # σ₀²: label-noise variance of the other examples
    probe_size: int = 64  # examples the probe is fitted on (a separate draw)
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> "KernelPruningConfig":
        power_law_task(self.spectrum_decay, self.target_decay, 1)
        if isinstance(self.modes, bool) or int(self.modes) != self.modes or self.modes < 1:
            raise InputError("modes", f"must be a whole number >= 1, got {self.modes!r}")
        if not (math.isfinite(self.ridge) and self.ridge > 0):
            raise InputError("ridge", f"must be a positive number (selected sets can repeat nothing, but the probe's noise needs it), got {self.ridge!r}")
        sizes = list(self.P)
        if not sizes or any(isinstance(p, bool) or int(p) != p or p < 1 for p in sizes):
            raise InputError("P", f"expected whole sample sizes >= 1, got {sizes!r}")
        if sorted(set(sizes)) != sizes:
            raise InputError("P", f"sample sizes must be distinct and increasing, got {sizes!r}")
        if not (math.isfinite(self.keep) and 0 < self.keep <= 1):
            raise InputError("keep", f"must lie in (0, 1], got {self.keep!r}")
        if self.prune not in SELECT_RULES:
            raise InputError("prune", f"must be one of {', '.join(SELECT_RULES)}, got {self.prune!r}")
        if not (math.isfinite(self.corrupt_fraction) and 0 <= self.corrupt_fraction < 1):
            raise InputError("corrupt_fraction", f"must lie in [0, 1), got {self.corrupt_fraction!r}")
        for name in ("corrupt_variance", "noise"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise InputError(name, f"must be a finite variance >= 0, got {v!r}")
        if isinstance(self.probe_size, bool) or int(self.probe_size) != self.probe_size or self.probe_size < 1:
            raise InputError("probe_size", f"must be a whole number >= 1, got {self.probe_size!r}")
        if self.pool_sizes()[-1] > MAX_POOL:
            raise InputError("keep", f"the largest pool, P/f = {self.pool_sizes()[-1]}, is more than this simulator scans ({MAX_POOL})")
        if self.device not in ("cpu", "gpu", "auto"):
            raise InputError("device", f"must be cpu, gpu or auto, got {self.device!r}")
        return self

    def pool_sizes(self) -> list[int]:
        """P_tot for each size: the examples scanned to keep P."""
        return [max(int(p), int(round(p / self.keep))) for p in self.P]


# --- data -------------------------------------------------------------------------------------------

def _blocks(seed: int, stream: int, n_rows: int, modes: int):
    """(start, Φ block) of an n_rows × modes N(0, 1) feature matrix, MODE_BLOCK columns at a time. Rows
    are filled in order, so the first rows do not depend on n_rows (nested pools)."""
    for j, start in enumerate(range(0, modes, MODE_BLOCK)):
        width = min(MODE_BLOCK, modes - start)
        yield start, np.random.default_rng([seed, stream, j]).standard_normal((n_rows, width))


def _label_noise(cfg: KernelPruningConfig, stream: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(noise ε, corrupted mask) for n examples: N(0, σ_c²) on a random ρ-fraction, N(0, σ₀²) elsewhere."""
    rng = np.random.default_rng([cfg.seed, stream])
    corrupted = rng.random(n) < cfg.corrupt_fraction
    z = rng.standard_normal(n)
    eps = np.where(corrupted, math.sqrt(cfg.corrupt_variance), math.sqrt(cfg.noise)) * z
    return eps, corrupted


def _accumulate_gram(G, B, backend: Backend):
    """G += B Bᵀ for the block B (rows = examples). On the CPU through BLAS dsyrk, which fills only the
    lower triangle (half the work of a product); the Cholesky factor in sim.kernel reads only that."""
    if backend.is_gpu:
        G += B @ B.T
        return G
    from scipy.linalg.blas import dsyrk

    return dsyrk(1.0, B.T, beta=1.0, c=G, trans=1, lower=1, overwrite_c=1)


def _fit(cfg, eta, v, seed_stream: int, n_rows: int, rows_per_size: list, labels_noise: np.ndarray,
         backend: Backend):
    """Kernel ridge regression on row subsets of one feature draw, one subset per size.

    Returns (Ŵ (modes, n_sizes): the learned mode coefficients η ⊙ Φ_Sᵀ α for each subset S,
    clean labels Φ v of all n_rows rows)."""
    xp = backend.xp
    modes = len(eta)
    sqrt_eta = np.sqrt(eta)
    grams = [xp.zeros((len(r), len(r))) if backend.is_gpu else np.zeros((len(r), len(r)), order="F")
             for r in rows_per_size]
    clean = np.zeros(n_rows)
    for start, phi in _blocks(cfg.seed, seed_stream, n_rows, modes):
        stop = start + phi.shape[1]
        clean += phi @ v[start:stop]
        B = xp.asarray(phi * sqrt_eta[start:stop])
        for j, rows in enumerate(rows_per_size):
            grams[j] = _accumulate_gram(grams[j], B[xp.asarray(rows)], backend)
    y = clean + labels_noise
    alphas = []
    for g, rows in zip(grams, rows_per_size):
        yk = xp.asarray(y[rows])[:, None]
        A = nested_ridge_solve(g, yk, np.array([len(rows)]), cfg.ridge, backend)  # (n, 1, 1)
        alphas.append(A[:, 0, 0])
    W = np.zeros((modes, len(rows_per_size)))
    for start, phi in _blocks(cfg.seed, seed_stream, n_rows, modes):
        stop = start + phi.shape[1]
        P = xp.asarray(phi)
        for j, (rows, a) in enumerate(zip(rows_per_size, alphas)):
            W[start:stop, j] = eta[start:stop] * backend.to_host(P[xp.asarray(rows)].T @ a)
    return W, clean


def select_rows(cfg: KernelPruningConfig, score: np.ndarray | None, corrupted: np.ndarray, P: int, P_tot: int,
                rng: np.random.Generator) -> np.ndarray:
    """The rows (sorted) of the first P_tot pool examples kept for training P examples."""
    if P == P_tot:
        return np.arange(P_tot)
    if cfg.prune == "random":
        return np.sort(rng.permutation(P_tot)[:P])
    if cfg.prune == "oracle":
        # clean examples first (in pool order), then corrupted ones if the clean ones are too few
        order = np.concatenate([np.flatnonzero(~corrupted[:P_tot]), np.flatnonzero(corrupted[:P_tot])])
        return np.sort(order[:P])
    s = np.abs(score[:P_tot])
    if cfg.prune == "easy":
        kept = np.argpartition(s, P - 1)[:P]
    else:  # hard
        kept = np.argpartition(-s, P - 1)[:P]
    return np.sort(kept)


@dataclass
class PruningCurve:
    P: list
    P_tot: list
    test_error: list
    kept_corrupt_fraction: list
    pool_corrupt_fraction: list
    probe_error: float | None
    device: str


def simulate(config: KernelPruningConfig, backend: Backend | None = None) -> PruningCurve:
    """One seed: draw the pool and the probe's data, score, select, train at every size, measure E_g."""
    cfg = config.validate()
    backend = backend or get_backend(cfg.device)
    eta, v = power_law_task(cfg.spectrum_decay, cfg.target_decay, cfg.modes)
    sizes = [int(p) for p in cfg.P]
    pools = cfg.pool_sizes()
    n_pool = pools[-1]
    pool_eps, corrupted = _label_noise(cfg, _POOL_LABELS, n_pool)
    needs_probe = cfg.prune in ("easy", "hard") and any(p < t for p, t in zip(sizes, pools))

    score = None
    probe_error = None
    if needs_probe:
        probe_eps, _ = _label_noise(cfg, _PROBE_LABELS, cfg.probe_size)
        W_probe, _ = _fit(cfg, eta, v, _PROBE, cfg.probe_size, [np.arange(cfg.probe_size)], probe_eps, backend)
        w_p = W_probe[:, 0]
        probe_error = float(np.sum((w_p - v) ** 2))
        # residual r = y − f̂_probe(x) = Φ (v − ŵ_p) + ε over the whole pool
        r = np.zeros(n_pool)
        for start, phi in _blocks(cfg.seed, _POOL, n_pool, cfg.modes):
            stop = start + phi.shape[1]
            r += phi @ (v[start:stop] - w_p[start:stop])
        score = r + pool_eps

    rng = np.random.default_rng([cfg.seed, _RANDOM_KEEP])
    rows = [select_rows(cfg, score, corrupted, P, T, rng) for P, T in zip(sizes, pools)]
    W, _ = _fit(cfg, eta, v, _POOL, n_pool, rows, pool_eps, backend)
    errors = np.sum((W - v[:, None]) ** 2, axis=0)
    return PruningCurve(
        P=sizes, P_tot=pools, test_error=[float(e) for e in errors],
        kept_corrupt_fraction=[float(corrupted[r].mean()) for r in rows],
        pool_corrupt_fraction=[float(corrupted[:T].mean()) for T in pools],
        probe_error=probe_error, device=backend.description,
    )


def run(config: KernelPruningConfig) -> dict:
    """One seed (the sweep contract)."""
    curve = simulate(config)
    cfg = {k: (list(val) if isinstance(val, tuple) else val) for k, val in asdict(config).items()}
    return {**asdict(curve), "provenance": run_metadata(config.seed, cfg, curve.device)}


def learning_curve(config: KernelPruningConfig, seeds: int = 5,
                   on_seed: Callable[[int], None] | None = None) -> dict:
    """Mean and standard error of E_g over ``seeds`` seeds (config.seed, config.seed + 1, ...)."""
    if seeds < 1:
        raise InputError("seeds", f"must be at least 1, got {seeds}")
    import dataclasses

    curves = []
    for s in range(seeds):
        curves.append(simulate(dataclasses.replace(config, seed=config.seed + s)))
        if on_seed:
            on_seed(s)
    err = np.array([c.test_error for c in curves])
    kept = np.array([c.kept_corrupt_fraction for c in curves])
    sem = err.std(axis=0, ddof=1) / math.sqrt(seeds) if seeds > 1 else np.full(err.shape[1], float("nan"))
    probe = [c.probe_error for c in curves if c.probe_error is not None]
    return {
        "P": curves[0].P, "P_tot": curves[0].P_tot, "test_error": err.mean(axis=0).tolist(),
        "test_error_sem": sem.tolist(), "kept_corrupt_fraction": kept.mean(axis=0).tolist(),
        "probe_error": float(np.mean(probe)) if probe else None, "seeds": seeds, "device": curves[0].device,
    }


SIMULATOR = SimulatorSpec(
    name="kernel-pruning",
    config_type=KernelPruningConfig,
    run=run,
    description="Kernel ridge regression on a subset selected by a probe's residuals (pruning, label-noise filtering) on the synthetic power-law task.",
)

register("kernel-pruning", "sim.kernel_pruning:SIMULATOR")

__all__ = ["KernelPruningConfig", "PruningCurve", "SELECT_RULES", "SIMULATOR", "learning_curve", "run", "select_rows", "simulate"]
