"""Kernel matrices K(X, Z) for kernel regression: RBF, Laplace and the ReLU neural tangent kernel.

Three implementations of the same numbers, tested against each other (tests/test_kernel_functions.py):

- ``kernel_matrix_reference``: float64 numpy, distances from explicit differences (the reference);
- CPU: the Gram matrix X Zᵀ by BLAS, then one fused Numba pass (``_fill_cpu``) turning Gram entries
  and squared norms into kernel values in place (distances from |x|² + |z|² - 2x·z are accurate to
  about sqrt(1e-16)·|x| for near-identical points; the diagonal of K(X, X) is set exactly);
- GPU: the Gram matrix by CuPy (cuBLAS), then the same pass as a Numba CUDA kernel (``_fill_cuda``)
  that receives CuPy arrays through the CUDA array interface. Under ``NUMBA_ENABLE_CUDASIM=1`` the
  same kernel runs on numpy arrays (the test suite does this with small grids).

Kernels (x, z in R^d):
- ``rbf``:      exp(-|x - z|² / (2 ℓ²))
- ``laplace``:  exp(-|x - z| / ℓ)
- ``relu_ntk``: the neural tangent kernel of a fully connected ReLU network with ``depth`` hidden
  layers, no biases, NTK parameterisation with He scaling (c_σ = 2), input layer Σ⁰(x, z) = x·z / d.
  Arc-cosine recursion (Cho & Saul 2009; Jacot et al. 2018; Arora et al. 2019, eq. for Θ^(h)):
      ρ = Σʰ⁻¹(x,z) / sqrt(Σʰ⁻¹(x,x) Σʰ⁻¹(z,z)),
      Σʰ(x,z)  = sqrt(Σʰ⁻¹(x,x) Σʰ⁻¹(z,z)) · κ₁(ρ),   κ₁(ρ) = (sqrt(1-ρ²) + (π - arccos ρ) ρ) / π,
      Σ̇ʰ(x,z)  = κ₀(ρ) = (π - arccos ρ) / π,
      Θʰ = Θʰ⁻¹ · Σ̇ʰ + Σʰ,  Θ⁰ = Σ⁰.
  With c_σ = 2 the diagonal is preserved, Σʰ(x,x) = |x|²/d, so Θ^L(x,x) = (L+1)|x|²/d.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from sim.backend import Backend, cpu_backend
from sim.errors import InputError

KERNELS = ("rbf", "laplace", "relu_ntk")
_KIND = {"rbf": 0, "laplace": 1, "relu_ntk": 2}


def check_kernel_args(kernel: str, lengthscale: float, depth: int) -> None:
    if kernel not in KERNELS:
        raise InputError("kernel", f"must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if not (math.isfinite(lengthscale) and lengthscale > 0):
        raise InputError("lengthscale", f"must be a positive number, got {lengthscale!r}")
    if int(depth) != depth or depth < 1:
        raise InputError("depth", f"must be a whole number >= 1, got {depth!r}")


# --- Reference (float64 numpy) ---------------------------------------------------------------------

def _arccos_step(sxz, sxx, szz):
    """One layer of the ReLU arc-cosine recursion: (Σʰ(x,z), Σ̇ʰ(x,z)) from Σʰ⁻¹ (numpy arrays)."""
    norm = np.sqrt(sxx * szz)
    rho = np.clip(np.divide(sxz, norm, out=np.zeros_like(sxz), where=norm > 0), -1.0, 1.0)
    theta = np.arccos(rho)
    k0 = (np.pi - theta) / np.pi
    k1 = (np.sqrt(1.0 - rho * rho) + (np.pi - theta) * rho) / np.pi
    return norm * k1, k0


def kernel_matrix_reference(X, Z=None, *, kernel: str = "rbf", lengthscale: float = 1.0, depth: int = 1) -> np.ndarray:
    """K(X, Z) in float64 numpy, distances from explicit differences (no Gram-matrix cancellation)."""
    check_kernel_args(kernel, lengthscale, depth)
    X = np.asarray(X, dtype=np.float64)
    Z = X if Z is None else np.asarray(Z, dtype=np.float64)
    if kernel == "relu_ntk":
        d = X.shape[1]
        sxz = (X @ Z.T) / d
        sxx = (np.einsum("ij,ij->i", X, X) / d)[:, None]
        szz = (np.einsum("ij,ij->i", Z, Z) / d)[None, :]
        theta = sxz.copy()
        for _ in range(depth):
            sxz, sdot = _arccos_step(sxz, sxx, szz)  # the diagonal Σʰ(x,x) is preserved (c_σ = 2)
            theta = theta * sdot + sxz
        if Z is X:
            _exact_diagonal(theta, d * sxx[:, 0], kernel, d, depth, np)
        return theta
    out = np.empty((X.shape[0], Z.shape[0]))
    for start in range(0, X.shape[0], 256):  # (the diagonal of K(X, X) is exact here: x - x = 0)  # chunks keep the (rows, m, d) difference tensor small
        diff = X[start:start + 256, None, :] - Z[None, :, :]
        dist2 = np.einsum("ijk,ijk->ij", diff, diff)
        if kernel == "rbf":
            out[start:start + 256] = np.exp(-dist2 / (2.0 * lengthscale**2))
        else:
            out[start:start + 256] = np.exp(-np.sqrt(dist2) / lengthscale)
    return out


# --- The fused pass: Gram entries and squared norms -> kernel values ------------------------------
# Shared scalar code, written once for the CPU and CUDA kernels. ``g`` = x·z, ``a`` = |x|², ``b`` = |z|².

def _entry(g, a, b, kind, inv_two_l2, inv_l, inv_d, depth):
    if kind == 0:  # rbf
        d2 = a + b - 2.0 * g
        if d2 < 0.0:
            d2 = 0.0
        return math.exp(-d2 * inv_two_l2)
    if kind == 1:  # laplace
        d2 = a + b - 2.0 * g
        if d2 < 0.0:
            d2 = 0.0
        return math.exp(-math.sqrt(d2) * inv_l)
    # relu_ntk
    sxx = a * inv_d
    szz = b * inv_d
    norm = math.sqrt(sxx * szz)
    sxz = g * inv_d
    theta = sxz
    for _ in range(depth):
        rho = 0.0
        if norm > 0.0:
            rho = sxz / norm
        if rho > 1.0:
            rho = 1.0
        if rho < -1.0:
            rho = -1.0
        t = math.acos(rho)
        k0 = (math.pi - t) / math.pi
        k1 = (math.sqrt(1.0 - rho * rho) + (math.pi - t) * rho) / math.pi
        sxz = norm * k1
        theta = theta * k0 + sxz
    return theta


_entry_cpu = numba.njit(cache=True, fastmath=True)(_entry)


@numba.njit(parallel=True, cache=True, fastmath=True)
def _fill_cpu(G, nx, nz, out, kind, inv_two_l2, inv_l, inv_d, depth):
    """out[i, j] = k(G[i, j], nx[i], nz[j]); ``out`` may be ``G`` itself (elementwise)."""
    for i in numba.prange(G.shape[0]):
        a = nx[i]
        for j in range(G.shape[1]):
            out[i, j] = _entry_cpu(G[i, j], a, nz[j], kind, inv_two_l2, inv_l, inv_d, depth)


@functools.lru_cache(maxsize=1)
def _cuda_kernels():
    """Compiled on first use. ``cuda`` is a module global: the simulator swaps that name in."""
    entry = cuda.jit(device=True)(_entry)

    @cuda.jit
    def fill_cuda(G, nx, nz, out, kind, inv_two_l2, inv_l, inv_d, depth):
        # A grid-stride loop in both dimensions: any grid covers any matrix, so the simulator can
        # run a tiny grid (about 1,000 threads at most) over a larger test matrix.
        i0, j0 = cuda.grid(2)
        si, sj = cuda.gridsize(2)
        for i in range(i0, G.shape[0], si):
            a = nx[i]
            for j in range(j0, G.shape[1], sj):
                out[i, j] = entry(G[i, j], a, nz[j], kind, inv_two_l2, inv_l, inv_d, depth)

    return fill_cuda


def _scalars(kernel: str, lengthscale: float, d: int, depth: int):
    return (_KIND[kernel], 1.0 / (2.0 * lengthscale**2), 1.0 / lengthscale, 1.0 / d, int(depth))


def fill_kernel_cpu(G: np.ndarray, nx: np.ndarray, nz: np.ndarray, *, kernel: str, lengthscale: float,
                    d: int, depth: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """The Numba CPU pass (in place into ``G`` unless ``out`` is given)."""
    out = G if out is None else out
    _fill_cpu(G, nx, nz, out, *_scalars(kernel, lengthscale, d, depth))
    return out


def fill_kernel_cuda(G, nx, nz, *, kernel: str, lengthscale: float, d: int, depth: int = 1, out=None,
                     blocks: tuple[int, int] | None = None, threads: tuple[int, int] = (16, 16)):
    """The Numba CUDA pass. CuPy arrays on a GPU; numpy arrays under NUMBA_ENABLE_CUDASIM=1.

    ``blocks`` defaults to enough blocks to give one thread per entry (capped at 65,535 a side);
    pass a small grid under the simulator, where every thread is a Python thread.
    """
    out = G if out is None else out
    if blocks is None:
        blocks = (min(65535, -(-G.shape[0] // threads[0])), min(65535, -(-G.shape[1] // threads[1])))
    _cuda_kernels()[blocks, threads](G, nx, nz, out, *_scalars(kernel, lengthscale, d, depth))
    return out


def kernel_matrix(X, Z=None, *, kernel: str = "rbf", lengthscale: float = 1.0, depth: int = 1,
                  backend: Backend | None = None, dtype=np.float64):
    """K(X, Z) on ``backend`` (numpy arrays on cpu, CuPy arrays on gpu), float64 by default.

    The Gram matrix comes from BLAS (numpy) or cuBLAS (CuPy); the kernel pass is Numba (CPU) or a
    Numba CUDA kernel (GPU) writing in place into the Gram matrix, so one (n, m) buffer is allocated.
    """
    check_kernel_args(kernel, lengthscale, depth)
    backend = backend or cpu_backend()
    xp = backend.xp
    X = xp.asarray(X, dtype=dtype)
    Z = X if Z is None else xp.asarray(Z, dtype=dtype)
    if X.ndim != 2 or Z.ndim != 2 or X.shape[1] != Z.shape[1]:
        raise InputError("X", f"expected two matrices with the same number of columns, got {X.shape} and {Z.shape}")
    G = X @ Z.T
    nx = xp.einsum("ij,ij->i", X, X)
    nz = nx if Z is X else xp.einsum("ij,ij->i", Z, Z)
    if backend.is_gpu:
        G = xp.ascontiguousarray(G)
        fill_kernel_cuda(G, nx, nz, kernel=kernel, lengthscale=lengthscale, d=X.shape[1], depth=depth)
    else:
        G = np.ascontiguousarray(G)
        fill_kernel_cpu(G, nx, nz, kernel=kernel, lengthscale=lengthscale, d=X.shape[1], depth=depth)
    if Z is X:
        _exact_diagonal(G, nx, kernel, X.shape[1], depth, xp)
    return G


def _exact_diagonal(K, sq_norms, kernel: str, d: int, depth: int, xp) -> None:
    """k(x, x) in closed form. Rounding makes |x|² + |x|² − 2x·x ≈ 1e-16|x|² (not 0) and the NTK's
    cosine ≈ 1 − 1e-16 (not 1); the square roots in the Laplace kernel and in arccos near 1 turn that
    into 1e-8 errors on the diagonal. Exactly: 1 for the distance kernels, (L + 1)|x|²/d for the NTK."""
    if kernel == "relu_ntk":
        idx = xp.arange(K.shape[0])
        K[idx, idx] = (depth + 1) * sq_norms / d
    else:
        xp.fill_diagonal(K, 1.0)
