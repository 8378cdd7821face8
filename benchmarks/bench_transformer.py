#!/usr/bin/env python3
"""Training speed of the toy transformer against PyTorch (CPU), measured in one run.

Trains the issue's configurations with this trainer (numpy + Numba, `sim/transformer`) and with a
nanoGPT-style PyTorch model of exactly the same shape (same parameter count, tied head, biases,
tanh GELU, AdamW with the same decay groups, clipping at 1.0, float32, the same batches of the same
corpus), and prints training tokens/s for both, their ratio, and MFU against the float32 matmul peak
measured in the same run (the better of numpy's OpenBLAS and PyTorch's MKL on 2048^2 products):

  (a) d_model 64, 2 layers, 2 heads, context 64, batch 32
  (b) d_model 128, 4 layers, 4 heads, context 128, batch 16
  (c) d_model 256, 4 layers, 4 heads, context 256, batch 8
  (a) x 16 models: trained at once here (the model axis), against PyTorch training the 16 one after
      another (PyTorch's one-model rate: its models share nothing).

Throughput counts training steps only (batch sampling, forward, backward, clipping, AdamW), after a
warm-up (Numba compile or cache load, allocator, first steps); blocks of steps run repeatedly and the
best block counts. FLOPs per token are nanoGPT's estimate_mfu form (6N + 12 L d T, N = all
parameters but the position embeddings), the same for both arms; each arm also COUNTS the matrix
product FLOPs of one real training step (ours: every BLAS call; PyTorch: torch.utils.flop_counter),
printed beside it as a check on the formula (PyTorch's counter skips CPU scaled_dot_product_attention,
so its count lacks the 12 L d T attention term; ours computes the full T x T products, as the formula
counts them, and its bias gradients as ones @ dY products).

Isolation. Every measurement runs in a fresh child process of this script that loads one arm's
libraries only (``--arm peak|ours|pytorch``, one configuration each), one after the other, never two
at once. Thread pools that outlive their work are the hazard on 2 cores: measured under load, a
PyTorch child that had first run numpy matmuls (OpenBLAS's 2 threads) or imported this trainer
trained config (a) at 2.5k-12k tokens/s instead of about 100k, and this trainer collapsed likewise
beside an imported PyTorch (its OpenMP pool spinning). The PyTorch child imports torch, numpy (no
BLAS work) and sim/text.py (pure numpy) only. ``--repeat`` runs each (ours, PyTorch) pair several
times, alternating which goes first, and keeps each arm's best: on a shared machine compare the
ratios, and prefer a quiet machine for the absolute numbers (``--wait-idle`` starts each child in a
quiet second). PyTorch's OpenMP threads spin while they wait for work (its fastest setting on a
quiet machine: 123k tokens/s on (a) against 67-89k with OMP_WAIT_POLICY=PASSIVE), so when another
process takes a core both arms' 2-thread rates collapse (PyTorch's and OpenBLAS's alike, to a few
thousand tokens/s): a row far below its neighbours was disturbed, not slow.

PyTorch settings: ``torch.set_num_threads(threads)`` with OMP_NUM_THREADS / MKL_NUM_THREADS set
before torch loads, denormals flushed, ``F.scaled_dot_product_attention(is_causal=True)``, and
AdamW's ``fused`` CPU kernel (``--torch-adamw foreach`` for the default implementation).
``torch.compile`` gave no gain at these sizes (/work/shared/PERF_NOTES.md). PyTorch is not a
project dependency: install it beside the project (``pip install torch``, CPU build); without it the
script says so and measures this trainer alone.

    python benchmarks/bench_transformer.py [--quick] [--threads 2] [--repeat 2] [--configs a,b,c,a16]
                                           [--wait-idle 60] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = {
    "a": dict(d_model=64, layers=2, heads=2, context=64, batch=32),
    "b": dict(d_model=128, layers=4, heads=4, context=128, batch=16),
    "c": dict(d_model=256, layers=4, heads=4, context=256, batch=8),
}
MANY = 16  # models of (a) in the many-models row


def parse_key(key: str) -> tuple[str, int]:
    """'a' -> ('a', 1); 'a16' -> ('a', 16)."""
    key = key.strip()
    if not key or key[0] not in CONFIGS or (key[1:] and not key[1:].isdigit()):
        raise SystemExit(f"error: configs: unknown configuration {key!r} (use a, b, c, a16)")
    return key[0], int(key[1:] or 1)


def nanogpt_flops_per_token(n_params: int, n_wpe: int, layers: int, d_model: int, context: int) -> float:
    """nanoGPT's estimate_mfu: 6 N + 12 L d T with N = params minus the position embeddings."""
    return float(6 * (n_params - n_wpe) + 12 * layers * d_model * context)


