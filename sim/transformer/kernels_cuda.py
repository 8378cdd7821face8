"""Numba CUDA kernels for the transformer: the same functions, names and arguments as `kernels_cpu`.

On a GPU the arrays are CuPy arrays, handed to the kernels through the CUDA array interface (no
copies); matrix products stay with CuPy (cuBLAS) in `model.py`. Under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, as in CI) the same kernels run on numpy arrays, one Python thread per
CUDA thread, and the tests check them against the numpy reference there.

Every kernel is a grid-stride loop, so the number of threads launched is a choice, not a function of
the problem size: `MAX_BLOCKS` caps the grid (keep it tiny under the simulator).

Work split (plain, deterministic, no atomics, so a run repeats bit for bit on one GPU):
- elementwise and AdamW: one thread per element;
- rows (LayerNorm, softmax, cross-entropy): one thread per row;
- column sums (LayerNorm parameter gradients, embedding gradients): one thread per (model, column),
  looping over rows in order; gradient norms: one thread per (model, tensor), then the tensors in
  order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

THREADS_PER_BLOCK = 128
MAX_BLOCKS = 4096  # grid cap; the tests lower it (the simulator runs each thread as a Python thread)
GELU_K = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715


def _launch(n: int):
    blocks = max(1, min(MAX_BLOCKS, (int(n) + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK))
    return blocks, THREADS_PER_BLOCK


def _run(kernel, n: int, *args):
    """Launch ``kernel`` over ``n`` work items. CuPy arrays (strided views included) go in as they
    are. A non-contiguous numpy array (the simulator, or host arrays in a test) cannot be moved as one
    block, so it goes in as a contiguous copy that is written back afterwards."""
    staged = []
    call = []
    for a in args:
        if isinstance(a, np.ndarray) and a.ndim and not (a.flags.c_contiguous or a.flags.f_contiguous):
            c = np.ascontiguousarray(a)
            staged.append((a, c))
            call.append(c)
        else:
            call.append(a)
    kernel[_launch(n)](*call)
    for a, c in staged:
        a[...] = c


# ----------------------------------------------------------------------------------------- embedding
@cuda.jit
def _embedding_forward(out, tokens, wte, wpe):
    M, B, T, C = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * B * T * C, stride):
        c = i % C
        r = i // C
        t = r % T
        b = (r // T) % B
        m = r // (T * B)
        out[m, b, t, c] = wte[m, tokens[m, b, t], c] + wpe[m, t, c]


def embedding_forward(out, tokens, wte, wpe):
    M, B, T, C = out.shape
    _run(_embedding_forward, M * B * T * C, out, tokens, wte, wpe)


@cuda.jit
def _embedding_backward(dwte, dwpe, dout, tokens, accumulate_wte):
    M, B, T, C = dout.shape
    V = dwte.shape[1]
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * C, stride):
        m = i // C
        c = i % C
        if accumulate_wte == 0:
            for v in range(V):
                dwte[m, v, c] = 0.0
        for t in range(dwpe.shape[1]):
            dwpe[m, t, c] = 0.0
        for b in range(B):
            for t in range(T):
                g = dout[m, b, t, c]
                dwte[m, tokens[m, b, t], c] += g
                dwpe[m, t, c] += g


def embedding_backward(dwte, dwpe, dout, tokens, accumulate_wte):
    M, B, T, C = dout.shape
    _run(_embedding_backward, M * C, dwte, dwpe, dout, tokens, 1 if accumulate_wte else 0)


# ----------------------------------------------------------------------------------------- layernorm
@cuda.jit(device=True)
def _ln_row(out, mean, rstd, x, weight, bias, eps, m, n):
    C = x.shape[2]
    s = 0.0
    for c in range(C):
        s += x[m, n, c]
    mu = s / C
    v = 0.0
    for c in range(C):
        d = x[m, n, c] - mu
        v += d * d
    rs = 1.0 / math.sqrt(v / C + eps)
    mean[m, n] = mu
    rstd[m, n] = rs
    for c in range(C):
        out[m, n, c] = (x[m, n, c] - mu) * rs * weight[m, c] + bias[m, c]


@cuda.jit
def _layernorm_forward(out, mean, rstd, inp, weight, bias, eps):
    M, N, C = inp.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * N, stride):
        _ln_row(out, mean, rstd, inp, weight, bias, eps, i // N, i % N)


def layernorm_forward(out, mean, rstd, inp, weight, bias, eps):
    M, N, C = inp.shape
    _run(_layernorm_forward, M * N, out, mean, rstd, inp, weight, bias, eps)


@cuda.jit
def _residual_layernorm_forward(res_out, out, mean, rstd, res_in, branch, branch_bias, weight, bias, eps):
    M, N, C = res_in.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * N, stride):
        m = i // N
        n = i % N
        for c in range(C):
            res_out[m, n, c] = res_in[m, n, c] + branch[m, n, c] + branch_bias[m, c]
        _ln_row(out, mean, rstd, res_out, weight, bias, eps, m, n)


def residual_layernorm_forward(res_out, out, mean, rstd, res_in, branch, branch_bias, weight, bias, eps):
    M, N, C = res_in.shape
    _run(_residual_layernorm_forward, M * N, res_out, out, mean, rstd, res_in, branch, branch_bias,
                                                weight, bias, eps)


@cuda.jit
def _layernorm_backward_input(dinp, dout, inp, weight, mean, rstd, accumulate):
    M, N, C = inp.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * N, stride):
        m = i // N
        n = i % N
        mu = mean[m, n]
        rs = rstd[m, n]
        a = 0.0
        b = 0.0
        for c in range(C):
            xhat = (inp[m, n, c] - mu) * rs
            dn = weight[m, c] * dout[m, n, c]
            a += dn
            b += dn * xhat
        a /= C
        b /= C
        for c in range(C):
            xhat = (inp[m, n, c] - mu) * rs
            g = (weight[m, c] * dout[m, n, c] - a - xhat * b) * rs
            if accumulate != 0:
                dinp[m, n, c] += g
            else:
                dinp[m, n, c] = g


@cuda.jit
def _layernorm_backward_params(dweight, dbias, dout, inp, mean, rstd):
    M, N, C = inp.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * C, stride):
        m = i // C
        c = i % C
        sw = 0.0
        sb = 0.0
        for n in range(N):
            sw += dout[m, n, c] * (inp[m, n, c] - mean[m, n]) * rstd[m, n]
            sb += dout[m, n, c]
        dweight[m, c] = sw
        dbias[m, c] = sb


def layernorm_backward(dinp, dweight, dbias, scratch, dout, inp, weight, mean, rstd, accumulate):
    """As kernels_cpu.layernorm_backward; ``scratch`` is unused here (columns are summed per thread)."""
    M, N, C = inp.shape
    _run(_layernorm_backward_input, M * N, dinp, dout, inp, weight, mean, rstd, 1 if accumulate else 0)
    _run(_layernorm_backward_params, M * C, dweight, dbias, dout, inp, mean, rstd)


# ---------------------------------------------------------------------------------------------- GELU
@cuda.jit
def _bias_gelu_forward(h, bias, out):
    M, N, D = h.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * N * D, stride):
        c = i % D
        n = (i // D) % N
        m = i // (D * N)
        x = h[m, n, c] + bias[m, c]
        h[m, n, c] = x
        out[m, n, c] = 0.5 * x * (1.0 + math.tanh(GELU_K * (x + GELU_C * x * x * x)))


def bias_gelu_forward(h, bias, out):
    M, N, D = h.shape
    _run(_bias_gelu_forward, M * N * D, h, bias, out)


@cuda.jit
def _gelu_backward(d, inp):
    M, N, D = inp.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * N * D, stride):
        c = i % D
        n = (i // D) % N
        m = i // (D * N)
        x = inp[m, n, c]
        th = math.tanh(GELU_K * (x + GELU_C * x * x * x))
        dudx = GELU_K * (1.0 + 3.0 * GELU_C * x * x)
        d[m, n, c] = d[m, n, c] * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * dudx)


def gelu_backward(d, inp):
    """In place: d holds dL/dGELU(inp) and becomes dL/dinp. (One array, not an output aliasing an
    input: the simulator copies each argument in and out separately.)"""
    M, N, D = inp.shape
    _run(_gelu_backward, M * N * D, d, inp)


@cuda.jit
def _bias_add(x, bias):
    M, N, D = x.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * N * D, stride):
        c = i % D
        n = (i // D) % N
        m = i // (D * N)
        x[m, n, c] += bias[m, c]


def bias_add(x, bias):
    M, N, D = x.shape
    _run(_bias_add, M * N * D, x, bias)


# ----------------------------------------------------------------------------------------- attention
@cuda.jit
def _causal_softmax_forward(att, scale):
    R, T, _ = att.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, R * T, stride):
        r = i // T
        t = i % T
        mx = att[r, t, 0]
        for j in range(1, t + 1):
            mx = max(mx, att[r, t, j])
        s = 0.0
        for j in range(t + 1):
            e = math.exp(scale * (att[r, t, j] - mx))
            att[r, t, j] = e
            s += e
        inv = 1.0 / s
        for j in range(t + 1):
            att[r, t, j] *= inv
        for j in range(t + 1, T):
            att[r, t, j] = 0.0


def causal_softmax_forward(att, scale):
    R, T, _ = att.shape
    _run(_causal_softmax_forward, R * T, att, scale)


@cuda.jit
def _causal_softmax_backward(datt, att, scale):
    R, T, _ = att.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, R * T, stride):
        r = i // T
        t = i % T
        s = 0.0
        for j in range(t + 1):
            s += att[r, t, j] * datt[r, t, j]
        for j in range(t + 1):
            datt[r, t, j] = scale * att[r, t, j] * (datt[r, t, j] - s)
        for j in range(t + 1, T):
            datt[r, t, j] = 0.0


def causal_softmax_backward(datt, att, scale):
    R, T, _ = att.shape
    _run(_causal_softmax_backward, R * T, datt, att, scale)


# ------------------------------------------------------------------------------------- cross-entropy
@cuda.jit
def _crossentropy_forward_backward(logits, losses, targets, grad_scale, backward):
    M, N, V = logits.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, M * N, stride):
        m = i // N
        n = i % N
        tgt = targets[m, n]
        mx = logits[m, n, 0]
        for c in range(1, V):
            mx = max(mx, logits[m, n, c])
        lt = logits[m, n, tgt]
        s = 0.0
        if backward != 0:
            for c in range(V):
                e = math.exp(logits[m, n, c] - mx)
                logits[m, n, c] = e
                s += e
            f = grad_scale / s
            for c in range(V):
                logits[m, n, c] *= f
            logits[m, n, tgt] -= grad_scale
        else:
            for c in range(V):
                s += math.exp(logits[m, n, c] - mx)
        losses[m, n] = math.log(s) + mx - lt


def crossentropy_forward_backward(logits, losses, targets, grad_scale, backward):
    M, N, V = logits.shape
    _run(_crossentropy_forward_backward, M * N, logits, losses, targets, grad_scale, 1 if backward else 0)


# ------------------------------------------------------------------------------------------- AdamW
@cuda.jit
def _sum_squares_blocks(scratch, grads, segments):
    M, T = scratch.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for job in range(start, M * T, stride):
        m = job // T
        t = job % T
        size = segments[t + 1] - segments[t]
        base = M * segments[t] + m * size
        s = 0.0
        for i in range(base, base + size):
            g = grads[i]
            s += g * g
        scratch[m, t] = s


@cuda.jit
def _sum_rows(out, scratch):
    M, T = scratch.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for m in range(start, M, stride):
        s = 0.0
        for t in range(T):
            s += scratch[m, t]
        out[m] = s


def sum_squares(out, grads, segments, scratch):
    """As kernels_cpu.sum_squares: one thread per (model, tensor), then the tensors in order."""
    M = out.shape[0]
    _run(_sum_squares_blocks, M * scratch.shape[1], scratch, grads, segments)
    _run(_sum_rows, M, out, scratch)


@cuda.jit
def _adamw_step(params, grads, exp_avg, exp_avg_sq, segments, segment_decay, lr, grad_scale, active,
                beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2):
    M = lr.shape[0]
    T = segments.shape[0] - 1
    sqrt_bc2 = math.sqrt(bias_correction2)
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, params.shape[0], stride):
        # the tensor of element i: binary search of the block starts M*segments[t]
        lo = 0
        hi = T
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if M * segments[mid] <= i:
                lo = mid
            else:
                hi = mid
        size = segments[lo + 1] - segments[lo]
        m = (i - M * segments[lo]) // size
        if active[m] == 0:
            continue
        g = grads[i] * grad_scale[m]
        ma = beta1 * exp_avg[i] + (1.0 - beta1) * g
        va = beta2 * exp_avg_sq[i] + (1.0 - beta2) * g * g
        exp_avg[i] = ma
        exp_avg_sq[i] = va
        p = params[i] * (1.0 - lr[m] * weight_decay * segment_decay[lo])
        params[i] = p - (lr[m] / bias_correction1) * ma / (math.sqrt(va) / sqrt_bc2 + eps)


def adamw_step(params, grads, exp_avg, exp_avg_sq, segments, segment_decay, lr, grad_scale, active,
               beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2):
    """As kernels_cpu.adamw_step: one thread per element."""
    _run(_adamw_step, params.shape[0], params, grads, exp_avg, exp_avg_sq, segments, segment_decay, lr,
         grad_scale, active, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2)
