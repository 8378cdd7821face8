"""The numpy reference: each layer as a forward/backward pair (llm.c / its doc/layernorm/layernorm.py).

``out, cache = f_forward(...)`` and ``grads = f_backward(dout, cache)``. Written for clarity, in any
float dtype (float64 for the finite-difference checks), allocating freely. The fast model
(`model.py`) and its Numba CPU and CUDA kernels are tested against these functions tensor by tensor.

Shapes: one model, activations (B, T, C); weights stored (in, out) so a linear layer is x @ W + b.
"""

from __future__ import annotations

import math

import numpy as np

GELU_K = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715


# ----------------------------------------------------------------------------------------- embedding
def embedding_forward(tokens, wte, wpe):
    """x[b, t] = wte[tokens[b, t]] + wpe[t]. tokens (B,T) int; wte (V,C); wpe (context,C)."""
    T = tokens.shape[-1]
    return wte[tokens] + wpe[:T], (tokens, wte.shape, wpe.shape)


def embedding_backward(dout, cache):
    tokens, wte_shape, wpe_shape = cache
    dwte = np.zeros(wte_shape, dtype=dout.dtype)
    np.add.at(dwte, tokens.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    dwpe = np.zeros(wpe_shape, dtype=dout.dtype)
    dwpe[: tokens.shape[-1]] = dout.reshape(-1, *dout.shape[-2:]).sum(axis=0)
    return dwte, dwpe


# ----------------------------------------------------------------------------------------- layernorm
def layernorm_forward(x, w, b, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * w + b over the last axis (Ba, Kiros & Hinton 2016)."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    return xhat * w + b, (xhat, w, rstd)


def layernorm_backward(dout, cache):
    xhat, w, rstd = cache
    dnorm = dout * w
    dx = (dnorm - dnorm.mean(-1, keepdims=True) - xhat * (dnorm * xhat).mean(-1, keepdims=True)) * rstd
    axes = tuple(range(dout.ndim - 1))
    return dx, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


# ---------------------------------------------------------------------------------------- linear
def linear_forward(x, W, b=None):
    """x @ W (+ b). W (in, out)."""
    out = x @ W
    if b is not None:
        out = out + b
    return out, (x, W, b is not None)


def linear_backward(dout, cache):
    x, W, has_bias = cache
    dx = dout @ W.T
    dW = x.reshape(-1, x.shape[-1]).T @ dout.reshape(-1, dout.shape[-1])
    db = dout.reshape(-1, dout.shape[-1]).sum(axis=0) if has_bias else None
    return dx, dW, db


# ---------------------------------------------------------------------------------------------- GELU
def gelu_forward(x):
    """GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Hendrycks & Gimpel 2016)."""
    return 0.5 * x * (1.0 + np.tanh(GELU_K * (x + GELU_C * x**3))), x


def gelu_backward(dout, cache):
    x = cache
    th = np.tanh(GELU_K * (x + GELU_C * x**3))
    return dout * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * GELU_C * x * x))


# ---------------------------------------------------------------------------------------- residual
def residual_forward(x, y):
    return x + y, None


def residual_backward(dout, cache):
    return dout, dout


