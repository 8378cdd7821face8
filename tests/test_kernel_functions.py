"""Kernel matrices: the Numba CPU pass and the Numba CUDA kernel (simulator) against the float64 reference."""

import math

import numpy as np
import pytest

from sim.backend import get_backend, gpu_status
from sim.errors import InputError
from sim.kernel_functions import (
    KERNELS, fill_kernel_cpu, fill_kernel_cuda, kernel_matrix, kernel_matrix_reference,
)

CASES = [(k, d) for k in KERNELS for d in ((1, 3) if k == "relu_ntk" else (1,))]


def _points(n, m, d=9, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((m, d))


@pytest.mark.parametrize("kernel,depth", CASES)
def test_numba_cpu_matches_reference(kernel, depth):
    X, Z = _points(70, 45)
    ref = kernel_matrix_reference(X, Z, kernel=kernel, lengthscale=1.7, depth=depth)
    fast = kernel_matrix(X, Z, kernel=kernel, lengthscale=1.7, depth=depth)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kernel,depth", CASES)
def test_numba_cuda_kernel_matches_reference(kernel, depth):
    # Under NUMBA_ENABLE_CUDASIM=1 (conftest) the kernel runs on numpy arrays; a 2×2 grid of 8×8
    # blocks (256 threads) strides over the 21×13 matrix, so the grid-stride loops are exercised too.
    X, Z = _points(21, 13)
    ref = kernel_matrix_reference(X, Z, kernel=kernel, lengthscale=0.8, depth=depth)
    G = X @ Z.T
    out = np.full_like(G, np.nan)
    fill_kernel_cuda(G, np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Z, Z), kernel=kernel, lengthscale=0.8,
                     d=X.shape[1], depth=depth, out=out, blocks=(2, 2), threads=(8, 8))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-13)


def test_cpu_pass_works_in_place_and_matches_the_cuda_kernel():
    X, Z = _points(12, 7, seed=3)
    nx, nz = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Z, Z)
    G = X @ Z.T
    cuda_out = fill_kernel_cuda(G.copy(), nx, nz, kernel="laplace", lengthscale=2.0, d=9, blocks=(1, 1), threads=(4, 4))
    cpu_out = fill_kernel_cpu(G, nx, nz, kernel="laplace", lengthscale=2.0, d=9)
    assert cpu_out is G
    np.testing.assert_allclose(cpu_out, cuda_out, rtol=1e-14)


@pytest.mark.parametrize("kernel,depth", CASES)
def test_gram_matrices_are_symmetric_psd_with_the_right_diagonal(kernel, depth):
    X, _ = _points(60, 1, seed=5)
    K = kernel_matrix(X, kernel=kernel, lengthscale=1.3, depth=depth)
    np.testing.assert_allclose(K, K.T, rtol=1e-12, atol=1e-14)
    assert np.linalg.eigvalsh(K).min() > -1e-10 * np.abs(K).max()
    if kernel == "relu_ntk":  # Θ^L(x, x) = (L + 1)|x|²/d with He scaling
        np.testing.assert_allclose(np.diag(K), (depth + 1) * np.einsum("ij,ij->i", X, X) / X.shape[1], rtol=1e-12)
    else:
        assert np.all(np.diag(K) == 1.0)


def test_rbf_and_laplace_closed_forms():
    x = np.array([[0.0, 0.0]])
    z = np.array([[3.0, 4.0]])  # distance 5
    assert kernel_matrix(x, z, kernel="rbf", lengthscale=2.0)[0, 0] == pytest.approx(math.exp(-25 / 8), rel=1e-13)
    assert kernel_matrix(x, z, kernel="laplace", lengthscale=2.0)[0, 0] == pytest.approx(math.exp(-2.5), rel=1e-13)
    # orthogonal unit inputs: one-hidden-layer NTK = (u κ₀ + κ₁)/d at u = 0 = (1/π)/d
    e = np.eye(2)
    assert kernel_matrix(e[:1], e[1:], kernel="relu_ntk")[0, 0] == pytest.approx(1 / (2 * math.pi), rel=1e-13)


def test_bad_kernel_arguments_name_the_field():
    X, _ = _points(3, 1)
    for kwargs, field in (({"kernel": "poly"}, "kernel"), ({"lengthscale": 0.0}, "lengthscale"), ({"depth": 0}, "depth")):
        with pytest.raises(InputError) as e:
            kernel_matrix(X, **kwargs)
        assert e.value.field == field


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_status()[0], reason="needs a working CUDA GPU")
@pytest.mark.parametrize("kernel,depth", CASES)
def test_gpu_kernel_matrix_matches_reference(kernel, depth):
    gpu = get_backend("gpu")
    X, Z = _points(300, 200)
    K = gpu.to_host(kernel_matrix(X, Z, kernel=kernel, lengthscale=1.7, depth=depth, backend=gpu))
    np.testing.assert_allclose(K, kernel_matrix_reference(X, Z, kernel=kernel, lengthscale=1.7, depth=depth), rtol=1e-11, atol=1e-12)
