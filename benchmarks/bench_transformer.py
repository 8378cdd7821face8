#!/usr/bin/env python3
"""Training speed of the toy transformer against PyTorch (CPU), measured in one run.

Trains the issue's configurations with this trainer (numpy + Numba, `sim/transformer`) and with a
nanoGPT-style PyTorch model of exactly the same shape (same parameter count, tied head, biases,
tanh GELU, AdamW, clipping at 1.0, float32), and prints training tokens/s for both, their ratio, and
MFU against the float32 matmul peak measured in the same run (numpy 2048^2 products):

  (a) d_model 64, 2 layers, 2 heads, context 64, batch 32
  (b) d_model 128, 4 layers, 4 heads, context 128, batch 16
  (c) d_model 256, 4 layers, 4 heads, context 256, batch 8
  (a) x 16 models trained at once here, against PyTorch training them one after another.

Throughput counts training steps only (forward, backward, clipping, AdamW, batch sampling); FLOPs
per token are nanoGPT's estimate_mfu form (6N + 12 L d T), the same for both arms.

PyTorch is not a project dependency: install it beside the project (``pip install torch``, CPU
build) to run its arm; without it the script says so and measures this trainer alone. By default each
arm runs in its own subprocess (``--arm ours`` / ``--arm pytorch``), one after the other: in one
process the idle threads of one arm's thread pools (OpenBLAS, Numba, PyTorch's OpenMP) spin while the
other arm runs, and on 2 cores that slowed both arms by 10-50x. Within an arm, blocks of steps run
repeatedly and the best block counts; still, run it on a quiet machine. ``--quick`` runs a short check.

    python benchmarks/bench_transformer.py [--quick] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

CONFIGS = {
    "a": dict(d_model=64, layers=2, heads=2, context=64, batch=32),
    "b": dict(d_model=128, layers=4, heads=4, context=128, batch=16),
    "c": dict(d_model=256, layers=4, heads=4, context=256, batch=8),
}


# ------------------------------------------------------------------------------------------- peak
def matmul_peak(seconds: float = 1.0) -> float:
    """Best float32 GFLOP/s of numpy 2048 x 2048 products over about ``seconds``."""
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty_like(a)
    np.matmul(a, b, out=c)
    best = math.inf
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


# ------------------------------------------------------------------------------------ this trainer
class OursArm:
    """Steps of sim/transformer's trainer: sample, forward + backward, clip + AdamW, the models in
    passes of the size the trainer picks (sim.transformer.train.models_per_pass)."""

    def __init__(self, cfg, n_models: int, corpus_train: np.ndarray):
        from sim.backend import cpu_backend
        from sim.text import BatchSampler
        from sim.transformer.model import Model
        from sim.transformer.optim import AdamW
        from sim.transformer.train import models_per_pass

        G = models_per_pass(cfg, n_models, cpu_backend())
        self.passes = []
        for start in range(0, n_models, G):
            seeds = list(range(start, min(n_models, start + G)))
            model = Model(cfg, n_models=len(seeds))
            model.init_parameters(seeds)
            self.passes.append((model, AdamW(model, [cfg.lr] * len(seeds)), np.ones(len(seeds), dtype=bool)))
        self.per_pass = G
        self.samplers = [BatchSampler(corpus_train, cfg.context, cfg.batch, s, dtype=np.int32) for s in range(n_models)]
        self.x = np.zeros((n_models, cfg.batch, cfg.context), dtype=np.int32)
        self.y = np.zeros_like(self.x)
        self.tokens_per_step = n_models * cfg.batch * cfg.context

    def steps(self, n: int) -> float:
        for _ in range(n):
            for m, s in enumerate(self.samplers):
                s.next(out=(self.x[m], self.y[m]))
            for i, (model, opt, active) in enumerate(self.passes):
                sl = slice(i * self.per_pass, i * self.per_pass + model.M)
                model.set_batch(self.x[sl], self.y[sl])
                loss = model.forward(backward=True)
                opt.step(1.0, active)
        return float(loss[0])


# ------------------------------------------------------------------------------------------ PyTorch
def torch_arm_factory():
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError:
        return None

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
        """nanoGPT's model.py, same shape as sim/transformer (tied head, biases, tanh GELU)."""

        def __init__(self, cfg):
            super().__init__()
            C = cfg.d_model
            self.wte = nn.Embedding(256, C)
            self.wpe = nn.Embedding(cfg.context, C)
            self.blocks = nn.ModuleList([Block(C, cfg.heads) for _ in range(cfg.layers)])
            self.lnf = nn.LayerNorm(C)
            self.register_buffer("pos", torch.arange(cfg.context))
            for p in self.parameters():
                if p.dim() >= 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(self.pos[: idx.shape[1]])
            for b in self.blocks:
                x = b(x)
            logits = self.lnf(x) @ self.wte.weight.t()
            return F.cross_entropy(logits.view(-1, 256), targets.view(-1))

    class TorchArm:
        def __init__(self, cfg, seed: int, corpus_train: np.ndarray):
            from sim.text import BatchSampler

            torch.manual_seed(seed)
            self.model = GPT(cfg)
            self.n_params = sum(p.numel() for p in self.model.parameters())
            decay = [p for p in self.model.parameters() if p.dim() >= 2]
            no_decay = [p for p in self.model.parameters() if p.dim() < 2]
            self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                          {"params": no_decay, "weight_decay": 0.0}],
                                         lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
            self.sampler = BatchSampler(corpus_train, cfg.context, cfg.batch, seed, dtype=np.int64)
            self.tokens_per_step = cfg.batch * cfg.context

        def steps(self, n: int) -> float:
            for _ in range(n):
                x, y = self.sampler.next()
                loss = self.model(torch.from_numpy(x), torch.from_numpy(y))
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.opt.step()
            return float(loss.detach())

    return TorchArm, torch


