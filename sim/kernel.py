"""Kernel ridge regression learning curves E_g(P), simulated: synthetic eigenbasis tasks and real inputs.

Conventions (shared with theory/spectral.py; ../shared/REFERENCES.md §6, and the official code
Pehlevan-Group/kernel-generalization, whose simulator solves (K + λI) α = y with the unnormalised
Gram matrix K):

- Kernel K(x, x') = Σ_k η_k φ_k(x) φ_k(x') with E_x[φ_k φ_l] = δ_kl.
- Ridge: the predictor is f̂(x) = k(x)ᵀ (K + λ I)⁻¹ y with K the P×P Gram matrix, NOT (K + PλI):
  this is the λ of κ = λ + κ Σ_k η_k / (P η_k + κ).
- Target f*(x) = Σ_k v_k φ_k(x); "target power" in mode k is v_k² (= η_k w̄_k² in BCP's notation).
  Training labels y = f*(x) + ε with ε ~ N(0, σ²); σ² is ``noise``.
- Test error E_g = E_x[(f̂(x) - f*(x))²]: the excess error against the clean target (the test labels'
  own σ² is not included), exactly as in the theory.

Synthetic tasks (``synthetic_learning_curve``): features φ_k(x_μ) are i.i.d. N(0, 1) for a finite
number of modes M, so K = Φ diag(η) Φᵀ and the test error is exact, with no test set:
E_g = Σ_k (η_k (Φᵀα)_k - v_k)². Power laws (``power_law_task``): η_k = k^(-b) / Σ_j j^(-b) (trace 1)
and v_k² = k^(-a) / Σ_j j^(-a) (target variance 1), k = 1..M. A truncated infinite spectrum
(``infinite_power_law_task``, ``spectrum = "infinite"``): η_k = k^(-b)/ζ(b), v_k² = k^(-a)/ζ(a) for all
k ≥ 1, the first M modes explicit and the tail k > M as an extra ridge Σ_{k>M} η_k and extra,
never-learned label noise Σ_{k>M} v_k² (its mean-field limit; the error is O(P η_{M+1}/κ)).

Real inputs (``pool_learning_curve``): the population is a finite pool of N points (the digits data
set, or a large sample of Gaussian inputs) with the uniform distribution; training sets are drawn
i.i.d. from it (with replacement, as the theory assumes) and E_g is the mean squared error over the
whole pool. The theory's spectrum is then exactly the eigendecomposition of K_pool / N.

Speed: per seed, one Gram matrix at the largest P and one float64 Cholesky factor L. The factor of
K[:p, :p] + λI is the leading block L[:p, :p], so every nested size is solved from L: one forward
substitution (nested by construction) and one backward substitution over all sizes' right-hand
sides, zero-padded below row p (the padding solves to zero, leaving exactly the leading block's
solution) and blocked by the sizes so that the zeros cost nothing (`nested_ridge_solve`). On a pool,
the predictions for every size come from one product over the distinct draws. Seeds run side by
side on threads, one BLAS thread each (`seed_workers`). Measured on digits (P = 2000, 12 sizes, 10
outputs, one core): ~90 ms a seed, of which the Cholesky factor is ~55 ms (LAPACK dpotrf at ~50
GFLOP/s, near the core's float64 GEMM peak): the remaining cost is the float64 factor itself. Random
numbers come from numpy on the host (the same draws on CPU and GPU), seeded per seed, per mode chunk,
so each seed's numbers do not depend on how many seeds run beside it or on how many threads run them.

Measured and rejected (digits, P = 2000, 12 sizes, 10 outputs, one core; benchmarks/bench_kernel.py):
- float32 Cholesky as a preconditioner with float64 iterative refinement of all 120 nested systems:
  the float32 factor costs ~27 ms against ~60 ms, but each refinement step (a float64 residual
  product K·A plus two float32 triangular solves over 120 right-hand sides) costs ~30 ms and two
  steps are needed for float64 quality (relative error 3e-8 after one, 7e-12 after two): ~100 ms
  against ~75 ms for the float64 path.
- predictions as prefix sums of rows of V = L⁻¹ K[idx, pool] (one forward solve serves every size):
  that solve has N = 1,797 right-hand sides, P²N ≈ 7e9 multiply-adds, 2.7× the Cholesky itself;
  the blocked backward solve over sizes × outputs = 120 right-hand sides costs ~2.3·P²·10 ≈ 1e8.
- one big batched LAPACK call for all seeds (numpy's stacked cholesky): numpy's OpenBLAS dpotrf ran
  ~15% slower than scipy's on one core, and a stack serialises the seeds; threads over seeds with
  scipy's (GIL-free) LAPACK calls use both cores instead.
- the kernel's pool spectrum is not low-rank at float64 precision (digits, RBF ℓ = 6: the eigenvalues
  beyond the 1,000th still sum to 0.05 against the ridge 0.1), so no truncation is exact.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from sim.backend import Backend, get_backend
from sim.errors import InputError
from sim.kernel_functions import KERNELS, check_kernel_args, kernel_matrix
from sim.provenance import run_metadata
from sim.registry import SimulatorSpec

MODE_CHUNK = 1024  # modes drawn per random-number block (part of the definition of a seed's draws)
DATASETS = ("synthetic", "digits", "gaussian")
_STORE_FEATURES_BYTES = 64 * 2**20  # keep a seed's features in memory below this, else redraw them


# --- Tasks -------------------------------------------------------------------------------------------

def power_law_task(spectrum_decay: float, target_decay: float, modes: int) -> tuple[np.ndarray, np.ndarray]:
    """(η, v): η_k = k^(-b)/Σ k^(-b) (trace 1), v_k = sqrt(k^(-a)/Σ k^(-a)) (target variance 1)."""
    if not (math.isfinite(spectrum_decay) and spectrum_decay > 0):
        raise InputError("spectrum_decay", f"must be a positive number, got {spectrum_decay!r}")
    if not math.isfinite(target_decay):
        raise InputError("target_decay", f"must be a finite number, got {target_decay!r}")
    if int(modes) != modes or modes < 1:
        raise InputError("modes", f"must be a whole number >= 1, got {modes!r}")
    k = np.arange(1, int(modes) + 1, dtype=np.float64)
    # log space: k^(-b) for b up to ~100 and k up to 1e7 would underflow term by term otherwise
    log_eta = -spectrum_decay * np.log(k)
    eta = np.exp(log_eta - log_eta.max())
    eta /= eta.sum()
    log_pow = -target_decay * np.log(k)
    power = np.exp(log_pow - log_pow.max())
    power /= power.sum()
    return eta, np.sqrt(power)


SPECTRA = ("finite", "infinite")


def infinite_power_law_task(spectrum_decay: float, target_decay: float, modes: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The infinite power law η_k = k^(-b)/ζ(b), v_k² = k^(-a)/ζ(a) (k = 1, 2, ...; trace 1, target
    variance 1; b > 1, a > 1) cut after M = ``modes`` explicit modes: (η, v) for k ≤ M and the tail's
    trace T_η = Σ_{k>M} η_k = ζ(b, M+1)/ζ(b) and target power T_v = Σ_{k>M} v_k² = ζ(a, M+1)/ζ(a)
    (Hurwitz zeta).

    How the simulator uses the tail (`synthetic_learning_curve`): on P training points the tail's
    kernel Σ_{k>M} η_k φ_k(x_μ) φ_k(x_ν) has mean T_η·I, and its target Σ_{k>M} v_k φ_k(x_μ) is, with
    Gaussian features, independent of the explicit modes with variance T_v. Replacing the tail kernel
    by its mean makes the tail an extra ridge T_η and its target extra label noise T_v that the
    predictor never learns (it adds T_v to the test error). What that neglects is the tail's own
    learning and fluctuation, O(p η_{M+1}/κ) relative: theory/spectral.py `truncation_error` measures it
    (M = 10^4 at P = 4096: 0.2-3% for b = 2.5-1.5; it vanishes as M grows, see the tests).
    """
    import scipy.special

    if not (math.isfinite(spectrum_decay) and spectrum_decay > 1):
        raise InputError("spectrum_decay", f"an infinite spectrum needs b > 1 (finite trace), got {spectrum_decay!r}")
    if not (math.isfinite(target_decay) and target_decay > 1):
        raise InputError("target_decay", f"an infinite spectrum needs a > 1 (finite target variance), got {target_decay!r}")
    if int(modes) != modes or modes < 1:
        raise InputError("modes", f"must be a whole number >= 1, got {modes!r}")
    b, a = float(spectrum_decay), float(target_decay)
    zb, za = float(scipy.special.zeta(b)), float(scipy.special.zeta(a))
    k = np.arange(1, int(modes) + 1, dtype=np.float64)
    eta = np.exp(-b * np.log(k)) / zb
    v = np.sqrt(np.exp(-a * np.log(k)) / za)
    tail_eta = float(scipy.special.zeta(b, int(modes) + 1)) / zb
    tail_power = float(scipy.special.zeta(a, int(modes) + 1)) / za
    return eta, v, tail_eta, tail_power


