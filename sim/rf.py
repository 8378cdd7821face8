"""Random-feature regression on power-law data: loss surfaces L(N, P) (ridge) and L(N, P, t) (gradient descent).

The model (../shared/REFERENCES.md §7: Maloney, Roberts & Sully 2022; Bordelon, Atanasov & Pehlevan
2024, linear random features on power-law data), in the conventions of sim/kernel.py:

- latent z ~ N(0, I_M); input x = Λ^(1/2) z with Λ_k = k^(-b) / Σ_j j^(-b) (trace 1);
- target y = v·z + ε, v_k² = k^(-a) / Σ_j j^(-a) (target variance 1), ε ~ N(0, σ²);
- N random features f(x) = Wᵀx / sqrt(N), W ∈ R^(M×N) with i.i.d. N(0, 1) entries; predictor θ·f(x).
  Feature sets are nested: the model with n features uses the first n columns of W (scaled 1/sqrt(n)).
- Test loss against the clean target, exact over x: L(θ) = E_z[(θᵀWᵀΛ^(1/2)z/sqrt(n) − vᵀz)²]
  = |Λ^(1/2) W θ / sqrt(n) − v|².
- Ridge: θ = argmin |Fθ − y|² + λ|θ|² (the same λ as kernel ridge (K + λI)α = y; as N → ∞ the
  feature kernel FFᵀ → ZΛZᵀ and this becomes kernel regression on the task (Λ, v) of sim/kernel.py).
- Gradient descent: full batch on (1/2P)(|Fθ − y|² + λ|θ|²) from θ = 0 with step ``learning_rate``,
  θ_{t+1} = θ_t − lr (Fᵀ(Fθ_t − y) + λθ_t)/P. Its iterates are a spectral filter of the data, computed
  exactly (not iterated) from one eigendecomposition per (N, P): with F = Σ s_i u_i q_iᵀ,
  θ_t = Σ_i [1 − (1 − lr (s_i² + λ)/P)^t] s_i (u_iᵀy) / (s_i² + λ) q_i, so every checkpoint t costs
  one small matrix product. ``gd_reference`` iterates the update literally (tests compare the two).
  Divergence (|1 − lr(s²+λ)/P| > 1 for a direction the data excites) is reported, not hidden.

Ridge surfaces reuse one Cholesky factor of the P×P feature kernel per N for all nested P
(see sim/kernel.py, `nested_ridge_solve`).
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
from sim.registry import SimulatorSpec


@dataclass(frozen=True)
class RFConfig:
    """One seed of a random-feature loss surface (options of `simulate rf`)."""

    features: tuple[int, ...] = (64, 256, 1024)  # N: random features (nested)
    P: tuple[int, ...] = (64, 256, 1024)  # samples (nested)
    steps: tuple[int, ...] = ()  # gradient-descent checkpoints t; empty: the ridge solution
    spectrum_decay: float = 1.5  # b: input covariance Λ_k ∝ k^(-b)
    target_decay: float = 2.0  # a: target power ∝ k^(-a)
    noise: float = 0.0  # σ²: label-noise variance
    ridge: float = 1e-4  # λ (ridge; weight decay for gradient descent)
    latent_dim: int = 4096  # M: latent dimensions of the data
    learning_rate: float = 0.5  # gradient-descent step
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        """Raise InputError naming the option when the configuration cannot run (the sweep hook)."""
        validate_config(self)


def _sizes(values: Sequence[int], field: str) -> np.ndarray:
    if len(values) == 0 or any(int(v) != v or v < 1 for v in values):
        raise InputError(field, f"expected whole numbers >= 1, got {list(values)!r}")
    return np.asarray(sorted(set(int(v) for v in values)), dtype=np.int64)


def validate_config(config: RFConfig) -> None:
    _sizes(config.features, "features")
    _sizes(config.P, "P")
    if config.steps:
        _steps = [int(t) for t in config.steps]
        if any(t != s or t < 0 for t, s in zip(_steps, config.steps)):
            raise InputError("steps", f"expected whole numbers >= 0, got {list(config.steps)!r}")
        if not (math.isfinite(config.learning_rate) and config.learning_rate > 0):
            raise InputError("learning_rate", f"must be a positive number, got {config.learning_rate!r}")
    power_law_task(config.spectrum_decay, config.target_decay, 1)
    if not (math.isfinite(config.ridge) and config.ridge >= 0):
        raise InputError("ridge", f"must be a finite number >= 0, got {config.ridge!r}")
    if not config.steps and config.ridge <= 0:
        raise InputError("ridge", "the ridge solution needs a positive ridge; give --steps for gradient descent without one")
    if not (math.isfinite(config.noise) and config.noise >= 0):
        raise InputError("noise", f"must be a finite variance >= 0, got {config.noise!r}")
    if int(config.latent_dim) != config.latent_dim or config.latent_dim < 1:
        raise InputError("latent_dim", f"must be a whole number >= 1, got {config.latent_dim!r}")


@dataclass
class RFData:
    """One seed's draws: projected features G = Λ^(1/2) W (M × N_max), latents Z (P_max × M), labels y."""

    G: object
    Z: object
    y: object
    v: object

    def features(self, n: int, p: int):
        """F = Z G[:, :n] / sqrt(n) for the first p samples (p × n)."""
        return self.Z[:p] @ self.G[:, :n] / math.sqrt(n)

    def test_loss(self, n: int, theta, xp):
        """|G[:, :n] θ / sqrt(n) − v|² for θ of shape (n,) or (n, k) (then one loss per column)."""
        r = self.G[:, :n] @ theta / math.sqrt(n)
        r = r - (self.v if r.ndim == 1 else self.v[:, None])
        return xp.sum(r * r, axis=0)