# ------------------------------------------------------------------------------------------ timing
def best_rate(steps, tokens_per_call: int, blocks: int, block_seconds: float, warmup_seconds: float) -> dict:
    """Warm up for at least 3 calls and ``warmup_seconds``, then time ``blocks`` blocks of about
    ``block_seconds``; the best block's tokens/s counts (the least disturbed by other processes)."""
    t_end = time.perf_counter() + warmup_seconds
    for i in range(1000):
        t0 = time.perf_counter()
        steps(1)
        per_call = max(time.perf_counter() - t0, 1e-5)
        if i >= 2 and time.perf_counter() >= t_end:
            break
    rates = []
    for _ in range(blocks):
        n = max(1, int(block_seconds / per_call))
        t0 = time.perf_counter()
        steps(n)
        dt = time.perf_counter() - t0
        per_call = dt / n
        rates.append(n * tokens_per_call / dt)
    return {"tokens_per_s": max(rates), "blocks_tokens_per_s": rates}


def timing_plan(quick: bool) -> dict:
    return dict(blocks=2, block_seconds=0.6, warmup_seconds=0.3) if quick else \
        dict(blocks=4, block_seconds=2.0, warmup_seconds=1.0)


# ------------------------------------------------------------------------------------ child: peak
def child_peak(threads: int, quick: bool) -> dict:
    """numpy's float32 matmul peak (OpenBLAS), alone in its process."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    n = 2048
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty_like(a)
    with threadpool_limits(limits=threads):
        np.matmul(a, b, out=c)
        best = math.inf
        t_end = time.perf_counter() + (1.0 if quick else 3.0)
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
    return {"numpy_peak_gflops": 2 * n**3 / best / 1e9}


# ------------------------------------------------------------------------------- child: this trainer
class OursArm:
    """Steps of sim/transformer's trainer: sample, forward + backward, clip + AdamW, the models in
    passes of the size the trainer picks (sim.transformer.train.models_per_pass)."""

    def __init__(self, cfg, n_models: int, corpus_train):
        import numpy as np

        from sim.backend import cpu_backend
        from sim.text import BatchSampler
        from sim.transformer.train import model_passes

        self.passes = [(g, model, opt, np.ones(model.M, dtype=bool))
                       for g, model, opt in model_passes(cfg, range(n_models), [cfg.lr] * n_models, cpu_backend())]
        self.per_pass = self.passes[0][1].M
        self.samplers = [BatchSampler(corpus_train, cfg.context, cfg.batch, s, dtype=np.int32) for s in range(n_models)]
        self.x = np.zeros((n_models, cfg.batch, cfg.context), dtype=np.int32)
        self.y = np.zeros_like(self.x)
        self.tokens_per_step = n_models * cfg.batch * cfg.context

    def steps(self, n: int) -> float:
        for _ in range(n):
            for m, s in enumerate(self.samplers):
                s.next(out=(self.x[m], self.y[m]))
            for g, model, opt, active in self.passes:
                model.set_batch(self.x[g], self.y[g])
                loss = model.forward(backward=True)
                opt.step(1.0, active)
        return float(loss[0])

    def counted_matmul_flops(self) -> float:
        """Matrix-product FLOPs of one training step of the first model, counted call by call
        (2 m k n per product, over every batch index)."""
        model = self.passes[0][1]
        count = [0.0]
        depth = [0]  # batched_matmul may call matmul: count the outermost call only

        def counting(fn):
            def wrapped(a, b, out):
                if depth[0] == 0:
                    batch = math.prod(out.shape[:-2])
                    count[0] += 2.0 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]
                depth[0] += 1
                try:
                    return fn(a, b, out)
                finally:
                    depth[0] -= 1
            return wrapped

        mm, bmm = model.matmul, model.batched_matmul
        model.matmul, model.batched_matmul = counting(mm), counting(bmm)
        try:
            model.forward(backward=True)
        finally:
            del model.matmul, model.batched_matmul  # back to the class's methods
        return count[0] / model.M


def child_ours(key: str, threads: int, quick: bool) -> dict:
    import numba
    from threadpoolctl import threadpool_limits

    import sim.transformer.kernels_cpu  # noqa: F401  picks Numba's threading layer before anything launches it
    from sim.text import load_corpus
    from sim.transformer.config import TransformerConfig
    from sim.transformer.model import flops_per_token, parameter_counts

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    base, n_models = parse_key(key)
    cfg = TransformerConfig(**CONFIGS[base])
    corpus = load_corpus("stdlib")
    with threadpool_limits(limits=threads):
        arm = OursArm(cfg, n_models, corpus.train)
        timing = best_rate(arm.steps, arm.tokens_per_step, **timing_plan(quick))
        counted = arm.counted_matmul_flops() / cfg.tokens_per_step
    counts = parameter_counts(cfg)
    return {"params": counts["params"], "flops_per_token": flops_per_token(cfg),
            "counted_matmul_flops_per_token": counted, "models_per_pass": arm.per_pass,
            "threading_layer": numba.threading_layer(), **timing}


# ------------------------------------------------------------------------------------ child: PyTorch
def torch_model_classes(torch):
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, C, H):
            super().__init__()
            self.H = H
            self.ln1 = nn.LayerNorm(C)
            self.qkv = nn.Linear(C, 3 * C)
            self.proj = nn.Linear(C, C)
            self.ln2 = nn.LayerNorm(C)
            self.fc = nn.Linear(C, 4 * C)
            self.mproj = nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
            return x + self.mproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        """nanoGPT's model.py, the same shape as sim/transformer (tied head, biases, tanh GELU,
        GPT-2 init with the residual projections scaled by 1/sqrt(2 L))."""

        def __init__(self, cfg):
            super().__init__()
            C = cfg.d_model
            self.wte = nn.Embedding(256, C)
            self.wpe = nn.Embedding(cfg.context, C)
            self.blocks = nn.ModuleList([Block(C, cfg.heads) for _ in range(cfg.layers)])
            self.lnf = nn.LayerNorm(C)
            self.register_buffer("pos", torch.arange(cfg.context))
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    std = cfg.init_std / math.sqrt(2 * cfg.layers) if name.endswith("proj.weight") else cfg.init_std
                    nn.init.normal_(p, 0.0, std)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(self.pos[: idx.shape[1]])
            for b in self.blocks:
                x = b(x)
            logits = self.lnf(x) @ self.wte.weight.t()  # tied head
            return F.cross_entropy(logits.view(-1, 256), targets.view(-1))

    return GPT


class TorchArm:
    """One nanoGPT model, its AdamW, and its batch sampler (the same sampler as ours)."""

    def __init__(self, torch, GPT, cfg, seed: int, corpus_train, adamw: str):
        import numpy as np

        from sim.text import BatchSampler

        self.torch = torch
        torch.manual_seed(seed)
        self.model = GPT(cfg)
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.n_wpe = self.model.wpe.weight.numel()
        decay = [p for p in self.model.parameters() if p.dim() >= 2]  # matrices and embeddings, as ours
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}],
                                     lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps,
                                     **({"fused": True} if adamw == "fused" else {"foreach": True}))
        self.grad_clip = cfg.grad_clip
        self.sampler = BatchSampler(corpus_train, cfg.context, cfg.batch, seed, dtype=np.int64)
        self.tokens_per_step = cfg.batch * cfg.context

    def step(self):
        torch = self.torch
        x, y = self.sampler.next()
        loss = self.model(torch.from_numpy(x), torch.from_numpy(y))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.opt.step()
        return loss

    def steps(self, n: int) -> float:
        for _ in range(n):
            loss = self.step()
        return float(loss.detach())

    def counted_matmul_flops(self) -> float | None:
        """FLOPs of one training step (forward + backward) as torch.utils.flop_counter counts them
        (matrix products and attention; None where this PyTorch cannot count)."""
        try:
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                x, y = self.sampler.next()
                loss = self.model(self.torch.from_numpy(x), self.torch.from_numpy(y))
                loss.backward()
            self.opt.zero_grad(set_to_none=True)
            return float(counter.get_total_flops())
        except Exception:  # pragma: no cover - version dependent
            return None


def child_pytorch(key: str, threads: int, quick: bool, adamw: str) -> dict:
    import torch  # OMP_NUM_THREADS / MKL_NUM_THREADS were set by the parent before this import

    from sim.text import load_corpus  # pure numpy: no BLAS pool, no Numba
    from sim.transformer.config import TransformerConfig  # a dataclass; imports nothing heavy

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    base, n_models = parse_key(key)
    cfg = TransformerConfig(**CONFIGS[base])
    corpus = load_corpus("stdlib")
    GPT = torch_model_classes(torch)
    arms = [TorchArm(torch, GPT, cfg, seed, corpus.train, adamw) for seed in range(n_models)]

    def sequential_steps(n):  # the models one after another, n steps each
        for arm in arms:
            arm.steps(n)

    timing = best_rate(sequential_steps, sum(a.tokens_per_step for a in arms), **timing_plan(quick))
    counted = arms[0].counted_matmul_flops()
    # PyTorch's own float32 matmul peak (MKL), measured last so nothing else shares its pool
    n = 2048
    a, b = torch.rand(n, n), torch.rand(n, n)
    c = torch.empty(n, n)
    torch.mm(a, b, out=c)
    best, t_end = math.inf, time.perf_counter() + (0.5 if quick else 1.5)
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    arm = arms[0]
    return {"params": arm.n_params,
            "flops_per_token": nanogpt_flops_per_token(arm.n_params, arm.n_wpe, cfg.layers, cfg.d_model, cfg.context),
            "counted_matmul_flops_per_token": None if counted is None else counted / cfg.tokens_per_step,
            "torch_peak_gflops": 2 * n**3 / best / 1e9, "torch": torch.__version__,
            "adamw": adamw, "numba_imported": "numba" in sys.modules, **timing}


# ----------------------------------------------------------------------------------------- parent
def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    return env


def cpu_idle_fraction(seconds: float = 1.0) -> float | None:
    """Fraction of CPU time idle over ``seconds`` (Linux /proc/stat; None elsewhere)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)

    try:
        i0, t0 = snap()
        time.sleep(seconds)
        i1, t1 = snap()
    except (OSError, ValueError, IndexError):
        return None
    return (i1 - i0) / max(1, t1 - t0)