# --- Results -------------------------------------------------------------------------------------------

@dataclass
class LearningCurve:
    """Test errors per seed and sample size; NaN where a seed did not run that size (seed tiers)."""

    P: np.ndarray  # (n,) sample sizes, increasing
    errors: np.ndarray  # (seeds, n)
    seeds: np.ndarray  # (seeds,) the seed of each row
    device: str

    @property
    def n_seeds(self) -> np.ndarray:
        return np.sum(np.isfinite(self.errors), axis=0)

    @property
    def mean(self) -> np.ndarray:
        return np.nanmean(self.errors, axis=0)

    @property
    def sem(self) -> np.ndarray:
        """Standard error of the mean over seeds (0 with one seed)."""
        n = self.n_seeds
        sd = np.array([np.nanstd(self.errors[:, j], ddof=1) if n[j] > 1 else 0.0 for j in range(len(n))])
        return sd / np.sqrt(np.maximum(n, 1))

    def as_dict(self) -> dict:
        return {
            "P": [int(p) for p in self.P],
            "test_error": self.mean.tolist(),
            "test_error_sem": self.sem.tolist(),
            "n_seeds": self.n_seeds.tolist(),
            "device": self.device,
        }


def _check_sizes(P: Sequence[int]) -> np.ndarray:
    sizes = np.asarray(sorted(set(int(p) for p in P)), dtype=np.int64)
    if len(sizes) == 0 or sizes[0] < 1 or any(int(p) != p for p in P):
        raise InputError("P", f"expected whole sample sizes >= 1, got {list(P)!r}")
    return sizes