def draw(config: RFConfig, seed: int, backend: Backend) -> RFData:
    """The seed's random draws (host numpy generators, so CPU and GPU see the same numbers)."""
    xp = backend.xp
    lam, v = power_law_task(config.spectrum_decay, config.target_decay, config.latent_dim)
    n_max = int(max(config.features))
    p_max = int(max(config.P))
    W = np.random.default_rng([seed, 10]).standard_normal((config.latent_dim, n_max))
    Z = np.random.default_rng([seed, 11]).standard_normal((p_max, config.latent_dim))
    y = Z @ v
    if config.noise > 0:
        y = y + math.sqrt(config.noise) * np.random.default_rng([seed, 12]).standard_normal(p_max)
    G = np.sqrt(lam)[:, None] * W
    return RFData(xp.asarray(G), xp.asarray(Z), xp.asarray(y), xp.asarray(v))


def ridge_surface(data: RFData, features: np.ndarray, sizes: np.ndarray, ridge: float, backend: Backend) -> np.ndarray:
    """Test loss of the ridge solution at every (N, P): shape (len(features), len(sizes))."""
    xp = backend.xp
    out = np.empty((len(features), len(sizes)))
    p_max = int(sizes[-1])
    for i, n in enumerate(features):
        F = data.features(int(n), p_max)
        K = F @ F.T  # dual: one Cholesky of the P×P feature kernel serves every nested P
        if not backend.is_gpu:
            K = np.asfortranarray(K)
        A = nested_ridge_solve(K, data.y[:, None], sizes, ridge, backend)[:, :, 0]  # (p_max, n_sizes)
        theta = F.T @ A  # zero-padded columns: θ_p = F[:p]ᵀ α_p
        out[i] = backend.to_host(data.test_loss(int(n), theta, xp))
    return out


def _gd_filter(s2, ridge: float, lr: float, p: int, steps: np.ndarray, xp):
    """(1 − (1 − lr(s²+λ)/p)^t) / (s²+λ) for each eigenvalue s² and checkpoint t: shape (r, T)."""
    shrink = 1.0 - lr * (s2 + ridge) / p
    denom = s2 + ridge
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        powers = xp.power(shrink[:, None], xp.asarray(steps, dtype=xp.float64)[None, :])
        filt = (1.0 - powers) / denom[:, None]
    # a direction with s² + λ = 0 gets no gradient: it stays at 0
    return xp.where((denom > 0)[:, None], filt, 0.0), bool(xp.any(xp.abs(shrink) > 1.0))


def gd_surface(data: RFData, features: np.ndarray, sizes: np.ndarray, steps: np.ndarray, ridge: float, lr: float,
               backend: Backend) -> tuple[np.ndarray, np.ndarray]:
    """Test loss after t steps of full-batch GD at every (N, P, t); and a divergence flag per (N, P)."""
    xp = backend.xp
    out = np.empty((len(features), len(sizes), len(steps)))
    diverged = np.zeros((len(features), len(sizes)), dtype=bool)
    for i, n in enumerate(features):
        n = int(n)
        for j, p in enumerate(sizes):
            p = int(p)
            F = data.features(n, p)
            y = data.y[:p]
            if n <= p:  # eigendecomposition of the n×n Gram FᵀF = Q S² Qᵀ; c = Qᵀ Fᵀ y = S Uᵀ y
                s2, Q = xp.linalg.eigh(F.T @ F)
                c = Q.T @ (F.T @ y)
                basis = Q
            else:  # of the p×p Gram FFᵀ = U S² Uᵀ; θ = Fᵀ U diag(filter) Uᵀ y
                s2, U = xp.linalg.eigh(F @ F.T)
                c = U.T @ y
                basis = F.T @ U
            s2 = xp.clip(s2, 0.0, None)
            filt, unstable = _gd_filter(s2, ridge, lr, p, steps, xp)
            theta = basis @ (filt * c[:, None])  # (n, T)
            loss = backend.to_host(data.test_loss(n, theta, xp))
            excited = unstable and bool(xp.any((xp.abs(1.0 - lr * (s2 + ridge) / p) > 1.0) & (xp.abs(c) > 0)))
            diverged[i, j] = excited or not np.all(np.isfinite(loss))
            out[i, j] = np.where(np.isfinite(loss), loss, np.inf)
    return out, diverged


