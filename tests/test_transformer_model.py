"""The fast transformer against its float64 reference, and the trainer's contracts.

- the whole reference model's gradient against central finite differences (float64);
- the fast model (Numba CPU kernels, float32) tensor by tensor against the reference: every
  activation computed from the fast model's own inputs, every parameter gradient;
- the Numba CUDA kernels, under the simulator on tiny grids (numpy arrays), the same way;
- AdamW, gradient norms and the vectorisable tanh/exp against numpy;
- training: bit-for-bit repeats, M models at once = M separate runs, divergence marking, and
  validation loss falling with model size and with tokens.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from sim.backend import gpu_status
from sim.transformer import kernels_cpu, layers
from sim.transformer.config import TransformerConfig
from sim.transformer.model import Model, flops_per_token, parameter_counts
from sim.transformer.optim import AdamW, adamw_reference, lr_multiplier
from sim.transformer.train import train

TINY = dict(d_model=8, layers=2, heads=2, context=6, batch=2)


def tiny_corpus(n_train=20_000, n_val=4_000):
    """Real text, small: this project's reference layers, repeated to length (bytes)."""
    text = np.frombuffer(open(layers.__file__, "rb").read(), dtype=np.uint8)
    reps = (n_train + n_val) // text.size + 1
    data = np.tile(text, reps)
    return SimpleNamespace(name="tiny", content_hash="test", entropy_rate_nats=None,
                           train=data[:n_train].copy(), val=data[n_train:n_train + n_val].copy())


def random_batch(model, seed=0):
    rng = np.random.default_rng(seed)
    shape = (model.M, model.B, model.T)
    return rng.integers(0, 256, shape), rng.integers(0, 256, shape)


def check(fast, ref, label, rtol):
    fast = np.asarray(fast, dtype=np.float64)
    scale = max(1e-30, float(np.abs(ref).max()))
    err = float(np.abs(fast - ref).max()) / scale
    assert err < rtol, f"{label}: max error {err:.2e} of the largest magnitude (tolerance {rtol:g})"


# ------------------------------------------------------------------------ whole reference model vs FD
@pytest.mark.parametrize("tied", [True, False])
def test_reference_model_gradient_matches_finite_differences(tied):
    cfg = TransformerConfig(**TINY, tied=tied, dtype="float64", init_std=0.3)
    model = Model(cfg, n_models=1)
    model.init_parameters([7])
    params = model.named_parameters(0)
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (2, 6)), rng.integers(0, 256, (2, 6))
    loss, caches = layers.gpt_forward(params, x, y, cfg.layers, cfg.heads, tied)
    grads = layers.gpt_backward(caches, cfg.layers, tied)
    h = 1e-6
    for name, p in params.items():
        flat = p.reshape(-1)
        # a few coordinates of every tensor (embedding rows that a token touches, where it matters)
        idx = rng.choice(flat.size, size=min(4, flat.size), replace=False)
        if name in ("wte", "head.w"):
            idx = np.concatenate([idx, [int(x[0, 0]) * cfg.d_model, int(y[0, 0]) * cfg.d_model + 1]])
        for i in idx:
            old = flat[i]
            flat[i] = old + h
            up = layers.gpt_forward(params, x, y, cfg.layers, cfg.heads, tied)[0]
            flat[i] = old - h
            down = layers.gpt_forward(params, x, y, cfg.layers, cfg.heads, tied)[0]
            flat[i] = old
            num = (up - down) / (2 * h)
            ana = grads[name].reshape(-1)[i]
            assert abs(num - ana) <= 1e-6 * max(1.0, abs(num)), f"{name}[{i}]: {ana} vs {num}"