def _seed_tiers(sizes: np.ndarray, seeds) -> np.ndarray:
    """Seeds per sample size: one int for all, or one count per size (more seeds at small P is cheap)."""
    if np.ndim(seeds) == 0:
        counts = np.full(len(sizes), int(seeds))
    else:
        counts = np.asarray(seeds, dtype=np.int64)
        if counts.shape != sizes.shape:
            raise InputError("seeds", f"expected one seed count per sample size ({len(sizes)}), got {len(counts)}")
    if np.any(counts < 1):
        raise InputError("seeds", f"must be at least 1, got {counts.min()}")
    return counts


# --- Linear algebra on the backend ----------------------------------------------------------------

def _linalg(backend: Backend):
    if backend.is_gpu:
        import cupy
        import cupyx.scipy.linalg as cla

        return cupy.linalg.cholesky, lambda a, b, lower, trans=0: cla.solve_triangular(a, b, lower=lower, trans=trans)
    import scipy.linalg as sla

    def cholesky(a):
        return sla.cholesky(a, lower=True, overwrite_a=True, check_finite=False)

    return cholesky, lambda a, b, lower, trans=0: sla.solve_triangular(a, b, lower=lower, trans=trans, check_finite=False)


def nested_ridge_solve(K, y, sizes: np.ndarray, ridge: float, backend: Backend):
    """α for every nested size from one Cholesky factor. K (P, P) is overwritten; y (P, C).

    Returns A with shape (P, len(sizes), C): A[:p, j] solves (K[:p, :p] + λI) α = y[:p] for p = sizes[j],
    A[p:, j] = 0. Raises InputError when K + λI is not positive definite in floating point.
    """
    xp = backend.xp
    cholesky, solve_triangular = _linalg(backend)
    n_total = K.shape[0]
    idx = xp.arange(n_total)
    K[idx, idx] += ridge
    try:
        L = cholesky(K)
    except np.linalg.LinAlgError:
        L = None
    if L is None or not bool(xp.all(xp.isfinite(xp.diag(L)))):
        raise InputError("ridge", f"the kernel matrix at P = {n_total} is singular in floating point; use a positive ridge (or more modes)")
    z = solve_triangular(L, y, lower=True)  # forward substitution is nested: z[:p] is the p-block's
    C = y.shape[1]
    m = len(sizes)
    A = xp.zeros((n_total, m, C))
    for j, p in enumerate(sizes):
        A[:p, j] = z[:p]
    # Backward substitution L[:p, :p]ᵀ α = z[:p] for every size at once, blocked by the sizes: right-hand
    # side j is zero below p_j and so is its solution, so row block (p_{b-1}, p_b] involves only the
    # columns of sizes ≥ p_b. Bottom block first: solve with its diagonal block of Lᵀ, then remove its
    # part from the rows above (one product). For 12 evenly spaced sizes this is ~2.3 n²·C
    # multiply-adds against 6 n²·C for one solve over all 12·C zero-padded columns.
    X = A.reshape(n_total, m * C)
    bounds = [0] + [int(p) for p in sizes]
    for b in range(m, 0, -1):
        lo, hi = bounds[b - 1], bounds[b]
        cols = slice((b - 1) * C, m * C)
        Xb = solve_triangular(L[lo:hi, lo:hi], X[lo:hi, cols], lower=True, trans=1)  # Lᵀ x = rhs, no transposed copy
        X[lo:hi, cols] = Xb
        if lo > 0:
            X[:lo, cols] -= L[lo:hi, :lo].T @ Xb
    return A


