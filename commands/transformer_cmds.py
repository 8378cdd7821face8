"""`simulate transformer`: train toy GPT-style models on byte-level text (sim/transformer)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from commands.common import (
    DEVICE_OPTION_HELP, JSON_OPTION_HELP, Apps, CLIError, emit, parse_float, parse_float_list, progress,
    stdout_console, to_json,
)


def _whole(text: str, field: str) -> int:
    value = parse_float(text, field, positive=True)
    if value != int(value):
        raise CLIError(field, f"expected a whole number, got {text!r}")
    return int(value)


def simulate_transformer(
    d_model: Annotated[int, typer.Option("--d-model", help="Residual width (channels).")] = 64,
    layers: Annotated[int, typer.Option("--layers", help="Transformer blocks.")] = 2,
    heads: Annotated[int, typer.Option("--heads", help="Attention heads (must divide --d-model).")] = 2,
    context: Annotated[int, typer.Option("--context", help="Tokens (bytes) per training sequence.")] = 64,
    batch: Annotated[int, typer.Option("--batch", help="Sequences per step.")] = 32,
    tokens: Annotated[str, typer.Option("--tokens", help="Training tokens per model, e.g. 2e5 (rounded up to whole steps).")] = "2e5",
    corpus: Annotated[str, typer.Option("--corpus", help="stdlib, markov, or a path to a text file or directory.")] = "stdlib",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first model (init and batch order).")] = 0,
    models: Annotated[int, typer.Option("--models", help="Models per learning rate, seeds SEED..SEED+MODELS-1, trained at once.")] = 1,
    models_per_pass: Annotated[int, typer.Option("--models-per-pass", help="Models sharing one pass over the model axis (0: as many as fit the CPU cache; all on a GPU).")] = 0,
    lr: Annotated[str, typer.Option("--lr", help="Peak learning rate(s), comma-separated: one run per seed and rate.")] = "1e-3",
    schedule: Annotated[str, typer.Option("--schedule", help="cosine, linear or wsd (warmup-stable-decay).")] = "cosine",
    warmup: Annotated[float, typer.Option("--warmup", help="Fraction of steps in linear warmup.")] = 0.05,
    decay: Annotated[float, typer.Option("--decay", help="wsd: fraction of steps in the final decay.")] = 0.2,
    min_lr_ratio: Annotated[float, typer.Option("--min-lr-ratio", help="Final learning rate / peak.")] = 0.1,
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="AdamW decoupled weight decay.")] = 0.1,
    grad_clip: Annotated[float, typer.Option("--grad-clip", help="Max gradient L2 norm per model (0: off).")] = 1.0,
    untied: Annotated[bool, typer.Option("--untied", help="A separate output head instead of the tied embedding.")] = False,
    eval_points: Annotated[int, typer.Option("--eval-points", help="Validation evaluations along the run.")] = 20,
    eval_tokens: Annotated[str, typer.Option("--eval-tokens", help="Validation tokens per evaluation.")] = "32768",
    unique_tokens: Annotated[str, typer.Option("--unique-tokens", help="Cap on unique training tokens, repeated in epochs (0: no cap).")] = "0",
    corrupt_fraction: Annotated[float, typer.Option("--corrupt-fraction", help="Fraction of training documents replaced by random bytes.")] = 0.0,
    duplicate_fraction: Annotated[float, typer.Option("--duplicate-fraction", help="Fraction of training documents duplicated.")] = 0.0,
    knob: Annotated[list[str], typer.Option("--knob", help="Another data knob of sim/text.py, NAME=VALUE (repeatable): deduplicate=true, filter_corrupted=true, corrupt_mode=bytes, epochs=4, order=3 (markov), max_bytes=1e6, seed=1 (the data's seed), ...")] = [],
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP)] = "cpu",
    out: Annotated[Optional[Path], typer.Option("--out", help="Directory for result.json and loss_curves.png.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Train GPT-style transformers on byte-level text; report loss curves, parameters, FLOPs, speed.

    Validation loss is in nats per byte (bits per byte alongside). With --models or several --lr
    values, all runs (same shape) train at once in one pass over a leading model axis.
    """
    from sim.backend import get_backend
    from sim.provenance import run_metadata
    from sim.transformer.config import TransformerConfig

    # --- validate everything before any work or any file ---
    lrs = parse_float_list(lr, "--lr", positive=True)
    if models < 1:
        raise CLIError("--models", f"must be at least 1, got {models}")
    cfg = TransformerConfig(
        d_model=d_model, layers=layers, heads=heads, context=context, batch=batch,
        tokens=_whole(tokens, "--tokens"), lr=lrs[0], schedule=schedule, warmup_fraction=warmup,
        decay_fraction=decay, min_lr_ratio=min_lr_ratio, weight_decay=weight_decay, grad_clip=grad_clip,
        tied=not untied, eval_points=eval_points, eval_tokens=_whole(eval_tokens, "--eval-tokens"),
        corpus=corpus, unique_tokens=int(parse_float(unique_tokens, "--unique-tokens", nonnegative=True)),
        corrupt_fraction=corrupt_fraction, duplicate_fraction=duplicate_fraction, seed=seed, device=device,
        models_per_pass=models_per_pass, corpus_knobs=",".join(knob),
    )
    _check_config(cfg)
    backend = get_backend(device)
    if out is not None:
        if out.exists() and not out.is_dir():
            raise CLIError("--out", f"{out} exists and is not a directory")
    from sim.transformer.train import load_training_corpus, train

    text = load_training_corpus(cfg)  # a bad corpus spec or knob is an input error, raised here
    if text.val.size < cfg.context + 1:
        raise CLIError("--context", f"the validation text ({text.val.size} bytes) is shorter than one window")
    seeds = [seed + i for i in range(models) for _ in lrs]
    run_lrs = [v for _ in range(models) for v in lrs]

    # --- train ---
    with progress() as bar:
        task = bar.add_task(f"training {len(seeds)} model(s)", total=cfg.steps)
        result = train(cfg, seeds=seeds, lrs=run_lrs, corpus=text, backend=backend,
                       progress=lambda step, total: bar.update(task, completed=step))

    payload = result.to_dict()
    payload["config"] = dataclasses.asdict(cfg)
    payload["provenance"] = run_metadata(seeds, dataclasses.asdict(cfg), result.device)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(to_json(payload) + "\n")
        _plot_curves(result, out / "loss_curves.png")
    if json_out:
        emit(payload)
        return
    _print_table(result)