def gd_reference(F: np.ndarray, y: np.ndarray, steps: int, ridge: float, lr: float) -> np.ndarray:
    """θ after ``steps`` literal GD updates θ ← θ − lr (Fᵀ(Fθ − y) + λθ)/P from 0 (float64, for tests)."""
    p = F.shape[0]
    theta = np.zeros(F.shape[1])
    for _ in range(steps):
        theta = theta - lr * (F.T @ (F @ theta - y) + ridge * theta) / p
    return theta


@dataclass
class RFSurface:
    features: np.ndarray
    P: np.ndarray
    steps: np.ndarray | None
    losses: np.ndarray  # (seeds, N, P[, T])
    diverged: np.ndarray  # (seeds, N, P)
    device: str

    @property
    def mean(self) -> np.ndarray:
        return np.mean(self.losses, axis=0)

    @property
    def sem(self) -> np.ndarray:
        s = self.losses.shape[0]
        return np.std(self.losses, axis=0, ddof=1) / math.sqrt(s) if s > 1 else np.zeros(self.losses.shape[1:])

    def as_dict(self) -> dict:
        out = {"features": self.features.tolist(), "P": self.P.tolist()}
        if self.steps is not None:
            out["steps"] = self.steps.tolist()
        out.update({
            "test_error": self.mean.tolist(),
            "test_error_sem": self.sem.tolist(),
            "diverged": bool(self.diverged.any()),
            "n_seeds": int(self.losses.shape[0]),
            "device": self.device,
        })
        return out


def simulate(config: RFConfig, seeds: int = 1, backend: Backend | None = None,
             on_seed: Callable[[int], None] | None = None) -> RFSurface:
    """The loss surface of ``config`` over ``seeds`` seeds starting at config.seed."""
    validate_config(config)
    if int(seeds) < 1:
        raise InputError("seeds", f"must be at least 1, got {seeds}")
    backend = backend or get_backend(config.device)
    features = _sizes(config.features, "features")
    sizes = _sizes(config.P, "P")
    steps = np.asarray(sorted(set(int(t) for t in config.steps)), dtype=np.int64) if config.steps else None
    losses, diverged = [], []
    for s in range(int(seeds)):
        data = draw(config, config.seed + s, backend)
        if steps is None:
            losses.append(ridge_surface(data, features, sizes, config.ridge, backend))
            diverged.append(np.zeros((len(features), len(sizes)), dtype=bool))
        else:
            loss, div = gd_surface(data, features, sizes, steps, config.ridge, config.learning_rate, backend)
            losses.append(loss)
            diverged.append(div)
        if on_seed:
            on_seed(s)
    return RFSurface(features, sizes, steps, np.stack(losses), np.stack(diverged), backend.name)


def run(config: RFConfig) -> dict:
    """One seed (the sweep contract)."""
    surface = simulate(config, seeds=1)
    out = {
        "features": surface.features.tolist(),
        "P": surface.P.tolist(),
        "test_error": np.where(np.isfinite(surface.losses[0]), surface.losses[0], np.nan).tolist(),
        "device": surface.device,
        "provenance": run_metadata(config.seed, {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}, surface.device),
    }
    if surface.steps is not None:
        out["steps"] = surface.steps.tolist()
    if surface.diverged.any():
        out["diverged"] = True
    # JSON-safe: a diverged loss is null, never inf or nan
    out["test_error"] = _nulls(out["test_error"])
    return out


def _nulls(x):
    if isinstance(x, list):
        return [_nulls(e) for e in x]
    return x if math.isfinite(x) else None


SIMULATOR = SimulatorSpec(
    name="rf",
    config_type=RFConfig,
    run=run,
    description="Random-feature regression on power-law data: ridge loss L(N, P) or gradient-descent loss L(N, P, t).",
)
