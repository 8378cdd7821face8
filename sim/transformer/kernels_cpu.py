"""Numba CPU kernels for the transformer's elementwise, normalisation and softmax work.

Every kernel writes into arrays the caller preallocated (llm.c's style: ``layernorm_forward(out,
mean, rstd, inp, weight, bias)``), so a training step allocates nothing. Matrix products are not
here: they go to BLAS through ``numpy.matmul(..., out=...)`` in `model.py`.

Shapes carry a leading model axis M (M independent models trained in one pass): activations are
``(M, N, C)`` with N = batch x context rows, per-model parameters ``(M, C)`` (contiguous views into
the tensor-major flat parameter buffer, see model.py), attention tensors ``(M*B*H, T, T)``.

Reductions over rows (LayerNorm weight gradients, gradient norms) are split into a FIXED number of
chunks that does not depend on the thread count, and the partial sums are added in a fixed order: the
result is the same bit for bit however many threads run (the reproducibility contract).

``fastmath`` leaves out ``nnan``/``ninf``: a diverging model must still produce a non-finite loss that
the trainer can see (a NaN-free assumption could fold it into a finite number).
"""

from __future__ import annotations

import functools
import math
import os
import types

import numba
import numpy as np
from numba import njit, prange

# Numba's "workqueue" threading layer sleeps between parallel regions; the OpenMP layer spins, and
# spinning threads fight BLAS's threads (and everyone else's) for the 2 cores: measured on config (a)
# under load, 82 ms a step with workqueue against 1.9 s with omp. An explicit NUMBA_THREADING_LAYER
# wins; the choice is process-wide and is fixed at the first parallel launch.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

# Reassociation lets reductions vectorise; NaN and infinity keep their meaning (see module docstring).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
GELU_K = math.sqrt(2.0 / math.pi)  # tanh-approximate GELU (Hendrycks & Gimpel 2016; GPT-2)
GELU_C = 0.044715
REDUCTION_CHUNKS = 16  # rows are summed in this many fixed chunks per model (thread-count independent)


# Parallel or serial, by size. A parallel region costs ~80 us to launch on the 2-vCPU machine (the
# workqueue layer wakes sleeping threads; measured with an empty prange loop), more than most kernels
# of config (a) take on one core: LayerNorm forward over 2048 x 64 values is 43 us serial against 97 us
# parallel, its backward 58 against 204. So each kernel is compiled twice from the same source, with
# prange (parallel) and as a plain loop (serial), and a call runs the parallel one only when the work's
# estimated one-core time reaches PARALLEL_MIN_NS (and more than one thread is allowed). Every output
# element is computed by the same loop body in either version, with the same fixed reduction chunks:
# the results are identical bit for bit (checked in tests/test_transformer_model.py), so the choice,
# which depends on the number of models in a pass, does not change any number.
#
# error_model="numpy": no ZeroDivisionError checks on float division, which kept the serial GELU loops
# from vectorising (1.9 ms against 0.21 ms for 2048 x 256); a division by zero gives inf/NaN, which the
# trainer sees as divergence.
# ~7 launch costs: inside a training step a parallel region also waits for a sleeping core to wake
# and meets BLAS's spinning worker. Steps on 2 cores, thresholds alternated in one process: config
# (a) 12.88 ms at 600k, 12.97 at 400k, 13.28 at 200k, 14.67 at 0 (all parallel); 4 models of (a)
# 52.2 / 52.9 ms at 600k / 400k; (b) 70.4 / 71.9 ms; (c) flat within 2%.
PARALLEL_MIN_NS = 600_000.0


def _serial_copy(fn):
    """The same function under another qualified name, so Numba's on-disk cache (keyed by name and
    signature, not by compile flags) keeps the serial and parallel machine code apart."""
    g = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__)
    g.__qualname__ = fn.__qualname__ + "_serial"
    g.__doc__ = fn.__doc__
    return g


def _jit(ns_per_element: float, size_arg: int = 0, fastmath=FASTMATH):
    """Compile ``fn`` parallel and serial; calls pick one by the work's estimated serial time
    (``args[size_arg].size`` x ``ns_per_element``, measured on one core of the 2-vCPU machine at
    config (a)'s sizes). ``.parallel`` and ``.serial`` give either version directly."""

    def deco(fn):
        par = njit(parallel=True, fastmath=fastmath, error_model="numpy", cache=True)(fn)
        ser = njit(fastmath=fastmath, error_model="numpy", cache=True)(_serial_copy(fn))

        @functools.wraps(fn)
        def kernel(*args):
            if args[size_arg].size * ns_per_element >= PARALLEL_MIN_NS and numba.get_num_threads() > 1:
                return par(*args)
            return ser(*args)

        kernel.parallel, kernel.serial = par, ser
        return kernel

    return deco