# --- Synthetic eigenbasis tasks ---------------------------------------------------------------------

def _feature_chunks(seed: int, n_rows: int, modes: int):
    """Φ (n_rows × modes), i.i.d. N(0, 1), in blocks of MODE_CHUNK columns; the first rows do not depend
    on n_rows (numpy fills row by row), so a seed's first p samples are the same at any P."""
    for j, start in enumerate(range(0, modes, MODE_CHUNK)):
        width = min(MODE_CHUNK, modes - start)
        yield start, np.random.default_rng([seed, 0, j]).standard_normal((n_rows, width))


def synthetic_errors_one_seed(eta: np.ndarray, v: np.ndarray, sizes: np.ndarray, *, ridge: float,
                              noise: float, seed: int, backend: Backend) -> np.ndarray:
    """E_g at each nested size for one seed of the synthetic task (host numpy array, float64)."""
    xp = backend.xp
    modes = len(eta)
    n_total = int(sizes[-1])
    sqrt_eta = np.sqrt(eta)
    store = n_total * modes * 8 <= _STORE_FEATURES_BYTES
    kept = []
    # Pass 1: K = Σ_chunks (Φ_c √η_c)(Φ_c √η_c)ᵀ and the clean labels Φ v.
    if backend.is_gpu:
        K = xp.zeros((n_total, n_total))
    else:
        from scipy.linalg.blas import dsyrk

        K = np.zeros((n_total, n_total), order="F")  # dsyrk accumulates in place into the lower triangle
    y = xp.zeros((n_total, 1))
    for start, phi in _feature_chunks(seed, n_total, modes):
        stop = start + phi.shape[1]
        if store:
            kept.append(phi)
        B = phi * sqrt_eta[start:stop]
        if backend.is_gpu:
            Bd = xp.asarray(B)
            K += Bd @ Bd.T
            y[:, 0] += xp.asarray(phi) @ xp.asarray(v[start:stop])
        else:
            K = dsyrk(1.0, B.T, beta=1.0, c=K, trans=1, lower=1, overwrite_c=1)
            y[:, 0] += phi @ v[start:stop]
    if noise > 0:
        eps = np.random.default_rng([seed, 1]).standard_normal(n_total)
        y[:, 0] += xp.asarray(math.sqrt(noise) * eps)
    A = nested_ridge_solve(K, y, sizes, ridge, backend)[:, :, 0]  # (n_total, n_sizes)
    del K
    # Pass 2: ŵ = η ⊙ (Φᵀ α) per size; E_g = Σ_k (ŵ_k - v_k)² (orthonormal modes: exact).
    err = xp.zeros(len(sizes))
    chunks = zip(range(0, modes, MODE_CHUNK), kept) if store else _feature_chunks(seed, n_total, modes)
    for start, phi in chunks:
        stop = start + phi.shape[1]
        w_hat = xp.asarray(eta[start:stop, None]) * (xp.asarray(phi).T @ A)
        err += xp.sum((w_hat - xp.asarray(v[start:stop, None])) ** 2, axis=0)
    return backend.to_host(err).astype(np.float64)


