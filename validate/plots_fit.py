"""Figures of a fit (PNG, matplotlib Agg): isoFLOP profiles with fitted curves, loss against compute
with the fitted compute-optimal frontier, residuals, and extrapolation to held-out runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validate.bootstrap import BootstrapResult, predict_samples
from validate.fit import FitResult, compute_optimal_samples, has_compute_optimum


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _params_row(fit: FitResult) -> np.ndarray:
    return np.array([[fit.params[n] for n in fit.law.param_names]])


def plot_isoflop_profiles(runs, fit: FitResult, isoflop, path: Path) -> Path:
    """Loss against N for each compute profile: runs, the profile's parabola (dashed) and the fitted
    law along D = C/(6N) (solid); crosses mark the parabola minima used by Approach 2."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    N, loss, C = runs.get("N"), runs.loss, runs.compute()
    cmap = plt.get_cmap("viridis")
    lc = np.log10([p.compute for p in isoflop.profiles])
    span = (lc.min(), max(lc.max(), lc.min() + 1e-9))
    for p in isoflop.profiles:
        col = cmap((np.log10(p.compute) - span[0]) / (span[1] - span[0]))
        g = p.indices
        ax.scatter(N[g], loss[g], color=col, s=18, edgecolor="k", linewidth=0.3, zorder=3)
        grid = np.geomspace(N[g].min() / 1.5, N[g].max() * 1.5, 80)
        if p.coef is not None:
            ax.plot(grid, np.polyval(p.coef, np.log(grid)), "--", color=col, lw=1)
        if has_compute_optimum(fit.law):
            inputs = {"N": grid, "D": p.compute / (6 * grid)}
            ax.plot(grid, predict_samples(fit.law, _params_row(fit), inputs)[0], "-", color=col, lw=1.5,
                    label=f"C = {p.compute:.2g}")
        if p.used:
            ax.plot(p.N_opt, p.loss_opt, "x", color="k", ms=7, zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("final loss")
    ax.set_title(f"isoFLOP profiles: parabola minima give a = {isoflop.a:.3f}; solid: {fit.law.name} fit")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_loss_vs_compute(runs, fit: FitResult, path: Path, boot: BootstrapResult | None = None) -> Path:
    """Loss against training FLOPs (colour: log10 N) with the fitted compute-optimal frontier
    L(N_opt(C), D_opt(C)) and, given a bootstrap, its 95% band."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    C, loss, N = runs.compute(), runs.loss, runs.get("N")
    sc = ax.scatter(C, loss, c=np.log10(N), cmap="plasma", s=18, edgecolor="k", linewidth=0.3, zorder=3)
    fig.colorbar(sc, ax=ax, label="log10 N")
    grid = np.geomspace(C.min() / 2, C.max() * 30, 60)
    est = np.array([compute_optimal_samples(fit.law, _params_row(fit), c)["loss"][0] for c in grid])
    ax.plot(grid, est, "k-", lw=1.8, label=f"compute-optimal frontier ({fit.law.name} fit)")
    if boot is not None:
        ok = boot.converged & np.all(np.isfinite(boot.samples), axis=1)
        S = boot.samples[ok][:400]
        if len(S) >= 10:
            curves = np.array([compute_optimal_samples(fit.law, S, c)["loss"] for c in grid])  # (G, B)
            lo, hi = np.nanquantile(curves, [0.025, 0.975], axis=1)
            ax.fill_between(grid, lo, hi, color="k", alpha=0.15, label="95% bootstrap band")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training FLOPs C")
    ax.set_ylabel("final loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_residuals(runs, fit: FitResult, path: Path) -> Path:
    """Log residuals log Lhat - log L (in %) against compute (or the law's first input)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    r = 100 * fit.log_residuals
    if runs.has("C"):
        xv, xl = runs.compute(), "training FLOPs C"
    else:
        name = fit.law.input_names[0]
        xv, xl = runs.get(name), name
    color = np.log10(runs.get("N")) if runs.has("N") else None
    if color is not None:
        sc = ax.scatter(xv, r, c=color, cmap="plasma", s=16, edgecolor="k", linewidth=0.3)
        fig.colorbar(sc, ax=ax, label="log10 N")
    else:
        ax.scatter(xv, r, s=16, edgecolor="k", linewidth=0.3)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(xl)
    ax.set_ylabel("log residual (%)")
    ax.set_title(f"residuals of the {fit.law.name} fit: median |r| = {np.median(np.abs(r)):.2f}%")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_law_curve(runs, fit: FitResult, path: Path) -> Path:
    """For one-input laws: loss against the input with the fitted curve."""
    plt = _plt()
    name = fit.law.input_names[0]
    x = runs.get(name)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(x, runs.loss, s=16, edgecolor="k", linewidth=0.3, zorder=3)
    grid = np.geomspace(x.min() / 2, x.max() * 2, 100)
    ax.plot(grid, predict_samples(fit.law, _params_row(fit), {name: grid})[0], "k-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(name)
    ax.set_ylabel("loss")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_extrapolation(result, runs, path: Path) -> Path:
    """Held-out runs: observed loss against compute with predictions and predictive intervals."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    C = runs.compute()
    train = C < result.cutoff
    ax.scatter(C[train], runs.loss[train], s=12, color="0.6", label=f"training runs ({result.n_train})")
    pts = result.points
    Ch = np.array([p["C"] for p in pts])
    obs = np.array([p["loss"] for p in pts])
    pred = np.array([p["predicted"] for p in pts])
    lo = np.array([p["interval"][0] for p in pts])
    hi = np.array([p["interval"][1] for p in pts])
    inside = np.array([p["inside"] for p in pts])
    ax.errorbar(Ch * 1.03, pred, yerr=[pred - lo, hi - pred], fmt="none", ecolor="tab:blue", alpha=0.6,
                label=f"{100 * (1 - result.alpha):.0f}% predictive interval")
    ax.scatter(Ch[inside], obs[inside], s=22, color="tab:green", edgecolor="k", linewidth=0.3, label="held out, inside")
    ax.scatter(Ch[~inside], obs[~inside], s=22, color="tab:red", edgecolor="k", linewidth=0.3, label="held out, outside")
    ax.axvline(result.cutoff, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training FLOPs C")
    ax.set_ylabel("final loss")
    ax.set_title(f"extrapolation: mean rel. error {100 * result.mean_rel_err:.2f}%, coverage {100 * result.coverage:.0f}%")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