# Numba has no SVML here, so math.tanh and math.exp are scalar libm calls that stop a loop from
# vectorising. The two functions below use only multiply, add, divide, min and max, so they do.
#
# tanh as a clamped 13/6 rational function (Eigen's generic_fast_tanh_float; max error 2.6e-7 on the
# real line, checked in tests). Constants are float32 so float32 loops stay in float32.
_TANH_CLAMP = np.float32(7.90531110763549805)
_TA = tuple(np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                     5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                                     -2.76076847742355e-16))
_TB = tuple(np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                     1.19825839466702e-06))
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_GELU_K32 = np.float32(GELU_K)
_GELU_C32 = np.float32(GELU_C)
_GELU_3C32 = np.float32(3.0 * GELU_C)


@njit(inline="always", fastmath=FASTMATH, cache=True)
def fast_tanh(x):
    x = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    p = _TA[6]
    p = p * x2 + _TA[5]
    p = p * x2 + _TA[4]
    p = p * x2 + _TA[3]
    p = p * x2 + _TA[2]
    p = p * x2 + _TA[1]
    p = p * x2 + _TA[0]
    q = _TB[3]
    q = q * x2 + _TB[2]
    q = q * x2 + _TB[1]
    q = q * x2 + _TB[0]
    return x * p / q


@njit(inline="always", fastmath=FASTMATH, cache=True)
def exp_nonpositive(x):
    """exp(x) for x <= 0 (softmax after subtracting the row maximum), in float64: exp(x) =
    exp(x/128)^128, the inner one by its Taylor series to degree 11 (truncation 2e-11 at x/128 >=
    -0.68), then 7 squarings (error x128: ~5e-9 relative, far below float32's 6e-8). x is clamped at
    -87.3, where exp is already below float32's smallest normal."""
    y = max(float(x), -87.3) * 0.0078125
    p = 2.505210838544172e-08
    p = p * y + 2.755731922398589e-07
    p = p * y + 2.7557319223985893e-06
    p = p * y + 2.48015873015873e-05
    p = p * y + 0.0001984126984126984
    p = p * y + 0.001388888888888889
    p = p * y + 0.008333333333333333
    p = p * y + 0.041666666666666664
    p = p * y + 0.16666666666666666
    p = p * y + 0.5
    p = p * y + 1.0
    p = p * y + 1.0
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p


# ----------------------------------------------------------------------------------------- embedding
@_jit(0.18)
def embedding_forward(out, tokens, wte, wpe):
    """out[m, b, t, :] = wte[m, tokens[m, b, t], :] + wpe[m, t, :].  out (M,B,T,C), tokens (M,B,T) int."""
    M, B, T, C = out.shape
    for idx in prange(M * B * T):
        m = idx // (B * T)
        r = idx - m * B * T
        b = r // T
        t = r - b * T
        tok = tokens[m, b, t]
        for c in range(C):
            out[m, b, t, c] = wte[m, tok, c] + wpe[m, t, c]


@_jit(0.65, size_arg=2)
def embedding_backward(dwte, dwpe, dout, tokens, accumulate_wte):
    """dwte[m, tok] (+)= sum of dout rows with that token; dwpe[m, t] = sum over b of dout[m, b, t].

    Parallel over (model, column block): each thread owns whole columns, so no two threads write the
    same element and the order of additions is fixed. ``dwpe`` rows beyond T are zeroed.
    """
    M, B, T, C = dout.shape
    V = dwte.shape[1]
    CB = 16  # columns per block
    nblocks = (C + CB - 1) // CB
    for job in prange(M * nblocks):
        m = job // nblocks
        c0 = (job - m * nblocks) * CB
        c1 = min(C, c0 + CB)
        if not accumulate_wte:
            for v in range(V):
                for c in range(c0, c1):
                    dwte[m, v, c] = 0.0
        for t in range(dwpe.shape[1]):
            for c in range(c0, c1):
                dwpe[m, t, c] = 0.0
        for b in range(B):
            for t in range(T):
                tok = tokens[m, b, t]
                for c in range(c0, c1):
                    g = dout[m, b, t, c]
                    dwte[m, tok, c] += g
                    dwpe[m, t, c] += g