# --------------------------------------------------------------- fast model vs reference, tensor by tensor
def compare_with_reference(model, x, y, rtol=2e-4):
    """Run the fast model (forward + backward) and check each tensor against the float64 reference,
    every layer's reference fed with the fast model's own input to that layer."""
    cfg = model.cfg
    model.set_batch(x, y)
    loss = model.backend.to_host(model.forward(backward=True)).copy()
    f64 = lambda a: np.asarray(model.backend.to_host(a), dtype=np.float64)  # noqa: E731
    for m in range(model.M):
        P = {k: v.astype(np.float64) for k, v in model.named_parameters(m).items()}
        emb, _ = layers.embedding_forward(x[m], P["wte"], P["wpe"])
        check(f64(model.res[0][m]).reshape(emb.shape), emb, "embedding", rtol)
        for l in range(cfg.layers):
            pre = f"h{l}."
            res = f64(model.res[l][m]).reshape(emb.shape)
            ln1, _ = layers.layernorm_forward(res, P[pre + "ln1.w"], P[pre + "ln1.b"])
            check(f64(model.ln1[l][m]).reshape(ln1.shape), ln1, f"{pre}ln1", rtol)
            qkv, _ = layers.linear_forward(f64(model.ln1[l][m]).reshape(ln1.shape), P[pre + "attn.qkv.w"], P[pre + "attn.qkv.b"])
            check(f64(model.qkv[l][m]).reshape(qkv.shape), qkv, f"{pre}qkv", rtol)
            atty, (_, _, _, probs, _) = layers.attention_forward(f64(model.qkv[l][m]).reshape(qkv.shape), cfg.heads)
            check(f64(model.att[l]).reshape(model.M, *probs.shape)[m], probs, f"{pre}attention probabilities", rtol)
            check(f64(model.atty[l][m]).reshape(atty.shape), atty, f"{pre}attention output", rtol)
            proj, _ = layers.linear_forward(f64(model.atty[l][m]).reshape(atty.shape), P[pre + "attn.proj.w"], P[pre + "attn.proj.b"])
            check(f64(model.res_mid[l][m]).reshape(res.shape), res + proj, f"{pre}residual 1", rtol)
            mid = f64(model.res_mid[l][m]).reshape(res.shape)
            ln2, _ = layers.layernorm_forward(mid, P[pre + "ln2.w"], P[pre + "ln2.b"])
            check(f64(model.ln2[l][m]).reshape(ln2.shape), ln2, f"{pre}ln2", rtol)
            fch, _ = layers.linear_forward(f64(model.ln2[l][m]).reshape(ln2.shape), P[pre + "mlp.fc.w"], P[pre + "mlp.fc.b"])
            check(f64(model.fch[l][m]).reshape(fch.shape), fch, f"{pre}fc", rtol)
            gelu, _ = layers.gelu_forward(f64(model.fch[l][m]).reshape(fch.shape))
            check(f64(model.fcg[l][m]).reshape(gelu.shape), gelu, f"{pre}gelu", rtol)
        # the whole-model loss and every gradient
        ref_loss, caches = layers.gpt_forward(P, x[m], y[m], cfg.layers, cfg.heads, cfg.tied)
        assert abs(loss[m] - ref_loss) < 1e-4 * ref_loss, f"loss {loss[m]} vs {ref_loss}"
        ref_grads = layers.gpt_backward(caches, cfg.layers, cfg.tied)
        fast_grads = model.named_gradients(m)
        assert set(ref_grads) == set(fast_grads)
        for name, g in ref_grads.items():
            check(fast_grads[name], g, f"gradient {name}", rtol)
    return loss


@pytest.mark.parametrize("tied", [True, False])
def test_numba_cpu_model_matches_reference_tensor_by_tensor(tied):
    cfg = TransformerConfig(**TINY, tied=tied, init_std=0.2)
    model = Model(cfg, n_models=2)
    model.init_parameters([3, 4])
    x, y = random_batch(model)
    compare_with_reference(model, x, y)


def test_gradients_land_in_the_flat_buffer():
    """Every named tensor is a contiguous view of the one flat buffer, the views tile it exactly, and
    a backward pass reaches every one of them."""
    model = Model(TransformerConfig(**TINY), n_models=2)
    covered = np.zeros(model.M * model.P, dtype=int)
    for name, (off, shape) in model.offsets.items():
        for view, buf in ((model.g[name], model.grads), (model.p[name], model.params)):
            assert np.shares_memory(view, buf) and view.flags.c_contiguous
        covered[model.M * off:model.M * (off + int(np.prod(shape)))] += 1
    assert (covered == 1).all()
    model.init_parameters([0, 1])
    np.testing.assert_array_equal(model.model_vector(model.params, 1)[:5], model.p["wte"][1].reshape(-1)[:5])
    x, y = random_batch(model)
    model.set_batch(x, y)
    model.forward(backward=True)
    for name in model.offsets:
        assert np.abs(model.g[name]).sum() > 0, f"no gradient reached {name}"


