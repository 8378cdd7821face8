"""The fast GPT-2-style model: one flat parameter buffer, preallocated activations, a model axis.

Reading order as in nanoGPT's model.py: parameter layout and counts, then the `Model` with its
buffers, forward and backward. The layers are the forward/backward pairs of `layers.py`, fused and
rewritten to write into preallocated arrays:

- matrix products go to BLAS (CPU) or cuBLAS (GPU) through ``xp.matmul(a, b, out=c)``, batched over
  a leading model axis M, so M independent models (different seeds or learning rates, same shape)
  train in one pass and small models fill the cores;
- the elementwise, LayerNorm, softmax and cross-entropy work goes to the kernel set
  (`kernels_cpu`: Numba parallel loops; `kernels_cuda`: Numba CUDA kernels on CuPy arrays).

All parameters live in ONE flat buffer ``params`` (M x P values), tensor-major: tensor t of every
model is one contiguous block ``params[M*off_t : M*(off_t + size_t)]``, viewed as ``p[name]`` of shape
(M, *tensor_shape). Tensor-major (not model-major) keeps every view C-contiguous whatever M, which
the kernels need to vectorise: with model-major (M, P) rows the views are strided and M = 4 models of
config (a) trained 25% slower per token than one. ``g[name]`` views the gradient buffer the same way;
``segments`` (per-model offsets of the tensors) lets the optimiser find model and tensor of any
element. A training step allocates nothing.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np

from sim.backend import Backend, cpu_backend
from sim.transformer.config import VOCAB_SIZE, TransformerConfig

LN_EPS = 1e-5  # PyTorch's LayerNorm default
ATTENTION_POOL_MIN_MACS = 1 << 26  # smallest stack of attention products split over threads (batched_matmul)


# ------------------------------------------------------------------------------- layout and counting
@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    init: str  # "normal", "zeros" or "ones"
    std: float = 0.0  # for "normal"
    decay: bool = False  # AdamW weight decay applies (matrices and embeddings, as in nanoGPT)
    embedding: bool = False  # counted as an embedding parameter (Kaplan et al. 2020 exclude these)


def parameter_specs(cfg: TransformerConfig) -> list[ParamSpec]:
    """The tensors of one model in buffer order. Weights are stored (in, out): a layer is x @ W + b.
    Init as GPT-2/nanoGPT: N(0, init_std); the two residual projections N(0, init_std/sqrt(2 L))."""
    C, V, L = cfg.d_model, VOCAB_SIZE, cfg.layers
    std, proj_std = cfg.init_std, cfg.init_std / math.sqrt(2 * L)
    specs = [
        ParamSpec("wte", (V, C), "normal", std, decay=True, embedding=True),
        ParamSpec("wpe", (cfg.context, C), "normal", std, decay=True, embedding=True),
    ]
    for layer in range(L):
        p = f"h{layer}."
        specs += [
            ParamSpec(p + "ln1.w", (C,), "ones"),
            ParamSpec(p + "ln1.b", (C,), "zeros"),
            ParamSpec(p + "attn.qkv.w", (C, 3 * C), "normal", std, decay=True),
            ParamSpec(p + "attn.qkv.b", (3 * C,), "zeros"),
            ParamSpec(p + "attn.proj.w", (C, C), "normal", proj_std, decay=True),
            ParamSpec(p + "attn.proj.b", (C,), "zeros"),
            ParamSpec(p + "ln2.w", (C,), "ones"),
            ParamSpec(p + "ln2.b", (C,), "zeros"),
            ParamSpec(p + "mlp.fc.w", (C, 4 * C), "normal", std, decay=True),
            ParamSpec(p + "mlp.fc.b", (4 * C,), "zeros"),
            ParamSpec(p + "mlp.proj.w", (4 * C, C), "normal", proj_std, decay=True),
            ParamSpec(p + "mlp.proj.b", (C,), "zeros"),
        ]
    specs += [ParamSpec("lnf.w", (C,), "ones"), ParamSpec("lnf.b", (C,), "zeros")]
    if not cfg.tied:
        specs.append(ParamSpec("head.w", (V, C), "normal", std, decay=True, embedding=True))
    return specs


def parameter_counts(cfg: TransformerConfig) -> dict:
    """Exact parameter counts of one model.

    - ``params``: every parameter (Chinchilla's N counts all of them);
    - ``params_nonembedding``: without the token and position embeddings and an untied output head
      (Kaplan et al. 2020's N, REFERENCES.md §1);
    - ``params_flops``: nanoGPT's get_num_params() (all but the position embeddings; a tied head is
      counted once, as the output matmul it performs), the N in 6N of the FLOP estimate.
    """
    specs = parameter_specs(cfg)
    total = sum(int(np.prod(s.shape)) for s in specs)
    emb = sum(int(np.prod(s.shape)) for s in specs if s.embedding)
    wpe = cfg.context * cfg.d_model
    return {"params": total, "params_nonembedding": total - emb, "params_flops": total - wpe}


def flops_per_token(cfg: TransformerConfig) -> float:
    """Training FLOPs per token, nanoGPT's estimate_mfu form (REFERENCES.md §1; Kaplan et al. 2020
    §2.1; PaLM appendix B): 6 N + 12 L H Q T = 6 N + 12 L d_model T, with N = params_flops. The
    attention term counts the full T x T score and value products (forward + backward)."""
    n = parameter_counts(cfg)["params_flops"]
    return float(6 * n + 12 * cfg.layers * cfg.d_model * cfg.context)


def activation_bytes(cfg: TransformerConfig) -> int:
    """Bytes of the activation and scratch buffers of ONE model in a `Model` (its working set per step)."""
    B, T, C, H, L, V = cfg.batch, cfg.context, cfg.d_model, cfg.heads, cfg.layers, VOCAB_SIZE
    N = B * T
    att = B * H * T * T
    per_layer = 4 * N * C + N * C + 3 * N * C + 8 * N * C + att + 4 * N  # res_mid, ln1/2, atty, qkv, fc, att, stats
    scratch = N * C * 5 + 4 * N * C + 3 * N * C + att  # branch, dres, dln, datty, lnf, dfc, dqkv, datt
    values = (L + 1) * N * C + L * per_layer + scratch + N * V + 4 * N
    return int(values * np.dtype(cfg.dtype).itemsize)


# ---------------------------------------------------------------------------------------- the model
def _cpu_threads() -> int:
    """Threads the CPU work may use: Numba's current setting (which --threads and
    numba.set_num_threads lower), at most the cores."""
    try:
        import numba

        return max(1, min(numba.get_num_threads(), os.cpu_count() or 1))
    except Exception:  # pragma: no cover
        return 1


@functools.lru_cache(maxsize=None)
def _attention_pool(threads: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=max(1, threads - 1), thread_name_prefix="attention")


def cpu_kernels():
    from sim.transformer import kernels_cpu

    return kernels_cpu


def gpu_kernels():
    from sim.transformer import kernels_cuda

    return kernels_cuda


class Model:
    """M models of one shape, their parameters, gradients and every activation buffer.

    ``forward(tokens, targets, backward=True)`` returns the mean loss of each model (nats/token) and,
    with ``backward``, leaves the gradient of each model's mean loss in ``grads``.
    """

    def __init__(self, cfg: TransformerConfig, n_models: int = 1, batch: int | None = None,
                 backend: Backend | None = None, kernels=None, dtype: str | None = None):
        self.cfg = cfg
        self.backend = backend or cpu_backend()
        self.xp = xp = self.backend.xp
        if kernels is None:
            kernels = gpu_kernels() if self.backend.is_gpu else cpu_kernels()
        self.k = kernels
        self.dtype = np.dtype(dtype or cfg.dtype)
        self.M = M = int(n_models)
        self.B = B = int(batch or cfg.batch)
        self.T = T = cfg.context
        self.C = C = cfg.d_model
        self.H = H = cfg.heads
        self.Q = Q = C // H
        self.L = L = cfg.layers
        self.V = V = VOCAB_SIZE
        self.N = N = B * T
        self.R = R = M * B * H
        self.attn_scale = 1.0 / math.sqrt(Q)
        self.specs = parameter_specs(cfg)

        # --- the flat parameter and gradient buffers (tensor-major), with named views ---
        self.offsets: dict[str, tuple[int, tuple[int, ...]]] = {}  # per-model offset and shape
        off = 0
        for s in self.specs:
            self.offsets[s.name] = (off, s.shape)
            off += int(np.prod(s.shape))
        self.P = P = off  # parameters per model
        dt = self.dtype
        self.params = xp.zeros(M * P, dtype=dt)
        self.grads = xp.zeros(M * P, dtype=dt)
        self.p = {name: self._view(self.params, name) for name in self.offsets}
        self.g = {name: self._view(self.grads, name) for name in self.offsets}
        # tensor t spans params[M*segments[t] : M*segments[t+1]]; weight decay per tensor
        self.segments = xp.asarray(np.array([self.offsets[s.name][0] for s in self.specs] + [P], dtype=np.int64))
        self.segment_decay = xp.asarray(np.array([1.0 if s.decay else 0.0 for s in self.specs], dtype=np.float64))

        # --- activations, kept per layer where the backward needs them ---
        z = lambda *shape: xp.zeros(shape, dtype=dt)  # noqa: E731
        self.tokens = xp.zeros((M, B, T), dtype=np.int32)
        self.targets = xp.zeros((M, N), dtype=np.int32)
        self.res = [z(M, N, C) for _ in range(L + 1)]  # residual stream entering block l (res[L]: after the last)
        self.res_mid = [z(M, N, C) for _ in range(L)]  # after the attention branch of block l
        self.ln1 = [z(M, N, C) for _ in range(L)]
        self.ln1_mean = [z(M, N) for _ in range(L)]
        self.ln1_rstd = [z(M, N) for _ in range(L)]
        self.ln2 = [z(M, N, C) for _ in range(L)]
        self.ln2_mean = [z(M, N) for _ in range(L)]
        self.ln2_rstd = [z(M, N) for _ in range(L)]
        self.qkv = [z(M, N, 3 * C) for _ in range(L)]  # q, k, v side by side (bias included)
        self.att = [z(R, T, T) for _ in range(L)]  # attention probabilities
        self.atty = [z(M, N, C) for _ in range(L)]  # heads concatenated, input of W_O
        self.fch = [z(M, N, 4 * C) for _ in range(L)]  # fc pre-activation (bias included)
        self.fcg = [z(M, N, 4 * C) for _ in range(L)]  # GELU output
        self.lnf = z(M, N, C)
        self.lnf_mean = z(M, N)
        self.lnf_rstd = z(M, N)
        self.logits = z(M, N, V)  # becomes dL/dlogits in place
        self.losses = z(M, N)
        self.loss = z(M)
        # --- scratch shared by the layers (forward temporaries and backward gradients) ---
        self.branch = z(M, N, C)
        self.dres = z(M, N, C)
        self.dln = z(M, N, C)
        self.dfc = z(M, N, 4 * C)
        self.datty = z(M, N, C)
        self.datt = z(R, T, T)
        self.dqkv = z(M, N, 3 * C)
        self.ones = xp.ones((1, 1, N), dtype=dt)  # bias gradients as ones @ dY: column sums on BLAS
        self.ln_scratch = xp.zeros((M, 16, 2, C), dtype=np.float64)
        # threads for the stacked attention products (CPU only; see batched_matmul)
        self._attn_split = 1 if self.backend.is_gpu else min(_cpu_threads(), max(M, B))

    # ------------------------------------------------------------------------------------ helpers
    def matmul(self, a, b, out) -> None:
        """out = a @ b, written in place (numpy: BLAS straight into ``out``, strided views included).
        Should an array library refuse a strided ``out``, the product goes through a temporary."""
        try:
            self.xp.matmul(a, b, out=out)
        except (ValueError, TypeError, NotImplementedError):
            if not self.backend.is_gpu:
                raise
            out[...] = self.xp.matmul(a, b)

    def batched_matmul(self, a, b, out) -> None:
        """out = a @ b over the (M, B, H) stack of small attention matrices.

        OpenBLAS threads one product at a time and runs a product of at most 4 x 65536 multiply-adds
        (its GEMM_MULTITHREAD_THRESHOLD x SMP_THRESHOLD_MIN; config (a): 64 x 64 x 32) on one core, so on
        the CPU such a stack is cut into one slab per thread (along the model axis, else the batch
        axis) and the slabs run at once on a thread pool (numpy releases the GIL inside matmul).
        Larger products are left to BLAS's own threads. Each product is the same call either way: the
        result is identical bit for bit to the unsplit one.

        The pool pays only for big stacks (ATTENTION_POOL_MIN_MACS): alone a stack of config (a) ran
        148 us split against 181 us unsplit, but inside a training step (2 cores, where BLAS's idle
        worker still spins after the previous product and the pool thread must be woken) the step was
        4% faster unsplit at M = 1, and 2-3% at M = 2 and 4 (2^23 to 2^25 multiply-adds a stack).
        """
        split = self._attn_split
        macs = a.shape[-2] * a.shape[-1] * b.shape[-1]
        if (split <= 1 or macs > 4 * 65536
                or macs * math.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])) < ATTENTION_POOL_MIN_MACS):
            self.matmul(a, b, out)
            return
        axis = 0 if a.shape[0] >= split else 1
        n = a.shape[axis]
        bounds = [n * i // split for i in range(split + 1)]
        sl = lambda x, i: x[bounds[i]:bounds[i + 1]] if axis == 0 else x[:, bounds[i]:bounds[i + 1]]  # noqa: E731
        futures = [_attention_pool(split).submit(np.matmul, sl(a, i), sl(b, i), out=sl(out, i))
                   for i in range(1, split)]
        np.matmul(sl(a, 0), sl(b, 0), out=sl(out, 0))
        for f in futures:
            f.result()

    def _view(self, buf, name):
        o, shape = self.offsets[name]
        size = int(np.prod(shape))
        return buf[self.M * o:self.M * (o + size)].reshape((self.M,) + tuple(shape))

    def heads(self, a):
        """(M, N, C) -> the strided view (M, B, H, T, Q): head h of sequence b as a (T, Q) matrix."""
        return a.reshape(self.M, self.B, self.T, self.H, self.Q).transpose(0, 1, 3, 2, 4)

    def qkv_heads(self, a):
        """(M, N, 3C) -> q, k, v as strided (M, B, H, T, Q) views; BLAS reads them in place."""
        v = a.reshape(self.M, self.B, self.T, 3, self.H, self.Q).transpose(3, 0, 1, 4, 2, 5)
        return v[0], v[1], v[2]

    def head_weight(self):
        return self.p["wte"] if self.cfg.tied else self.p["head.w"]

    def init_parameters(self, seeds) -> None:
        """Model m drawn from numpy's Generator seeded with seeds[m], tensor by tensor in buffer
        order, in float64 then cast: the same seed gives the same model whatever M or the device."""
        seeds = list(seeds)
        if len(seeds) != self.M:
            raise ValueError(f"need {self.M} seeds, got {len(seeds)}")
        for m, seed in enumerate(seeds):
            rng = np.random.default_rng(int(seed))
            for s in self.specs:
                shape = self.offsets[s.name][1]
                if s.init == "normal":
                    value = rng.normal(0.0, s.std, int(np.prod(shape))).reshape(shape)
                else:
                    value = np.full(shape, 1.0 if s.init == "ones" else 0.0)
                self.p[s.name][m] = self.xp.asarray(value.astype(self.dtype))

    def model_vector(self, buf, m: int) -> np.ndarray:
        """Model m's values of a flat buffer (params, grads, optimiser state) in tensor order, on the host."""
        host = self.backend.to_host(buf).reshape(-1)
        return np.concatenate([host[self.M * o:self.M * (o + int(np.prod(sh)))].reshape(self.M, -1)[m]
                               for o, sh in self.offsets.values()])

    def set_batch(self, tokens, targets) -> None:
        """Copy a batch in: tokens, targets (M, B, T) integer arrays (host or device)."""
        self.tokens[...] = self.xp.asarray(tokens).reshape(self.tokens.shape)
        self.targets[...] = self.xp.asarray(targets).reshape(self.targets.shape)

    # ------------------------------------------------------------------------------------ forward
    def forward(self, backward: bool = True):
        """Mean loss per model (device array (M,), nats/token) on the batch set by `set_batch`."""
        xp, k, p = self.xp, self.k, self.p
        M, B, T, C, H, L, N = self.M, self.B, self.T, self.C, self.H, self.L, self.N
        mm, bmm = self.matmul, self.batched_matmul
        k.embedding_forward(self.res[0].reshape(M, B, T, C), self.tokens, p["wte"], p["wpe"])
        k.layernorm_forward(self.ln1[0], self.ln1_mean[0], self.ln1_rstd[0], self.res[0],
                            p["h0.ln1.w"], p["h0.ln1.b"], LN_EPS)
        for l in range(L):
            pre = f"h{l}."
            # attention branch: qkv = ln1 @ W_qkv (+ b in the split), softmax(q k^T) v, @ W_O
            mm(self.ln1[l], p[pre + "attn.qkv.w"], out=self.qkv[l])
            k.bias_add(self.qkv[l], p[pre + "attn.qkv.b"])
            q, kk, v = self.qkv_heads(self.qkv[l])
            att = self.att[l].reshape(M, B, H, T, T)
            bmm(q, kk.swapaxes(-1, -2), att)
            k.causal_softmax_forward(self.att[l], self.attn_scale)
            bmm(att, v, self.heads(self.atty[l]))  # heads land side by side in atty
            mm(self.atty[l], p[pre + "attn.proj.w"], out=self.branch)
            k.residual_layernorm_forward(self.res_mid[l], self.ln2[l], self.ln2_mean[l], self.ln2_rstd[l],
                                         self.res[l], self.branch, p[pre + "attn.proj.b"],
                                         p[pre + "ln2.w"], p[pre + "ln2.b"], LN_EPS)
            # MLP branch: GELU(ln2 @ W_fc + b) @ W_proj, then the residual and the next LayerNorm
            mm(self.ln2[l], p[pre + "mlp.fc.w"], out=self.fch[l])
            k.bias_gelu_forward(self.fch[l], p[pre + "mlp.fc.b"], self.fcg[l])
            mm(self.fcg[l], p[pre + "mlp.proj.w"], out=self.branch)
            if l + 1 < L:
                nxt = f"h{l + 1}."
                ln_out, ln_mean, ln_rstd = self.ln1[l + 1], self.ln1_mean[l + 1], self.ln1_rstd[l + 1]
                ln_w, ln_b = p[nxt + "ln1.w"], p[nxt + "ln1.b"]
            else:
                ln_out, ln_mean, ln_rstd, ln_w, ln_b = self.lnf, self.lnf_mean, self.lnf_rstd, p["lnf.w"], p["lnf.b"]
            k.residual_layernorm_forward(self.res[l + 1], ln_out, ln_mean, ln_rstd, self.res_mid[l],
                                         self.branch, p[pre + "mlp.proj.b"], ln_w, ln_b, LN_EPS)
        # output head and cross-entropy (with the backward: logits become dL/dlogits in place)
        mm(self.lnf, self.head_weight().transpose(0, 2, 1), out=self.logits)
        k.crossentropy_forward_backward(self.logits, self.losses, self.targets, 1.0 / N, backward)
        xp.sum(self.losses, axis=1, out=self.loss)
        self.loss /= N
        if backward:
            self._backward()
        return self.loss

    # ----------------------------------------------------------------------------------- backward
    def _backward(self) -> None:
        k, p, g = self.k, self.p, self.g
        M, B, T, C, H, L = self.M, self.B, self.T, self.C, self.H, self.L
        mm, bmm = self.matmul, self.batched_matmul
        T_ = lambda a: a.transpose(0, 2, 1)  # noqa: E731  (a batched transpose: a view, BLAS takes it as is)
        dlogits = self.logits
        head_grad = g["wte"] if self.cfg.tied else g["head.w"]
        mm(T_(dlogits), self.lnf, out=head_grad)  # (M,V,N) @ (M,N,C)
        mm(dlogits, self.head_weight(), out=self.dln)
        k.layernorm_backward(self.dres, g["lnf.w"], g["lnf.b"], self.ln_scratch, self.dln, self.res[L],
                             p["lnf.w"], self.lnf_mean, self.lnf_rstd, False)
        for l in reversed(range(L)):
            pre = f"h{l}."
            # MLP branch: dres is the gradient of its output
            mm(T_(self.fcg[l]), self.dres, out=g[pre + "mlp.proj.w"])
            mm(self.ones, self.dres, out=g[pre + "mlp.proj.b"].reshape(M, 1, C))
            mm(self.dres, T_(p[pre + "mlp.proj.w"]), out=self.dfc)
            k.gelu_backward(self.dfc, self.fch[l])
            mm(T_(self.ln2[l]), self.dfc, out=g[pre + "mlp.fc.w"])
            mm(self.ones, self.dfc, out=g[pre + "mlp.fc.b"].reshape(M, 1, 4 * C))
            mm(self.dfc, T_(p[pre + "mlp.fc.w"]), out=self.dln)
            k.layernorm_backward(self.dres, g[pre + "ln2.w"], g[pre + "ln2.b"], self.ln_scratch, self.dln,
                                 self.res_mid[l], p[pre + "ln2.w"], self.ln2_mean[l], self.ln2_rstd[l], True)
            # attention branch
            mm(T_(self.atty[l]), self.dres, out=g[pre + "attn.proj.w"])
            mm(self.ones, self.dres, out=g[pre + "attn.proj.b"].reshape(M, 1, C))
            mm(self.dres, T_(p[pre + "attn.proj.w"]), out=self.datty)
            dy = self.heads(self.datty)
            q, kk, v = self.qkv_heads(self.qkv[l])
            dq, dk, dv = self.qkv_heads(self.dqkv)
            att = self.att[l].reshape(M, B, H, T, T)
            datt = self.datt.reshape(M, B, H, T, T)
            bmm(dy, v.swapaxes(-1, -2), datt)
            bmm(att.swapaxes(-1, -2), dy, dv)
            k.causal_softmax_backward(self.datt, self.att[l], self.attn_scale)  # scale folded into dS
            bmm(datt, kk, dq)
            bmm(datt.swapaxes(-1, -2), q, dk)
            mm(T_(self.ln1[l]), self.dqkv, out=g[pre + "attn.qkv.w"])
            mm(self.ones, self.dqkv, out=g[pre + "attn.qkv.b"].reshape(M, 1, 3 * C))
            mm(self.dqkv, T_(p[pre + "attn.qkv.w"]), out=self.dln)
            k.layernorm_backward(self.dres, g[pre + "ln1.w"], g[pre + "ln1.b"], self.ln_scratch, self.dln,
                                 self.res[l], p[pre + "ln1.w"], self.ln1_mean[l], self.ln1_rstd[l], True)
        k.embedding_backward(g["wte"], g["wpe"], self.dres.reshape(M, B, T, C), self.tokens, self.cfg.tied)

    # ------------------------------------------------------------------------------- conveniences
    def named_parameters(self, m: int = 0) -> dict:
        """Host copies of model m's tensors by name (for the reference checks)."""
        return {name: self.backend.to_host(v[m]).copy() for name, v in self.p.items()}

    def named_gradients(self, m: int = 0) -> dict:
        return {name: self.backend.to_host(v[m]).copy() for name, v in self.g.items()}
