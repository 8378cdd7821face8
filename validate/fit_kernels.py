"""A fused Numba kernel for the Chinchilla-form fitting objective, beside its numpy reference.

The numpy version (`validate.fit.Objective.value_and_grad`, LSE branch) makes some thirty passes over
(starts x runs) temporaries; this kernel makes one pass per start, with the
same arithmetic in the same order per run (float64; tests/test_fit_kernels.py checks it against the
numpy reference). Each start's sums are accumulated in run order, so a start's result does not
depend on which other starts share the call.

Objective (Hoffmann et al. 2022 App. D.2): for each start s with phi = (a, b, e, alpha, beta),
    z0 = a - alpha log N_i,  z1 = b - beta log D_i,  m = max(z0, z1, e)
    log Lhat_i = m + log(exp(z0 - m) + exp(z1 - m) + exp(e - m))          (log-sum-exp)
    (the kernel skips the shift by m when |m| < 700, where nothing can overflow, which saves one
    exponential per run: exp(e) is computed once per start)
    F_s = sum_i w_si rho(log Lhat_i - log L_i),  rho = Huber_delta or r^2/2
    dF/dz_k = sum_i w_si psi(r_i) softmax_k(z)_i, and dz0/da = 1, dz0/dalpha = -log N_i, ...
"""

from __future__ import annotations

import math

import numpy as np

try:
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; the numpy path still works
    HAVE_NUMBA = False


if HAVE_NUMBA:

    # Serial on purpose: a parallel (OpenMP) kernel called thousands of times per fit spins badly when
    # other processes share the cores (24 s against 4.5 s for one fit on a loaded 2-core machine), and
    # forking a process that has started OpenMP aborts; the bootstrap parallelises over processes.
    @njit(cache=True)
    def lse_objective_kernel(Phi, lN, lD, ly, W, delta, huber, f, g):  # pragma: no cover - compiled
        """F (S,) and dF/dphi (S, 5) into f and g. W: (1, n) shared weights or (S, n) per start."""
        S = Phi.shape[0]
        n = lN.shape[0]
        per_start = 1 if W.shape[0] > 1 else 0
        for s in range(S):
            a = Phi[s, 0]
            b = Phi[s, 1]
            e = Phi[s, 2]
            al = Phi[s, 3]
            be = Phi[s, 4]
            row = s * per_start
            ee = math.exp(e)  # the floor term, once per start
            fs = 0.0
            g0 = 0.0
            g1 = 0.0
            g2 = 0.0
            g3 = 0.0
            g4 = 0.0
            for i in range(n):
                wi = W[row, i]
                z0 = a - al * lN[i]
                z1 = b - be * lD[i]
                m = max(z0, z1, e)
                if -700.0 < m < 700.0:
                    # no overflow possible: the plain sum saves the shifted floor exponential
                    w0 = math.exp(z0)
                    w1 = math.exp(z1)
                    w2 = ee
                    sw = w0 + w1 + w2
                    r = math.log(sw) - ly[i]
                else:
                    w0 = math.exp(z0 - m)
                    w1 = math.exp(z1 - m)
                    w2 = math.exp(e - m)
                    sw = w0 + w1 + w2
                    r = m + math.log(sw) - ly[i]
                if huber:
                    ar = abs(r)
                    if ar <= delta:
                        rho = 0.5 * r * r
                        psi = r
                    else:
                        rho = delta * (ar - 0.5 * delta)
                        psi = delta if r > 0 else -delta
                else:
                    rho = 0.5 * r * r
                    psi = r
                fs += wi * rho
                p = wi * psi / sw
                p0 = p * w0
                p1 = p * w1
                g0 += p0
                g1 += p1
                g2 += p * w2
                g3 -= p0 * lN[i]
                g4 -= p1 * lD[i]
            f[s] = fs
            g[s, 0] = g0
            g[s, 1] = g1
            g[s, 2] = g2
            g[s, 3] = g3
            g[s, 4] = g4


def lse_value_and_grad(Phi: np.ndarray, lN: np.ndarray, lD: np.ndarray, ly: np.ndarray,
                       weights: np.ndarray | None, delta: float, huber: bool) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's F and gradient for rows of Phi (numpy arrays in, numpy arrays out)."""
    Phi = np.ascontiguousarray(Phi, dtype=np.float64)
    S = Phi.shape[0]
    if weights is None:
        W = np.ones((1, lN.shape[0]))
    else:
        W = np.ascontiguousarray(np.atleast_2d(weights), dtype=np.float64)
    f = np.empty(S)
    g = np.empty((S, 5))
    lse_objective_kernel(Phi, lN, lD, ly, W, float(delta), bool(huber), f, g)
    return f, g