# ----------------------------------------------------------------------------------------- layernorm
@_jit(0.33)
def layernorm_forward(out, mean, rstd, inp, weight, bias, eps):
    """out = (inp - mean) * rstd * weight + bias per row (Ba, Kiros & Hinton 2016).

    inp, out (M,N,C); mean, rstd (M,N) saved for the backward; weight, bias (M,C).
    """
    M, N, C = inp.shape
    for idx in prange(M * N):
        m = idx // N
        n = idx - m * N
        s = inp[m, n, 0] * 0  # accumulate in the array's dtype: float32 loops stay float32 (two passes)
        for c in range(C):
            s += inp[m, n, c]
        mean[m, n] = s / C
        mu = mean[m, n]
        v = inp[m, n, 0] * 0
        for c in range(C):
            d = inp[m, n, c] - mu
            v += d * d
        rstd[m, n] = 1.0 / math.sqrt(v / C + eps)
        rs = rstd[m, n]
        for c in range(C):
            out[m, n, c] = (inp[m, n, c] - mu) * rs * weight[m, c] + bias[m, c]


@_jit(0.47)
def residual_layernorm_forward(res_out, out, mean, rstd, res_in, branch, branch_bias, weight, bias, eps):
    """Fused residual add and the next LayerNorm: res_out = res_in + branch + branch_bias;
    out = LayerNorm(res_out). Saves one pass over memory per block versus doing them apart."""
    M, N, C = res_in.shape
    for idx in prange(M * N):
        m = idx // N
        n = idx - m * N
        s = res_in[m, n, 0] * 0
        for c in range(C):
            x = res_in[m, n, c] + branch[m, n, c] + branch_bias[m, c]
            res_out[m, n, c] = x
            s += x
        mean[m, n] = s / C
        mu = mean[m, n]
        v = res_in[m, n, 0] * 0
        for c in range(C):
            d = res_out[m, n, c] - mu
            v += d * d
        rstd[m, n] = 1.0 / math.sqrt(v / C + eps)
        rs = rstd[m, n]
        for c in range(C):
            out[m, n, c] = (res_out[m, n, c] - mu) * rs * weight[m, c] + bias[m, c]


@_jit(0.45)
def layernorm_backward(dinp, dweight, dbias, scratch, dout, inp, weight, mean, rstd, accumulate):
    """LayerNorm backward (llm.c's layernorm_backward). dinp (+)= input gradient (``accumulate``:
    add into the residual-stream gradient); dweight, dbias = parameter gradients (overwritten).

    scratch: (M, REDUCTION_CHUNKS, 2, C) float64 partial sums for the parameter gradients.
    """
    M, N, C = inp.shape
    K = scratch.shape[1]
    rows_per = (N + K - 1) // K
    for job in prange(M * K):
        m = job // K
        k = job - m * K
        for c in range(C):
            scratch[m, k, 0, c] = 0.0
            scratch[m, k, 1, c] = 0.0
        n0 = k * rows_per
        n1 = min(N, n0 + rows_per)
        for n in range(n0, n1):
            mu = mean[m, n]
            rs = rstd[m, n]
            # dnorm = weight * dout; dinp = rstd * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
            a = dout[m, n, 0] * 0
            b = dout[m, n, 0] * 0
            for c in range(C):
                xhat = (inp[m, n, c] - mu) * rs
                dn = weight[m, c] * dout[m, n, c]
                a += dn
                b += dn * xhat
            a = a / C
            b = b / C
            for c in range(C):
                xhat = (inp[m, n, c] - mu) * rs
                dn = weight[m, c] * dout[m, n, c]
                g = (dn - a - xhat * b) * rs
                if accumulate:
                    dinp[m, n, c] += g
                else:
                    dinp[m, n, c] = g
                scratch[m, k, 0, c] += dout[m, n, c] * xhat
                scratch[m, k, 1, c] += dout[m, n, c]
    for job in range(M):  # M x C sums: not worth a second parallel region
        for c in range(C):
            sw = 0.0
            sb = 0.0
            for k in range(K):
                sw += scratch[job, k, 0, c]
                sb += scratch[job, k, 1, c]
            dweight[job, c] = sw
            dbias[job, c] = sb