# ------------------------------------------------------------------------------------------ timing
def best_rate(arms_steps: dict, rounds: int, block_seconds: float) -> dict:
    """Alternate the arms in blocks of about ``block_seconds``; the best tokens/s of each counts.

    ``arms_steps``: name -> (callable(n_steps), tokens per call of one step)."""
    per_step = {}
    for name, (fn, tokens) in arms_steps.items():  # warm up (Numba compile, allocator) and size blocks
        fn(1)
        t0 = time.perf_counter()
        fn(1)
        per_step[name] = max(time.perf_counter() - t0, 1e-4)
    best = {name: 0.0 for name in arms_steps}
    for _ in range(rounds):
        for name, (fn, tokens) in arms_steps.items():
            n = max(1, int(block_seconds / per_step[name]))
            t0 = time.perf_counter()
            fn(n)
            dt = time.perf_counter() - t0
            per_step[name] = dt / n
            best[name] = max(best[name], n * tokens / dt)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short check: fewer, shorter blocks")
    ap.add_argument("--threads", type=int, default=0, help="threads for BLAS, Numba and PyTorch (default: all cores)")
    ap.add_argument("--configs", default="a,b,c,a16", help="which of a, b, c, a16 to run")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--arm", choices=("both", "ours", "pytorch", "inline"), default="both",
                    help="both: each arm in its own subprocess (default); inline: both in this process")
    args = ap.parse_args(argv)
    if args.arm == "both":
        return run_arms_in_subprocesses(args)

    threads = args.threads or os.cpu_count() or 1
    from threadpoolctl import threadpool_limits

    import numba

    from sim.text import load_corpus
    from sim.transformer.config import TransformerConfig
    from sim.transformer.model import flops_per_token

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    rounds, block = (2, 0.5) if args.quick else (5, 3.0)
    corpus = load_corpus("stdlib")
    factory = torch_arm_factory()
    torch = None
    if factory is None:
        print("PyTorch is not installed: measuring this trainer alone (pip install torch, CPU build, for the peer)",
              file=sys.stderr)
    else:
        TorchArm, torch = factory
        torch.set_num_threads(threads)

    results = []
    with threadpool_limits(limits=threads):
        peak = matmul_peak(1.0 if args.quick else 3.0)
        for key in args.configs.split(","):
            key = key.strip()
            n_models = 16 if key == "a16" else 1
            cfg = TransformerConfig(**CONFIGS[key[0]])
            fpt = flops_per_token(cfg)
            arms = {}
            if args.arm in ("ours", "inline"):
                ours = OursArm(cfg, n_models, corpus.train)
                arms["ours"] = (ours.steps, ours.tokens_per_step)
            if torch is not None and args.arm in ("pytorch", "inline"):
                tarms = [TorchArm(cfg, s, corpus.train) for s in range(n_models)]

                def torch_steps(n, tarms=tarms):  # the models one after another, n steps each
                    for t in tarms:
                        t.steps(n)

                arms["pytorch"] = (torch_steps, sum(t.tokens_per_step for t in tarms))
            rates = best_rate(arms, rounds, block)
            row = {"config": key, "models": n_models, "flops_per_token": fpt, "peak_gflops": peak}
            if "ours" in rates:
                row.update({"ours_tokens_per_s": rates["ours"], "ours_mfu": rates["ours"] * fpt / (peak * 1e9)})
            if "pytorch" in rates:
                row.update({"pytorch_tokens_per_s": rates["pytorch"],
                            "pytorch_mfu": rates["pytorch"] * fpt / (peak * 1e9),
                            "pytorch_params": tarms[0].n_params})
                if "ours" in rates:
                    row["ratio"] = rates["ours"] / rates["pytorch"]
            results.append(row)
            if not args.json and args.arm == "inline":
                msg = (f"({key}) ours {rates['ours']:9.0f} tok/s  MFU {row['ours_mfu']:5.1%}")
                if torch is not None:
                    msg += (f" | pytorch {rates['pytorch']:9.0f} tok/s  MFU {row['pytorch_mfu']:5.1%}"
                            f" | ratio {row['ratio']:.2f}x")
                print(msg, flush=True)
    out = {"threads": threads, "peak_gflops_float32": peak, "quick": args.quick, "results": results,
           "torch": None if torch is None else torch.__version__}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"float32 matmul peak {peak:.0f} GFLOP/s on {threads} threads"
              + ("" if torch is None else f"; PyTorch {torch.__version__}"))
    return 0


