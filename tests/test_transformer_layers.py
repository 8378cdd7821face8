"""Every reference layer's backward against central finite differences, float64, on
hypothesis-generated small shapes (sim/transformer/layers.py).

For a layer y = f(x) and a random output gradient G, the scalar s = sum(y * G) has ds/dx equal to
the layer's backward applied to G; central differences (step 1e-6) estimate it to ~1e-9.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.transformer import layers

EPS = 1e-6
RTOL = 1e-6


def numerical_grad(f, x, G):
    """d sum(f(x) * G) / dx by central differences, element by element (x is perturbed in place)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + EPS
        up = np.sum(f() * G)
        flat[i] = old - EPS
        down = np.sum(f() * G)
        flat[i] = old
        gflat[i] = (up - down) / (2 * EPS)
    return grad


def assert_grad(analytic, numeric, label):
    scale = max(1.0, float(np.abs(numeric).max()))
    err = float(np.abs(analytic - numeric).max()) / scale
    assert err < RTOL, f"{label}: max relative error {err:.2e}"


shapes = st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 4))  # B, T, heads
seeds = st.integers(0, 2**31 - 1)


@settings(max_examples=15)
@given(shape=shapes, c=st.integers(2, 8), seed=seeds)
def test_layernorm_backward(shape, c, seed):
    rng = np.random.default_rng(seed)
    B, T, _ = shape
    x, w, b = rng.normal(size=(B, T, c)), rng.normal(size=c), rng.normal(size=c)
    G = rng.normal(size=(B, T, c))
    _, cache = layers.layernorm_forward(x, w, b)
    dx, dw, db = layers.layernorm_backward(G, cache)
    f = lambda: layers.layernorm_forward(x, w, b)[0]  # noqa: E731
    assert_grad(dx, numerical_grad(f, x, G), "dx")
    assert_grad(dw, numerical_grad(f, w, G), "dw")
    assert_grad(db, numerical_grad(f, b, G), "db")


@settings(max_examples=15)
@given(shape=shapes, cin=st.integers(1, 6), cout=st.integers(1, 6), bias=st.booleans(), seed=seeds)
def test_linear_backward(shape, cin, cout, bias, seed):
    rng = np.random.default_rng(seed)
    B, T, _ = shape
    x, W = rng.normal(size=(B, T, cin)), rng.normal(size=(cin, cout))
    b = rng.normal(size=cout) if bias else None
    G = rng.normal(size=(B, T, cout))
    _, cache = layers.linear_forward(x, W, b)
    dx, dW, db = layers.linear_backward(G, cache)
    f = lambda: layers.linear_forward(x, W, b)[0]  # noqa: E731
    assert_grad(dx, numerical_grad(f, x, G), "dx")
    assert_grad(dW, numerical_grad(f, W, G), "dW")
    if bias:
        assert_grad(db, numerical_grad(f, b, G), "db")
    else:
        assert db is None


@settings(max_examples=15)
@given(shape=shapes, c=st.integers(1, 8), seed=seeds)
def test_gelu_backward(shape, c, seed):
    rng = np.random.default_rng(seed)
    B, T, _ = shape
    x = rng.normal(scale=2.0, size=(B, T, c))
    G = rng.normal(size=x.shape)
    _, cache = layers.gelu_forward(x)
    f = lambda: layers.gelu_forward(x)[0]  # noqa: E731
    assert_grad(layers.gelu_backward(G, cache), numerical_grad(f, x, G), "dx")


@settings(max_examples=15)
@given(shape=shapes, q=st.integers(1, 3), seed=seeds)
def test_attention_backward(shape, q, seed):
    B, T, H = shape
    rng = np.random.default_rng(seed)
    qkv = rng.normal(size=(B, T, 3 * H * q))
    G = rng.normal(size=(B, T, H * q))
    _, cache = layers.attention_forward(qkv, H)
    f = lambda: layers.attention_forward(qkv, H)[0]  # noqa: E731
    assert_grad(layers.attention_backward(G, cache), numerical_grad(f, qkv, G), "dqkv")


@settings(max_examples=10)
@given(shape=shapes, seed=seeds)
def test_attention_is_causal(shape, seed):
    """Changing the input at position t leaves the outputs before t unchanged."""
    B, T, H = shape
    rng = np.random.default_rng(seed)
    qkv = rng.normal(size=(B, T, 3 * H * 2))
    y0 = layers.attention_forward(qkv, H)[0]
    qkv2 = qkv.copy()
    qkv2[:, T - 1] += rng.normal(size=qkv2[:, T - 1].shape)
    y1 = layers.attention_forward(qkv2, H)[0]
    np.testing.assert_array_equal(y0[:, : T - 1], y1[:, : T - 1])
    if T > 1:
        assert not np.allclose(y0[:, T - 1], y1[:, T - 1])


@settings(max_examples=15)
@given(shape=shapes, v=st.integers(2, 12), seed=seeds)
def test_crossentropy_backward(shape, v, seed):
    B, T, _ = shape
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(B, T, v))
    targets = rng.integers(0, v, size=(B, T))
    loss, cache = layers.crossentropy_forward(logits, targets)
    # the loss is a scalar: G = 1
    f = lambda: np.array(layers.crossentropy_forward(logits, targets)[0])  # noqa: E731
    assert_grad(layers.crossentropy_backward(1.0, cache), numerical_grad(f, logits, np.array(1.0)), "dlogits")
    # and it is the mean negative log-likelihood in nats
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(loss, -np.mean(np.log(np.take_along_axis(p, targets[..., None], -1))), rtol=1e-9)


@settings(max_examples=15)
@given(shape=shapes, v=st.integers(2, 10), c=st.integers(1, 5), extra=st.integers(0, 3), seed=seeds)
def test_embedding_backward(shape, v, c, extra, seed):
    B, T, _ = shape
    rng = np.random.default_rng(seed)
    wte, wpe = rng.normal(size=(v, c)), rng.normal(size=(T + extra, c))
    tokens = rng.integers(0, v, size=(B, T))
    G = rng.normal(size=(B, T, c))
    _, cache = layers.embedding_forward(tokens, wte, wpe)
    dwte, dwpe = layers.embedding_backward(G, cache)
    f = lambda: layers.embedding_forward(tokens, wte, wpe)[0]  # noqa: E731
    assert_grad(dwte, numerical_grad(f, wte, G), "dwte")
    assert_grad(dwpe, numerical_grad(f, wpe, G), "dwpe")


def test_residual_backward():
    G = np.arange(6.0).reshape(1, 2, 3)
    dx, dy = layers.residual_backward(G, None)
    np.testing.assert_array_equal(dx, G)
    np.testing.assert_array_equal(dy, G)
    out, _ = layers.residual_forward(G, 2 * G)
    np.testing.assert_array_equal(out, 3 * G)