# ---------------------------------------------------------------------------------------------- GELU
@_jit(0.25)
def bias_gelu_forward(h, bias, out):
    """h += bias (in place: h is the fc matmul's output, kept for the backward); out = GELU(h),
    tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). h, out (M,N,D); bias (M,D)."""
    M, N, D = h.shape
    for idx in prange(M * N):
        m = idx // N
        n = idx - m * N
        for c in range(D):
            x = h[m, n, c] + bias[m, c]
            h[m, n, c] = x
            u = _GELU_K32 * (x + _GELU_C32 * x * x * x)
            out[m, n, c] = _HALF * x * (_ONE + fast_tanh(u))


@_jit(0.40)
def gelu_backward(d, inp):
    """In place: d holds dL/dGELU(inp) and becomes dL/dinp = d * GELU'(inp). Shapes (M,N,D)."""
    M, N, D = inp.shape
    for idx in prange(M * N):
        m = idx // N
        n = idx - m * N
        for c in range(D):
            x = inp[m, n, c]
            u = _GELU_K32 * (x + _GELU_C32 * x * x * x)
            th = fast_tanh(u)
            dudx = _GELU_K32 * (_ONE + _GELU_3C32 * x * x)
            d[m, n, c] = d[m, n, c] * (_HALF * (_ONE + th) + _HALF * x * (_ONE - th * th) * dudx)


@_jit(0.07)
def bias_add(x, bias):
    """x += bias in place, per model: x (M,N,D), bias (M,D). (The qkv projection's bias: the
    attention then reads q, k, v as strided views of x, so no head-major copy is made.)"""
    M, N, D = x.shape
    for idx in prange(M * N):
        m = idx // N
        n = idx - m * N
        for c in range(D):
            x[m, n, c] += bias[m, c]


@_jit(1.1)
def causal_softmax_forward(att, scale):
    """In place on att (R,T,T) holding q k^T: row t becomes softmax(scale * row) over columns 0..t,
    zeros after (the causal mask; Vaswani et al. 2017, eq. 1 with scale = 1/sqrt(d_k)). Columns past
    t are never read, so their contents do not matter."""
    R, T, _ = att.shape
    for idx in prange(R * T):
        r = idx // T
        t = idx - r * T
        mx = att[r, t, 0]
        for j in range(1, t + 1):
            mx = max(mx, att[r, t, j])
        s = 0.0
        for j in range(t + 1):
            e = exp_nonpositive(scale * (att[r, t, j] - mx))
            att[r, t, j] = e
            s += e
        inv = 1.0 / s
        for j in range(t + 1):
            att[r, t, j] *= inv
        for j in range(t + 1, T):
            att[r, t, j] = 0.0


@_jit(0.45)
def causal_softmax_backward(datt, att, scale):
    """In place on datt (R,T,T) holding dL/dP: becomes dL/d(q k^T) = scale * P (dP - sum_j P_j dP_j)
    on columns 0..t and 0 after."""
    R, T, _ = att.shape
    for idx in prange(R * T):
        r = idx // T
        t = idx - r * T
        s = 0.0
        for j in range(t + 1):
            s += att[r, t, j] * datt[r, t, j]
        for j in range(t + 1):
            datt[r, t, j] = scale * att[r, t, j] * (datt[r, t, j] - s)
        for j in range(t + 1, T):
            datt[r, t, j] = 0.0


# ------------------------------------------------------------------------------------- cross-entropy
@_jit(1.05)
def crossentropy_forward_backward(logits, losses, targets, grad_scale, backward):
    """Per row: losses = logsumexp(logits) - logits[target] (nats). With ``backward``, logits is
    overwritten IN PLACE by dL/dlogits = (softmax - onehot) * grad_scale (grad_scale = 1/N for the
    mean over a model's N rows). logits (M,N,V), losses (M,N), targets (M,N) int."""
    M, N, V = logits.shape
    for idx in prange(M * N):
        m = idx // N
        n = idx - m * N
        tgt = targets[m, n]
        mx = logits[m, n, 0]
        for c in range(1, V):
            mx = max(mx, logits[m, n, c])
        lt = logits[m, n, tgt]
        s = 0.0
        if backward:
            for c in range(V):
                e = exp_nonpositive(logits[m, n, c] - mx)
                logits[m, n, c] = e
                s += e
            f = grad_scale / s
            for c in range(V):
                logits[m, n, c] *= f
            logits[m, n, tgt] -= grad_scale
        else:
            for c in range(V):
                s += exp_nonpositive(logits[m, n, c] - mx)
        losses[m, n] = math.log(s) + mx - lt