def run_arms_in_subprocesses(args) -> int:
    """Each arm in a fresh process of this script; the float32 peak measured here, in the same run."""
    import subprocess

    from threadpoolctl import threadpool_limits

    threads = args.threads or os.cpu_count() or 1
    with threadpool_limits(limits=threads):
        peak = matmul_peak(1.0 if args.quick else 3.0)
    common = ["--configs", args.configs, "--threads", str(threads), "--json"] + (["--quick"] if args.quick else [])
    by_arm = {}
    for arm in ("ours", "pytorch"):
        proc = subprocess.run([sys.executable, __file__, "--arm", arm, *common], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"{arm} arm failed", file=sys.stderr)
            return 1
        by_arm[arm] = json.loads(proc.stdout.strip().splitlines()[-1])
        if proc.stderr.strip():
            print(proc.stderr.strip(), file=sys.stderr)
    results = []
    for ours_row, torch_row in zip(by_arm["ours"]["results"], by_arm["pytorch"]["results"]):
        row = {"config": ours_row["config"], "models": ours_row["models"],
               "flops_per_token": ours_row["flops_per_token"], "peak_gflops": peak,
               "ours_tokens_per_s": ours_row["ours_tokens_per_s"]}
        row["ours_mfu"] = row["ours_tokens_per_s"] * row["flops_per_token"] / (peak * 1e9)
        if "pytorch_tokens_per_s" in torch_row:
            row["pytorch_tokens_per_s"] = torch_row["pytorch_tokens_per_s"]
            row["pytorch_mfu"] = row["pytorch_tokens_per_s"] * row["flops_per_token"] / (peak * 1e9)
            row["ratio"] = row["ours_tokens_per_s"] / row["pytorch_tokens_per_s"]
            row["pytorch_params"] = torch_row.get("pytorch_params")
        results.append(row)
    torch_version = by_arm["pytorch"].get("torch")
    out = {"threads": threads, "peak_gflops_float32": peak, "quick": args.quick, "results": results,
           "torch": torch_version, "arms": "separate processes"}
    if args.json:
        print(json.dumps(out))
        return 0
    for row in results:
        msg = f"({row['config']}) ours {row['ours_tokens_per_s']:9.0f} tok/s  MFU {row['ours_mfu']:5.1%}"
        if "ratio" in row:
            msg += (f" | pytorch {row['pytorch_tokens_per_s']:9.0f} tok/s  MFU {row['pytorch_mfu']:5.1%}"
                    f" | ratio {row['ratio']:.2f}x")
        print(msg)
    print(f"float32 matmul peak {peak:.0f} GFLOP/s on {threads} threads; arms in separate processes"
          + ("" if torch_version is None else f"; PyTorch {torch_version}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