def synthetic_learning_curve(eta, v, P: Sequence[int], *, ridge: float = 0.0, noise: float = 0.0, seeds=10,
                             seed: int = 0, device: str = "cpu", backend: Backend | None = None,
                             on_seed: Callable[[int], None] | None = None, workers: int | None = None,
                             tail_eta: float = 0.0, tail_power: float = 0.0) -> LearningCurve:
    """Learning curve of kernel ridge regression on the synthetic task (η, v) at the sample sizes P.

    ``seeds``: how many seeds (seed, seed+1, ...), or one count per size (sorted P). ``on_seed`` is
    called after each seed (progress bars). ``workers``: seeds run side by side on this many threads
    (CPU; None: `seed_workers`); the numbers do not depend on it. ``tail_eta``, ``tail_power``: the trace
    and target power of modes beyond the explicit ones (a truncated infinite spectrum,
    `infinite_power_law_task`): simulated as an extra ridge and extra label noise, plus the tail's
    unlearned power in the test error.
    """
    eta = np.asarray(eta, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if eta.ndim != 1 or v.shape != eta.shape:
        raise InputError("target", f"expected one target coefficient per mode ({eta.shape}), got {v.shape}")
    if np.any(eta < 0) or not np.all(np.isfinite(eta)):
        raise InputError("spectrum", "eigenvalues must be finite and non-negative")
    _check_ridge_noise(ridge, noise)
    if not (math.isfinite(tail_eta) and tail_eta >= 0 and math.isfinite(tail_power) and tail_power >= 0):
        raise InputError("spectrum", f"tail trace and power must be finite and >= 0, got {tail_eta!r}, {tail_power!r}")
    sizes = _check_sizes(P)
    counts = _seed_tiers(sizes, seeds)
    backend = backend or get_backend(device)
    n_rows = int(counts.max())

    def one_seed(s: int) -> np.ndarray:  # tiers: later seeds run only the smaller sizes
        # the tail: its mean kernel T_η·I joins the ridge, its target joins the label noise (the
        # same unit normals, scaled by sqrt(σ² + T_v)), and it is never learned (+ T_v)
        return synthetic_errors_one_seed(eta, v, sizes[counts > s], ridge=ridge + tail_eta, noise=noise + tail_power,
                                         seed=seed + s, backend=backend) + tail_power

    errors = _run_seeds(one_seed, sizes, counts, backend, workers, on_seed)
    return LearningCurve(sizes, errors, np.arange(seed, seed + n_rows), backend.name)


def seed_workers(n_seeds: int, backend: Backend) -> int:
    """Threads for running seeds in parallel: as many as BLAS would use (one BLAS thread each), on CPU.

    Measured (../shared/PERF_NOTES.md, Kernel ridge regression; benchmarks/bench_kernel.py): on 2 cores
    two seeds side by side, each factoring on one core, beat one seed at a time on two BLAS threads
    (LAPACK's potrf and the triangular solves scale poorly from one to two threads at P ≈ 2000, and
    the gathers and Python steps between them run on one core anyway)."""
    if backend.is_gpu or n_seeds <= 1:
        return 1
    from threadpoolctl import threadpool_info

    threads = max([int(info.get("num_threads") or 1) for info in threadpool_info() if info.get("user_api") == "blas"]
                  or [1])
    return max(1, min(n_seeds, threads))


def _run_seeds(one_seed: Callable[[int], np.ndarray], sizes: np.ndarray, counts: np.ndarray, backend: Backend,
               workers: int | None, on_seed: Callable[[int], None] | None) -> np.ndarray:
    """errors (seeds, sizes): one_seed(s) for every seed row, serially or on a thread pool.

    Each seed draws its own numbers from its own generator, so the rows are the same whatever the
    number of workers. LAPACK, BLAS, numpy's gathers and the random draws release the GIL, so the
    threads run in parallel; BLAS is held to one thread per worker (../shared/PERF_NOTES.md, Threads)."""
    n_rows = int(counts.max())
    errors = np.full((n_rows, len(sizes)), np.nan)
    workers = seed_workers(n_rows, backend) if workers is None else max(1, int(workers))
    if backend.is_gpu:
        for s in range(n_rows):
            row = one_seed(s)
            errors[s, : len(row)] = row
            if on_seed:
                on_seed(s)
        return errors
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    # one BLAS thread per seed even when seeds run one at a time: the summation order inside BLAS
    # depends on its thread count, so this keeps a seed's numbers bit-identical however many run
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=min(workers, n_rows)) as pool:
        futures = [pool.submit(one_seed, s) for s in range(n_rows)]
        for s, fut in enumerate(futures):  # in seed order, so progress and errors are reported in order
            row = fut.result()
            errors[s, : len(row)] = row
            if on_seed:
                on_seed(s)
    return errors