# ----------------------------------------------------------------------------------------- attention
def attention_forward(qkv, n_head):
    """Causal multi-head self-attention on the fused projection qkv (B,T,3C) -> (B,T,C), heads
    concatenated (Vaswani et al. 2017, eq. 1: softmax(q k^T / sqrt(d_k)) v, masked to j <= t)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    Q = C // n_head
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, n_head, Q).transpose(0, 2, 1, 3) for i in range(3))
    scale = 1.0 / math.sqrt(Q)
    s = (q @ k.transpose(0, 1, 3, 2)) * scale
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    s = np.where(mask, -np.inf, s)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    return y, (q, k, v, p, scale)


def attention_backward(dout, cache):
    q, k, v, p, scale = cache
    B, H, T, Q = q.shape
    dy = dout.reshape(B, T, H, Q).transpose(0, 2, 1, 3)
    dp = dy @ v.transpose(0, 1, 3, 2)
    dv = p.transpose(0, 1, 3, 2) @ dy
    ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True))  # softmax Jacobian; masked entries have p = 0
    dq = (ds @ k) * scale
    dk = (ds.transpose(0, 1, 3, 2) @ q) * scale
    merge = lambda a: a.transpose(0, 2, 1, 3).reshape(B, T, H * Q)  # noqa: E731
    return np.concatenate([merge(dq), merge(dk), merge(dv)], axis=-1)


# ------------------------------------------------------------------------------------- cross-entropy
def crossentropy_forward(logits, targets):
    """Mean over positions of -log softmax(logits)[target], in nats."""
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    losses = -np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    return losses.mean(), (logp, targets)


def crossentropy_backward(dloss, cache):
    logp, targets = cache
    d = np.exp(logp)
    np.put_along_axis(d, targets[..., None], np.take_along_axis(d, targets[..., None], -1) - 1.0, axis=-1)
    return d * (dloss / targets.size)


# ------------------------------------------------------------------------------------ the whole model
def gpt_forward(params: dict, tokens, targets, n_layer: int, n_head: int, tied: bool = True, eps=1e-5):
    """Loss (nats/token) and caches of a GPT-2-style model; ``params`` holds one model's named arrays
    (names as in `model.parameter_specs`). The reference for the fast model's whole-model checks."""
    caches = {}
    x, caches["emb"] = embedding_forward(tokens, params["wte"], params["wpe"])
    for layer in range(n_layer):
        p = f"h{layer}."
        h, c_ln1 = layernorm_forward(x, params[p + "ln1.w"], params[p + "ln1.b"], eps)
        qkv, c_qkv = linear_forward(h, params[p + "attn.qkv.w"], params[p + "attn.qkv.b"])
        a, c_att = attention_forward(qkv, n_head)
        a, c_proj = linear_forward(a, params[p + "attn.proj.w"], params[p + "attn.proj.b"])
        x, _ = residual_forward(x, a)
        h, c_ln2 = layernorm_forward(x, params[p + "ln2.w"], params[p + "ln2.b"], eps)
        h, c_fc = linear_forward(h, params[p + "mlp.fc.w"], params[p + "mlp.fc.b"])
        h, c_gelu = gelu_forward(h)
        h, c_mproj = linear_forward(h, params[p + "mlp.proj.w"], params[p + "mlp.proj.b"])
        x, _ = residual_forward(x, h)
        caches[layer] = (c_ln1, c_qkv, c_att, c_proj, c_ln2, c_fc, c_gelu, c_mproj)
    x, caches["lnf"] = layernorm_forward(x, params["lnf.w"], params["lnf.b"], eps)
    head = params["wte"] if tied else params["head.w"]
    logits, caches["head"] = linear_forward(x, head.T)
    loss, caches["ce"] = crossentropy_forward(logits, targets)
    return loss, caches


def gpt_backward(caches, n_layer: int, tied: bool = True) -> dict:
    """Gradients of the mean loss with respect to every named parameter."""
    g = {}
    dlogits = crossentropy_backward(1.0, caches["ce"])
    dx, dheadT, _ = linear_backward(dlogits, caches["head"])
    dx, g["lnf.w"], g["lnf.b"] = layernorm_backward(dx, caches["lnf"])
    for layer in reversed(range(n_layer)):
        p = f"h{layer}."
        c_ln1, c_qkv, c_att, c_proj, c_ln2, c_fc, c_gelu, c_mproj = caches[layer]
        dres, dh = residual_backward(dx, None)
        dh, g[p + "mlp.proj.w"], g[p + "mlp.proj.b"] = linear_backward(dh, c_mproj)
        dh = gelu_backward(dh, c_gelu)
        dh, g[p + "mlp.fc.w"], g[p + "mlp.fc.b"] = linear_backward(dh, c_fc)
        dh, g[p + "ln2.w"], g[p + "ln2.b"] = layernorm_backward(dh, c_ln2)
        dx = dres + dh
        dres, da = residual_backward(dx, None)
        da, g[p + "attn.proj.w"], g[p + "attn.proj.b"] = linear_backward(da, c_proj)
        dqkv = attention_backward(da, c_att)
        dh, g[p + "attn.qkv.w"], g[p + "attn.qkv.b"] = linear_backward(dqkv, c_qkv)
        dh, g[p + "ln1.w"], g[p + "ln1.b"] = layernorm_backward(dh, c_ln1)
        dx = dres + dh
    g["wte"], g["wpe"] = embedding_backward(dx, caches["emb"])
    if tied:
        g["wte"] = g["wte"] + dheadT.T
    else:
        g["head.w"] = dheadT.T
    return g
