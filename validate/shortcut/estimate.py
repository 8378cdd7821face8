"""How long a mode of the shortcut report takes, per trick, from timed sample runs on this machine.

``python -m validate.shortcut.estimate full [--only NAMES] [--scale-down 8]`` times, in this process
with one BLAS/Numba thread, one run of every distinct configuration of the plan (for one-seed-per-run
arms: seed 0 only, multiplied by the number of seeds; for transformer runs: at 1/``scale_down`` of
the tokens, at least 2^17, scaled back up linearly, which over-counts fixed costs such as evaluation
and a probe's training), and prints core-seconds per trick (runs shared between tricks are counted
once, for the first). The wall-clock estimate on W workers is the sum / W plus the longest single run
(the tail) plus the measurement. It also times a one-thread float32 matmul (2048²) so that the figures
can be rescaled to another machine or load: PERF_NOTES.md measured ~103 GFLOP/s on one quiet core.

Estimates only (a shared machine's load changes from minute to minute); no result depends on them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

QUIET_GFLOPS = 103.0  # PERF_NOTES.md: float32 matmul 2048², one thread, quiet 2-core machine


def matmul_gflops(repeats: int = 4) -> float:
    import numpy as np

    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    a @ a
    t = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return repeats * 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9


def _n_models(config: dict) -> int:
    return len(config.get("seeds") or (1,)) * len(config.get("lrs") or (1,))


def estimate(mode: str, only=None, scale_down: int = 8, min_tokens: int = 2 ** 17, log=print) -> dict:
    from validate.shortcut.catalogue import select
    from validate.shortcut.run import plan
    from validate.sweep import execute_run, limit_worker_threads

    limit_worker_threads(1)
    entries = select(only)
    p = plan(entries, mode)
    gflops_before = matmul_gflops()
    seen: set = set()
    timed: dict = {}  # sample key -> seconds of the sampled run
    out = {"mode": mode, "tricks": {}, "gflops_1thread": None}
    longest = 0.0
    for e in entries:
        proto = e.protocol(mode)
        total = 0.0
        runs = 0
        for arm_name, arm in proto.arms().items():
            for t in p.tasks[e.name][arm_name]:
                if t.key in seen:
                    continue
                seen.add(t.key)
                runs += 1
                c = dict(t.config)
                factor = 1.0
                if "d_model" in c:  # a transformer run: fewer tokens, scaled back up
                    small = max(min_tokens, c["tokens"] // scale_down)
                    if small < c["tokens"]:
                        factor = c["tokens"] / small
                        if c.get("unique_tokens"):
                            c["unique_tokens"] = max(1, c["unique_tokens"] * small // c["tokens"])
                        c["tokens"] = small
                    sample = json.dumps(c, sort_keys=True, default=str)
                else:  # one seed stands for every seed of the configuration
                    sample = json.dumps({k: v for k, v in c.items() if k != "seed"}, sort_keys=True, default=str)
                if sample not in timed:
                    if "d_model" not in c:
                        c["seed"] = int(proto.seeds[0])
                    res = execute_run({"key": "estimate", "target": t.target, "config": c, "predict": None})
                    if res["status"] != "ok":
                        raise RuntimeError(f"{e.name}: a sample run failed: {res['error']}")
                    timed[sample] = res["wall_time_s"]
                seconds = timed[sample] * factor
                longest = max(longest, seconds)
                total += seconds
        out["tricks"][e.name] = {"runs": runs, "core_seconds": total}
        log(f"{e.name:36s} {runs:5d} runs  {total:8.0f} core-s", flush=True)
    out["gflops_1thread"] = (gflops_before + matmul_gflops()) / 2
    out["total_core_seconds"] = sum(v["core_seconds"] for v in out["tricks"].values())
    out["longest_run_s"] = longest
    out["n_seeds_note"] = "one-seed-per-run arms: seed 0 timed, times the number of seeds"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("quick", "full"))
    ap.add_argument("--only", default="")
    ap.add_argument("--scale-down", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    only = [s for s in a.only.split(",") if s] or None
    r = estimate(a.mode, only, a.scale_down, log=lambda *x, **k: print(*x, file=sys.stderr, **k))
    load = QUIET_GFLOPS / r["gflops_1thread"]
    r["slowdown_vs_quiet"] = load
    r["wall_estimate_s"] = {"here": r["total_core_seconds"] / a.workers + r["longest_run_s"],
                            "quiet": (r["total_core_seconds"] / a.workers + r["longest_run_s"]) / load}
    r["machine"] = {"cpus": os.cpu_count(), "loadavg": os.getloadavg()}
    print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