def _check_ridge_noise(ridge: float, noise: float) -> None:
    if not (math.isfinite(ridge) and ridge >= 0):
        raise InputError("ridge", f"must be a finite number >= 0, got {ridge!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise InputError("noise", f"must be a finite variance >= 0, got {noise!r}")


# --- Real inputs: a finite pool as the population --------------------------------------------------

def load_dataset(name: str, *, pool: int = 4000, input_dim: int = 16, data_seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) of a built-in population.

    - ``digits``: scikit-learn's 1,797 8×8 digits (shipped, no download); pixels / 16 so inputs lie in
      [0, 1]^64; Y one-hot over the 10 classes (10 outputs, target variance 1).
    - ``gaussian``: ``pool`` inputs x ~ N(0, I_d) drawn with ``data_seed``; one output,
      y = tanh(2 w·x / sqrt(d)) with w ~ N(0, I_d) from the same seed (a single-index target).
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        X = digits.data.astype(np.float64) / 16.0
        Y = np.eye(10)[digits.target]
        return X, Y
    if name == "gaussian":
        if pool < 2 or input_dim < 1:
            raise InputError("pool", f"need pool >= 2 and input_dim >= 1, got {pool}, {input_dim}")
        rng = np.random.default_rng(data_seed)
        X = rng.standard_normal((int(pool), int(input_dim)))
        w = rng.standard_normal(int(input_dim))
        return X, np.tanh(2.0 * X @ w / math.sqrt(input_dim))[:, None]
    raise InputError("data", f"must be one of {', '.join(d for d in DATASETS if d != 'synthetic')} for real inputs, got {name!r}")


def _sum_repeated_rows(xp, idx, A):
    """(u, B): the distinct draws u (sorted) and B = the rows of A summed per distinct draw (B[r] =
    Σ_{i: idx[i] = u[r]} A[i]), so that K_pool[:, idx] A = K_pool[:, u] B. Sorted segments and one
    reduceat (numpy's add.at is ~5x slower here); a scatter-add on CuPy."""
    if xp is np:
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
        return sorted_idx[starts], np.add.reduceat(A[order], starts, axis=0)
    import cupyx

    u, inverse = xp.unique(idx, return_inverse=True)
    B = xp.zeros((len(u), A.shape[1]))
    cupyx.scatter_add(B, inverse, A)
    return u, B


def pool_errors_one_seed(K_pool, Y_pool, sizes: np.ndarray, *, ridge: float, seed: int, backend: Backend) -> np.ndarray:
    """E_g at each nested size for one seed: train on P i.i.d. draws from the pool, test on the pool.

    The Gram matrix of the draws idx is K_pool[idx][:, idx] (two gathers). Predictions on the pool are
    K_pool[:, idx] α for every size and output at once; repeated draws share a column of K_pool, so
    their coefficients are summed first and the product runs over the distinct draws only (at
    P = 2000 from the 1,797 digits about 1,200 are distinct: 40% fewer multiply-adds).
    """
    xp = backend.xp
    n_pool = K_pool.shape[0]
    n_total = int(sizes[-1])
    idx = np.random.default_rng([seed, 2]).integers(0, n_pool, size=n_total)
    idx_d = xp.asarray(idx)
    # K_pool[idx][:, idx] is symmetric, so the transpose view of the C-ordered gather is the
    # Fortran-ordered matrix LAPACK factors in place (no second copy)
    K = xp.take(xp.take(K_pool, idx_d, axis=0), idx_d, axis=1).T
    A = nested_ridge_solve(K, Y_pool[idx_d], sizes, ridge, backend)  # (n_total, n_sizes, C)
    del K
    C = Y_pool.shape[1]
    u, B = _sum_repeated_rows(xp, idx_d, A.reshape(n_total, -1))
    # K_pool[:, u] = K_pool[u]ᵀ (symmetric): a gather of whole rows, and BLAS takes the transpose as is
    F = xp.take(K_pool, u, axis=0).T @ B  # predictions on the pool, every size and output in one product
    F = F.reshape(n_pool, len(sizes), C)
    err = xp.sum((F - Y_pool[:, None, :]) ** 2, axis=(0, 2)) / n_pool
    return backend.to_host(err).astype(np.float64)


def pool_learning_curve(K_pool, Y_pool, P: Sequence[int], *, ridge: float, seeds=10, seed: int = 0,
                        device: str = "cpu", backend: Backend | None = None,
                        on_seed: Callable[[int], None] | None = None, workers: int | None = None) -> LearningCurve:
    """Learning curve on a finite population with kernel matrix K_pool (N, N) and targets Y_pool (N,[C]).

    ``workers``: seeds run in parallel on this many threads with one BLAS thread each (CPU; None: as
    many as BLAS would use, see `seed_workers`); the numbers do not depend on it."""
    _check_ridge_noise(ridge, 0.0)
    sizes = _check_sizes(P)
    counts = _seed_tiers(sizes, seeds)
    backend = backend or get_backend(device)
    xp = backend.xp
    K_pool = xp.asarray(K_pool, dtype=xp.float64)
    Y_pool = xp.asarray(Y_pool, dtype=xp.float64)
    if Y_pool.ndim == 1:
        Y_pool = Y_pool[:, None]
    if K_pool.shape[0] != K_pool.shape[1] or Y_pool.shape[0] != K_pool.shape[0]:
        raise InputError("pool", f"kernel {K_pool.shape} and targets {Y_pool.shape} do not match")
    if ridge == 0:
        raise InputError("ridge", "sampling with replacement repeats points, so K is singular at ridge 0; use a positive ridge")
    n_rows = int(counts.max())

    def one_seed(s: int) -> np.ndarray:
        return pool_errors_one_seed(K_pool, Y_pool, sizes[counts > s], ridge=ridge, seed=seed + s, backend=backend)

    errors = _run_seeds(one_seed, sizes, counts, backend, workers, on_seed)
    return LearningCurve(sizes, errors, np.arange(seed, seed + n_rows), backend.name)


def default_lengthscale(name: str, input_dim: int = 16) -> float:
    """ℓ when none is given: about twice the median pairwise distance of the population.

    digits (pixels/16): median distance 3.07 -> ℓ = 6; gaussian: |x - x'|² ≈ 2d -> ℓ = 2 sqrt(2d)."""
    return 6.0 if name == "digits" else 2.0 * math.sqrt(2.0 * input_dim)


def dataset_kernel(name: str, *, kernel: str = "rbf", lengthscale: float = 0.0, depth: int = 1, pool: int = 4000,
                   input_dim: int = 16, backend: Backend | None = None):
    """(K_pool, Y_pool) on the backend for a built-in population and kernel (ℓ = 0: the default)."""
    if lengthscale == 0:
        lengthscale = default_lengthscale(name, input_dim)
    check_kernel_args(kernel, lengthscale, depth)
    X, Y = load_dataset(name, pool=pool, input_dim=input_dim)
    backend = backend or get_backend("cpu")
    K = kernel_matrix(X, kernel=kernel, lengthscale=lengthscale, depth=depth, backend=backend)
    return K, backend.xp.asarray(Y)


# --- The sweep-registry contract --------------------------------------------------------------------

@dataclass(frozen=True)
class KernelConfig:
    """One seed of a kernel-regression learning curve (options of `simulate kernel`)."""

    spectrum_decay: float = 1.5  # b: η_k ∝ k^(-b) (synthetic)
    target_decay: float = 2.0  # a: target power ∝ k^(-a) (synthetic)
    noise: float = 0.0  # σ²: label-noise variance
    ridge: float = 1e-3  # λ in (K + λI) α = y
    P: tuple[int, ...] = (16, 64, 256, 1024)  # nested sample sizes
    modes: int = 10000  # M: modes of the synthetic spectrum (explicit modes when spectrum = infinite)
    spectrum: str = "finite"  # finite: M modes | infinite: the infinite power law cut after M modes
    data: str = "synthetic"  # synthetic | digits | gaussian
    kernel: str = "rbf"  # rbf | laplace | relu_ntk (real inputs)
    lengthscale: float = 0.0  # ℓ of rbf / laplace; 0: the data set's default (default_lengthscale)
    depth: int = 1  # hidden layers of relu_ntk
    pool: int = 4000  # population size for data = gaussian
    input_dim: int = 16  # d for data = gaussian
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        """Raise InputError naming the option when the configuration cannot run (the sweep hook)."""
        validate_config(self)


def validate_config(config: KernelConfig) -> None:
    if config.data not in DATASETS:
        raise InputError("data", f"must be one of {', '.join(DATASETS)}, got {config.data!r}")
    _check_ridge_noise(config.ridge, config.noise)
    _check_sizes(config.P)
    if config.data == "synthetic":
        power_law_task(config.spectrum_decay, 0.0, 1)
        if not math.isfinite(config.target_decay):
            raise InputError("target_decay", f"must be a finite number, got {config.target_decay!r}")
        if int(config.modes) != config.modes or config.modes < 1:
            raise InputError("modes", f"must be a whole number >= 1, got {config.modes!r}")
        if config.spectrum not in SPECTRA:
            raise InputError("spectrum", f"must be one of {', '.join(SPECTRA)}, got {config.spectrum!r}")
        if config.spectrum == "infinite":
            infinite_power_law_task(config.spectrum_decay, config.target_decay, 1)
        elif config.ridge == 0 and max(config.P) >= config.modes:
            raise InputError("ridge", f"ridgeless regression needs more modes ({config.modes}) than samples ({max(config.P)}): K is singular; use a positive ridge or more modes")
    else:
        check_kernel_args(config.kernel, config.lengthscale or 1.0, config.depth)
        if config.noise > 0:
            raise InputError("noise", "label noise is only simulated on synthetic tasks (real data carries its own)")
        if config.ridge <= 0:
            raise InputError("ridge", "real-input curves sample with replacement and need a positive ridge")


def simulate(config: KernelConfig, seeds=1, backend: Backend | None = None,
             on_seed: Callable[[int], None] | None = None) -> LearningCurve:
    """The learning curve of ``config`` over ``seeds`` seeds starting at config.seed."""
    validate_config(config)
    backend = backend or get_backend(config.device)
    if config.data == "synthetic":
        if config.spectrum == "infinite":
            eta, v, tail_eta, tail_power = infinite_power_law_task(config.spectrum_decay, config.target_decay, config.modes)
        else:
            (eta, v), tail_eta, tail_power = power_law_task(config.spectrum_decay, config.target_decay, config.modes), 0.0, 0.0
        return synthetic_learning_curve(eta, v, config.P, ridge=config.ridge, noise=config.noise, seeds=seeds,
                                        seed=config.seed, backend=backend, on_seed=on_seed,
                                        tail_eta=tail_eta, tail_power=tail_power)
    K, Y = dataset_kernel(config.data, kernel=config.kernel, lengthscale=config.lengthscale, depth=config.depth,
                          pool=config.pool, input_dim=config.input_dim, backend=backend)
    return pool_learning_curve(K, Y, config.P, ridge=config.ridge, seeds=seeds, seed=config.seed,
                               backend=backend, on_seed=on_seed)


def run(config: KernelConfig) -> dict:
    """One seed (the sweep contract): {"P", "test_error", "device", "provenance"}."""
    curve = simulate(config, seeds=1)
    return {
        "P": [int(p) for p in curve.P],
        "test_error": curve.errors[0].tolist(),
        "device": curve.device,
        "provenance": run_metadata(config.seed, _plain_config(config), curve.device),
    }


def _plain_config(config) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}


SIMULATOR = SimulatorSpec(
    name="kernel",
    config_type=KernelConfig,
    run=run,
    description="Kernel ridge regression learning curve E_g(P): synthetic power-law eigenbasis tasks or real inputs (digits, Gaussian) with rbf/laplace/relu_ntk kernels.",
)

__all__ = [
    "DATASETS", "KERNELS", "SPECTRA", "KernelConfig", "infinite_power_law_task", "LearningCurve", "SIMULATOR", "dataset_kernel", "load_dataset",
    "nested_ridge_solve", "pool_learning_curve", "power_law_task", "run", "simulate", "synthetic_learning_curve",
]