# ------------------------------------------------------------------------------------------- AdamW
@_jit(0.25, size_arg=1, fastmath=False)
def sum_squares(out, grads, segments, scratch):
    """out[m] = sum of model m's squared gradients (float64). grads: the tensor-major flat buffer
    (model.py): tensor t of model m is grads[M*seg[t] + m*size_t : ... + size_t]. Partial sums per
    (model, tensor) in scratch (M, T), then added in tensor order: a fixed order, any thread count."""
    M = out.shape[0]
    T = segments.shape[0] - 1
    for job in prange(M * T):
        m = job // T
        t = job - m * T
        size = segments[t + 1] - segments[t]
        base = M * segments[t] + m * size
        # eight running sums in a fixed order, compiled without reassociation: the vectoriser may not
        # reorder them, so the result does not depend on the slice's alignment (which moves with the
        # number of models M) nor on whether the serial or the parallel version runs
        seg = grads[base:base + size]
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
        n8 = size - size % 8
        for i in range(0, n8, 8):
            g0, g1, g2, g3 = float(seg[i]), float(seg[i + 1]), float(seg[i + 2]), float(seg[i + 3])
            g4, g5, g6, g7 = float(seg[i + 4]), float(seg[i + 5]), float(seg[i + 6]), float(seg[i + 7])
            s0 += g0 * g0
            s1 += g1 * g1
            s2 += g2 * g2
            s3 += g3 * g3
            s4 += g4 * g4
            s5 += g5 * g5
            s6 += g6 * g6
            s7 += g7 * g7
        s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        for i in range(n8, size):
            g = float(seg[i])
            s += g * g
        scratch[m, t] = s
    for m in range(M):
        s = 0.0
        for t in range(T):
            s += scratch[m, t]
        out[m] = s


ADAMW_CHUNK = 8192  # elements per parallel job


@_jit(0.40)
def adamw_step(params, grads, exp_avg, exp_avg_sq, segments, segment_decay, lr, grad_scale, active,
               beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2):
    """One AdamW step (Loshchilov & Hutter 2019, decoupled weight decay), in PyTorch's order:
    p *= 1 - lr*wd (decayed tensors only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).

    params, grads, exp_avg, exp_avg_sq: tensor-major flat buffers (see sum_squares); segments (T+1,)
    per-model tensor offsets; segment_decay (T,) 1.0/0.0; lr, grad_scale (the clipping factor) and
    active (M,) per model — an inactive (diverged) model is left untouched.
    """
    M = lr.shape[0]
    T = segments.shape[0] - 1
    sqrt_bc2 = math.sqrt(bias_correction2)
    # one parallel region over jobs of <= ADAMW_CHUNK elements, numbered tensor by tensor, model by
    # model (a launch costs ~25 us with the workqueue layer: one per tensor would be ~50 a step)
    n_jobs = 0
    for t in range(T):
        n_jobs += M * ((segments[t + 1] - segments[t] + ADAMW_CHUNK - 1) // ADAMW_CHUNK)
    for job in prange(n_jobs):
        t = 0
        first = 0  # the first job of tensor t
        nch = (segments[1] - segments[0] + ADAMW_CHUNK - 1) // ADAMW_CHUNK
        while job >= first + M * nch:
            first += M * nch
            t += 1
            nch = (segments[t + 1] - segments[t] + ADAMW_CHUNK - 1) // ADAMW_CHUNK
        m = (job - first) // nch
        if not active[m]:
            continue
        c = job - first - m * nch
        size = segments[t + 1] - segments[t]
        lo = M * segments[t] + m * size + c * ADAMW_CHUNK
        hi = M * segments[t] + m * size + min(size, (c + 1) * ADAMW_CHUNK)
        step = lr[m] / bias_correction1
        decay = 1.0 - lr[m] * weight_decay * segment_decay[t]
        gs = grad_scale[m]
        # through slices indexed from 0: LLVM then vectorises the loop (7x faster than indexing the
        # whole buffers from lo: 47 against 361 us for 120k values; the same values bit for bit)
        p = params[lo:hi]
        gr = grads[lo:hi]
        m1 = exp_avg[lo:hi]
        m2 = exp_avg_sq[lo:hi]
        for i in range(hi - lo):
            g = gr[i] * gs
            ma = beta1 * m1[i] + (1.0 - beta1) * g
            va = beta2 * m2[i] + (1.0 - beta2) * g * g
            m1[i] = ma
            m2[i] = va
            p[i] = p[i] * decay - step * ma / (math.sqrt(va) / sqrt_bc2 + eps)