@pytest.mark.parametrize("n_models", [1, 2])
def test_attention_stacks_split_over_threads_give_the_same_bits(n_models, monkeypatch):
    """batched_matmul's thread-pool path (taken only for big stacks on several threads, so never by
    the small models of this suite otherwise) against the unsplit products: same loss and gradients
    bit for bit, cut along the model axis (2 models) or the batch axis (1 model)."""
    from sim.transformer import model as model_module

    cfg = TransformerConfig(**TINY, init_std=0.2)
    pool = model_module._attention_pool(2)
    submitted = []
    monkeypatch.setattr(model_module, "ATTENTION_POOL_MIN_MACS", 0)
    monkeypatch.setattr(model_module, "_attention_pool",
                        lambda threads: SimpleNamespace(submit=lambda *a, **k: submitted.append(1) or pool.submit(*a, **k)))
    results = []
    for split in (1, 2):
        model = Model(cfg, n_models=n_models)
        model.init_parameters(range(n_models))
        model.set_batch(*random_batch(model))
        model._attn_split = split
        submitted.clear()
        loss = model.forward(backward=True).copy()
        assert len(submitted) == (6 * cfg.layers if split == 2 else 0)  # 2 forward + 4 backward products a layer
        results.append((loss, model.grads.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_fast_tanh_and_exp_accuracy():
    xs = np.linspace(-12.0, 12.0, 2001)
    tanh_err = max(abs(kernels_cpu.fast_tanh(float(v)) - math.tanh(v)) for v in xs)
    assert tanh_err < 3e-7
    es = np.linspace(-87.0, 0.0, 2001)
    exp_err = max(abs(kernels_cpu.exp_nonpositive(float(v)) / math.exp(v) - 1.0) for v in es)
    assert exp_err < 1e-7
    assert kernels_cpu.exp_nonpositive(-1e4) < 1e-37


def kernel_cases(rng):
    """Random inputs for every CPU kernel (2 models, odd widths so the vector loops have tails)."""
    M, B, T, C, V, R = 2, 3, 7, 13, 256, 5
    N = B * T
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    tok = lambda *s: rng.integers(0, V, s).astype(np.int32)  # noqa: E731
    params, grads, segments, decay, _, _ = adamw_case(rng, M)
    return {
        "embedding_forward": (f(M, B, T, C), tok(M, B, T), f(M, V, C), f(M, T, C)),
        "embedding_backward": (f(M, V, C), f(M, T, C), f(M, B, T, C), tok(M, B, T), True),
        "layernorm_forward": (f(M, N, C), f(M, N), f(M, N), f(M, N, C), f(M, C), f(M, C), 1e-5),
        "residual_layernorm_forward": (f(M, N, C), f(M, N, C), f(M, N), f(M, N), f(M, N, C), f(M, N, C),
                                       f(M, C), f(M, C), f(M, C), 1e-5),
        "layernorm_backward": (f(M, N, C), f(M, C), f(M, C), np.zeros((M, kernels_cpu.REDUCTION_CHUNKS, 2, C)),
                               f(M, N, C), f(M, N, C), f(M, C), f(M, N), np.abs(f(M, N)), True),
        "bias_gelu_forward": (f(M, N, 4 * C), f(M, 4 * C), f(M, N, 4 * C)),
        "gelu_backward": (f(M, N, 4 * C), f(M, N, 4 * C)),
        "bias_add": (f(M, N, 3 * C), f(M, 3 * C)),
        "causal_softmax_forward": (f(R, T, T), 0.3),
        "causal_softmax_backward": (f(R, T, T), np.abs(f(R, T, T)), 0.3),
        "crossentropy_forward_backward": (f(M, N, V), f(M, N), tok(M, N), 1.0 / N, True),
        "sum_squares": (np.zeros(M), grads, segments, np.zeros((M, 3))),
        "adamw_step": (params, grads, np.abs(f(grads.size)), np.abs(f(grads.size)), segments, decay,
                       np.array([1e-2, 3e-3]), np.array([1.0, 0.5]), np.array([1, 1], dtype=np.uint8),
                       0.9, 0.95, 1e-8, 0.1, 0.5, 0.3),
    }


def test_serial_and_parallel_kernels_agree_bit_for_bit():
    """Each CPU kernel runs serial or parallel by the size of its work (so by the models in a pass):
    both versions must give the same bits, or M models at once would differ from M runs alone."""
    cases = kernel_cases(np.random.default_rng(4))
    assert set(cases) == {name for name in dir(kernels_cpu) if hasattr(getattr(kernels_cpu, name), "serial")}
    for name, args in cases.items():
        kernel = getattr(kernels_cpu, name)
        outs = []
        for version in (kernel.serial, kernel.parallel):
            copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            version(*copies)
            outs.append([a for a in copies if isinstance(a, np.ndarray)])
        for i, (a, b) in enumerate(zip(*outs)):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: argument {i}, serial vs parallel")
        changed = [not np.array_equal(a, c) for a, c in zip(outs[0], [a for a in args if isinstance(a, np.ndarray)])]
        assert any(changed), f"{name} wrote nothing"


def adamw_case(rng, M=3):
    """A flat tensor-major buffer of M models with three tensors (sizes 700, 10, 9000: the last spans
    two parallel chunks), random gradients, per-model learning rates and clipping factors."""
    sizes = [700, 10, 9000]
    segments = np.array([0, 700, 710, 9710], dtype=np.int64)
    decay = np.array([1.0, 0.0, 1.0])
    P = int(segments[-1])
    params = rng.normal(size=M * P).astype(np.float32)
    grads = rng.normal(size=M * P).astype(np.float32)
    per_model = lambda buf, m: np.concatenate([  # noqa: E731
        buf[M * o:M * (o + s)].reshape(M, s)[m] for o, s in zip(segments[:-1], sizes)])
    mask = np.concatenate([np.full(s, d) for s, d in zip(sizes, decay)])
    return params, grads, segments, decay, per_model, mask


def test_adamw_and_grad_norm_kernels_match_numpy():
    rng = np.random.default_rng(0)
    M = 3
    params, grads, segments, decay, per_model, mask = adamw_case(rng, M)
    m1, m2 = np.zeros_like(grads), np.zeros_like(grads)
    lr = np.array([1e-2, 3e-3, 1e-1])
    scale = np.array([1.0, 0.5, 0.25])
    active = np.array([1, 1, 0], dtype=np.uint8)
    P = int(segments[-1])
    ref = [(per_model(params, m).astype(np.float64), np.zeros(P), np.zeros(P)) for m in range(M)]
    start = params.copy()
    for t in range(1, 4):
        kernels_cpu.adamw_step(params, grads, m1, m2, segments, decay, lr, scale, active, 0.9, 0.95, 1e-8, 0.1,
                               1 - 0.9**t, 1 - 0.95**t)
        for m in range(2):
            ref[m] = adamw_reference(ref[m][0], per_model(grads, m) * scale[m], ref[m][1], ref[m][2], t, lr[m],
                                     0.9, 0.95, 1e-8, 0.1, mask)
    for m in range(2):
        check(per_model(params, m), ref[m][0], f"AdamW params model {m}", 1e-6)
        check(per_model(m2, m), ref[m][2], f"AdamW second moment model {m}", 1e-6)
    np.testing.assert_array_equal(per_model(params, 2), per_model(start, 2))  # an inactive model is left alone
    out, scratch = np.zeros(M), np.zeros((M, 3))
    kernels_cpu.sum_squares(out, grads, segments, scratch)
    expect = [(per_model(grads, m).astype(np.float64) ** 2).sum() for m in range(M)]
    np.testing.assert_allclose(out, expect, rtol=1e-9)


# ------------------------------------------------------------------------------------ CUDA kernels
@pytest.fixture
def cuda_kernels(monkeypatch):
    from sim.transformer import kernels_cuda

    # tiny grids: the simulator runs each CUDA thread as a Python thread
    monkeypatch.setattr(kernels_cuda, "MAX_BLOCKS", 2)
    monkeypatch.setattr(kernels_cuda, "THREADS_PER_BLOCK", 32)
    return kernels_cuda


def test_numba_cuda_kernels_match_reference_tensor_by_tensor(cuda_kernels):
    cfg = TransformerConfig(d_model=4, layers=1, heads=2, context=3, batch=1, tied=False, init_std=0.3)
    model = Model(cfg, n_models=2, kernels=cuda_kernels)
    model.init_parameters([5, 6])
    x, y = random_batch(model, seed=2)
    compare_with_reference(model, x, y)
    # the CUDA AdamW and gradient norm against the CPU kernels on the same gradients
    cpu = Model(cfg, n_models=2)
    cpu.init_parameters([5, 6])
    cpu.set_batch(x, y)
    cpu.forward(backward=True)
    model.grads[...] = cpu.grads  # the same gradients (Adam's first step is sign-sensitive near 0)
    opts = [AdamW(mm, [1e-2, 1e-3], grad_clip=0.5) for mm in (model, cpu)]
    for opt in opts:
        norms = opt.step(1.0, np.ones(2, dtype=bool))
    np.testing.assert_allclose(opts[0].grad_norm, opts[1].grad_norm, rtol=1e-5)
    check(model.params, cpu.params.astype(np.float64), "params after a CUDA AdamW step", 1e-5)
    assert np.all(norms > 0)


def test_numba_cuda_model_equals_cpu_model_with_tied_head(cuda_kernels):
    cfg = TransformerConfig(d_model=4, layers=1, heads=1, context=4, batch=1, init_std=0.3)
    x = None
    losses = []
    for kernels in (cuda_kernels, None):
        model = Model(cfg, n_models=1, kernels=kernels)
        model.init_parameters([9])
        if x is None:
            x, y = random_batch(model, seed=3)
        model.set_batch(x, y)
        losses.append(float(model.forward(backward=True)[0]))
        if kernels is not None:
            g_cuda = model.grads.copy()
        else:
            check(g_cuda, model.grads.astype(np.float64), "tied-head gradients, CUDA vs CPU", 1e-4)
    assert abs(losses[0] - losses[1]) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_status()[0], reason="needs a working CUDA GPU and CuPy")
def test_gpu_training_matches_cpu_loss_curve():
    from sim.backend import get_backend

    cfg = TransformerConfig(d_model=64, layers=2, heads=2, context=64, batch=8, tokens=50 * 512,
                            eval_points=1, eval_tokens=512)
    corpus = tiny_corpus(200_000, 20_000)
    cpu = train(cfg, corpus=corpus)
    gpu = train(cfg, corpus=corpus, backend=get_backend("gpu"))
    np.testing.assert_allclose(gpu.runs[0].train_losses, cpu.runs[0].train_losses, rtol=2e-3)


# ------------------------------------------------------------------------------------------ training
def small_cfg(**kw):
    base = dict(TINY, d_model=16, context=16, batch=4, tokens=40 * 64, eval_points=4, eval_tokens=256, lr=3e-3)
    base.update(kw)
    return TransformerConfig(**base)


def test_same_seed_same_loss_curve_bit_for_bit():
    corpus = tiny_corpus()
    a = train(small_cfg(), corpus=corpus)
    b = train(small_cfg(), corpus=corpus)
    assert a.runs[0].train_losses == b.runs[0].train_losses
    assert [e["val_loss"] for e in a.runs[0].loss_curve] == [e["val_loss"] for e in b.runs[0].loss_curve]
    c = train(small_cfg(seed=1), corpus=corpus)
    assert c.runs[0].train_losses != a.runs[0].train_losses


def test_many_models_at_once_equal_separate_runs():
    corpus = tiny_corpus()
    cfg = small_cfg()
    together = train(cfg, seeds=[5, 6, 5], lrs=[3e-3, 3e-3, 1e-2], corpus=corpus)
    in_two_passes = train(cfg.replace(models_per_pass=2), seeds=[5, 6, 5], lrs=[3e-3, 3e-3, 1e-2], corpus=corpus)
    for i, (seed, lr) in enumerate([(5, 3e-3), (6, 3e-3), (5, 1e-2)]):
        alone = train(cfg.replace(seed=seed, lr=lr), corpus=corpus).runs[0]
        for run in (together.runs[i], in_two_passes.runs[i]):
            assert run.train_losses == alone.train_losses
            assert run.final_val_loss == alone.final_val_loss
            assert (run.seed, run.lr) == (seed, lr)


def test_divergence_stops_that_model_only():
    corpus = tiny_corpus()
    cfg = small_cfg(grad_clip=0.0, warmup_fraction=0.0)
    res = train(cfg, seeds=[2, 2], lrs=[3e-3, 1e6], corpus=corpus)
    good, bad = res.runs
    assert bad.diverged and bad.diverged_step is not None and bad.final_val_loss is None
    assert bad.tokens < good.tokens
    assert not good.diverged and math.isfinite(good.final_val_loss)
    alone = train(cfg.replace(seed=2, lr=3e-3), corpus=corpus).runs[0]
    assert good.train_losses == alone.train_losses
    assert res.to_dict()["runs"][1]["diverged"] is True


def test_accounting_matches_nanogpt_and_the_buffer():
    # PERF_NOTES.md's nanoGPT-style PyTorch models: 120,576 / 842,496 / 3,290,624 parameters and
    # 0.79 M / 5.7 M / 22.4 M FLOPs per token
    for kw, params, fpt in [
        (dict(d_model=64, layers=2, heads=2, context=64), 120_576, 0.79e6),
        (dict(d_model=128, layers=4, heads=4, context=128), 842_496, 5.7e6),
        (dict(d_model=256, layers=4, heads=4, context=256), 3_290_624, 22.4e6),
    ]:
        cfg = TransformerConfig(**kw)
        counts = parameter_counts(cfg)
        assert counts["params"] == params
        C, L = cfg.d_model, cfg.layers
        assert counts["params_nonembedding"] == L * (12 * C * C + 13 * C) + 2 * C
        assert abs(flops_per_token(cfg) / fpt - 1) < 0.01
    cfg = TransformerConfig(**TINY, tied=False)
    assert Model(cfg).P == parameter_counts(cfg)["params"]


def test_schedules():
    total = 100
    for sched in ("cosine", "linear", "wsd"):
        lrs = [lr_multiplier(s, total, sched, 0.1, 0.1, 0.2) for s in range(total)]
        assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
        assert lrs[-1] == pytest.approx(0.1)
        assert all(a >= b - 1e-12 for a, b in zip(lrs[10:], lrs[11:]))
    wsd = [lr_multiplier(s, total, "wsd", 0.1, 0.1, 0.2) for s in range(total)]
    assert wsd[10:80] == [1.0] * 70 and wsd[80] < 1.0
    cos = [lr_multiplier(s, total, "cosine", 0.1, 0.0, 0.2) for s in range(total)]
    assert cos[55] == pytest.approx(0.5, abs=0.02)


@pytest.fixture(scope="module")
def text_corpus():
    from sim.text import load_corpus

    return load_corpus("stdlib", max_bytes=3_000_000)


def test_validation_loss_falls_with_model_size_and_with_tokens(text_corpus):
    base = dict(layers=2, context=32, batch=16, eval_points=1, eval_tokens=16_384, lr=3e-3, seed=0)
    by_size = [train(TransformerConfig(d_model=d, heads=2, tokens=120_000, **base), corpus=text_corpus)
               .runs[0].final_val_loss for d in (8, 32)]
    by_tokens = [train(TransformerConfig(d_model=32, heads=2, tokens=t, **base), corpus=text_corpus)
                 .runs[0].final_val_loss for t in (15_000, 120_000)]
    assert by_size[1] < by_size[0] - 0.05, by_size
    assert by_tokens[1] < by_tokens[0] - 0.05, by_tokens
    assert all(0 < v < math.log(256) for v in by_size + by_tokens)  # finite, below the uniform byte's loss


def test_registry_entry_runs_one_seed(tmp_path):
    from sim.registry import get_simulator

    text = tmp_path / "text.txt"
    text.write_bytes(open(layers.__file__, "rb").read() * 3)
    spec = get_simulator("transformer")
    assert spec.config_type is TransformerConfig and {"seed", "device", "d_model"} <= set(spec.option_names())
    out = spec.run(small_cfg(corpus=str(text), seed=3))
    assert out["seed"] == 3 and out["diverged"] is False and out["tokens"] == 40 * 64
    assert out["corpus"]["name"] == "text.txt" and out["final_val_loss"] < math.log(256)