def wait_for_idle(limit_s: float, need: float = 0.9) -> None:
    """On a shared machine: wait up to ``limit_s`` for a 1-s window with the CPUs >= ``need`` idle."""
    t_end = time.perf_counter() + limit_s
    while time.perf_counter() < t_end:
        idle = cpu_idle_fraction(1.0)
        if idle is None or idle >= need:
            return


def run_child(arm: str, key: str, args, threads: int) -> dict:
    if args.wait_idle > 0:
        wait_for_idle(args.wait_idle)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--arm", arm, "--configs", key, "--threads", str(threads),
           "--torch-adamw", args.torch_adamw] + (["--quick"] if args.quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(threads), cwd=str(ROOT))
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise SystemExit(f"error: {arm} arm on ({key}) failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return None


def run_parent(args) -> int:
    threads = args.threads or os.cpu_count() or 1
    keys = [k.strip() for k in args.configs.split(",") if k.strip()]
    for k in keys:
        parse_key(k)
    have_torch = importlib.util.find_spec("torch") is not None  # found, not imported: this process stays clean
    if not have_torch:
        print("PyTorch is NOT installed: measuring this trainer alone, no ratios "
              "(install the CPU build beside the project for the peer: pip install torch)", file=sys.stderr)
    repeat = args.repeat or (1 if args.quick else 2)
    load_before = load_average()
    peaks = [run_child("peak", "a", args, threads)["numpy_peak_gflops"]]
    best: dict = {}
    for r in range(repeat):
        for key in keys:
            arms = ["ours", "pytorch"] if have_torch else ["ours"]
            if r % 2:
                arms.reverse()  # alternate which arm goes first, so drift in the load favours neither
            for arm in arms:
                res = run_child(arm, key, args, threads)
                prev = best.get((arm, key))
                res["all_tokens_per_s"] = (prev["all_tokens_per_s"] if prev else []) + [res["tokens_per_s"]]
                if prev is None or res["tokens_per_s"] > prev["tokens_per_s"]:
                    best[(arm, key)] = res
                else:
                    prev["all_tokens_per_s"] = res["all_tokens_per_s"]
    peaks.append(run_child("peak", "a", args, threads)["numpy_peak_gflops"])
    numpy_peak = max(peaks)
    torch_peak = max((v["torch_peak_gflops"] for (arm, _), v in best.items() if arm == "pytorch"), default=None)
    peak = max(numpy_peak, torch_peak or 0.0)
    torch_version = next((v["torch"] for (arm, _), v in best.items() if arm == "pytorch"), None)

    results = []
    for key in keys:
        base, n_models = parse_key(key)
        ours = best[("ours", key)]
        fpt = ours["flops_per_token"]
        row = {"config": key, "models": n_models, **CONFIGS[base], "params": ours["params"],
               "flops_per_token": fpt, "ours_counted_matmul_flops_per_token": ours["counted_matmul_flops_per_token"],
               "ours_tokens_per_s": ours["tokens_per_s"], "ours_runs_tokens_per_s": ours["all_tokens_per_s"],
               "ours_mfu": ours["tokens_per_s"] * fpt / (peak * 1e9), "ours_models_per_pass": ours["models_per_pass"],
               "ceiling_tokens_per_s": peak * 1e9 / fpt}
        tb = best.get(("pytorch", key))
        if tb is not None:
            row.update({"pytorch_params": tb["params"], "pytorch_flops_per_token": tb["flops_per_token"],
                        "pytorch_counted_matmul_flops_per_token": tb["counted_matmul_flops_per_token"],
                        "pytorch_tokens_per_s": tb["tokens_per_s"], "pytorch_runs_tokens_per_s": tb["all_tokens_per_s"],
                        "pytorch_mfu": tb["tokens_per_s"] * fpt / (peak * 1e9),
                        "ratio": ours["tokens_per_s"] / tb["tokens_per_s"],
                        "ceiling_ratio": peak * 1e9 / fpt / tb["tokens_per_s"]})
            if tb["params"] != ours["params"] or tb["flops_per_token"] != fpt:
                print(f"warning: ({key}) the arms differ in shape: params {ours['params']} vs {tb['params']}",
                      file=sys.stderr)
        results.append(row)
    out = {"threads": threads, "peak_gflops_float32": peak, "numpy_peak_gflops": numpy_peak,
           "numpy_peak_runs_gflops": peaks, "torch_peak_gflops": torch_peak, "torch": torch_version,
           "torch_adamw": args.torch_adamw if have_torch else None, "quick": args.quick, "repeat": repeat,
           "load_average_1min": [load_before, load_average()], "arms": "separate processes, one at a time",
           "results": results}
    if args.json:
        print(json.dumps(out))
        return 0
    print_table(out)
    return 0


def print_table(out: dict) -> None:
    torch_v = out["torch"]
    print(f"Transformer training speed on {out['threads']} threads; float32 matmul peak "
          f"{out['peak_gflops_float32']:.0f} GFLOP/s (numpy/OpenBLAS {out['numpy_peak_gflops']:.0f}"
          + (f", PyTorch/MKL {out['torch_peak_gflops']:.0f}" if out["torch_peak_gflops"] else "") + ")"
          + (f"; PyTorch {torch_v} (AdamW {out['torch_adamw']})" if torch_v else "; PyTorch NOT installed: no peer")
          + f"; best of {out['repeat']} process pair(s) per row; 1-min load "
          + "/".join("?" if v is None else f"{v:.1f}" for v in out["load_average_1min"]))
    head = (f"{'config':<26}{'params':>10}{'FLOPs/tok':>10}{'counted':>9}  {'ours tok/s':>11}{'MFU':>6}")
    if torch_v:
        head += f"  {'torch tok/s':>11}{'MFU':>6}{'ratio':>7}{'ceiling':>9}"
    print(head)
    for row in out["results"]:
        name = (f"({row['config'][0]}) d{row['d_model']} L{row['layers']} H{row['heads']} T{row['context']} "
                f"B{row['batch']}")
        if row["models"] > 1:
            name = f"{row['models']}x{name}"
        line = (f"{name:<26}{row['params']:>10,}{row['flops_per_token'] / 1e6:>9.3f}M"
                f"{row['ours_counted_matmul_flops_per_token'] / 1e6:>8.3f}M  {row['ours_tokens_per_s']:>11,.0f}"
                f"{row['ours_mfu']:>6.1%}")
        if "ratio" in row:
            line += (f"  {row['pytorch_tokens_per_s']:>11,.0f}{row['pytorch_mfu']:>6.1%}{row['ratio']:>6.2f}x"
                     f"{row['ceiling_ratio']:>8.2f}x")
        print(line)
    counted_torch = ", ".join(f"({r['config']}) {r['pytorch_counted_matmul_flops_per_token'] / 1e6:.3f}M"
                              for r in out["results"] if r.get("pytorch_counted_matmul_flops_per_token"))
    print("FLOPs/tok: 6N + 12 L d T (nanoGPT), the same for both arms; counted: matrix-product FLOPs of one real "
          "training step of ours, bias gradients as ones @ dY included" + (
              f" (PyTorch's flop_counter, which skips CPU scaled_dot_product_attention, i.e. the 12 L d T "
              f"term: {counted_torch})" if counted_torch else "") + ".")
    if torch_v:
        print("ratio: ours / PyTorch tokens/s (16 models: ours at once vs PyTorch one after another); ceiling: "
              "peak / FLOPs-per-token, the tokens/s of ANY trainer at 100% MFU, over PyTorch's tokens/s.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short check: fewer, shorter blocks, one pair per row")
    ap.add_argument("--threads", type=int, default=0, help="threads for BLAS, Numba and PyTorch (default: all cores)")
    ap.add_argument("--configs", default="a,b,c,a16", help="which of a, b, c, a16 to run (comma-separated)")
    ap.add_argument("--repeat", type=int, default=0, help="(ours, PyTorch) process pairs per row (default 2; --quick 1)")
    ap.add_argument("--torch-adamw", choices=("fused", "foreach"), default="fused", help="PyTorch's AdamW kernel")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="shared machine: before each child, wait up to SECONDS for a 1-s window with the CPUs 90%% idle")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--arm", choices=("both", "peak", "ours", "pytorch"), default="both",
                    help="both (default): the whole comparison; the others are the child processes it starts")
    args = ap.parse_args(argv)
    if args.arm == "both":
        return run_parent(args)
    threads = args.threads or os.cpu_count() or 1
    if args.arm == "peak":
        out = child_peak(threads, args.quick)
    elif args.arm == "ours":
        out = child_ours(args.configs, threads, args.quick)
    else:
        if importlib.util.find_spec("torch") is None:
            print("error: PyTorch is not installed (pip install torch, CPU build)", file=sys.stderr)
            return 1
        out = child_pytorch(args.configs, threads, args.quick, args.torch_adamw)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