def _check_config(cfg) -> None:
    """Map the configuration's own validation to the CLI's option names."""
    from sim.errors import InputError

    option = {"d_model": "--d-model", "warmup_fraction": "--warmup", "decay_fraction": "--decay",
              "min_lr_ratio": "--min-lr-ratio", "weight_decay": "--weight-decay", "grad_clip": "--grad-clip",
              "eval_points": "--eval-points", "eval_tokens": "--eval-tokens", "unique_tokens": "--unique-tokens",
              "corrupt_fraction": "--corrupt-fraction", "duplicate_fraction": "--duplicate-fraction",
              "models_per_pass": "--models-per-pass", "corpus_knobs": "--knob"}
    try:
        cfg.validate()
    except InputError as exc:
        raise CLIError(option.get(exc.field, "--" + exc.field.replace("_", "-")), exc.problem) from None


def _print_table(result) -> None:
    from rich.table import Table

    cfg = result.config
    table = Table(title=f"transformer d_model {cfg.d_model}, {cfg.layers} layers, {cfg.heads} heads, "
                        f"context {cfg.context}, batch {cfg.batch} on {result.corpus['name']}")
    for col in ("seed", "lr", "params", "non-emb", "tokens", "FLOPs", "val nats/B", "bits/B", "tok/s", "div."):
        table.add_column(col, justify="right")
    for r in result.runs:
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        table.add_row(str(r.seed), f"{r.lr:g}", f"{r.params:,}", f"{r.params_nonembedding:,}", f"{r.tokens:,}",
                      f"{r.compute:.3g}", fmt(r.final_val_loss, ".4f"), fmt(r.final_val_bits_per_byte, ".4f"),
                      f"{r.tokens_per_second:,.0f}", "yes" if r.diverged else "no")
    stdout_console.print(table)
    stdout_console.print(f"device: {result.device}; corpus hash {result.corpus['content_hash'][:16]}; "
                         f"{result.tokens_per_second_total:,.0f} tokens/s over all models; "
                         f"wall time {result.wall_time_s:.1f} s")


def _plot_curves(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in result.runs:
        pts = [(e["tokens"], e["val_loss"]) for e in r.loss_curve if e["val_loss"] is not None]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", ms=3, label=f"seed {r.seed}, lr {r.lr:g}")
    ax.set_xscale("log")
    ax.set_xlabel("training tokens (bytes)")
    ax.set_ylabel("validation loss (nats/byte)")
    ax.set_title(f"{result.corpus['name']}: d_model {result.config.d_model}, {result.config.layers} layers")
    if len(result.runs) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def register(apps: Apps) -> None:
    apps.simulate.command("transformer")(simulate_transformer)
